//! The controller's HTTP API and metrics, end to end on the real control plane: `/healthz`,
//! `/v1/cert.pem`, `/v1/verify`, `/v1/rotate` (status codes, body limit, rate limit), the
//! metrics (upstream names, help texts and labels, plus the key-health gauges), and the
//! command line (`--version`, bad flags).

pub mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crds::keygen::KEY_LABEL;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use serde_json::json;
use support::*;

const CERT_TIMEOUT: Duration = Duration::from_secs(60);
const SECRET_TIMEOUT: Duration = Duration::from_secs(30);
const BIN: &str = env!("CARGO_BIN_EXE_sealed-secrets-controller");

/// A key the controller does not have.
fn foreign_key() -> crds::keygen::SealingKey {
    crds::keygen::generate(
        2048,
        "",
        SystemTime::now(),
        Duration::from_secs(3600 * 24 * 365),
    )
    .expect("generate a key")
}

fn json_body(sealed: &crds::SealedSecret) -> Vec<u8> {
    serde_json::to_vec(sealed).expect("SealedSecret as JSON")
}

fn post(controller: &ControllerProcess, path: &str, body: &[u8]) -> HttpResponse {
    http_call("POST", &controller.url(path), body).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// The active key Secret whose certificate is `pem`.
async fn key_secret_for(client: &Client, namespace: &str, pem: &str) -> Secret {
    key_secrets(client, namespace)
        .await
        .into_iter()
        .find(|k| same_cert(&key_cert_pem(k), pem))
        .expect("a key Secret holds the served certificate")
}

/// After SIGUSR1: the new certificate, once served (different from `old`).
async fn rotate_key(controller: &ControllerProcess, old: &str) -> String {
    // Whole-second NotBefore: keep the new key from tying with the previous one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    controller.signal("USR1");
    eventually(
        Duration::from_secs(30),
        "a new certificate after SIGUSR1",
        || async {
            match http_get(&controller.url("/v1/cert.pem")) {
                Ok((200, pem)) if !same_cert(&pem, old) => Some(pem),
                _ => None,
            }
        },
    )
    .await
}

fn values(decrypted: &crds::convert::DecryptedValues) -> BTreeMap<String, Vec<u8>> {
    decrypted
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect()
}

#[tokio::test]
async fn http_api_health_cert_verify_rotate_and_body_limit() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "api").await;
    // A generous rate limit: this test is about the answers, not the limiter.
    let controller = ControllerProcess::start(
        cp.kubeconfig_path(),
        &keys_ns,
        &[&app_ns],
        &["--rate-limit=1000", "--rate-limit-burst=1000"],
    );
    let cert = controller.wait_for_cert(CERT_TIMEOUT);

    let health = http_call("GET", &controller.url("/healthz"), b"").expect("GET /healthz");
    assert_eq!((health.status, health.body.trim()), (200, "ok"), "/healthz");

    let pem = http_call("GET", &controller.url("/v1/cert.pem"), b"").expect("GET /v1/cert.pem");
    assert_eq!(pem.status, 200, "/v1/cert.pem status");
    assert_eq!(
        pem.header("content-type"),
        Some("application/x-pem-file"),
        "/v1/cert.pem content type"
    );
    assert!(
        pem.body.starts_with("-----BEGIN CERTIFICATE-----"),
        "/v1/cert.pem is a PEM certificate: {:?}",
        pem.body
    );
    crds::Certificate::from_pem(pem.body.as_bytes()).expect("/v1/cert.pem parses");
    assert!(same_cert(&pem.body, &cert));

    // verify: 200 for ours, 409 for another key's, 400 for garbage.
    let good = seal(
        &cert,
        &app_ns,
        "db",
        &[("password", b"hunter2"), ("user", b"admin")],
    );
    let r = post(&controller, "/v1/verify", &json_body(&good));
    assert_eq!(r.status, 200, "verify a good SealedSecret: {}", r.body);
    let other = foreign_key();
    let foreign = seal(
        &other.certificate.to_pem(),
        &app_ns,
        "db",
        &[("password", b"x")],
    );
    let r = post(&controller, "/v1/verify", &json_body(&foreign));
    assert_eq!(
        r.status, 409,
        "verify a SealedSecret sealed to another key: {}",
        r.body
    );
    let r = post(&controller, "/v1/verify", b"this is not a SealedSecret {");
    assert_eq!(r.status, 400, "verify garbage: {}", r.body);

    // rotate before any rotation: 200, still opens with the only key.
    let r = post(&controller, "/v1/rotate", &json_body(&good));
    assert_eq!(r.status, 200, "rotate a good SealedSecret: {}", r.body);
    // rotate an undecryptable one, or garbage: 500 with an empty body, as upstream.
    for body in [json_body(&foreign), b"not yaml: [".to_vec()] {
        let r = post(&controller, "/v1/rotate", &body);
        assert_eq!(r.status, 500, "rotate a foreign SealedSecret: {}", r.body);
        assert_eq!(r.body, "", "upstream's failed rotate has no body");
    }

    // After SIGUSR1, rotate re-seals to the new key only.
    let old_key = crds::keygen::from_key_secret(&key_secret_for(&client, &keys_ns, &cert).await)
        .expect("old key");
    let new_cert = rotate_key(&controller, &cert).await;
    let new_key =
        crds::keygen::from_key_secret(&key_secret_for(&client, &keys_ns, &new_cert).await)
            .expect("new key");
    let r = post(&controller, "/v1/rotate", &json_body(&good));
    assert_eq!(r.status, 200, "rotate after a key rotation: {}", r.body);
    let rotated: crds::SealedSecret = serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("rotate answers a SealedSecret ({e}): {}", r.body));
    assert_eq!(rotated.metadata.name.as_deref(), Some("db"));
    assert_eq!(rotated.metadata.namespace.as_deref(), Some(app_ns.as_str()));
    let opts = crds::UnsealOptions::default();
    let decrypted =
        crds::convert::decrypt_values(&rotated, std::slice::from_ref(&new_key.private_key), opts)
            .expect("the rotated SealedSecret opens with the new key alone");
    assert_eq!(
        values(&decrypted),
        BTreeMap::from([
            ("password".to_owned(), b"hunter2".to_vec()),
            ("user".to_owned(), b"admin".to_vec()),
        ]),
        "rotation keeps the values"
    );
    assert!(
        crds::convert::decrypt_values(&rotated, std::slice::from_ref(&old_key.private_key), opts)
            .is_err(),
        "the rotated SealedSecret no longer opens with the old key"
    );
    // The controller unseals the rotated object.
    crds::convert::decrypt_values(&good, std::slice::from_ref(&old_key.private_key), opts)
        .expect("the original was sealed to the old key");
    let api: Api<crds::SealedSecret> = Api::namespaced(client.clone(), &app_ns);
    let mut to_create = rotated.clone();
    to_create.metadata.resource_version = None;
    to_create.metadata.uid = None;
    api.create(&Default::default(), &to_create)
        .await
        .expect("create the rotated SealedSecret");
    let secret = wait_for_secret(&client, &app_ns, "db", SECRET_TIMEOUT).await;
    assert_eq!(
        secret
            .data
            .as_ref()
            .and_then(|d| d.get("password"))
            .map(|v| v.0.as_slice()),
        Some(&b"hunter2"[..]),
        "the rotated SealedSecret unseals"
    );

    // A body over 2 MiB is refused.
    let big = vec![b'a'; 2 * 1024 * 1024 + 1];
    let r = post(&controller, "/v1/verify", &big);
    assert_eq!(r.status, 413, "verify with a body over 2 MiB");
    let r = post(&controller, "/v1/rotate", &big);
    assert_eq!(r.status, 413, "rotate with a body over 2 MiB");
}

