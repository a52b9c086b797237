//! Key lifecycle and high availability, end to end on the real control plane: the first key,
//! renewal (period, cutoff time, SIGUSR1), keys added, deleted or relabelled by someone else,
//! key order, leader election with failover, and faults (controller killed mid-batch, API server
//! restarted under a running controller).
//!
//! Each test runs its own controller process(es) with their own key and app namespaces.

pub mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crds::keygen::{KEY_LABEL, KEY_LABEL_ACTIVE};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use support::*;

const CERT_TIMEOUT: Duration = Duration::from_secs(60);
const SECRET_TIMEOUT: Duration = Duration::from_secs(30);

/// Every Secret of `namespace`, whatever its labels.
async fn all_secrets(client: &Client, namespace: &str) -> Vec<Secret> {
    Api::<Secret>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .expect("list Secrets")
        .items
}

fn not_before(secret: &Secret) -> SystemTime {
    crds::Certificate::from_pem(key_cert_pem(secret).as_bytes())
        .expect("key Secret holds a certificate")
        .not_before()
}

/// The key Secret with the newest certificate NotBefore.
fn newest_by_not_before(keys: &[Secret]) -> &Secret {
    keys.iter()
        .max_by_key(|s| not_before(s))
        .expect("at least one key")
}

fn name_of(secret: &Secret) -> String {
    secret.metadata.name.clone().unwrap_or_default()
}

/// The certificate the controller serves now, if any.
fn served_cert(controller: &ControllerProcess) -> Option<String> {
    match http_get(&controller.url("/v1/cert.pem")) {
        Ok((200, pem)) => Some(pem),
        _ => None,
    }
}

/// Waits until `/v1/cert.pem` serves `pem`.
async fn wait_serves(controller: &ControllerProcess, pem: &str, timeout: Duration, what: &str) {
    eventually(timeout, what, || async {
        served_cert(controller)
            .filter(|served| same_cert(served, pem))
            .map(|_| ())
    })
    .await;
}

/// The value of `key` in Secret `namespace/name` once it equals `want`.
async fn wait_secret_value(client: &Client, namespace: &str, name: &str, key: &str, want: &[u8]) {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    eventually(
        SECRET_TIMEOUT,
        &format!(
            "Secret {namespace}/{name} with {key}={}",
            String::from_utf8_lossy(want)
        ),
        || {
            let api = api.clone();
            async move {
                let secret = api.get_opt(name).await.ok().flatten()?;
                let value = secret.data.as_ref()?.get(key)?;
                (value.0 == want).then_some(())
            }
        },
    )
    .await;
}

/// Waits for the Synced condition `status` ("True"/"False") at `generation`.
async fn wait_synced(
    client: &Client,
    namespace: &str,
    name: &str,
    status: &str,
    generation: i64,
) -> crds::SealedSecretStatus {
    let api: Api<crds::SealedSecret> = Api::namespaced(client.clone(), namespace);
    eventually(
        SECRET_TIMEOUT,
        &format!("{namespace}/{name} Synced={status} at generation {generation}"),
        || {
            let api = api.clone();
            async move {
                let s = api.get(name).await.ok()?.status?;
                let ok = s.observed_generation == Some(generation)
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Synced" && c.status == status);
                ok.then_some(s)
            }
        },
    )
    .await
}

/// `openssl x509 -noout -subject` of a PEM certificate, spaces removed (`subject=CN=x`).
fn openssl_subject(pem: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-subject"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .expect("openssl stdin")
        .write_all(pem.as_bytes())
        .expect("write the certificate to openssl");
    let out = child.wait_with_output().expect("openssl finishes");
    assert!(
        out.status.success(),
        "openssl x509 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).replace(' ', "")
}

/// `t` in RFC 1123 with a numeric zone (Go's `time.RFC1123Z`), via GNU `date -R`.
fn rfc1123z(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let out = Command::new("date")
        .arg("-R")
        .arg("-d")
        .arg(format!("@{secs}"))
        .output()
        .expect("date runs");
    assert!(out.status.success(), "date -R failed");
    String::from_utf8(out.stdout)
        .expect("date prints text")
        .trim()
        .to_owned()
}

const HOUR: Duration = Duration::from_secs(3600);

/// As the original, an unlabelled key Secret named exactly `--key-prefix` (how its first
/// versions stored their one key) is loaded: it seals and unseals, and no new key is made.
#[tokio::test]
async fn an_unlabelled_key_secret_named_after_the_prefix_is_loaded() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "legacy-key").await;
    let (created, _) =
        create_key_secret(&client, &keys_ns, "sealed-secrets-key", SystemTime::now()).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &keys_ns);
    let unlabelled = secrets
        .patch(
            "sealed-secrets-key",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": null}})),
        )
        .await
        .expect("remove the key label");
    assert!(unlabelled.metadata.labels.unwrap_or_default().is_empty());

    let controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[]);
    let cert = controller.wait_for_cert(CERT_TIMEOUT);
    assert!(
        same_cert(&cert, &key_cert_pem(&created)),
        "/v1/cert.pem serves the legacy key's certificate"
    );
    let sealed = seal(&cert, &app_ns, "legacy", &[("v", b"old")]);
    create_sealed(&client, &sealed).await;
    let secret = wait_for_secret(&client, &app_ns, "legacy", SECRET_TIMEOUT).await;
    assert_eq!(
        secret
            .data
            .unwrap_or_default()
            .get("v")
            .map(|b| b.0.clone()),
        Some(b"old".to_vec())
    );
    let all = all_secrets(&client, &keys_ns).await;
    assert_eq!(
        all.iter().map(name_of).collect::<Vec<_>>(),
        ["sealed-secrets-key"],
        "no new key was made"
    );
}

