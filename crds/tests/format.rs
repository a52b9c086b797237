//! The sealing format, exercised through the public API of our own library: round trips in every
//! scope, the framing facts the original's ciphertexts have, tamper/label/truncation rejection
//! (property tests), decryption with several keys, every key form users hand us, and the
//! Secret ⇄ SealedSecret conversion.
//!
//! Keys are generated once per test binary: two 2048-bit keys for the property tests (fast), one
//! 4096-bit key (the controller's default size) for the format checks.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256};
use base64::Engine as _;
use crds::convert::{NoTemplates, ValueError};
use crds::{
    DecryptError, KeyError, PrivateKey, Scope, SealOptions, SealedSecret, UnsealError,
    UnsealOptions,
};
use k8s_openapi::api::core::v1::Secret;
use proptest::prelude::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const NO_KEY: &str = "no key could decrypt secret";

// ---------------------------------------------------------------------------------------------
// Keys, generated once per binary.

fn key(slot: &'static OnceLock<PrivateKey>, bits: usize) -> &'static PrivateKey {
    slot.get_or_init(|| PrivateKey::generate(bits).expect("key generation"))
}

/// 4096-bit key: the controller's default size, used for the framing checks.
fn key4096() -> &'static PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    key(&K, 4096)
}

/// 2048-bit key "A".
fn key_a() -> &'static PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    key(&K, 2048)
}

/// 2048-bit key "B".
fn key_b() -> &'static PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    key(&K, 2048)
}

fn same_key(a: &PrivateKey, b: &PrivateKey) -> bool {
    a.public_key().spki_der() == b.public_key().spki_der()
}

fn seal(key: &PrivateKey, label: &[u8], value: &[u8]) -> String {
    crds::seal_bytes(key.public_key(), label, value).expect("seal")
}

fn unseal(keys: &[PrivateKey], label: &[u8], sealed: &str) -> Result<Vec<u8>, ValueError> {
    crds::unseal_bytes(keys, label, sealed).map(|v| v.to_vec())
}

fn raw(sealed: &str) -> Vec<u8> {
    B64.decode(sealed).expect("standard base64")
}

fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

// ---------------------------------------------------------------------------------------------
// Round trips.

#[test]
fn round_trip_every_scope_4096() {
    let k = key4096();
    let keys = [k.clone()];
    let mib: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(31) >> 3) as u8)
        .collect();
    for scope in Scope::ALL {
        let label = scope.label("my-ns", "my-secret");
        for value in [all_bytes(), Vec::new(), mib.clone()] {
            let sealed = seal(k, &label, &value);
            let opened = unseal(&keys, &label, &sealed).expect("unseal");
            assert!(
                opened == value,
                "{scope}: {} bytes did not round-trip",
                value.len()
            );
        }
    }
}

#[test]
fn round_trip_each_single_byte_value() {
    let k = key_a();
    let keys = [k.clone()];
    let label = Scope::Strict.label("ns", "name");
    for b in 0..=255u8 {
        let sealed = seal(k, &label, &[b]);
        assert_eq!(unseal(&keys, &label, &sealed).expect("unseal"), [b]);
    }
}

#[test]
fn scopes_bind_what_they_say() {
    let k = key_a();
    let keys = [k.clone()];
    let v = b"hunter2";
    // Strict: bound to namespace and name.
    let strict = seal(k, &Scope::Strict.label("ns", "a"), v);
    assert!(unseal(&keys, &Scope::Strict.label("ns", "a"), &strict).is_ok());
    assert!(unseal(&keys, &Scope::Strict.label("ns", "b"), &strict).is_err());
    assert!(unseal(&keys, &Scope::Strict.label("other", "a"), &strict).is_err());
    // Namespace-wide: any name in the namespace (the label ignores the name).
    let nsw = seal(k, &Scope::NamespaceWide.label("ns", "a"), v);
    assert!(unseal(&keys, &Scope::NamespaceWide.label("ns", "b"), &nsw).is_ok());
    assert!(unseal(&keys, &Scope::NamespaceWide.label("other", "a"), &nsw).is_err());
    assert!(unseal(&keys, &Scope::Strict.label("ns", "a"), &nsw).is_err());
    // Cluster-wide: the empty label, anywhere.
    let cw = seal(k, &Scope::ClusterWide.label("ns", "a"), v);
    assert!(unseal(&keys, &Scope::ClusterWide.label("x", "y"), &cw).is_ok());
    assert!(unseal(&keys, b"", &cw).is_ok());
    assert!(unseal(&keys, &Scope::NamespaceWide.label("ns", "a"), &cw).is_err());
}

