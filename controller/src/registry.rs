//! The key registry: every active key Secret of the controller namespace, kept current by a
//! watch (so keys created by another replica, restored from a backup, or deleted by hand are
//! picked up while running), ordered newest first.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crds::keygen::{self, SealingKey, KEY_LABEL, KEY_LABEL_ACTIVE};
use crds::PrivateKey;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use tokio::sync::watch;

use crate::flags::KeyOrder;

/// Label selector of the key Secrets that are loaded.
pub fn active_key_selector() -> String {
    format!("{KEY_LABEL}={KEY_LABEL_ACTIVE}")
}

/// One loaded key.
#[derive(Debug, Clone)]
pub struct LoadedKey {
    /// Name of its Secret.
    pub secret_name: String,
    /// The key and certificate.
    pub key: SealingKey,
    /// When its Secret was created (for `--key-order-priority=SecretCreationTimestamp`).
    pub created: Option<SystemTime>,
}

impl LoadedKey {
    fn order_time(&self, order: KeyOrder) -> SystemTime {
        match order {
            KeyOrder::CertNotBefore => self.key.certificate.not_before(),
            KeyOrder::SecretCreationTimestamp => {
                self.created.unwrap_or(self.key.certificate.not_before())
            }
        }
    }
}

#[derive(Default)]
struct State {
    by_name: BTreeMap<String, LoadedKey>,
    /// Newest first.
    sorted: Arc<Vec<LoadedKey>>,
    /// Private keys in the same order, shared with unsealing.
    private_keys: Arc<Vec<PrivateKey>>,
    synced: bool,
}

/// All keys the controller can unseal with; the newest seals.
pub struct KeyRegistry {
    state: RwLock<State>,
    order: KeyOrder,
    changes: watch::Sender<u64>,
}

impl KeyRegistry {
    /// An empty registry.
    pub fn new(order: KeyOrder) -> Arc<Self> {
        Arc::new(Self {
            state: RwLock::new(State::default()),
            order,
            changes: watch::channel(0).0,
        })
    }

    /// Adds or replaces the key held by `secret`. A Secret that does not hold a usable key is
    /// logged and skipped (never fatal).
    pub fn apply(&self, secret: &Secret) {
        let Some(loaded) = load(secret) else { return };
        self.update(|s| {
            s.by_name.insert(loaded.secret_name.clone(), loaded);
        });
    }

    /// Forgets the key of Secret `name`.
    pub fn delete(&self, name: &str) {
        tracing::warn!(secret = name, "key Secret deleted or no longer active; its key is unloaded (values sealed to it will not unseal)");
        self.update(|s| {
            s.by_name.remove(name);
        });
    }

    /// Replaces everything with `secrets` (after a full list) and marks the registry synced.
    pub fn replace_all(&self, secrets: &[Secret]) {
        let loaded: Vec<LoadedKey> = secrets.iter().filter_map(load).collect();
        self.update(|s| {
            s.by_name = loaded
                .into_iter()
                .map(|k| (k.secret_name.clone(), k))
                .collect();
            s.synced = true;
        });
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            f(&mut state);
            let mut sorted: Vec<LoadedKey> = state.by_name.values().cloned().collect();
            sorted.sort_by_key(|k| std::cmp::Reverse(k.order_time(self.order)));
            state.private_keys =
                Arc::new(sorted.iter().map(|k| k.key.private_key.clone()).collect());
            state.sorted = Arc::new(sorted);
        }
        self.changes.send_modify(|n| *n += 1);
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A counter that changes whenever the set of keys does.
    pub fn version(&self) -> u64 {
        *self.changes.borrow()
    }

    /// How keys are ordered.
    pub fn order(&self) -> KeyOrder {
        self.order
    }

    /// Keys, newest first.
    pub fn keys(&self) -> Arc<Vec<LoadedKey>> {
        self.read(|s| s.sorted.clone())
    }

    /// Private keys, newest first (position 0 is the sealing key).
    pub fn private_keys(&self) -> Arc<Vec<PrivateKey>> {
        self.read(|s| s.private_keys.clone())
    }

    /// The key that seals.
    pub fn newest(&self) -> Option<LoadedKey> {
        self.read(|s| s.sorted.first().cloned())
    }

    /// When the newest key was made, by the configured order.
    pub fn newest_time(&self) -> Option<SystemTime> {
        self.newest().map(|k| k.order_time(self.order))
    }

    /// True once the first full list of key Secrets has been loaded.
    pub fn is_synced(&self) -> bool {
        self.read(|s| s.synced)
    }

    /// A receiver notified on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

fn load(secret: &Secret) -> Option<LoadedKey> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    match keygen::from_key_secret(secret) {
        Ok(key) => Some(LoadedKey {
            secret_name: name,
            key,
            created: secret
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| SystemTime::from(t.0)),
        }),
        Err(e) => {
            tracing::error!(secret = %name, error = %e, "cannot load key Secret; skipping it");
            None
        }
    }
}

/// The unlabelled key Secret named `name`, if it exists. A failed read is retried (with
/// backoff, up to a minute apart) rather than taken for "no such key": the registry must not
/// look complete, and a first key be made, while a key may be missing from it.
async fn read_legacy_key(api: &Api<Secret>, name: &str) -> Option<Secret> {
    let mut delay = Duration::from_secs(1);
    loop {
        match api.get_opt(name).await {
            Ok(found) => {
                if found.is_some() {
                    tracing::info!(secret = %name, "loading the unlabelled key Secret named after --key-prefix");
                }
                return found;
            }
            Err(e) => {
                tracing::warn!(secret = %name, error = %e, retry_in = ?delay, "cannot read the legacy key Secret; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// Keeps `registry` equal to the active key Secrets of `namespace` until the stream ends.
///
/// As in the original, a Secret named exactly `legacy_name` (`--key-prefix`: how its first
/// versions named their one key, without the label) is loaded too, read after each full list.
pub async fn watch_keys(
    client: Client,
    namespace: String,
    legacy_name: String,
    registry: Arc<KeyRegistry>,
) {
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default().labels(&active_key_selector());
    let mut buffer = Vec::new();
    let mut events = watcher::watcher(api.clone(), config)
        .backoff(crate::watch_backoff::watch_backoff())
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => buffer.clear(),
            Ok(Event::InitApply(s)) => buffer.push(s),
            Ok(Event::InitDone) => {
                if !buffer
                    .iter()
                    .any(|s| s.metadata.name.as_deref() == Some(legacy_name.as_str()))
                {
                    if let Some(legacy) = read_legacy_key(&api, &legacy_name).await {
                        buffer.push(legacy);
                    }
                }
                registry.replace_all(&buffer);
                tracing::info!(keys = registry.keys().len(), namespace = %namespace, "loaded sealing keys");
                buffer.clear();
            }
            Ok(Event::Apply(s)) => {
                tracing::info!(
                    secret = s.metadata.name.as_deref().unwrap_or_default(),
                    "key Secret added or changed"
                );
                registry.apply(&s);
            }
            Ok(Event::Delete(s)) => registry.delete(s.metadata.name.as_deref().unwrap_or_default()),
            Err(e) => tracing::warn!(error = %e, "watching key Secrets failed; retrying"),
        }
    }
}
