//! Scale benchmark of the controller binary against a real local control plane (envtest:
//! etcd + kube-apiserver v1.20.2): `N` SealedSecrets across many namespaces, a cold start
//! measured against a plain client doing the same writes, then `K` of them changed at once.
//! A documented benchmark command, not a test in CI.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo run --release -p sealed-secrets-controller --example scale -- \
//!     --count 100000 --namespaces 100 [--changed 1000] [--concurrency C] \
//!     [--create-concurrency C] [--timeout-secs S] [--controller-bin PATH] [--no-build] \
//!     [--log-dir DIR] [--no-baseline] [--controller-env KEY=VALUE]... [--controller-arg ARG]...
//! ```
//!
//! Phases (progress on stderr, a Markdown table on stdout):
//! 1. control plane, key Secret, namespaces `scale-000…` and `baseline-000…` (as many); unless
//!    `--shared-cores`, etcd and kube-apiserver are pinned to CPU 0 and this bench (and so the
//!    controller) to the other CPUs, as on a cluster where the API server has cores of its own;
//! 2. creation (untimed) of `N` objects of a copy of the SealedSecret CRD (group
//!    `baseline.bench`, so that the controller never sees them), then of the `N` SealedSecrets
//!    (1 value each) spread over the `scale-*` namespaces;
//! 3. **plain-client baseline**, timed: `--concurrency` tasks (default 16, the controller's
//!    reconcile concurrency) make the controller's three writes for each baseline object:
//!    create the Secret, create an `Unsealed` Event, PUT the status subresource (`Synced=True`,
//!    `observedGeneration`); then its Secrets and Events are deleted, so that the cold start
//!    runs against the same objects the baseline did;
//! 4. **cold start**: a fresh controller (default flags: all namespaces) until the `N` Secrets
//!    exist and the `N` SealedSecrets are `Synced=True`; ratio to the baseline's time;
//! 5. **steady state**: `K` SealedSecrets re-sealed with a new value at once, until each is
//!    `Synced=True` for its new generation and its Secret holds the new value (every one read).
//!
//! `--no-baseline` skips the baseline (no ratio then).
//!
//! The bench's own watches (every SealedSecret whole, every Secret's metadata, every baseline
//! object whole) run through both timed phases, so each pays for their events alike. The API
//! server's request and watch-event counters of each phase are in the table. Every process is
//! stopped at the end, also on error, SIGINT or SIGTERM.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context as _, Result};
use common::{load_average, process_cpu, process_memory, Memory};
use crds::keygen;
use crds::types::SealedSecretCondition;
use crds::{PublicKey, SealedSecret, SealedSecretStatus};
use envtest::workspace::free_port;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, Namespace, ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams,
};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Api, Client};

const KEY_NS: &str = "scale-keys";
const KEY_SECRET_NAME: &str = "sealed-secrets-key-scale";
const SCALE_PREFIX: &str = "scale-";
const BASE_PREFIX: &str = "baseline-";
const BASE_GROUP: &str = "baseline.bench";
const FIELD_MANAGER: &str = "sealed-secrets-controller";
/// The controller's reconcile concurrency (`RECONCILE_CONCURRENCY` in `main.rs`).
const CONTROLLER_CONCURRENCY: usize = 16;
const POLL: Duration = Duration::from_millis(200);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
const UNSEAL_METRIC: &str = "sealed_secrets_controller_unseal_requests_total";
const UNSEAL_ERRORS_METRIC: &str = "sealed_secrets_controller_unseal_errors_total";

#[derive(Debug)]
struct Args {
    count: usize,
    namespaces: usize,
    changed: usize,
    concurrency: usize,
    create_concurrency: usize,
    timeout: Duration,
    /// Whether to run the plain-client baseline (`--no-baseline`: the controller's memory
    /// without the baseline's Secrets in its Secret watch).
    baseline: bool,
    log_dir: PathBuf,
    build: bool,
    controller_bin: Option<PathBuf>,
    controller_env: Vec<(String, String)>,
    controller_args: Vec<String>,
    /// `--shared-cores`: leave every process on every CPU (by default etcd and kube-apiserver
    /// get CPU 0 and this bench and the controller the others, as on a cluster where the API
    /// server has cores of its own).
    shared_cores: bool,
}

const USAGE: &str =
    "usage: scale [--count N (10000)] [--namespaces NS (100)] [--changed K (1000)] \
    [--concurrency C (16)] [--create-concurrency C (16)] [--timeout-secs S (3600)] \
    [--log-dir DIR] [--no-build] [--no-baseline] [--shared-cores] [--controller-bin PATH] [--controller-env KEY=VALUE]... \
    [--controller-arg ARG]...";

impl Args {
    fn parse() -> Result<Self> {
        let mut args = Args {
            count: 10_000,
            namespaces: 100,
            changed: 1000,
            concurrency: CONTROLLER_CONCURRENCY,
            create_concurrency: 16,
            timeout: Duration::from_secs(3600),
            baseline: true,
            log_dir: PathBuf::from("/tmp/controller-scale-logs"),
            build: true,
            controller_bin: None,
            controller_env: Vec::new(),
            controller_args: Vec::new(),
            shared_cores: false,
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
                "--namespaces" => args.namespaces = value()?.parse().context("--namespaces")?,
                "--changed" => args.changed = value()?.parse().context("--changed")?,
                "--concurrency" => args.concurrency = value()?.parse().context("--concurrency")?,
                "--create-concurrency" => {
                    args.create_concurrency = value()?.parse().context("--create-concurrency")?;
                }
                "--timeout-secs" => {
                    args.timeout = Duration::from_secs(value()?.parse().context("--timeout-secs")?);
                }
                "--log-dir" => args.log_dir = PathBuf::from(value()?),
                "--no-build" => args.build = false,
                "--no-baseline" => args.baseline = false,
                "--shared-cores" => args.shared_cores = true,
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
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?} (see --help)"),
            }
        }
        args.check()?;
        Ok(args)
    }

    fn check(&self) -> Result<()> {
        if self.count == 0 || self.concurrency == 0 || self.create_concurrency == 0 {
            bail!("--count, --concurrency and --create-concurrency must be positive");
        }
        if !(1..=1000).contains(&self.namespaces) {
            bail!("--namespaces must be between 1 and 1000");
        }
        if self.changed > self.count {
            bail!("--changed must not exceed --count");
        }
        Ok(())
    }
}

macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("[scale {:>7.1}s] {}", started().elapsed().as_secs_f64(), format_args!($($arg)*))
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

/// Where SealedSecret `i` of `n_ns` namespaces lives: (namespace, name).
fn placement(prefix: &str, i: usize, n_ns: usize) -> (String, String) {
    (format!("{prefix}{:03}", i % n_ns), format!("s-{i:06}"))
}