/// Without `POD_NAMESPACE` and outside a cluster (no service-account namespace file), the
/// controller keeps its keys in `default`, as the original; its first key has the default size,
/// 4096 bits.
#[tokio::test]
async fn without_pod_namespace_the_keys_live_in_default() {
    let sa_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
    if std::path::Path::new(sa_file).exists() {
        eprintln!("{sa_file} exists here: its namespace would be used; skipping");
        return;
    }
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (_, app_ns) = namespaces(cp, "no-pod-ns").await;
    // A prefix of its own, to find this controller's key among anything else in `default`.
    let prefix = format!("no-pod-ns-{}", std::process::id());
    let controller = ControllerProcess::start_exact(
        cp.kubeconfig_path(),
        "",
        None,
        &[
            format!("--key-prefix={prefix}"),
            "--all-namespaces=false".to_owned(),
            format!("--additional-namespaces={app_ns}"),
        ],
        &[],
    );
    let cert = controller.wait_for_cert(CERT_TIMEOUT);
    let keys: Vec<Secret> = key_secrets(&client, "default")
        .await
        .into_iter()
        .filter(|s| name_of(s).starts_with(&prefix))
        .collect();
    assert_eq!(keys.len(), 1, "one key in default");
    assert!(same_cert(&cert, &key_cert_pem(&keys[0])));
    let key = crds::keygen::from_key_secret(&keys[0]).expect("the key loads");
    assert_eq!(
        key.certificate.public_key().bits(),
        4096,
        "the default --key-size"
    );
    drop(controller); // stopped first, so that it cannot make a new key after the clean-up
    Api::<Secret>::namespaced(client.clone(), "default")
        .delete(&name_of(&keys[0]), &DeleteParams::default())
        .await
        .expect("clean up the key");
}

#[tokio::test]
async fn first_key_uses_the_default_prefix_type_and_label() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "first-default").await;
    let controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[]);
    let cert = controller.wait_for_cert(CERT_TIMEOUT);
    // Give a duplicate key a chance to appear.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let secrets = all_secrets(&client, &keys_ns).await;
    assert_eq!(
        secrets.len(),
        1,
        "an empty key namespace gets exactly one Secret: {:?}",
        secrets.iter().map(name_of).collect::<Vec<_>>()
    );
    let key = &secrets[0];
    assert_eq!(
        key.metadata.generate_name.as_deref(),
        Some("sealed-secrets-key"),
        "default generateName"
    );
    let name = name_of(key);
    assert!(
        name.starts_with("sealed-secrets-key") && name.len() > "sealed-secrets-key".len(),
        "key Secret name {name:?} is generated from the prefix"
    );
    assert_eq!(key.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(
        key.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(KEY_LABEL))
            .map(String::as_str),
        Some(KEY_LABEL_ACTIVE),
        "key label"
    );
    assert!(
        same_cert(&cert, &key_cert_pem(key)),
        "/v1/cert.pem serves the key Secret's tls.crt"
    );
    let sealing = crds::keygen::from_key_secret(key).expect("the key Secret loads");
    assert_eq!(sealing.certificate.public_key().bits(), 2048, "--key-size");
    let validity = sealing
        .certificate
        .not_after()
        .duration_since(sealing.certificate.not_before())
        .expect("not_after after not_before");
    assert_eq!(validity, 87600 * HOUR, "default --key-ttl is 87600h");
}

