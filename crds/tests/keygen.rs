//! Sealing keys as the controller makes and stores them, checked with openssl as a third party.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, SystemTime};

use crds::keygen::{self, KEY_LABEL};
use crds::Scope;

const TEN_YEARS: Duration = Duration::from_secs(87_600 * 3600);

fn openssl_text(pem: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cert.pem");
    std::fs::write(&path, pem).expect("write");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&path)
        .output()
        .expect("the openssl CLI is needed");
    assert!(out.status.success(), "openssl rejects our certificate");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn generated_key_secret_has_the_go_controllers_shape() {
    let now = SystemTime::now();
    let key = keygen::generate(2048, "sealed-secret", now, TEN_YEARS).expect("keygen");
    let labels = BTreeMap::from([("team".to_owned(), "platform".to_owned())]);
    let secret = keygen::key_secret(
        &key,
        "sealed-secrets-key",
        "kube-system",
        &labels,
        &BTreeMap::new(),
    )
    .expect("key secret");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(
        secret.metadata.generate_name.as_deref(),
        Some("sealed-secrets-key")
    );
    assert_eq!(secret.metadata.namespace.as_deref(), Some("kube-system"));
    let l = secret.metadata.labels.as_ref().expect("labels");
    assert_eq!(l.get(KEY_LABEL).map(String::as_str), Some("active"));
    assert_eq!(l.get("team").map(String::as_str), Some("platform"));
    let data = secret.data.as_ref().expect("data");
    let tls_key = String::from_utf8(data["tls.key"].0.clone()).expect("pem");
    assert!(
        tls_key.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "PKCS#1 like the Go controller"
    );

    let text = openssl_text(&data["tls.crt"].0);
    assert!(text.contains("Subject: CN = sealed-secret"), "{text}");
    assert!(text.contains("Issuer: CN = sealed-secret"), "{text}");
    assert!(text.contains("Encipher Only"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    let not_after = key
        .certificate
        .not_after()
        .duration_since(now)
        .expect("future");
    assert!((not_after.as_secs() as i64 - TEN_YEARS.as_secs() as i64).abs() < 5);

    // openssl can read the PKCS#1 key and it matches the certificate.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("k.pem"), tls_key.as_bytes()).expect("write");
    let modulus = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}");
        out.stdout
    };
    std::fs::write(dir.path().join("c.pem"), &data["tls.crt"].0).expect("write");
    assert_eq!(
        modulus(&["rsa", "-noout", "-modulus", "-in", "k.pem"]),
        modulus(&["x509", "-noout", "-modulus", "-in", "c.pem"])
    );

    // The Secret loads back, and its certificate seals what its key unseals.
    let loaded = keygen::from_key_secret(&secret).expect("loads");
    let label = Scope::Strict.label("ns", "name");
    let sealed = crds::seal_bytes(loaded.certificate.public_key(), &label, b"value").expect("seal");
    let plain = crds::unseal_bytes(std::slice::from_ref(&key.private_key), &label, &sealed)
        .expect("unseal");
    assert_eq!(plain.as_slice(), b"value");
}

#[test]
fn serials_are_random_and_positive() {
    let now = SystemTime::now();
    let a = keygen::generate(2048, "", now, TEN_YEARS).expect("keygen");
    let b = keygen::generate(2048, "", now, TEN_YEARS).expect("keygen");
    let serial = |k: &keygen::SealingKey| {
        let text = openssl_text(k.certificate.to_pem().as_bytes());
        text.lines()
            .skip_while(|l| !l.contains("Serial Number"))
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    assert_ne!(serial(&a), serial(&b));
    assert!(
        serial(&a).split(':').count() >= 15,
        "128-bit serial: {}",
        serial(&a)
    );
}

#[test]
fn key_secrets_made_by_openssl_in_the_go_format_load_and_mismatches_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let ok = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl")
            .success();
        assert!(ok, "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "k8.pem",
        "-out",
        "c.pem",
        "-days",
        "3650",
        "-subj",
        "/CN=sealed-secret",
    ]);
    run(&["rsa", "-in", "k8.pem", "-traditional", "-out", "k1.pem"]);
    let read = |f: &str| std::fs::read(dir.path().join(f)).expect("read");
    let secret = |key: Vec<u8>, crt: Vec<u8>| k8s_openapi::api::core::v1::Secret {
        data: Some(BTreeMap::from([
            ("tls.key".to_owned(), k8s_openapi::ByteString(key)),
            ("tls.crt".to_owned(), k8s_openapi::ByteString(crt)),
        ])),
        ..Default::default()
    };
    let loaded = keygen::from_key_secret(&secret(read("k1.pem"), read("c.pem")))
        .expect("Go-format key loads");
    assert_eq!(loaded.private_key.public_key().bits(), 2048);
    let other = keygen::generate(2048, "x", SystemTime::now(), TEN_YEARS).expect("keygen");
    let err = keygen::from_key_secret(&secret(
        read("k1.pem"),
        other.certificate.to_pem().into_bytes(),
    ))
    .expect_err("mismatch");
    assert!(
        err.to_string().contains("tls.crt does not match tls.key"),
        "{err}"
    );
    let err =
        keygen::from_key_secret(&k8s_openapi::api::core::v1::Secret::default()).expect_err("empty");
    assert!(err.to_string().contains("has no data \"tls.key\""), "{err}");
}
