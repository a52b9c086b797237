//! sprig's random cryptography against the real thing (the oracle of `template_oracle.rs`, Go's
//! text/template with Debian's sprig 3.2.3) and `openssl`: AES both ways, bcrypt hashes that
//! verify, private keys and certificates with Go's structure, chains that verify; and the bounds
//! on the CPU-heavy calls. `sha512sum` (sprig 3.3) against coreutils' digests.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use gotemplate::Template;
use serde::Deserialize;
use zeroize::Zeroizing;

/// Two Ed25519 keys (signatures are deterministic: certificates made with them differ from Go's
/// only in their serial and validity), a P-256 key, and a CA of `openssl req -x509` with its
/// RSA key (PKCS#1 signatures are deterministic too).
const ED_A: &str = include_str!("sprig/ed25519-a.pem");
const ED_B: &str = include_str!("sprig/ed25519-b.pem");
const EC: &str = include_str!("sprig/ec-key.pem");
const RSA_CA: &str = include_str!("sprig/ca.pem");
const RSA_CA_KEY: &str = include_str!("sprig/ca-key.pem");

#[derive(Deserialize)]
struct Rendered {
    out: Option<String>,
    err: Option<String>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn oracle() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join("tests/oracles/sprig/install.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running tests/oracles/sprig/install.sh");
    assert!(
        out.status.success(),
        "tests/oracles/sprig/install.sh failed"
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 path");
    PathBuf::from(stdout.lines().last().expect("the oracle's path").trim())
}

/// Go's renderings of `templates`, in one run of the oracle.
fn go(templates: &[String]) -> Vec<String> {
    let input: Vec<_> = templates
        .iter()
        .map(|t| serde_json::json!({"t": t, "v": {}}))
        .collect();
    let mut child = Command::new(oracle())
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the sprig oracle");
    let body = serde_json::to_vec(&input).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&body)
        .expect("writing to the oracle");
    let out = child.wait_with_output().expect("the oracle's output");
    assert!(out.status.success(), "the sprig oracle failed");
    let rendered: Vec<Rendered> = serde_json::from_slice(&out.stdout).expect("the oracle's JSON");
    templates
        .iter()
        .zip(rendered)
        .map(|(t, r)| match r {
            Rendered { out: Some(out), .. } => out,
            Rendered { err, .. } => panic!("Go fails on {t:?}: {err:?}"),
        })
        .collect()
}

fn render(template: &str, time_limit: Duration) -> Result<String, String> {
    let t = Template::parse("data", template).map_err(|e| e.to_string())?;
    let out = t
        .execute_within(&BTreeMap::<String, Zeroizing<Vec<u8>>>::new(), time_limit)
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out.to_vec()).expect("utf-8 output"))
}

