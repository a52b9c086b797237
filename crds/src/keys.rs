//! Parsing of sealing certificates, public keys and private keys in every form users hand us:
//! PEM certificates (`tls.crt`, `kubeseal --fetch-cert` output), PEM public keys (SPKI or PKCS#1),
//! PEM private keys (PKCS#1 `RSA PRIVATE KEY` as the controller stores them, or PKCS#8), and
//! backed-up key Secrets or `v1 List`s of them in YAML or JSON.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey, PublicEncryptingKey};
use base64::Engine as _;
use x509_cert::der::{Decode, Encode};
use zeroize::Zeroizing;

use crate::der;

/// Why a certificate or key could not be used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The input holds no PEM block at all.
    #[error("no PEM data found in {what}")]
    NoPem {
        /// What we were looking for (e.g. "certificate").
        what: &'static str,
    },
    /// A PEM block is present but malformed.
    #[error("invalid PEM in {what}: {reason}")]
    BadPem {
        /// What we were looking for.
        what: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// A PEM block of a type we cannot use here.
    #[error("unexpected PEM block \"{found}\" in {what} (expected {expected})")]
    UnexpectedPem {
        /// What we were looking for.
        what: &'static str,
        /// The tag found.
        found: String,
        /// The tags we accept.
        expected: &'static str,
    },
    /// The DER inside a certificate does not parse.
    #[error("invalid certificate: {0}")]
    BadCertificate(String),
    /// The key is well-formed but not RSA.
    #[error("{what} is not an RSA key")]
    NotRsa {
        /// What held the key.
        what: &'static str,
    },
    /// The RSA key was rejected (malformed, or too small).
    #[error("invalid RSA {what}: {reason}")]
    BadKey {
        /// "public key" or "private key".
        what: &'static str,
        /// The library's reason (no key material).
        reason: String,
    },
    /// A document in a key file is neither a key Secret nor a List of them.
    #[error("{0}")]
    BadKeyDocument(String),
}

/// An RSA public key that seals values.
#[derive(Debug, Clone)]
pub struct PublicKey {
    key: PublicEncryptingKey,
    spki_der: Vec<u8>,
}

impl PublicKey {
    /// Builds a key from DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, KeyError> {
        let key = PublicEncryptingKey::from_der(spki).map_err(|e| KeyError::BadKey {
            what: "public key",
            reason: e.to_string(),
        })?;
        Ok(Self {
            key,
            spki_der: spki.to_vec(),
        })
    }

    /// The aws-lc-rs key.
    pub(crate) fn inner(&self) -> &PublicEncryptingKey {
        &self.key
    }

    /// DER `SubjectPublicKeyInfo`: identifies the key (e.g. to compare with a private key).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.key.key_size_bits()
    }
}

/// A parsed X.509 sealing certificate.
#[derive(Debug, Clone)]
pub struct Certificate {
    public_key: PublicKey,
    not_before: SystemTime,
    not_after: SystemTime,
    der: Vec<u8>,
}

impl Certificate {
    /// Parses the first `CERTIFICATE` PEM block of `pem_text`.
    pub fn from_pem(pem_text: &[u8]) -> Result<Self, KeyError> {
        let blocks = parse_pem_blocks(pem_text, "certificate")?;
        let block = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| KeyError::UnexpectedPem {
                what: "certificate",
                found: blocks
                    .first()
                    .map(|b| b.tag().to_owned())
                    .unwrap_or_default(),
                expected: "CERTIFICATE",
            })?;
        Self::from_der(block.contents())
    }

    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        if spki.algorithm.oid != der::RSA_ENCRYPTION_OID {
            return Err(KeyError::NotRsa {
                what: "certificate's public key",
            });
        }
        let spki_der = spki
            .to_der()
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
        Ok(Self {
            public_key: PublicKey::from_spki_der(&spki_der)?,
            not_before: UNIX_EPOCH + tbs.validity.not_before.to_unix_duration(),
            not_after: UNIX_EPOCH + tbs.validity.not_after.to_unix_duration(),
            der: der.to_vec(),
        })
    }

    /// The key that seals.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// Start of validity (orders keys: the newest seals).
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// True when `now` is past the end of validity.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now > self.not_after
    }

    /// The certificate as PEM (what `/v1/cert.pem` serves).
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }

    /// The certificate's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// Reads the key that seals from a PEM certificate or a PEM public key (SPKI `PUBLIC KEY` or
