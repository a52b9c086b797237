//! A template render that costs too much (issue 13): as many CPU-exhausting SealedSecrets as the
//! machine has cores must not stop the others from being unsealed. Each bad one fails with
//! `Synced=False` naming the bound it went over, an Event and a counter, and is not retried
//! until it changes; 100 ordinary SealedSecrets created at the same time are all unsealed within
//! the usual time.
//!
//! Needs the template engine's byte budgets and per-render deadline (without them one such
//! render takes over a minute and this test fails).

pub mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use crds::SealedSecret;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use support::*;

/// `trim` of 1 MB hundreds of thousands of times: ~8 ms a call, minutes per rendering before
/// every call was charged for the bytes it reads; now it stops at the work budget. (The issue's
/// other reproducer, the quadratic `trimAll`, now simply renders in milliseconds.)
const EXHAUSTING: &str =
    r#"{{ $s := repeat 1000000 "a" }}{{ range 300000 }}{{ trim $s }}{{ end }}"#;
/// Words a message naming a render bound contains (the engine's byte budgets, its deadline).
const BOUND_WORDS: [&str; 5] = ["budget", "deadline", "bound", "limit", "exceed"];
const ORDINARY: usize = 100;
/// The usual time for 100 SealedSecrets, with margin for a debug build on a shared machine.
const USUAL: Duration = Duration::from_secs(60);
const ERRORS_TOTAL: &str = "sealed_secrets_controller_unseal_errors_total";
const REQUESTS_TOTAL: &str = "sealed_secrets_controller_unseal_requests_total";

fn exhausting(env: &Env, name: &str) -> SealedSecret {
    let mut sealed = seal(&env.cert, &env.app_ns, name, &[("seed", b"x")]);
    sealed.spec.template.data = Some(BTreeMap::from([(
        "boom".to_owned(),
        Some(EXHAUSTING.to_owned()),
    )]));
    sealed
}

async fn synced_true(api: &Api<SealedSecret>, prefix: &str) -> usize {
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .iter()
        .filter(|s| {
            s.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .filter(|s| synced_condition(s).is_some_and(|(status, _)| status == "True"))
        .count()
}

async fn warnings_about(env: &Env, name: &str) -> Vec<Event> {
    Api::<Event>::namespaced(env.client.clone(), &env.app_ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name)
                && e.reason.as_deref() == Some("ErrUnsealFailed")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_exhausting_templates_fail_alone_and_never_hold_up_the_others() {
    let env = Env::start("render-bounds", &[]).await;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let bad: Vec<String> = (0..cores).map(|i| format!("exhausting-{i}")).collect();
    for name in &bad {
        create_sealed(&env.client, &exhausting(&env, name)).await;
    }
    // Their renders have started (each reconcile counts itself first) and hold the slots.
    eventually(
        USUAL,
        "the exhausting SealedSecrets to be picked up",
        || {
            let n = metric_value(&env.controller.metrics(), REQUESTS_TOTAL, &[]).unwrap_or(0.0);
            async move { (n >= cores as f64).then_some(()) }
        },
    )
    .await;

    let start = std::time::Instant::now();
    let creates = (0..ORDINARY).map(|i| {
        let sealed = seal(
            &env.cert,
            &env.app_ns,
            &format!("ordinary-{i:03}"),
            &[("password", b"fine")],
        );
        let client = env.client.clone();
        async move { create_sealed(&client, &sealed).await }
    });
    futures::future::join_all(creates).await;
    let api: Api<SealedSecret> = Api::namespaced(env.client.clone(), &env.app_ns);
    eventually(
        USUAL,
        "100 ordinary SealedSecrets to be Synced=True",
        || {
            let api = api.clone();
            async move { (synced_true(&api, "ordinary-").await == ORDINARY).then_some(()) }
        },
    )
    .await;
    eprintln!(
        "{ORDINARY} ordinary SealedSecrets unsealed in {:?}",
        start.elapsed()
    );

    for name in &bad {
        let failed = wait_synced(&env.client, &env.app_ns, name, "False").await;
        let (_, message) = synced_condition(&failed).expect("condition");
        let lower = message.to_lowercase();
        assert!(
            BOUND_WORDS.iter().any(|w| lower.contains(w)),
            "{name}: the condition names the bound: {message:?}"
        );
        assert!(
            message.contains("boom"),
            "{name}: names the key: {message:?}"
        );
    }
    env.metric_until_positive(&[("namespace", &env.app_ns), ("reason", "unseal")])
        .await;
    // Not retried until it changes: one Event each, and it stays one.
    for name in &bad {
        eventually(
            Duration::from_secs(30),
            "an ErrUnsealFailed Event",
            || async { (!warnings_about(&env, name).await.is_empty()).then_some(()) },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    for name in &bad {
        let events = warnings_about(&env, name).await;
        assert_eq!(events.len(), 1, "{name}: one Event");
        assert_eq!(events[0].count, Some(1), "{name}: not retried");
    }
}

impl Env {
    async fn metric_until_positive(&self, labels: &[(&str, &str)]) {
        eventually(Duration::from_secs(30), "the unseal error counter", || {
            let v =
                metric_value(&self.controller.metrics(), ERRORS_TOTAL, labels).filter(|v| *v > 0.0);
            async move { v }
        })
        .await;
    }
}