// ---------------------------------------------------------------------------------------------
// Framing facts.

#[test]
fn framing_4096() {
    let k = key4096();
    for len in [0usize, 1, 15, 16, 17, 64, 1000] {
        let value = vec![0xa5u8; len];
        let sealed = seal(k, b"ns/name", &value);
        let ct = raw(&sealed);
        assert_eq!(&ct[..2], &[0x02, 0x00], "u16be(512) prefix");
        assert_eq!(
            ct.len(),
            2 + 512 + len + 16,
            "prefix + RSA block + body + tag"
        );
        // Standard alphabet, padded: the length is a multiple of 4, no URL-safe characters,
        // and re-encoding is the identity.
        assert_eq!(sealed.len() % 4, 0);
        assert!(sealed
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='));
        assert_eq!(B64.encode(&ct), sealed);
    }
    // 2 + 512 + 16 = 530 bytes ≡ 2 (mod 3): one pad character; 532 ≡ 1: two.
    let empty = seal(k, b"", b"");
    assert!(empty.ends_with('=') && !empty.ends_with("=="));
    assert!(seal(k, b"", b"xy").ends_with("=="));
}

#[test]
fn framing_2048() {
    let ct = raw(&seal(key_a(), b"", b"abc"));
    assert_eq!(&ct[..2], &[0x01, 0x00]);
    assert_eq!(ct.len(), 2 + 256 + 3 + 16);
}

#[test]
fn every_seal_uses_a_fresh_session_key() {
    let k = key4096();
    let a = raw(&seal(k, b"l", b"same value"));
    let b = raw(&seal(k, b"l", b"same value"));
    assert_ne!(
        a[2..514],
        b[2..514],
        "RSA blocks differ (OAEP is randomised)"
    );
    assert_ne!(
        a[514..],
        b[514..],
        "bodies differ (fresh AES key per value)"
    );
}

/// Opens a ciphertext with the primitives directly (not the library's decryption): RSA-OAEP
/// SHA-256/MGF1-SHA-256 with the label yields a 32-byte AES-256 key; AES-256-GCM with a zero
/// nonce and no AAD opens the rest.
#[test]
fn format_opens_with_the_bare_primitives() {
    let k = key4096();
    let pkcs1 = pem::parse(k.to_pkcs1_pem().expect("pem").as_bytes()).expect("pem");
    let pkcs8 = pkcs8_from_pkcs1(pkcs1.contents());
    let rsa = PrivateDecryptingKey::from_pkcs8(&pkcs8).expect("pkcs8");
    let oaep = OaepPrivateDecryptingKey::new(rsa).expect("oaep");

    let label = Scope::Strict.label("ns", "name");
    let value = all_bytes();
    let ct = raw(&seal(k, &label, &value));
    let rsa_len = usize::from(u16::from_be_bytes([ct[0], ct[1]]));
    let (rsa_ct, body) = ct[2..].split_at(rsa_len);

    let mut session = vec![0u8; oaep.min_output_size()];
    let session = oaep
        .decrypt(&OAEP_SHA256_MGF1SHA256, rsa_ct, &mut session, Some(&label))
        .expect("OAEP with the label");
    assert_eq!(session.len(), 32, "AES-256 session key");
    let mut wrong = vec![0u8; oaep.min_output_size()];
    assert!(oaep
        .decrypt(
            &OAEP_SHA256_MGF1SHA256,
            rsa_ct,
            &mut wrong,
            Some(b"ns/other")
        )
        .is_err());

    let aes = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, session).expect("aes key"));
    let mut buf = body.to_vec();
    let plain = aes
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut buf,
        )
        .expect("AES-GCM, zero nonce, no AAD");
    assert_eq!(plain, &value[..]);
}