#[tokio::test]
async fn first_key_honours_prefix_cn_labels_and_annotations() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "first-custom").await;
    let controller = ControllerProcess::start(
        cp.kubeconfig_path(),
        &keys_ns,
        &[&app_ns],
        &[
            "--privatekey-labels=a=b",
            "--privatekey-annotations=c=d",
            "--key-prefix=mykey-",
            "--my-cn=test-cn",
        ],
    );
    let cert = controller.wait_for_cert(CERT_TIMEOUT);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let secrets = all_secrets(&client, &keys_ns).await;
    assert_eq!(
        secrets.len(),
        1,
        "exactly one key Secret: {:?}",
        secrets.iter().map(name_of).collect::<Vec<_>>()
    );
    let key = &secrets[0];
    assert_eq!(key.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(key.metadata.generate_name.as_deref(), Some("mykey-"));
    assert!(
        name_of(key).starts_with("mykey-"),
        "name {:?} has the custom prefix",
        name_of(key)
    );
    let labels = key.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(KEY_LABEL).map(String::as_str),
        Some(KEY_LABEL_ACTIVE),
        "key label in {labels:?}"
    );
    assert_eq!(
        labels.get("a").map(String::as_str),
        Some("b"),
        "--privatekey-labels in {labels:?}"
    );
    let annotations = key.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations.get("c").map(String::as_str),
        Some("d"),
        "--privatekey-annotations in {annotations:?}"
    );
    assert!(
        same_cert(&cert, &key_cert_pem(key)),
        "served cert is the key's"
    );
    let subject = openssl_subject(&cert);
    assert!(
        subject.contains("CN=test-cn"),
        "certificate subject {subject:?} carries --my-cn"
    );
}

#[tokio::test]
async fn renews_keys_every_period_and_old_keys_still_unseal() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "renew").await;
    let controller = ControllerProcess::start(
        cp.kubeconfig_path(),
        &keys_ns,
        &[&app_ns],
        &["--key-renew-period=5s"],
    );
    let first_cert = controller.wait_for_cert(CERT_TIMEOUT);
    let first_keys = key_secrets(&client, &keys_ns).await;
    let first = first_keys
        .iter()
        .find(|k| same_cert(&key_cert_pem(k), &first_cert))
        .expect("the first served cert belongs to a key Secret")
        .clone();

    let newest = eventually(
        Duration::from_secs(15),
        "a second key, served by /v1/cert.pem",
        || async {
            let keys = key_secrets(&client, &keys_ns).await;
            if keys.len() < 2 {
                return None;
            }
            let newest = newest_by_not_before(&keys).clone();
            let served = served_cert(&controller)?;
            (same_cert(&served, &key_cert_pem(&newest)) && !same_cert(&served, &first_cert))
                .then_some(newest)
        },
    )
    .await;
    let gap = not_before(&newest)
        .duration_since(not_before(&first))
        .expect("the new key is newer");
    assert!(
        gap >= Duration::from_secs(4),
        "the second key came {gap:?} after the first: the 5s period is not honoured"
    );

    // A SealedSecret sealed to the old key after the rotation still unseals.
    let old = seal(&first_cert, &app_ns, "sealed-to-old", &[("v", b"old-key")]);
    create_sealed(&client, &old).await;
    wait_secret_value(&client, &app_ns, "sealed-to-old", "v", b"old-key").await;
    // And one sealed to the new key.
    let new = seal(
        &key_cert_pem(&newest),
        &app_ns,
        "sealed-to-new",
        &[("v", b"new-key")],
    );
    create_sealed(&client, &new).await;
    wait_secret_value(&client, &app_ns, "sealed-to-new", "v", b"new-key").await;
}

#[tokio::test]
async fn renew_period_zero_never_renews() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "renew-zero").await;
    let controller = ControllerProcess::start(
        cp.kubeconfig_path(),
        &keys_ns,
        &[&app_ns],
        &["--key-renew-period=0"],
    );
    let cert = controller.wait_for_cert(CERT_TIMEOUT);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let keys = key_secrets(&client, &keys_ns).await;
    assert_eq!(
        keys.len(),
        1,
        "no key renewal with --key-renew-period=0: {:?}",
        keys.iter().map(name_of).collect::<Vec<_>>()
    );
    let served = served_cert(&controller).expect("cert still served");
    assert!(same_cert(&served, &cert), "the served cert did not change");
}

