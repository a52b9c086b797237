//! Self-test of the envtest harness against a real kube-apiserver.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use envtest::ControlPlane;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams, WatchEvent, WatchParams,
};
use kube::Api;
use serde_json::json;

fn fixture_crd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/widgets.envtest.example.com.yaml")
}

fn widgets(cp: &ControlPlane, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("envtest.example.com", "v1", "Widget");
    let client = cp.client().expect("admin client");
    Api::namespaced_with(client, ns, &ApiResource::from_gvk(&gvk))
}

fn widget(name: &str, size: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "envtest.example.com/v1",
        "kind": "Widget",
        "metadata": { "name": name },
        "spec": { "size": size },
    }))
    .expect("valid widget")
}

/// Alive = has a /proc entry that is not a zombie.
fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

fn wait_dead(pids: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    while pids.iter().any(|&p| pid_alive(p)) {
        assert!(Instant::now() < deadline, "processes {pids:?} still alive");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn crd_object_is_watched() {
    let cp = envtest::shared().await.expect("control plane");
    cp.install_crd(fixture_crd()).await.expect("install CRD");
    let ns = cp.create_namespace("watch").await.expect("namespace");
    let api = widgets(cp, &ns);

    let rv = api
        .list_metadata(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("list resourceVersion");
    let mut events = api
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .expect("watch")
        .boxed();
    api.create(&PostParams::default(), &widget("w1", 1))
        .await
        .expect("create widget");

    let added = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.try_next().await.expect("watch event") {
            if let WatchEvent::Added(obj) = event {
                return obj;
            }
        }
        panic!("watch ended without an ADDED event");
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no ADDED event within 30s (apiserver log: {})",
            cp.apiserver_log_path().display()
        )
    });
    assert_eq!(added.metadata.name.as_deref(), Some("w1"));
    assert_eq!(added.data["spec"]["size"], 1);
}

#[tokio::test]
async fn stale_update_conflicts() {
    let cp = envtest::shared().await.expect("control plane");
    cp.install_crd(fixture_crd()).await.expect("install CRD");
    let ns = cp.create_namespace("conflict").await.expect("namespace");
    let api = widgets(cp, &ns);

    let stale = api
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .expect("create");
    let mut fresh = stale.clone();
    fresh.data["spec"]["size"] = json!(2);
    api.replace("w", &PostParams::default(), &fresh)
        .await
        .expect("first update");

    let mut outdated = stale;
    outdated.data["spec"]["size"] = json!(3);
    match api.replace("w", &PostParams::default(), &outdated).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert!(status.is_conflict(), "{status:?}");
        }
        other => panic!("expected a 409 Conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn unprivileged_service_account_is_forbidden() {
    let cp = envtest::shared().await.expect("control plane");
    let ns = cp.create_namespace("rbac").await.expect("namespace");

    let admin: Api<Secret> = Api::namespaced(cp.client().expect("client"), &ns);
    admin
        .list(&ListParams::default())
        .await
        .expect("admin lists secrets");

    let nobody = cp
        .impersonating_client(&ns, "nobody")
        .expect("impersonating client");
    match Api::<Secret>::namespaced(nobody, &ns)
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status
                    .message
                    .contains(&format!("system:serviceaccount:{ns}:nobody")),
                "{status:?}"
            );
        }
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn kubectl_uses_the_kubeconfig() {
    let cp = envtest::shared().await.expect("control plane");
    let ns = cp.create_namespace("kubectl").await.expect("namespace");
    let out = cp
        .kubectl(["get", "namespace", &ns, "-o", "name"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("namespace/{ns}")
    );
}

#[tokio::test]
async fn project_crd_installs_when_present() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds/sealedsecrets.bitnami.com.yaml");
    if !path.exists() {
        eprintln!("skipping: {} does not exist yet", path.display());
        return;
    }
    let cp = envtest::shared().await.expect("control plane");
    cp.install_crd(&path).await.expect("install project CRD");
    let ns = cp.create_namespace("sealed").await.expect("namespace");
    let gvk = GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret");
    let api: Api<DynamicObject> = Api::namespaced_with(
        cp.client().expect("client"),
        &ns,
        &ApiResource::from_gvk_with_plural(&gvk, "sealedsecrets"),
    );
    let list = api
        .list(&ListParams::default())
        .await
        .expect("list SealedSecrets");
    assert!(list.items.is_empty());
}