/// Exhaustive truncation of one small ciphertext: short of the framing it is `Truncated`,
/// otherwise the tag cannot verify.
#[test]
fn truncation_at_every_length() {
    let k = key_a();
    let keys = [k.clone()];
    let ct = raw(&seal(k, b"ns/n", &[7u8; 40]));
    let min = 2 + 256 + 16;
    for n in 0..ct.len() {
        let err = crds::hybrid_decrypt(&keys, b"ns/n", &ct[..n]).expect_err("truncated");
        if n < min {
            assert_eq!(err, DecryptError::Truncated { len: n }, "length {n}");
        } else {
            assert_eq!(err, DecryptError::NoKeyCouldDecrypt, "length {n}");
        }
    }
    assert!(crds::hybrid_decrypt(&keys, b"ns/n", &ct).is_ok());
}

#[test]
fn not_base64_is_its_own_error() {
    let keys = [key_a().clone()];
    for bad in ["%%%%", "AAA", "AAAA-_AA"] {
        assert!(matches!(
            crds::unseal_bytes(&keys, b"", bad),
            Err(ValueError::NotBase64)
        ));
    }
    // Empty input decodes to zero bytes: truncated, not a panic.
    assert!(matches!(
        crds::unseal_bytes(&keys, b"", ""),
        Err(ValueError::Decrypt(DecryptError::Truncated { len: 0 }))
    ));
}

// ---------------------------------------------------------------------------------------------
// Properties (2048-bit keys, modest case counts).

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn prop_round_trip(
        value in proptest::collection::vec(any::<u8>(), 0..4096),
        label in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let k = key_a();
        let sealed = seal(k, &label, &value);
        prop_assert_eq!(raw(&sealed).len(), 2 + 256 + value.len() + 16);
        prop_assert_eq!(unseal(std::slice::from_ref(k), &label, &sealed).expect("unseal"), value);
    }

    #[test]
    fn prop_round_trip_scope_labels(
        value in proptest::collection::vec(any::<u8>(), 0..256),
        ns in "[a-z0-9-]{0,63}",
        name in "[a-z0-9.-]{0,253}",
        scope in prop::sample::select(Scope::ALL.to_vec()),
    ) {
        let k = key_a();
        let label = scope.label(&ns, &name);
        let sealed = seal(k, &label, &value);
        prop_assert_eq!(unseal(std::slice::from_ref(k), &label, &sealed).expect("unseal"), value);
    }

    #[test]
    fn prop_any_bit_flip_is_rejected(
        value in proptest::collection::vec(any::<u8>(), 0..512),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let k = key_a();
        let mut ct = raw(&seal(k, b"ns/name", &value));
        let i = pos.index(ct.len());
        ct[i] ^= 1 << bit;
        match crds::hybrid_decrypt(std::slice::from_ref(k), b"ns/name", &ct) {
            Ok(_) => prop_assert!(false, "flip of bit {} of byte {} was accepted", bit, i),
            Err(DecryptError::NoKeyCouldDecrypt | DecryptError::Truncated { .. }) => {}
        }
    }

    #[test]
    fn prop_wrong_label_is_rejected(
        value in proptest::collection::vec(any::<u8>(), 0..256),
        label in proptest::collection::vec(any::<u8>(), 0..64),
        other in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(label != other);
        let k = key_a();
        let sealed = seal(k, &label, &value);
        let err = unseal(std::slice::from_ref(k), &other, &sealed).expect_err("wrong label");
        prop_assert_eq!(err.to_string(), NO_KEY);
        prop_assert!(matches!(err, ValueError::Decrypt(DecryptError::NoKeyCouldDecrypt)));
    }

    #[test]
    fn prop_truncation_is_rejected(
        value in proptest::collection::vec(any::<u8>(), 0..512),
        cut in any::<prop::sample::Index>(),
    ) {
        let k = key_a();
        let ct = raw(&seal(k, b"l", &value));
        let n = cut.index(ct.len()); // 0..len: always strictly shorter
        let sealed = B64.encode(&ct[..n]);
        match unseal(std::slice::from_ref(k), b"l", &sealed) {
            Err(ValueError::Decrypt(DecryptError::Truncated { len })) => {
                prop_assert_eq!(len, n);
                prop_assert!(n < 2 + 256 + 16);
            }
            Err(ValueError::Decrypt(DecryptError::NoKeyCouldDecrypt)) => {
                prop_assert!(n >= 2 + 256 + 16);
            }
            other => prop_assert!(false, "length {}: unexpected {:?}", n, other.map(|_| ())),
        }
    }

    #[test]
    fn prop_arbitrary_ciphertext_never_panics(
        junk in proptest::collection::vec(any::<u8>(), 0..700),
    ) {
        let keys = [key_a().clone()];
        prop_assert!(crds::hybrid_decrypt(&keys, b"", &junk).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Several keys.

#[test]
fn many_keys_any_order() {
    let (a, b) = (key_a().clone(), key_b().clone());
    assert!(!same_key(&a, &b));
    let label = Scope::Strict.label("ns", "n");
    let sealed = seal(&b, &label, b"to B");
    assert_eq!(
        unseal(&[a.clone(), b.clone()], &label, &sealed).expect("A,B"),
        b"to B"
    );
    assert_eq!(
        unseal(&[b.clone(), a.clone()], &label, &sealed).expect("B,A"),
        b"to B"
    );
    // A 4096-bit key (different RSA block size) in the list is skipped, not an error.
    assert_eq!(
        unseal(&[key4096().clone(), a.clone(), b.clone()], &label, &sealed).expect("4096,A,B"),
        b"to B"
    );
    let err = unseal(std::slice::from_ref(&a), &label, &sealed).expect_err("A alone");
    assert_eq!(err.to_string(), NO_KEY);
    let err = unseal(&[], &label, &sealed).expect_err("no keys");
    assert_eq!(err.to_string(), NO_KEY);
}

// ---------------------------------------------------------------------------------------------
// Key forms.

/// DER PKCS#8 `PrivateKeyInfo` around a PKCS#1 `RSAPrivateKey`, built independently of the
/// library (version 0, `rsaEncryption` with NULL parameters, OCTET STRING).
fn pkcs8_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = body.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(body);
        out
    }
    let alg = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(&alg);
    body.extend(tlv(0x04, pkcs1));
    tlv(0x30, &body)
}