/// The plaintext of value `i` at `round` (1 at creation, 2 after the steady-state change).
fn plain_value(i: usize, round: u32) -> String {
    format!(
        "value-{i:06}-round-{round}-{:016x}",
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
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

    let t = Instant::now();
    progress!("starting the control plane (etcd + kube-apiserver)");
    let cp = envtest::ControlPlane::start().await?;
    let crd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/sealedsecrets.bitnami.com.yaml");
    cp.install_crd(&crd).await?;
    let base_crd = baseline_crd_file(&crd, &args.log_dir)?;
    cp.install_crd(&base_crd).await?;
    let client = cp.client()?;
    let public = create_key(&client).await?;
    create_namespaces(&client, args.namespaces).await?;
    report.setup = t.elapsed();
    progress!(
        "control plane ready at {} ({:.1} s)",
        cp.server_url(),
        report.setup.as_secs_f64()
    );
    let servers = ServerPids {
        apiserver: cp.apiserver_pid(),
        etcd: cp.etcd_pid(),
    };
    report.cores = if args.shared_cores {
        "shared: every process on every CPU (`--shared-cores`)".to_owned()
    } else {
        split_cores(&servers)?
    };
    progress!("CPUs: {}", report.cores);

    // The trackers' watches run during the baseline too, so that it pays for their fan-out of
    // events as the cold start does: the Secret tracker sees both phases' Secrets, and the
    // baseline's objects have a full-object watch of their own, as the SealedSecrets do.
    let seal_tracker = sealed_tracker(client.clone());
    let secret_tracker = secret_tracker(client.clone());
    let base_tracker = base_tracker(client.clone());
    // Both sets exist before either timed phase, and the baseline's writes are removed after
    // it: each phase runs against the same objects (the API server's heap, and so its garbage
    // collection, as large in both).
    let prepared = match args.baseline {
        true => Some(prepare_baseline(&client, &public, &args).await?),
        false => None,
    };
    report.creation = Some(create_scale_set(&client, &public, &args).await?);
    if let Some(prepared) = prepared {
        let requests0 = ApiRequests::scrape(&client).await?;
        let mut base = baseline(&client, prepared, &args, &servers).await?;
        base.requests = ApiRequests::scrape(&client).await?.since(&requests0);
        base.cleared = clear_baseline_writes(&client, args.namespaces).await?;
        report.baseline = Some(base);
    }
    drop(base_tracker);

    let launch = Launch {
        bin: controller_bin,
        kubeconfig: cp.kubeconfig_path().to_path_buf(),
        env: args.controller_env.clone(),
        args: args.controller_args.clone(),
    };
    let mut controller = Controller::start(&launch, &args.log_dir.join("cold.log"))?;
    let trackers = (&seal_tracker, &secret_tracker);
    let requests0 = ApiRequests::scrape(&client).await?;
    let mut cold = cold_start(&client, trackers, &mut controller, &servers, &args).await?;
    cold.requests = cold.requests.since(&requests0);
    report.cold = Some(cold);
    if args.changed > 0 {
        let steady = steady_state(
            &client,
            &public,
            &seal_tracker,
            &mut controller,
            &servers,
            &args,
        );
        report.steady = Some(steady.await?);
    }
    report.log = controller.log_summary();
    controller.stop();
    report.load_end = load_average();
    progress!("stopping the control plane");
    drop((seal_tracker, secret_tracker));
    drop(cp);
    println!("{}", report.render());
    progress!("controller log in {}", args.log_dir.display());
    Ok(())
}

/// `<target>/<profile>/sealed-secrets-controller`, next to this example's directory; built
/// first unless `build` is false.
fn controller_binary(build: bool) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the scale executable")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("unexpected scale location {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| anyhow!("unexpected scale location {}", exe.display()))?;
    if build {
        progress!("cargo build --release -p sealed-secrets-controller");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "sealed-secrets-controller"])
            .args(["--bin", "sealed-secrets-controller"])
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
        bail!("{} not found: build it first", bin.display());
    }
    Ok(bin)
}

/// The SealedSecret CRD under group `baseline.bench` (same schema, status subresource), written
/// next to the logs: the baseline's objects, which the controller must not see.
fn baseline_crd_file(crd: &Path, dir: &Path) -> Result<PathBuf> {
    let text =
        std::fs::read_to_string(crd).with_context(|| format!("reading {}", crd.display()))?;
    let copy = text
        .replace(
            "sealedsecrets.bitnami.com",
            &format!("sealedsecrets.{BASE_GROUP}"),
        )
        .replace("group: bitnami.com", &format!("group: {BASE_GROUP}"));
    if copy == text {
        bail!("{} has no group to replace", crd.display());
    }
    let path = dir.join("baseline-crd.yaml");
    std::fs::write(&path, copy).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn base_resource() -> ApiResource {
    ApiResource {
        group: BASE_GROUP.to_owned(),
        version: "v1alpha1".to_owned(),
        api_version: format!("{BASE_GROUP}/v1alpha1"),
        kind: "SealedSecret".to_owned(),
        plural: "sealedsecrets".to_owned(),
    }
}

/// Generates the 4096-bit key, stores it as the controller's key Secret in [`KEY_NS`] and
/// returns its public key.
async fn create_key(client: &Client) -> Result<PublicKey> {
    progress!("generating the 4096-bit sealing key");
    let ten_years = Duration::from_secs(10 * 365 * 24 * 3600);
    let key = keygen::generate(4096, "", SystemTime::now(), ten_years)?;
    create_namespace(client, KEY_NS).await?;
    let no_map = BTreeMap::new();
    let mut secret = keygen::key_secret(&key, "sealed-secrets-key", KEY_NS, &no_map, &no_map)?;
    secret.metadata.generate_name = None;
    secret.metadata.name = Some(KEY_SECRET_NAME.to_owned());
    Api::<Secret>::namespaced(client.clone(), KEY_NS)
        .create(&PostParams::default(), &secret)
        .await
        .context("creating the key Secret")?;
    Ok(key.certificate.public_key().clone())
}

async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// `scale-000…` and `baseline-000…`, `n` of each.
async fn create_namespaces(client: &Client, n: usize) -> Result<()> {
    let names: Vec<String> = [SCALE_PREFIX, BASE_PREFIX]
        .iter()
        .flat_map(|p| (0..n).map(move |i| format!("{p}{i:03}")))
        .collect();
    futures::stream::iter(names)
        .map(|name| async move { create_namespace(client, &name).await })
        .buffer_unordered(8)
        .collect::<Vec<Result<()>>>()
        .await
        .into_iter()
        .collect()
}

/// Runs `f(0..total)` with `concurrency` in flight, logging the rate and ETA every few seconds;
/// returns the elapsed time. The first error stops it.
async fn for_each_bounded<F, Fut>(
    what: &str,
    total: usize,
    concurrency: usize,
    f: F,
) -> Result<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let t0 = Instant::now();
    let mut last = Instant::now();
    let mut done = 0usize;
    let mut stream = futures::stream::iter(0..total)
        .map(f)
        .buffer_unordered(concurrency);
    while let Some(result) = stream.next().await {
        result?;
        done += 1;
        if last.elapsed() >= PROGRESS_EVERY && done < total {
            last = Instant::now();
            let rate = done as f64 / t0.elapsed().as_secs_f64();
            let eta = (total - done) as f64 / rate.max(1e-9);
            progress!("{what}: {done}/{total} ({rate:.0}/s, ETA {eta:.0} s)");
        }
    }
    let elapsed = t0.elapsed();
    progress!(
        "{what}: {total} in {:.2} s ({:.0}/s, {concurrency} in flight)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    Ok(elapsed)
}

/// Seals the one-value Secret `ns/name` holding `value` under key `value`.
fn seal_one(public: &PublicKey, ns: &str, name: &str, value: String) -> Result<SealedSecret> {
    let data = BTreeMap::from([("value".to_owned(), ByteString(value.into_bytes()))]);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(data),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    };
    Ok(crds::seal_secret(
        secret,
        public,
        &crds::SealOptions::default(),
    )?)
}