/// Starts a controller with `--key-cutoff-time=cutoff` over a key namespace holding one key made
/// at `key_time`; returns the number of active keys after it settled, and the controller.
async fn keys_after_cutoff(
    cp: &envtest::ControlPlane,
    client: &Client,
    prefix: &str,
    key_time: SystemTime,
    cutoff: SystemTime,
) -> (Vec<Secret>, Secret, ControllerProcess) {
    let (keys_ns, app_ns) = namespaces(cp, prefix).await;
    let (existing, _) = create_key_secret(client, &keys_ns, "existing-key", key_time).await;
    let flag = format!("--key-cutoff-time={}", rfc1123z(cutoff));
    let controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[&flag]);
    controller.wait_for_cert(CERT_TIMEOUT);
    // Let any key creation happen (and any runaway one show).
    tokio::time::sleep(Duration::from_secs(6)).await;
    (key_secrets(client, &keys_ns).await, existing, controller)
}

#[tokio::test]
async fn cutoff_time_in_the_past_replaces_only_keys_older_than_it() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let now = SystemTime::now();

    // The existing key predates the cutoff: one new key, which then seals.
    let (keys, existing, controller) =
        keys_after_cutoff(cp, &client, "cutoff-past", now - 2 * HOUR, now - HOUR).await;
    assert_eq!(
        keys.len(),
        2,
        "one new key for a key older than the cutoff: {:?}",
        keys.iter().map(name_of).collect::<Vec<_>>()
    );
    let served = served_cert(&controller).expect("cert served");
    assert!(
        !same_cert(&served, &key_cert_pem(&existing)),
        "the new key seals, not the one older than the cutoff"
    );
    drop(controller);

    // The existing key is newer than the cutoff: nothing to do.
    let (keys, existing, controller) =
        keys_after_cutoff(cp, &client, "cutoff-newer", now - HOUR / 2, now - HOUR).await;
    assert_eq!(
        keys.len(),
        1,
        "no new key for a key newer than the cutoff: {:?}",
        keys.iter().map(name_of).collect::<Vec<_>>()
    );
    let served = served_cert(&controller).expect("cert served");
    assert!(same_cert(&served, &key_cert_pem(&existing)));
}

#[tokio::test]
async fn cutoff_time_in_the_future_creates_exactly_one_new_key() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let now = SystemTime::now();
    let started = Instant::now();
    let (keys, existing, controller) = keys_after_cutoff(
        cp,
        &client,
        "cutoff-future",
        now - Duration::from_secs(60),
        now + HOUR,
    )
    .await;
    assert!(
        keys.len() >= 2,
        "a key older than a future cutoff is replaced at once"
    );
    assert_eq!(
        keys.len(),
        2,
        "exactly one new key (the Go controller checks the cutoff once, at startup); got {} \
         keys within {:?}: the new key is also older than the cutoff, so the controller keeps \
         creating keys until the cutoff passes",
        keys.len(),
        started.elapsed()
    );
    let served = served_cert(&controller).expect("cert served");
    assert!(!same_cert(&served, &key_cert_pem(&existing)));
}

