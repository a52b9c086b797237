//! New sealing keys as the controller makes them: an RSA key (aws-lc-rs, constant-time) and a
//! self-signed certificate with a random 128-bit serial, KeyUsage encipherOnly, CA=true, and the
//! requested validity; stored as a `kubernetes.io/tls` Secret the Go controller also loads.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use crate::keys::{Certificate, KeyError, PrivateKey};

/// Label that marks a Secret as a sealing key; value `active` while it is in use.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// Value of [`KEY_LABEL`] on keys that are loaded.
pub const KEY_LABEL_ACTIVE: &str = "active";

/// A private key with its certificate.
#[derive(Debug, Clone)]
pub struct SealingKey {
    /// The key that unseals.
    pub private_key: PrivateKey,
    /// Its certificate (what `/v1/cert.pem` serves).
    pub certificate: Certificate,
}

/// Generates a key of `bits` and a self-signed certificate for subject CN `common_name`, valid
/// from `not_before` for `valid_for`.
pub fn generate(
    bits: usize,
    common_name: &str,
    not_before: SystemTime,
    valid_for: Duration,
) -> Result<SealingKey, KeyError> {
    let private_key = PrivateKey::generate(bits)?;
    let certificate = self_signed_certificate(&private_key, common_name, not_before, valid_for)?;
    Ok(SealingKey {
        private_key,
        certificate,
    })
}

fn self_signed_certificate(
    key: &PrivateKey,
    common_name: &str,
    not_before: SystemTime,
    valid_for: Duration,
) -> Result<Certificate, KeyError> {
    let bad = |reason: String| KeyError::BadCertificate(reason);
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(key.aws_key())
        .map_err(|_| bad("cannot encode the private key".into()))?;
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_ref());
    let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| bad(e.to_string()))?;

    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| bad("random number generator failed".into()))?;
    serial[0] &= 0x7f; // positive, as Go's random serial
    let mut params = rcgen::CertificateParams::default();
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.distinguished_name = rcgen::DistinguishedName::new();
    if !common_name.is_empty() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
    }
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::EncipherOnly];
    params.not_before = offset_date_time(not_before)?;
    params.not_after = offset_date_time(not_before + valid_for)?;
    let cert = params
        .self_signed(&signer)
        .map_err(|e| bad(e.to_string()))?;
    Certificate::from_der(cert.der())
}

fn offset_date_time(t: SystemTime) -> Result<time::OffsetDateTime, KeyError> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| KeyError::BadCertificate("time before 1970".into()))?
        .as_secs();
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .map_err(|e| KeyError::BadCertificate(e.to_string()))
}

/// The key Secret the controller stores: `generateName` = `prefix`, type `kubernetes.io/tls`,
/// label `sealedsecrets.bitnami.com/sealed-secrets-key: active` plus `labels`, `tls.key` PEM
/// PKCS#1, `tls.crt` PEM certificate.
pub fn key_secret(
    key: &SealingKey,
    prefix: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<Secret, KeyError> {
    let mut all_labels = labels.clone();
    all_labels.insert(KEY_LABEL.to_owned(), KEY_LABEL_ACTIVE.to_owned());
    let tls_key = key.private_key.to_pkcs1_pem()?;
    let data = BTreeMap::from([
        (
            "tls.crt".to_owned(),
            ByteString(key.certificate.to_pem().into_bytes()),
        ),
        (
            "tls.key".to_owned(),
            ByteString(tls_key.as_bytes().to_vec()),
        ),
    ]);
    Ok(Secret {
        metadata: ObjectMeta {
            generate_name: Some(prefix.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(all_labels),
            annotations: Some(annotations.clone()).filter(|a| !a.is_empty()),
            ..ObjectMeta::default()
        },
        data: Some(data),
        type_: Some("kubernetes.io/tls".to_owned()),
        ..Secret::default()
    })
}

/// Reads a key Secret (ours or the Go controller's): the private key and its certificate.
pub fn from_key_secret(secret: &Secret) -> Result<SealingKey, KeyError> {
    let name = secret.metadata.name.as_deref().unwrap_or("<unnamed>");
    let field = |k: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|v| v.0.as_slice())
            .ok_or_else(|| {
                KeyError::BadKeyDocument(format!("key Secret \"{name}\" has no data \"{k}\""))
            })
    };
    let mut keys = crate::keys::parse_private_keys_pem(field("tls.key")?)?;
    let certificate = Certificate::from_pem(field("tls.crt")?)?;
    if keys.len() != 1 {
        return Err(KeyError::BadKeyDocument(format!(
            "key Secret \"{name}\" holds {} private keys in tls.key, expected one",
            keys.len()
        )));
    }
    let private_key = keys.remove(0);
    if private_key.public_key().spki_der() != certificate.public_key().spki_der() {
        return Err(KeyError::BadKeyDocument(format!(
            "key Secret \"{name}\": tls.crt does not match tls.key"
        )));
    }
    Ok(SealingKey {
        private_key,
        certificate,
    })
}
