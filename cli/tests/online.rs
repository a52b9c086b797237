//! `kubeseal` against a real control plane (etcd + kube-apiserver from `envtest`) and our
//! `sealed-secrets-controller` running inside a network-namespace test host, reached the way
//! users reach it: through the API server's Service proxy
//! (`/api/v1/namespaces/NS/services/http:NAME:PORT/proxy/v1/...`).
//!
//! Needs root (`ip netns`), the envtest binaries (`tests/envtest/install.sh`) and builds the
//! controller binary once (see `online_support`). Each test has its own namespace, test host
//! (netns + veth, unique /30 from 10.222.0.0/16) and controller; all are torn down on drop.

pub mod online_support;

use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams};
use online_support::{
    apply_and_unseal, control_plane, create_service, expose, grant, key_secrets, kubeseal, map,
    open_with, parse_sealed, private_key_for, secret_yaml, Controller,
};

const DATA: &[(&str, &str)] = &[("username", "admin"), ("password", "s3cr3t-p4ss")];

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `--fetch-cert` through the proxy prints exactly what the controller serves; sealing with the
/// implicitly fetched certificate gives a SealedSecret the controller unseals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_cert_and_implicit_fetch_seal_through_the_service_proxy() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let ns = cp.create_namespace("ks-fetch").await.expect("namespace");
    let controller = Controller::start(cp, &ns, &[]);
    expose(&client, &controller, "sealed-secrets-controller", "http").await;
    let kc = path_str(cp.kubeconfig_path());

    let fetched = kubeseal(
        &[
            "--kubeconfig",
            kc,
            "--controller-namespace",
            &ns,
            "--fetch-cert",
        ],
        &[],
        b"",
    );
    assert_eq!(
        fetched.ok(),
        controller.cert().as_bytes(),
        "--fetch-cert must print the bytes /v1/cert.pem serves"
    );

    let secret = secret_yaml(&ns, "app-creds", DATA);
    let sealed = kubeseal(
        &["--kubeconfig", kc, "--controller-namespace", &ns],
        &[],
        secret.as_bytes(),
    );
    let sealed = parse_sealed(sealed.ok());
    assert_eq!(sealed.metadata.namespace.as_deref(), Some(ns.as_str()));
    assert_eq!(sealed.spec.encrypted_data.len(), 2);
    assert_eq!(apply_and_unseal(&client, &sealed).await, map(DATA));
}

/// The default Service name (`sealed-secrets-controller`, port `http` as upstream's chart),
/// `--controller-name` for another Service (whose port has another name), and the
/// `SEALED_SECRETS_CONTROLLER_NAMESPACE` / `SEALED_SECRETS_CONTROLLER_NAME` variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_name_and_namespace_flags_and_environment() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let ns = cp.create_namespace("ks-names").await.expect("namespace");
    let controller = Controller::start(cp, &ns, &[]);
    let cert = controller.cert();
    let kc = path_str(cp.kubeconfig_path());

    // Only a custom-named Service exists (its port named "web"): the default name is not found.
    expose(&client, &controller, "custom-sealer", "web").await;
    kubeseal(
        &[
            "--kubeconfig",
            kc,
            "--controller-namespace",
            &ns,
            "--fetch-cert",
        ],
        &[],
        b"",
    )
    .fails_with("\"sealed-secrets-controller\" not found in namespace");
    let custom = kubeseal(
        &[
            "--kubeconfig",
            kc,
            "--controller-namespace",
            &ns,
            "--controller-name",
            "custom-sealer",
            "--fetch-cert",
        ],
        &[],
        b"",
    );
    assert_eq!(custom.ok(), cert.as_bytes());
    let by_env = kubeseal(
        &["--kubeconfig", kc, "--fetch-cert"],
        &[
            ("SEALED_SECRETS_CONTROLLER_NAMESPACE", &ns),
            ("SEALED_SECRETS_CONTROLLER_NAME", "custom-sealer"),
        ],
        b"",
    );
    assert_eq!(by_env.ok(), cert.as_bytes());

    // The default name, with the namespace from the environment.
    expose(&client, &controller, "sealed-secrets-controller", "http").await;
    let default = kubeseal(
        &["--kubeconfig", kc, "--fetch-cert"],
        &[("SEALED_SECRETS_CONTROLLER_NAMESPACE", &ns)],
        b"",
    );
    assert_eq!(default.ok(), cert.as_bytes());
    // The flag wins over the environment.
    let flag_wins = kubeseal(
        &[
            "--kubeconfig",
            kc,
            "--controller-namespace",
            &ns,
            "--fetch-cert",
        ],
        &[("SEALED_SECRETS_CONTROLLER_NAMESPACE", "kube-system")],
        b"",
    );
    assert_eq!(flag_wins.ok(), cert.as_bytes());
}