#[tokio::test]
async fn sigusr1_creates_a_new_key_at_once() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "sigusr1").await;
    let controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[]);
    let cert = controller.wait_for_cert(CERT_TIMEOUT);
    assert_eq!(
        key_secrets(&client, &keys_ns).await.len(),
        1,
        "one key first"
    );
    // Certificates have whole-second NotBefore: a key made within the same second as the
    // previous one would tie with it (see the report), which is not what this test is about.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    controller.signal("USR1");
    let newest = eventually(
        Duration::from_secs(20),
        "a new key after SIGUSR1",
        || async {
            let keys = key_secrets(&client, &keys_ns).await;
            if keys.len() < 2 {
                return None;
            }
            let newest = newest_by_not_before(&keys).clone();
            let served = served_cert(&controller)?;
            (same_cert(&served, &key_cert_pem(&newest)) && !same_cert(&served, &cert))
                .then_some(newest)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let keys = key_secrets(&client, &keys_ns).await;
    assert_eq!(
        keys.len(),
        2,
        "one signal, one key: {:?}",
        keys.iter().map(name_of).collect::<Vec<_>>()
    );
    // The new key seals and unseals.
    let sealed = seal(
        &key_cert_pem(&newest),
        &app_ns,
        "after-usr1",
        &[("v", b"x")],
    );
    create_sealed(&client, &sealed).await;
    wait_secret_value(&client, &app_ns, "after-usr1", "v", b"x").await;
}

#[tokio::test]
async fn keys_added_deleted_or_relabelled_by_others_are_picked_up() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "external-keys").await;
    let mut controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[]);
    let cert_a = controller.wait_for_cert(CERT_TIMEOUT);
    let key_a = key_secrets(&client, &keys_ns)
        .await
        .into_iter()
        .next()
        .expect("the controller's key");
    let name_a = name_of(&key_a);

    let sealed = seal(&cert_a, &app_ns, "app", &[("v", b"one")]);
    create_sealed(&client, &sealed).await;
    wait_secret_value(&client, &app_ns, "app", "v", b"one").await;

    // A key restored by someone else, newer than the controller's: it seals.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (restored, key_b) =
        create_key_secret(&client, &keys_ns, "restored-key", SystemTime::now()).await;
    wait_serves(
        &controller,
        &key_b.certificate.to_pem(),
        Duration::from_secs(20),
        "the restored (newest) key served by /v1/cert.pem",
    )
    .await;
    assert!(same_cert(
        &key_cert_pem(&restored),
        &key_b.certificate.to_pem()
    ));

    // Deleted by hand: the controller goes on with the remaining key.
    Api::<Secret>::namespaced(client.clone(), &keys_ns)
        .delete("restored-key", &DeleteParams::default())
        .await
        .expect("delete the restored key");
    wait_serves(
        &controller,
        &cert_a,
        Duration::from_secs(20),
        "the remaining key served again after the newest was deleted",
    )
    .await;
    assert!(
        controller.is_running(),
        "controller exited after a key Secret was deleted; log:\n{}",
        controller.log()
    );
    let (status, body) = http_get(&controller.url("/healthz")).expect("GET /healthz");
    assert_eq!(
        (status, body.trim()),
        (200, "ok"),
        "healthz after a key deletion"
    );
    eventually(
        Duration::from_secs(10),
        "a log line about the deleted key",
        || async {
            let log = controller.log();
            log.lines()
                .any(|l| l.contains("restored-key") && l.contains("deleted"))
                .then_some(())
        },
    )
    .await;

    // Relabelled to non-active: no longer used, so a value sealed only to it stops unsealing.
    Api::<Secret>::namespaced(client.clone(), &keys_ns)
        .patch(
            &name_a,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {KEY_LABEL: "compromised"}}})),
        )
        .await
        .expect("relabel the key");
    eventually(
        Duration::from_secs(20),
        "the relabelled key no longer served",
        || async {
            served_cert(&controller)
                .filter(|served| !same_cert(served, &cert_a))
                .map(|_| ())
        },
    )
    .await;
    let verify_body = serde_json::to_vec(&sealed).expect("JSON");
    eventually(
        Duration::from_secs(10),
        "/v1/verify 409 for a value sealed to the relabelled key",
        || async {
            let r = http_call("POST", &controller.url("/v1/verify"), &verify_body).ok()?;
            (r.status == 409).then_some(())
        },
    )
    .await;
    let update = seal(&cert_a, &app_ns, "app", &[("v", b"two")]);
    let api: Api<crds::SealedSecret> = Api::namespaced(client.clone(), &app_ns);
    let mut live = api.get("app").await.expect("get SealedSecret");
    live.spec.encrypted_data = update.spec.encrypted_data.clone();
    let live = api
        .replace("app", &PostParams::default(), &live)
        .await
        .expect("update the SealedSecret");
    let generation = live.metadata.generation.expect("generation");
    let status = wait_synced(&client, &app_ns, "app", "False", generation).await;
    let message = status
        .conditions
        .iter()
        .find_map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        !message.is_empty(),
        "the failed unseal is explained in the condition"
    );
    let secret: Secret = Api::namespaced(client.clone(), &app_ns)
        .get("app")
        .await
        .expect("Secret");
    assert_eq!(
        secret
            .data
            .as_ref()
            .and_then(|d| d.get("v"))
            .map(|v| v.0.as_slice()),
        Some(&b"one"[..]),
        "the Secret keeps the last value that could be unsealed"
    );
    assert!(controller.is_running(), "controller still running");
}

