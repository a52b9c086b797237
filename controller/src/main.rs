//! `sealed-secrets-controller`: wires flags, logging, the key registry, key renewal, leader
//! election, the reconciler and the HTTP servers together.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use sealed_secrets_controller::flags::Flags;
use sealed_secrets_controller::metrics::Metrics;
use sealed_secrets_controller::reconcile::{self, Context, Settings};
use sealed_secrets_controller::registry::{self, KeyRegistry};
use sealed_secrets_controller::rotation::{self, KeyPolicy};
use sealed_secrets_controller::server::{self, ApiState, RateLimiter};
use sealed_secrets_controller::supervise::Tasks;
use sealed_secrets_controller::{leader, telemetry, throttle};
use tokio::sync::mpsc;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// SealedSecrets reconciled at once. Decryption is capped at one thread per CPU anyway; more
/// reconciles in flight let the single runtime thread handle several API responses per wake-up,
/// which preempts the decrypting threads less often: 8 → 16 cut about 3 % of the controller's CPU
/// per SealedSecret side by side (BENCHMARKS.md). Its memory cost (about 3 MiB at 10,000) is paid
/// for by the reconciler keeping one per-object map instead of kube's predicate cache as well.
const RECONCILE_CONCURRENCY: u16 = 16;

/// How long a leader waits on shutdown for its Lease to be released.
const LEASE_RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Exit status of a command-line error (as Go's flag package and clap use).
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let flags = match goflags::parse_with_env::<Flags, _, _>(std::env::args_os()) {
        Ok(flags) => flags,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line naming the argument (clap's usage hint would follow on more lines).
            let text = e.render().to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(USAGE);
        }
    };
    if flags.version {
        println!("controller version: v{VERSION}");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = flags.validate() {
        eprintln!("error: {e:#}");
        return ExitCode::from(USAGE);
    }
    telemetry::init(flags.log_format, flags.log_level, flags.log_info_stdout);
    sealed_secrets_controller::rlimit::raise_open_files();
    // One thread runs every task (watches, reconciles, HTTP); the CPU-bound unsealing runs on
    // the blocking pool. With I/O this light, a multi-threaded scheduler mostly adds
    // cross-thread wake-ups, and per-thread malloc arenas that hold memory.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run_until_signal(flags));
    // Decryptions still running on the blocking pool must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the controller until it fails or gets SIGTERM (a Pod deletion) or SIGINT; a leader then
/// releases its Lease. The handlers are installed first: as PID 1 in a container, a signal
/// without a handler is ignored by the kernel, and the Pod would wait out its grace period.
async fn run_until_signal(flags: Flags) -> Result<()> {
    let mut signals = Signals::install()?;
    let mut campaign = None;
    let outcome = tokio::select! {
        r = run(flags, &mut campaign) => r,
        signal = signals.recv() => {
            tracing::info!(signal, "received {signal}; exiting");
            Ok(())
        }
    };
    // `run` is gone, and with it the reconciler and key renewal: nothing writes any more.
    if let Some(campaign) = campaign {
        campaign.resign(LEASE_RELEASE_TIMEOUT).await;
    }
    outcome
}

/// SIGTERM and SIGINT.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// The controller namespace: `POD_NAMESPACE`, else the service account's, else `default`.
fn controller_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| "default".to_owned())
}

/// The API client, and the one for leader election: the same, unless `--kubeclient-qps` throttles
/// the first (Lease renewals must not queue behind a backlog of throttled requests, or the
/// leader would lose its Lease under load).
/// kube-client 5 panics reading a UTF-16 kubeconfig of an odd length (found by fuzzing,
/// `tests/fuzz` `kubeconfig`); such a file is refused with an error first.
fn refuse_odd_utf16(path: &std::path::Path) -> Result<()> {
    let bytes = std::fs::read(path).unwrap_or_default();
    if matches!(bytes.as_slice(), [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..]) && bytes.len() % 2 == 1 {
        anyhow::bail!(
            "kubeconfig {} is not valid UTF-16: an odd number of bytes",
            path.display()
        );
    }
    Ok(())
}

