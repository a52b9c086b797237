//! Unsealing as a user observes it, end to end on the real control plane: the Secret that
//! appears (metadata, type, immutability, scopes), recreation and restoration, existing Secrets
//! (unowned, managed, patched), bad input, plaintext hygiene, no-op reconciles, updates, the
//! namespace and label filters, `--update-status=false`, keys made by the Go controller, and the
//! deprecated v1 `spec.data` field.
//!
//! Every test runs its own controller process with its own key namespace and app namespace.

pub mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use crds::{Scope, SealOptions, SealedSecret, SealedSecretSpec};
use k8s_openapi::api::core::v1::{Event, Secret};
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use support::*;

/// How long anything the controller should do may take.
const WAIT: Duration = Duration::from_secs(30);
/// How long the first key may take (key generation in a debug build).
const CERT_WAIT: Duration = Duration::from_secs(60);
/// How long to watch for something that must NOT happen, once the controller has shown it is
/// alive and working after the trigger.
const QUIET: Duration = Duration::from_secs(3);

const MANAGED: &str = "sealedsecrets.bitnami.com/managed";
const PATCH: &str = "sealedsecrets.bitnami.com/patch";
const FIELD_MANAGER: &str = "sealed-secrets-controller";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

impl Env {
    fn sealed_api(&self) -> Api<SealedSecret> {
        Api::namespaced(self.client.clone(), &self.app_ns)
    }

    fn secret_api(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.app_ns)
    }

    /// Seals `data` for `app_ns/name` (strict) with the controller's certificate.
    fn seal(&self, name: &str, data: &[(&str, &[u8])]) -> SealedSecret {
        seal(&self.cert, &self.app_ns, name, data)
    }

    /// The Secret `app_ns/name`, waiting for it.
    async fn secret(&self, name: &str) -> Secret {
        wait_for_secret(&self.client, &self.app_ns, name, WAIT).await
    }

    /// The Secret `app_ns/name` now, if any.
    async fn secret_now(&self, name: &str) -> Option<Secret> {
        self.secret_api()
            .get_opt(name)
            .await
            .expect("read the Secret from the API server")
    }

    /// Waits for the Synced condition of `app_ns/name` to be `want` ("True" / "False").
    async fn synced(&self, name: &str, want: &str) -> SealedSecret {
        wait_synced(&self.client, &self.app_ns, name, want).await
    }

    /// Waits for an Event with `reason` about the SealedSecret `app_ns/name`.
    async fn event(&self, name: &str, reason: &str) -> Event {
        wait_event(&self.client, &self.app_ns, name, reason).await
    }

    /// Current value of a metric series of this controller (None when absent).
    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        envtest::metrics::value_where(&self.controller.metrics(), name, labels)
    }

    /// Waits until the metric series exists and satisfies `ok`, returning its value.
    async fn metric_until(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        ok: impl Fn(f64) -> bool,
    ) -> f64 {
        let what = format!("metric {name}{labels:?} to reach the expected value");
        eventually(WAIT, &what, || {
            let v = self.metric(name, labels).filter(|v| ok(*v));
            async move { v }
        })
        .await
    }
}

/// Random lowercase hex (for canaries and key names).
fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A plain Opaque Secret.
fn plain_secret(namespace: &str, name: &str, data: &[(&str, &[u8])]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                .collect(),
        ),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    }
}

/// Seals a whole Secret (what `kubeseal --cert` does), with an optional `--scope`.
fn seal_whole(cert_pem: &str, secret: Secret, scope: Option<Scope>) -> SealedSecret {
    let (key, _) = crds::parse_sealing_key(cert_pem.as_bytes()).expect("certificate parses");
    let opts = SealOptions {
        scope,
        ..SealOptions::default()
    };
    crds::seal_secret(secret, &key, &opts).expect("sealing succeeds")
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The bytes of `key` in the Secret's data (empty when absent).
fn value(secret: &Secret, key: &str) -> Vec<u8> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.0.clone())
        .unwrap_or_default()
}

fn data_keys(secret: &Secret) -> Vec<String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect()
}

/// Every core/v1 Event in `ns` about the object named `name`.
async fn events_about(client: &Client, ns: &str, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect()
}

async fn wait_event(client: &Client, ns: &str, name: &str, reason: &str) -> Event {
    let what = format!("an Event with reason {reason} about {ns}/{name}");
    eventually(WAIT, &what, || async move {
        events_about(client, ns, name)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason))
    })
    .await
}

const REQUESTS_TOTAL: &str = "sealed_secrets_controller_unseal_requests_total";
const ERRORS_TOTAL: &str = "sealed_secrets_controller_unseal_errors_total";
const CONDITION_INFO: &str = "sealed_secrets_controller_condition_info";

/// Creates a Secret directly (as a user would with kubectl).
async fn create_secret(client: &Client, secret: &Secret) -> Secret {
    let ns = secret
        .metadata
        .namespace
        .clone()
        .expect("Secret has a namespace");
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), secret)
        .await
        .expect("create the Secret")
}

/// Whether the Secret is owned (controller=true) by the SealedSecret.
fn owned_by(secret: &Secret, sealed: &SealedSecret) -> bool {
    let uid = sealed
        .metadata
        .uid
        .as_deref()
        .expect("SealedSecret has a uid");
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.kind == "SealedSecret" && o.controller == Some(true))
}

