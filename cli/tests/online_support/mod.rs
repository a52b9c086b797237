//! Helpers for `online.rs`: the real control plane (`envtest`), our controller running inside a
//! network-namespace test host, and the objects that let the API server's Service proxy reach it
//! (see `/work/shared/reference/control-plane.md`, "Reaching a locally running controller through
//! the API server's Service proxy").
//!
//! Topology of one [`Controller`]:
//!
//! ```text
//!  host netns                                   test host netns (ks<pid>n<k>)
//!  kube-apiserver 127.0.0.1:P  <- Forwarder <- 10.222.a.b+1 ==veth== 10.222.a.b+2  controller
//!  (proxy: Service/Endpoints -> 10.222.a.b+2:8080) ------------------------------> :8080
//! ```
//!
//! The controller's kube client cannot reach the apiserver's loopback address from inside its
//! namespace, so a small in-process TCP forwarder listens on the host side of the veth pair and
//! forwards to the apiserver. No traffic leaves 127.0.0.0/8 and the test's own veth pairs.
//!
//! The controller binary: `SEALED_SECRETS_CONTROLLER_BIN` if set, else `cargo build -p
//! sealed-secrets-controller` is run once per test binary into the same target directory and
//! profile as the test (`envtest::workspace::workspace_bin`), so the binary is never stale; when
//! up to date the build is a no-op.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Endpoints, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;

/// The port the controller listens on inside its test host.
pub const CONTROLLER_PORT: u16 = 8080;
/// The key Secret label selector.
pub use envtest::git::git;
pub use envtest::keys::{key_secrets, KEY_SELECTOR};
/// Upper bound for any single `kubeseal` run that is expected to fail.
pub const ERROR_DEADLINE: Duration = Duration::from_secs(40);

// ---------------------------------------------------------------------------------------------
// Binaries and the control plane
// ---------------------------------------------------------------------------------------------

/// The `kubeseal` under test.
pub fn kubeseal_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kubeseal"))
}

/// `sealed-secrets-controller`, built once per test binary (see the module docs).
pub fn controller_bin() -> PathBuf {
    envtest::workspace::workspace_bin("sealed-secrets-controller", "sealed-secrets-controller")
        .expect("the controller binary")
}

/// The shared control plane of this test binary, with the SealedSecret CRD installed.
pub async fn control_plane() -> &'static envtest::ControlPlane {
    let cp = envtest::shared().await.expect("control plane");
    static CRD: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CRD.get_or_init(|| async {
        let crd =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/sealedsecrets.bitnami.com.yaml");
        cp.install_crd(crd)
            .await
            .expect("install the SealedSecret CRD");
    })
    .await;
    cp
}

// ---------------------------------------------------------------------------------------------
// kubeseal runs
// ---------------------------------------------------------------------------------------------

/// One `kubeseal` run.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
    pub what: String,
}

impl Ran {
    /// Stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics unless it exited 0; returns stdout.
    pub fn ok(&self) -> &[u8] {
        assert_eq!(
            self.code,
            Some(0),
            "{} failed after {:?}: {}",
            self.what,
            self.elapsed,
            self.stderr
        );
        &self.stdout
    }

    /// Panics unless it exited 1 within [`ERROR_DEADLINE`], wrote nothing to stdout and exactly
    /// one line to stderr holding `needle`.
    pub fn fails_with(&self, needle: &str) {
        assert_eq!(
            self.code,
            Some(1),
            "{}: expected exit 1, stderr: {}",
            self.what,
            self.stderr
        );
        assert!(
            self.elapsed < ERROR_DEADLINE,
            "{} took {:?}",
            self.what,
            self.elapsed
        );
        assert!(
            self.stdout.is_empty(),
            "{} wrote to stdout: {}",
            self.what,
            self.stdout_text()
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "{}: expected one line on stderr, got: {}",
            self.what,
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "{}: expected {needle:?} in: {}",
            self.what,
            self.stderr
        );
    }
}

