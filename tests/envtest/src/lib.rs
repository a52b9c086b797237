//! A real Kubernetes control plane (etcd + kube-apiserver v1.20.2) for integration tests.
//!
//! The binaries come from `tests/envtest/install.sh` (built from Debian packages and
//! cached in `~/.cache/sealed-secrets-rs/k8s-1.20.2/bin`) or from `KUBEBUILDER_ASSETS`.
//!
//! ```no_run
//! # async fn t() -> anyhow::Result<()> {
//! let cp = envtest::shared().await?; // one control plane per test binary
//! let ns = cp.create_namespace("my-test").await?; // a fresh namespace per test
//! let client = cp.client()?; // admin client (create it inside each test's runtime)
//! # Ok(()) }
//! ```
//!
//! Every process is stopped when the [`ControlPlane`] is dropped (also while a test panics).
//! As a static is never dropped, each control plane also has a small watchdog shell process
//! that holds the read end of a pipe whose write end only this test process holds: when the
//! test process exits, however it exits (even SIGKILL), the pipe closes and the watchdog
//! kills etcd and kube-apiserver by PID. Nothing is ever killed by name.
//!
//! It is also the project's test kit, the helpers every crate's integration tests share:
//! [`http`] (a byte-exact HTTP/1.1 client), [`metrics`] (Prometheus text), [`keys`] (the
//! controller's key Secrets), [`git`], and in [`workspace`] the workspace's binaries, a
//! controller process, free ports and [`workspace::eventually`]. Each crate's `tests/support`
//! keeps only what is its own (the netns test host of `cli`, `ccloud-keys`' watcher process).

pub mod git;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod partition;
pub mod workspace;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde::Deserialize;
use tempfile::TempDir;
use tokio::sync::OnceCell;

/// Kubernetes version of the control plane built by `install.sh`.
pub const KUBERNETES_VERSION: &str = "1.20.2";

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const CRD_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: u32 = 3;
const LOG_TAIL_LINES: usize = 50;
const ADMIN_USER: &str = "admin";

/// Reads PIDs to watch (`PID` adds, `-PID` removes) from stdin and kills the remaining ones
/// once stdin reaches EOF, i.e. once the test process is gone.
/// SIGKILL at once: all state is disposable, and nothing must outlive the test binary.
/// `$1` is the control plane directory: removed, unless `$2` is `keep` (`ENVTEST_KEEP` set), when
/// only its etcd data (the large part) goes and the logs stay for post-mortems.
const WATCHDOG_SCRIPT: &str = r#"
pids=
while read -r line; do
  case $line in
    -*) keep=; for p in $pids; do [ "$p" = "${line#-}" ] || keep="$keep $p"; done; pids=$keep ;;
    *) pids="$pids $line" ;;
  esac
done
[ -n "$pids" ] || exit 0
kill -KILL $pids 2>/dev/null
sleep 0.2
if [ "$2" = keep ]; then rm -rf "$1/etcd"; else rm -rf "$1"; fi
"#;

/// A running etcd + kube-apiserver pair, stopped on drop.
#[derive(Debug)]
pub struct ControlPlane {
    dir: Option<TempDir>,
    dir_path: PathBuf,
    bin_dir: PathBuf,
    server_url: String,
    kubeconfig: PathBuf,
    config: Config,
    etcd_url: String,
    etcd_peer_url: String,
    // Behind locks so that the restarts can replace them through `&self`.
    etcd: Mutex<Process>,
    apiserver: Mutex<Process>,
    watchdog: Mutex<Watchdog>,
}

/// The directory holding `kube-apiserver`, `etcd` and `kubectl`: `KUBEBUILDER_ASSETS` if set,
/// else the cache directory filled by `tests/envtest/install.sh`.
pub fn assets_dir() -> Result<PathBuf> {
    let (dir, origin) = match std::env::var_os("KUBEBUILDER_ASSETS").filter(|v| !v.is_empty()) {
        Some(dir) => (PathBuf::from(dir), "KUBEBUILDER_ASSETS"),
        None => (default_cache_dir()?, "the envtest cache"),
    };
    check_assets(&dir, origin)?;
    Ok(dir)
}

