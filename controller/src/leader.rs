//! Leader election through a `coordination.k8s.io/v1` Lease (kube-lease-manager): only the
//! leader creates keys and writes Secrets; every replica serves the HTTP API.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;

/// This replica's identity in the Lease: the pod name when running in a cluster, else
/// `<hostname>-<pid>`.
pub fn identity() -> String {
    // Read once: every Event the controller records names it.
    static IDENTITY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            std::env::var("POD_NAME")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| {
                    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .map(|h| h.trim().to_owned())
                        .unwrap_or_else(|_| "controller".to_owned());
                    format!("{host}-{}", std::process::id())
                })
        })
        .clone()
}

/// A running campaign for the Lease: [`Campaign::leading`] says whether this replica leads now;
/// [`Campaign::resign`] gives the Lease up (on shutdown), so another replica takes over at once
/// instead of after the lease duration.
pub struct Campaign {
    /// Whether this replica holds the Lease.
    pub leading: watch::Receiver<bool>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts campaigning.
pub async fn campaign(
    client: Client,
    namespace: &str,
    lease_name: &str,
    lease_duration: Duration,
) -> anyhow::Result<Campaign> {
    let duration = lease_duration.as_secs().max(2);
    let identity = identity();
    let manager = LeaseManagerBuilder::new(client, lease_name)
        .with_namespace(namespace)
        .with_field_manager(lease_field_manager(&identity))
        .with_identity(identity)
        .with_duration(duration)
        .with_grace((duration / 3).max(1))
        .build()
        .await?;
    let (tx, leading) = watch::channel(false);
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(hold(manager, tx, stopped));
    Ok(Campaign {
        leading,
        stop,
        task,
    })
}

impl Campaign {
    /// Stops renewing and releases the Lease if this replica holds it, within `timeout`.
    pub async fn resign(self, timeout: Duration) {
        let _ = self.stop.send(());
        match tokio::time::timeout(timeout, self.task).await {
            Ok(_) => tracing::info!("leader election: Lease released"),
            Err(_) => tracing::warn!("leader election: the Lease was not released in time"),
        }
    }
}

/// Acquires and renews the Lease, publishing whether this replica holds it, until `stop`;
/// then releases it.
async fn hold(
    manager: LeaseManager,
    tx: watch::Sender<bool>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            changed = manager.changed() => match changed {
                Ok(holds) => {
                    tx.send_replace(holds);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: cannot renew the Lease");
                    tokio::select! {
                        _ = &mut stop => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            },
        }
    }
    // Followers see the change before the Lease is free: nothing here writes any more.
    tx.send_replace(false);
    if let Err(e) = manager.release().await {
        tracing::warn!(error = %e, "leader election: cannot release the Lease");
    }
}

/// The field manager this replica uses on the Lease. It must differ between replicas: the lock
/// is a server-side apply of `holderIdentity`, and only a *different* manager gets the 409
/// conflict that keeps a second replica from taking a Lease someone else holds.
fn lease_field_manager(identity: &str) -> String {
    // Field manager names are limited to 128 bytes by the API server.
    let mut name = format!("sealed-secrets-lease-{identity}");
    let mut cut = name.len().min(128);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name.truncate(cut);
    name
}

/// A receiver that always says "leader" (leader election disabled).
pub fn always() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(true);
    // Keep the sender alive for the life of the process so receivers never see a close.
    std::mem::forget(tx);
    rx
}

#[cfg(test)]
mod tests {
    use super::lease_field_manager;

    #[test]
    fn every_replica_gets_its_own_lease_field_manager() {
        assert_ne!(lease_field_manager("pod-a"), lease_field_manager("pod-b"));
        assert!(lease_field_manager(&"x".repeat(300)).len() <= 128);
    }
}
