//! Shared helpers for the controller's integration tests: a controller process against the real
//! local control plane (`envtest`), isolated per test by namespaces and ports.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::Client;

/// The sealing-key label.
pub const KEY_SELECTOR: &str = "sealedsecrets.bitnami.com/sealed-secrets-key=active";

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A controller process; killed (SIGKILL) on drop. Its log is in `log_path`.
pub struct ControllerProcess {
    pub child: Child,
    pub api_port: u16,
    pub metrics_port: u16,
    pub log_path: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl ControllerProcess {
    /// Starts `sealed-secrets-controller` with `POD_NAMESPACE=key_namespace`, watching only
    /// `watch_namespaces` (so tests do not see each other's objects), 2048-bit keys for speed,
    /// and `extra` flags.
    pub fn start(
        kubeconfig: &std::path::Path,
        key_namespace: &str,
        watch_namespaces: &[&str],
        extra: &[&str],
    ) -> Self {
        let log_dir = tempfile::tempdir().expect("tempdir");
        let log_path = log_dir.path().join("controller.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let api_port = free_port();
        let metrics_port = free_port();
        let additional = watch_namespaces.join(",");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealed-secrets-controller"));
        cmd.env("POD_NAMESPACE", key_namespace)
            .env("POD_NAME", format!("controller-{api_port}"))
            .env_remove("RUST_LOG")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg(format!("--listen-addr=127.0.0.1:{api_port}"))
            .arg(format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"))
            .arg("--key-size=2048")
            .arg("--all-namespaces=false")
            .arg(format!("--additional-namespaces={additional}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log);
        let child = cmd.spawn().expect("controller starts");
        Self {
            child,
            api_port,
            metrics_port,
            log_path,
            _log_dir: log_dir,
        }
    }

    /// The controller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `http://127.0.0.1:<api port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    /// `/metrics` text.
    pub fn metrics(&self) -> String {
        http_get(&format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// Waits until `/v1/cert.pem` answers 200 and returns the PEM.
    pub fn wait_for_cert(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, body)) = http_get(&self.url("/v1/cert.pem")) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "no certificate within {timeout:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends SIGKILL and waits.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal (e.g. "USR1").
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{name} failed");
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "controller log ({}):\n{}",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

/// A minimal HTTP/1.1 client for loopback tests: (status, body).
pub fn http_request(method: &str, url: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// GET `url`.
pub fn http_get(url: &str) -> std::io::Result<(u16, String)> {
    http_request("GET", url, b"")
}

/// Polls `f` every 200 ms until it returns `Some`, or panics after `timeout` with `what`.
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

/// The active key Secrets of `namespace`.
pub async fn key_secrets(client: &Client, namespace: &str) -> Vec<Secret> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default().labels(KEY_SELECTOR))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// Seals `data` for the Secret `namespace/name` with the certificate PEM, through the library
/// (what `kubeseal --cert` does), returning the SealedSecret.
pub fn seal(
    cert_pem: &str,
    namespace: &str,
    name: &str,
    data: &[(&str, &[u8])],
) -> crds::SealedSecret {
    let (key, _) = crds::parse_sealing_key(cert_pem.as_bytes()).expect("certificate");
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), k8s_openapi::ByteString(v.to_vec())))
                .collect(),
        ),
        type_: Some("Opaque".to_owned()),
        ..Default::default()
    };
    crds::seal_secret(secret, &key, &crds::SealOptions::default()).expect("seal")
}

/// Creates a SealedSecret.
pub async fn create_sealed(client: &Client, sealed: &crds::SealedSecret) -> crds::SealedSecret {
    let ns = sealed.metadata.namespace.clone().expect("namespace");
    let api: Api<crds::SealedSecret> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), sealed)
        .await
        .expect("create SealedSecret")
}

/// The Secret `namespace/name` once it exists.
pub async fn wait_for_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Secret {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    eventually(timeout, &format!("Secret {namespace}/{name}"), || {
        let api = api.clone();
        async move { api.get_opt(name).await.ok().flatten() }
    })
    .await
}

/// Installs the project's CRD into the shared control plane once and returns it.
pub async fn control_plane() -> &'static envtest::ControlPlane {
    let cp = envtest::shared().await.expect("control plane");
    static CRD: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CRD.get_or_init(|| async {
        let crd = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crds/sealedsecrets.bitnami.com.yaml");
        cp.install_crd(crd).await.expect("install CRD");
    })
    .await;
    cp
}
