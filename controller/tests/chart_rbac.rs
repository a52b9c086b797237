//! Drop-in for a Helm chart install: the controller, run as a ServiceAccount bound to exactly
//! the RBAC upstream's chart (v0.36 / chart 2.18) renders by default, with the chart's default
//! arguments and the CRD as the chart ships it, on the real control plane. It creates its key,
//! serves the certificate, unseals, writes status and Events, restores deleted and edited
//! Secrets, answers `/v1/rotate` and `/v1/verify`, refuses someone else's Secret created in a
//! race, and is never refused a request. A Secret write the RBAC does not allow is reported
//! (Synced=False naming verb and resource, an Event, a counter) while other SealedSecrets go on.
//!
//! This test binary has its own control plane, holding upstream's CRD; the tests take turns
//! (the chart's controller watches every namespace).

pub mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Secret};
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::Client;
use serde_json::Value;
use support::*;

const NS: &str = "kube-system";
const SA: &str = "sealed-secrets-controller";
const WAIT: Duration = Duration::from_secs(30);
/// The chart's default key size is 4096 bits (slow in a debug build).
const CERT_WAIT: Duration = Duration::from_secs(180);
const ERRORS_TOTAL: &str = "sealed_secrets_controller_unseal_errors_total";

/// The chart's RBAC (default values; no additionalNamespaces, so no `namespaces` rule),
/// verbatim as to apiGroups, resources, resourceNames and verbs. `{SA}` is the ServiceAccount,
/// `{UNSEALER}` the ClusterRole's name, `{SECRET_VERBS}` its Secret verbs.
const CHART_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {UNSEALER}
rules:
  - apiGroups: [bitnami.com]
    resources: [sealedsecrets]
    verbs: [get, list, watch]
  - apiGroups: [bitnami.com]
    resources: [sealedsecrets/status]
    verbs: [update]
  - apiGroups: [""]
    resources: [secrets]
    verbs: [{SECRET_VERBS}]
  - apiGroups: [""]
    resources: [events]
    verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {UNSEALER}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {UNSEALER}