// ---------------------------------------------------------------------------------------------
// 1. Template
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_metadata_type_and_immutability_are_copied_onto_the_secret() {
    let env = Env::start("template", &[]).await;
    assert_eq!(
        key_secrets(&env.client, &env.keys_ns).await.len(),
        1,
        "the controller made its first key in its own namespace"
    );
    let docker =
        br#"{"auths":{"registry.example.com":{"username":"u","password":"p","auth":"dTpw"}}}"#;
    let mut secret = plain_secret(&env.app_ns, "registry", &[(".dockerconfigjson", docker)]);
    secret.type_ = Some("kubernetes.io/dockerconfigjson".to_owned());
    secret.immutable = Some(true);
    secret.metadata.labels = Some(string_map(&[("app", "web"), ("tier", "backend")]));
    secret.metadata.annotations = Some(string_map(&[
        ("example.com/owner", "team-a"),
        ("example.com/note", "hello world"),
    ]));
    let sealed = create_sealed(&env.client, &seal_whole(&env.cert, secret, None)).await;

    let got = env.secret("registry").await;
    assert_eq!(
        got.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson"),
        "the Secret type comes from the template"
    );
    assert_eq!(
        value(&got, ".dockerconfigjson"),
        docker.to_vec(),
        "the .dockerconfigjson value is unsealed"
    );
    assert_eq!(
        got.immutable,
        Some(true),
        "immutable: true is copied from the template"
    );
    let labels = got.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("app").map(String::as_str),
        Some("web"),
        "labels: {labels:?}"
    );
    assert_eq!(
        labels.get("tier").map(String::as_str),
        Some("backend"),
        "labels: {labels:?}"
    );
    let annotations = got.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations.get("example.com/owner").map(String::as_str),
        Some("team-a"),
        "annotations: {annotations:?}"
    );
    assert_eq!(
        annotations.get("example.com/note").map(String::as_str),
        Some("hello world"),
        "annotations: {annotations:?}"
    );
    assert!(
        owned_by(&got, &sealed),
        "the Secret is owned by its SealedSecret"
    );

    let synced = env.synced("registry", "True").await;
    assert_eq!(
        synced_condition(&synced).map(|(_, m)| m),
        Some(String::new()),
        "no message when Synced=True"
    );
    env.metric_until(
        CONDITION_INFO,
        &[
            ("namespace", &env.app_ns),
            ("name", "registry"),
            ("condition", "Synced"),
            ("ss_app_kubernetes_io_instance", ""),
        ],
        |v| v == 1.0,
    )
    .await;
    let event = env.event("registry", "Unsealed").await;
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(
        event.message.as_deref(),
        Some("SealedSecret unsealed successfully")
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Scopes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_and_cluster_wide_values_unseal_under_other_names_strict_ones_do_not() {
    let env = Env::start("scopes", &[]).await;
    let ns = env.app_ns.clone();

    // Namespace-wide: sealed for one name, used under another in the same namespace.
    let mut nw = seal_whole(
        &env.cert,
        plain_secret(&ns, "nw-original", &[("password", b"namespace-wide")]),
        Some(Scope::NamespaceWide),
    );
    assert_eq!(
        nw.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("sealedsecrets.bitnami.com/namespace-wide"))
            .map(String::as_str),
        Some("true"),
        "namespace-wide scope is recorded on the SealedSecret"
    );
    nw.metadata.name = Some("nw-renamed".to_owned());
    nw.spec.template.metadata.name = Some("nw-renamed".to_owned());
    create_sealed(&env.client, &nw).await;

    // Cluster-wide: sealed in another namespace under another name, moved here.
    let mut cw = seal_whole(
        &env.cert,
        plain_secret(
            "somewhere-else",
            "cw-original",
            &[("password", b"cluster-wide")],
        ),
        Some(Scope::ClusterWide),
    );
    cw.metadata.name = Some("cw-moved".to_owned());
    cw.metadata.namespace = Some(ns.clone());
    cw.spec.template.metadata.name = Some("cw-moved".to_owned());
    cw.spec.template.metadata.namespace = Some(ns.clone());
    create_sealed(&env.client, &cw).await;

    // Strict: works under its own name, fails when copied to another name.
    let strict = env.seal("strict-original", &[("password", b"strict")]);
    create_sealed(&env.client, &strict).await;
    let mut copy = strict.clone();
    copy.metadata.name = Some("strict-copy".to_owned());
    copy.spec.template.metadata.name = Some("strict-copy".to_owned());
    create_sealed(&env.client, &copy).await;

    assert_eq!(
        value(&env.secret("nw-renamed").await, "password"),
        b"namespace-wide",
        "a namespace-wide value unseals under a new name"
    );
    assert_eq!(
        value(&env.secret("cw-moved").await, "password"),
        b"cluster-wide",
        "a cluster-wide value unseals in another namespace under a new name"
    );
    assert_eq!(
        value(&env.secret("strict-original").await, "password"),
        b"strict",
        "a strict value unseals under its own name"
    );
    let failed = env.synced("strict-copy", "False").await;
    let (_, message) = synced_condition(&failed).expect("condition present");
    assert!(
        message.contains("no key could decrypt secret (password)"),
        "strict copy fails naming the key: {message:?}"
    );
    assert!(
        env.secret_now("strict-copy").await.is_none(),
        "no Secret for a strict value copied to another name"
    );
    env.synced("nw-renamed", "True").await;
    env.synced("cw-moved", "True").await;
}