fn pkcs1_pem(k: &PrivateKey) -> String {
    k.to_pkcs1_pem().expect("pkcs1 pem").to_string()
}

const PLACEHOLDER_CERT: &str =
    "-----BEGIN CERTIFICATE-----\nbm90IGEgcmVhbCBjZXJ0aWZpY2F0ZQ==\n-----END CERTIFICATE-----\n";

fn key_secret_json(name: &str, k: &PrivateKey) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": "kube-system",
            "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"},
        },
        "data": {
            "tls.crt": B64.encode(PLACEHOLDER_CERT),
            "tls.key": B64.encode(pkcs1_pem(k)),
        },
    })
}

fn to_yaml(v: &serde_json::Value) -> String {
    serde_yaml::to_string(v).expect("yaml")
}

/// Checks that `parsed` are exactly `expected`, in order, and that they really decrypt.
fn assert_keys(parsed: &[PrivateKey], expected: &[&PrivateKey]) {
    assert_eq!(parsed.len(), expected.len());
    for (p, e) in parsed.iter().zip(expected) {
        assert!(same_key(p, e));
        let sealed = seal(e, b"l", b"v");
        assert_eq!(
            unseal(std::slice::from_ref(p), b"l", &sealed).expect("unseal"),
            b"v"
        );
    }
}

#[test]
fn key_forms_pkcs1_pem() {
    let k = key4096();
    let text = pkcs1_pem(k);
    assert!(text.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert_keys(
        &crds::parse_private_keys(text.as_bytes()).expect("pem"),
        &[k],
    );
    // Two PEM blocks in one file: both keys, in order.
    let both = format!("{}{}", pkcs1_pem(key_a()), pkcs1_pem(key_b()));
    assert_keys(
        &crds::parse_private_keys(both.as_bytes()).expect("two pems"),
        &[key_a(), key_b()],
    );
}

#[test]
fn key_forms_pkcs8_pem_built() {
    let k = key_a();
    let pkcs1 = pem::parse(pkcs1_pem(k).as_bytes()).expect("pem");
    let pkcs8 = pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        pkcs8_from_pkcs1(pkcs1.contents()),
    ));
    assert_keys(
        &crds::parse_private_keys(pkcs8.as_bytes()).expect("pkcs8"),
        &[k],
    );
}

fn openssl(args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input).ok()?;
    let out = child.wait_with_output().ok()?;
    out.status.success().then_some(out.stdout)
}