#[tokio::test]
async fn verify_is_rate_limited_with_retry_after() {
    let cp = control_plane().await;
    let (keys_ns, app_ns) = namespaces(cp, "rate-limit").await;
    let controller = ControllerProcess::start(
        cp.kubeconfig_path(),
        &keys_ns,
        &[&app_ns],
        &[
            "--rate-limit=2",
            "--rate-limit-burst=1",
            "--read-timeout=1s",
        ],
    );
    let cert = controller.wait_for_cert(CERT_TIMEOUT);
    let body = json_body(&seal(&cert, &app_ns, "x", &[("v", b"1")]));
    let started = Instant::now();
    let answers: Vec<(HttpResponse, Duration)> = (0..10)
        .map(|_| {
            let r = post(&controller, "/v1/verify", &body);
            (r, started.elapsed())
        })
        .collect();
    let elapsed = started.elapsed();
    let codes: Vec<u16> = answers.iter().map(|(r, _)| r.status).collect();
    assert_eq!(
        codes[..2],
        [200, 200],
        "burst 1 lets two requests through at once: {codes:?}"
    );
    // As the original's GCRA quota: burst + 1 at once, not rate + burst. A third request
    // within 0.4 s at 2/s finds less than one token left.
    if answers[2].1 < Duration::from_millis(400) {
        assert_eq!(codes[2], 429, "the third at once is refused: {codes:?}");
    }
    let answers: Vec<HttpResponse> = answers.into_iter().map(|(r, _)| r).collect();
    assert!(
        codes.iter().all(|c| *c == 200 || *c == 429),
        "only 200 or 429: {codes:?}"
    );
    let limited: Vec<&HttpResponse> = answers.iter().filter(|r| r.status == 429).collect();
    // 2 at once plus 2 per second: within 2 s at most 6 of the 10 pass.
    assert!(
        limited.len() >= 4 || elapsed > Duration::from_secs(2),
        "10 quick verifies at 2/s with burst 1 are mostly refused: {codes:?} in {elapsed:?}"
    );
    assert!(
        !limited.is_empty(),
        "some are refused: {codes:?} in {elapsed:?}"
    );
    for r in &limited {
        let retry = r.header("retry-after").unwrap_or_else(|| {
            panic!("429 without Retry-After: {:?}", r.headers);
        });
        assert!(
            retry.parse::<u64>().is_ok(),
            "Retry-After is a number of seconds: {retry:?}"
        );
    }
    // cert.pem is not limited.
    for _ in 0..5 {
        let (status, _) = http_get(&controller.url("/v1/cert.pem")).expect("GET /v1/cert.pem");
        assert_eq!(status, 200, "/v1/cert.pem is not rate limited");
    }

    // --read-timeout: a body that never arrives is answered 408, not waited for forever.
    let addr = controller
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("socket timeout");
    std::io::Write::write_all(
        &mut stream,
        b"POST /v1/rotate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
    )
    .expect("send headers and one byte");
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a stalled body gets 408 after --read-timeout: {answer:?}"
    );
}