/// Creates the `N` SealedSecrets of the scale set, sealing each on the way.
async fn create_scale_set(client: &Client, public: &PublicKey, args: &Args) -> Result<Duration> {
    let n_ns = args.namespaces;
    let create = |i: usize| async move {
        let (ns, name) = placement(SCALE_PREFIX, i, n_ns);
        let sealed = seal_one(public, &ns, &name, plain_value(i, 1))?;
        Api::<SealedSecret>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &sealed)
            .await
            .with_context(|| format!("creating SealedSecret {ns}/{name}"))?;
        Ok(())
    };
    for_each_bounded(
        "creating SealedSecrets",
        args.count,
        args.create_concurrency,
        create,
    )
    .await
}

/// What the baseline measured.
struct Baseline {
    prepare: Duration,
    writes: Duration,
    /// Removing the baseline's Secrets and Events afterwards (untimed).
    cleared: Duration,
    apiserver_cpu: Duration,
    etcd_cpu: Duration,
    /// The API server's requests and watch events during the timed writes.
    requests: ApiRequests,
}

/// A baseline object as created: what the status PUT needs.
struct BaseItem {
    uid: String,
    resource_version: String,
    generation: Option<i64>,
}

/// The baseline's objects, created (untimed) and waiting for their writes.
struct Prepared {
    template: serde_json::Value,
    items: Vec<Mutex<Option<BaseItem>>>,
    took: Duration,
}

/// Creates `N` baseline objects (untimed).
async fn prepare_baseline(client: &Client, public: &PublicKey, args: &Args) -> Result<Prepared> {
    let template = base_template(public)?;
    let items: Vec<Mutex<Option<BaseItem>>> = (0..args.count).map(|_| Mutex::new(None)).collect();
    let n_ns = args.namespaces;
    let prepare = for_each_bounded(
        "baseline: creating objects",
        args.count,
        args.create_concurrency,
        |i| {
            let (template, items) = (&template, &items);
            async move {
                let item = create_base_object(client, template, i, n_ns).await?;
                *lock(&items[i]) = Some(item);
                Ok(())
            }
        },
    )
    .await?;
    Ok(Prepared {
        template,
        items,
        took: prepare,
    })
}

/// Times the controller's three writes for each baseline object.
async fn baseline(
    client: &Client,
    prepared: Prepared,
    args: &Args,
    servers: &ServerPids,
) -> Result<Baseline> {
    let Prepared {
        template,
        items,
        took: prepare,
    } = prepared;
    let n_ns = args.namespaces;
    let (api0, etcd0) = (process_cpu(servers.apiserver)?, process_cpu(servers.etcd)?);
    let writes = for_each_bounded(
        "baseline: the controller's writes",
        args.count,
        args.concurrency,
        |i| {
            let (template, items) = (&template, &items);
            async move {
                let item = lock(&items[i])
                    .take()
                    .ok_or_else(|| anyhow!("baseline object {i} was not created"))?;
                base_writes(client, template, i, n_ns, item).await
            }
        },
    )
    .await?;
    Ok(Baseline {
        prepare,
        writes,
        apiserver_cpu: process_cpu(servers.apiserver)?.saturating_sub(api0),
        etcd_cpu: process_cpu(servers.etcd)?.saturating_sub(etcd0),
        requests: ApiRequests::default(),
        cleared: Duration::ZERO,
    })
}

/// Deletes the baseline's Secrets and Events (one `deletecollection` each per namespace).
async fn clear_baseline_writes(client: &Client, n_ns: usize) -> Result<Duration> {
    let t = Instant::now();
    progress!("baseline: removing its Secrets and Events");
    for i in 0..n_ns {
        let ns = format!("{BASE_PREFIX}{i:03}");
        let (dp, lp) = (DeleteParams::default(), ListParams::default());
        Api::<Secret>::namespaced(client.clone(), &ns)
            .delete_collection(&dp, &lp)
            .await
            .with_context(|| format!("deleting the Secrets of {ns}"))?;
        Api::<Event>::namespaced(client.clone(), &ns)
            .delete_collection(&dp, &lp)
            .await
            .with_context(|| format!("deleting the Events of {ns}"))?;
    }
    Ok(t.elapsed())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One sealed one-value SealedSecret as JSON (group `baseline.bench`), the body of every
/// baseline object: those are never unsealed, so one ciphertext serves for all.
fn base_template(public: &PublicKey) -> Result<serde_json::Value> {
    let sealed = seal_one(public, "baseline-000", "s-000000", plain_value(0, 1))?;
    let mut value = serde_json::to_value(&sealed)?;
    value["apiVersion"] = serde_json::Value::String(format!("{BASE_GROUP}/v1alpha1"));
    Ok(value)
}

fn base_object(template: &serde_json::Value, ns: &str, name: &str) -> serde_json::Value {
    let mut value = template.clone();
    value["metadata"] = serde_json::json!({"name": name, "namespace": ns});
    value
}

async fn create_base_object(
    client: &Client,
    template: &serde_json::Value,
    i: usize,
    n_ns: usize,
) -> Result<BaseItem> {
    let (ns, name) = placement(BASE_PREFIX, i, n_ns);
    let object: DynamicObject = serde_json::from_value(base_object(template, &ns, &name))?;
    let created = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &base_resource())
        .create(&PostParams::default(), &object)
        .await
        .with_context(|| format!("creating baseline object {ns}/{name}"))?;
    let meta = created.metadata;
    Ok(BaseItem {
        uid: meta.uid.ok_or_else(|| anyhow!("{ns}/{name} has no uid"))?,
        resource_version: meta.resource_version.unwrap_or_default(),
        generation: meta.generation,
    })
}