#[test]
fn key_forms_openssl_interop() {
    let k = key_a();
    let text = pkcs1_pem(k);
    let Some(pkcs8) = openssl(&["pkcs8", "-topk8", "-nocrypt"], text.as_bytes()) else {
        eprintln!("openssl not available: skipping the openssl interop checks");
        return;
    };
    assert!(pkcs8.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    assert_keys(
        &crds::parse_private_keys(&pkcs8).expect("openssl pkcs8"),
        &[k],
    );
    // openssl accepts our PKCS#1 output as a consistent RSA key.
    assert!(openssl(&["rsa", "-check", "-noout"], text.as_bytes()).is_some());
    // openssl's own PKCS#1 re-encoding parses too.
    let trad = openssl(&["rsa", "-traditional"], &pkcs8).expect("openssl rsa -traditional");
    assert!(trad.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    assert_keys(
        &crds::parse_private_keys(&trad).expect("openssl pkcs1"),
        &[k],
    );
}

#[test]
fn key_forms_key_secret_yaml_and_json() {
    let k = key_a();
    let secret = key_secret_json("sealed-secrets-keyab12c", k);
    assert_keys(
        &crds::parse_private_keys(to_yaml(&secret).as_bytes()).expect("yaml"),
        &[k],
    );
    assert_keys(
        &crds::parse_private_keys(secret.to_string().as_bytes()).expect("json"),
        &[k],
    );
    // tls.crt is not needed to unseal.
    let mut no_crt = secret.clone();
    no_crt["data"]
        .as_object_mut()
        .expect("data")
        .remove("tls.crt");
    assert_keys(
        &crds::parse_private_keys(to_yaml(&no_crt).as_bytes()).expect("no tls.crt"),
        &[k],
    );
}

#[test]
fn key_forms_list_yaml_json_and_multidoc() {
    let (a, b) = (key_a(), key_b());
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": [key_secret_json("sealed-secrets-keyaaaaa", a), key_secret_json("sealed-secrets-keybbbbb", b)],
    });
    assert_keys(
        &crds::parse_private_keys(to_yaml(&list).as_bytes()).expect("yaml list"),
        &[a, b],
    );
    assert_keys(
        &crds::parse_private_keys(
            serde_json::to_string_pretty(&list)
                .expect("json")
                .as_bytes(),
        )
        .expect("json list"),
        &[a, b],
    );
    let multidoc = format!(
        "---\n{}---\n{}",
        to_yaml(&key_secret_json("one", a)),
        to_yaml(&key_secret_json("two", b))
    );
    assert_keys(
        &crds::parse_private_keys(multidoc.as_bytes()).expect("multi-doc"),
        &[a, b],
    );
    let mut secret_list = list.clone();
    secret_list["kind"] = "SecretList".into();
    assert_keys(
        &crds::parse_private_keys(secret_list.to_string().as_bytes()).expect("SecretList"),
        &[a, b],
    );
}

/// EC P-256 keys made with `openssl genpkey -algorithm EC` (PKCS#8) and `openssl ecparam -genkey`
/// (SEC1): test inputs only.
const EC_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMjsBQx3VEy9AB5QK
7aHDCAj7CE3SJinDzYT3QCLpavehRANCAAQf6W34UmDw/Gj7ZtFxdLJ3Trc4SYAh
/Eb5/F9gVYmTljkxwzKqBCh/GXiWPnxqlh+TH/LQPynKy/wYFWJAmI7n
-----END PRIVATE KEY-----
";
const EC_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIEWop1LQDpmDSXuptvr7LiaQeKvxCr8WdksizPXe8tvDoAoGCCqGSM49
AwEHoUQDQgAEH+ESwi+LgioRWkI4GxlBleOIpTI9CO9C/rWaUZTI8fh76nC7Mq0h
J1P83V3uGFGVX4r+ayD+bya9neI9OLCsxw==
-----END EC PRIVATE KEY-----
";