/// `--kubeclient-qps` / `--kubeclient-burst` bound the controller's API requests, as in the
/// original (without them it sends as fast as the API server answers).
#[tokio::test]
async fn kubeclient_qps_and_burst_limit_the_controllers_requests() {
    let env = Env::start(
        "client-qps",
        &["--kubeclient-qps=2", "--kubeclient-burst=1"],
    )
    .await;
    let (client, app_ns, cert) = (&env.client, env.app_ns.as_str(), env.cert.as_str());
    let names: Vec<String> = (0..4).map(|i| format!("slow-{i}")).collect();
    let started = Instant::now();
    for name in &names {
        create_sealed(client, &seal(cert, app_ns, name, &[("v", b"1")])).await;
    }
    for name in &names {
        wait_synced(client, app_ns, name, "True").await;
    }
    let elapsed = started.elapsed();
    // Each new SealedSecret costs three requests (Secret, Event, status): 12 at 2/s after a
    // burst of 1 take at least 5.5 s. Unlimited, this takes well under a second.
    assert!(
        elapsed >= Duration::from_secs(5),
        "12 requests at --kubeclient-qps=2 took only {elapsed:?}"
    );
    assert!(
        env.controller
            .log()
            .contains("Kubernetes client rate limit"),
        "the limit is logged at start"
    );
}

