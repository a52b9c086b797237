//! `deploy/reseal` on the real control plane: it renders with the project's kubectl, applies,
//! and the CronJob's own command, run as its ServiceAccount against the controller in
//! `kube-system`, re-encrypts only what is stale, commits once and pushes to a bare repository;
//! a second run pushes nothing; everything but the controller's Service proxy is denied.

pub mod online_support;

use std::path::Path;

use k8s_openapi::api::authorization::v1::ResourceAttributes;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::Client;
use online_support::{
    control_plane, expose, git, kubeseal, open_with, private_key_for, Controller,
};

const SA: &str = "system:serviceaccount:sealed-secrets-reseal:reseal";
const RAISED_RATE_LIMIT: [&str; 2] = ["--rate-limit=1000", "--rate-limit-burst=1000"];

fn kubectl(cp: &envtest::ControlPlane, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = cp
        .kubectl(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write");
    let out = child.wait_with_output().expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn sealed_file(cert_pem: &str, i: usize) -> Vec<u8> {
    let (key, _) = crds::parse_sealing_key(cert_pem.as_bytes()).expect("cert");
    let mut secret = Secret::default();
    secret.metadata.name = Some(format!("app-{i}"));
    secret.metadata.namespace = Some("apps".to_owned());
    secret.data = Some(
        [(
            "token".to_owned(),
            ByteString(format!("t-{i}").into_bytes()),
        )]
        .into(),
    );
    let sealed = crds::seal_secret(secret, &key, &crds::SealOptions::default()).expect("seal");
    crds::write_sealed_secrets(&[sealed], crds::Format::Yaml)
        .expect("yaml")
        .into_bytes()
}

async fn may(client: &Client, verb: &str, resource: &str, ns: &str, name: Option<&str>) -> bool {
    let (group, resource) = resource.split_once('/').unwrap_or(("", resource));
    let groups = [
        "system:serviceaccounts",
        "system:serviceaccounts:sealed-secrets-reseal",
        "system:authenticated",
    ]
    .map(str::to_owned);
    let (resource, subresource) = match resource.split_once(':') {
        Some((r, s)) => (r, Some(s.to_owned())),
        None => (resource, None),
    };
    let attributes = ResourceAttributes {
        group: Some(group.to_owned()),
        resource: Some(resource.to_owned()),
        subresource,
        verb: Some(verb.to_owned()),
        namespace: Some(ns.to_owned()),
        name: name.map(str::to_owned),
        ..ResourceAttributes::default()
    };
    envtest::allowed(client, SA, &groups, attributes)
        .await
        .expect("SubjectAccessReview")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cronjob_command_as_its_service_account_pushes_only_the_stale_files() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let rendered = kubectl(
        cp,
        &[
            "kustomize",
            &workspace.join("deploy/reseal").display().to_string(),
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&rendered).into_owned();
    // The manifest is for current clusters (batch/v1, Kubernetes 1.21+); the test's API server
    // is 1.20, which serves the same CronJob fields as batch/v1beta1.
    assert!(
        text.contains("apiVersion: batch/v1\nkind: CronJob"),
        "{text}"
    );
    let for_1_20 = text.replace(
        "apiVersion: batch/v1\nkind: CronJob",
        "apiVersion: batch/v1beta1\nkind: CronJob",
    );
    let namespace = for_1_20
        .split("\n---\n")
        .find(|d| d.contains("kind: Namespace"))
        .expect("a Namespace");
    kubectl(cp, &["apply", "-f", "-"], namespace.as_bytes());
    kubectl(
        cp,
        &["apply", "--dry-run=server", "-f", "-"],
        for_1_20.as_bytes(),
    );
    kubectl(cp, &["apply", "-f", "-"], for_1_20.as_bytes());
    let cronjob: serde_json::Value = serde_json::from_slice(&kubectl(
        cp,
        &[
            "get",
            "cronjob",
            "sealed-secrets-reseal",
            "-n",
            "sealed-secrets-reseal",
            "-o",
            "json",
        ],
        b"",
    ))
    .expect("JSON");
    let container = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"][0], "kubeseal");
    let args: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();

    // The controller where the chart puts it, and a GitOps repository with a stale tree.
    let controller = Controller::start(cp, "kube-system", &RAISED_RATE_LIMIT);
    expose(&client, &controller, "sealed-secrets-controller", "http").await;
    let work = tempfile::tempdir().expect("tempdir");
    let (bare, clone) = (work.path().join("gitops.git"), work.path().join("clone"));
    git(
        work.path(),
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "gitops.git",
        ],
    );
    git(
        work.path(),
        &["clone", "--quiet", &bare.display().to_string(), "clone"],
    );
    let dir = clone.join("secrets/sealed");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let old_cert = controller.cert();
    for i in 0..3 {
        std::fs::write(dir.join(format!("app-{i}.yaml")), sealed_file(&old_cert, i))
            .expect("write");
    }
    let new_cert = controller.renew_key();
    for i in 3..5 {
        std::fs::write(dir.join(format!("app-{i}.yaml")), sealed_file(&new_cert, i))
            .expect("write");
    }
    git(&clone, &["add", "."]);
    git(&clone, &["commit", "--quiet", "-m", "sealed"]);
    git(&clone, &["push", "--quiet", "origin", "main"]);

    // The Job's command, as its ServiceAccount (in the Pod the kubeconfig is in-cluster and
    // RESEAL_DIR points into the clone).
    let kubeconfig = work.path().join("sa-kubeconfig");
    cp.write_service_account_kubeconfig("sealed-secrets-reseal", "reseal", &kubeconfig)
        .expect("kubeconfig");
    let dir_arg = dir.display().to_string();
    let mut run: Vec<&str> = args
        .iter()
        .map(|a| {
            if a == "$(RESEAL_DIR)" {
                dir_arg.as_str()
            } else {
                a.as_str()
            }
        })
        .collect();
    let kc = kubeconfig.display().to_string();
    run.extend(["--kubeconfig", &kc]);
    let ran = kubeseal(&run, &[("HOME", &work.path().display().to_string())], b"");
    ran.ok();
    assert!(!ran.stderr.contains("forbidden"), "{}", ran.stderr);
    assert!(ran.stderr.contains("pushed to origin"), "{}", ran.stderr);
    let log = git(
        &bare,
        &["log", "--format=%an|%s", "--name-only", "-1", "main"],
    );
    assert!(
        log.starts_with("sealed-secrets-reseal|Re-encrypt 3 SealedSecret files"),
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.ends_with(".yaml")).count(),
        3,
        "{log}"
    );
    assert_eq!(git(&bare, &["rev-list", "--count", "main"]).trim(), "2");
    let new_key = private_key_for(&client, "kube-system", &new_cert).await;
    git(&clone, &["pull", "--quiet"]);
    for i in 0..5 {
        let text = std::fs::read(dir.join(format!("app-{i}.yaml"))).expect("read");
        let mut docs = crds::parse_documents(&text).expect("parses");
        let sealed: crds::SealedSecret =
            serde_json::from_value(docs.remove(0).value).expect("SealedSecret");
        assert!(
            open_with(&sealed, &new_key).is_ok(),
            "app-{i} on the newest key"
        );
    }

    // A second night: nothing stale, nothing pushed.
    let ran = kubeseal(&run, &[("HOME", &work.path().display().to_string())], b"");
    ran.ok();
    assert!(ran.stderr.contains("nothing to commit"), "{}", ran.stderr);
    assert_eq!(git(&bare, &["rev-list", "--count", "main"]).trim(), "2");

    // Exactly the Service proxy of the controller.
    let c = &client;
    let proxy = "services:proxy";
    assert!(
        may(
            c,
            "create",
            proxy,
            "kube-system",
            Some("http:sealed-secrets-controller:http")
        )
        .await
    );
    assert!(
        may(
            c,
            "get",
            "services",
            "kube-system",
            Some("sealed-secrets-controller")
        )
        .await
    );
    for (verb, resource, ns, name) in [
        ("get", "secrets", "kube-system", Some("sealed-secrets-key")),
        ("list", "secrets", "kube-system", None),
        ("list", "secrets", "apps", None),
        (
            "create",
            proxy,
            "kube-system",
            Some("http:kubernetes-dashboard:"),
        ),
        ("get", "services", "kube-system", Some("other")),
        ("list", "bitnami.com/sealedsecrets", "apps", None),
        ("create", "secrets", "sealed-secrets-reseal", None),
    ] {
        assert!(
            !may(c, verb, resource, ns, name).await,
            "{verb} {resource} {name:?} in {ns} must be denied"
        );
    }
}
