//! Leader election through a `coordination.k8s.io/v1` Lease (kube-lease-manager): only the
//! leader creates keys and writes Secrets; every replica serves the HTTP API.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
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

/// How often a follower reads the Lease to see whether its holder released it (client-go's
/// retry period). kube-lease-manager alone only looks again when the Lease would expire, so a
/// released Lease would stay free for up to its whole duration.
const RETRY: Duration = Duration::from_secs(2);

/// How long a replica that starts while a Lease exists leaves it to the replicas already
/// running (they look every [`RETRY`]): a Pod replacing a deleted leader comes back as a
/// follower, and the take-over does not wait for it to start.
const DEFER: Duration = Duration::from_secs(6);

/// What a campaign needs to (re)build its lease manager and read the Lease.
struct Params {
    client: Client,
    namespace: String,
    lease_name: String,
    identity: String,
    duration: u64,
}

impl Params {
    async fn manager(&self) -> Result<LeaseManager, kube_lease_manager::LeaseManagerError> {
        LeaseManagerBuilder::new(self.client.clone(), &self.lease_name)
            .with_namespace(&self.namespace)
            .with_field_manager(lease_field_manager(&self.identity))
            .with_identity(&self.identity)
            .with_duration(self.duration)
            .with_grace(renew_grace(self.duration))
            .build()
            .await
    }

    /// The Lease as the API server has it; None when absent or unreadable (a follower simply
    /// looks again later).
    async fn read(&self) -> Option<Lease> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), &self.namespace);
        match api.get_opt(&self.lease_name).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::debug!(error = %e, "leader election: cannot read the Lease");
                None
            }
        }
    }
}

/// Starts campaigning.
pub async fn campaign(
    client: Client,
    namespace: &str,
    lease_name: &str,
    lease_duration: Duration,
) -> anyhow::Result<Campaign> {
    let params = Params {
        client,
        namespace: namespace.to_owned(),
        lease_name: lease_name.to_owned(),
        identity: identity(),
        duration: lease_seconds(lease_duration),
    };
    let deferral = startup_deferral(params.read().await.as_ref());
    if !deferral.is_zero() {
        tracing::info!(
            defer = ?deferral,
            "leader election: the Lease exists; leaving it to the running replicas first"
        );
    }
    let manager = params.manager().await?;
    let (tx, leading) = watch::channel(false);
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(hold(params, manager, tx, stopped, deferral));
    Ok(Campaign {
        leading,
        stop,
        task,
    })
}

/// How long a starting replica waits before its first campaign: [`DEFER`] when the Lease
/// exists (the replicas already running, one of which may be about to take a Lease just
/// released, go first), else nothing (a first install leads at once). A held Lease makes it a
/// follower anyway; the wait only keeps it from racing them for a Lease that turns free.
fn startup_deferral(lease: Option<&Lease>) -> Duration {
    match lease {
        Some(_) => DEFER,
        None => Duration::ZERO,
    }
}

/// The Lease's holder; an empty identity holds nothing.
fn holder(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()?
        .holder_identity
        .as_deref()
        .filter(|h| !h.is_empty())
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

/// One turn of [`hold`].
enum Step {
    Stop,
    Changed(Result<bool, kube_lease_manager::LeaseManagerError>),
    Released,
}

/// Acquires and renews the Lease, publishing whether this replica holds it, until `stop`;
/// then releases it. A follower also reads the Lease every [`RETRY`] and campaigns again at
/// once when it finds it free.
async fn hold(
    params: Params,
    mut manager: LeaseManager,
    tx: watch::Sender<bool>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    deferral: Duration,
) {
    tokio::select! {
        biased;
        _ = &mut stop => return,
        () = tokio::time::sleep(deferral) => {}
    }
    loop {
        let leading = *tx.borrow();
        let step = {
            let changed = manager.changed();
            tokio::pin!(changed);
            tokio::select! {
                biased;
                _ = &mut stop => Step::Stop,
                changed = &mut changed => Step::Changed(changed),
                () = released(&params), if !leading => Step::Released,
            }
        };
        match step {
            Step::Stop => break,
            Step::Changed(Ok(holds)) => {
                tx.send_replace(holds);
            }
            Step::Changed(Err(e)) if leading => {
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
            Step::Changed(Err(e)) => {
                tracing::warn!(error = %e, "leader election: cannot reach the Lease");
                tokio::select! {
                    _ = &mut stop => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            // The manager's view (locked until it expires) is stale: a new one reads the Lease
            // afresh and takes it.
            Step::Released => match params.manager().await {
                Ok(fresh) => manager = fresh,
                Err(e) => tracing::warn!(error = %e, "leader election: cannot reach the Lease"),
            },
        }
    }
    // Followers see the change before the Lease is free: nothing here writes any more.
    tx.send_replace(false);
    if let Err(e) = manager.release().await {
        tracing::warn!(error = %e, "leader election: cannot release the Lease");
    }
}

/// Resolves once a read of the Lease, every [`RETRY`], finds nobody holding it.
async fn released(params: &Params) {
    loop {
        tokio::time::sleep(RETRY).await;
        if params
            .read()
            .await
            .is_some_and(|lease| holder(&lease).is_none())
        {
            return;
        }
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

    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};

    use super::{
        lease_field_manager, renew_grace, request_timeout, startup_deferral, DEFER, RETRY,
    };

    fn lease(holder: Option<&str>) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn a_starting_replica_leaves_a_released_lease_to_the_running_ones() {
        assert_eq!(startup_deferral(Some(&lease(None))), DEFER, "released");
        assert_eq!(
            startup_deferral(Some(&lease(Some("")))),
            DEFER,
            "empty holder"
        );
        assert_eq!(
            startup_deferral(Some(&lease(Some("pod-a")))),
            DEFER,
            "held: it may be released any moment"
        );
        assert!(
            DEFER > RETRY * 2,
            "the running replicas look at least twice meanwhile"
        );
    }

    #[test]
    fn an_empty_or_missing_holder_holds_nothing() {
        assert_eq!(super::holder(&lease(Some("pod-a"))), Some("pod-a"));
        assert_eq!(super::holder(&lease(Some(""))), None);
        assert_eq!(super::holder(&lease(None)), None);
        assert_eq!(super::holder(&Lease::default()), None);
    }

    #[test]
    fn a_first_install_is_not_deferred() {
        assert_eq!(startup_deferral(None), Duration::ZERO, "no Lease yet");
    }

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