/// `kubeseal ARGS < stdin`, with a clean environment (no `SEALED_SECRETS_*`, no `KUBECONFIG`)
/// plus `env`.
pub fn kubeseal(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Ran {
    let mut cmd = Command::new(kubeseal_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SEALED_SECRETS_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env_remove("KUBECONFIG")
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("kubeseal {}", args.join(" "));
    let started = Instant::now();
    let mut child = cmd.spawn().expect("kubeseal starts");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out: Output = child.wait_with_output().expect("kubeseal runs");
    let _ = writer.join();
    Ran {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
        what,
    }
}

// ---------------------------------------------------------------------------------------------
// Test hosts in network namespaces
// ---------------------------------------------------------------------------------------------

/// Runs `ip ARGS`; panics with its stderr on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("running ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `ip ARGS`, ignoring failure (cleanup of what may not exist).
fn ip_quiet(args: &[&str]) {
    let _ = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills the registered PIDs and deletes the namespace once its stdin closes, i.e. once the
/// test process is gone however it ended (the write end is close-on-exec: only we hold it).
const WATCHDOG_SCRIPT: &str = r#"
pids=
while read -r line; do pids="$pids $line"; done
[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
ip netns del "$1" 2>/dev/null
ip link del "$2" 2>/dev/null
exit 0
"#;

/// A network namespace with a veth pair: `host_ip` on the host side, `pod_ip` inside.
/// Deleted on drop; a watchdog shell deletes it if the test process dies without unwinding.
pub struct TestHost {
    pub netns: String,
    pub veth_host: String,
    pub host_ip: Ipv4Addr,
    pub pod_ip: Ipv4Addr,
    watchdog: Option<(Child, ChildStdin)>,
}

impl TestHost {
    /// Creates a fresh test host with a unique /30 out of 10.222.0.0/16.
    pub fn create() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let in_use = Command::new("ip")
            .args(["-4", "-o", "addr", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let (k, host_ip, pod_ip) = loop {
            let k = NEXT.fetch_add(1, Ordering::Relaxed);
            assert!(k < 64, "too many test hosts in one test binary");
            // 64 /30 blocks per process, placed by PID: concurrent test binaries do not collide.
            let block = (pid % 256) * 64 + k;
            let third = u8::try_from(block / 64).expect("third octet");
            let fourth = u8::try_from((block % 64) * 4).expect("fourth octet");
            let host_ip = Ipv4Addr::new(10, 222, third, fourth + 1);
            let pod_ip = Ipv4Addr::new(10, 222, third, fourth + 2);
            if !in_use.contains(&format!(" {host_ip}/")) && !in_use.contains(&format!(" {pod_ip}/"))
            {
                break (k, host_ip, pod_ip);
            }
        };
        let netns = format!("ks{pid}n{k}");
        let veth_host = format!("ks{pid}h{k}");
        let veth_peer = format!("ks{pid}p{k}");
        assert!(netns.len() <= 15 && veth_host.len() <= 15);
        // Leftovers of a dead process that had the same PID.
        ip_quiet(&["netns", "del", &netns]);
        ip_quiet(&["link", "del", &veth_host]);

        let mut host = Self {
            netns,
            veth_host,
            host_ip,
            pod_ip,
            watchdog: None,
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("netns-watchdog")
            .arg(&host.netns)
            .arg(&host.veth_host)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning the netns watchdog (sh)");
        let stdin = child.stdin.take().expect("watchdog stdin");
        host.watchdog = Some((child, stdin));

        let (ns, vh) = (host.netns.clone(), host.veth_host.clone());
        let (h, p) = (format!("{host_ip}/30"), format!("{pod_ip}/30"));
        ip(&["netns", "add", &ns]);
        ip(&[
            "link", "add", &vh, "type", "veth", "peer", "name", &veth_peer,
        ]);
        ip(&["link", "set", &veth_peer, "netns", &ns]);
        ip(&["addr", "add", &h, "dev", &vh]);
        ip(&["link", "set", &vh, "up"]);
        ip(&["-n", &ns, "addr", "add", &p, "dev", &veth_peer]);
        ip(&["-n", &ns, "link", "set", &veth_peer, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        host
    }

    /// Has the watchdog kill `pid` if the test process dies.
    fn watch_pid(&mut self, pid: u32) {
        if let Some((_, stdin)) = self.watchdog.as_mut() {
            let _ = writeln!(stdin, "{pid}");
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // The watchdog first, so that it never acts on a PID we have already reaped.
        if let Some((mut child, _stdin)) = self.watchdog.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        ip_quiet(&["netns", "del", &self.netns]);
        ip_quiet(&["link", "del", &self.veth_host]);
    }
}

// ---------------------------------------------------------------------------------------------
// A TCP forwarder from the host side of a veth pair to the apiserver's loopback port
// ---------------------------------------------------------------------------------------------

/// Accepts on `addr` (the host side of a veth pair) and forwards each connection to `target`.
pub struct Forwarder {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    pub fn start(bind: Ipv4Addr, target: SocketAddr) -> Self {
        let listener = TcpListener::bind((bind, 0)).expect("binding the forwarder");
        let addr = listener.local_addr().expect("forwarder address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(client) = conn {
                    std::thread::spawn(move || pipe(client, target));
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

fn pipe(client: TcpStream, target: SocketAddr) {
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_r, &mut server_w);
        let _ = server_w.shutdown(Shutdown::Write);
    });
    let (mut server_r, mut client_w) = (server, client);
    let _ = std::io::copy(&mut server_r, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Both);
    let _ = server_r.shutdown(Shutdown::Both);
    let _ = upstream.join();
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The controller inside a test host
// ---------------------------------------------------------------------------------------------

/// `sealed-secrets-controller` running inside its own test host, keys in `namespace`.
/// Field order is drop order: process (killed in `drop`), forwarder, then the test host.
pub struct Controller {
    child: Child,
    pub namespace: String,
    pub log_path: PathBuf,
    _forwarder: Forwarder,
    pub host: TestHost,
    _dir: tempfile::TempDir,
}

impl Controller {
    /// Starts the controller in a new test host, watching only `namespace` (where it also keeps
    /// its keys), with 2048-bit keys (unless `extra` has a `--key-size`), plus `extra` flags;
    /// waits until it serves a certificate.
    pub fn start(cp: &envtest::ControlPlane, namespace: &str, extra: &[&str]) -> Self {
        let bin = controller_bin();
        let mut host = TestHost::create();
        let api: SocketAddr = cp
            .server_url()
            .trim_start_matches("https://")
            .parse()
            .expect("apiserver address");
        let forwarder = Forwarder::start(host.host_ip, api);
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = std::fs::read_to_string(cp.kubeconfig_path())
            .expect("read kubeconfig")
            .replace(cp.server_url(), &format!("https://{}", forwarder.addr));
        let kubeconfig_path = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig_path, kubeconfig).expect("write kubeconfig");
        let log_path = dir.path().join("controller.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let key_size = if extra.iter().any(|a| a.starts_with("--key-size")) {
            None
        } else {
            Some("--key-size=2048")
        };
        let child = Command::new("ip")
            .args(["netns", "exec", &host.netns])
            .arg(bin)
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", format!("controller-{}", host.netns))
            .env_remove("RUST_LOG")
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(&kubeconfig_path)
            .arg(format!("--listen-addr={}:{CONTROLLER_PORT}", host.pod_ip))
            .arg("--listen-metrics-addr=127.0.0.1:8081")
            .args(key_size)
            .arg("--all-namespaces=false")
            .arg(format!("--additional-namespaces={namespace}"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("ip netns exec <controller> starts");
        // `ip netns exec` execs the program: this PID is the controller's.
        host.watch_pid(child.id());
        let controller = Self {
            child,
            namespace: namespace.to_owned(),
            log_path,
            _forwarder: forwarder,
            host,
            _dir: dir,
        };
        controller.wait_for_cert(Duration::from_secs(60));
        controller
    }

    /// `http://<pod ip>:8080<path>`: the controller reached directly in its test host.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{CONTROLLER_PORT}{path}", self.host.pod_ip)
    }

    pub fn pod_ip(&self) -> Ipv4Addr {
        self.host.pod_ip
    }

    /// The controller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `/v1/cert.pem`, fetched directly; panics after `timeout`.
    pub fn wait_for_cert(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, body)) = http_get(self.host.pod_ip, &self.url("/v1/cert.pem")) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "controller served no certificate within {timeout:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The certificate served now.
    pub fn cert(&self) -> String {
        self.wait_for_cert(Duration::from_secs(10))
    }

    /// Sends a signal (e.g. `USR1`) to the controller.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} failed");
    }

    /// Renews the key with SIGUSR1 and waits until the new certificate is served; returns it.
    /// Certificates have 1 s resolution and keys are ordered by NotBefore: first waits until a
    /// new key would be strictly newer than the current one.
    pub fn renew_key(&self) -> String {
        let old_cert = self.cert();
        let not_before = crds::Certificate::from_pem(old_cert.as_bytes())
            .expect("certificate")
            .not_before();
        while std::time::SystemTime::now() < not_before + Duration::from_millis(1100) {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.signal("USR1");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let cert = self.cert();
            if cert != old_cert {
                return cert;
            }
            assert!(
                Instant::now() < deadline,
                "no new key within 30s of SIGUSR1; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILL and reap (the test host stays).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "controller log ({} in {}):\n{}",
                self.log_path.display(),
                self.host.netns,
                self.log()
            );
        }
    }
}

/// A minimal HTTP/1.1 GET to a test host: (status, body).
pub fn http_get(ip: Ipv4Addr, url: &str) -> std::io::Result<(u16, String)> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (hostport, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let port: u16 = hostport
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(80);
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )?;
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

// ---------------------------------------------------------------------------------------------
// Kubernetes objects
// ---------------------------------------------------------------------------------------------

/// Creates `obj`, ignoring "already exists".
async fn create_or_keep<K>(api: &Api<K>, obj: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(obj).expect("valid object");
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("creating {obj:?}: {e}"),
    }
}

/// The Pod the controller "is": its status holds `pod_ip`, which the apiserver requires of an
/// endpoint it proxies to. Also creates the namespace's `default` ServiceAccount (no
/// kube-controller-manager runs to do it).
pub async fn create_pod(client: &Client, namespace: &str, pod: &str, pod_ip: Ipv4Addr) {
    let template = json!({
        "metadata": {"labels": {"app": "sealed-secrets"}},
        "spec": {
            "containers": [{"name": "controller", "image": "sealed-secrets-controller:test"}]
        }
    });
    create_pod_from_template(client, namespace, pod, template, pod_ip).await;
}

/// [`create_pod`] for a Pod made from `template` (a Deployment's `spec.template`): its labels
/// and spec, with `automountServiceAccountToken: false` (no token controller runs to make the
/// token the API server would want to mount).
pub async fn create_pod_from_template(
    client: &Client,
    namespace: &str,
    pod: &str,
    mut template: serde_json::Value,
    pod_ip: Ipv4Addr,
) {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    create_or_keep(&sas, json!({"metadata": {"name": "default"}})).await;
    template["metadata"]["name"] = json!(pod);
    template["spec"]["automountServiceAccountToken"] = json!(false);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    create_or_keep(&pods, template).await;
    pods.patch_status(
        pod,
        &PatchParams::default(),
        &Patch::Merge(json!({
            "status": {"podIP": pod_ip.to_string(), "podIPs": [{"ip": pod_ip.to_string()}]}
        })),
    )
    .await
    .expect("patch the Pod status");
}

/// A selector-less Service `name` whose only port is named `port_name`.
pub async fn create_service(client: &Client, namespace: &str, name: &str, port_name: &str) {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    create_or_keep(
        &services,
        json!({
            "metadata": {"name": name},
            "spec": {"ports": [{
                "name": port_name, "port": CONTROLLER_PORT, "targetPort": CONTROLLER_PORT
            }]}
        }),
    )
    .await;
}

/// Hand-written Endpoints for Service `name`: `pod`'s address, port named `port_name`.
pub async fn create_endpoints(
    client: &Client,
    namespace: &str,
    name: &str,
    port_name: &str,
    pod: &str,
    pod_ip: Ipv4Addr,
) {
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), namespace);
    create_or_keep(
        &endpoints,
        json!({
            "metadata": {"name": name},
            "subsets": [{
                "addresses": [{
                    "ip": pod_ip.to_string(),
                    "targetRef": {"kind": "Pod", "name": pod, "namespace": namespace}
                }],
                "ports": [{"name": port_name, "port": CONTROLLER_PORT, "protocol": "TCP"}]
            }]
        }),
    )
    .await;
}

/// Pod + Service + Endpoints: the controller reachable as Service `name` (port `port_name`).
pub async fn expose(client: &Client, controller: &Controller, name: &str, port_name: &str) {
    let ns = &controller.namespace;
    let pod = "sealed-secrets-controller-0";
    create_pod(client, ns, pod, controller.pod_ip()).await;
    create_service(client, ns, name, port_name).await;
    create_endpoints(client, ns, name, port_name, pod, controller.pod_ip()).await;
}

/// A Role with `rules` bound to ServiceAccount `sa` of `namespace`.
pub async fn grant(client: &Client, namespace: &str, sa: &str, rules: serde_json::Value) {
    let role = format!("{sa}-role");
    let roles: Api<Role> = Api::namespaced(client.clone(), namespace);
    create_or_keep(&roles, json!({"metadata": {"name": role}, "rules": rules})).await;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), namespace);
    create_or_keep(
        &bindings,
        json!({
            "metadata": {"name": format!("{sa}-binding")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]
        }),
    )
    .await;
}

/// The private key of the key Secret in `namespace` whose certificate is `cert_pem`.
pub async fn private_key_for(client: &Client, namespace: &str, cert_pem: &str) -> crds::PrivateKey {
    let der = crds::Certificate::from_pem(cert_pem.as_bytes())
        .expect("certificate")
        .der()
        .to_vec();
    key_secrets(client, namespace)
        .await
        .iter()
        .map(|s| crds::keygen::from_key_secret(s).expect("key Secret"))
        .find(|k| k.certificate.der() == der.as_slice())
        .expect("a key Secret holds the served certificate")
        .private_key
}

/// The values of `sealed` opened with `key` alone, as strings.
pub fn open_with(
    sealed: &crds::SealedSecret,
    key: &crds::PrivateKey,
) -> Result<std::collections::BTreeMap<String, String>, crds::UnsealError> {
    let opts = crds::UnsealOptions {
        accept_deprecated_v1_data: false,
    };
    crds::convert::decrypt_values(sealed, std::slice::from_ref(key), opts).map(|d| {
        d.values
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8(v.to_vec()).expect("UTF-8")))
            .collect()
    })
}

/// A Secret manifest (YAML) with `stringData` (plain values, quoted as JSON strings).
pub fn secret_yaml(namespace: &str, name: &str, data: &[(&str, &str)]) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
         type: Opaque\nstringData:\n"
    );
    for (k, v) in data {
        text.push_str(&format!("  {k}: {}\n", serde_json::Value::from(*v)));
    }
    text
}

/// The single SealedSecret in a `kubeseal` output (JSON or YAML).
pub fn parse_sealed(text: &[u8]) -> crds::SealedSecret {
    let mut docs = crds::parse_documents(text).expect("kubeseal output parses");
    assert_eq!(docs.len(), 1, "one document expected");
    serde_json::from_value(docs.remove(0).value).expect("a SealedSecret")
}

/// Creates the SealedSecret and waits until the controller made its Secret; returns its data
/// as strings.
pub async fn apply_and_unseal(
    client: &Client,
    sealed: &crds::SealedSecret,
) -> std::collections::BTreeMap<String, String> {
    let ns = sealed.metadata.namespace.clone().expect("namespace");
    let name = sealed.metadata.name.clone().expect("name");
    let api: Api<crds::SealedSecret> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), sealed)
        .await
        .expect("create SealedSecret");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + Duration::from_secs(30);
    let secret = loop {
        if let Ok(Some(s)) = secrets.get_opt(&name).await {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the controller made no Secret {ns}/{name} within 30s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).expect("UTF-8 value")))
        .collect()
}

/// `[(k, v)]` as an owned map.
pub fn map(data: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    data.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