#[tokio::test]
async fn key_order_priority_secret_creation_timestamp_is_honoured() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    for (order_flag, newest_secret_seals) in [
        (Some("--key-order-priority=SecretCreationTimestamp"), true),
        (None, false),
    ] {
        let (keys_ns, app_ns) = namespaces(cp, "key-order").await;
        let flags: Vec<&str> = order_flag.into_iter().collect();
        let controller =
            ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &flags);
        let own_cert = controller.wait_for_cert(CERT_TIMEOUT);
        // Created later (newer Secret) but with a certificate from yesterday (older NotBefore).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (_, old_cert_key) = create_key_secret(
            &client,
            &keys_ns,
            "newer-secret-older-cert",
            SystemTime::now() - 24 * HOUR,
        )
        .await;
        let old_cert = old_cert_key.certificate.to_pem();
        // Wait until the controller has loaded it (it verifies a value sealed only to it).
        let probe =
            serde_json::to_vec(&seal(&old_cert, &app_ns, "probe", &[("v", b"p")])).expect("JSON");
        eventually(Duration::from_secs(20), "the added key loaded", || async {
            let r = http_call("POST", &controller.url("/v1/verify"), &probe).ok()?;
            (r.status == 200).then_some(())
        })
        .await;
        let served = served_cert(&controller).expect("cert served");
        if newest_secret_seals {
            assert!(
                same_cert(&served, &old_cert),
                "{order_flag:?}: the key of the newest Secret seals"
            );
        } else {
            assert!(
                same_cert(&served, &own_cert),
                "default order: the key with the newest NotBefore seals"
            );
        }
        let sealed = seal(&served, &app_ns, "ordered", &[("v", b"ordered")]);
        create_sealed(&client, &sealed).await;
        wait_secret_value(&client, &app_ns, "ordered", "v", b"ordered").await;
    }
}

fn identity(c: &ControllerProcess) -> String {
    format!("controller-{}", c.api_port)
}

async fn lease_holder(client: &Client, namespace: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), namespace)
        .get_opt("sealed-secrets-controller")
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

#[tokio::test]
async fn leader_election_one_key_one_writer_and_failover() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "ha").await;
    let flags = ["--leader-elect", "--leader-elect-lease-duration=4s"];
    let started = Instant::now();
    let a = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &flags);
    let b = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &flags);
    let cert = a.wait_for_cert(CERT_TIMEOUT);
    let cert_b = b.wait_for_cert(CERT_TIMEOUT);
    assert!(
        same_cert(&cert, &cert_b),
        "both replicas serve the same certificate"
    );

    let holder = eventually(Duration::from_secs(30), "a Lease holder", || {
        lease_holder(&client, &keys_ns)
    })
    .await;
    let (mut leader, mut follower) = if holder == identity(&a) {
        (a, b)
    } else {
        assert_eq!(holder, identity(&b), "the Lease names one of the replicas");
        (b, a)
    };
    let lease = Api::<Lease>::namespaced(client.clone(), &keys_ns)
        .get("sealed-secrets-controller")
        .await
        .expect("Lease (coordination.k8s.io/v1) in the key namespace");
    assert!(
        lease.spec.and_then(|s| s.lease_duration_seconds).is_some(),
        "the Lease has a duration"
    );

    // Only the leader writes.
    let first = seal(&cert, &app_ns, "ha-1", &[("v", b"one")]);
    create_sealed(&client, &first).await;
    wait_secret_value(&client, &app_ns, "ha-1", "v", b"one").await;
    assert!(
        leader.log().contains("leading: reconciling"),
        "the Lease holder reconciles; log:\n{}",
        leader.log()
    );
    assert!(
        !follower.log().contains("leading: reconciling"),
        "the follower does not reconcile; log:\n{}",
        follower.log()
    );
    assert_eq!(
        metric_value(
            &follower.metrics(),
            "sealed_secrets_controller_unseal_requests_total",
            &[]
        ),
        Some(0.0),
        "the follower unseals nothing"
    );
    // Followers answer the API.
    let r = http_call(
        "POST",
        &follower.url("/v1/verify"),
        &serde_json::to_vec(&first).expect("JSON"),
    )
    .expect("POST /v1/verify to the follower");
    assert_eq!(r.status, 200, "the follower verifies: {}", r.body);

    // One key, even after both replicas had time to race.
    let settle = Duration::from_secs(20).saturating_sub(started.elapsed());
    tokio::time::sleep(settle).await;
    let keys = key_secrets(&client, &keys_ns).await;
    assert_eq!(
        keys.len(),
        1,
        "two replicas on an empty namespace make one key: {:?}",
        keys.iter().map(name_of).collect::<Vec<_>>()
    );

    // Failover.
    leader.kill();
    let killed = Instant::now();
    let new_id = identity(&follower);
    eventually(
        Duration::from_secs(30),
        "the follower takes the Lease",
        || async {
            (lease_holder(&client, &keys_ns).await.as_deref() == Some(new_id.as_str()))
                .then_some(())
        },
    )
    .await;
    let took = killed.elapsed();
    // The follower waits for the Lease to expire (at most the 4 s lease after the last renewal),
    // then kube-lease-manager waits a random 0.1-1 s before taking it; plus a few API calls and
    // this test's polling. Measured 2.9-3.1 s here.
    assert!(
        took <= Duration::from_secs(4 + 4),
        "failover took {took:?} with a 4s lease"
    );
    let second = seal(&cert, &app_ns, "ha-2", &[("v", b"two")]);
    create_sealed(&client, &second).await;
    wait_secret_value(&client, &app_ns, "ha-2", "v", b"two").await;
    assert!(
        follower.is_running(),
        "the new leader is running; log:\n{}",
        follower.log()
    );
    assert_eq!(
        key_secrets(&client, &keys_ns).await.len(),
        1,
        "failover does not create a key"
    );
    eprintln!("failover (Lease holder change) took {took:?}");
}