// ---------------------------------------------------------------------------------------------
// 3. Recreate / restore
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_secret_is_recreated_and_an_edited_one_restored() {
    let env = Env::start("recreate", &[]).await;
    create_sealed(&env.client, &env.seal("db", &[("password", b"original")])).await;
    let first = env.secret("db").await;
    let first_uid = first.metadata.uid.clone().expect("uid");

    env.secret_api()
        .delete("db", &DeleteParams::default())
        .await
        .expect("delete the Secret");
    let api = env.secret_api();
    let recreated = eventually(WAIT, "the deleted Secret to come back", || {
        let api = api.clone();
        let first_uid = first_uid.clone();
        async move {
            api.get_opt("db")
                .await
                .ok()
                .flatten()
                .filter(|s| s.metadata.uid.as_deref() != Some(first_uid.as_str()))
        }
    })
    .await;
    assert_eq!(
        value(&recreated, "password"),
        b"original",
        "the recreated Secret holds the unsealed value"
    );

    // Edit a value by hand (a full replace, as `kubectl edit`/`replace` does).
    let mut edited = recreated.clone();
    edited
        .data
        .get_or_insert_with(BTreeMap::new)
        .insert("password".to_owned(), ByteString(b"tampered".to_vec()));
    let edited = env
        .secret_api()
        .replace("db", &PostParams::default(), &edited)
        .await
        .expect("replace the Secret with a tampered value");
    assert_eq!(value(&edited, "password"), b"tampered");
    eventually(WAIT, "the edited value to be restored", || {
        let api = api.clone();
        async move {
            let s = api.get_opt("db").await.ok().flatten()?;
            (value(&s, "password") == b"original").then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_skip_recreate_a_deleted_secret_stays_deleted() {
    let env = Env::start("skip-recreate", &["--skip-recreate"]).await;
    create_sealed(&env.client, &env.seal("gone", &[("password", b"x")])).await;
    env.secret("gone").await;
    env.secret_api()
        .delete("gone", &DeleteParams::default())
        .await
        .expect("delete the Secret");

    // Prove the controller is alive after the deletion, then give it time to (wrongly) act.
    create_sealed(&env.client, &env.seal("witness", &[("password", b"y")])).await;
    env.secret("witness").await;
    tokio::time::sleep(QUIET).await;
    assert!(
        env.secret_now("gone").await.is_none(),
        "--skip-recreate: a deleted Secret is not recreated"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Existing Secrets
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unowned_existing_secret_is_left_untouched_and_reported() {
    let env = Env::start("unowned", &[]).await;
    let mut theirs = plain_secret(&env.app_ns, "taken", &[("password", b"theirs")]);
    theirs.metadata.labels = Some(string_map(&[("owner", "someone-else")]));
    let before = create_secret(&env.client, &theirs).await;

    create_sealed(&env.client, &env.seal("taken", &[("password", b"ours")])).await;

    let expected = "Resource \"taken\" already exists and is not managed by SealedSecret";
    let failed = env.synced("taken", "False").await;
    let (_, message) = synced_condition(&failed).expect("condition present");
    assert!(
        message.contains(expected),
        "condition message {message:?} should contain {expected:?}"
    );
    let event = env.event("taken", "ErrUpdateFailed").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(
        event
            .message
            .as_deref()
            .unwrap_or_default()
            .contains(expected),
        "event message: {:?}",
        event.message
    );
    env.metric_until(
        ERRORS_TOTAL,
        &[("namespace", &env.app_ns), ("reason", "unmanaged")],
        |v| v > 0.0,
    )
    .await;

    let after = env
        .secret_now("taken")
        .await
        .expect("the Secret still exists");
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the unowned Secret was not written"
    );
    assert_eq!(after.data, before.data, "data identical");
    assert_eq!(
        after.metadata.labels, before.metadata.labels,
        "labels identical"
    );
    assert!(
        after.metadata.owner_references.is_none(),
        "no owner reference was added"
    );
}

/// `--max-unseal-retries`: a Secret that cannot be written is retried that many times with
/// backoff, then left until the SealedSecret changes; a change gets the full budget again.
#[tokio::test]
async fn retries_stop_at_the_limit_and_start_over_when_the_sealed_secret_changes() {
    let env = Env::start("retries", &["--max-unseal-retries=1"]).await;
    let theirs = plain_secret(&env.app_ns, "held", &[("password", b"theirs")]);
    create_secret(&env.client, &theirs).await;
    create_sealed(&env.client, &env.seal("held", &[("password", b"ours")])).await;
    let labels = [("namespace", env.app_ns.as_str()), ("reason", "unmanaged")];

    // The first attempt and one retry (1 s later), then nothing more.
    env.metric_until(ERRORS_TOTAL, &labels, |v| v >= 2.0).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        env.metric(ERRORS_TOTAL, &labels),
        Some(2.0),
        "one attempt and one retry with --max-unseal-retries=1"
    );

    // A change of the SealedSecret starts over: again an attempt and one retry.
    env.sealed_api()
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .expect("label the SealedSecret");
    env.metric_until(ERRORS_TOTAL, &labels, |v| v >= 4.0).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        env.metric(ERRORS_TOTAL, &labels),
        Some(4.0),
        "the change got a full retry budget, and no more"
    );
}

/// New Secrets are created without reading them first when the controller's Secret watch has
/// never seen them. Someone else's Secret created while the controller is already unsealing
/// (after it decided the Secret was missing) must be refused, never taken over: each race ends
/// with either the controller's Secret (the other create failed) or the other Secret untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_created_by_someone_else_during_unsealing_is_never_taken_over() {
    let env = Env::start("race", &["--log-level", "debug"]).await;
    let names: Vec<String> = (0..20).map(|i| format!("raced-{i}")).collect();
    let races = names.iter().map(|name| {
        let ours = env.seal(name, &[("password", b"ours")]);
        let theirs = plain_secret(&env.app_ns, name, &[("password", b"theirs")]);
        let api = env.secret_api();
        let client = env.client.clone();
        async move {
            create_sealed(&client, &ours).await;
            match api.create(&PostParams::default(), &theirs).await {
                Ok(created) => Some(created),
                Err(kube::Error::Api(e)) if e.code == 409 => None,
                Err(e) => panic!("creating {name}: {e}"),
            }
        }
    });
    let outcomes = futures::future::join_all(races).await;

    let mut theirs_kept = 0;
    for (name, created) in names.iter().zip(outcomes) {
        match created {
            // The controller was first: its Secret, owned by the SealedSecret.
            None => {
                let secret = env.secret(name).await;
                assert_eq!(value(&secret, "password"), b"ours", "{name}");
                env.synced(name, "True").await;
            }
            Some(before) => {
                theirs_kept += 1;
                let failed = env.synced(name, "False").await;
                let (_, message) = synced_condition(&failed).expect("condition present");
                assert!(
                    message.contains("already exists and is not managed by SealedSecret"),
                    "{name}: refused as unmanaged, not failed otherwise: {message:?}"
                );
                let after = env.secret_now(name).await.expect("the Secret still exists");
                assert_eq!(
                    after.metadata.resource_version, before.metadata.resource_version,
                    "{name}: the other Secret was not written"
                );
                assert_eq!(value(&after, "password"), b"theirs", "{name}: data kept");
                assert!(
                    after.metadata.owner_references.is_none(),
                    "{name}: no owner reference was added"
                );
            }
        }
    }
    let fallbacks = env
        .controller
        .log()
        .matches("the Secret exists after all")
        .count();
    eprintln!(
        "of 20 races: the other Secret kept in {theirs_kept}, created after the controller \
         decided it was missing in {fallbacks}"
    );
}

/// The same race made certain: a SealedSecret with 1,000 values keeps the controller
/// decrypting for a while after it found no Secret; someone else creates the Secret in that
/// window. The controller's create-only write is refused, and the Secret is judged as unowned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_created_while_a_large_sealed_secret_is_decrypted_is_refused() {
    let env = Env::start("slow-race", &["--log-level", "debug"]).await;
    let values: Vec<(String, Vec<u8>)> = (0..1000)
        .map(|i| (format!("key-{i}"), b"ours".to_vec()))
        .collect();
    let data: Vec<(&str, &[u8])> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    let sealed = env.seal("big", &data);
    let started = std::time::Instant::now();
    create_sealed(&env.client, &sealed).await;
    // The reconcile has started (it counts itself first), so the controller has already
    // decided the Secret is missing; 1,000 decrypts keep it busy for a while after that.
    while env.metric(REQUESTS_TOTAL, &[]).unwrap_or(0.0) < 1.0 {
        assert!(started.elapsed() < WAIT, "the reconcile did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("reconcile started after {:?}", started.elapsed());
    let theirs = plain_secret(&env.app_ns, "big", &[("password", b"theirs")]);
    let before = env
        .secret_api()
        .create(&PostParams::default(), &theirs)
        .await
        .expect("the controller is still decrypting 1,000 values: the name is free");

    let failed = env.synced("big", "False").await;
    eprintln!("refused after {:?}", started.elapsed());
    let (_, message) = synced_condition(&failed).expect("condition present");
    assert!(
        message.contains("Resource \"big\" already exists and is not managed by SealedSecret"),
        "condition message: {message:?}"
    );
    let after = env
        .secret_now("big")
        .await
        .expect("the Secret still exists");
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(data_keys(&after), vec!["password".to_owned()]);
    assert!(after.metadata.owner_references.is_none());
    assert!(
        env.controller.log().contains("the Secret exists after all"),
        "the refusal came from the create-only write's conflict"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_and_patch_annotated_existing_secrets_are_taken_over() {
    let env = Env::start("takeover", &[]).await;

    let mut managed = plain_secret(&env.app_ns, "managed", &[("password", b"old")]);
    managed.metadata.annotations = Some(string_map(&[(MANAGED, "true")]));
    create_secret(&env.client, &managed).await;

    let mut patched = plain_secret(
        &env.app_ns,
        "patched",
        &[("password", b"old"), ("extra", b"keep-me")],
    );
    patched.metadata.annotations = Some(string_map(&[(MANAGED, "true"), (PATCH, "true")]));
    create_secret(&env.client, &patched).await;

    let managed_ss =
        create_sealed(&env.client, &env.seal("managed", &[("password", b"new")])).await;
    let patched_ss = create_sealed(
        &env.client,
        &env.seal("patched", &[("password", b"new"), ("added", b"ours")]),
    )
    .await;

    let api = env.secret_api();
    let took_over = |name: &'static str, sealed: SealedSecret| {
        let api = api.clone();
        async move {
            eventually(WAIT, &format!("Secret {name} to be taken over"), || {
                let api = api.clone();
                let sealed = sealed.clone();
                async move {
                    let s = api.get_opt(name).await.ok().flatten()?;
                    (value(&s, "password") == b"new" && owned_by(&s, &sealed)).then_some(s)
                }
            })
            .await
        }
    };
    let m = took_over("managed", managed_ss).await;
    assert_eq!(value(&m, "password"), b"new", "managed: value replaced");

    let p = took_over("patched", patched_ss).await;
    assert_eq!(value(&p, "added"), b"ours", "patch: our new key is added");
    assert_eq!(
        value(&p, "extra"),
        b"keep-me",
        "patch: the existing extra key is kept"
    );
    env.synced("managed", "True").await;
    env.synced("patched", "True").await;
}

/// Upstream replaces `data` (and labels, annotations) of a `managed` Secret without the patch
/// annotation: keys the SealedSecret does not hold disappear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn a_managed_secret_without_patch_has_its_data_replaced() {
    let env = Env::start("replace", &[]).await;
    let mut managed = plain_secret(
        &env.app_ns,
        "managed",
        &[("password", b"old"), ("stale", b"remove-me")],
    );
    managed.metadata.annotations = Some(string_map(&[(MANAGED, "true")]));
    create_secret(&env.client, &managed).await;
    let sealed = create_sealed(&env.client, &env.seal("managed", &[("password", b"new")])).await;
    env.synced("managed", "True").await;
    let s = env.secret("managed").await;
    assert!(owned_by(&s, &sealed), "taken over");
    assert_eq!(value(&s, "password"), b"new");
    assert_eq!(
        data_keys(&s),
        vec!["password".to_owned()],
        "without the patch annotation the data is replaced, not merged"
    );
}

/// Upstream accepts `patch: "true"` alone: it merges the values and leaves the owner references
/// as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn a_patch_annotated_secret_is_merged_without_an_owner_reference() {
    let env = Env::start("patch-only", &[]).await;
    let mut patched = plain_secret(&env.app_ns, "patched", &[("extra", b"keep-me")]);
    patched.metadata.annotations = Some(string_map(&[(PATCH, "true")]));
    create_secret(&env.client, &patched).await;
    create_sealed(&env.client, &env.seal("patched", &[("password", b"new")])).await;
    env.synced("patched", "True").await;
    let s = env.secret("patched").await;
    assert_eq!(value(&s, "password"), b"new", "our key is added");
    assert_eq!(value(&s, "extra"), b"keep-me", "the existing key is kept");
    assert!(
        s.metadata.owner_references.is_none(),
        "patch without managed: no owner reference"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecryptable_sealed_secrets_fail_alone_and_touch_nothing() {
    let env = Env::start("bad-input", &[]).await;
    let ns = env.app_ns.clone();

    // A Secret that exists (from a good version) before its SealedSecret goes bad.
    create_sealed(&env.client, &env.seal("victim", &[("password", b"good")])).await;
    let victim_before = env.secret("victim").await;
    env.synced("victim", "True").await;

    // Sealed to a key the controller does not hold.
    let foreign = crds::keygen::generate(
        2048,
        "not-the-controller",
        std::time::SystemTime::now(),
        Duration::from_secs(86_400),
    )
    .expect("generate a foreign key");
    let other_key = seal(
        &foreign.certificate.to_pem(),
        &ns,
        "other-key",
        &[("password", b"x")],
    );
    // Sealed (strict) for another name, then renamed.
    let mut renamed = env.seal("original-name", &[("password", b"x")]);
    renamed.metadata.name = Some("renamed".to_owned());
    // Truncated and non-base64 ciphertexts.
    let mut truncated = env.seal("truncated", &[("password", b"x")]);
    truncated
        .spec
        .encrypted_data
        .insert("password".to_owned(), "AgA=".to_owned());
    let mut garbage = env.seal("garbage", &[("password", b"x")]);
    garbage.spec.encrypted_data.insert(
        "password".to_owned(),
        "%%% not base64 at all %%%".to_owned(),
    );

    let cases: [(&SealedSecret, &str, &str); 4] = [
        (
            &other_key,
            "other-key",
            "no key could decrypt secret (password)",
        ),
        (
            &renamed,
            "renamed",
            "no key could decrypt secret (password)",
        ),
        (&truncated, "truncated", "truncated"),
        (&garbage, "garbage", "not valid base64"),
    ];
    for (sealed, _, _) in &cases {
        create_sealed(&env.client, sealed).await;
    }
    // The existing Secret's SealedSecret gets a truncated value.
    let sealed_api = env.sealed_api();
    sealed_api
        .patch(
            "victim",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"encryptedData": {"password": "AgA="}}})),
        )
        .await
        .expect("break the victim's SealedSecret");
    // A good one created after the bad ones.
    create_sealed(
        &env.client,
        &env.seal("bystander", &[("password", b"fine")]),
    )
    .await;

    for (_, name, expected) in cases.iter().chain(&[(&truncated, "victim", "truncated")]) {
        let failed = env.synced(name, "False").await;
        let (_, message) = synced_condition(&failed).expect("condition present");
        assert!(
            message.contains(expected),
            "{name}: condition message {message:?} should contain {expected:?}"
        );
        assert!(
            message.contains("(password)"),
            "{name}: the message names the failing key: {message:?}"
        );
        let event = env.event(name, "ErrUnsealFailed").await;
        assert_eq!(
            event.type_.as_deref(),
            Some("Warning"),
            "{name}: event type"
        );
        let note = event.message.unwrap_or_default();
        assert!(
            note.starts_with("Failed to unseal: ") && note.contains(expected),
            "{name}: event message {note:?}"
        );
    }
    for (_, name, _) in &cases {
        assert!(
            env.secret_now(name).await.is_none(),
            "{name}: no Secret is created from an undecryptable SealedSecret"
        );
    }
    assert_eq!(
        value(&env.secret("bystander").await, "password"),
        b"fine",
        "a good SealedSecret in the same namespace is still unsealed"
    );
    env.synced("bystander", "True").await;
    env.metric_until(
        ERRORS_TOTAL,
        &[("namespace", &ns), ("reason", "unseal")],
        |v| v >= 5.0,
    )
    .await;
    env.metric_until(
        CONDITION_INFO,
        &[
            ("namespace", &ns),
            ("name", "garbage"),
            ("condition", "Synced"),
            ("ss_app_kubernetes_io_instance", ""),
        ],
        |v| v == -1.0,
    )
    .await;

    let victim_after = env.secret_now("victim").await.expect("victim Secret kept");
    assert_eq!(
        victim_after.metadata.resource_version, victim_before.metadata.resource_version,
        "the existing Secret was not written"
    );
    assert_eq!(value(&victim_after, "password"), b"good", "old value kept");
}