fn check_assets(dir: &Path, origin: &str) -> Result<()> {
    for bin in ["kube-apiserver", "etcd", "kubectl"] {
        if !dir.join(bin).is_file() {
            bail!(
                "{bin} not found in {} ({origin}); run tests/envtest/install.sh to build the \
                 Kubernetes {KUBERNETES_VERSION} control plane, or set KUBEBUILDER_ASSETS to a \
                 directory holding kube-apiserver, etcd and kubectl",
                dir.display()
            );
        }
    }
    Ok(())
}

fn default_cache_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set"))?;
    Ok(PathBuf::from(home)
        .join(".cache/sealed-secrets-rs")
        .join(format!("k8s-{KUBERNETES_VERSION}"))
        .join("bin"))
}

/// Manifests (YAML) as this v1.20 API server accepts them: each `policy/v1` PodDisruptionBudget
/// (GA from 1.21, what current clusters serve) becomes `policy/v1beta1` (the same fields).
/// Nothing else changes; any other `policy/v1` object is an error.
pub fn for_v1_20(yaml: &str) -> Result<String> {
    const PDB_V1: &str = "apiVersion: policy/v1\nkind: PodDisruptionBudget\n";
    if yaml.matches("policy/v1\n").count() != yaml.matches(PDB_V1).count() {
        bail!("a policy/v1 object other than a PodDisruptionBudget (v1.20 serves none)");
    }
    Ok(yaml.replace(
        PDB_V1,
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\n",
    ))
}