#[tokio::test]
async fn a_released_lease_goes_to_the_running_follower_not_to_a_new_replica() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "handover").await;
    // A long Lease: a follower waiting for it to expire would take 30 s; the poll takes ~2.
    let flags = ["--leader-elect", "--leader-elect-lease-duration=30s"];
    let a = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &flags);
    let b = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &flags);
    let cert = a.wait_for_cert(CERT_TIMEOUT);
    let holder = eventually(Duration::from_secs(30), "a Lease holder", || {
        lease_holder(&client, &keys_ns)
    })
    .await;
    let (leader, follower) = if holder == identity(&a) {
        (a, b)
    } else {
        (b, a)
    };

    // The leader stops as a deleted Pod does (SIGTERM: it releases the Lease), and a
    // replacement starts at once, as a ReplicaSet starts one.
    leader.signal("TERM");
    let stopped = Instant::now();
    let newcomer = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &flags);
    let follower_id = identity(&follower);
    let took = eventually(
        Duration::from_secs(20),
        "the follower takes the Lease",
        || async {
            (lease_holder(&client, &keys_ns).await.as_deref() == Some(follower_id.as_str()))
                .then(|| stopped.elapsed())
        },
    )
    .await;
    // Its next read of the Lease (every 2 s), a fresh read and the take: measured 1.6-4.7 s.
    assert!(
        took <= Duration::from_secs(8),
        "the follower took the released Lease after {took:?} (a 30 s Lease)"
    );
    // Past the newcomer's deferral: it is a follower, the old follower still leads.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        lease_holder(&client, &keys_ns).await.as_deref(),
        Some(follower_id.as_str()),
        "the running follower keeps the Lease; newcomer log:\n{}",
        newcomer.log()
    );
    assert!(
        newcomer
            .log()
            .contains("leaving it to the running replicas"),
        "the newcomer deferred; log:\n{}",
        newcomer.log()
    );
    assert!(
        !newcomer.log().contains("leading: reconciling"),
        "the newcomer does not lead; log:\n{}",
        newcomer.log()
    );
    let sealed = seal(&cert, &app_ns, "handover-1", &[("v", b"one")]);
    create_sealed(&client, &sealed).await;
    wait_secret_value(&client, &app_ns, "handover-1", "v", b"one").await;
    assert!(
        follower.log().contains("leading: reconciling"),
        "the new leader reconciles; log:\n{}",
        follower.log()
    );
    eprintln!("handover after a release took {took:?}");
}

/// Secrets of `namespace` owned by a SealedSecret, by name.
async fn owned_secrets(client: &Client, namespace: &str) -> BTreeMap<String, Secret> {
    all_secrets(client, namespace)
        .await
        .into_iter()
        .filter(|s| {
            s.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "SealedSecret")
        })
        .map(|s| (name_of(&s), s))
        .collect()
}