/// PKCS#1 `RSA PUBLIC KEY`). Returns the certificate too when there was one, so callers can warn
/// about expiry.
pub fn parse_sealing_key(pem_text: &[u8]) -> Result<(PublicKey, Option<Certificate>), KeyError> {
    const WHAT: &str = "certificate";
    let blocks = parse_pem_blocks(pem_text, WHAT)?;
    for block in &blocks {
        match block.tag() {
            "CERTIFICATE" => {
                let cert = Certificate::from_der(block.contents())?;
                return Ok((cert.public_key().clone(), Some(cert)));
            }
            "PUBLIC KEY" => {
                if !der::spki_is_rsa(block.contents()) {
                    return Err(KeyError::NotRsa { what: "public key" });
                }
                return Ok((PublicKey::from_spki_der(block.contents())?, None));
            }
            "RSA PUBLIC KEY" => {
                let spki =
                    der::spki_from_pkcs1_public(block.contents()).ok_or(too_large("public key"))?;
                return Ok((PublicKey::from_spki_der(&spki)?, None));
            }
            _ => {}
        }
    }
    Err(KeyError::UnexpectedPem {
        what: WHAT,
        found: blocks
            .first()
            .map(|b| b.tag().to_owned())
            .unwrap_or_default(),
        expected: "CERTIFICATE, PUBLIC KEY or RSA PUBLIC KEY",
    })
}

/// An RSA private key that unseals values.
#[derive(Clone)]
pub struct PrivateKey {
    key: PrivateDecryptingKey,
    oaep: Arc<OaepPrivateDecryptingKey>,
    public: PublicKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("bits", &self.public.bits())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a fresh key of `bits` (2048, 3072, 4096 or 8192).
    pub fn generate(bits: usize) -> Result<Self, KeyError> {
        use aws_lc_rs::rsa::KeySize;
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => {
                return Err(KeyError::BadKey {
                    what: "private key",
                    reason: format!("unsupported key size {other} (use 2048, 3072, 4096 or 8192)"),
                })
            }
        };
        let key = PrivateDecryptingKey::generate(size).map_err(|_| KeyError::BadKey {
            what: "private key",
            reason: "key generation failed".into(),
        })?;
        Self::from_aws(key)
    }

    /// Builds a key from DER PKCS#8 `PrivateKeyInfo`.
    pub fn from_pkcs8_der(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|e| KeyError::BadKey {
            what: "private key",
            reason: e.to_string(),
        })?;
        Self::from_aws(key)
    }

    /// Builds a key from DER PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(pkcs1: &[u8]) -> Result<Self, KeyError> {
        let pkcs8 =
            Zeroizing::new(der::pkcs8_from_pkcs1_private(pkcs1).ok_or(too_large("private key"))?);
        Self::from_pkcs8_der(&pkcs8)
    }

    fn from_aws(key: PrivateDecryptingKey) -> Result<Self, KeyError> {
        let public_der = key.public_key().as_der().map_err(|_| KeyError::BadKey {
            what: "private key",
            reason: "cannot derive public key".into(),
        })?;
        let public = PublicKey::from_spki_der(public_der.as_ref())?;
        let oaep = OaepPrivateDecryptingKey::new(key.clone()).map_err(|_| KeyError::BadKey {
            what: "private key",
            reason: "not usable for RSA-OAEP".into(),
        })?;
        Ok(Self {
            key,
            oaep: Arc::new(oaep),
            public,
        })
    }

    pub(crate) fn aws_key(&self) -> &PrivateDecryptingKey {
        &self.key
    }

    pub(crate) fn oaep(&self) -> &OaepPrivateDecryptingKey {
        &self.oaep
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key as PEM `RSA PRIVATE KEY` (PKCS#1), the form the controller stores in `tls.key`.
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let bad = |reason: &str| KeyError::BadKey {
            what: "private key",
            reason: reason.into(),
        };
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&self.key)
            .map_err(|_| bad("cannot encode"))?;
        let pkcs1 = Zeroizing::new(
            der::pkcs1_from_pkcs8_private(pkcs8.as_ref()).ok_or_else(|| bad("cannot encode"))?,
        );
        let block = pem::Pem::new("RSA PRIVATE KEY", pkcs1.to_vec());
        Ok(Zeroizing::new(pem::encode(&block)))
    }
}