#[tokio::test]
async fn errors_name_the_apiserver_log() {
    let cp = envtest::shared().await.expect("control plane");
    let err = cp
        .install_crd("/nonexistent/crd.yaml")
        .await
        .expect_err("missing file must fail");
    let log = cp.apiserver_log_path();
    assert!(log.is_file());
    assert!(
        format!("{err:#}").contains(&log.display().to_string()),
        "{err:#}"
    );
}

#[tokio::test]
async fn two_control_planes_run_side_by_side_and_stop_on_drop() {
    let (a, b) = tokio::join!(ControlPlane::start(), ControlPlane::start());
    let (a, b) = (
        a.expect("first control plane"),
        b.expect("second control plane"),
    );
    assert_ne!(a.server_url(), b.server_url());

    for cp in [&a, &b] {
        let namespaces: Api<Namespace> = Api::all(cp.client().expect("client"));
        namespaces
            .list(&ListParams::default())
            .await
            .expect("list namespaces");
    }
    // Separate etcds: a namespace in one is unknown to the other.
    let ns = a.create_namespace("only-in-a").await.expect("namespace");
    let in_b: Api<Namespace> = Api::all(b.client().expect("client"));
    assert!(in_b.get_opt(&ns).await.expect("get").is_none());

    let pids = [
        a.etcd_pid(),
        a.apiserver_pid(),
        b.etcd_pid(),
        b.apiserver_pid(),
    ];
    assert!(pids.iter().all(|&p| pid_alive(p)));
    let dirs = [a.dir().to_path_buf(), b.dir().to_path_buf()];
    drop(a);
    drop(b);
    wait_dead(&pids, Duration::from_secs(1));
    assert!(dirs.iter().all(|d| !d.exists()), "dirs not removed");
}

const HELPER_ENV: &str = "ENVTEST_SELFTEST_WATCHDOG_HELPER";

/// Run by `watchdog_stops_processes_of_a_killed_test_binary` in a child test process: starts a
/// control plane, prints its PIDs and directory and waits to be killed.
#[tokio::test]
#[ignore = "helper, only does something when run by another test"]
async fn watchdog_helper() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let cp = ControlPlane::start().await.expect("control plane");
    println!("DIR {}", cp.dir().display());
    println!("PIDS {} {}", cp.etcd_pid(), cp.apiserver_pid());
    std::mem::forget(cp); // as with a static: never dropped
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[test]
fn watchdog_stops_processes_of_a_killed_test_binary() {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "watchdog_helper", "--nocapture"])
        .env(HELPER_ENV, "1")
        .env_remove("ENVTEST_KEEP")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn helper");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let dir = lines
        .find_map(|l| l.strip_prefix("DIR ").map(PathBuf::from))
        .expect("helper printed no directory (did its control plane start?)");
    let pids: Vec<u32> = lines
        .find_map(|l| {
            l.strip_prefix("PIDS ")
                .map(|p| p.split(' ').map(|n| n.parse().expect("pid")).collect())
        })
        .expect("helper printed no PIDs (did its control plane start?)");
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&p| pid_alive(p)));

    assert!(dir.is_dir());

    child.kill().expect("SIGKILL the helper");
    child.wait().expect("reap the helper");
    wait_dead(&pids, Duration::from_secs(10));
    // The watchdog removes the directory right after the kill; nothing is left in $TMPDIR.
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}