fn ours(template: &str) -> String {
    render(template, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{template:?}: {e}"))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A string literal of the template language.
fn raw(s: &str) -> String {
    format!("`{s}`")
}

/// `openssl` with `args` and `input` on stdin: its output, or why it failed.
fn openssl(args: &[&str], input: &str) -> Result<String, String> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writing to openssl");
    let out = child.wait_with_output().expect("openssl's output");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// A certificate's DER as `openssl asn1parse` shows it, without offsets and lengths (a serial
/// may be a byte shorter or longer), with the serial and the times' values masked.
fn structure(pem: &str) -> Vec<String> {
    let text = openssl(&["asn1parse"], pem).expect("openssl asn1parse");
    let mut lines = Vec::new();
    for line in text.lines() {
        let at = line.find("d=").expect("a depth");
        let (depth, rest) = line[at..].split_once(' ').expect("a header");
        let item = rest
            .split_once(':')
            .map_or(rest, |(_, item)| item)
            .trim_end();
        let item = if lines.len() == 4 && item.starts_with(" INTEGER") {
            "INTEGER (the serial)".to_owned()
        } else if item.contains("TIME ") {
            item.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        } else {
            item.trim().to_owned()
        };
        lines.push(format!("{depth} {item}"));
    }
    lines
}

/// A certificate as `openssl x509 -text` shows it, with what is random masked: the serial,
/// the dates, the public key, the signature, the key identifiers.
fn fields(pem: &str) -> Vec<String> {
    let opts = "no_serial,no_validity,no_pubkey,no_sigdump";
    let text = openssl(&["x509", "-noout", "-text", "-certopt", opts], pem).expect("x509 -text");
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let after_key_id = lines.last().is_some_and(|l| l.ends_with("Key Identifier:"));
        lines.push(if after_key_id {
            "<key id>".to_owned()
        } else {
            line.trim().to_owned()
        });
    }
    let key = openssl(&["x509", "-noout", "-pubkey"], pem).expect("x509 -pubkey");
    let key = openssl(&["pkey", "-pubin", "-noout", "-text"], &key).expect("pkey -text");
    lines.push(key.lines().next().unwrap_or_default().to_owned());
    lines
}

/// How long a certificate is valid, in seconds.
fn validity(pem: &str) -> i64 {
    let dates = openssl(
        &[
            "x509",
            "-noout",
            "-startdate",
            "-enddate",
            "-dateopt",
            "iso_8601",
        ],
        pem,
    )
    .expect("x509 -dates");
    let epoch: Vec<i64> = dates
        .lines()
        .map(|l| {
            let date = l.split_once('=').expect("a date").1;
            let out = Command::new("date")
                .args(["-u", "-d", date, "+%s"])
                .output()
                .expect("date");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("seconds")
        })
        .collect();
    epoch[1] - epoch[0]
}

#[test]
fn sha512sum_matches_coreutils() {
    let sums = ours(r#"{{ sha512sum "" }} {{ sha512sum "abc" }} {{ "hello world" | sha512sum }}"#);
    assert_eq!(
        sums,
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e \
         ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f \
         309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f"
    );
}

#[test]
fn aes_goes_both_ways_with_go() {
    let plaintexts = [
        "x",
        "exactly sixteen!",
        "héllo wörld ☃ 日本",
        &"0123456789".repeat(100),
    ];
    let passwords = ["", "k", "a password longer than thirty-two bytes, cut"];
    let mut from_us = Vec::new();
    let mut from_go = Vec::new();
    for (p, plain) in passwords.iter().zip(plaintexts.iter().cycle()) {
        let ours_ = ours(&format!("{{{{ encryptAES {} {} }}}}", raw(p), raw(plain)));
        assert_ne!(
            ours_,
            ours(&format!("{{{{ encryptAES {} {} }}}}", raw(p), raw(plain)))
        );
        from_us.push(format!("{{{{ decryptAES {} {} }}}}", raw(p), raw(&ours_)));
        from_go.push(format!("{{{{ encryptAES {} {} }}}}", raw(p), raw(plain)));
    }
    for plain in &plaintexts {
        let c = ours(&format!("{{{{ encryptAES \"pw\" {} }}}}", raw(plain)));
        from_us.push(format!("{{{{ decryptAES \"pw\" {} }}}}", raw(&c)));
        from_go.push(format!("{{{{ encryptAES \"pw\" {} }}}}", raw(plain)));
    }
    let expected: Vec<&str> = passwords
        .iter()
        .zip(plaintexts.iter().cycle())
        .map(|(_, p)| *p)
        .chain(plaintexts.iter().copied())
        .collect();
    assert_eq!(go(&from_us), expected, "Go decrypts what we encrypt");
    let keys = passwords.iter().copied().chain(["pw"; 4]);
    for ((c, p), plain) in go(&from_go).iter().zip(keys).zip(&expected) {
        let decrypted = ours(&format!("{{{{ decryptAES {} {} }}}}", raw(p), raw(c)));
        assert_eq!(&decrypted, plain, "we decrypt what Go encrypts");
    }
}

#[test]
fn bcrypt_hashes_verify_both_ways() {
    let ours_ = ours(r#"{{ bcrypt "s3cr3t" }} {{ htpasswd "admin" "pa:ss wörd" }}"#);
    let (hash, line) = ours_.split_once(' ').expect("two hashes");
    let (user, hash2) = line.split_once(':').expect("user:hash");
    assert_eq!(user, "admin");
    for (h, pw) in [(hash, "s3cr3t"), (hash2, "pa:ss wörd")] {
        assert!(h.starts_with("$2a$10$") && h.len() == 60, "{h}");
        assert!(bcrypt::verify(pw, h).expect("a bcrypt hash"), "{h}");
        assert!(!bcrypt::verify("wrong", h).expect("a bcrypt hash"));
    }
    let long = "x".repeat(100);
    let go_ = go(&[format!("{{{{ bcrypt {} }}}}", raw(&long))]);
    assert!(bcrypt::verify(&long, &go_[0]).expect("Go's bcrypt hash"));
    let ours_long = ours(&format!("{{{{ bcrypt {} }}}}", raw(&long)));
    assert!(bcrypt::verify(&long[..72], &ours_long).expect("a bcrypt hash"));
}

#[test]
fn private_keys_are_what_go_generates() {
    let kinds = ["ecdsa", "ed25519", "rsa"];
    let templates: Vec<String> = kinds
        .iter()
        .map(|k| format!("{{{{ genPrivateKey {k:?} }}}}"))
        .collect();
    let described = |pem: &str| {
        let text = openssl(&["pkey", "-noout", "-text"], pem).expect("openssl pkey");
        let first = pem.lines().next().unwrap_or_default().to_owned();
        let size = text.lines().next().unwrap_or_default().to_owned();
        let curve = text
            .lines()
            .find(|l| l.contains("NIST CURVE"))
            .map(str::to_owned);
        (first, size, curve)
    };
    for (theirs, template) in go(&templates).iter().zip(&templates) {
        assert_eq!(described(&ours(template)), described(theirs), "{template}");
    }
    let dsa = render(r#"{{ genPrivateKey "dsa" }}"#, Duration::from_secs(2));
    assert!(dsa.is_err_and(|e| e.contains("DSA keys are not supported")));
}

/// The certificates of Ed25519 and PKCS#1 keys differ from Go's only where they are random.
#[test]
fn certificates_have_gos_structure() {
    let ca = format!("genCAWithKey \"root CA\" 30 {}", raw(ED_A));
    let custom = format!("buildCustomCert {:?} {:?}", b64(RSA_CA), b64(RSA_CA_KEY));
    let templates: Vec<String> = [
        format!("{{{{ ({ca}).Cert }}}}"),
        format!("{{{{ (genCAWithKey \"\" 1 {}).Cert }}}}", raw(ED_B)),
        format!(
            "{{{{ (genSelfSignedCertWithKey \"web\" (list \"10.0.0.1\" \"::ffff:1.2.3.4\" \"2001:db8::1\") (list \"a.example\" \"*.b.example\") 365 {}).Cert }}}}",
            raw(ED_B)
        ),
        format!("{{{{ (genSelfSignedCertWithKey \"\" (list \"::1\") nil 2 {}).Cert }}}}", raw(ED_B)),
        format!("{{{{ (genSelfSignedCertWithKey \"*.wild ☃\" nil nil 9000 {}).Cert }}}}", raw(ED_B)),
        format!(
            "{{{{ (genSignedCertWithKey \"leaf\" nil (list \"leaf.example\") 10 ({ca}) {}).Cert }}}}",
            raw(ED_B)
        ),
        format!("{{{{ (genSignedCertWithKey \"root CA\" nil nil 10 ({ca}) {}).Cert }}}}", raw(ED_B)),
        format!("{{{{ (genSignedCertWithKey \"leaf\" nil nil 10 ({custom}) {}).Cert }}}}", raw(ED_B)),
    ]
    .into_iter()
    .collect();
    for (theirs, template) in go(&templates).iter().zip(&templates) {
        let mine = ours(template);
        assert_eq!(structure(&mine), structure(theirs), "{template}");
        assert_eq!(validity(&mine), validity(theirs), "{template}");
    }
}

/// Certificates with new RSA keys (and an ECDSA one) show what Go's show, and chain.
#[test]
fn generated_certificates_match_go_and_chain() {
    let templates: Vec<String> = [
        "{{ $ca := genCA \"my CA\" 365 }}{{ $ca.Cert }}{{ $ca.Key }}{{ (genSignedCert \"srv\" (list \"127.0.0.1\") (list \"localhost\") 30 $ca).Cert }}",
        "{{ (genSelfSignedCert \"self\" (list \"192.168.1.1\") (list \"x.example\") 7).Cert }}",
    ]
    .iter()
    .map(|t| (*t).to_owned())
    .chain([format!(
        "{{{{ (genSelfSignedCertWithKey \"ec\" nil (list \"e.example\") 3 {}).Cert }}}}",
        raw(EC)
    )])
    .collect();
    let go_out = go(&templates);
    for (theirs, template) in go_out.iter().zip(&templates) {
        let mine = ours(template);
        let certs = |out: &str| -> Vec<String> {
            let pems = pems(out);
            pems.into_iter()
                .filter(|p| p.contains("CERTIFICATE"))
                .collect()
        };
        for (m, t) in certs(&mine).iter().zip(certs(theirs).iter()) {
            assert_eq!(fields(m), fields(t), "{template}");
            assert_eq!(validity(m), validity(t), "{template}");
        }
        if template.contains("genCA") {
            let all = pems(&mine);
            verify(&all[0], &all[2]).expect("our leaf chains to our CA");
            let theirs = pems(theirs);
            let cross = format!(
                "{{{{ (genSignedCert \"x\" nil nil 1 (buildCustomCert {:?} {:?})).Cert }}}}",
                b64(&theirs[0]),
                b64(&theirs[1])
            );
            verify(&theirs[0], &ours(&cross)).expect("our leaf chains to Go's CA");
            let cross = format!(
                "{{{{ (genSignedCert \"x\" nil nil 1 (buildCustomCert {:?} {:?})).Cert }}}}",
                b64(&all[0]),
                b64(&all[1])
            );
            verify(&all[0], &go(&[cross])[0]).expect("Go's leaf chains to our CA");
            verify(&all[0], &theirs[2]).expect_err("Go's leaf does not chain to our CA");
        }
    }
}

/// The PEM blocks of `text`.
fn pems(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

/// `openssl verify` of `leaf` against `ca`.
fn verify(ca: &str, leaf: &str) -> Result<String, String> {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let name = format!("sprig-crypto-{}-{n}.pem", std::process::id());
    let ca_file = std::env::temp_dir().join(name);
    std::fs::write(&ca_file, ca).expect("writing the CA");
    let ca_path = ca_file.to_str().expect("a path");
    let result = openssl(&["verify", "-CAfile", ca_path], leaf);
    std::fs::remove_file(&ca_file).expect("removing the CA");
    result
}

#[test]
fn heavy_calls_are_bounded() {
    let refused = render(r#"{{ genPrivateKey "rsa" }}"#, Duration::from_millis(200));
    assert!(refused.is_err_and(|e| e.contains("would exceed its time limit")));
    let sixteen = "{{ bcrypt \"x\" }}".repeat(16);
    let spent = render(&sixteen, Duration::from_secs(60));
    assert!(spent.is_err_and(|e| e.contains("work limit")), "16 bcrypts");
    let fifteen = "{{ bcrypt \"x\" }}".repeat(15);
    assert!(
        render(&fifteen, Duration::from_secs(60)).is_ok(),
        "15 bcrypts"
    );
}