/// Parses every private key in PEM text (`RSA PRIVATE KEY` or `PRIVATE KEY` blocks).
pub fn parse_private_keys_pem(pem_text: &[u8]) -> Result<Vec<PrivateKey>, KeyError> {
    const WHAT: &str = "private key file";
    let blocks = parse_pem_blocks(pem_text, WHAT)?;
    let mut keys = Vec::new();
    for block in &blocks {
        match block.tag() {
            "RSA PRIVATE KEY" => keys.push(PrivateKey::from_pkcs1_der(block.contents())?),
            "PRIVATE KEY" => {
                if !der::pkcs8_is_rsa(block.contents()) {
                    return Err(KeyError::NotRsa {
                        what: "private key",
                    });
                }
                keys.push(PrivateKey::from_pkcs8_der(block.contents())?)
            }
            _ => {}
        }
    }
    if keys.is_empty() {
        return Err(KeyError::UnexpectedPem {
            what: WHAT,
            found: blocks
                .first()
                .map(|b| b.tag().to_owned())
                .unwrap_or_default(),
            expected: "RSA PRIVATE KEY or PRIVATE KEY",
        });
    }
    Ok(keys)
}

/// Parses private keys from any of the forms users keep them in: PEM, a key Secret, or a
/// `v1 List` of key Secrets (as `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key
/// -o yaml` writes), in YAML or JSON, possibly several YAML documents.
pub fn parse_private_keys(input: &[u8]) -> Result<Vec<PrivateKey>, KeyError> {
    if input
        .windows(b"-----BEGIN".len())
        .any(|w| w == b"-----BEGIN")
        && !looks_like_manifest(input)
    {
        return parse_private_keys_pem(input);
    }
    let docs = crate::manifest::parse_documents(input)
        .map_err(|e| KeyError::BadKeyDocument(format!("not PEM and not a key Secret: {e}")))?;
    let mut keys = Vec::new();
    for doc in docs {
        collect_secret_keys(&doc.value, &mut keys)?;
    }
    if keys.is_empty() {
        return Err(KeyError::BadKeyDocument(
            "no private key found (expected PEM, a key Secret with tls.key, or a List of them)"
                .into(),
        ));
    }
    Ok(keys)
}

fn looks_like_manifest(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    let trimmed = text.trim_start();
    trimmed.starts_with('{') || text.contains("kind:") || text.contains("apiVersion:")
}

/// The kind a key backup document is read as. A typed Go client's JSON has no `kind` (empty
/// TypeMeta): a document with `items` is then a list, one with `data` a Secret.
fn key_document_kind(doc: &serde_json::Value) -> Option<&str> {
    match doc
        .get("kind")
        .and_then(|k| k.as_str())
        .filter(|k| !k.is_empty())
    {
        Some(kind) => Some(kind),
        None if doc.get("items").is_some_and(|i| i.is_array()) => Some("List"),
        None if doc.get("data").is_some_and(|d| d.is_object()) => Some("Secret"),
        None => None,
    }
}

fn collect_secret_keys(doc: &serde_json::Value, out: &mut Vec<PrivateKey>) -> Result<(), KeyError> {
    match key_document_kind(doc) {
        Some("List") | Some("SecretList") => {
            for item in doc
                .get("items")
                .and_then(|i| i.as_array())
                .into_iter()
                .flatten()
            {
                collect_secret_keys(item, out)?;
            }
            Ok(())
        }
        Some("Secret") => {
            let name = doc
                .pointer("/metadata/name")
                .and_then(|n| n.as_str())
                .unwrap_or("<unnamed>");
            let encoded = doc
                .pointer("/data/tls.key")
                .and_then(|v| v.as_str())
                .ok_or_else(|| {
                    KeyError::BadKeyDocument(format!("Secret \"{name}\" has no data \"tls.key\""))
                })?;
            let pem_bytes = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| {
                        KeyError::BadKeyDocument(format!(
                            "Secret \"{name}\": data \"tls.key\" is not valid base64"
                        ))
                    })?,
            );
            out.extend(parse_private_keys_pem(&pem_bytes)?);
            Ok(())
        }
        Some(other) => Err(KeyError::BadKeyDocument(format!(
            "expected a key Secret or a List of them, found kind \"{other}\""
        ))),
        None => Err(KeyError::BadKeyDocument(
            "expected a key Secret or a List of them, found a document without \"kind\"".into(),
        )),
    }
}

fn parse_pem_blocks(input: &[u8], what: &'static str) -> Result<Vec<pem::Pem>, KeyError> {
    let blocks = pem::parse_many(input).map_err(|e| KeyError::BadPem {
        what,
        reason: e.to_string(),
    })?;
    if blocks.is_empty() {
        return Err(KeyError::NoPem { what });
    }
    Ok(blocks)
}

/// A time as RFC 3339 UTC (`2006-01-02T15:04:05Z`), for messages.
pub fn format_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    k8s_openapi::jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(i64::MAX))
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| format!("{secs} seconds after the epoch"))
}

/// The error for a key whose DER would not fit DER's length fields.
fn too_large(what: &'static str) -> KeyError {
    KeyError::BadKey {
        what,
        reason: "too large".to_owned(),
    }
}