#[test]
fn bad_key_inputs_give_typed_errors() {
    let parse = |input: &[u8]| crds::parse_private_keys(input).expect_err("must be rejected");

    assert!(matches!(parse(b""), KeyError::BadKeyDocument(_)));
    assert!(matches!(parse(b"hello world"), KeyError::BadKeyDocument(_)));
    assert!(matches!(
        parse(b"\x00\xff\xfe binary"),
        KeyError::BadKeyDocument(_)
    ));
    assert!(matches!(
        parse(EC_PKCS8.as_bytes()),
        KeyError::NotRsa { .. }
    ));
    assert!(matches!(
        parse(EC_SEC1.as_bytes()),
        KeyError::UnexpectedPem { .. }
    ));
    assert!(matches!(
        parse(PLACEHOLDER_CERT.as_bytes()),
        KeyError::UnexpectedPem { .. }
    ));
    // A PEM header with a broken body.
    let broken = "-----BEGIN RSA PRIVATE KEY-----\n!!!!\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        parse(broken.as_bytes()),
        KeyError::BadPem { .. } | KeyError::NoPem { .. }
    ));
    // Valid PEM, garbage DER; and a truncated real key.
    let garbage = pem::encode(&pem::Pem::new("RSA PRIVATE KEY", vec![0x30, 0x03, 1, 2, 3]));
    assert!(matches!(parse(garbage.as_bytes()), KeyError::BadKey { .. }));
    let real = pem::parse(pkcs1_pem(key_a()).as_bytes()).expect("pem");
    let cut = pem::encode(&pem::Pem::new(
        "RSA PRIVATE KEY",
        real.contents()[..real.contents().len() / 2].to_vec(),
    ));
    assert!(matches!(parse(cut.as_bytes()), KeyError::BadKey { .. }));

    // A key Secret without tls.key.
    let mut secret = key_secret_json("nokey", key_a());
    secret["data"]
        .as_object_mut()
        .expect("data")
        .remove("tls.key");
    let err = parse(to_yaml(&secret).as_bytes());
    assert_eq!(
        err,
        KeyError::BadKeyDocument("Secret \"nokey\" has no data \"tls.key\"".into())
    );
    // tls.key that is not base64, or base64 of something that is not a key.
    secret["data"]["tls.key"] = "%%%".into();
    assert!(matches!(
        parse(secret.to_string().as_bytes()),
        KeyError::BadKeyDocument(_)
    ));
    secret["data"]["tls.key"] = B64.encode(EC_PKCS8).into();
    assert!(matches!(
        parse(secret.to_string().as_bytes()),
        KeyError::NotRsa { .. }
    ));
    // A document that is not a Secret.
    assert!(matches!(
        parse(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"),
        KeyError::BadKeyDocument(_)
    ));
    // Messages never contain key material.
    let msg = parse(cut.as_bytes()).to_string();
    assert!(!msg.contains(&B64.encode(&real.contents()[..32])));
}

// ---------------------------------------------------------------------------------------------
// Secret ⇄ SealedSecret.

const SECRET_YAML: &str = r#"
apiVersion: v1
kind: Secret
type: Opaque
immutable: true
metadata:
  name: mysecret
  namespace: myns
  uid: 0d4f6f2c-6b9b-4a43-9c0a-1f2e3d4c5b6a
  resourceVersion: "12345"
  generation: 3
  creationTimestamp: "2024-01-02T03:04:05Z"
  labels:
    app: web
    tier: db
  annotations:
    note: kept
    kubectl.kubernetes.io/last-applied-configuration: '{"stringData":{"password":"plaintext!"}}'
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: owner
    uid: 11111111-2222-3333-4444-555555555555
  managedFields:
  - manager: kubectl
    operation: Update
    apiVersion: v1
  finalizers:
  - example.com/keep
data:
  username: YWRtaW4=
  clash: ZnJvbS1kYXRh
  binary: AAH/
stringData:
  password: s3cr3t
  clash: from-stringData
"#;

fn secret_from_yaml(yaml: &str) -> Secret {
    let docs = crds::parse_documents(yaml.as_bytes()).expect("yaml");
    assert_eq!(docs.len(), 1);
    crds::secret_from_document(&docs[0]).expect("a Secret")
}