/// `--validate`: exit 0 for a SealedSecret the controller can open; exit 1 naming the object for
/// one sealed to another key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_accepts_own_and_rejects_foreign_sealed_secrets() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let ns = cp.create_namespace("ks-validate").await.expect("namespace");
    let controller = Controller::start(cp, &ns, &[]);
    expose(&client, &controller, "sealed-secrets-controller", "http").await;
    let kc = path_str(cp.kubeconfig_path());
    let dir = tempfile::tempdir().expect("tempdir");

    let good = kubeseal(
        &[
            "--kubeconfig",
            kc,
            "--controller-namespace",
            &ns,
            "-o",
            "yaml",
        ],
        &[],
        secret_yaml(&ns, "good-one", DATA).as_bytes(),
    );
    let good = good.ok().to_vec();
    let good_file = dir.path().join("good.yaml");
    std::fs::write(&good_file, &good).expect("write");

    let other = crds::keygen::generate(2048, "", SystemTime::now(), Duration::from_secs(3600))
        .expect("another key");
    let other_cert = dir.path().join("other.pem");
    std::fs::write(&other_cert, other.certificate.to_pem()).expect("write");
    let bad = kubeseal(
        &["--cert", path_str(&other_cert), "-o", "yaml"],
        &[],
        secret_yaml(&ns, "foreign-one", DATA).as_bytes(),
    );
    let bad = bad.ok().to_vec();

    let validate = [
        "--kubeconfig",
        kc,
        "--controller-namespace",
        &ns,
        "--validate",
    ];
    let ok = kubeseal(&validate, &[], &good);
    ok.ok();
    assert!(ok.stdout.is_empty(), "--validate prints nothing on success");
    let mut from_file = validate.to_vec();
    from_file.extend(["-f", path_str(&good_file)]);
    kubeseal(&from_file, &[], b"").ok();

    kubeseal(&validate, &[], &bad).fails_with("unable to decrypt sealed secret: foreign-one");
}

