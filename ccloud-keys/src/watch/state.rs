//! What the watcher remembers, kept in the cluster (never in Git): per watched Secret, keyed
//! fingerprints (HMAC-SHA256 under a random key) of the plaintexts it has sealed, the API key id
//! it last saw, and a hash of the file it last wrote. All in one Secret, by default
//! `ccloud-keys-state` in the watcher's namespace.
//!
//! The fingerprint decides "did the plaintext change?" without a plain hash that could be
//! brute-forced from Git: the HMAC key never leaves the cluster.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::Api;
use serde::{Deserialize, Serialize};

/// How many past fingerprints are remembered per Secret: a Secret restored by the controller to
/// an older sealed value (from Git) is recognised and not fed back.
const HISTORY: usize = 8;
const HMAC_KEY: &str = "hmac-key";
const STATE: &str = "state.json";

/// What is remembered about one watched Secret.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Fingerprints of the plaintexts sealed so far, newest first.
    #[serde(default)]
    pub fingerprints: Vec<String>,
    /// The `key` label (API key id) of the last sealed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// SHA-256 (hex) of the file last written: a file still holding it has no foreign edits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_sha256: Option<String>,
}

impl Entry {
    /// Whether this plaintext was sealed before (now or in the recent past).
    pub fn knows(&self, fingerprint: &str) -> bool {
        self.fingerprints.iter().any(|f| f == fingerprint)
    }

    /// Records a newly sealed version.
    pub fn record(&mut self, fingerprint: String, key_id: Option<String>, file: &[u8]) {
        self.fingerprints.retain(|f| *f != fingerprint);
        self.fingerprints.insert(0, fingerprint);
        self.fingerprints.truncate(HISTORY);
        self.key_id = key_id;
        self.written_sha256 = Some(sha256_hex(file));
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Entries {
    #[serde(default)]
    entries: BTreeMap<String, Entry>,
}

/// The state Secret, loaded and written back with optimistic concurrency.
pub struct Store {
    api: Api<Secret>,
    name: String,
    key: hmac::Key,
    entries: Entries,
    /// The state Secret as last read or written: the base of the next write.
    current: Secret,
    /// Entries recorded here but not yet stored in the cluster (their save failed): a file
    /// written meanwhile must still be recognised as the watcher's own after a restart.
    pending: BTreeMap<String, Entry>,
}

impl Store {
    /// Loads the state Secret, creating it (with a fresh random HMAC key) when missing.
    pub async fn load(api: Api<Secret>, name: &str) -> Result<Self> {
        let secret = match api.get_opt(name).await.with_context(|| {
            format!("cannot read the state Secret {name} (needs get/create/update on it)")
        })? {
            Some(s) => s,
            None => {
                let mut key = [0u8; 32];
                aws_lc_rs::rand::fill(&mut key)
                    .map_err(|_| anyhow::anyhow!("no randomness for the fingerprint key"))?;
                let fresh = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.to_owned()),
                        labels: Some(BTreeMap::from([(
                            "app.kubernetes.io/managed-by".to_owned(),
                            "ccloud-keys".to_owned(),
                        )])),
                        ..ObjectMeta::default()
                    },
                    data: Some(BTreeMap::from([
                        (HMAC_KEY.to_owned(), ByteString(key.to_vec())),
                        (STATE.to_owned(), ByteString(b"{}".to_vec())),
                    ])),
                    ..Secret::default()
                };
                match api.create(&PostParams::default(), &fresh).await {
                    Ok(s) => s,
                    // Someone else created it meanwhile: use theirs.
                    Err(kube::Error::Api(e)) if e.code == 409 => api.get(name).await?,
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("cannot create the state Secret {name}"))
                    }
                }
            }
        };
        Self::from_secret(api, name, secret)
    }

    fn from_secret(api: Api<Secret>, name: &str, secret: Secret) -> Result<Self> {
        let data = secret.data.as_ref();
        let key = data
            .and_then(|d| d.get(HMAC_KEY))
            .filter(|k| k.0.len() >= 32)
            .with_context(|| format!("state Secret {name} has no usable {HMAC_KEY}"))?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key.0);
        let entries = entries_of(name, &secret)?;
        Ok(Self {
            api,
            name: name.to_owned(),
            key,
            entries,
            current: secret,
            pending: BTreeMap::new(),
        })
    }

    /// The keyed fingerprint of a (cleaned) Secret (see [`fingerprint`]).
    pub fn fingerprint(&self, secret: &Secret) -> String {
        fingerprint(&self.key, secret)
    }

    /// What is known about `namespace/name`.
    pub fn entry(&self, namespace: &str, name: &str) -> Entry {
        self.entries
            .entries
            .get(&format!("{namespace}/{name}"))
            .cloned()
            .unwrap_or_default()
    }

    /// Stores `entry` for `namespace/name` in the cluster (see [`Store::flush`]). It counts as
    /// known at once, also when the write fails: [`Store::flush`] tries again later.
    pub async fn save(&mut self, namespace: &str, name: &str, entry: Entry) -> Result<()> {
        self.pending.insert(format!("{namespace}/{name}"), entry);
        self.flush().await
    }

    /// Whether some entry is known here but not stored in the cluster yet.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the entries not stored yet. The write is based on the Secret as last seen (one
    /// request); when someone else changed it meanwhile (409), their entries are read back and
    /// the write is tried again.
    pub async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        for _ in 0..5 {
            for (id, entry) in &self.pending {
                self.entries.entries.insert(id.clone(), entry.clone());
            }
            let state = serde_json::to_vec(&self.entries).context("cannot encode the state")?;
            let mut secret = self.current.clone();
            secret
                .data
                .get_or_insert_with(BTreeMap::new)
                .insert(STATE.to_owned(), ByteString(state));
            match self
                .api
                .replace(&self.name, &PostParams::default(), &secret)
                .await
            {
                Ok(saved) => {
                    self.current = saved;
                    self.pending.clear();
                    return Ok(());
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    let current =
                        self.api.get(&self.name).await.with_context(|| {
                            format!("cannot read the state Secret {}", self.name)
                        })?;
                    self.entries = entries_of(&self.name, &current)?;
                    self.current = current;
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot update the state Secret {}", self.name))
                }
            }
        }
        anyhow::bail!(
            "cannot update the state Secret {}: it keeps changing",
            self.name
        )
    }
}