fn data_of(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

fn unseal_secret(sealed: &SealedSecret, keys: &[PrivateKey]) -> Result<Secret, UnsealError> {
    crds::unseal_sealed_secret(sealed, keys, &NoTemplates, UnsealOptions::default())
}

#[test]
fn seal_secret_round_trip_and_metadata() {
    let k = key4096();
    let sealed = crds::seal_secret(
        secret_from_yaml(SECRET_YAML),
        k.public_key(),
        &SealOptions::default(),
    )
    .expect("seal");

    // The SealedSecret itself.
    assert_eq!(sealed.metadata.name.as_deref(), Some("mysecret"));
    assert_eq!(sealed.metadata.namespace.as_deref(), Some("myns"));
    assert!(
        sealed.metadata.annotations.is_none(),
        "strict: no scope annotation"
    );
    assert_eq!(
        sealed
            .spec
            .encrypted_data
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["binary", "clash", "password", "username"]
    );
    for v in sealed.spec.encrypted_data.values() {
        assert_eq!(&raw(v)[..2], &[0x02, 0x00]);
    }
    assert!(sealed.spec.data.is_none());

    // The template: labels, annotations (minus last-applied), finalizers, type, immutable;
    // none of the fields the API server sets.
    let t = &sealed.spec.template;
    let m = &t.metadata;
    assert_eq!(m.name.as_deref(), Some("mysecret"));
    assert_eq!(m.namespace.as_deref(), Some("myns"));
    assert_eq!(
        m.labels,
        Some(BTreeMap::from([
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), "db".to_owned())
        ]))
    );
    assert_eq!(
        m.annotations,
        Some(BTreeMap::from([("note".to_owned(), "kept".to_owned())]))
    );
    assert_eq!(m.finalizers, Some(vec!["example.com/keep".to_owned()]));
    assert!(m.uid.is_none());
    assert!(m.resource_version.is_none());
    assert!(m.creation_timestamp.is_none());
    assert!(m.generation.is_none());
    assert!(m.managed_fields.is_none());
    assert!(m.owner_references.is_none());
    assert_eq!(t.type_.as_deref(), Some("Opaque"));
    assert_eq!(t.immutable, Some(true));
    assert!(t.data.is_none());
    let serialized = serde_json::to_string(&sealed).expect("json");
    assert!(!serialized.contains("plaintext!"));
    assert!(!serialized.contains("last-applied"));

    // Unsealed: stringData folded in, winning on the clash.
    let secret = unseal_secret(&sealed, std::slice::from_ref(k)).expect("unseal");
    assert_eq!(
        data_of(&secret),
        BTreeMap::from([
            ("binary".to_owned(), vec![0x00, 0x01, 0xff]),
            ("clash".to_owned(), b"from-stringData".to_vec()),
            ("password".to_owned(), b"s3cr3t".to_vec()),
            ("username".to_owned(), b"admin".to_vec()),
        ])
    );
    assert!(secret.string_data.is_none());
    assert_eq!(secret.metadata.name.as_deref(), Some("mysecret"));
    assert_eq!(secret.metadata.namespace.as_deref(), Some("myns"));
    assert_eq!(secret.metadata.labels, m.labels);
    assert_eq!(secret.metadata.annotations, m.annotations);
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert_eq!(secret.immutable, Some(true));
    let owners = secret
        .metadata
        .owner_references
        .clone()
        .expect("owner reference");
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].kind, "SealedSecret");
    assert_eq!(owners[0].api_version, "bitnami.com/v1alpha1");
    assert_eq!(owners[0].name, "mysecret");
    assert_eq!(owners[0].controller, Some(true));

    // Survives a trip through its JSON form.
    let back: SealedSecret = serde_json::from_str(&serialized).expect("parse back");
    assert_eq!(
        data_of(&unseal_secret(&back, std::slice::from_ref(k)).expect("unseal")),
        data_of(&secret)
    );
}

fn scoped_secret(annotation: Option<&str>) -> Secret {
    let annotations = annotation
        .map(|a| format!("  annotations:\n    {a}: \"true\"\n"))
        .unwrap_or_default();
    secret_from_yaml(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: n1\n  namespace: ns1\n{annotations}stringData:\n  k: v\n"
    ))
}

fn renamed(sealed: &SealedSecret, name: &str, namespace: &str) -> SealedSecret {
    let mut s = sealed.clone();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(namespace.into());
    s
}