/// `--re-encrypt` after a key renewal (SIGUSR1) re-seals every value to the newest key only;
/// the result still unseals to the same data; `-f FILE` without `-w` rewrites FILE in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_encrypt_moves_values_to_the_newest_key() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let ns = cp
        .create_namespace("ks-reencrypt")
        .await
        .expect("namespace");
    let controller = Controller::start(cp, &ns, &[]);
    expose(&client, &controller, "sealed-secrets-controller", "http").await;
    let kc = path_str(cp.kubeconfig_path());
    let dir = tempfile::tempdir().expect("tempdir");

    let old_cert = controller.cert();
    let old = kubeseal(
        &[
            "--kubeconfig",
            kc,
            "--controller-namespace",
            &ns,
            "-o",
            "yaml",
        ],
        &[],
        secret_yaml(&ns, "rotated", DATA).as_bytes(),
    );
    let old = old.ok().to_vec();

    let new_cert = controller.renew_key();
    assert_eq!(
        key_secrets(&client, &ns).await.len(),
        2,
        "two keys after one renewal"
    );
    // The two private keys, read from their key Secrets.
    let old_key = private_key_for(&client, &ns, &old_cert).await;
    let new_key = private_key_for(&client, &ns, &new_cert).await;
    let old_sealed = parse_sealed(&old);
    assert!(open_with(&old_sealed, &old_key).is_ok());
    assert!(open_with(&old_sealed, &new_key).is_err());

    // stdin -> stdout.
    let reencrypt = [
        "--kubeconfig",
        kc,
        "--controller-namespace",
        &ns,
        "--re-encrypt",
    ];
    let mut to_yaml = reencrypt.to_vec();
    to_yaml.extend(["-o", "yaml"]);
    let new = kubeseal(&to_yaml, &[], &old);
    let new_sealed = parse_sealed(new.ok());
    assert_eq!(open_with(&new_sealed, &new_key).expect("opens"), map(DATA));
    assert!(
        open_with(&new_sealed, &old_key).is_err(),
        "re-encrypted values must not be sealed to the old key"
    );
    assert_eq!(new_sealed.metadata.name.as_deref(), Some("rotated"));
    assert_eq!(new_sealed.metadata.namespace.as_deref(), Some(ns.as_str()));
    assert!(new_sealed.metadata.creation_timestamp.is_none());
    assert_eq!(apply_and_unseal(&client, &new_sealed).await, map(DATA));

    // -f FILE without -w: FILE is rewritten in place, nothing on stdout.
    let file = dir.path().join("sealed.yaml");
    std::fs::write(&file, &old).expect("write");
    let mut in_place = reencrypt.to_vec();
    in_place.extend(["-f", path_str(&file)]);
    let ran = kubeseal(&in_place, &[], b"");
    ran.ok();
    assert!(ran.stdout.is_empty(), "in-place re-encrypt prints nothing");
    let rewritten = std::fs::read(&file).expect("read");
    assert_ne!(rewritten, old, "the file was rewritten");
    let rewritten = parse_sealed(&rewritten);
    assert_eq!(open_with(&rewritten, &new_key).expect("opens"), map(DATA));
    assert!(open_with(&rewritten, &old_key).is_err());
}

/// `--cert http://<test host>:8080/v1/cert.pem`: sealing with the certificate fetched directly
/// from the controller (no API server involved) gives what the controller unseals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_url_pointing_at_the_controller() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let ns = cp.create_namespace("ks-certurl").await.expect("namespace");
    let controller = Controller::start(cp, &ns, &[]);
    let url = controller.url("/v1/cert.pem");

    let fetched = kubeseal(&["--cert", &url, "--fetch-cert"], &[], b"");
    assert_eq!(fetched.ok(), controller.cert().as_bytes());

    let sealed = kubeseal(
        &["--cert", &url],
        &[],
        secret_yaml(&ns, "via-url", DATA).as_bytes(),
    );
    let sealed = parse_sealed(sealed.ok());
    assert_eq!(apply_and_unseal(&client, &sealed).await, map(DATA));
}