/// A control plane shared by all tests of this test binary, started on first use.
///
/// Give each test its own namespace ([`ControlPlane::create_namespace`]). It is never dropped:
/// its watchdog stops it when the test binary exits. A start failure is remembered, so the
/// remaining tests fail fast with the same message.
pub async fn shared() -> Result<&'static ControlPlane> {
    static SHARED: OnceCell<Result<ControlPlane, String>> = OnceCell::const_new();
    SHARED
        .get_or_init(|| async { ControlPlane::start().await.map_err(|e| format!("{e:#}")) })
        .await
        .as_ref()
        .map_err(|e| anyhow!("shared control plane failed to start: {e}"))
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver on free loopback ports and waits until `/readyz` is ok.
    ///
    /// Fails within about a minute; the error then holds the end of the apiserver log.
    pub async fn start() -> Result<Self> {
        Self::start_with_assets(&assets_dir()?).await
    }

    /// Like [`ControlPlane::start`], with the binaries taken from `bin_dir`.
    pub async fn start_with_assets(bin_dir: &Path) -> Result<Self> {
        check_assets(bin_dir, "given directory")?;
        let bin_dir = bin_dir.to_path_buf();
        let dir = tempfile::Builder::new()
            .prefix("envtest-")
            .tempdir()
            .context("creating the control plane directory")?;
        let dir_path = dir.path().to_path_buf();
        let token = random_hex(16)?;
        prepare_dir(&dir_path, &token)?;

        let mut watchdog = Watchdog::spawn(&dir_path)?;

        let mut attempt = 1;
        let (etcd, apiserver, server_url, (etcd_url, etcd_peer_url)) = loop {
            match start_processes(&bin_dir, &dir_path, &token, &mut watchdog).await {
                Ok(started) => break started,
                Err(StartError::PortInUse(msg)) if attempt < START_ATTEMPTS => {
                    eprintln!("envtest: port collision ({msg}); retrying with new ports");
                    attempt += 1;
                }
                Err(StartError::PortInUse(msg) | StartError::Other(msg)) => {
                    let log = dir_path.join("apiserver.log");
                    bail!(
                        "control plane did not become ready: {msg}\n(apiserver log: {}; \
                         control plane dir kept: {})",
                        log.display(),
                        dir.keep().display()
                    );
                }
            }
        };

        let kubeconfig = dir_path.join("kubeconfig");
        let config = config_from_kubeconfig(&kubeconfig).await?;
        eprintln!(
            "envtest: kube-apiserver {KUBERNETES_VERSION} at {server_url}; kubeconfig {}; \
             apiserver log {}",
            kubeconfig.display(),
            dir_path.join("apiserver.log").display()
        );
        Ok(Self {
            dir: Some(dir),
            dir_path,
            bin_dir,
            server_url,
            kubeconfig,
            config,
            etcd_url,
            etcd_peer_url,
            etcd: Mutex::new(etcd),
            apiserver: Mutex::new(apiserver),
            watchdog: Mutex::new(watchdog),
        })
    }

    /// The API server URL, `https://127.0.0.1:PORT`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// A kubeconfig (admin bearer token, TLS verification skipped) for kubectl or any other
    /// process, e.g. a controller binary under test.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The kube-apiserver's combined stdout/stderr.
    pub fn apiserver_log_path(&self) -> PathBuf {
        self.dir_path.join("apiserver.log")
    }

    /// The directory holding the binaries (also `kube-controller-manager` when built by
    /// `install.sh`).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The control plane's private directory (logs, kubeconfig, certs, etcd data).
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// PID of the etcd process.
    pub fn etcd_pid(&self) -> u32 {
        lock(&self.etcd).0.id()
    }

    /// PID of the kube-apiserver process.
    pub fn apiserver_pid(&self) -> u32 {
        lock(&self.apiserver).0.id()
    }

    /// Kills kube-apiserver (SIGKILL) and starts a new one on the same port, with the same
    /// flags and certificates, against the same etcd (whose data is untouched), then waits
    /// until `/readyz` is ok. Clients keep working once they reconnect. The new process
    /// appends to the same log.
    pub async fn restart_apiserver(&self) -> Result<()> {
        self.restart_apiserver_after(Duration::ZERO).await
    }

    /// Like [`ControlPlane::restart_apiserver`], with the API server down for `down` first: an
    /// outage (connections refused) of that length.
    pub async fn restart_apiserver_after(&self, down: Duration) -> Result<()> {
        if !down.is_zero() {
            {
                let mut apiserver = lock(&self.apiserver);
                lock(&self.watchdog).unregister(&apiserver)?;
                apiserver.stop();
            }
            tokio::time::sleep(down).await;
        }
        let api_port: u16 = self
            .server_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| anyhow!("no port in {}", self.server_url))?;
        let log = self.apiserver_log_path();
        let mut attempt = 1;
        loop {
            {
                let mut apiserver = lock(&self.apiserver);
                let mut watchdog = lock(&self.watchdog);
                // Unregister before reaping, so that the watchdog can never kill a reused PID.
                // (Unregistering an exited process again is harmless.)
                watchdog.unregister(&apiserver)?;
                apiserver.stop();
                let new = Process(spawn_logged_to(
                    &mut apiserver_command(&self.bin_dir, &self.dir_path, &self.etcd_url, api_port),
                    &log,
                    true,
                )?);
                watchdog.register(&new)?;
                *apiserver = new;
            }
            self.write_pids()?;
            match self.wait_apiserver_ready().await {
                Ok(()) => return Ok(()),
                // The old process's port may take a moment to be released.
                Err(StartError::PortInUse(_)) if attempt < START_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(StartError::PortInUse(msg) | StartError::Other(msg)) => {
                    bail!("kube-apiserver did not become ready after a restart: {msg}")
                }
            }
        }
    }

    /// Kills etcd (SIGKILL), waits `down`, and starts it again on the same ports with the same
    /// data, then waits until the API server answers `/readyz` again. The API server stays up
    /// throughout, answering errors while etcd is gone, as in a cluster whose etcd restarts.
    pub async fn restart_etcd(&self, down: Duration) -> Result<()> {
        {
            let mut etcd = lock(&self.etcd);
            lock(&self.watchdog).unregister(&etcd)?;
            etcd.stop();
        }
        tokio::time::sleep(down).await;
        {
            let mut etcd = lock(&self.etcd);
            let mut watchdog = lock(&self.watchdog);
            let new = Process(spawn_logged_to(
                &mut etcd_command(
                    &self.bin_dir,
                    &self.dir_path,
                    &self.etcd_url,
                    &self.etcd_peer_url,
                ),
                &self.dir_path.join("etcd.log"),
                true,
            )?);
            watchdog.register(&new)?;
            *etcd = new;
        }
        self.write_pids()?;
        self.wait_apiserver_ready().await.map_err(|e| match e {
            StartError::PortInUse(msg) | StartError::Other(msg) => {
                anyhow!("the API server is not ready after an etcd restart: {msg}")
            }
        })
    }

    fn write_pids(&self) -> Result<()> {
        let pids = format!(
            "etcd {}\nkube-apiserver {}\n",
            self.etcd_pid(),
            self.apiserver_pid()
        );
        fs::write(self.dir_path.join("pids"), pids).context("writing the pidfile")
    }

    /// Polls `/readyz` of the (restarted) apiserver; fails early if it exits.
    async fn wait_apiserver_ready(&self) -> std::result::Result<(), StartError> {
        let client = self.client()?;
        let log = self.apiserver_log_path();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let exited = lock(&self.apiserver)
                .0
                .try_wait()
                .context("polling kube-apiserver")?;
            if let Some(status) = exited {
                let tail = log_tail(&log);
                let msg = format!(
                    "kube-apiserver exited ({status}); last lines of {}:\n{tail}",
                    log.display()
                );
                return Err(if tail.contains("address already in use") {
                    StartError::PortInUse(msg)
                } else {
                    StartError::Other(msg)
                });
            }
            let request = ::http::Request::get("/readyz")
                .body(Vec::new())
                .context("building the /readyz request")?;
            let ready = matches!(
                tokio::time::timeout(Duration::from_secs(5), client.request_text(request)).await,
                Ok(Ok(body)) if body.trim() == "ok"
            );
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::Other(format!(
                    "not ready after {}s; last lines of {}:\n{}",
                    READY_TIMEOUT.as_secs(),
                    log.display(),
                    log_tail(&log)
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The admin client configuration.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// A new admin client (member of `system:masters`).
    ///
    /// Must be called inside a Tokio runtime; create one per test rather than sharing it
    /// across `#[tokio::test]`s, as its connections belong to the runtime it first ran on.
    pub fn client(&self) -> Result<Client> {
        Client::try_from(self.config()).context("building the admin kube client")
    }

    /// A client that impersonates `system:serviceaccount:NAMESPACE:NAME` (which needs not
    /// exist), to test RBAC as an unprivileged identity.
    pub fn impersonating_client(&self, namespace: &str, service_account: &str) -> Result<Client> {
        let mut config = self.config();
        config.auth_info.impersonate = Some(format!(
            "system:serviceaccount:{namespace}:{service_account}"
        ));
        Client::try_from(config).context("building the impersonating kube client")
    }

    /// Writes `path`: the admin kubeconfig acting as ServiceAccount `namespace/service_account`
    /// (`as:`), for programs under test that take a kubeconfig.
    pub fn write_service_account_kubeconfig(
        &self,
        namespace: &str,
        service_account: &str,
        path: &Path,
    ) -> Result<()> {
        let admin = fs::read_to_string(&self.kubeconfig).context("reading the kubeconfig")?;
        if admin.matches("\n  user:\n").count() != 1 {
            bail!("the admin kubeconfig does not have exactly one user");
        }
        let text = admin.replace(
            "\n  user:\n",
            &format!("\n  user:\n    as: system:serviceaccount:{namespace}:{service_account}\n"),
        );
        fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// `kubectl --kubeconfig KUBECONFIG ARGS...`, not yet run.
    pub fn kubectl<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd
    }

    /// Creates (or updates) every CustomResourceDefinition in the YAML file and waits until
    /// each is Established.
    pub async fn install_crd(&self, yaml_path: impl AsRef<Path>) -> Result<()> {
        let path = yaml_path.as_ref();
        self.install_crd_inner(path).await.with_context(|| {
            format!(
                "installing CRDs from {} (apiserver log: {})",
                path.display(),
                self.apiserver_log_path().display()
            )
        })
    }

    async fn install_crd_inner(&self, path: &Path) -> Result<()> {
        let text = fs::read_to_string(path).context("reading the file")?;
        let mut crds = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).context("parsing YAML")?;
            if !value.is_null() {
                crds.push(
                    serde_yaml::from_value::<CustomResourceDefinition>(value)
                        .context("not an apiextensions.k8s.io/v1 CustomResourceDefinition")?,
                );
            }
        }
        if crds.is_empty() {
            bail!("no CustomResourceDefinition in the file");
        }
        let api: Api<CustomResourceDefinition> = Api::all(self.client()?);
        for mut crd in crds {
            let name = crd
                .metadata
                .name
                .clone()
                .ok_or_else(|| anyhow!("a CRD has no metadata.name"))?;
            // Create/replace rather than server-side apply: the 1.20 apiserver drops fields
            // it does not know (from newer CRD schemas) on create, but SSA would reject them.
            // Tests may install the same CRD concurrently: retry on conflicts.
            let mut attempts = 0;
            loop {
                attempts += 1;
                let result = match api.create(&PostParams::default(), &crd).await {
                    Err(kube::Error::Api(status)) if status.is_already_exists() => {
                        let current = api.get(&name).await?;
                        crd.metadata.resource_version = current.metadata.resource_version;
                        api.replace(&name, &PostParams::default(), &crd).await
                    }
                    other => other,
                };
                match result {
                    Ok(_) => break,
                    Err(kube::Error::Api(status)) if status.is_conflict() && attempts < 5 => {}
                    Err(e) => return Err(e).with_context(|| format!("creating CRD {name}")),
                }
            }
            wait_established(&api, &name).await?;
        }
        Ok(())
    }

    /// Creates a namespace with a unique name starting with `prefix` and returns the name.
    pub async fn create_namespace(&self, prefix: &str) -> Result<String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let prefix: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let prefix = prefix.trim_matches('-');
        let prefix = if prefix.is_empty() { "test" } else { prefix };
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{n}-{}", random_hex(3)?);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client()?)
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| {
                format!(
                    "creating namespace {name} (apiserver log: {})",
                    self.apiserver_log_path().display()
                )
            })?;
        Ok(name)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // The watchdog first, so that it can never act on PIDs we are about to reap.
        get_mut(&mut self.watchdog).process.stop();
        get_mut(&mut self.apiserver).stop();
        get_mut(&mut self.etcd).stop();
        let keep = std::thread::panicking() || keep_dir();
        if let Some(dir) = self.dir.take() {
            if keep {
                eprintln!(
                    "envtest: kept control plane dir {} (apiserver log: {})",
                    dir.keep().display(),
                    self.apiserver_log_path().display()
                );
            }
        }
    }
}

