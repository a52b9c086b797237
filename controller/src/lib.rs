//! The sealed-secrets controller: holds the private keys and turns SealedSecrets into Secrets.
//! `main.rs` only wires these together.

/// Command-line flags (the original's, plus kubeconfig and leader election).
pub mod flags;
/// Which Secrets exist, as the Secret watch saw them (to skip reading a Secret not yet made).
pub mod known_secrets;
/// Leader election through a Lease.
pub mod leader;
/// Per-client rate limits of the HTTP API (GCRA, bounded memory).
pub mod limiter;
/// Prometheus metrics (the original's names, plus key health).
pub mod metrics;
/// SealedSecret → Secret, with status, events and metrics.
pub mod reconcile;
/// The loaded keys, kept current by a watch on the key Secrets.
pub mod registry;
/// The reconciler's writes, with responses decoded only as far as needed.
pub mod requests;
/// The open-files limit raised at start, as Go programs do.
pub mod rlimit;
/// Key creation and renewal.
pub mod rotation;
/// HTTP API (`/healthz`, `/v1/cert.pem`, `/v1/verify`, `/v1/rotate`) and `/metrics`.
pub mod server;
/// The long-lived tasks, awaited together: the first to end ends the process.
pub mod supervise;
/// Logging setup.
pub mod telemetry;
/// `--kubeclient-qps` / `--kubeclient-burst`: the client-side rate limit.
pub mod throttle;
/// The sealing page served at `/` (`--ui`).
pub mod ui;
/// How the watches retry after losing the API server.
pub mod watch_backoff;