/// No controller Service (wrong name, wrong namespace), or a Service without endpoints: exit 1
/// at once with a one-line message naming the problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_when_the_service_is_missing_or_has_no_endpoints() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let ns = cp.create_namespace("ks-nosvc").await.expect("namespace");
    let kc = path_str(cp.kubeconfig_path());
    let secret = secret_yaml(&ns, "x", DATA);
    let sealed_stub = serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "x", "namespace": ns}, "spec": {"encryptedData": {"k": "AAAA"}}
    })
    .to_string();

    for mode in [
        &["--fetch-cert"][..],
        &["--validate"],
        &["--re-encrypt"],
        &[],
    ] {
        let mut args = vec!["--kubeconfig", kc, "--controller-namespace", &ns];
        args.extend_from_slice(mode);
        let stdin = if mode.is_empty() {
            secret.clone()
        } else {
            sealed_stub.clone()
        };
        kubeseal(&args, &[], stdin.as_bytes()).fails_with(&format!(
            "service \"sealed-secrets-controller\" not found in namespace \"{ns}\""
        ));
    }
    kubeseal(
        &[
            "--kubeconfig",
            kc,
            "--controller-namespace",
            "wrong",
            "--fetch-cert",
        ],
        &[],
        b"",
    )
    .fails_with("not found in namespace \"wrong\"");
    kubeseal(
        &[
            "--kubeconfig",
            kc,
            "--controller-namespace",
            &ns,
            "--controller-name",
            "nope",
            "--fetch-cert",
        ],
        &[],
        b"",
    )
    .fails_with("service \"nope\" not found");

    // A Service with no Endpoints at all.
    create_service(&client, &ns, "sealed-secrets-controller", "http").await;
    kubeseal(
        &[
            "--kubeconfig",
            kc,
            "--controller-namespace",
            &ns,
            "--fetch-cert",
        ],
        &[],
        b"",
    )
    .fails_with("not reachable");
}

/// The controller process is gone while its Service and Endpoints remain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_when_the_controller_is_down() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let ns = cp.create_namespace("ks-down").await.expect("namespace");
    let mut controller = Controller::start(cp, &ns, &[]);
    expose(&client, &controller, "sealed-secrets-controller", "http").await;
    let kc = path_str(cp.kubeconfig_path());
    let args = [
        "--kubeconfig",
        kc,
        "--controller-namespace",
        &ns,
        "--fetch-cert",
    ];
    kubeseal(&args, &[], b"").ok();

    controller.kill();
    kubeseal(&args, &[], b"").fails_with("not reachable");
    kubeseal(&args[..4], &[], secret_yaml(&ns, "x", DATA).as_bytes()).fails_with("not reachable");
}

/// RBAC: an identity without `get services` is refused the Service lookup, one with it but
/// without `services/proxy` is refused the proxy; both exit 1 saying "forbidden".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_when_rbac_forbids_the_service_proxy() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let ns = cp.create_namespace("ks-rbac").await.expect("namespace");
    let controller = Controller::start(cp, &ns, &[]);
    expose(&client, &controller, "sealed-secrets-controller", "http").await;
    let kc = path_str(cp.kubeconfig_path());
    let user = format!("system:serviceaccount:{ns}:nobody");
    let base = [
        "--kubeconfig",
        kc,
        "--controller-namespace",
        &ns,
        "--fetch-cert",
    ];
    let as_nobody = [&base[..], &["--as", &user]].concat();

    // The admin may; nobody may not even read the Service.
    kubeseal(&base, &[], b"").ok();
    kubeseal(&as_nobody, &[], b"").fails_with("forbidden");

    // With `get services` only, the Service is found but the proxy is forbidden. RBAC changes
    // reach the authorizer through a watch: wait until the lookup passes.
    grant(
        &client,
        &ns,
        "nobody",
        serde_json::json!([{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let ran = loop {
        let ran = kubeseal(&as_nobody, &[], b"");
        if !ran.stderr.contains("cannot get sealed secret service") || Instant::now() > deadline {
            break ran;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ran.fails_with("forbidden");
    assert!(
        ran.stderr.contains("services/proxy"),
        "the message names the missing permission: {}",
        ran.stderr
    );
    // The same holds with an explicit --as-group.
    let with_group = [&as_nobody[..], &["--as-group", "system:authenticated"]].concat();
    kubeseal(&with_group, &[], b"").fails_with("forbidden");

    // Deleting the Service afterwards: the lookup error wins.
    Api::<Service>::namespaced(client.clone(), &ns)
        .delete("sealed-secrets-controller", &DeleteParams::default())
        .await
        .expect("delete Service");
    kubeseal(&base, &[], b"").fails_with("not found in namespace");
    drop(controller);
}