/// `--metrics-omit-secret-labels` (ours, not upstream's) keeps SealedSecret names off `/metrics`;
/// `--log-format=json` writes one JSON object per log line.
#[tokio::test]
async fn metrics_can_omit_sealed_secret_names_and_logs_can_be_json() {
    let env = Env::start(
        "omit-labels",
        &["--metrics-omit-secret-labels", "--log-format=json"],
    )
    .await;
    let (client, app_ns) = (&env.client, env.app_ns.as_str());
    let name = "inventory-item-7";
    create_sealed(client, &seal(&env.cert, app_ns, name, &[("v", b"1")])).await;
    wait_synced(client, app_ns, name, "True").await;

    let text = env.controller.metrics();
    assert!(
        metric_value(&text, &format!("{P}unseal_requests_total"), &[]).is_some_and(|v| v >= 1.0),
        "the other metrics are there"
    );
    assert!(
        !text.contains(name) && !text.contains(&format!("{P}condition_info{{")),
        "no condition_info series, no SealedSecret name"
    );

    let log = env.controller.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the controller logged something");
    for line in lines {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(entry.get("level").is_some(), "log line has a level: {line}");
    }
}

/// `# HELP` and `# TYPE` of `name`.
fn help_and_type(text: &str, name: &str) -> (Option<String>, Option<String>) {
    let find = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {prefix} {name} ")))
            .map(str::to_owned)
    };
    (find("HELP"), find("TYPE"))
}

