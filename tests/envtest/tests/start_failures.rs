//! Start-up failure handling, with fake kube-apiserver wrappers around the real binaries.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use envtest::ControlPlane;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::ListParams;
use kube::Api;

/// An assets dir whose kube-apiserver is `script`, with the real etcd and kubectl.
fn fake_assets(script: &str) -> tempfile::TempDir {
    let real = envtest::assets_dir().expect("real assets (run tests/envtest/install.sh)");
    let dir = tempfile::tempdir().expect("tempdir");
    for bin in ["etcd", "kubectl"] {
        symlink(real.join(bin), dir.path().join(bin)).expect("symlink");
    }
    let script = script
        .replace("@DIR@", &dir.path().display().to_string())
        .replace("@REAL@", &real.join("kube-apiserver").display().to_string());
    let apiserver = dir.path().join("kube-apiserver");
    std::fs::write(&apiserver, script).expect("write script");
    std::fs::set_permissions(&apiserver, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

#[tokio::test]
async fn failed_start_reports_the_apiserver_log() {
    let assets = fake_assets("#!/bin/sh\necho 'fake apiserver: something broke' >&2\nexit 1\n");
    let err = ControlPlane::start_with_assets(assets.path())
        .await
        .expect_err("a failing apiserver must fail the start");
    let msg = format!("{err:#}");
    assert!(msg.contains("something broke"), "{msg}");
    assert!(msg.contains("apiserver.log"), "{msg}");
    // The directory with the log is kept for the post-mortem.
    let kept = msg
        .rsplit_once("control plane dir kept: ")
        .map(|(_, rest)| rest.trim_end_matches(')'))
        .expect("kept dir in message");
    assert!(Path::new(kept).join("apiserver.log").is_file(), "{msg}");
    std::fs::remove_dir_all(kept).expect("clean up");
}

#[tokio::test]
async fn port_collision_is_retried() {
    // The first run reports a port collision; later runs are the real apiserver.
    let assets = fake_assets(
        "#!/bin/sh\n\
         if [ ! -e @DIR@/tried ]; then\n\
           touch @DIR@/tried\n\
           echo 'listen tcp 127.0.0.1:1: bind: address already in use' >&2\n\
           exit 1\n\
         fi\n\
         exec @REAL@ \"$@\"\n",
    );
    let cp = ControlPlane::start_with_assets(assets.path())
        .await
        .expect("start after a retry");
    assert!(assets.path().join("tried").exists());
    let namespaces: Api<Namespace> = Api::all(cp.client().expect("client"));
    namespaces
        .list(&ListParams::default())
        .await
        .expect("list namespaces");
}
