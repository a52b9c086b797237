//! The controller's key Secrets, as tests look for them.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::Client;

/// The label selector of active sealing keys.
pub const KEY_SELECTOR: &str = "sealedsecrets.bitnami.com/sealed-secrets-key=active";

/// The active key Secrets of `namespace` (none when the list fails).
pub async fn key_secrets(client: &Client, namespace: &str) -> Vec<Secret> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default().labels(KEY_SELECTOR))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}