fn label_names(samples: &[(BTreeMap<String, String>, f64)]) -> BTreeSet<BTreeSet<String>> {
    samples
        .iter()
        .map(|(labels, _)| labels.keys().cloned().collect())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<BTreeSet<String>> {
    BTreeSet::from([list.iter().map(|s| (*s).to_owned()).collect()])
}

const P: &str = "sealed_secrets_controller_";

#[tokio::test]
async fn metrics_have_upstream_names_and_labels_plus_key_health() {
    let cp = control_plane().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "metrics").await;
    let controller = ControllerProcess::start(
        cp.kubeconfig_path(),
        &keys_ns,
        &[&app_ns],
        &["--rate-limit=1000", "--rate-limit-burst=1000"],
    );
    let cert = controller.wait_for_cert(CERT_TIMEOUT);
    let good = seal(&cert, &app_ns, "good", &[("v", b"good")]);
    let bad = seal(
        &foreign_key().certificate.to_pem(),
        &app_ns,
        "bad",
        &[("v", b"bad")],
    );
    let (status, _) = http_get(&controller.url("/healthz")).expect("GET /healthz");
    assert_eq!(status, 200);
    assert_eq!(
        post(&controller, "/v1/verify", &json_body(&good)).status,
        200
    );
    create_sealed(&client, &good).await;
    create_sealed(&client, &bad).await;
    wait_for_secret(&client, &app_ns, "good", SECRET_TIMEOUT).await;

    let text = eventually(
        Duration::from_secs(30),
        "metrics for both SealedSecrets and the loaded key",
        || async {
            let text = controller.metrics();
            let ready = metric_value(
                &text,
                &format!("{P}condition_info"),
                &[
                    ("namespace", &app_ns),
                    ("name", "bad"),
                    ("condition", "Synced"),
                    ("ss_app_kubernetes_io_instance", ""),
                ],
            )
            .is_some()
                && metric_value(&text, &format!("{P}keys"), &[]) == Some(1.0);
            ready.then_some(text)
        },
    )
    .await;

    // The upstream metrics: names, help texts, types and label names.
    for (name, help, kind) in [
        ("build_info", "Build information.", "gauge"),
        (
            "unseal_requests_total",
            "Total number of sealed secret unseal requests",
            "counter",
        ),
        (
            "unseal_errors_total",
            "Total number of sealed secret unseal errors by reason",
            "counter",
        ),
        (
            "condition_info",
            "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)",
            "gauge",
        ),
        (
            "http_requests_total",
            "A counter for requests to the wrapped handler.",
            "counter",
        ),
        (
            "http_request_duration_seconds",
            "A histogram of latencies for requests.",
            "histogram",
        ),
    ] {
        let full = format!("{P}{name}");
        assert_eq!(
            help_and_type(&text, &full),
            (Some(help.to_owned()), Some(kind.to_owned())),
            "HELP and TYPE of {full}"
        );
    }
    let samples = |name: &str| metric_samples(&text, &format!("{P}{name}"));
    assert_eq!(
        label_names(&samples("build_info")),
        names(&["revision"]),
        "build_info labels"
    );
    assert_eq!(
        samples("build_info")[0]
            .0
            .get("revision")
            .map(String::as_str),
        Some(env!("CARGO_PKG_VERSION")),
        "build_info revision"
    );
    assert_eq!(
        label_names(&samples("unseal_requests_total")),
        names(&[]),
        "unseal_requests_total has no labels"
    );
    assert!(
        samples("unseal_requests_total")[0].1 >= 2.0,
        "unseal_requests_total counts both SealedSecrets"
    );
    assert_eq!(
        label_names(&samples("unseal_errors_total")),
        names(&["reason", "namespace"]),
        "unseal_errors_total labels"
    );
    assert!(
        metric_value(
            &text,
            &format!("{P}unseal_errors_total"),
            &[("reason", "unseal"), ("namespace", &app_ns)]
        )
        .is_some_and(|v| v >= 1.0),
        "unseal_errors_total{{reason=unseal}} for the foreign SealedSecret:\n{text}"
    );
    assert_eq!(
        label_names(&samples("condition_info")),
        names(&[
            "namespace",
            "name",
            "condition",
            "ss_app_kubernetes_io_instance"
        ]),
        "condition_info labels"
    );
    let condition = |name: &str| {
        metric_value(
            &text,
            &format!("{P}condition_info"),
            &[
                ("namespace", &app_ns),
                ("name", name),
                ("condition", "Synced"),
                ("ss_app_kubernetes_io_instance", ""),
            ],
        )
    };
    assert_eq!(condition("good"), Some(1.0), "Synced=True is 1");
    assert_eq!(condition("bad"), Some(-1.0), "Synced=False is -1");
    assert_eq!(
        label_names(&samples("http_requests_total")),
        names(&["path", "code", "method"]),
        "http_requests_total labels"
    );
    for (path, method) in [
        ("/v1/cert.pem", "get"),
        ("/v1/verify", "post"),
        ("/healthz", "get"),
    ] {
        assert!(
            metric_value(
                &text,
                &format!("{P}http_requests_total"),
                &[("path", path), ("code", "200"), ("method", method)]
            )
            .is_some_and(|v| v >= 1.0),
            "http_requests_total for {method} {path} (numeric code, lowercase method):\n{text}"
        );
    }
    assert_eq!(
        label_names(&samples("http_request_duration_seconds_bucket")),
        names(&["path", "method", "le"]),
        "http_request_duration_seconds buckets labels"
    );
    let les: BTreeSet<String> = samples("http_request_duration_seconds_bucket")
        .iter()
        .filter(|(l, _)| l.get("path").map(String::as_str) == Some("/v1/cert.pem"))
        .filter_map(|(l, _)| l.get("le").cloned())
        .collect();
    let want_les: BTreeSet<String> = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(les, want_les, "Prometheus default buckets, as upstream");
    assert!(
        metric_value(
            &text,
            &format!("{P}http_request_duration_seconds_count"),
            &[("path", "/v1/cert.pem"), ("method", "get")]
        )
        .is_some_and(|v| v >= 1.0),
        "http_request_duration_seconds_count for cert.pem"
    );

    // The key-health gauges.
    assert_eq!(
        metric_value(&text, &format!("{P}keys"), &[]),
        Some(1.0),
        "keys"
    );
    let age = metric_value(&text, &format!("{P}newest_key_age_seconds"), &[])
        .expect("newest_key_age_seconds");
    assert!((0.0..300.0).contains(&age), "newest key age {age}");
    let next = metric_value(&text, &format!("{P}next_key_renewal_seconds"), &[])
        .expect("next_key_renewal_seconds");
    let period = 720.0 * 3600.0;
    assert!(
        next > period - 300.0 && next <= period,
        "next renewal in {next}s with the default 720h period"
    );
    assert_eq!(
        metric_value(&text, &format!("{P}sealed_secrets_not_on_newest_key"), &[]),
        Some(0.0),
        "nothing sealed to an old key yet"
    );
    // Two RSA decrypts at least (one per SealedSecret), each well over 10 µs.
    let unseal_cpu = metric_value(&text, &format!("{P}unseal_cpu_seconds_total"), &[])
        .expect("unseal_cpu_seconds_total");
    assert!(
        (20e-6..60.0).contains(&unseal_cpu),
        "CPU spent unsealing two SealedSecrets: {unseal_cpu}s"
    );

    // After a rotation, "good" is still sealed to the old key once reconciled again.
    rotate_key(&controller, &cert).await;
    Api::<crds::SealedSecret>::namespaced(client.clone(), &app_ns)
        .patch(
            "good",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"touched": "1"}}})),
        )
        .await
        .expect("touch the SealedSecret");
    eventually(
        Duration::from_secs(30),
        "sealed_secrets_not_on_newest_key 1 and keys 2",
        || async {
            let text = controller.metrics();
            let old = metric_value(&text, &format!("{P}sealed_secrets_not_on_newest_key"), &[]);
            let keys = metric_value(&text, &format!("{P}keys"), &[]);
            (old == Some(1.0) && keys == Some(2.0)).then_some(())
        },
    )
    .await;
    // Keys stay labelled for the upstream backup command.
    assert!(key_secrets(&client, &keys_ns).await.iter().all(|k| k
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(KEY_LABEL))));
}

