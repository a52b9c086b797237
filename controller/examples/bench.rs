//! End-to-end benchmark of the controller binary against a real local control plane (envtest:
//! etcd + kube-apiserver v1.20.2).
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo run --release -p sealed-secrets-controller --example bench -- \
//!     [--count N] [--rss-count M] [--create-concurrency C] [--log-dir DIR] [--no-build] \
//!     [--controller-bin PATH] \
//!     [--controller-env KEY=VALUE]... [--controller-arg ARG]...
//! ```
//!
//! The controller binary is taken from the same target directory and profile as this example
//! (`<target>/release/sealed-secrets-controller`); unless `--no-build` is given the example first
//! runs `cargo build --release -p sealed-secrets-controller` so that it is current.
//! `--controller-bin` measures another build instead (e.g. to compare two versions side by side).
//!
//! Phases (progress on stderr, a Markdown table on stdout):
//! 1. raw RSA-4096 OAEP decrypt cost of one value (`crds::unseal_bytes`, thread CPU time);
//! 2. creation of `N` SealedSecrets (2 values each) by `C` concurrent tasks;
//! 3. cold start: a fresh controller process until the `N` Secrets exist and all `N`
//!    SealedSecrets are `Synced=True`, with its CPU time per SealedSecret;
//! 4. steady state: `N` more SealedSecrets created while the controller runs;
//! 5. memory: `M` small SealedSecrets (1 value each) in another namespace, a fresh controller
//!    watching only that namespace, its peak (VmHWM) and current (VmRSS) resident memory.
//!
//! Two measures of what the controller adds on top of RSA (target: unsealing ≥ 80 % of its CPU):
//! - **in-process**: the controller's own `unseal_cpu_seconds_total` (thread CPU time inside
//!   decrypt + render) over its whole CPU time, both read at the same moment. Independent of how
//!   fast the host happens to be.
//! - **against the raw decrypt measured alone**: values × raw decrypt time over the controller's
//!   CPU per SealedSecret. On this shared 2-core machine RSA itself runs slower while
//!   kube-apiserver and etcd share the cores, and the host's speed drifts between the raw
//!   measurement and the run, so this one moves with the host (the in-place cost per value is
//!   reported next to it).
//!
//! `--count 0` skips phases 2–4, `--rss-count 0` phase 5. `--controller-env` and
//! `--controller-arg` pass environment variables and flags to every controller process (e.g.
//! `--controller-env MALLOC_ARENA_MAX=2`).
//!
//! Every process (controller, etcd, kube-apiserver) is stopped at the end, also on SIGINT or
//! SIGTERM.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context as _, Result};
use common::{load_average, process_cpu, process_cpu_split, process_memory, Memory};
use crds::keygen;
use crds::{PrivateKey, PublicKey, SealedSecret};
use envtest::workspace::free_port;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, Secret};
use k8s_openapi::ByteString;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};

const KEY_SECRET_NAME: &str = "sealed-secrets-key-bench";
const POLL: Duration = Duration::from_millis(100);
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
const UNSEAL_METRIC: &str = "sealed_secrets_controller_unseal_requests_total";
const UNSEAL_CPU_METRIC: &str = "sealed_secrets_controller_unseal_cpu_seconds_total";
const UNSEAL_ERRORS_METRIC: &str = "sealed_secrets_controller_unseal_errors_total";

#[derive(Debug)]
struct Args {
    count: usize,
    rss_count: usize,
    create_concurrency: usize,
    decrypts: usize,
    timeout: Duration,
    log_dir: PathBuf,
    build: bool,
    controller_bin: Option<PathBuf>,
    controller_env: Vec<(String, String)>,
    controller_args: Vec<String>,
}

impl Args {
    fn parse() -> Result<Self> {
        let mut args = Args {
            count: 1000,
            rss_count: 10_000,
            create_concurrency: 8,
            decrypts: 200,
            timeout: Duration::from_secs(900),
            log_dir: PathBuf::from("/tmp/controller-bench-logs"),
            build: true,
            controller_bin: None,
            controller_env: Vec::new(),
            controller_args: Vec::new(),
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| anyhow!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--count" => args.count = value()?.parse().context("--count")?,
                "--rss-count" => args.rss_count = value()?.parse().context("--rss-count")?,
                "--create-concurrency" => {
                    args.create_concurrency = value()?.parse().context("--create-concurrency")?;
                }
                "--decrypts" => args.decrypts = value()?.parse().context("--decrypts")?,
                "--timeout-secs" => {
                    args.timeout = Duration::from_secs(value()?.parse().context("--timeout-secs")?);
                }
                "--log-dir" => args.log_dir = PathBuf::from(value()?),
                "--no-build" => args.build = false,
                "--controller-bin" => args.controller_bin = Some(PathBuf::from(value()?)),
                "--controller-env" => {
                    let kv = value()?;
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| anyhow!("--controller-env {kv:?} is not KEY=VALUE"))?;
                    args.controller_env.push((k.to_owned(), v.to_owned()));
                }
                "--controller-arg" => args.controller_args.push(value()?),
                "-h" | "--help" => {
                    println!(
                        "usage: bench [--count N (1000)] [--rss-count M (10000)] \
                         [--create-concurrency C (8)] [--decrypts D (200)] \
                         [--timeout-secs S (900)] [--log-dir DIR] [--no-build] [--controller-bin PATH] \
                         [--controller-env KEY=VALUE]... [--controller-arg ARG]..."
                    );
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?} (see --help)"),
            }
        }
        if args.create_concurrency == 0 || args.decrypts == 0 {
            bail!("--create-concurrency and --decrypts must be positive");
        }
        Ok(args)
    }
}

macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("[bench {:>7.1}s] {}", started().elapsed().as_secs_f64(), format_args!($($arg)*))
    };
}

fn started() -> &'static Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now)
}

#[tokio::main]
async fn main() -> Result<()> {
    started();
    let args = Args::parse()?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // Dropping `run` on a signal drops the controller and the control plane, which stops them.
    tokio::select! {
        r = run(args) => r,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        _ = terminate.recv() => bail!("terminated"),
    }
}

async fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.log_dir)
        .with_context(|| format!("creating {}", args.log_dir.display()))?;
    let mut report = Report::new(&args);

    let controller_bin = match &args.controller_bin {
        Some(bin) => bin.clone(),
        None => controller_binary(args.build)?,
    };
    progress!("controller binary: {}", controller_bin.display());

    progress!("generating the 4096-bit sealing key");
    let key = keygen::generate(
        4096,
        "",
        SystemTime::now(),
        Duration::from_secs(10 * 365 * 24 * 3600),
    )?;
    let public = key.certificate.public_key().clone();

    let decrypt = measure_decrypt(&key.private_key, &public, args.decrypts)?;
    progress!(
        "raw RSA-4096 OAEP unseal of one value: {:.3} ms CPU ({:.3} ms wall) over {} runs",
        decrypt.cpu_ms,
        decrypt.wall_ms,
        args.decrypts
    );
    report.decrypt = Some(decrypt);
    let parallel = measure_decrypt_parallel(&key.private_key, &public, args.decrypts)?;
    progress!(
        "same, on all {} CPUs at once: {:.3} ms CPU per unseal",
        report.nproc,
        parallel
    );
    report.decrypt_parallel_ms = Some(parallel);

    progress!("starting the control plane (etcd + kube-apiserver)");
    let cp = envtest::ControlPlane::start().await?;
    let crd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/sealedsecrets.bitnami.com.yaml");
    cp.install_crd(&crd).await?;
    let client = cp.client()?;
    let key_ns = cp.create_namespace("bench-keys").await?;
    let app_ns = cp.create_namespace("bench-app").await?;
    let rss_ns = cp.create_namespace("bench-rss").await?;
    progress!(
        "control plane ready at {}; namespaces: keys {key_ns}, app {app_ns}, rss {rss_ns}",
        cp.server_url()
    );
    let mut key_secret = keygen::key_secret(
        &key,
        "sealed-secrets-key",
        &key_ns,
        &BTreeMap::new(),
        &BTreeMap::new(),
    )?;
    key_secret.metadata.generate_name = None;
    key_secret.metadata.name = Some(KEY_SECRET_NAME.to_owned());
    Api::<Secret>::namespaced(client.clone(), &key_ns)
        .create(&PostParams::default(), &key_secret)
        .await
        .context("creating the key Secret")?;

    let launch = Launch {
        bin: controller_bin,
        kubeconfig: cp.kubeconfig_path().to_path_buf(),
        key_ns: key_ns.clone(),
        env: args.controller_env.clone(),
        args: args.controller_args.clone(),
    };
    let apps = Tracker::start(client.clone(), &app_ns);
    let rss_tracker = Tracker::start(client.clone(), &rss_ns);
    let servers = ServerPids {
        apiserver: cp.apiserver_pid(),
        etcd: cp.etcd_pid(),
    };

    if args.count > 0 {
        // Cold start.
        let n = args.count;
        let cold_objects = seal_batch(&public, &app_ns, "cold", n, 2).await?;
        let creation = create_all(&client, cold_objects, args.create_concurrency, "cold").await?;
        report
            .creations
            .push(("cold-start set (2 values)", n, creation));
        let mut controller = Controller::start(&launch, &app_ns, &args.log_dir.join("cold.log"))?;
        let cold_t0 = controller.started;
        let cold = wait_phase(
            "cold start",
            &client,
            &app_ns,
            &apps,
            &mut controller,
            &servers,
            PhaseTarget::new(0, n),
            cold_t0,
            args.timeout,
        )
        .await?;
        report.phases.push(cold);

        // Steady state: N more while the controller runs.
        let before = secret_count(&client, &app_ns).await?;
        let synced_before = apps.synced();
        let steady_objects = seal_batch(&public, &app_ns, "steady", n, 2).await?;
        let t0 = Instant::now();
        let creator = tokio::spawn({
            let client = client.clone();
            let c = args.create_concurrency;
            async move { create_all(&client, steady_objects, c, "steady").await }
        });
        let mut steady = wait_phase(
            "steady state",
            &client,
            &app_ns,
            &apps,
            &mut controller,
            &servers,
            PhaseTarget::new(before, n).running(synced_before),
            t0,
            args.timeout,
        )
        .await?;
        let steady_creation = creator.await.context("creation task")??;
        steady.creation = Some(steady_creation);
        report
            .creations
            .push(("steady set (2 values)", n, steady_creation));
        report.phases.push(steady);
        controller.stop();
    }

    // Memory: M small SealedSecrets, a fresh controller watching only their namespace.
    if args.rss_count > 0 {
        let m = args.rss_count;
        let rss_objects = seal_batch(&public, &rss_ns, "rss", m, 1).await?;
        let creation = create_all(&client, rss_objects, args.create_concurrency, "rss").await?;
        report.creations.push(("memory set (1 value)", m, creation));
        let mut controller_rss =
            Controller::start(&launch, &rss_ns, &args.log_dir.join("rss.log"))?;
        let rss_t0 = controller_rss.started;
        let mut phase = wait_phase(
            "memory (cold start)",
            &client,
            &rss_ns,
            &rss_tracker,
            &mut controller_rss,
            &servers,
            PhaseTarget::new(0, m).values(1),
            rss_t0,
            args.timeout,
        )
        .await?;
        progress!("memory: waiting 10 s idle");
        tokio::time::sleep(Duration::from_secs(10)).await;
        phase.idle_memory = controller_rss.memory().ok();
        report.phases.push(phase);
        controller_rss.stop();
        report.sizes = object_sizes(&client, &rss_ns, "rss-00000").await.ok();
    }

    report.load_end = load_average();
    progress!("stopping the control plane");
    drop((apps, rss_tracker));
    drop(cp);
    // Measured again on the quiet machine: the faster of the two is the reference, so that a
    // slow first measurement cannot flatter the controller.
    let after = measure_decrypt(&key.private_key, &public, args.decrypts)?;
    progress!(
        "raw RSA-4096 OAEP unseal of one value, again: {:.3} ms CPU",
        after.cpu_ms
    );
    report.decrypt_after = Some(after);
    println!("{}", report.render());
    progress!("controller logs in {}", args.log_dir.display());
    Ok(())
}

