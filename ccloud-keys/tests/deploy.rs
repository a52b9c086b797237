//! `deploy/ccloud-keys` on the real control plane: it renders with the project's kubectl
//! (kustomize v2.0.3), applies (dry-run on the server, then for real), and its RBAC is exact:
//! the watcher, run with the Deployment's arguments as the ServiceAccount, does its whole job
//! without a single error, and everything it should not do is denied.
//!
//! The Deployment has no `--cert`: in the Pod the watcher fetches the certificate through the API
//! server's Service proxy (no cluster DNS). Here the controller is a process on 127.0.0.1, which
//! the API server refuses to proxy to, so the test passes `--cert` with its URL and checks the
//! proxy rights with SubjectAccessReviews; `tests/node/tools-test.sh` runs the Deployment as a
//! Pod on a real node, where the certificate comes through the proxy.

pub mod support;

use std::time::Duration;

use k8s_openapi::api::authorization::v1::ResourceAttributes;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::{Api, Client};
use support::{git, workspace, Env, WatchProcess};

const SA: &str = "system:serviceaccount:ccloud-keys:ccloud-keys";

fn render(env: &Env) -> Vec<u8> {
    let dir = workspace().join("deploy/ccloud-keys");
    env.kubectl(&["kustomize", &dir.display().to_string()], b"")
}