/// Runs the controller with `args` (and no cluster), expecting it to exit within 30 s:
/// (exit code, stdout, stderr).
fn run_controller(args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .env("POD_NAMESPACE", "nowhere")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("the controller binary starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the controller") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "controller {args:?} still running after 30s; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.code(),
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&err_path).unwrap_or_default(),
    )
}

#[test]
fn version_flag_prints_the_version() {
    let (code, stdout, stderr) = run_controller(&["--version"]);
    assert_eq!(code, Some(0), "--version exits 0; stderr: {stderr}");
    assert_eq!(
        stdout.trim_end(),
        format!("controller version: v{}", env!("CARGO_PKG_VERSION")),
        "--version output"
    );
}

#[test]
fn bad_flags_exit_non_zero_with_a_one_line_error() {
    for (args, mentions) in [
        (&["--key-size=1000"][..], "key-size"),
        (&["--key-cutoff-time=garbage"][..], "key-cutoff-time"),
        (&["--privatekey-labels=novalue"][..], "privatekey-labels"),
        (&["--listen-addr=not-an-address"][..], "listen"),
    ] {
        let (code, stdout, stderr) = run_controller(args);
        assert!(
            matches!(code, Some(c) if c != 0),
            "{args:?} exits non-zero, got {code:?}; stderr:\n{stderr}"
        );
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "{args:?}: a one-line error, got:\n{stderr}{stdout}"
        );
        assert!(
            lines[0].contains(mentions),
            "{args:?}: the error names the flag: {}",
            lines[0]
        );
    }
    // Values clap itself rejects: non-zero, the error first.
    for args in [
        &["--key-renew-period=3d"][..],
        &["--key-order-priority=Random"][..],
    ] {
        let (code, _, stderr) = run_controller(args);
        assert_eq!(
            code,
            Some(2),
            "{args:?} is a usage error; stderr:\n{stderr}"
        );
        assert!(
            stderr.starts_with("error:"),
            "{args:?}: the error comes first:\n{stderr}"
        );
    }
}
