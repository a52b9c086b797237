//! The basic path, end to end on the real control plane: first key, cert, unseal, status, event.

pub mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use support::*;

#[tokio::test]
async fn creates_a_key_and_unseals_a_sealed_secret() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let keys_ns = cp.create_namespace("keys").await.expect("namespace");
    let app_ns = cp.create_namespace("app").await.expect("namespace");
    let controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[]);
    let cert = controller.wait_for_cert(Duration::from_secs(60));
    assert_eq!(
        key_secrets(&client, &keys_ns).await.len(),
        1,
        "exactly one key created"
    );

    let sealed = seal(&cert, &app_ns, "db", &[("password", b"hunter2")]);
    create_sealed(&client, &sealed).await;
    let secret: Secret = wait_for_secret(&client, &app_ns, "db", Duration::from_secs(30)).await;
    let data = secret.data.expect("data");
    assert_eq!(data["password"].0, b"hunter2");
    let owner = &secret.metadata.owner_references.expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("SealedSecret", Some(true))
    );

    let api: Api<crds::SealedSecret> = Api::namespaced(client.clone(), &app_ns);
    let status = eventually(Duration::from_secs(30), "Synced=True", || {
        let api = api.clone();
        async move {
            let s = api.get("db").await.ok()?.status?;
            s.conditions
                .iter()
                .any(|c| c.type_ == "Synced" && c.status == "True")
                .then_some(s)
        }
    })
    .await;
    assert_eq!(status.observed_generation, Some(1));
    assert!(!controller.log().contains("hunter2"));
}