/// The controller's three writes for baseline object `i`: its Secret, an `Unsealed` Event, and
/// its status.
async fn base_writes(
    client: &Client,
    template: &serde_json::Value,
    i: usize,
    n_ns: usize,
    item: BaseItem,
) -> Result<()> {
    let (ns, name) = placement(BASE_PREFIX, i, n_ns);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let secret = base_secret(&ns, &name, &item, i);
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&params, &secret)
        .await
        .with_context(|| format!("baseline: creating Secret {ns}/{name}"))?;
    let event = unsealed_event(&ns, &name, &item);
    Api::<Event>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &event)
        .await
        .with_context(|| format!("baseline: creating the Event of {ns}/{name}"))?;
    let body = base_status_body(template, &ns, &name, &item)?;
    Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &base_resource())
        .replace_status(&name, &params, &body)
        .await
        .with_context(|| format!("baseline: updating the status of {ns}/{name}"))?;
    Ok(())
}

/// The Secret the controller would write for baseline object `i` (owner reference included).
fn base_secret(ns: &str, name: &str, item: &BaseItem, i: usize) -> Secret {
    let data = BTreeMap::from([(
        "value".to_owned(),
        ByteString(plain_value(i, 1).into_bytes()),
    )]);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            owner_references: Some(vec![OwnerReference {
                api_version: format!("{BASE_GROUP}/v1alpha1"),
                kind: "SealedSecret".to_owned(),
                name: name.to_owned(),
                uid: item.uid.clone(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        },
        data: Some(data),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    }
}

/// An `Unsealed` Event as the controller records it.
fn unsealed_event(ns: &str, name: &str, item: &BaseItem) -> Event {
    let now = k8s_openapi::jiff::Timestamp::now();
    let component = Some("sealed-secrets-controller".to_owned());
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(ns.to_owned()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(format!("{BASE_GROUP}/v1alpha1")),
            kind: Some("SealedSecret".to_owned()),
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            uid: Some(item.uid.clone()),
            resource_version: Some(item.resource_version.clone()),
            ..ObjectReference::default()
        },
        reason: Some("Unsealed".to_owned()),
        message: Some("SealedSecret unsealed successfully".to_owned()),
        type_: Some("Normal".to_owned()),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        source: Some(EventSource {
            component: component.clone(),
            host: None,
        }),
        reporting_component: component,
        reporting_instance: Some("scale-baseline".to_owned()),
        ..Event::default()
    }
}

/// The whole object with `Synced=True` for its generation, as the controller PUTs it.
fn base_status_body(
    template: &serde_json::Value,
    ns: &str,
    name: &str,
    item: &BaseItem,
) -> Result<DynamicObject> {
    let mut value = base_object(template, ns, name);
    value["metadata"]["uid"] = item.uid.clone().into();
    value["metadata"]["resourceVersion"] = item.resource_version.clone().into();
    value["metadata"]["generation"] = item.generation.into();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let status = SealedSecretStatus {
        observed_generation: item.generation,
        conditions: vec![SealedSecretCondition {
            type_: "Synced".to_owned(),
            status: "True".to_owned(),
            last_update_time: Some(now.clone()),
            last_transition_time: Some(now),
            reason: None,
            message: None,
        }],
    };
    value["status"] = serde_json::to_value(status)?;
    Ok(serde_json::from_value(value)?)
}

fn in_scale(ns: Option<&str>) -> bool {
    ns.is_some_and(|ns| ns.starts_with(SCALE_PREFIX) && ns != KEY_NS)
}

fn object_key(ns: Option<&str>, name: Option<&str>) -> String {
    format!("{}/{}", ns.unwrap_or_default(), name.unwrap_or_default())
}

/// One watched SealedSecret: its generation and whether it is `Synced` for it.
#[derive(Clone, Copy)]
struct SealedState {
    generation: Option<i64>,
    synced: Option<bool>,
}

/// What one cluster-wide watch (listed in pages of 500) has seen of the objects of the
/// `scale-*` namespaces: a value per `namespace/name`, kept up to date until dropped.
struct Tracker<V> {
    state: Arc<Mutex<HashMap<String, V>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<V: Send + 'static> Tracker<V> {
    fn start<K>(api: Api<K>, what: &'static str, value: fn(&K) -> V) -> Self
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        Self::start_in(api, what, value, in_scale)
    }

    /// Like [`Tracker::start`], for the objects of the namespaces `keep` accepts.
    fn start_in<K>(
        api: Api<K>,
        what: &'static str,
        value: fn(&K) -> V,
        keep: fn(Option<&str>) -> bool,
    ) -> Self
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        let state = Arc::new(Mutex::new(HashMap::new()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                        let meta = o.meta();
                        if keep(meta.namespace.as_deref()) {
                            let key = object_key(meta.namespace.as_deref(), meta.name.as_deref());
                            lock(&shared).insert(key, value(&o));
                        }
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        let meta = o.meta();
                        let key = object_key(meta.namespace.as_deref(), meta.name.as_deref());
                        lock(&shared).remove(&key);
                    }
                    Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
                    Err(e) => {
                        progress!("{what} watch failed ({e}); retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Self { state, task }
    }

    /// How many objects exist.
    fn count(&self) -> usize {
        lock(&self.state).len()
    }
}

impl<V> Drop for Tracker<V> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every SealedSecret's generation and `Synced` state.
type SealedTracker = Tracker<SealedState>;

/// Which Secrets exist (a metadata-only watch).
type SecretTracker = Tracker<()>;

fn sealed_tracker(client: Client) -> SealedTracker {
    Tracker::start(Api::<SealedSecret>::all(client), "SealedSecret", |s| {
        SealedState {
            generation: s.metadata.generation,
            synced: synced(s),
        }
    })
}

/// The baseline's objects, watched whole as [`sealed_tracker`] watches the SealedSecrets (what
/// it sees is not used: it is there for its cost).
fn base_tracker(client: Client) -> Tracker<()> {
    Tracker::start_in(
        Api::<DynamicObject>::all_with(client, &base_resource()),
        "baseline object",
        |_| (),
        |ns| ns.is_some_and(|ns| ns.starts_with(BASE_PREFIX)),
    )
}

fn secret_tracker(client: Client) -> SecretTracker {
    Tracker::start(
        Api::<PartialObjectMeta<Secret>>::all(client),
        "Secret",
        |_| (),
    )
}

impl Tracker<SealedState> {
    /// (Synced=True, Synced=False) for the current generation.
    fn counts(&self) -> (usize, usize) {
        let state = lock(&self.state);
        let ok = state.values().filter(|s| s.synced == Some(true)).count();
        let failed = state.values().filter(|s| s.synced == Some(false)).count();
        (ok, failed)
    }

    /// How many of `targets` are `Synced=True` at (at least) the given generation.
    fn synced_at(&self, targets: &[(String, i64)]) -> usize {
        let state = lock(&self.state);
        targets
            .iter()
            .filter(|(key, generation)| {
                state.get(key).is_some_and(|s| {
                    s.synced == Some(true) && s.generation.is_some_and(|g| g >= *generation)
                })
            })
            .count()
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

/// Events in the `scale-*` namespaces (the controller's only), counted cheaply: one item and
/// `remainingItemCount` per namespace. Not cluster-wide: the baseline's Events may expire
/// (the API server's 1 h event TTL) during a long run.
async fn scale_events(client: &Client, n_ns: usize) -> Result<usize> {
    let mut total = 0;
    for i in 0..n_ns {
        let ns = format!("{SCALE_PREFIX}{i:03}");
        let list = Api::<Event>::namespaced(client.clone(), &ns)
            .list(&ListParams::default().limit(1))
            .await
            .with_context(|| format!("counting the Events of {ns}"))?;
        let remaining = list
            .metadata
            .remaining_item_count
            .and_then(|r| usize::try_from(r).ok())
            .unwrap_or(0);
        total += list.items.len() + remaining;
    }
    Ok(total)
}

struct ServerPids {
    apiserver: u32,
    etcd: u32,
}

impl ServerPids {
    /// (kube-apiserver, etcd) CPU so far.
    fn cpu(&self) -> Result<(Duration, Duration)> {
        Ok((process_cpu(self.apiserver)?, process_cpu(self.etcd)?))
    }
}

/// Pins etcd and kube-apiserver (every thread) to CPU 0 and this process (every thread, so
/// also the controller it starts) to the other CPUs; a description for the report.
fn split_cores(servers: &ServerPids) -> Result<String> {
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    if n < 2 {
        return Ok("shared: one CPU".to_owned());
    }
    let rest = if n == 2 {
        "1".to_owned()
    } else {
        format!("1-{}", n - 1)
    };
    for (pid, cpus) in [
        (servers.etcd, "0".to_owned()),
        (servers.apiserver, "0".to_owned()),
        (std::process::id(), rest.clone()),
    ] {
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", &cpus, &pid.to_string()])
            .stdout(Stdio::null())
            .status()
            .context("running taskset (util-linux)")?;
        if !status.success() {
            bail!("taskset -a -p -c {cpus} {pid} failed ({status})");
        }
    }
    Ok(format!(
        "split: etcd + kube-apiserver on CPU 0; this bench and the controller on CPU {rest}"
    ))
}

/// The API server's own counters: requests by verb and resource, watch events by kind.
#[derive(Default, Clone)]
struct ApiRequests {
    counts: BTreeMap<String, f64>,
}

impl ApiRequests {
    /// Reads `apiserver_request_total` and `apiserver_watch_events_total` from `/metrics`.
    async fn scrape(client: &Client) -> Result<Self> {
        let text = envtest::metrics::api_server_text(client).await?;
        let mut counts = BTreeMap::new();
        let requests = envtest::metrics::samples(&text, "apiserver_request_total");
        let watch_events = envtest::metrics::samples(&text, "apiserver_watch_events_total");
        for (labels, value) in requests {
            *counts.entry(request_key(&labels)).or_insert(0.0) += value;
        }
        for (labels, value) in watch_events {
            let kind = labels.get("kind").map_or("-", String::as_str);
            *counts.entry(format!("watch events: {kind}")).or_insert(0.0) += value;
        }
        Ok(Self { counts })
    }

    /// The counts since `earlier`, without those that did not move.
    fn since(&self, earlier: &Self) -> Self {
        let counts = self
            .counts
            .iter()
            .map(|(k, v)| (k.clone(), v - earlier.counts.get(k).copied().unwrap_or(0.0)))
            .filter(|(_, v)| *v >= 1.0)
            .collect();
        Self { counts }
    }

    /// `verb resource/subresource: n` for the busiest series, most first.
    fn summary(&self, max: usize) -> String {
        let mut all: Vec<_> = self.counts.iter().collect();
        all.sort_by(|a, b| b.1.total_cmp(a.1));
        let parts: Vec<String> = all
            .iter()
            .take(max)
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect();
        parts.join(", ")
    }
}

/// `verb resource[/subresource]` of an `apiserver_request_total` series.
fn request_key(labels: &BTreeMap<String, String>) -> String {
    let label = |name: &str| labels.get(name).map_or("", String::as_str);
    let resource = Some(label("resource"))
        .filter(|r| !r.is_empty())
        .unwrap_or("-");
    match label("subresource") {
        "" => format!("{} {resource}", label("verb")),
        sub => format!("{} {resource}/{sub}", label("verb")),
    }
}

/// How controller processes are started.
struct Launch {
    bin: PathBuf,
    kubeconfig: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

/// A controller process, killed on drop; its stderr goes to `log`.
struct Controller {
    child: Child,
    pid: u32,
    started: Instant,
    log: PathBuf,
    metrics_port: u16,
}

/// WARN and ERROR lines of a controller log, with a few distinct messages.
#[derive(Default)]
struct LogSummary {
    warnings: usize,
    errors: usize,
    samples: Vec<String>,
}

impl Controller {
    /// Starts a controller with default flags (all namespaces), its keys in [`KEY_NS`], its
    /// ports on loopback.
    fn start(launch: &Launch, log: &Path) -> Result<Self> {
        let api_port = free_port()?;
        let metrics_port = free_port()?;
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let started = Instant::now();
        let child = Command::new(&launch.bin)
            .env("POD_NAMESPACE", KEY_NS)
            .env_remove("RUST_LOG")
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .arg("--kubeconfig")
            .arg(&launch.kubeconfig)
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
            "controller started (pid {pid}, all namespaces, log {})",
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

    fn log_summary(&self) -> LogSummary {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut summary = LogSummary::default();
        // envtest's kubeconfig skips TLS verification: kube warns on every connection.
        for line in text.lines().filter(|l| !l.contains("Server cert bypassed")) {
            let is_warn = line.contains(" WARN ");
            let is_error = line.contains(" ERROR ");
            summary.warnings += usize::from(is_warn);
            summary.errors += usize::from(is_error);
            if (is_warn || is_error) && summary.samples.len() < 5 {
                // Drop the timestamp so repeated messages compare equal.
                let message = line.split_once(' ').map_or(line, |(_, m)| m).to_owned();
                if !summary.samples.contains(&message) {
                    summary.samples.push(message);
                }
            }
        }
        summary
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

    /// `unseal_errors_total` (no series before the first error: 0).
    fn unseal_errors(&self) -> Option<f64> {
        match (
            self.metric(UNSEAL_ERRORS_METRIC),
            self.metric(UNSEAL_METRIC),
        ) {
            (Some(e), _) => Some(e),
            (None, Some(_)) => Some(0.0),
            (None, None) => None,
        }
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

/// What the cold start measured; times are from the controller's process start.
#[derive(Default)]
struct Cold {
    first_secret: Option<Duration>,
    all_secrets: Option<Duration>,
    all_synced: Option<Duration>,
    timed_out: bool,
    cpu: Duration,
    memory: Option<Memory>,
    idle_memory: Option<Memory>,
    apiserver_cpu: Duration,
    etcd_cpu: Duration,
    reconciles: Option<f64>,
    unseal_errors: Option<f64>,
    events: usize,
    failed: usize,
    /// The API server's requests and watch events until all were Synced (cumulative until
    /// `run` subtracts the counts at the start).
    requests: ApiRequests,
}

/// Waits until the `N` Secrets exist and the `N` SealedSecrets are `Synced=True`, then 10 s
/// idle.
async fn cold_start(
    client: &Client,
    (seals, secrets): (&SealedTracker, &SecretTracker),
    controller: &mut Controller,
    servers: &ServerPids,
    args: &Args,
) -> Result<Cold> {
    let n = args.count;
    let events0 = scale_events(client, args.namespaces).await?;
    let (api0, etcd0) = servers.cpu()?;
    let t0 = controller.started;
    let mut cold = Cold::default();
    let mut meter = Meter::new("cold start", n);
    progress!("cold start: waiting for {n} Secrets and {n} Synced SealedSecrets");
    loop {
        controller.check_alive()?;
        let now = t0.elapsed();
        let (have, (ok, failed)) = (secrets.count(), seals.counts());
        cold.failed = failed;
        if have > 0 && cold.first_secret.is_none() {
            cold.first_secret = Some(now);
        }
        if have >= n && cold.all_secrets.is_none() {
            cold.all_secrets = Some(now);
            progress!(
                "cold start: all {n} Secrets exist after {:.2} s",
                now.as_secs_f64()
            );
        }
        if ok >= n {
            cold.all_synced = Some(now);
            cold.cpu = controller.cpu()?;
            cold.memory = controller.memory().ok();
            progress!(
                "cold start: all {n} SealedSecrets Synced after {:.2} s",
                now.as_secs_f64()
            );
            break;
        }
        if now > args.timeout {
            cold.timed_out = true;
            cold.cpu = controller.cpu()?;
            progress!(
                "cold start: TIMEOUT ({have} Secrets, {ok} Synced); log tail:\n{}",
                controller.log_tail(20)
            );
            break;
        }
        meter.tick(ok, Some(have), failed, controller);
        tokio::time::sleep(POLL).await;
    }
    let (api1, etcd1) = servers.cpu()?;
    cold.requests = ApiRequests::scrape(client).await?;
    cold.apiserver_cpu = api1.saturating_sub(api0);
    cold.etcd_cpu = etcd1.saturating_sub(etcd0);
    cold.reconciles = controller.metric(UNSEAL_METRIC);
    cold.unseal_errors = controller.unseal_errors();
    cold.events = scale_events(client, args.namespaces)
        .await?
        .saturating_sub(events0);
    progress!("cold start: waiting 10 s idle");
    tokio::time::sleep(Duration::from_secs(10)).await;
    cold.idle_memory = controller.memory().ok();
    Ok(cold)
}

/// Progress lines of a wait: every few seconds, with the recent rate and an ETA.
struct Meter {
    what: &'static str,
    total: usize,
    t0: Instant,
    last: Instant,
    last_done: usize,
}

impl Meter {
    fn new(what: &'static str, total: usize) -> Self {
        Self {
            what,
            total,
            t0: Instant::now(),
            last: Instant::now(),
            last_done: 0,
        }
    }

    fn tick(
        &mut self,
        done: usize,
        secrets: Option<usize>,
        failed: usize,
        controller: &Controller,
    ) {
        if self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        let rate = done.saturating_sub(self.last_done) as f64 / self.last.elapsed().as_secs_f64();
        let eta = self.total.saturating_sub(done) as f64 / rate.max(1e-9);
        let eta = if rate > 0.0 {
            format!("{eta:.0} s")
        } else {
            "?".to_owned()
        };
        let secrets = secrets.map_or(String::new(), |n| format!("  Secrets {n}"));
        let memory = controller.memory().ok();
        let mib = |f: fn(&Memory) -> u64| memory.as_ref().map_or(0.0, |m| f(m) as f64 / 1024.0);
        progress!(
            "{}: {:>6.1} s  Synced {done}/{}{secrets}  Synced=False {failed}  {rate:.0}/s  ETA {eta}  controller CPU {:.1} s  RSS {:.1} MiB (peak {:.1})  load {}",
            self.what,
            self.t0.elapsed().as_secs_f64(),
            self.total,
            controller.cpu().map_or(0.0, |c| c.as_secs_f64()),
            mib(|m| m.rss_kib),
            mib(|m| m.hwm_kib),
            load_average()
        );
        self.last = Instant::now();
        self.last_done = done;
    }
}

/// What the steady-state change measured; times are from the first change request.
#[derive(Default)]
struct Steady {
    changed: usize,
    patch: Duration,
    all_synced: Option<Duration>,
    all_verified: Option<Duration>,
    wrong_values: usize,
    timed_out: bool,
    cpu: Duration,
    apiserver_cpu: Duration,
    etcd_cpu: Duration,
    reconciles: Option<f64>,
    unseal_errors: Option<f64>,
    events: usize,
    memory: Option<Memory>,
}

/// In-flight change requests of the steady state ("at once").
const CHANGE_CONCURRENCY: usize = 64;

/// Re-seals `K` SealedSecrets (spread over the set) with a new value, then waits until each is
/// `Synced=True` for its new generation and its Secret holds the new value.
async fn steady_state(
    client: &Client,
    public: &PublicKey,
    seals: &SealedTracker,
    controller: &mut Controller,
    servers: &ServerPids,
    args: &Args,
) -> Result<Steady> {
    let k = args.changed;
    let indices: Vec<usize> = (0..k).map(|j| j * args.count / k).collect();
    let (cpu0, reconciles0) = (
        controller.cpu()?,
        controller.metric(UNSEAL_METRIC).unwrap_or(0.0),
    );
    let errors0 = controller.unseal_errors().unwrap_or(0.0);
    let events0 = scale_events(client, args.namespaces).await?;
    let (api0, etcd0) = servers.cpu()?;
    let mut steady = Steady {
        changed: k,
        ..Steady::default()
    };
    let t0 = Instant::now();
    let targets = change_all(client, public, &indices, args.namespaces).await?;
    steady.patch = t0.elapsed();
    wait_changed(
        client,
        seals,
        controller,
        &targets,
        &indices,
        args,
        t0,
        &mut steady,
    )
    .await?;
    let (api1, etcd1) = servers.cpu()?;
    steady.cpu = controller.cpu()?.saturating_sub(cpu0);
    steady.apiserver_cpu = api1.saturating_sub(api0);
    steady.etcd_cpu = etcd1.saturating_sub(etcd0);
    steady.reconciles = controller.metric(UNSEAL_METRIC).map(|r| r - reconciles0);
    steady.unseal_errors = controller.unseal_errors().map(|e| e - errors0);
    steady.events = scale_events(client, args.namespaces)
        .await?
        .saturating_sub(events0);
    steady.memory = controller.memory().ok();
    Ok(steady)
}

/// Merge-patches a freshly sealed value into each SealedSecret's `encryptedData`; returns
/// (key, new generation) of each.
async fn change_all(
    client: &Client,
    public: &PublicKey,
    indices: &[usize],
    n_ns: usize,
) -> Result<Vec<(String, i64)>> {
    let generations: Vec<Mutex<Option<i64>>> = indices.iter().map(|_| Mutex::new(None)).collect();
    let change = |j: usize| {
        let generations = &generations;
        async move {
            let i = indices[j];
            let (ns, name) = placement(SCALE_PREFIX, i, n_ns);
            let sealed = seal_one(public, &ns, &name, plain_value(i, 2))?;
            let patch = serde_json::json!({"spec": {"encryptedData": sealed.spec.encrypted_data}});
            let changed = Api::<SealedSecret>::namespaced(client.clone(), &ns)
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .with_context(|| format!("changing SealedSecret {ns}/{name}"))?;
            *lock(&generations[j]) = changed.metadata.generation;
            Ok(())
        }
    };
    for_each_bounded(
        "steady state: changing",
        indices.len(),
        CHANGE_CONCURRENCY,
        change,
    )
    .await?;
    indices
        .iter()
        .zip(&generations)
        .map(|(&i, g)| {
            let (ns, name) = placement(SCALE_PREFIX, i, n_ns);
            let generation = lock(g).ok_or_else(|| anyhow!("{ns}/{name}: no generation"))?;
            Ok((format!("{ns}/{name}"), generation))
        })
        .collect()
}

/// Polls until every target is Synced at its generation, then reads every changed Secret until
/// all hold their new value (or the timeout).
#[allow(clippy::too_many_arguments)]
async fn wait_changed(
    client: &Client,
    seals: &SealedTracker,
    controller: &mut Controller,
    targets: &[(String, i64)],
    indices: &[usize],
    args: &Args,
    t0: Instant,
    steady: &mut Steady,
) -> Result<()> {
    let k = targets.len();
    let mut meter = Meter::new("steady state", k);
    while steady.all_verified.is_none() {
        controller.check_alive()?;
        let ok = seals.synced_at(targets);
        if ok >= k && steady.all_synced.is_none() {
            steady.all_synced = Some(t0.elapsed());
            progress!(
                "steady state: all {k} Synced after {:.2} s",
                t0.elapsed().as_secs_f64()
            );
        }
        if steady.all_synced.is_some() {
            steady.wrong_values = wrong_values(client, indices, args.namespaces).await?;
            if steady.wrong_values == 0 {
                steady.all_verified = Some(t0.elapsed());
                progress!(
                    "steady state: all {k} Secrets hold the new value after {:.2} s",
                    t0.elapsed().as_secs_f64()
                );
                break;
            }
            progress!(
                "steady state: {} Secrets still hold another value",
                steady.wrong_values
            );
        }
        if t0.elapsed() > args.timeout {
            steady.timed_out = true;
            progress!("steady state: TIMEOUT ({ok}/{k} Synced)");
            break;
        }
        meter.tick(ok, None, seals.counts().1, controller);
        tokio::time::sleep(if steady.all_synced.is_some() {
            Duration::from_secs(1)
        } else {
            POLL
        })
        .await;
    }
    Ok(())
}

/// How many of the changed Secrets do not hold their new value (all read, 32 in flight).
async fn wrong_values(client: &Client, indices: &[usize], n_ns: usize) -> Result<usize> {
    let wrong = std::sync::atomic::AtomicUsize::new(0);
    let check = |j: usize| {
        let wrong = &wrong;
        async move {
            let i = indices[j];
            let (ns, name) = placement(SCALE_PREFIX, i, n_ns);
            let secret = Api::<Secret>::namespaced(client.clone(), &ns)
                .get_opt(&name)
                .await
                .with_context(|| format!("reading Secret {ns}/{name}"))?;
            let value = secret
                .and_then(|s| s.data)
                .and_then(|d| d.get("value").map(|v| v.0.clone()));
            if value.as_deref() != Some(plain_value(i, 2).as_bytes()) {
                wrong.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        }
    };
    for_each_bounded("steady state: reading Secrets", indices.len(), 32, check).await?;
    Ok(wrong.into_inner())
}

struct Report {
    command: String,
    count: usize,
    namespaces: usize,
    concurrency: usize,
    nproc: usize,
    date: String,
    load_start: String,
    load_end: String,
    setup: Duration,
    cores: String,
    baseline: Option<Baseline>,
    creation: Option<Duration>,
    cold: Option<Cold>,
    steady: Option<Steady>,
    log: LogSummary,
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("—".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("—".to_owned(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

fn rate(n: usize, d: Option<Duration>) -> String {
    d.map_or("—".to_owned(), |d| {
        format!("{:.0}/s", n as f64 / d.as_secs_f64())
    })
}

fn count_or_dash(v: Option<f64>) -> String {
    v.map_or("—".to_owned(), |v| format!("{v:.0}"))
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
                "cargo run --release -p sealed-secrets-controller --example scale -- --count {} --namespaces {} --changed {} --concurrency {}{}",
                args.count,
                args.namespaces,
                args.changed,
                args.concurrency,
                if args.baseline { "" } else { " --no-baseline" }
            ) + if args.shared_cores { " --shared-cores" } else { "" },
            count: args.count,
            namespaces: args.namespaces,
            concurrency: args.concurrency,
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            date,
            load_start: load_average(),
            load_end: String::new(),
            setup: Duration::ZERO,
            cores: String::new(),
            baseline: None,
            creation: None,
            cold: None,
            steady: None,
            log: LogSummary::default(),
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## Scale benchmark: {} SealedSecrets in {} namespaces\n",
            self.count, self.namespaces
        );
        let _ = writeln!(out, "- command: `{}`", self.command);
        let _ = writeln!(
            out,
            "- machine: {} CPUs, {}; load average (1/5/15 min) {} at start, {} at end",
            self.nproc, self.date, self.load_start, self.load_end
        );
        let _ = writeln!(
            out,
            "- control plane setup (etcd, kube-apiserver, CRDs, key, namespaces): {:.1} s",
            self.setup.as_secs_f64()
        );
        let _ = writeln!(out, "- CPUs: {}", self.cores);
        if self.baseline.is_some() {
            let _ = writeln!(
                out,
                "- both timed phases run with the baseline's {n} objects and the {n} \
                 SealedSecrets in place; the baseline's Secrets and Events are deleted before \
                 the cold start",
                n = self.count
            );
        }
        let _ = writeln!(out, "\n| measure | value |\n| --- | ---: |");
        let mut rows = Vec::new();
        self.baseline_rows(&mut rows);
        self.cold_rows(&mut rows);
        self.steady_rows(&mut rows);
        rows.push((
            "controller log WARN / ERROR lines (whole run)".to_owned(),
            format!("{} / {}", self.log.warnings, self.log.errors),
        ));
        for (label, value) in rows {
            let _ = writeln!(out, "| {label} | {value} |");
        }
        for sample in &self.log.samples {
            let _ = writeln!(out, "\n- controller log: `{sample}`");
        }
        out
    }

    fn baseline_rows(&self, rows: &mut Vec<(String, String)>) {
        let n = self.count;
        if let Some(b) = &self.baseline {
            rows.push((
                format!("baseline: creating {n} objects of the copied CRD (untimed)"),
                secs(Some(b.prepare)),
            ));
            rows.push((
                "baseline: deleting its Secrets and Events afterwards (untimed)".to_owned(),
                secs(Some(b.cleared)),
            ));
            rows.push((
                format!(
                    "**baseline: the controller's 3 writes × {n}, {} in flight**",
                    self.concurrency
                ),
                secs(Some(b.writes)),
            ));
            rows.push((
                "baseline: SealedSecrets/s (3 writes each)".to_owned(),
                rate(n, Some(b.writes)),
            ));
            rows.push((
                "baseline: kube-apiserver / etcd CPU".to_owned(),
                format!(
                    "{:.1} s / {:.1} s",
                    b.apiserver_cpu.as_secs_f64(),
                    b.etcd_cpu.as_secs_f64()
                ),
            ));
            rows.push((
                "baseline: API requests and watch events".to_owned(),
                b.requests.summary(12),
            ));
        }
        if let Some(c) = self.creation {
            rows.push((
                format!("creating the {n} SealedSecrets"),
                format!("{} ({})", secs(Some(c)), rate(n, Some(c))),
            ));
        }
    }

    fn cold_rows(&self, rows: &mut Vec<(String, String)>) {
        let Some(c) = &self.cold else { return };
        let n = self.count;
        let mut row = |label: &str, value: String| rows.push((label.to_owned(), value));
        row("cold start: t0", "controller process start".to_owned());
        row("cold start: first Secret exists", secs(c.first_secret));
        row("cold start: all Secrets exist", secs(c.all_secrets));
        row(
            "**cold start: all SealedSecrets Synced=True**",
            if c.timed_out {
                "TIMEOUT".to_owned()
            } else {
                secs(c.all_synced)
            },
        );
        row("cold start: SealedSecrets/s", rate(n, c.all_synced));
        let ratio = match (c.all_synced, &self.baseline) {
            (Some(t), Some(b)) => format!("{:.2}", t.as_secs_f64() / b.writes.as_secs_f64()),
            _ => "—".to_owned(),
        };
        row("**cold start / baseline** (target ≤ 1.2)", ratio);
        row(
            "cold start: controller CPU",
            format!(
                "{:.1} s ({:.2} ms per SealedSecret)",
                c.cpu.as_secs_f64(),
                c.cpu.as_secs_f64() * 1e3 / n as f64
            ),
        );
        row(
            "cold start: kube-apiserver / etcd CPU",
            format!(
                "{:.1} s / {:.1} s",
                c.apiserver_cpu.as_secs_f64(),
                c.etcd_cpu.as_secs_f64()
            ),
        );
        row(
            "cold start: reconciles (unseal_requests_total)",
            count_or_dash(c.reconciles),
        );
        row(
            "cold start: unseal errors (unseal_errors_total)",
            count_or_dash(c.unseal_errors),
        );
        row("cold start: Events recorded", c.events.to_string());
        row(
            "cold start: API requests and watch events",
            c.requests.summary(12),
        );
        row("cold start: Synced=False at the end", c.failed.to_string());
        row(
            "cold start: controller VmHWM / VmRSS when all Synced",
            format!(
                "{} / {}",
                mib(c.memory.map(|m| m.hwm_kib)),
                mib(c.memory.map(|m| m.rss_kib))
            ),
        );
        row(
            "**cold start: controller peak RSS** (VmHWM after 10 s idle)",
            mib(c.idle_memory.map(|m| m.hwm_kib)),
        );
        row(
            "cold start: controller VmRSS after 10 s idle",
            mib(c.idle_memory.map(|m| m.rss_kib)),
        );
    }

    fn steady_rows(&self, rows: &mut Vec<(String, String)>) {
        let Some(s) = &self.steady else { return };
        let k = s.changed;
        let mut row = |label: String, value: String| rows.push((label, value));
        row(
            format!("steady: {k} SealedSecrets re-sealed ({CHANGE_CONCURRENCY} in flight)"),
            secs(Some(s.patch)),
        );
        row(
            format!("**steady: all {k} Synced=True at their new generation**"),
            if s.timed_out {
                "TIMEOUT".to_owned()
            } else {
                secs(s.all_synced)
            },
        );
        row(
            format!("steady: all {k} Secrets read back with the new value"),
            secs(s.all_verified),
        );
        row(
            "steady: Secrets with a wrong value at the end".to_owned(),
            s.wrong_values.to_string(),
        );
        row(
            "steady: controller CPU".to_owned(),
            format!("{:.1} s", s.cpu.as_secs_f64()),
        );
        row(
            "steady: kube-apiserver / etcd CPU".to_owned(),
            format!(
                "{:.1} s / {:.1} s",
                s.apiserver_cpu.as_secs_f64(),
                s.etcd_cpu.as_secs_f64()
            ),
        );
        row(
            "steady: reconciles / unseal errors".to_owned(),
            format!(
                "{} / {}",
                count_or_dash(s.reconciles),
                count_or_dash(s.unseal_errors)
            ),
        );
        row("steady: Events recorded".to_owned(), s.events.to_string());
        row(
            "**steady: controller peak RSS** (VmHWM, whole run)".to_owned(),
            mib(s.memory.map(|m| m.hwm_kib)),
        );
        row(
            "steady: controller VmRSS at the end".to_owned(),
            mib(s.memory.map(|m| m.rss_kib)),
        );
    }
}
