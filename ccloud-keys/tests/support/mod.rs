//! Shared by ccloud-keys' integration tests: the real control plane with our controller, a
//! GitOps working tree, the operator's way of writing Secrets (`kubectl create secret generic
//! --dry-run=client -o yaml | kubectl label --local | kubectl apply`), and the oracles.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use envtest::workspace::{free_port, http_get, ControllerProcess};
use envtest::ControlPlane;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::{Api, Client};

/// The control plane of this test binary, with the SealedSecret CRD.
pub async fn control_plane() -> &'static ControlPlane {
    let cp = envtest::shared().await.expect("control plane");
    static CRD: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CRD.get_or_init(|| async {
        cp.install_crd(workspace().join("crds/sealedsecrets.bitnami.com.yaml"))
            .await
            .expect("CRD installs");
    })
    .await;
    cp
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A namespace for keys and one for the app, our controller running, its certificate in
/// `secrets/keys/dev.crt` of a fresh Git working tree.
pub struct Env {
    pub cp: &'static ControlPlane,
    pub client: Client,
    pub keys_ns: String,
    pub app_ns: String,
    pub controller: ControllerProcess,
    pub repo: tempfile::TempDir,
}

impl Env {
    pub async fn start(prefix: &str) -> Self {
        let cp = control_plane().await;
        let client = cp.client().expect("client");
        let keys_ns = cp
            .create_namespace(&format!("{prefix}-keys"))
            .await
            .expect("ns");
        let app_ns = cp.create_namespace(prefix).await.expect("ns");
        let controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[])
            .expect("controller starts");
        let cert = controller
            .wait_for_cert(Duration::from_secs(60))
            .expect("certificate");
        let repo = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(repo.path().join("secrets/keys")).expect("mkdir");
        std::fs::write(repo.path().join("secrets/keys/dev.crt"), cert).expect("cert");
        git(repo.path(), &["init", "--quiet", "--initial-branch=main"]);
        git(repo.path(), &["add", "."]);
        git(repo.path(), &["commit", "--quiet", "-m", "certificate"]);
        Self {
            cp,
            client,
            keys_ns,
            app_ns,
            controller,
            repo,
        }
    }

    pub fn repo(&self) -> &Path {
        self.repo.path()
    }

    /// The sealed file of `name` in the app namespace, relative to the repo.
    pub fn sealed_rel(&self, name: &str) -> String {
        format!("secrets/sealed/dev/{}-{name}.yaml", self.app_ns)
    }

    /// `kubectl ARGS` with `stdin`; panics with stderr on failure.
    pub fn kubectl(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let out = run(self.cp.kubectl(args), stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Writes a Secret the way the operators do: `kubectl create secret generic NAME
    /// CREATE_ARGS --dry-run=client -o yaml | kubectl label --local -f - LABELS -o yaml |
    /// kubectl apply -f -` (so it carries the plaintext last-applied annotation).
    pub fn operator_apply(&self, ns: &str, name: &str, create_args: &[&str], labels: &[&str]) {
        let mut create = vec!["create", "secret", "generic", name, "-n", ns];
        create.extend_from_slice(create_args);
        create.extend_from_slice(&["--dry-run=client", "-o", "yaml"]);
        let mut manifest = self.kubectl(&create, b"");
        if !labels.is_empty() {
            let mut label = vec!["label", "--local", "-f", "-", "-o", "yaml", "--overwrite"];
            label.extend_from_slice(labels);
            manifest = self.kubectl(&label, &manifest);
        }
        self.kubectl(&["apply", "-f", "-"], &manifest);
    }

    /// Each key Secret's private key in its own PEM file (for the oracle), by Secret name.
    pub async fn private_keys(&self) -> BTreeMap<String, tempfile::NamedTempFile> {
        let keys: Api<Secret> = Api::namespaced(self.client.clone(), &self.keys_ns);
        let list = keys
            .list(&ListParams::default().labels("sealedsecrets.bitnami.com/sealed-secrets-key"))
            .await
            .expect("key Secrets");
        let mut files = BTreeMap::new();
        for s in list.items {
            let name = s.metadata.name.clone().unwrap_or_default();
            let pem = s
                .data
                .and_then(|d| d.get("tls.key").cloned())
                .expect("tls.key");
            let mut file = tempfile::NamedTempFile::new().expect("temp file");
            file.write_all(&pem.0).expect("write key");
            files.insert(name, file);
        }
        files
    }
}

/// Runs `cmd` with `stdin`, capturing output.
pub fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("process starts");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).expect("stdin");
    }
    child.wait_with_output().expect("process runs")
}

