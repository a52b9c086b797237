//! Re-encryption to a newer key, with the question a key-rotation job asks first: is this
//! SealedSecret already on that key? Shared by the controller's `/v1/rotate` and the offline
//! `kubeseal --re-encrypt --recovery-private-key`. Also reads key backups with their
//! certificates, so that an offline run knows which backed-up key is the newest.

use std::borrow::Cow;
use std::time::SystemTime;

use base64::Engine as _;

use crate::convert::{decrypt_values, reseal_values, UnsealError, UnsealOptions};
use crate::keys::{parse_private_keys, Certificate, KeyError, PrivateKey, PublicKey};
use crate::types::SealedSecret;

/// What re-encrypting one SealedSecret to a target key gives.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// Every value already opens with the target key: nothing to rewrite.
    Current,
    /// At least one value was on another key (or in the deprecated `spec.data`): the
    /// SealedSecret re-encrypted to the target key.
    Rotated(Box<SealedSecret>),
}

/// Re-encrypts `sealed` to `target`, or tells it is [`Rotation::Current`] when `only_stale`
/// and every value already opens with the private key of `target`. `keys` are every key that
/// may open a value, in any order; a `target` whose private key is not among them makes every
/// SealedSecret stale (nothing can show it is on `target`).
pub fn rotate(
    sealed: &SealedSecret,
    keys: &[PrivateKey],
    target: &PublicKey,
    only_stale: bool,
    opts: UnsealOptions,
) -> Result<Rotation, UnsealError> {
    let ordered = target_first(keys, target);
    let decrypted = decrypt_values(sealed, &ordered.keys, opts)?;
    let legacy = sealed.spec.data.as_ref().is_some_and(|d| !d.0.is_empty());
    let current = ordered.has_target && decrypted.oldest_key_index == 0 && !legacy;
    if only_stale && current {
        return Ok(Rotation::Current);
    }
    // Sealed again from the values just decrypted: no second round of RSA decryptions.
    reseal_values(sealed, &decrypted.values, target).map(|r| Rotation::Rotated(Box::new(r)))
}

/// Whether every value of `sealed` opens with the newest of `keys` (position 0).
pub fn is_on_newest_key(
    sealed: &SealedSecret,
    keys: &[PrivateKey],
    opts: UnsealOptions,
) -> Result<bool, UnsealError> {
    let legacy = sealed.spec.data.as_ref().is_some_and(|d| !d.0.is_empty());
    Ok(!legacy && decrypt_values(sealed, keys, opts)?.oldest_key_index == 0)
}

struct Ordered<'k> {
    keys: Cow<'k, [PrivateKey]>,
    has_target: bool,
}

/// `keys` with the private key of `target` (if present) moved to position 0 (no copy when it
/// is there already, as with the controller's newest-first keys).
fn target_first<'k>(keys: &'k [PrivateKey], target: &PublicKey) -> Ordered<'k> {
    let position = keys
        .iter()
        .position(|k| k.public_key().spki_der() == target.spki_der());
    let keys = match position {
        Some(i) if i > 0 => {
            let mut ordered = keys.to_vec();
            let key = ordered.remove(i);
            ordered.insert(0, key);
            Cow::Owned(ordered)
        }
        _ => Cow::Borrowed(keys),
    };
    Ordered {
        keys,
        has_target: position.is_some(),
    }
}

/// The private keys of a backup (PEM files, key Secrets, `v1 List`s of them), newest first by
/// their certificates' NotBefore (as the controller orders them), with duplicates removed.
#[derive(Debug, Clone)]
pub struct KeyBackup {
    keys: Vec<(PrivateKey, Option<SystemTime>)>,
}

impl KeyBackup {
    /// Reads every input; each must hold at least one private key.
    pub fn read(inputs: &[&[u8]]) -> Result<Self, KeyError> {
        let mut keys: Vec<(PrivateKey, Option<SystemTime>)> = Vec::new();
        for input in inputs {
            let certs = certificates(input);
            for key in parse_private_keys(input)? {
                let spki = key.public_key().spki_der().to_vec();
                if keys.iter().any(|(k, _)| k.public_key().spki_der() == spki) {
                    continue;
                }
                let made = certs
                    .iter()
                    .filter(|c| c.public_key().spki_der() == spki)
                    .map(Certificate::not_before)
                    .max();
                keys.push((key, made));
            }
        }
        keys.sort_by_key(|(_, made)| std::cmp::Reverse(*made));
        Ok(Self { keys })
    }

    /// The private keys, newest first.
    pub fn private_keys(&self) -> Vec<PrivateKey> {
        self.keys.iter().map(|(k, _)| k.clone()).collect()
    }

    /// The newest key's public key: the one to re-encrypt to when no certificate is given.
    pub fn newest(&self) -> Result<PublicKey, KeyError> {
        match self.keys.as_slice() {
            [(only, _)] => Ok(only.public_key().clone()),
            [(first, Some(_)), ..] => Ok(first.public_key().clone()),
            _ => Err(KeyError::BadKeyDocument(
                "cannot tell which backed-up key is the newest: the backup holds no certificates (tls.crt); give --cert".into(),
            )),
        }
    }
}

/// Every certificate in `input`: PEM `CERTIFICATE` blocks, and the `tls.crt` of key Secrets
/// (also inside Lists, whatever their items' kind). Unreadable ones are ignored: they only
/// order the keys.
fn certificates(input: &[u8]) -> Vec<Certificate> {
    let mut pems: Vec<Vec<u8>> = vec![input.to_vec()];
    if let Ok(docs) = crate::manifest::parse_documents(input) {
        for doc in docs {
            collect_tls_crt(&doc.value, &mut pems);
        }
    }
    pems.iter()
        .filter_map(|p| pem::parse_many(p).ok())
        .flatten()
        .filter(|b| b.tag() == "CERTIFICATE")
        .filter_map(|b| Certificate::from_der(b.contents()).ok())
        .collect()
}

fn collect_tls_crt(value: &serde_json::Value, out: &mut Vec<Vec<u8>>) {
    if let Some(encoded) = value.pointer("/data/tls.crt").and_then(|v| v.as_str()) {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
            out.push(bytes);
        }
    }
    for item in value
        .get("items")
        .and_then(|i| i.as_array())
        .into_iter()
        .flatten()
    {
        collect_tls_crt(item, out);
    }
}