// ---------------------------------------------------------------------------------------------
// 6. Plaintext hygiene
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_never_reaches_logs_events_status_or_metrics() {
    let env = Env::start("canary", &["--log-level=DEBUG"]).await;
    let canary_good = format!("CANARY-{}", random_hex(12));
    let canary_sibling = format!("CANARY-{}", random_hex(12));

    create_sealed(
        &env.client,
        &env.seal("canary-good", &[("token", canary_good.as_bytes())]),
    )
    .await;
    let mut bad = env.seal("canary-bad", &[("good", canary_sibling.as_bytes())]);
    bad.spec
        .encrypted_data
        .insert("bad".to_owned(), "AgA=".to_owned());
    create_sealed(&env.client, &bad).await;

    assert_eq!(
        value(&env.secret("canary-good").await, "token"),
        canary_good.as_bytes(),
        "the canary itself is unsealed into the Secret (and only there)"
    );
    env.synced("canary-good", "True").await;
    env.synced("canary-bad", "False").await;
    env.event("canary-bad", "ErrUnsealFailed").await;
    env.event("canary-good", "Unsealed").await;
    assert!(
        env.secret_now("canary-bad").await.is_none(),
        "no partial Secret from the bad SealedSecret"
    );
    // Let any late log lines and event updates land.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let core_events: Api<Event> = Api::namespaced(env.client.clone(), &env.app_ns);
    let core_events = core_events
        .list(&ListParams::default())
        .await
        .expect("list core/v1 events");
    let new_events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), &env.app_ns);
    let new_events = new_events
        .list(&ListParams::default())
        .await
        .expect("list events.k8s.io/v1 events");
    let sealed_objects = env
        .sealed_api()
        .list(&ListParams::default())
        .await
        .expect("list SealedSecrets");
    let places = [
        ("controller log", env.controller.log()),
        (
            "core/v1 events",
            serde_json::to_string(&core_events).expect("events to JSON"),
        ),
        (
            "events.k8s.io/v1 events",
            serde_json::to_string(&new_events).expect("events to JSON"),
        ),
        (
            "SealedSecrets (with status)",
            serde_json::to_string(&sealed_objects).expect("SealedSecrets to JSON"),
        ),
        ("/metrics", env.controller.metrics()),
    ];
    assert!(
        !core_events.items.is_empty() && places[0].1.contains("canary-bad"),
        "the places searched are not empty (events exist, the log names the SealedSecret)"
    );
    for canary in [&canary_good, &canary_sibling] {
        // The value itself, and its base64 form (how Secret data travels in JSON).
        let b64 = serde_json::to_string(&ByteString(canary.as_bytes().to_vec()))
            .expect("base64 via JSON");
        let b64 = b64.trim_matches('"').to_owned();
        for (place, text) in &places {
            assert!(
                !text.contains(canary.as_str()),
                "the plaintext canary appears in the {place}"
            );
            assert!(
                !text.contains(&b64),
                "the base64 of the canary appears in the {place}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 7. No write when nothing changed
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_written_when_nothing_changed() {
    let env = Env::start("noop", &[]).await;
    create_sealed(&env.client, &env.seal("steady", &[("password", b"same")])).await;
    env.secret("steady").await;
    env.synced("steady", "True").await;
    // Let the reconcile caused by the status write finish.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let secret = env.secret_now("steady").await.expect("Secret exists");
    let fields = secret.metadata.managed_fields.clone().unwrap_or_default();
    assert!(
        fields
            .iter()
            .any(|f| f.manager.as_deref() == Some(FIELD_MANAGER)
                && f.operation.as_deref() == Some("Update")),
        "the Secret is written by create/update (no server-side apply) as {FIELD_MANAGER}: {:?}",
        fields
            .iter()
            .map(|f| (f.manager.clone(), f.operation.clone()))
            .collect::<Vec<_>>()
    );
    let secret_rv = secret.metadata.resource_version.clone();
    let requests_before = env
        .metric(REQUESTS_TOTAL, &[])
        .expect("unseal_requests_total exported");

    // A metadata-only change of the SealedSecret: reconciled, but nothing to write.
    let touched = env
        .sealed_api()
        .patch(
            "steady",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .expect("touch the SealedSecret's labels");
    env.metric_until(REQUESTS_TOTAL, &[], |v| v > requests_before)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let after = env.secret_now("steady").await.expect("Secret exists");
    assert_eq!(
        after.metadata.resource_version, secret_rv,
        "the Secret was not rewritten"
    );
    let sealed_after = env.sealed_api().get("steady").await.expect("SealedSecret");
    assert_eq!(
        sealed_after.metadata.resource_version, touched.metadata.resource_version,
        "the SealedSecret's status was not rewritten"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Update
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_encrypted_data_updates_the_secret() {
    let env = Env::start("update", &[]).await;
    create_sealed(
        &env.client,
        &env.seal("rolling", &[("password", b"v1"), ("old-key", b"dropped")]),
    )
    .await;
    let first = env.secret("rolling").await;
    assert_eq!(value(&first, "password"), b"v1");

    let mut current = env.sealed_api().get("rolling").await.expect("SealedSecret");
    current.spec = env
        .seal("rolling", &[("password", b"v2"), ("new-key", b"added")])
        .spec;
    env.sealed_api()
        .replace("rolling", &PostParams::default(), &current)
        .await
        .expect("replace the SealedSecret with re-sealed data");

    let api = env.secret_api();
    let updated = eventually(WAIT, "the Secret to hold the new value", || {
        let api = api.clone();
        async move {
            let s = api.get_opt("rolling").await.ok().flatten()?;
            (value(&s, "password") == b"v2").then_some(s)
        }
    })
    .await;
    assert_eq!(value(&updated, "new-key"), b"added", "new key added");
    let sealed_api = env.sealed_api();
    let synced = eventually(WAIT, "observedGeneration to catch up", || {
        let api = sealed_api.clone();
        async move {
            let s = api.get("rolling").await.ok()?;
            let observed = s.status.as_ref()?.observed_generation;
            (observed.is_some() && observed == s.metadata.generation).then_some(s)
        }
    })
    .await;
    assert_eq!(synced.metadata.generation, Some(2), "one spec change");
    assert_eq!(
        synced_condition(&synced).map(|(s, _)| s).as_deref(),
        Some("True")
    );
    let final_secret = env.secret_now("rolling").await.expect("Secret");
    assert_eq!(
        data_keys(&final_secret),
        vec!["new-key".to_owned(), "password".to_owned()],
        "a key removed from the SealedSecret is removed from the Secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immutable_secret_keeps_its_data_and_the_conflict_is_reported() {
    let env = Env::start("immutable", &[]).await;
    let mut secret = plain_secret(&env.app_ns, "frozen", &[("password", b"v1")]);
    secret.immutable = Some(true);
    create_sealed(&env.client, &seal_whole(&env.cert, secret.clone(), None)).await;
    let before = env.secret("frozen").await;
    assert_eq!(before.immutable, Some(true));
    env.synced("frozen", "True").await;

    let mut current = env.sealed_api().get("frozen").await.expect("SealedSecret");
    secret.data = Some(BTreeMap::from([(
        "password".to_owned(),
        ByteString(b"v2".to_vec()),
    )]));
    current.spec = seal_whole(&env.cert, secret, None).spec;
    env.sealed_api()
        .replace("frozen", &PostParams::default(), &current)
        .await
        .expect("replace the SealedSecret with a new value");

    let expected = format!(
        "Error updating {}/frozen: the target Secret is immutable",
        env.app_ns
    );
    let failed = env.synced("frozen", "False").await;
    let (_, message) = synced_condition(&failed).expect("condition present");
    assert!(
        message.starts_with(&expected),
        "condition message {message:?} should start with {expected:?}"
    );
    let event = env.event("frozen", "ErrUpdateFailed").await;
    assert!(
        event
            .message
            .as_deref()
            .unwrap_or_default()
            .starts_with(&expected),
        "event message: {:?}",
        event.message
    );
    env.metric_until(
        ERRORS_TOTAL,
        &[("namespace", &env.app_ns), ("reason", "update")],
        |v| v > 0.0,
    )
    .await;
    let after = env.secret_now("frozen").await.expect("Secret kept");
    assert_eq!(value(&after, "password"), b"v1", "immutable data unchanged");
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the immutable Secret was not written"
    );
}

/// Upstream drops the `condition_info` series of a deleted SealedSecret (`UnregisterCondition`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn a_deleted_sealed_secret_leaves_no_condition_info_series() {
    let env = Env::start("forget", &[]).await;
    create_sealed(&env.client, &env.seal("short-lived", &[("password", b"x")])).await;
    let labels = [
        ("namespace", env.app_ns.as_str()),
        ("name", "short-lived"),
        ("condition", "Synced"),
        ("ss_app_kubernetes_io_instance", ""),
    ];
    env.metric_until(CONDITION_INFO, &labels, |v| v == 1.0)
        .await;
    env.sealed_api()
        .delete("short-lived", &DeleteParams::default())
        .await
        .expect("delete the SealedSecret");
    eventually(WAIT, "the condition_info series to disappear", || {
        let gone = env.metric(CONDITION_INFO, &labels).is_none();
        async move { gone.then_some(()) }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 9. Label selector and namespaces
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_selector_and_namespace_list_limit_what_is_unsealed() {
    let cp = control_plane().await;
    let unlisted = cp
        .create_namespace("unlisted")
        .await
        .expect("create an unlisted namespace");
    let env = Env::start("selector", &["--label-selector=app=x"]).await;

    let with_label = |mut s: SealedSecret| {
        s.metadata.labels = Some(string_map(&[("app", "x")]));
        s
    };
    create_sealed(&env.client, &env.seal("plain", &[("password", b"a")])).await;
    create_sealed(
        &env.client,
        &with_label(seal(&env.cert, &unlisted, "outside", &[("password", b"b")])),
    )
    .await;
    create_sealed(
        &env.client,
        &with_label(env.seal("chosen", &[("password", b"c")])),
    )
    .await;

    assert_eq!(
        value(&env.secret("chosen").await, "password"),
        b"c",
        "a SealedSecret matching the selector is unsealed"
    );
    tokio::time::sleep(QUIET).await;
    assert!(
        env.secret_now("plain").await.is_none(),
        "a SealedSecret without the selected label is ignored"
    );
    let plain = env.sealed_api().get("plain").await.expect("SealedSecret");
    assert!(
        plain.status.is_none(),
        "ignored: no status: {:?}",
        plain.status
    );
    let unlisted_secrets: Api<Secret> = Api::namespaced(env.client.clone(), &unlisted);
    assert!(
        unlisted_secrets
            .get_opt("outside")
            .await
            .expect("read")
            .is_none(),
        "a namespace not in --additional-namespaces is ignored"
    );
    let outside: Api<SealedSecret> = Api::namespaced(env.client.clone(), &unlisted);
    let outside = outside.get("outside").await.expect("SealedSecret");
    assert!(outside.status.is_none(), "unlisted namespace: no status");
}

// ---------------------------------------------------------------------------------------------
// 10. --update-status=false
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_status_updates_the_secret_is_made_and_status_stays_empty() {
    let env = Env::start("no-status", &["--update-status=false"]).await;
    create_sealed(&env.client, &env.seal("quiet", &[("password", b"v")])).await;
    assert_eq!(value(&env.secret("quiet").await, "password"), b"v");
    env.event("quiet", "Unsealed").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sealed = env.sealed_api().get("quiet").await.expect("SealedSecret");
    assert!(
        sealed
            .status
            .as_ref()
            .is_none_or(|s| s.conditions.is_empty() && s.observed_generation.is_none()),
        "--update-status=false: status stays empty: {:?}",
        sealed.status
    );
}

// ---------------------------------------------------------------------------------------------
// 11. Keys from the Go controller
// ---------------------------------------------------------------------------------------------

fn run(cmd: &mut std::process::Command) {
    let out = cmd.output().expect("command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_by_the_go_controller_is_adopted_and_unseals() {
    let cp = control_plane().await;
    let client = cp.client().expect("admin client");
    let keys_ns = cp.create_namespace("go-keys").await.expect("namespace");
    let app_ns = cp.create_namespace("go-app").await.expect("namespace");

    // The key exactly as the Go controller stores it, made by openssl.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |f: &str| dir.path().join(f);
    run(std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(path("k8.pem"))
        .arg("-out")
        .arg(path("c.pem"))
        .args(["-days", "3650", "-subj", "/CN=sealed-secret"]));
    run(std::process::Command::new("openssl")
        .args(["rsa", "-traditional", "-in"])
        .arg(path("k8.pem"))
        .arg("-out")
        .arg(path("k1.pem")));
    let cert_pem = std::fs::read(path("c.pem")).expect("read c.pem");
    let key_pem = std::fs::read(path("k1.pem")).expect("read k1.pem");
    assert!(
        key_pem.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"),
        "openssl wrote a PKCS#1 key"
    );
    let key_name = format!("sealed-secrets-key{}", &random_hex(3)[..5]);
    let key_secret = Secret {
        metadata: ObjectMeta {
            name: Some(key_name.clone()),
            generate_name: Some("sealed-secrets-key".to_owned()),
            namespace: Some(keys_ns.clone()),
            labels: Some(string_map(&[(
                "sealedsecrets.bitnami.com/sealed-secrets-key",
                "active",
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(BTreeMap::from([
            ("tls.crt".to_owned(), ByteString(cert_pem.clone())),
            ("tls.key".to_owned(), ByteString(key_pem)),
        ])),
        ..Secret::default()
    };
    create_secret(&client, &key_secret).await;

    // Sealed by an independent implementation.
    let oracle = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oracles/oracle");
    let label = format!("{app_ns}/legacy");
    let sealed_value = {
        use std::io::Write;
        let mut child = std::process::Command::new(&oracle)
            .args(["seal-raw", "--impl", "aes", "--cert"])
            .arg(path("c.pem"))
            .args(["--label", &label])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the oracle starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"from-the-go-era")
            .expect("write plaintext to the oracle");
        let out = child.wait_with_output().expect("oracle finishes");
        assert!(
            out.status.success(),
            "oracle seal-raw failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("base64 output")
            .trim()
            .to_owned()
    };
    let mut sealed = SealedSecret::new(
        "legacy",
        SealedSecretSpec {
            encrypted_data: BTreeMap::from([("password".to_owned(), sealed_value)]),
            ..SealedSecretSpec::default()
        },
    );
    sealed.metadata.namespace = Some(app_ns.clone());

    let controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[]);
    let served = controller.wait_for_cert(CERT_WAIT);
    let served = crds::Certificate::from_pem(served.as_bytes()).expect("served cert parses");
    let ours = crds::Certificate::from_pem(&cert_pem).expect("openssl cert parses");
    assert_eq!(
        served.der(),
        ours.der(),
        "/v1/cert.pem serves the existing (Go-format) certificate"
    );

    create_sealed(&client, &sealed).await;
    let secret = wait_for_secret(&client, &app_ns, "legacy", WAIT).await;
    assert_eq!(
        value(&secret, "password"),
        b"from-the-go-era",
        "a value sealed by another implementation to the Go key is unsealed"
    );
    wait_synced(&client, &app_ns, "legacy", "True").await;

    let keys = key_secrets(&client, &keys_ns).await;
    assert_eq!(
        keys.iter()
            .map(|k| k.metadata.name.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        vec![key_name],
        "no new key is created when one exists; log:\n{}",
        controller.log()
    );
}

// ---------------------------------------------------------------------------------------------
// 12. Deprecated v1 `spec.data`
// ---------------------------------------------------------------------------------------------

/// A SealedSecret in the deprecated v1 format: the whole Secret, JSON-encoded, sealed as one
/// value (strict label) into `spec.data`.
fn v1_sealed(cert_pem: &str, namespace: &str, name: &str, data: &[(&str, &[u8])]) -> SealedSecret {
    let (key, _) = crds::parse_sealing_key(cert_pem.as_bytes()).expect("certificate parses");
    let inner = plain_secret(namespace, name, data);
    let json = serde_json::to_vec(&inner).expect("Secret to JSON");
    let label = Scope::Strict.label(namespace, name);
    let blob = crds::hybrid_encrypt(&key, &label, &json).expect("hybrid encryption");
    let mut sealed = SealedSecret::new(
        name,
        SealedSecretSpec {
            data: Some(ByteString(blob)),
            ..SealedSecretSpec::default()
        },
    );
    sealed.metadata.namespace = Some(namespace.to_owned());
    sealed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecated_v1_data_is_accepted_by_default() {
    let env = Env::start("v1-on", &[]).await;
    create_sealed(
        &env.client,
        &v1_sealed(
            &env.cert,
            &env.app_ns,
            "old-style",
            &[("password", b"v1-value")],
        ),
    )
    .await;
    assert_eq!(
        value(&env.secret("old-style").await, "password"),
        b"v1-value",
        "the v1 blob is unsealed"
    );
    env.synced("old-style", "True").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecated_v1_data_is_refused_when_disabled() {
    let env = Env::start("v1-off", &["--accept-deprecated-v1-data=false"]).await;
    create_sealed(
        &env.client,
        &v1_sealed(
            &env.cert,
            &env.app_ns,
            "old-style",
            &[("password", b"v1-value")],
        ),
    )
    .await;
    // Proves the controller is working while it refuses the v1 object.
    create_sealed(&env.client, &env.seal("modern", &[("password", b"v2")])).await;
    env.secret("modern").await;

    let failed = env.synced("old-style", "False").await;
    let (_, message) = synced_condition(&failed).expect("condition present");
    assert!(
        message.starts_with("using deprecated 'data' field"),
        "condition message: {message:?}"
    );
    let event = env.event("old-style", "ErrUnsealFailed").await;
    assert!(
        event
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("using deprecated 'data' field"),
        "event message: {:?}",
        event.message
    );
    assert!(
        env.secret_now("old-style").await.is_none(),
        "no Secret from refused v1 data"
    );
}