subjects:
  - kind: ServiceAccount
    name: {SA}
    namespace: {NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {SA}-key-admin
  namespace: {NS}
rules:
  - apiGroups: [""]
    resourceNames: [sealed-secrets-key]
    resources: [secrets]
    verbs: [get]
  - apiGroups: [""]
    resources: [secrets]
    verbs: [create, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {SA}-key-admin
  namespace: {NS}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {SA}-key-admin
subjects:
  - kind: ServiceAccount
    name: {SA}
    namespace: {NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {SA}-service-proxier
  namespace: {NS}
rules:
  - apiGroups: [""]
    resourceNames: [sealed-secrets-controller]
    resources: [services]
    verbs: [get]
  - apiGroups: [""]
    resourceNames:
      - 'http:sealed-secrets-controller:'
      - 'http:sealed-secrets-controller:http'
      - sealed-secrets-controller
    resources: [services/proxy]
    verbs: [create, get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {SA}-service-proxier
  namespace: {NS}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {SA}-service-proxier
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: system:authenticated
"#;

/// The chart's Secret verbs.
const CHART_SECRET_VERBS: &str = "get, list, create, update, delete, watch";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The control plane with upstream's CRD (as the chart ships it) installed.
async fn plane() -> &'static envtest::ControlPlane {
    let cp = envtest::shared().await.expect("control plane");
    static CRD: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CRD.get_or_init(|| async {
        cp.install_crd(fixture("upstream-chart-crd.yaml"))
            .await
            .expect("install upstream's CRD");
    })
    .await;
    cp
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One test at a time: the chart's controller watches every namespace.
async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Applies the chart's RBAC for ServiceAccount `NS/sa` with a ClusterRole `unsealer` whose
/// Secret verbs are `secret_verbs`, and returns a kubeconfig acting as that ServiceAccount.
fn bind_chart_rbac(
    cp: &envtest::ControlPlane,
    dir: &std::path::Path,
    sa: &str,
    unsealer: &str,
    secret_verbs: &str,
) -> std::path::PathBuf {
    let yaml = CHART_RBAC
        .replace("{UNSEALER}", unsealer)
        .replace("{SECRET_VERBS}", secret_verbs)
        .replace("{SA}", sa)
        .replace("{NS}", NS);
    let mut apply = cp.kubectl(["apply", "-f", "-"]);
    apply
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = apply.spawn().expect("kubectl apply");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(yaml.as_bytes()).expect("write RBAC");
    }
    let out = child.wait_with_output().expect("kubectl apply");
    assert!(
        out.status.success(),
        "kubectl apply of the chart's RBAC: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(format!("{sa}-kubeconfig"));
    cp.write_service_account_kubeconfig(NS, sa, &path)
        .expect("ServiceAccount kubeconfig");
    path
}

/// Core v1 Events in `ns` about `name` with `reason`.
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

async fn wait_event(client: &Client, ns: &str, name: &str, reason: &str) -> Event {
    eventually(WAIT, &format!("a {reason} Event about {ns}/{name}"), || {
        let client = client.clone();
        async move { events(&client, ns, name, reason).await.into_iter().next() }
    })
    .await
}

fn value(secret: &Secret, key: &str) -> Vec<u8> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.0.clone())
        .unwrap_or_default()
}

fn plain_secret(namespace: &str, name: &str, data: &[(&str, &[u8])]) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

/// Debug logs from the controller and kube's runtime, so that no refused request goes unseen.
const LOG_ENV: [(&str, &str); 1] = [(
    "RUST_LOG",
    "info,sealed_secrets_controller=debug,kube_runtime=debug",
)];

fn assert_never_forbidden(controller: &ControllerProcess) {
    let log = controller.log();
    // A 403's Status says "forbidden" (reason Forbidden, message `... is forbidden: ...`).
    // (So no namespace of these tests has "forbidden" in its name: a controller watching all
    // namespaces names the objects it reconciles in its log lines.)
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the controller was refused a request with the chart's RBAC; log:\n{log}"
    );
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// The CRD fixture is structurally our CRD: the same schema once descriptions are left out.
#[test]
fn the_upstream_crd_fixture_is_structurally_ours() {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| *k != "description")
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let read = |path: std::path::PathBuf| -> Value {
        let text = std::fs::read_to_string(&path).expect("read CRD");
        serde_yaml::from_str(&text).expect("CRD YAML")
    };
    let theirs = read(fixture("upstream-chart-crd.yaml"));
    let ours = read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crds/sealedsecrets.bitnami.com.yaml"),
    );
    let schema = |crd: &Value| strip(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]);
    assert_eq!(schema(&theirs), schema(&ours));
    for field in ["names", "scope", "group"] {
        assert_eq!(theirs["spec"][field], ours["spec"][field], "{field}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_works_with_exactly_the_charts_rbac_and_arguments() {
    let _turn = turn().await;
    let cp = plane().await;
    let admin = cp.client().expect("admin client");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = bind_chart_rbac(cp, dir.path(), SA, "secrets-unsealer", CHART_SECRET_VERBS);
    let controller = ControllerProcess::start_chart(&kubeconfig, NS, &[], &LOG_ENV);

    // Key created in the controller's namespace; certificate served.
    let cert = controller.wait_for_cert(CERT_WAIT);
    let keys = key_secrets(&admin, NS).await;
    assert_eq!(keys.len(), 1, "one key Secret in {NS}");
    assert!(same_cert(&key_cert_pem(&keys[0]), &cert));

    // Unsealed, Synced=True, an Event.
    let app = cp.create_namespace("chart-app").await.expect("namespace");
    let sealed = seal(&cert, &app, "d", &[("password", b"s3cr3t")]);
    create_sealed(&admin, &sealed).await;
    let first = wait_for_secret(&admin, &app, "d", WAIT).await;
    assert_eq!(value(&first, "password"), b"s3cr3t");
    wait_synced(&admin, &app, "d", "True").await;
    let event = wait_event(&admin, &app, "d", "Unsealed").await;
    assert_eq!(event.type_.as_deref(), Some("Normal"));

    // A deleted Secret is restored.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &app);
    secrets
        .delete("d", &DeleteParams::default())
        .await
        .expect("delete the Secret");
    let restored = eventually(WAIT, "the deleted Secret restored", || {
        let secrets = secrets.clone();
        let uid = first.metadata.uid.clone();
        async move {
            let now = secrets.get_opt("d").await.ok().flatten()?;
            (now.metadata.uid != uid).then_some(now)
        }
    })
    .await;

    // An edited one is restored: the value back, the stray key gone, another writer's label kept.
    let mut edited = restored.clone();
    let data = edited.data.get_or_insert_with(BTreeMap::new);
    data.insert("password".to_owned(), ByteString(b"tampered".to_vec()));
    data.insert("stray".to_owned(), ByteString(b"x".to_vec()));
    edited
        .metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("team".to_owned(), "a".to_owned());
    secrets
        .replace("d", &PostParams::default(), &edited)
        .await
        .expect("edit the Secret");
    let fixed = eventually(WAIT, "the edited Secret restored", || {
        let secrets = secrets.clone();
        async move {
            let s = secrets.get("d").await.ok()?;
            (value(&s, "password") == b"s3cr3t" && value(&s, "stray").is_empty()).then_some(s)
        }
    })
    .await;
    assert_eq!(
        fixed
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("team"))
            .map(String::as_str),
        Some("a"),
        "another writer's label is kept"
    );

    // A failure repeated after a key renewal: the Warning Event is patched (count 2).
    let foreign = crds::keygen::generate(2048, "", std::time::SystemTime::now(), WAIT * 100)
        .expect("a foreign key");
    create_sealed(
        &admin,
        &seal(
            &foreign.certificate.to_pem(),
            &app,
            "foreign",
            &[("k", b"v")],
        ),
    )
    .await;
    wait_synced(&admin, &app, "foreign", "False").await;
    wait_event(&admin, &app, "foreign", "ErrUnsealFailed").await;
    controller.signal("USR1");
    eventually(CERT_WAIT, "a repeated ErrUnsealFailed Event", || {
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

    // /v1/verify and /v1/rotate answer.
    let body = serde_json::to_vec(&sealed).expect("JSON");
    let verify = http_call("POST", &controller.url("/v1/verify"), &body).expect("verify");
    assert_eq!(verify.status, 200, "verify: {}", verify.body);
    let rotate = http_call("POST", &controller.url("/v1/rotate"), &body).expect("rotate");
    assert_eq!(rotate.status, 200, "rotate: {}", rotate.body);

    // Someone else's Secret created while the controller unseals is never taken over.
    race_is_refused(&admin, &cert, &app).await;

    assert_never_forbidden(&controller);
}

/// The conditional-write race, with the chart's rights: 10 SealedSecrets and, at the same time,
/// 10 Secrets of the same names by someone else. Each ends either as the controller's Secret or
/// as the other one, untouched and reported as not managed.
async fn race_is_refused(admin: &Client, cert: &str, app: &str) {
    let api: Api<Secret> = Api::namespaced(admin.clone(), app);
    let races = (0..10).map(|i| {
        let name = format!("raced-{i}");
        let ours = seal(cert, app, &name, &[("password", b"ours")]);
        let theirs = plain_secret(app, &name, &[("password", b"theirs")]);
        let api = api.clone();
        async move {
            create_sealed(admin, &ours).await;
            let created = match api.create(&PostParams::default(), &theirs).await {
                Ok(created) => Some(created),
                Err(kube::Error::Api(e)) if e.code == 409 => None,
                Err(e) => panic!("creating {name}: {e}"),
            };
            (name, created)
        }
    });
    for (name, created) in futures::future::join_all(races).await {
        match created {
            None => {
                wait_synced(admin, app, &name, "True").await;
                assert_eq!(
                    value(&api.get(&name).await.expect("Secret"), "password"),
                    b"ours"
                );
            }
            Some(before) => {
                let failed = wait_synced(admin, app, &name, "False").await;
                let (_, message) = synced_condition(&failed).expect("condition");
                assert!(
                    message.contains("not managed by SealedSecret"),
                    "{name}: {message}"
                );
                let after = api.get(&name).await.expect("Secret");
                assert_eq!(
                    after.metadata.resource_version,
                    before.metadata.resource_version
                );
            }
        }
    }
}

/// With a ClusterRole like the chart's but without `update` on Secrets: creating works, the
/// restore of an edited Secret is refused by the API server, and that is reported (Synced=False
/// naming verb and resource, a Warning Event, `unseal_errors_total{reason="forbidden"}`) while
/// other SealedSecrets are still unsealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_write_refused_by_rbac_is_reported_and_others_go_on() {
    let _turn = turn().await;
    let cp = plane().await;
    let admin = cp.client().expect("admin client");
    let dir = tempfile::tempdir().expect("tempdir");
    let sa = "no-update";
    let kubeconfig = bind_chart_rbac(
        cp,
        dir.path(),
        sa,
        "no-update-unsealer",
        "get, list, create, delete, watch",
    );
    let app = cp.create_namespace("refused-app").await.expect("namespace");
    let only_app = format!("--additional-namespaces={app}");
    let controller = ControllerProcess::start_chart(
        &kubeconfig,
        NS,
        &["--all-namespaces=false", &only_app, "--key-size=2048"],
        &LOG_ENV,
    );
    let cert = controller.wait_for_cert(CERT_WAIT);

    create_sealed(&admin, &seal(&cert, &app, "d", &[("password", b"ours")])).await;
    let secret = wait_for_secret(&admin, &app, "d", WAIT).await;
    wait_synced(&admin, &app, "d", "True").await;

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &app);
    let mut edited = secret.clone();
    edited
        .data
        .get_or_insert_with(BTreeMap::new)
        .insert("password".to_owned(), ByteString(b"tampered".to_vec()));
    secrets
        .replace("d", &PostParams::default(), &edited)
        .await
        .expect("edit the Secret");

    let expected = "cannot update secrets \"d\": forbidden";
    let failed = wait_synced(&admin, &app, "d", "False").await;
    let (_, message) = synced_condition(&failed).expect("condition");
    assert!(message.contains(expected), "condition: {message:?}");
    let event = wait_event(&admin, &app, "d", "ErrUpdateFailed").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(
        event
            .message
            .as_deref()
            .unwrap_or_default()
            .contains(expected),
        "event: {:?}",
        event.message
    );
    let labels = [("namespace", app.as_str()), ("reason", "forbidden")];
    eventually(WAIT, "unseal_errors_total{reason=forbidden}", || {
        let v = metric_value(&controller.metrics(), ERRORS_TOTAL, &labels).filter(|v| *v > 0.0);
        async move { v }
    })
    .await;

    // Others go on.
    create_sealed(&admin, &seal(&cert, &app, "e", &[("password", b"fine")])).await;
    let other = wait_for_secret(&admin, &app, "e", WAIT).await;
    assert_eq!(value(&other, "password"), b"fine");
    wait_synced(&admin, &app, "e", "True").await;
    assert!(
        !controller.log().contains("tampered") && !controller.log().contains("dGFtcGVyZWQ"),
        "no value in the log"
    );
}
