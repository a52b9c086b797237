//! Key creation and renewal (leader only): the first key when none exists, a new key every
//! `--key-renew-period`, when the newest key predates `--key-cutoff-time`, and on SIGUSR1.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crds::keygen;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};

use crate::registry::{active_key_selector, KeyRegistry};

/// What a new key looks like and when one is due.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    /// Namespace of the key Secrets.
    pub namespace: String,
    /// `--key-prefix` (the Secret's `generateName`).
    pub prefix: String,
    /// `--key-size`.
    pub bits: usize,
    /// `--key-ttl`.
    pub ttl: Duration,
    /// `--my-cn`.
    pub common_name: String,
    /// `--key-renew-period` (zero: never renew).
    pub renew_period: Duration,
    /// `--key-cutoff-time`.
    pub cutoff: Option<SystemTime>,
    /// `--privatekey-labels`.
    pub labels: BTreeMap<String, String>,
    /// `--privatekey-annotations`.
    pub annotations: BTreeMap<String, String>,
}

impl KeyPolicy {
    /// When the next key is due, given the newest key's time; `None` means never.
    pub fn next_due(&self, newest: Option<SystemTime>) -> Option<SystemTime> {
        let Some(newest) = newest else {
            return Some(SystemTime::UNIX_EPOCH);
        };
        if self.cutoff.is_some_and(|cutoff| newest < cutoff) {
            return Some(SystemTime::UNIX_EPOCH);
        }
        (!self.renew_period.is_zero()).then(|| newest + self.renew_period)
    }
}

/// Runs key creation and renewal while `leader` says this replica leads. `rotate_now` receives
/// SIGUSR1 requests.
pub async fn run(
    client: Client,
    policy: KeyPolicy,
    registry: Arc<KeyRegistry>,
    mut leader: watch::Receiver<bool>,
    mut rotate_now: mpsc::Receiver<()>,
) {
    let mut changes = registry.subscribe();
    loop {
        if !*leader.borrow() || !registry.is_synced() {
            tokio::select! {
                r = leader.changed() => if r.is_err() { return },
                r = changes.changed() => if r.is_err() { return },
                Some(()) = rotate_now.recv() => tracing::warn!("SIGUSR1 ignored: not the leader or keys not loaded yet"),
            }
            continue;
        }
        let due = policy.next_due(registry.newest_time());
        let wait = due.map(|d| {
            d.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        });
        // (create a key?, even if one is not due?)
        let (create, forced) = match wait {
            Some(w) if w.is_zero() => (true, false),
            _ => {
                let sleep = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600)));
                tokio::select! {
                    () = sleep => (wait.is_some(), false),
                    Some(()) = rotate_now.recv() => { tracing::info!("SIGUSR1: generating a new key"); (true, true) },
                    r = changes.changed() => { if r.is_err() { return } (false, false) },
                    r = leader.changed() => { if r.is_err() { return } (false, false) },
                }
            }
        };
        if create {
            if let Err(e) = create_key(&client, &policy, &registry, forced).await {
                tracing::error!(error = %e, "cannot create a new sealing key; retrying in 10s");
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    }
}

/// Creates a key. Unless `forced` (SIGUSR1), first checks that the API server does not already
/// hold a key that makes this one unnecessary (another replica, or a restore, may have created
/// one the watch has not delivered yet).
async fn create_key(
    client: &Client,
    policy: &KeyPolicy,
    registry: &KeyRegistry,
    forced: bool,
) -> anyhow::Result<()> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &policy.namespace);
    let fresh = api
        .list(&ListParams::default().labels(&active_key_selector()))
        .await?;
    let fresh_registry = KeyRegistry::new(registry.order());
    fresh_registry.replace_all(&fresh.items);
    let due = policy.next_due(fresh_registry.newest_time());
    if !forced && due.is_some_and(|d| d > SystemTime::now()) {
        // Adds what the watch has not delivered yet; removes nothing (the list holds only
        // labelled keys, not the legacy one named after the prefix).
        for secret in &fresh.items {
            registry.apply(secret);
        }
        return Ok(());
    }
    // Certificates carry whole seconds: start after the newest key so the new one sorts first.
    let not_before = fresh_registry
        .newest()
        .map(|k| k.key.certificate.not_before() + Duration::from_secs(1))
        .map_or_else(SystemTime::now, |after| after.max(SystemTime::now()));
    let (bits, cn, ttl) = (policy.bits, policy.common_name.clone(), policy.ttl);
    let started = std::time::Instant::now();
    let key =
        tokio::task::spawn_blocking(move || keygen::generate(bits, &cn, not_before, ttl)).await??;
    let secret = keygen::key_secret(
        &key,
        &policy.prefix,
        &policy.namespace,
        &policy.labels,
        &policy.annotations,
    )?;
    let created = api.create(&PostParams::default(), &secret).await?;
    tracing::info!(
        secret = created.metadata.name.as_deref().unwrap_or_default(),
        bits,
        generation_ms = started.elapsed().as_millis() as u64,
        "created new sealing key"
    );
    registry.apply(&created);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(renew: u64, cutoff: Option<SystemTime>) -> KeyPolicy {
        KeyPolicy {
            namespace: "ns".into(),
            prefix: "p".into(),
            bits: 2048,
            ttl: Duration::from_secs(1),
            common_name: String::new(),
            renew_period: Duration::from_secs(renew),
            cutoff,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn next_key_is_due_when_none_after_the_period_or_before_the_cutoff() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            policy(60, None).next_due(None),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(
            policy(60, None).next_due(Some(t)),
            Some(t + Duration::from_secs(60))
        );
        assert_eq!(policy(0, None).next_due(Some(t)), None);
        let cutoff = t + Duration::from_secs(1);
        assert_eq!(
            policy(0, Some(cutoff)).next_due(Some(t)),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(
            policy(0, Some(cutoff)).next_due(Some(cutoff + Duration::from_secs(1))),
            None
        );
    }
}