#[test]
fn seal_secret_scope_from_annotations() {
    let k = key_a();
    let keys = std::slice::from_ref(k);
    let opts = SealOptions::default();
    let cases = [
        (None, Scope::Strict),
        (
            Some(crds::scope::NAMESPACE_WIDE_ANNOTATION),
            Scope::NamespaceWide,
        ),
        (
            Some(crds::scope::CLUSTER_WIDE_ANNOTATION),
            Scope::ClusterWide,
        ),
    ];
    for (annotation, scope) in cases {
        let sealed =
            crds::seal_secret(scoped_secret(annotation), k.public_key(), &opts).expect("seal");
        assert_eq!(
            Scope::from_annotations(sealed.metadata.annotations.as_ref()),
            scope
        );
        // Kept on the template too.
        assert_eq!(
            Scope::from_annotations(sealed.spec.template.metadata.annotations.as_ref()),
            scope
        );
        let v = sealed.spec.encrypted_data.get("k").expect("k");
        assert_eq!(
            unseal(keys, &scope.label("ns1", "n1"), v).expect("label of the scope"),
            b"v"
        );

        assert!(unseal_secret(&sealed, keys).is_ok());
        let other_name = unseal_secret(&renamed(&sealed, "n2", "ns1"), keys);
        let other_ns = unseal_secret(&renamed(&sealed, "n1", "ns2"), keys);
        assert_eq!(
            other_name.is_ok(),
            scope != Scope::Strict,
            "{scope}: rename"
        );
        assert_eq!(
            other_ns.is_ok(),
            scope == Scope::ClusterWide,
            "{scope}: move"
        );
    }

    // --scope replaces what the annotations say.
    let opts = SealOptions {
        scope: Some(Scope::Strict),
        ..SealOptions::default()
    };
    let sealed = crds::seal_secret(
        scoped_secret(Some(crds::scope::CLUSTER_WIDE_ANNOTATION)),
        k.public_key(),
        &opts,
    )
    .expect("seal");
    assert_eq!(
        Scope::from_annotations(sealed.metadata.annotations.as_ref()),
        Scope::Strict
    );
    assert!(unseal_secret(&renamed(&sealed, "n1", "ns2"), keys).is_err());
}

#[test]
fn unseal_error_groups_failing_keys() {
    let (a, b) = (key_a(), key_b());
    let sealed = crds::seal_secret(
        secret_from_yaml(SECRET_YAML),
        a.public_key(),
        &SealOptions::default(),
    )
    .expect("seal");
    let err = unseal_secret(&sealed, std::slice::from_ref(b)).expect_err("wrong key");
    assert_eq!(
        err.to_string(),
        "no key could decrypt secret (binary, clash, password, username)"
    );

    // Different reasons are grouped separately, keys in order.
    let mut mixed = sealed.clone();
    let enc = &mut mixed.spec.encrypted_data;
    enc.insert("zz-bad".into(), "%%%%".into());
    enc.insert("aa-short".into(), B64.encode([0x01, 0x00, 0xff]));
    enc.insert(
        "clash".into(),
        seal(b, &Scope::Strict.label("myns", "mysecret"), b"ok"),
    );
    let err = unseal_secret(&mixed, std::slice::from_ref(b)).expect_err("mixed");
    assert_eq!(
        err.to_string(),
        "ciphertext is truncated (3 bytes) (aa-short); \
         no key could decrypt secret (binary, password, username); \
         sealed value is not valid base64 (zz-bad)"
    );
    // With both keys only the malformed values fail.
    let err = unseal_secret(&mixed, &[b.clone(), a.clone()]).expect_err("malformed");
    assert_eq!(
        err.to_string(),
        "ciphertext is truncated (3 bytes) (aa-short); sealed value is not valid base64 (zz-bad)"
    );
}

#[test]
fn seal_secret_rejects_empty_and_non_secrets() {
    let k = key_a();
    let empty =
        secret_from_yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: e, namespace: n}\n");
    assert!(matches!(
        crds::seal_secret(empty.clone(), k.public_key(), &SealOptions::default()),
        Err(crds::SealError::EmptyData { .. })
    ));
    let opts = SealOptions {
        allow_empty_data: true,
        ..SealOptions::default()
    };
    let sealed = crds::seal_secret(empty, k.public_key(), &opts).expect("allowed");
    assert!(sealed.spec.encrypted_data.is_empty());

    let docs = crds::parse_documents(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
        .expect("yaml");
    assert!(matches!(
        crds::secret_from_document(&docs[0]),
        Err(crds::SealError::NotASecret { index: 1, .. })
    ));
}