pub use envtest::git::git;

/// The `ccloud-keys` under test, not yet run.
pub fn ccloud_keys(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccloud-keys"));
    cmd.args(args).env_remove("RUST_LOG");
    cmd
}

/// `oracle unseal-object`: the data map (base64 values) an independent implementation gets
/// from a sealed file.
pub fn oracle_unseal(
    sealed: &[u8],
    keys: &BTreeMap<String, tempfile::NamedTempFile>,
) -> BTreeMap<String, String> {
    try_oracle_unseal(sealed, keys.values().map(|f| f.path()))
        .unwrap_or_else(|e| panic!("oracle unseal-object failed: {e}"))
}

/// `oracle unseal-object` with these key files; the error is the oracle's stderr.
pub fn try_oracle_unseal<'a>(
    sealed: &[u8],
    keys: impl IntoIterator<Item = &'a Path>,
) -> Result<BTreeMap<String, String>, String> {
    let mut cmd = Command::new(workspace().join("tests/oracles/oracle"));
    cmd.arg("unseal-object");
    for key in keys {
        cmd.arg("--key").arg(key);
    }
    let out = run(cmd, sealed);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("oracle JSON"))
}

/// A Secret's data as a base64 map (the oracle's shape).
pub fn data_b64(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                base64::engine::general_purpose::STANDARD.encode(&v.0),
            )
        })
        .collect()
}

pub use envtest::workspace::eventually;

/// Waits for Secret `ns/name` to exist and satisfy `ok`.
pub async fn wait_secret(
    client: &Client,
    ns: &str,
    name: &str,
    ok: impl Fn(&Secret) -> bool,
) -> Secret {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    eventually(
        Duration::from_secs(60),
        &format!("Secret {ns}/{name}"),
        || {
            let api = api.clone();
            let ok = &ok;
            async move { api.get_opt(name).await.ok().flatten().filter(|s| ok(s)) }
        },
    )
    .await
}

/// `ccloud-keys watch` as a child process; killed on drop, log printed when a test fails.
pub struct WatchProcess {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl WatchProcess {
    /// Watches `env`'s app namespace as admin, certificate from `env`'s controller.
    pub fn start_in(env: &Env, extra: &[&str]) -> Self {
        let cert = format!("--cert={}", env.controller.cert_url());
        let ns = format!("--namespace={}", env.app_ns);
        let mut args = vec!["--env=dev", ns.as_str(), cert.as_str()];
        args.extend_from_slice(extra);
        Self::start(env.repo(), env.cp.kubeconfig_path(), &args)
    }

    /// `ccloud-keys watch --repo REPO --kubeconfig KUBECONFIG --cert-refresh=0s
    /// --retry-interval=1s --listen-addr=127.0.0.1:<free port> ARGS`.
    pub fn start(repo: &Path, kubeconfig: &Path, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("watch.log");
        let port = free_port().expect("port");
        let child = ccloud_keys(&["watch"])
            .arg("--repo")
            .arg(repo)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--cert-refresh=0s", "--retry-interval=1s"])
            .arg(format!("--listen-addr=127.0.0.1:{port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("watch starts");
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A counter from `/metrics` (0 when absent or not up yet).
    pub fn metric(&self, name: &str) -> f64 {
        let text = http_get(self.port, "/metrics").unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn wait_metric(&self, name: &str, at_least: f64) {
        eventually(
            Duration::from_secs(60),
            &format!("{name} >= {at_least}"),
            || async { (self.metric(name) >= at_least).then_some(()) },
        )
        .await;
    }
}

impl Drop for WatchProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("ccloud-keys watch log:\n{}", self.log());
        }
    }
}
