//! Re-encryption to the newest key, only where stale, and key backups read with their
//! certificates (what offline key-rotation jobs use).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crds::keygen::{self, SealingKey};
use crds::rotate::{rotate, KeyBackup, Rotation};
use crds::{seal_secret, unseal_bytes, SealOptions, UnsealOptions};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;

fn key(days_ago: u64) -> SealingKey {
    let made = SystemTime::now() - Duration::from_secs(days_ago * 86_400);
    keygen::generate(2048, "test", made, Duration::from_secs(3650 * 86_400)).expect("key")
}

fn sealed_to(key: &SealingKey) -> crds::SealedSecret {
    let mut secret = Secret::default();
    secret.metadata.name = Some("db".into());
    secret.metadata.namespace = Some("prod".into());
    secret.data = Some(BTreeMap::from([
        ("a".to_owned(), ByteString(b"one".to_vec())),
        ("b".to_owned(), ByteString(b"two".to_vec())),
    ]));
    seal_secret(
        secret,
        key.certificate.public_key(),
        &SealOptions::default(),
    )
    .expect("seal")
}

fn backup_yaml(keys: &[&SealingKey]) -> Vec<u8> {
    let items: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            let s = keygen::key_secret(
                k,
                "sealed-secrets-key",
                "kube-system",
                &BTreeMap::new(),
                &BTreeMap::new(),
            )
            .expect("key Secret");
            serde_json::to_value(s).expect("json")
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
        .expect("json")
}

#[test]
fn a_secret_on_the_target_key_is_current_and_an_older_one_is_rotated() {
    let (old, new) = (key(30), key(1));
    let keys = vec![new.private_key.clone(), old.private_key.clone()];
    let target = new.certificate.public_key();
    let opts = UnsealOptions::default();
    assert!(matches!(
        rotate(&sealed_to(&new), &keys, target, true, opts).expect("rotate"),
        Rotation::Current
    ));
    let Rotation::Rotated(rotated) =
        rotate(&sealed_to(&old), &keys, target, true, opts).expect("rotate")
    else {
        panic!("a SealedSecret on the old key is stale");
    };
    for value in rotated.spec.encrypted_data.values() {
        let plain = unseal_bytes(std::slice::from_ref(&new.private_key), b"prod/db", value);
        assert!(plain.is_ok(), "opens with the new key alone");
    }
    // Without only_stale, a current one is re-encrypted anyway (what /v1/rotate always did).
    assert!(matches!(
        rotate(&sealed_to(&new), &keys, target, false, opts).expect("rotate"),
        Rotation::Rotated(_)
    ));
}

#[test]
fn a_target_without_its_private_key_makes_everything_stale() {
    let (a, b) = (key(2), key(1));
    let keys = vec![a.private_key.clone()];
    let result = rotate(
        &sealed_to(&a),
        &keys,
        b.certificate.public_key(),
        true,
        UnsealOptions::default(),
    );
    let Ok(Rotation::Rotated(rotated)) = result else {
        panic!("migration to another cluster's certificate re-encrypts");
    };
    let value = rotated.spec.encrypted_data.get("a").expect("a");
    assert!(unseal_bytes(std::slice::from_ref(&b.private_key), b"prod/db", value).is_ok());
}

#[test]
fn a_value_no_key_opens_is_an_error_naming_the_key() {
    let (a, stranger) = (key(2), key(1));
    let err = rotate(
        &sealed_to(&stranger),
        std::slice::from_ref(&a.private_key),
        a.certificate.public_key(),
        true,
        UnsealOptions::default(),
    )
    .expect_err("cannot decrypt");
    let text = err.to_string();
    assert!(text.contains('a') && !text.contains("one"), "{text}");
}

#[test]
fn a_backup_orders_its_keys_by_certificate_and_knows_the_newest() {
    let (old, new) = (key(30), key(1));
    // Listed oldest last and newest first or not: the certificates decide.
    let backup =
        KeyBackup::read(&[&backup_yaml(&[&old, &new]), &backup_yaml(&[&old])]).expect("backup");
    assert_eq!(backup.private_keys().len(), 2, "duplicates removed");
    assert_eq!(
        backup.newest().expect("newest").spki_der(),
        new.certificate.public_key().spki_der()
    );
}

#[test]
fn pem_keys_without_certificates_need_a_cert_unless_there_is_one() {
    let (a, b) = (key(2), key(1));
    let pem_a = a.private_key.to_pkcs1_pem().expect("pem");
    let pem_b = b.private_key.to_pkcs1_pem().expect("pem");
    let one = KeyBackup::read(&[pem_a.as_bytes()]).expect("one key");
    assert!(one.newest().is_ok());
    let two = KeyBackup::read(&[pem_a.as_bytes(), pem_b.as_bytes()]).expect("two keys");
    let err = two.newest().expect_err("which is newest?").to_string();
    assert!(err.contains("give --cert"), "{err}");
    assert!(KeyBackup::read(&[b"no key here".as_slice()]).is_err());
}
