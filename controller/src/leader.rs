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
    let duration = lease_seconds(lease_duration);
    let identity = identity();
    let manager = LeaseManagerBuilder::new(client, lease_name)
        .with_namespace(namespace)
        .with_field_manager(lease_field_manager(&identity))
        .with_identity(identity)
        .with_duration(duration)
        .with_grace(renew_grace(duration))
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
                Err(e) if *tx.borrow() => {
                    // The renewal failed or stalled past `request_timeout`: the Lease may expire
                    // before another attempt succeeds, and a follower take over. Step down now,
                    // while it is still ours, so that two replicas never write at once.
                    tracing::warn!(error = %e, "leader election: cannot renew the Lease; stepping down before it can expire");
                    tx.send_replace(false);
                    // The Lease is not touched again, not even released: this replica's view
                    // of it is stale, and a release could clear the Lease of the replica that
                    // has taken over meanwhile (the release patch has no precondition).
                    let _ = stop.await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: cannot reach the Lease");
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

/// The Lease duration in whole seconds, at least 2 (a Lease counts seconds).
fn lease_seconds(lease_duration: Duration) -> u64 {
    lease_duration.as_secs().max(2)
}

/// How long before its Lease expires the leader renews it: at half its life, so that a slow
/// renewal still has time.
fn renew_grace(duration_secs: u64) -> u64 {
    (duration_secs / 2).max(1)
}

/// How long one request of the Lease client may stall (nothing sent or received) before it
/// fails: three quarters of the renewal's head start, so that a leader cut off from the API
/// server gives up leading before its Lease can expire and a follower can take it.
pub fn request_timeout(lease_duration: Duration) -> Duration {
    Duration::from_secs(renew_grace(lease_seconds(lease_duration))) * 3 / 4
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
    use std::time::Duration;

    use super::{lease_field_manager, renew_grace, request_timeout};

    #[test]
    fn a_stalled_renewal_fails_before_the_lease_can_expire() {
        for secs in [1, 2, 3, 4, 5, 15, 60, 137] {
            let lease = Duration::from_secs(secs);
            let grace = Duration::from_secs(renew_grace(secs.max(2)));
            let timeout = request_timeout(lease);
            assert!(
                grace < lease.max(Duration::from_secs(2)),
                "{secs}s: renews before expiry"
            );
            assert!(
                timeout < grace,
                "{secs}s: gives up ({timeout:?}) before expiry ({grace:?} after renewing)"
            );
            assert!(
                timeout >= Duration::from_millis(750),
                "{secs}s: not so short that a busy server trips it"
            );
        }
    }

    #[test]
    fn every_replica_gets_its_own_lease_field_manager() {
        assert_ne!(lease_field_manager("pod-a"), lease_field_manager("pod-b"));
        assert!(lease_field_manager(&"x".repeat(300)).len() <= 128);
    }
}