/// Whether `ENVTEST_KEEP` asks to keep each control plane's directory (logs) after it stops.
fn keep_dir() -> bool {
    std::env::var_os("ENVTEST_KEEP").is_some()
}

/// Locks `m`, ignoring poisoning (the data is a process handle, always usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn get_mut<T>(m: &mut Mutex<T>) -> &mut T {
    m.get_mut().unwrap_or_else(|e| e.into_inner())
}

/// A child process that is killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
struct Process(Child);

impl Process {
    fn stop(&mut self) {
        // Errors mean the process is already gone (and reaped): nothing to do.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `sh` that SIGKILLs the registered PIDs when its stdin pipe closes, which happens when
/// this test process exits however it exits (the write end is close-on-exec, so no other
/// process holds it).
#[derive(Debug)]
struct Watchdog {
    // Field order matters: the watchdog is killed before its pipe closes, so that it never
    // acts on PIDs that were already reaped.
    process: Process,
    stdin: ChildStdin,
}

impl Watchdog {
    fn spawn(dir: &Path) -> Result<Self> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("envtest-watchdog")
            .arg(dir)
            .arg(if keep_dir() { "keep" } else { "remove" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning the watchdog shell (sh)")?;
        let stdin = child.stdin.take();
        let process = Process(child);
        let stdin = stdin.ok_or_else(|| anyhow!("watchdog has no stdin pipe"))?;
        Ok(Self { process, stdin })
    }

    fn register(&mut self, process: &Process) -> Result<()> {
        writeln!(self.stdin, "{}", process.0.id()).context("registering a PID with the watchdog")
    }

    fn unregister(&mut self, process: &Process) -> Result<()> {
        writeln!(self.stdin, "-{}", process.0.id()).context("unregistering a PID from the watchdog")
    }
}

enum StartError {
    PortInUse(String),
    Other(String),
}

impl From<anyhow::Error> for StartError {
    fn from(e: anyhow::Error) -> Self {
        StartError::Other(format!("{e:#}"))
    }
}

fn prepare_dir(dir: &Path, token: &str) -> Result<()> {
    fs::create_dir_all(dir.join("certs"))?;
    let key = dir.join("sa.key");
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .context("running openssl to generate the service account key")?;
    if !out.status.success() {
        bail!(
            "openssl genpkey failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(dir.join("sa.pub"))
        .output()
        .context("running openssl to extract the public key")?;
    if !out.status.success() {
        bail!(
            "openssl pkey failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fs::write(
        dir.join("tokens.csv"),
        format!("{token},{ADMIN_USER},{ADMIN_USER},system:masters\n"),
    )?;
    Ok(())
}

async fn start_processes(
    bin_dir: &Path,
    dir: &Path,
    token: &str,
    watchdog: &mut Watchdog,
) -> std::result::Result<(Process, Process, String, (String, String)), StartError> {
    let [etcd_port, peer_port, api_port] = free_ports()?;
    let etcd_data = dir.join("etcd");
    if etcd_data.exists() {
        fs::remove_dir_all(&etcd_data).context("removing old etcd data")?;
    }
    let etcd_log = dir.join("etcd.log");
    let api_log = dir.join("apiserver.log");
    let client_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let server_url = format!("https://127.0.0.1:{api_port}");
    let kubeconfig = dir.join("kubeconfig");
    fs::write(&kubeconfig, kubeconfig_yaml(&server_url, token))
        .context("writing the kubeconfig")?;

    let mut etcd = Process(spawn_logged(
        &mut etcd_command(bin_dir, dir, &client_url, &peer_url),
        &etcd_log,
    )?);

    let mut apiserver = Process(spawn_logged(
        &mut apiserver_command(bin_dir, dir, &client_url, api_port),
        &api_log,
    )?);
    watchdog.register(&etcd)?;
    watchdog.register(&apiserver)?;
    fs::write(
        dir.join("pids"),
        format!(
            "etcd {}\nkube-apiserver {}\n",
            etcd.0.id(),
            apiserver.0.id()
        ),
    )
    .context("writing the pidfile")?;

    let logs = [("etcd", etcd_log), ("kube-apiserver", api_log)];
    match wait_ready([&mut etcd, &mut apiserver], &logs, &kubeconfig).await {
        Ok(()) => Ok((etcd, apiserver, server_url, (client_url, peer_url))),
        Err(e) => {
            // Unregister before reaping, so that the watchdog can never kill a reused PID.
            for p in [&mut etcd, &mut apiserver] {
                let _ = watchdog.unregister(p);
                p.stop();
            }
            Err(e)
        }
    }
}

/// Polls `/readyz` until it answers `ok`; fails early if a process exits.
async fn wait_ready(
    mut processes: [&mut Process; 2],
    logs: &[(&str, PathBuf); 2],
    kubeconfig: &Path,
) -> std::result::Result<(), StartError> {
    let client = Client::try_from(config_from_kubeconfig(kubeconfig).await?)
        .context("building the readiness client")?;
    let api_log = &logs[1].1;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        for (process, (name, log)) in processes.iter_mut().zip(logs) {
            if let Some(status) = process.0.try_wait().context("polling a child")? {
                let msg = format!(
                    "{name} exited ({status}); last lines of {}:\n{}",
                    log.display(),
                    log_tail(log)
                );
                let in_use = logs
                    .iter()
                    .any(|(_, l)| log_tail(l).contains("address already in use"));
                return Err(if in_use {
                    StartError::PortInUse(msg)
                } else {
                    StartError::Other(msg)
                });
            }
        }
        let request = ::http::Request::get("/readyz")
            .body(Vec::new())
            .context("building the /readyz request")?;
        let last_err = match tokio::time::timeout(
            Duration::from_secs(5),
            client.request_text(request),
        )
        .await
        {
            Ok(Ok(body)) if body.trim() == "ok" => return Ok(()),
            Ok(Ok(body)) => format!("/readyz answered {body:?}"),
            Ok(Err(e)) => format!("/readyz: {e}"),
            Err(_) => String::from("/readyz timed out"),
        };
        if Instant::now() >= deadline {
            return Err(StartError::Other(format!(
                "not ready after {}s (last: {last_err}); last lines of {}:\n{}",
                READY_TIMEOUT.as_secs(),
                api_log.display(),
                log_tail(api_log)
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The etcd command line (also used to restart it on the same ports and data).
fn etcd_command(bin_dir: &Path, dir: &Path, client_url: &str, peer_url: &str) -> Command {
    let mut cmd = Command::new(bin_dir.join("etcd"));
    cmd.arg("--data-dir")
        .arg(dir.join("etcd"))
        .args(["--listen-client-urls", client_url])
        .args(["--advertise-client-urls", client_url])
        .args(["--listen-peer-urls", peer_url])
        .args(["--initial-advertise-peer-urls", peer_url])
        .arg(format!("--initial-cluster=default={peer_url}"));
    cmd
}

/// The kube-apiserver command line (also used to restart it on the same port).
fn apiserver_command(bin_dir: &Path, dir: &Path, client_url: &str, api_port: u16) -> Command {
    let mut cmd = Command::new(bin_dir.join("kube-apiserver"));
    cmd.arg(format!("--etcd-servers={client_url}"))
        .arg(format!("--secure-port={api_port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--advertise-address=127.0.0.1")
        .arg(format!("--cert-dir={}", dir.join("certs").display()))
        .arg("--insecure-port=0")
        .arg("--authorization-mode=RBAC")
        .arg(format!(
            "--token-auth-file={}",
            dir.join("tokens.csv").display()
        ))
        .arg("--service-account-issuer=https://kubernetes.default.svc")
        .arg(format!(
            "--service-account-key-file={}",
            dir.join("sa.pub").display()
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            dir.join("sa.key").display()
        ))
        .arg("--service-cluster-ip-range=10.0.0.0/24")
        .arg("--endpoint-reconciler-type=none");
    cmd
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Result<Child> {
    spawn_logged_to(cmd, log, false)
}

/// Spawns `cmd` with stdout and stderr to `log` (truncated, or appended to with `append`).
fn spawn_logged_to(cmd: &mut Command, log: &Path, append: bool) -> Result<Child> {
    let out = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)
        .with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("spawning {:?}", cmd.get_program()))
}

/// Three distinct free loopback ports, outside the ephemeral range (see
/// [`workspace::free_port`]).
fn free_ports() -> Result<[u16; 3]> {
    Ok([
        workspace::free_port()?,
        workspace::free_port()?,
        workspace::free_port()?,
    ])
}

fn kubeconfig_yaml(server_url: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: {server_url}
    insecure-skip-tls-verify: true
users:
- name: {ADMIN_USER}
  user:
    token: {token}
contexts:
- name: envtest
  context:
    cluster: envtest
    user: {ADMIN_USER}
    namespace: default
current-context: envtest
"
    )
}

async fn config_from_kubeconfig(path: &Path) -> Result<Config> {
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .context("loading the kubeconfig")
}

async fn wait_established(api: &Api<CustomResourceDefinition>, name: &str) -> Result<()> {
    let deadline = Instant::now() + CRD_TIMEOUT;
    loop {
        let crd = api.get(name).await?;
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "CRD {name} not Established after {}s",
                CRD_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last [`LOG_TAIL_LINES`] lines of a log file (or why it could not be read).
fn log_tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
        }
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// Whether the API server allows `attributes` for `user` in `groups`, by a SubjectAccessReview
/// (what `kubectl auth can-i --as` asks).
pub async fn allowed(
    client: &Client,
    user: &str,
    groups: &[String],
    attributes: k8s_openapi::api::authorization::v1::ResourceAttributes,
) -> Result<bool> {
    use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewSpec};
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_owned()),
            groups: Some(groups.to_vec()),
            resource_attributes: Some(attributes),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .context("creating a SubjectAccessReview")?;
    answer
        .status
        .map(|s| s.allowed)
        .ok_or_else(|| anyhow!("the SubjectAccessReview has no status"))
}
