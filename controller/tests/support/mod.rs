//! Shared helpers for the controller's integration tests: a controller process against the real
//! local control plane (`envtest`), isolated per test by namespaces and ports.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::Client;

pub use envtest::http::Response as HttpResponse;
pub use envtest::http::{call as http_call, get as http_get, request as http_request};
pub use envtest::keys::{key_secrets, KEY_SELECTOR};
pub use envtest::metrics::{samples as metric_samples, value as metric_value};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    envtest::workspace::free_port().expect("a free port")
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
        let args: Vec<String> = [
            "--key-size=2048".to_owned(),
            "--all-namespaces=false".to_owned(),
            format!("--additional-namespaces={}", watch_namespaces.join(",")),
        ]
        .into_iter()
        .chain(extra.iter().map(|a| (*a).to_owned()))
        .collect();
        Self::start_exact(kubeconfig, key_namespace, None, &args, &[])
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

pub use envtest::workspace::eventually;

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

/// The Synced condition of a SealedSecret, if any: (status, message).
pub fn synced_condition(sealed: &crds::SealedSecret) -> Option<(String, String)> {
    sealed.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Synced")
            .map(|c| (c.status.clone(), c.message.clone().unwrap_or_default()))
    })
}

/// The SealedSecret `ns/name` once its Synced condition is `want` ("True" / "False"), within
/// 30 s.
pub async fn wait_synced(client: &Client, ns: &str, name: &str, want: &str) -> crds::SealedSecret {
    let api: Api<crds::SealedSecret> = Api::namespaced(client.clone(), ns);
    let what = format!("SealedSecret {ns}/{name} to have Synced={want}");
    eventually(Duration::from_secs(30), &what, || {
        let api = api.clone();
        async move {
            let sealed = api.get(name).await.ok()?;
            let (status, _) = synced_condition(&sealed)?;
            (status == want).then_some(sealed)
        }
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

// ---- Helpers for keys_ha.rs and api.rs ----

impl ControllerProcess {
    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A fresh 2048-bit key whose certificate starts at `not_before`, stored (as a third party
/// would: a restore, another controller) as the active key Secret `namespace/name`.
pub async fn create_key_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    not_before: std::time::SystemTime,
) -> (Secret, crds::keygen::SealingKey) {
    let key = crds::keygen::generate(2048, "", not_before, Duration::from_secs(3600 * 24 * 365))
        .expect("generate a key");
    let mut secret = crds::keygen::key_secret(
        &key,
        "unused-",
        namespace,
        &Default::default(),
        &Default::default(),
    )
    .expect("key Secret");
    secret.metadata.generate_name = None;
    secret.metadata.name = Some(name.to_owned());
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let created = api
        .create(&PostParams::default(), &secret)
        .await
        .expect("create key Secret");
    (created, key)
}

/// `tls.crt` of a key Secret.
pub fn key_cert_pem(secret: &Secret) -> String {
    let crt = secret
        .data
        .as_ref()
        .and_then(|d| d.get("tls.crt"))
        .expect("key Secret has tls.crt");
    String::from_utf8(crt.0.clone()).expect("tls.crt is text")
}

/// Whether two PEM texts hold the same (first) certificate.
pub fn same_cert(a: &str, b: &str) -> bool {
    match (
        crds::Certificate::from_pem(a.as_bytes()),
        crds::Certificate::from_pem(b.as_bytes()),
    ) {
        (Ok(a), Ok(b)) => a.der() == b.der(),
        _ => false,
    }
}

/// A running controller with its namespaces and certificate, for one test.
pub struct Env {
    /// Admin client of the control plane.
    pub client: Client,
    /// Where the controller keeps its keys.
    pub keys_ns: String,
    /// The one namespace it unseals in.
    pub app_ns: String,
    /// The controller.
    pub controller: ControllerProcess,
    /// Its certificate (PEM).
    pub cert: String,
}

impl Env {
    /// Starts a controller (fresh key namespace `PREFIX-keys` + app namespace `PREFIX`) with
    /// `extra` flags, and waits for its certificate.
    pub async fn start(prefix: &str, extra: &[&str]) -> Self {
        let cp = control_plane().await;
        let client = cp.client().expect("admin client for the control plane");
        let keys_ns = cp
            .create_namespace(&format!("{prefix}-keys"))
            .await
            .expect("create the key namespace");
        let app_ns = cp
            .create_namespace(prefix)
            .await
            .expect("create the app namespace");
        let controller =
            ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], extra);
        let cert = controller.wait_for_cert(Duration::from_secs(60));
        Self {
            client,
            keys_ns,
            app_ns,
            controller,
            cert,
        }
    }
}

/// A key namespace and an app namespace, both fresh.
pub async fn namespaces(cp: &envtest::ControlPlane, prefix: &str) -> (String, String) {
    let keys = cp
        .create_namespace(&format!("{prefix}-keys"))
        .await
        .expect("key namespace");
    let app = cp
        .create_namespace(&format!("{prefix}-app"))
        .await
        .expect("app namespace");
    (keys, app)
}

// ---- Helpers for deploy.rs ----

impl ControllerProcess {
    /// Starts `sealed-secrets-controller` with exactly `args` plus `--kubeconfig` and listen
    /// addresses on free loopback ports (none of [`ControllerProcess::start`]'s test defaults:
    /// no namespace filter, the default key size), with `POD_NAMESPACE=namespace`,
    /// `POD_NAME=pod_name` (as the Deployment's downward API sets them; default
    /// `controller-<api port>`) and `env`.
    pub fn start_exact(
        kubeconfig: &std::path::Path,
        namespace: &str,
        pod_name: Option<&str>,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Self {
        let log_dir = tempfile::tempdir().expect("tempdir");
        let log_path = log_dir.path().join("controller.log");
        // Appending, so that stdout and stderr lines interleave instead of overwriting.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let api_port = free_port();
        let metrics_port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealed-secrets-controller"));
        cmd.env("POD_NAMESPACE", namespace)
            .env(
                "POD_NAME",
                pod_name.map_or_else(|| format!("controller-{api_port}"), str::to_owned),
            )
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg(format!("--listen-addr=127.0.0.1:{api_port}"))
            .arg(format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"))
            // INFO lines go to stdout (--log-info-stdout), warnings and errors to stderr.
            .stdout(log.try_clone().expect("log file"))
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
}

// ---- Helpers for chart_rbac.rs and render_bounds.rs ----

/// The arguments upstream's Helm chart gives the controller by default, with these ports.
pub fn chart_default_args(api_port: u16, metrics_port: u16) -> Vec<String> {
    [
        "--update-status".to_owned(),
        "--key-prefix".to_owned(),
        "sealed-secrets-key".to_owned(),
        "--listen-addr".to_owned(),
        format!(":{api_port}"),
        "--listen-metrics-addr".to_owned(),
        format!(":{metrics_port}"),
    ]
    .into()
}

impl ControllerProcess {
    /// Starts `sealed-secrets-controller` with the chart's default arguments (see
    /// [`chart_default_args`]) on free ports, then `extra`, then only what running outside the
    /// cluster needs (`--kubeconfig`), with `POD_NAMESPACE=namespace` and `env`.
    pub fn start_chart(
        kubeconfig: &std::path::Path,
        namespace: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let log_dir = tempfile::tempdir().expect("tempdir");
        let log_path = log_dir.path().join("controller.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let api_port = free_port();
        let metrics_port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealed-secrets-controller"));
        cmd.env("POD_NAMESPACE", namespace)
            .env("POD_NAME", format!("sealed-secrets-controller-{api_port}"))
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .args(chart_default_args(api_port, metrics_port))
            .args(extra)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .stdout(log.try_clone().expect("log file"))
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
}