/// The entries stored in the state Secret.
fn entries_of(name: &str, secret: &Secret) -> Result<Entries> {
    match secret.data.as_ref().and_then(|d| d.get(STATE)) {
        Some(s) => serde_json::from_slice(&s.0)
            .with_context(|| format!("state Secret {name}: {STATE} is not valid")),
        None => Ok(Entries::default()),
    }
}

/// The keyed fingerprint of a (cleaned) Secret: name, namespace, type, immutable, labels and
/// every data value, length-prefixed so that no two Secrets share an input. Annotations do not
/// count: the operator re-applying the same key with new metadata is not a change worth a commit.
pub fn fingerprint(key: &hmac::Key, secret: &Secret) -> String {
    let mut ctx = hmac::Context::with_key(key);
    let mut field = |bytes: &[u8]| {
        ctx.update(&(bytes.len() as u64).to_be_bytes());
        ctx.update(bytes);
    };
    let meta = &secret.metadata;
    field(meta.namespace.as_deref().unwrap_or_default().as_bytes());
    field(meta.name.as_deref().unwrap_or_default().as_bytes());
    field(secret.type_.as_deref().unwrap_or_default().as_bytes());
    field(&[u8::from(secret.immutable.unwrap_or(false))]);
    let labels = meta.labels.clone().unwrap_or_default();
    field(&(labels.len() as u64).to_be_bytes());
    for (k, v) in &labels {
        field(k.as_bytes());
        field(v.as_bytes());
    }
    let data = secret.data.as_ref();
    field(&(data.map_or(0, BTreeMap::len) as u64).to_be_bytes());
    for (k, v) in data.into_iter().flatten() {
        field(k.as_bytes());
        field(&v.0);
    }
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(ctx.sign().as_ref())
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_newest_first_and_bounded() {
        let mut e = Entry::default();
        for i in 0..12 {
            e.record(format!("f{i}"), Some("K".to_owned()), b"x");
        }
        assert_eq!(e.fingerprints.len(), HISTORY);
        assert_eq!(e.fingerprints[0], "f11");
        assert!(e.knows("f5") && !e.knows("f1"));
        e.record("f7".to_owned(), None, b"y");
        assert_eq!(e.fingerprints[0], "f7");
        assert_eq!(e.fingerprints.iter().filter(|f| *f == "f7").count(), 1);
        assert_eq!(e.written_sha256, Some(sha256_hex(b"y")));
    }

    fn secret(value: &[u8], label: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("cc.api-key.a.lkc-1".to_owned()),
                namespace: Some("default".to_owned()),
                labels: Some(BTreeMap::from([("key".to_owned(), label.to_owned())])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                "v".to_owned(),
                ByteString(value.to_vec()),
            )])),
            ..Secret::default()
        }
    }

    #[test]
    fn fingerprints_are_keyed_and_see_every_part() {
        let k1 = hmac::Key::new(hmac::HMAC_SHA256, &[1; 32]);
        let k2 = hmac::Key::new(hmac::HMAC_SHA256, &[2; 32]);
        let a = secret(b"one", "K1");
        assert_eq!(fingerprint(&k1, &a), fingerprint(&k1, &a.clone()));
        assert_ne!(fingerprint(&k1, &a), fingerprint(&k2, &a), "keyed");
        assert_ne!(
            fingerprint(&k1, &a),
            fingerprint(&k1, &secret(b"two", "K1"))
        );
        assert_ne!(
            fingerprint(&k1, &a),
            fingerprint(&k1, &secret(b"one", "K2"))
        );
        let mut moved = a.clone();
        moved.metadata.resource_version = Some("42".to_owned());
        moved.metadata.annotations = Some(BTreeMap::from([("run".to_owned(), "2".to_owned())]));
        assert_eq!(
            fingerprint(&k1, &a),
            fingerprint(&k1, &moved),
            "server fields and annotations do not count"
        );
    }
}
