//! A cold start over many SealedSecrets reads them in pages, not one request each, on the real
//! control plane: the API server's own request counters show it. One test in its own binary,
//! so that no other test's requests are counted.

pub mod support;

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::Client;
use support::*;

/// SealedSecrets present before the controller starts: more than the read-ahead's threshold.
const COUNT: usize = 400;

/// `apiserver_request_total` for SealedSecrets, summed over everything but the verb.
async fn sealed_secret_requests(client: &Client) -> std::collections::BTreeMap<String, f64> {
    let text = envtest::metrics::api_server_text(client)
        .await
        .expect("API server metrics");
    let mut by_verb = std::collections::BTreeMap::new();
    for (labels, value) in envtest::metrics::samples(&text, "apiserver_request_total") {
        let is_sealed = labels.get("resource").map(String::as_str) == Some("sealedsecrets");
        let subresource = labels.get("subresource").map_or("", String::as_str);
        if is_sealed && subresource.is_empty() {
            let verb = labels.get("verb").cloned().unwrap_or_default();
            *by_verb.entry(verb).or_insert(0.0) += value;
        }
    }
    by_verb
}

fn delta(
    after: &std::collections::BTreeMap<String, f64>,
    before: &std::collections::BTreeMap<String, f64>,
    verb: &str,
) -> f64 {
    after.get(verb).copied().unwrap_or(0.0) - before.get(verb).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_reads_its_sealed_secrets_in_pages_and_unseals_every_one() {
    let cp = control_plane().await;
    let client = cp.client().expect("admin client");
    let (keys_ns, app_ns) = namespaces(cp, "readahead").await;
    let (key_secret, _) = create_key_secret(
        &client,
        &keys_ns,
        "sealed-secrets-key-ra",
        SystemTime::now(),
    )
    .await;
    let cert = key_cert_pem(&key_secret);
    let sealed: Vec<_> = (0..COUNT)
        .map(|i| {
            let value = format!("value-{i}");
            seal(
                &cert,
                &app_ns,
                &format!("s-{i:04}"),
                &[("v", value.as_bytes())],
            )
        })
        .collect();
    futures::stream::iter(&sealed)
        .for_each_concurrent(16, |s| {
            let client = client.clone();
            async move {
                create_sealed(&client, s).await;
            }
        })
        .await;

    let before = sealed_secret_requests(&client).await;
    let controller = ControllerProcess::start(cp.kubeconfig_path(), &keys_ns, &[&app_ns], &[]);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &app_ns);
    let all = eventually(Duration::from_secs(120), "every Secret", || {
        let secrets = secrets.clone();
        async move {
            let list = secrets.list(&ListParams::default()).await.ok()?;
            (list.items.len() == COUNT).then_some(list.items)
        }
    })
    .await;
    for secret in &all {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let i: usize = name.trim_start_matches("s-").parse().expect("s-NNNN");
        let value = secret.data.as_ref().and_then(|d| d.get("v")).expect("v");
        assert_eq!(value.0, format!("value-{i}").into_bytes(), "{name}");
    }
    let after = sealed_secret_requests(&client).await;

    let (gets, lists) = (
        delta(&after, &before, "GET"),
        delta(&after, &before, "LIST"),
    );
    eprintln!("SealedSecret requests during the cold start: {gets} GET, {lists} LIST");
    // Without the read-ahead every reconcile reads its object: COUNT GETs. With it, the
    // initial list and the read-ahead take a few pages each.
    assert!(
        gets + lists < (COUNT / 10) as f64,
        "{gets} GETs and {lists} LISTs of SealedSecrets for {COUNT} objects; log:\n{}",
        controller.log()
    );
    let log = controller.log();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        // envtest's kubeconfig skips TLS verification: kube warns on every connection.
        .filter(|l| !l.contains("Server cert bypassed"))
        .collect();
    assert!(bad.is_empty(), "warnings in the log:\n{}", bad.join("\n"));
}