#[tokio::test]
async fn killed_mid_batch_then_restarted_unseals_everything() {
    const N: usize = 50;
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "kill-batch").await;
    let (_, key) = create_key_secret(&client, &keys_ns, "batch-key", SystemTime::now()).await;
    let cert = key.certificate.to_pem();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let client = client.clone();
        let sealed = seal(
            &cert,
            &app_ns,
            &format!("s-{i:02}"),
            &[("value", format!("value-{i}").as_bytes())],
        );
        tasks.spawn(async move { create_sealed(&client, &sealed).await });
    }
    let mut uids = BTreeMap::new();
    while let Some(created) = tasks.join_next().await {
        let created = created.expect("create task");
        uids.insert(
            created.metadata.name.clone().expect("name"),
            created.metadata.uid.clone().expect("uid"),
        );
    }
    assert_eq!(uids.len(), N);

    // Slowed to 20 API requests per second (three per SealedSecret: about 7 s for the batch), so
    // that the kill surely lands mid-batch.
    let mut first = ControllerProcess::start(
        cp.kubeconfig_path(),
        &keys_ns,
        &[&app_ns],
        &["--kubeclient-qps=20", "--kubeclient-burst=1"],
    );
    let t = Instant::now();
    // Kill -9 mid-batch: as soon as it has written something.
    loop {
        let written = owned_secrets(&client, &app_ns).await.len();
        if written > 0 || t.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let at_kill = owned_secrets(&client, &app_ns).await.len();
    eprintln!(
        "killed after {:?} with {at_kill}/{N} Secrets written",
        t.elapsed()
    );
    assert!(
        at_kill > 0 && at_kill < N,
        "the kill landed mid-batch: {at_kill}/{N} Secrets written"
    );
    drop(first);

    let _second = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[]);
    let secrets = eventually(
        Duration::from_secs(60),
        "all Secrets after the restart",
        || async {
            let secrets = owned_secrets(&client, &app_ns).await;
            (secrets.len() == N).then_some(secrets)
        },
    )
    .await;
    for (name, uid) in &uids {
        let secret = &secrets[name];
        let i: usize = name[2..].parse().expect("index");
        assert_eq!(
            secret
                .data
                .as_ref()
                .and_then(|d| d.get("value"))
                .map(|v| v.0.clone()),
            Some(format!("value-{i}").into_bytes()),
            "Secret {name} holds its value"
        );
        let owner = &secret.metadata.owner_references.as_ref().expect("owners")[0];
        assert_eq!(
            &owner.uid, uid,
            "Secret {name} is owned by its SealedSecret"
        );
    }
    let api: Api<crds::SealedSecret> = Api::namespaced(client.clone(), &app_ns);
    eventually(
        Duration::from_secs(30),
        "every SealedSecret Synced=True",
        || {
            let api = api.clone();
            async move {
                let list = api.list(&ListParams::default()).await.ok()?;
                list.items
                    .iter()
                    .all(|s| {
                        s.status.as_ref().is_some_and(|st| {
                            st.conditions
                                .iter()
                                .any(|c| c.type_ == "Synced" && c.status == "True")
                        })
                    })
                    .then_some(())
            }
        },
    )
    .await;
    assert_eq!(
        key_secrets(&client, &keys_ns).await.len(),
        1,
        "the existing key is used, no new one is made"
    );
}

#[tokio::test]
async fn survives_an_apiserver_restart() {
    // A control plane of its own: restarting the shared one would disturb the other tests.
    let cp = envtest::ControlPlane::start()
        .await
        .expect("a control plane for this test");
    let crd = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crds/sealedsecrets.bitnami.com.yaml");
    cp.install_crd(crd).await.expect("install CRD");
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(&cp, "apiserver-restart").await;
    let mut controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[]);
    let cert = controller.wait_for_cert(CERT_TIMEOUT);
    let before = seal(&cert, &app_ns, "before", &[("v", b"before")]);
    create_sealed(&client, &before).await;
    wait_secret_value(&client, &app_ns, "before", "v", b"before").await;

    let old_pid = cp.apiserver_pid();
    let t = Instant::now();
    cp.restart_apiserver()
        .await
        .expect("restart kube-apiserver");
    eprintln!("kube-apiserver restarted in {:?}", t.elapsed());
    assert_ne!(cp.apiserver_pid(), old_pid, "a new kube-apiserver process");
    assert!(
        controller.is_running(),
        "the controller survives the API server restart; log:\n{}",
        controller.log()
    );

    // The SealedSecret watch reconnects: a new SealedSecret is unsealed.
    let client = cp.client().expect("client");
    let after = seal(&cert, &app_ns, "after", &[("v", b"after")]);
    create_sealed(&client, &after).await;
    let t = Instant::now();
    wait_for_secret(&client, &app_ns, "after", Duration::from_secs(60)).await;
    wait_secret_value(&client, &app_ns, "after", "v", b"after").await;
    eprintln!("unsealed {:?} after the restart", t.elapsed());

    // The key watch reconnects too: a key made on SIGUSR1 is served.
    controller.signal("USR1");
    eventually(
        Duration::from_secs(60),
        "a new key served after the restart",
        || async {
            let keys = key_secrets(&client, &keys_ns).await;
            if keys.len() < 2 {
                return None;
            }
            let newest = newest_by_not_before(&keys).clone();
            let served = served_cert(&controller)?;
            (same_cert(&served, &key_cert_pem(&newest)) && !same_cert(&served, &cert)).then_some(())
        },
    )
    .await;
    assert!(controller.is_running(), "controller still running");
}
