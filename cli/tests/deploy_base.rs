//! `kubeseal` with no controller flags reaches the controller deployed from `deploy/base`
//! (issue #6): the rendered base is applied to the real API server as shipped (kube-system), the
//! controller runs out of the cluster in a test host (`online_support`) with the Deployment's
//! arguments, and only what a kubelet and the endpoints controller would add is written by hand:
//! a Pod made from the Deployment's template (its address patched into its status) and, for each
//! Service of the base that selects that Pod, the Endpoints naming it. kubeseal then finds the
//! controller by its defaults alone: Service `kube-system/sealed-secrets-controller`, the name of
//! its first port in the proxy path.
//!
//! A test binary of its own: its control plane's kube-system holds only what deploy/base puts
//! there.

pub mod online_support;

use std::path::Path;
use std::process::Command;

use online_support::{
    apply_and_unseal, control_plane, create_endpoints, create_pod_from_template, kubeseal, map,
    parse_sealed, secret_yaml, Controller, CONTROLLER_PORT,
};
use serde_json::Value;

/// The namespace every object of deploy/base names.
const NS: &str = "kube-system";
/// The Pod a kubelet would run for the Deployment.
const POD: &str = "sealed-secrets-controller-7d4b9c-x2x7k";

/// Runs `cmd`; panics with its stderr unless it succeeds; returns stdout.
fn output(mut cmd: Command) -> String {
    let out = cmd.output().expect("kubectl runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Whether every `selector` label is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_cert_with_no_flags_reaches_the_controller_deployed_from_deploy_base() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");

    // `kubectl kustomize deploy/base`, applied as shipped.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/base");
    let mut render = cp.kubectl(["kustomize"]);
    render.arg(&base);
    let yaml = envtest::for_v1_20(&output(render)).expect("deploy/base for v1.20");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("base.yaml");
    std::fs::write(&file, &yaml).expect("write");
    let mut apply = cp.kubectl(["apply", "-f"]);
    apply.arg(&file);
    output(apply);
    let objects: Vec<Value> = crds::parse_documents(yaml.as_bytes())
        .expect("rendered YAML")
        .into_iter()
        .map(|d| d.value)
        .collect();
    let of_kind = |kind: &'static str| objects.iter().filter(move |o| o["kind"] == kind);
    let deployments: Vec<&Value> = of_kind("Deployment").collect();
    assert_eq!(deployments.len(), 1, "one Deployment in deploy/base");
    let deployment = deployments[0];
    assert_eq!(deployment["metadata"]["namespace"], NS);

    // The controller, as the Deployment runs it (its arguments, its namespace).
    let template = deployment["spec"]["template"].clone();
    let container = &template["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let controller = Controller::start(cp, NS, &args);

    // What a kubelet and the endpoints controller would add: the Pod, and the Endpoints of every
    // Service selecting it, for the ports whose targetPort is the controller's API port.
    create_pod_from_template(&client, NS, POD, template.clone(), controller.pod_ip()).await;
    let container_port = |target: &Value| match target {
        Value::String(name) => container["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["name"] == *name))
            .and_then(|p| p["containerPort"].as_u64()),
        other => other.as_u64(),
    };
    let mut wired = Vec::new();
    for service in of_kind("Service") {
        if !selects(
            &service["spec"]["selector"],
            &template["metadata"]["labels"],
        ) {
            continue;
        }
        let name = service["metadata"]["name"].as_str().expect("Service name");
        for port in service["spec"]["ports"].as_array().into_iter().flatten() {
            let target = port.get("targetPort").unwrap_or(&port["port"]);
            if container_port(target) == Some(u64::from(CONTROLLER_PORT)) {
                let port_name = port["name"].as_str().unwrap_or_default();
                create_endpoints(&client, NS, name, port_name, POD, controller.pod_ip()).await;
                wired.push(format!("{name}:{port_name}"));
            }
        }
    }
    assert!(
        !wired.is_empty(),
        "no Service of deploy/base reaches the API port"
    );

    // kubeseal with no controller flags at all: only KUBECONFIG.
    let kubeconfig = cp.kubeconfig_path().to_str().expect("UTF-8 path");
    let env = [("KUBECONFIG", kubeconfig)];
    let fetched = kubeseal(&["--fetch-cert"], &env, b"");
    let fetched = fetched.ok();
    assert!(fetched.starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        fetched,
        controller.cert().as_bytes(),
        "--fetch-cert prints the deployed controller's certificate (Services wired: {wired:?})"
    );

    // And sealing with no flags gives what that controller unseals.
    let data = [("password", "from-deploy-base")];
    let sealed = kubeseal(
        &["-o", "yaml"],
        &env,
        secret_yaml(NS, "no-flags", &data).as_bytes(),
    );
    let sealed = parse_sealed(sealed.ok());
    assert_eq!(apply_and_unseal(&client, &sealed).await, map(&data));
}