async fn clients(flags: &Flags) -> Result<(kube::Client, kube::Client)> {
    let config = match &flags.kubeconfig {
        Some(path) => {
            refuse_odd_utf16(path)?;
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no in-cluster config and no kubeconfig")?,
    };
    // The Lease client is never throttled, and its requests fail fast: a leader that cannot
    // renew must notice before its Lease expires (leader::request_timeout).
    let mut lease_config = config.clone();
    let stall = leader::request_timeout(flags.leader_elect_lease_duration);
    lease_config.connect_timeout = Some(stall);
    lease_config.read_timeout = Some(stall);
    lease_config.write_timeout = Some(stall);
    let lease_client = kube::Client::try_from(lease_config)?;
    let client = match flags.kubeclient_qps.filter(|qps| *qps > 0.0) {
        Some(qps) => {
            let burst = flags.kubeclient_burst.unwrap_or(throttle::DEFAULT_BURST);
            tracing::info!(qps, burst, "Kubernetes client rate limit");
            kube::client::ClientBuilder::try_from(config)?
                .with_layer(&throttle::ThrottleLayer::new(qps, burst))
                .build()
        }
        None => kube::Client::try_from(config)?,
    };
    Ok((client, lease_client))
}

async fn run(flags: Flags, campaign: &mut Option<leader::Campaign>) -> Result<()> {
    let namespace = controller_namespace();
    tracing::info!(version = VERSION, namespace = %namespace, "Starting sealed-secrets controller");
    let (client, lease_client) = clients(&flags).await?;
    let metrics = metrics(&flags)?;
    let registry = KeyRegistry::new(flags.key_order_priority);
    // Every long-lived task: the first to end ends the process (dropping `tasks` aborts the rest).
    let mut tasks = Tasks::default();
    tasks.spawn_forever(
        "key-watch",
        registry::watch_keys(
            client.clone(),
            namespace.clone(),
            flags.key_prefix.clone(),
            registry.clone(),
        ),
    );
    tasks.spawn_forever(
        "key-gauges",
        key_gauges(registry.clone(), metrics.clone(), flags.key_renew_period),
    );

    let unseal = crds::UnsealOptions {
        accept_deprecated_v1_data: flags.accept_deprecated_v1_data,
    };
    let timeouts = server::Timeouts {
        read: flags.read_timeout,
        write: flags.write_timeout,
    };
    let api = server::api_router(api_state(&flags, &registry, &metrics, unseal, timeouts));
    spawn_servers(&mut tasks, &flags, api, &metrics, timeouts)?;
    let mut leading = elect(&flags, lease_client, &namespace, campaign).await?;

    let (rotate_tx, rotate_rx) = mpsc::channel(4);
    tasks.spawn_forever("sigusr1", forward_sigusr1(rotate_tx));
    let policy = key_policy(&flags, &namespace)?;
    tasks.spawn_forever(
        "key-rotation",
        rotation::run(
            client.clone(),
            policy,
            registry.clone(),
            leading.clone(),
            rotate_rx,
        ),
    );

    tokio::select! {
        r = lead_with_keys(&mut leading, &registry) => r?,
        exit = tasks.first_exit() => return Err(exit.into()),
    }
    tracing::info!(identity = %leader::identity(), "leading: reconciling SealedSecrets");
    let ctx = reconcile_context(&flags, &client, &registry, &metrics, unseal);
    // A task of its own, like the HTTP connection tasks it talks to.
    tasks.spawn_forever(
        "reconciler",
        reconcile::run(
            ctx,
            flags.namespaces(&namespace),
            flags.label_selector.clone(),
            RECONCILE_CONCURRENCY,
        ),
    );
    tokio::select! {
        exit = tasks.first_exit() => Err(exit.into()),
        _ = lost(leading) => anyhow::bail!("lost leadership; exiting"),
    }
}

/// Waits until this replica leads and the keys are loaded. Only the leader reconciles; losing
/// the lease ends the process, so that a restart rejoins cleanly as a follower (no write can
/// happen after the lease is lost). Unsealing before the keys are loaded would only record
/// spurious failures.
async fn lead_with_keys(
    leading: &mut tokio::sync::watch::Receiver<bool>,
    registry: &KeyRegistry,
) -> Result<()> {
    while !*leading.borrow() {
        leading.changed().await.context("leader election stopped")?;
    }
    let mut key_changes = registry.subscribe();
    while !registry.is_synced() {
        key_changes
            .changed()
            .await
            .context("key registry stopped")?;
    }
    Ok(())
}

/// The HTTP API's state, from the flags.
fn api_state(
    flags: &Flags,
    registry: &Arc<KeyRegistry>,
    metrics: &Arc<Metrics>,
    unseal: crds::UnsealOptions,
    timeouts: server::Timeouts,
) -> ApiState {
    ApiState {
        registry: registry.clone(),
        metrics: metrics.clone(),
        limiter: Arc::new(RateLimiter::with_capacity(
            flags.rate_limit,
            flags.rate_limit_burst,
            flags.rate_limit_clients,
        )),
        rotate_limiter: (flags.rotate_rate_limit > 0).then(|| {
            Arc::new(RateLimiter::with_capacity(
                flags.rotate_rate_limit,
                flags.rotate_rate_limit_burst,
                flags.rate_limit_clients,
            ))
        }),
        unseal,
        timeouts,
        ui: flags.ui,
    }
}

/// The metrics registry, from the flags.
fn metrics(flags: &Flags) -> Result<Arc<Metrics>> {
    let mut metrics = Metrics::new(VERSION, !flags.key_renew_period.is_zero())?;
    if flags.metrics_omit_secret_labels {
        metrics = metrics.omit_secret_labels();
    }
    Ok(Arc::new(metrics))
}

/// Binds both listeners (a port in use ends the process at once) and serves them as tasks.
fn spawn_servers(
    tasks: &mut Tasks,
    flags: &Flags,
    api: axum::Router,
    metrics: &Arc<Metrics>,
    timeouts: server::Timeouts,
) -> Result<()> {
    let api_listener = server::bind(Flags::listen(&flags.listen_addr)?)?;
    let metrics_listener = server::bind(Flags::listen(&flags.listen_metrics_addr)?)?;
    tasks.spawn("api-server", server::serve(api_listener, api));
    tasks.spawn(
        "metrics-server",
        server::serve(
            metrics_listener,
            server::metrics_router(metrics.clone(), timeouts),
        ),
    );
    Ok(())
}

/// Whether this replica leads: always, unless `--leader-elect` starts a campaign for the Lease
/// (kept in `campaign`, so that it can be resigned on exit).
async fn elect(
    flags: &Flags,
    lease_client: kube::Client,
    namespace: &str,
    campaign: &mut Option<leader::Campaign>,
) -> Result<tokio::sync::watch::Receiver<bool>> {
    if !flags.leader_elect {
        return Ok(leader::always());
    }
    let elected = campaign.insert(
        leader::campaign(
            lease_client,
            namespace,
            &flags.leader_elect_lease_name,
            flags.leader_elect_lease_duration,
        )
        .await?,
    );
    Ok(elected.leading.clone())
}

/// When and how keys are made, from the flags.
fn key_policy(flags: &Flags, namespace: &str) -> Result<KeyPolicy> {
    Ok(KeyPolicy {
        namespace: namespace.to_owned(),
        prefix: flags.key_prefix.clone(),
        bits: flags.key_size,
        ttl: flags.key_ttl,
        common_name: flags.my_cn.clone(),
        renew_period: flags.key_renew_period,
        // Like the original, the cutoff is checked against the keys present at start: a cutoff in
        // the future must not make every new key (also older than it) due again.
        cutoff: flags
            .key_cutoff()?
            .map(|cutoff| cutoff.min(start_whole_seconds())),
        labels: Flags::key_values("privatekey-labels", &flags.privatekey_labels)?,
        annotations: Flags::key_values("privatekey-annotations", &flags.privatekey_annotations)?,
    })
}

/// What the reconciler needs, from the flags.
fn reconcile_context(
    flags: &Flags,
    client: &kube::Client,
    registry: &Arc<KeyRegistry>,
    metrics: &Arc<Metrics>,
    unseal: crds::UnsealOptions,
) -> Arc<Context> {
    let recorder = reconcile::Recorder::new(client.clone(), leader::identity());
    Context::new(
        client.clone(),
        registry.clone(),
        recorder,
        metrics.clone(),
        Settings {
            update_status: flags.update_status,
            skip_recreate: flags.skip_recreate,
            unseal,
            max_retries: flags.max_unseal_retries,
        },
    )
}

/// Now, truncated to whole seconds (certificate times have no fractions).
fn start_whole_seconds() -> std::time::SystemTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

async fn lost(mut leading: tokio::sync::watch::Receiver<bool>) {
    while *leading.borrow() {
        if leading.changed().await.is_err() {
            return;
        }
    }
}

async fn forward_sigusr1(tx: mpsc::Sender<()>) {
    let Ok(mut signal) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
    else {
        tracing::warn!("cannot listen for SIGUSR1");
        return std::future::pending().await;
    };
    while signal.recv().await.is_some() {
        let _ = tx.try_send(());
    }
}

/// Keeps the key gauges current.
async fn key_gauges(registry: Arc<KeyRegistry>, metrics: Arc<Metrics>, renew: std::time::Duration) {
    loop {
        let keys = registry.keys();
        metrics
            .keys
            .set(i64::try_from(keys.len()).unwrap_or(i64::MAX));
        if let Some(newest) = registry.newest_time() {
            let age = std::time::SystemTime::now()
                .duration_since(newest)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            metrics.newest_key_age.set(age);
            if !renew.is_zero() {
                metrics.next_renewal.set(renew.as_secs_f64() - age);
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}