/// The container arguments of the applied Deployment.
fn deployment_args(env: &Env) -> Vec<String> {
    let json = env.kubectl(
        &[
            "get",
            "deployment",
            "ccloud-keys",
            "-n",
            "ccloud-keys",
            "-o",
            "json",
        ],
        b"",
    );
    let value: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
    value["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

async fn may(client: &Client, verb: &str, resource: &str, ns: &str, name: Option<&str>) -> bool {
    let (group, resource) = resource.split_once('/').unwrap_or(("", resource));
    // `services:proxy`: resource `services`, subresource `proxy`.
    let (resource, subresource) = match resource.split_once(':') {
        Some((r, s)) => (r, Some(s.to_owned())),
        None => (resource, None),
    };
    let groups = [
        "system:serviceaccounts",
        "system:serviceaccounts:ccloud-keys",
        "system:authenticated",
    ]
    .map(str::to_owned);
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

#[tokio::test]
async fn deploys_and_runs_with_exactly_the_rights_it_needs() {
    let env = Env::start("ccloud-deploy").await;
    let rendered = render(&env);
    // Objects in a namespace the same apply creates cannot be dry-run on the server (the
    // namespace does not exist yet): the Namespace goes first, as Flux orders it.
    let text = String::from_utf8_lossy(&rendered);
    let namespace = text
        .split("\n---\n")
        .find(|d| d.contains("kind: Namespace"))
        .expect("a Namespace");
    env.kubectl(
        &["apply", "--dry-run=server", "-f", "-"],
        namespace.as_bytes(),
    );
    env.kubectl(&["apply", "-f", "-"], namespace.as_bytes());
    env.kubectl(&["apply", "--dry-run=server", "-f", "-"], &rendered);
    env.kubectl(&["apply", "-f", "-"], &rendered);

    // The Deployment's own arguments, except what only makes sense in a Pod (the clone path, the
    // listen address, the push). No --cert: the Pod needs no cluster DNS.
    let deployed = deployment_args(&env);
    assert!(
        !deployed.iter().any(|a| a.starts_with("--cert")),
        "{deployed:?}"
    );
    let args: Vec<String> = deployed
        .into_iter()
        .filter(|a| {
            !["--repo=", "--listen-addr=", "--push"]
                .iter()
                .any(|p| a.starts_with(p))
        })
        .collect();
    assert_eq!(args.first().map(String::as_str), Some("watch"));
    assert!(args.iter().any(|a| a == "--namespace=default"), "{args:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    env.cp
        .write_service_account_kubeconfig("ccloud-keys", "ccloud-keys", &kubeconfig)
        .expect("kubeconfig");
    // The API server does not proxy to 127.0.0.1: the controller's URL directly (see the top).
    let cert = format!("--cert={}", env.controller.cert_url());
    let mut watch_args: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    watch_args.push(&cert);
    // In the Pod, POD_NAMESPACE (downward API) names the state namespace.
    watch_args.push("--state-namespace=ccloud-keys");
    let watch = WatchProcess::start(env.repo(), &kubeconfig, &watch_args);

    // The operator mints a key in `default`.
    env.operator_apply(
        "default",
        "cc.api-key.deploy-app.lkc-d3p",
        &[r#"--from-literal=ccloud-api-key={"key":"DEPLOYKEY0000001","secret":"s"}"#],
        &["key=DEPLOYKEY0000001"],
    );
    watch
        .wait_metric("ccloud_keys_secrets_sealed_total", 1.0)
        .await;
    assert_eq!(
        watch.metric("ccloud_keys_errors_total"),
        0.0,
        "no error as the ServiceAccount; log:\n{}",
        watch.log()
    );
    assert!(!watch.log().contains("Forbidden") && !watch.log().contains("forbidden"));
    assert_eq!(
        git(env.repo(), &["rev-list", "--count", "HEAD"]).trim(),
        "2",
        "committed"
    );
    let state: Api<Secret> = Api::namespaced(env.client.clone(), "ccloud-keys");
    assert!(state
        .get_opt("ccloud-keys-state")
        .await
        .expect("get")
        .is_some());
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), "default");
    let found = support::eventually(Duration::from_secs(20), "a Sealed event", || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("Sealed"))
        }
    })
    .await;
    assert_eq!(found.reporting_controller.as_deref(), Some("ccloud-keys"));

    // Granted, and needed.
    let c = &env.client;
    for (verb, resource, ns, name) in [
        ("watch", "secrets", "default", None),
        ("patch", "secrets", "default", Some("cc.api-key.x.lkc-1")),
        ("create", "events.k8s.io/events", "default", None),
        (
            "update",
            "secrets",
            "ccloud-keys",
            Some("ccloud-keys-state"),
        ),
        // The certificate through the Service proxy (no --cert in the Pod).
        (
            "get",
            "services",
            "kube-system",
            Some("sealed-secrets-controller"),
        ),
        (
            "get",
            "services:proxy",
            "kube-system",
            Some("http:sealed-secrets-controller:http"),
        ),
        (
            "get",
            "services:proxy",
            "kube-system",
            Some("http:sealed-secrets-controller:"),
        ),
    ] {
        assert!(
            may(c, verb, resource, ns, name).await,
            "{verb} {resource} in {ns}"
        );
    }
    // Denied.
    for (verb, resource, ns, name) in [
        ("delete", "secrets", "default", Some("cc.api-key.x.lkc-1")),
        ("update", "secrets", "default", Some("cc.api-key.x.lkc-1")),
        ("create", "secrets", "default", None),
        ("get", "secrets", "kube-system", Some("sealed-secrets-key")),
        ("list", "secrets", "kube-system", None),
        ("list", "secrets", "ccloud-keys", None),
        ("get", "secrets", "ccloud-keys", Some("ccloud-keys-git")),
        ("update", "secrets", "ccloud-keys", Some("ccloud-keys-git")),
        (
            "delete",
            "secrets",
            "ccloud-keys",
            Some("ccloud-keys-state"),
        ),
        ("list", "bitnami.com/sealedsecrets", "default", None),
        ("list", "secrets", "other", None),
        // Only the controller's Service, only reading through its proxy.
        (
            "create",
            "services:proxy",
            "kube-system",
            Some("http:sealed-secrets-controller:http"),
        ),
        (
            "get",
            "services:proxy",
            "kube-system",
            Some("http:kubernetes-dashboard:"),
        ),
        ("get", "services", "kube-system", Some("other")),
        ("list", "services", "kube-system", None),
        ("get", "services:proxy", "default", Some("kubernetes")),
    ] {
        assert!(
            !may(c, verb, resource, ns, name).await,
            "{verb} {resource} in {ns} must be denied"
        );
    }
}
