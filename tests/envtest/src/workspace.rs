//! Programs of this workspace for tests of *other* crates (Cargo only hands a test the binaries
//! of its own package): built once per test binary into the same target directory and profile.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Path of `bin` from workspace package `package`, built (`cargo build -p`) on first use.
/// `SEALED_SECRETS_<BIN>_BIN` (upper case, `-` as `_`) overrides it.
pub fn workspace_bin(package: &str, bin: &str) -> Result<PathBuf> {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let var = format!(
        "SEALED_SECRETS_{}_BIN",
        bin.to_ascii_uppercase().replace('-', "_")
    );
    if let Some(path) = std::env::var_os(&var) {
        return Ok(PathBuf::from(path));
    }
    let built = BUILT.get_or_init(Mutex::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(b, _)| b == bin) {
        return Ok(path.clone());
    }
    // The test executable is <target>/<profile>/deps/<test>-<hash>.
    let exe = std::env::current_exe().context("locating the test executable")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test executable is not in <target>/<profile>/deps")?;
    let target_dir = profile_dir
        .parent()
        .context("the profile directory has no parent")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cmd.current_dir(&workspace)
        .env("CARGO_TARGET_DIR", target_dir)
        .args(["build", "--quiet", "-p", package, "--bin", bin]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = cmd.output().context("running cargo build")?;
    if !out.status.success() {
        bail!(
            "cargo build -p {package} --bin {bin} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = profile_dir.join(bin);
    if !path.is_file() {
        bail!("{} was not built", path.display());
    }
    built.push((bin.to_owned(), path.clone()));
    Ok(path)
}

/// Polls `f` every 200 ms until it returns `Some`, or panics after `timeout` naming `what`
/// (for tests: a condition the system under test reaches asynchronously).
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A free TCP port on 127.0.0.1 for a server the test starts later.
///
/// The port comes from below the kernel's ephemeral range (32768 and up), so that no outgoing
/// connection (a client of the API server, the API server to etcd) can take it between this
/// call and the server's bind; a process-wide counter, started at an offset from the pid,
/// keeps parallel tests and processes apart, and each candidate is checked by binding it.
pub fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(397) % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
        let port = u16::try_from(FIRST + offset).context("port range")?;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in {FIRST}..{}", FIRST + SPAN)
}

/// `sealed-secrets-controller` running against a control plane, killed on drop (its log is
/// printed when the test panics).
pub struct ControllerProcess {
    child: Child,
    /// Port of the HTTP API (`/v1/cert.pem`, ...), on 127.0.0.1.
    pub api_port: u16,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ControllerProcess {
    /// Starts the controller with its keys in `key_namespace`, watching only `namespaces`,
    /// 2048-bit keys (fast), plus `extra` flags.
    pub fn start(
        kubeconfig: &Path,
        key_namespace: &str,
        namespaces: &[&str],
        extra: &[&str],
    ) -> Result<Self> {
        let bin = workspace_bin("sealed-secrets-controller", "sealed-secrets-controller")?;
        let dir = tempfile::tempdir()?;
        let log_path = dir.path().join("controller.log");
        let log = std::fs::File::create(&log_path)?;
        let api_port = free_port()?;
        let child = Command::new(bin)
            .env("POD_NAMESPACE", key_namespace)
            .env("POD_NAME", format!("controller-{api_port}"))
            .env_remove("RUST_LOG")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg(format!("--listen-addr=127.0.0.1:{api_port}"))
            .arg(format!("--listen-metrics-addr=127.0.0.1:{}", free_port()?))
            .arg("--key-size=2048")
            .arg("--all-namespaces=false")
            .arg(format!("--additional-namespaces={}", namespaces.join(",")))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the controller")?;
        Ok(Self {
            child,
            api_port,
            log_path,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:<api port>/v1/cert.pem`.
    pub fn cert_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/cert.pem", self.api_port)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits until the controller serves its certificate and returns the PEM.
    pub fn wait_for_cert(&self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(pem) = http_get(self.api_port, "/v1/cert.pem") {
                return Ok(pem);
            }
            if Instant::now() > deadline {
                bail!("no certificate within {timeout:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends a signal by name (e.g. `USR1`).
    pub fn signal(&self, name: &str) -> Result<()> {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()?
            .success();
        if !ok {
            bail!("kill -{name} failed");
        }
        Ok(())
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "controller log ({}):\n{}",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

/// A plain HTTP/1.0 GET on 127.0.0.1 returning the body of a 200 answer.
pub fn http_get(port: u16, path: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP header")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("HTTP {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_owned())
}