/// `<target>/<profile>/sealed-secrets-controller`, next to this example's directory; built
/// first unless `build` is false.
fn controller_binary(build: bool) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("unexpected bench location {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| anyhow!("unexpected bench location {}", exe.display()))?;
    if build {
        progress!("cargo build --release -p sealed-secrets-controller");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "sealed-secrets-controller",
                "--bin",
                "sealed-secrets-controller",
            ])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p sealed-secrets-controller failed");
        }
    }
    let bin = profile_dir.join("sealed-secrets-controller");
    if !bin.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p sealed-secrets-controller` first",
            bin.display()
        );
    }
    Ok(bin)
}

struct DecryptCost {
    cpu_ms: f64,
    wall_ms: f64,
}

/// The mean CPU cost of one unseal while every CPU runs [`measure_decrypt`] at once: what a
/// decrypt costs when all cores are busy, as they are during a controller's cold start.
fn measure_decrypt_parallel(key: &PrivateKey, public: &PublicKey, runs: usize) -> Result<f64> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let costs: Vec<Result<DecryptCost>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| measure_decrypt(key, public, runs)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("decrypt thread panicked")))
            })
            .collect()
    });
    let mut total = 0.0;
    for cost in costs {
        total += cost?.cpu_ms;
    }
    Ok(total / threads as f64)
}

/// Seals one 32-byte value and unseals it `runs` times on this thread.
fn measure_decrypt(key: &PrivateKey, public: &PublicKey, runs: usize) -> Result<DecryptCost> {
    let label = crds::Scope::Strict.label("bench", "decrypt");
    let sealed = crds::seal_bytes(public, &label, &[7u8; 32])?;
    let keys = std::slice::from_ref(key);
    for _ in 0..10 {
        crds::unseal_bytes(keys, &label, &sealed)?;
    }
    let cpu0 = thread_cpu()?;
    let wall0 = Instant::now();
    for _ in 0..runs {
        let plain = crds::unseal_bytes(keys, &label, &sealed)?;
        std::hint::black_box(plain);
    }
    let wall = wall0.elapsed();
    let cpu = thread_cpu()? - cpu0;
    Ok(DecryptCost {
        cpu_ms: cpu.as_secs_f64() * 1e3 / runs as f64,
        wall_ms: wall.as_secs_f64() * 1e3 / runs as f64,
    })
}

/// CPU time of the calling thread (nanosecond precision, from schedstat).
fn thread_cpu() -> Result<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .context("reading /proc/thread-self/schedstat")?;
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("unexpected schedstat {text:?}"))?;
    Ok(Duration::from_nanos(ns))
}

/// Seals `count` Secrets `<prefix>-NNNNN` of namespace `ns` with `values` values each.
async fn seal_batch(
    public: &PublicKey,
    ns: &str,
    prefix: &str,
    count: usize,
    values: usize,
) -> Result<Vec<SealedSecret>> {
    let public = public.clone();
    let ns = ns.to_owned();
    let prefix = prefix.to_owned();
    let t0 = Instant::now();
    let sealed = tokio::task::spawn_blocking(move || -> Result<Vec<SealedSecret>> {
        (0..count)
            .map(|i| {
                let name = format!("{prefix}-{i:05}");
                let data: BTreeMap<String, ByteString> = [
                    ("username", format!("user-{i}")),
                    (
                        "password",
                        format!("{:032x}", (i as u128) * 0x9e37_79b9_7f4a_7c15),
                    ),
                ]
                .into_iter()
                .take(values)
                .map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes())))
                .collect();
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name),
                        namespace: Some(ns.clone()),
                        ..ObjectMeta::default()
                    },
                    data: Some(data),
                    type_: Some("Opaque".to_owned()),
                    ..Secret::default()
                };
                Ok(crds::seal_secret(
                    secret,
                    &public,
                    &crds::SealOptions::default(),
                )?)
            })
            .collect()
    })
    .await
    .context("sealing task")??;
    progress!(
        "sealed {count} SealedSecrets ({values} value(s) each) in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(sealed)
}

/// Creates every object with `concurrency` requests in flight; returns the elapsed time.
async fn create_all(
    client: &Client,
    objects: Vec<SealedSecret>,
    concurrency: usize,
    what: &str,
) -> Result<Duration> {
    let total = objects.len();
    let t0 = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    futures::stream::iter(objects)
        .map(|obj| {
            let done = done.clone();
            let ns = obj.metadata.namespace.clone().unwrap_or_default();
            let api: Api<SealedSecret> = Api::namespaced(client.clone(), &ns);
            async move {
                api.create(&PostParams::default(), &obj)
                    .await
                    .with_context(|| {
                        format!(
                            "creating SealedSecret {ns}/{}",
                            obj.metadata.name.as_deref().unwrap_or_default()
                        )
                    })?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n.is_multiple_of(2000) && n < total {
                    progress!("{what}: created {n}/{total}");
                }
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    let elapsed = t0.elapsed();
    progress!(
        "{what}: created {total} SealedSecrets in {:.2} s ({:.0}/s, {concurrency} in flight)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    Ok(elapsed)
}

/// Secrets in `ns`, counted cheaply: one item and `remainingItemCount` (a plain list: the
/// metadata-only list of this API server leaves `remainingItemCount` out).
async fn secret_count(client: &Client, ns: &str) -> Result<usize> {
    count(Api::<Secret>::namespaced(client.clone(), ns))
        .await
        .context("counting Secrets")
}

/// Events in `ns` (the controller records one per unseal or failure).
async fn event_count(client: &Client, ns: &str) -> Result<usize> {
    count(Api::<Event>::namespaced(client.clone(), ns))
        .await
        .context("counting Events")
}

async fn count<K>(api: Api<K>) -> Result<usize, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = api.list(&ListParams::default().limit(1)).await?;
    let remaining = list
        .metadata
        .remaining_item_count
        .and_then(|r| usize::try_from(r).ok())
        .unwrap_or(0);
    Ok(list.items.len() + remaining)
}

/// Follows the SealedSecrets of a namespace through a watch: how many are `Synced=True` (for
/// their current generation) and how many `Synced=False`.
struct Tracker {
    state: Arc<Mutex<HashMap<String, Option<bool>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    fn start(client: Client, ns: &str) -> Self {
        let state = Arc::new(Mutex::new(HashMap::new()));
        let api: Api<SealedSecret> = Api::namespaced(client, ns);
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
                while let Some(event) = events.next().await {
                    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                    match event {
                        Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                            state.insert(s.metadata.name.clone().unwrap_or_default(), synced(&s));
                        }
                        Ok(watcher::Event::Delete(s)) => {
                            state.remove(s.metadata.name.as_deref().unwrap_or_default());
                        }
                        Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
                        Err(e) => {
                            drop(state);
                            eprintln!("bench: SealedSecret watch failed ({e}); retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        });
        Self { state, task }
    }

    fn counts(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ok = state.values().filter(|s| **s == Some(true)).count();
        let failed = state.values().filter(|s| **s == Some(false)).count();
        (ok, failed)
    }

    fn synced(&self) -> usize {
        self.counts().0
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `Some(true)` when `Synced=True` for the current generation, `Some(false)` when
/// `Synced=False`, `None` otherwise.
fn synced(s: &SealedSecret) -> Option<bool> {
    let status = s.status.as_ref()?;
    let condition = status.conditions.iter().find(|c| c.type_ == "Synced")?;
    match condition.status.as_str() {
        "True" if status.observed_generation == s.metadata.generation => Some(true),
        "False" => Some(false),
        _ => None,
    }
}

/// A controller process, killed on drop; its stderr goes to `log`.
struct Controller {
    child: Child,
    pid: u32,
    started: Instant,
    log: PathBuf,
    metrics_port: u16,
}

/// How controller processes are started.
struct Launch {
    bin: PathBuf,
    kubeconfig: PathBuf,
    key_ns: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Controller {
    /// Starts a controller with its keys in `launch.key_ns`, watching that namespace and
    /// `watch_ns`.
    fn start(launch: &Launch, watch_ns: &str, log: &Path) -> Result<Self> {
        let api_port = free_port()?;
        let metrics_port = free_port()?;
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let started = Instant::now();
        let child = Command::new(&launch.bin)
            .env("POD_NAMESPACE", &launch.key_ns)
            .env_remove("RUST_LOG")
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .arg("--kubeconfig")
            .arg(&launch.kubeconfig)
            .arg("--all-namespaces=false")
            .arg(format!("--additional-namespaces={watch_ns}"))
            .arg(format!("--listen-addr=127.0.0.1:{api_port}"))
            .arg(format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"))
            .args(&launch.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", launch.bin.display()))?;
        let pid = child.id();
        progress!(
            "controller started (pid {pid}, watching {watch_ns}, log {})",
            log.display()
        );
        Ok(Self {
            child,
            pid,
            started,
            log: log.to_path_buf(),
            metrics_port,
        })
    }

    fn cpu(&self) -> Result<Duration> {
        process_cpu(self.pid)
    }

    /// (all CPU, of which kernel), from one reading.
    fn cpu_and_system(&self) -> Result<(Duration, Duration)> {
        process_cpu_split(self.pid).map(|(user, system)| (user + system, system))
    }

    fn memory(&self) -> Result<Memory> {
        process_memory(self.pid)
    }

    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the controller exited ({status}); log tail:\n{}",
                self.log_tail(30)
            );
        }
        Ok(())
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// (warning lines, error lines, a few distinct messages).
    fn log_summary(&self) -> (usize, usize, Vec<String>) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let (mut warns, mut errors) = (0, 0);
        let mut samples: Vec<String> = Vec::new();
        // envtest's kubeconfig skips TLS verification: kube warns on every connection.
        for line in text.lines().filter(|l| !l.contains("Server cert bypassed")) {
            let is_warn = line.contains(" WARN ");
            let is_error = line.contains(" ERROR ");
            warns += usize::from(is_warn);
            errors += usize::from(is_error);
            if (is_warn || is_error) && samples.len() < 3 {
                // Drop the timestamp so repeated messages compare equal.
                let message = line.split_once(' ').map_or(line, |(_, m)| m).to_owned();
                if !samples.contains(&message) {
                    samples.push(message);
                }
            }
        }
        (warns, errors, samples)
    }

    /// A counter (summed over its label sets) from `/metrics`.
    fn metric(&self, name: &str) -> Option<f64> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).ok()?;
        let values: Vec<f64> = body
            .lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter(|l| l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop();
    }
}

struct ServerPids {
    apiserver: u32,
    etcd: u32,
}

#[derive(Debug, Clone, Copy)]
struct PhaseTarget {
    secrets_base: usize,
    synced_base: usize,
    count: usize,
    values: usize,
    /// Whether the controller was started for this phase (CPU counted from its start).
    since_start: bool,
}

impl PhaseTarget {
    fn new(secrets_base: usize, count: usize) -> Self {
        Self {
            secrets_base,
            synced_base: 0,
            count,
            values: 2,
            since_start: true,
        }
    }

    /// A phase on an already running controller, with `synced` SealedSecrets already synced.
    fn running(mut self, synced: usize) -> Self {
        self.synced_base = synced;
        self.since_start = false;
        self
    }

    fn values(mut self, values: usize) -> Self {
        self.values = values;
        self
    }
}

/// What one phase measured; times are from `t0`.
struct Phase {
    name: &'static str,
    target: PhaseTarget,
    first_secret: Option<Duration>,
    all_secrets: Option<Duration>,
    all_synced: Option<Duration>,
    creation: Option<Duration>,
    cpu_at_secrets: Option<Duration>,
    cpu_at_synced: Option<Duration>,
    system_cpu_at_synced: Option<Duration>,
    /// CPU inside decrypting and rendering, as the controller counts it (seconds).
    unseal_cpu_at_synced: Option<f64>,
    apiserver_cpu: Duration,
    etcd_cpu: Duration,
    memory: Option<Memory>,
    idle_memory: Option<Memory>,
    reconciles: Option<f64>,
    unseal_errors: Option<f64>,
    events: usize,
    failed: usize,
    warnings: usize,
    errors: usize,
    load: String,
}

/// Polls every 100 ms until `target.count` new Secrets exist in `ns` and as many SealedSecrets
/// are synced, recording when each happened and the controller's CPU time then.
#[allow(clippy::too_many_arguments)]
async fn wait_phase(
    name: &'static str,
    client: &Client,
    ns: &str,
    tracker: &Tracker,
    controller: &mut Controller,
    servers: &ServerPids,
    target: PhaseTarget,
    t0: Instant,
    timeout: Duration,
) -> Result<Phase> {
    // A fresh process is measured from its start; a running one from now.
    let (cpu_base, system_base) = if target.since_start {
        (Duration::ZERO, Duration::ZERO)
    } else {
        controller.cpu_and_system()?
    };
    let api0 = process_cpu(servers.apiserver)?;
    let etcd0 = process_cpu(servers.etcd)?;
    // Counters of a fresh process start at zero; reading them now could already count work.
    let counter_base = |name: &str| {
        if target.since_start {
            0.0
        } else {
            controller.metric(name).unwrap_or(0.0)
        }
    };
    let reconciles0 = counter_base(UNSEAL_METRIC);
    let unseal_cpu0 = counter_base(UNSEAL_CPU_METRIC);
    let errors0 = controller.metric(UNSEAL_ERRORS_METRIC).unwrap_or(0.0);
    let events0 = event_count(client, ns).await?;
    let mut phase = Phase {
        name,
        target,
        first_secret: None,
        all_secrets: None,
        all_synced: None,
        creation: None,
        cpu_at_secrets: None,
        cpu_at_synced: None,
        system_cpu_at_synced: None,
        unseal_cpu_at_synced: None,
        apiserver_cpu: Duration::ZERO,
        etcd_cpu: Duration::ZERO,
        memory: None,
        idle_memory: None,
        reconciles: None,
        unseal_errors: None,
        events: 0,
        failed: 0,
        warnings: 0,
        errors: 0,
        load: String::new(),
    };
    progress!(
        "{name}: waiting for {} Secrets and {} Synced SealedSecrets",
        target.count,
        target.count
    );
    let mut last_progress = Instant::now();
    loop {
        controller.check_alive()?;
        let secrets = secret_count(client, ns)
            .await?
            .saturating_sub(target.secrets_base);
        let (ok, failed) = tracker.counts();
        let synced = ok.saturating_sub(target.synced_base);
        let now = t0.elapsed();
        if secrets > 0 && phase.first_secret.is_none() {
            phase.first_secret = Some(now);
        }
        if secrets >= target.count && phase.all_secrets.is_none() {
            phase.all_secrets = Some(now);
            phase.cpu_at_secrets = Some(controller.cpu()?.saturating_sub(cpu_base));
            progress!(
                "{name}: all {} Secrets exist after {:.2} s",
                target.count,
                now.as_secs_f64()
            );
        }
        if synced >= target.count && phase.all_synced.is_none() {
            phase.all_synced = Some(now);
            let (cpu, system) = controller.cpu_and_system()?;
            phase.cpu_at_synced = Some(cpu.saturating_sub(cpu_base));
            phase.system_cpu_at_synced = Some(system.saturating_sub(system_base));
            phase.unseal_cpu_at_synced = controller
                .metric(UNSEAL_CPU_METRIC)
                .map(|c| c - unseal_cpu0);
            phase.memory = controller.memory().ok();
            progress!(
                "{name}: all {} SealedSecrets Synced after {:.2} s",
                target.count,
                now.as_secs_f64()
            );
        }
        phase.failed = failed;
        if phase.all_secrets.is_some() && phase.all_synced.is_some() {
            break;
        }
        if now > timeout {
            progress!(
                "{name}: TIMEOUT after {:.0} s ({secrets} Secrets, {synced} synced); log tail:\n{}",
                now.as_secs_f64(),
                controller.log_tail(20)
            );
            break;
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            progress!(
                "{name}: {:>6.1} s  Secrets {secrets}/{}  Synced {synced}/{}  Synced=False {failed}  controller CPU {:.2} s  RSS {:.1} MiB  load {}",
                now.as_secs_f64(),
                target.count,
                target.count,
                controller.cpu()?.saturating_sub(cpu_base).as_secs_f64(),
                controller.memory().map_or(0.0, |m| m.rss_kib as f64 / 1024.0),
                load_average()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    phase.apiserver_cpu = process_cpu(servers.apiserver)?.saturating_sub(api0);
    phase.etcd_cpu = process_cpu(servers.etcd)?.saturating_sub(etcd0);
    phase.reconciles = controller.metric(UNSEAL_METRIC).map(|r| r - reconciles0);
    phase.unseal_errors = controller.metric(UNSEAL_ERRORS_METRIC).map(|e| e - errors0);
    phase.events = event_count(client, ns).await?.saturating_sub(events0);
    let (warnings, errors, samples) = controller.log_summary();
    phase.warnings = warnings;
    phase.errors = errors;
    for s in samples {
        progress!("{name}: controller log: {s}");
    }
    phase.load = load_average();
    Ok(phase)
}

struct Report {
    command: String,
    nproc: usize,
    date: String,
    load_start: String,
    load_end: String,
    decrypt: Option<DecryptCost>,
    decrypt_after: Option<DecryptCost>,
    decrypt_parallel_ms: Option<f64>,
    creations: Vec<(&'static str, usize, Duration)>,
    phases: Vec<Phase>,
    sizes: Option<ObjectSizes>,
}

impl Report {
    fn new(args: &Args) -> Self {
        let date = Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d %H:%M:%S UTC")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        Self {
            command: format!(
                "cargo run --release -p sealed-secrets-controller --example bench -- --count {} --rss-count {}",
                args.count, args.rss_count
            ),
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            date,
            load_start: load_average(),
            load_end: String::new(),
            decrypt: None,
            decrypt_after: None,
            decrypt_parallel_ms: None,
            creations: Vec::new(),
            phases: Vec::new(),
            sizes: None,
        }
    }

    fn render(&self) -> String {
        let secs = |d: Option<Duration>| {
            d.map_or("—".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
        };
        let mib = |kib: Option<u64>| {
            kib.map_or("—".to_owned(), |k| {
                format!("{:.1} MiB", k as f64 / 1024.0)
            })
        };
        let mut out = String::new();
        let _ = writeln!(out, "## Controller benchmark\n");
        let _ = writeln!(out, "- command: `{}`", self.command);
        let _ = writeln!(
            out,
            "- machine: {} CPUs, {}; load average (1/5/15 min) {} at start, {} at end",
            self.nproc, self.date, self.load_start, self.load_end
        );
        let decrypt_ms = self
            .decrypt
            .iter()
            .chain(&self.decrypt_after)
            .map(|d| d.cpu_ms)
            .reduce(f64::min);
        if let Some(d) = &self.decrypt {
            let _ = writeln!(
                out,
                "- raw RSA-4096 OAEP unseal of one value (`crds::unseal_bytes`): {:.3} ms CPU, {:.3} ms wall (≈ {:.0}/s per core)",
                d.cpu_ms,
                d.wall_ms,
                1e3 / d.cpu_ms
            );
        }
        if let (Some(after), Some(ms)) = (&self.decrypt_after, decrypt_ms) {
            let _ = writeln!(
                out,
                "- same, measured again after the run: {:.3} ms CPU; the faster, {ms:.3} ms, is the reference below",
                after.cpu_ms
            );
        }
        if let Some(p) = self.decrypt_parallel_ms {
            let _ = writeln!(
                out,
                "- same, with all {} CPUs unsealing at once: {p:.3} ms CPU each",
                self.nproc
            );
        }
        let _ = writeln!(out, "\n| creation via the API | objects | time | rate |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
        for (what, n, d) in &self.creations {
            let _ = writeln!(
                out,
                "| {what} | {n} | {:.2} s | {:.0}/s |",
                d.as_secs_f64(),
                *n as f64 / d.as_secs_f64()
            );
        }
        // One column per phase, one row per measure.
        let mut rows: Vec<(&str, Vec<String>)> = Vec::new();
        let mut row = |label: &'static str, f: &dyn Fn(&Phase) -> String| {
            rows.push((label, self.phases.iter().map(f).collect()));
        };
        let per = |p: &Phase| p.target.count as f64;
        let cpu = |p: &Phase| p.cpu_at_synced.or(p.cpu_at_secrets);
        let cpu_per = |p: &Phase| cpu(p).map(|c| c.as_secs_f64() * 1e3 / per(p));
        let ideal = |p: &Phase| decrypt_ms.map(|d| d * p.target.values as f64);
        row("SealedSecrets × values", &|p| {
            format!("{} × {}", p.target.count, p.target.values)
        });
        row("t0", &|p| {
            if p.target.since_start {
                "controller process start".to_owned()
            } else {
                "first create request".to_owned()
            }
        });
        row("creation of the objects (concurrent)", &|p| {
            secs(p.creation)
        });
        row("first Secret exists", &|p| secs(p.first_secret));
        row("**all Secrets exist**", &|p| secs(p.all_secrets));
        row("all SealedSecrets Synced=True", &|p| secs(p.all_synced));
        row("**SealedSecrets/s** (t0 → all Synced)", &|p| {
            p.all_synced.or(p.all_secrets).map_or("—".to_owned(), |d| {
                format!("{:.0}", per(p) / d.as_secs_f64())
            })
        });
        row("controller CPU (utime+stime)", &|p| secs(cpu(p)));
        row(
            "of which kernel (stime)",
            &|p| match (p.system_cpu_at_synced, p.cpu_at_synced) {
                (Some(s), Some(c)) if !c.is_zero() => format!(
                    "{:.2} s ({:.0} %)",
                    s.as_secs_f64(),
                    100.0 * s.as_secs_f64() / c.as_secs_f64()
                ),
                _ => "—".to_owned(),
            },
        );
        row("**controller CPU ms / SealedSecret**", &|p| {
            cpu_per(p).map_or("—".to_owned(), |c| format!("{c:.2}"))
        });
        row("ideal: values × raw decrypt", &|p| {
            ideal(p).map_or("—".to_owned(), |i| format!("{i:.2} ms"))
        });
        row(
            "RSA share against the raw decrypt measured alone (moves with the host)",
            &|p| match (ideal(p), cpu_per(p)) {
                (Some(i), Some(c)) if c > 0.0 => format!("{:.0} %", 100.0 * i / c),
                _ => "—".to_owned(),
            },
        );
        // Host-independent: both sides are measured in the same process at the same time, so
        // a host that is slower during the run than during the raw measurement does not count.
        row("in place: CPU inside decrypt + render per value", &|p| {
            p.unseal_cpu_at_synced.map_or("—".to_owned(), |u| {
                format!("{:.3} ms", u * 1e3 / (per(p) * p.target.values as f64))
            })
        });
        row(
            "**unsealing share of controller CPU** (in-process; target ≥ 80 %)",
            &|p| match (p.unseal_cpu_at_synced, cpu(p)) {
                (Some(u), Some(c)) if !c.is_zero() => {
                    format!("{:.0} %", 100.0 * u / c.as_secs_f64())
                }
                _ => "—".to_owned(),
            },
        );
        row("reconciles (unseal_requests_total)", &|p| {
            p.reconciles.map_or("—".to_owned(), |r| {
                format!("{r:.0} ({:.2} per object)", r / per(p))
            })
        });
        row("unseal errors (unseal_errors_total)", &|p| {
            // The counter has no series before the first error.
            match (p.unseal_errors, p.reconciles) {
                (Some(e), _) => format!("{e:.0}"),
                (None, Some(_)) => "0".to_owned(),
                (None, None) => "—".to_owned(),
            }
        });
        row("Events recorded", &|p| p.events.to_string());
        row("Synced=False at the end", &|p| p.failed.to_string());
        row("kube-apiserver CPU", &|p| {
            format!("{:.1} s", p.apiserver_cpu.as_secs_f64())
        });
        row("etcd CPU", &|p| {
            format!("{:.1} s", p.etcd_cpu.as_secs_f64())
        });
        // VmHWM only grows: read last, it is the peak of the whole process so far.
        row("**controller peak RSS** (VmHWM, read last)", &|p| {
            mib(p.idle_memory.or(p.memory).map(|m| m.hwm_kib))
        });
        row("controller VmHWM when all Synced", &|p| {
            mib(p.memory.map(|m| m.hwm_kib))
        });
        row("controller VmRSS when all Synced", &|p| {
            mib(p.memory.map(|m| m.rss_kib))
        });
        row("controller VmRSS after 10 s idle", &|p| {
            mib(p.idle_memory.map(|m| m.rss_kib))
        });
        row("controller log WARN / ERROR lines", &|p| {
            format!("{} / {}", p.warnings, p.errors)
        });
        row("load average at the end", &|p| p.load.clone());
        let _ = write!(out, "\n| measure |");
        for p in &self.phases {
            let _ = write!(out, " {} |", p.name);
        }
        let _ = write!(out, "\n| --- |");
        for _ in &self.phases {
            let _ = write!(out, " ---: |");
        }
        let _ = writeln!(out);
        for (label, values) in rows {
            let _ = writeln!(out, "| {label} | {} |", values.join(" | "));
        }
        if let Some(z) = &self.sizes {
            let _ = writeln!(
                out,
                "\nObject sizes as served (JSON) for a 1-value SealedSecret: SealedSecret {} B \
                 (of which managedFields {} B), its Secret {} B, one Event {} B.",
                z.sealed, z.sealed_managed_fields, z.secret, z.event
            );
        }
        out
    }
}

/// JSON sizes of one SealedSecret (and its managedFields), its Secret and one Event.
struct ObjectSizes {
    sealed: usize,
    sealed_managed_fields: usize,
    secret: usize,
    event: usize,
}

async fn object_sizes(client: &Client, ns: &str, name: &str) -> Result<ObjectSizes> {
    let sealed = Api::<SealedSecret>::namespaced(client.clone(), ns)
        .get(name)
        .await?;
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await?;
    let events = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default().limit(1))
        .await?;
    Ok(ObjectSizes {
        sealed: json_len(&sealed),
        sealed_managed_fields: json_len(&sealed.metadata.managed_fields),
        secret: json_len(&secret),
        event: events.items.first().map_or(0, json_len),
    })
}

/// The length of `value` serialized as JSON.
fn json_len<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}
