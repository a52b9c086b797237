//! The sealing page (`--ui`) in a real headless Chromium (Debian's `/usr/bin/chromium`, driven
//! by `playwright-core` through `tests/browser/drive.mjs`), against a controller on the real
//! control plane: what the page seals, the controller unseals (each scope, a binary file); the
//! browser sends no plaintext and talks to no other host; the output has `kubeseal -o yaml`'s
//! shape and opens with the independent oracles; raw values work with `kubeseal --merge-into`
//! files; bad input gets a message and no output. Screenshots go to `<target>/ui-screenshots`.
//!
//! Skipped (loudly) only when chromium is absent and `SEALED_SECRETS_REQUIRE_BROWSER` is unset;
//! `test.sh` installs it (`tests/browser/install.sh`).

pub mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use support::*;

const SECRET_TIMEOUT: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Chromium and the playwright-core directory, or None (test skipped) when chromium is absent
/// and the browser is not required.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()));
    if !chromium.exists() {
        assert!(
            std::env::var_os("SEALED_SECRETS_REQUIRE_BROWSER").is_none(),
            "SEALED_SECRETS_REQUIRE_BROWSER is set but {} does not exist (run tests/browser/install.sh)",
            chromium.display()
        );
        eprintln!(
            "\n\n!!!!!!!! SKIPPED: the sealing-page browser tests need {} (run tests/browser/install.sh, \
             or set SEALED_SECRETS_REQUIRE_BROWSER=1 to make this a failure) !!!!!!!!\n\n",
            chromium.display()
        );
        return None;
    }
    let dir = std::env::var_os("SEALED_SECRETS_BROWSER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/sealed-secrets-rs/browser")
        });
    if !dir
        .join("npm/node_modules/playwright-core/package.json")
        .exists()
    {
        let ok = Command::new(repo().join("tests/browser/install.sh"))
            .env("BROWSER_DIR", &dir)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "tests/browser/install.sh failed");
    }
    Some((chromium, dir))
}

/// What one run of the browser reported.
struct Run {
    values: Value,
    requests: Vec<Value>,
}

/// Runs the sessions `[{name, viewport?, scale?, steps}]` in headless Chromium.
fn drive(browser: &(PathBuf, PathBuf), sessions: Value) -> Run {
    let plan = json!({"browserDir": browser.1, "chromium": browser.0, "sessions": sessions});
    let mut file = tempfile::NamedTempFile::new().expect("plan file");
    file.write_all(plan.to_string().as_bytes())
        .expect("write plan");
    let out = Command::new("node")
        .arg(repo().join("tests/browser/drive.mjs"))
        .arg(file.path())
        .output()
        .expect("node runs");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "drive.mjs printed no result: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() && result["pageErrors"].as_array().is_some_and(Vec::is_empty),
        "browser run failed: {}\npage errors: {}\nconsole: {}",
        result["failed"],
        result["pageErrors"],
        result["console"]
    );
    Run {
        values: result["values"].clone(),
        requests: result["requests"].as_array().cloned().unwrap_or_default(),
    }
}

/// Steps that fill the form and seal into `key`.
fn seal_steps(
    url: &str,
    name: &str,
    namespace: &str,
    scope: &str,
    key: &str,
    value: &str,
) -> Vec<Value> {
    vec![
        json!({"goto": url}),
        json!({"waitText": "#cert-status", "match": "^Using"}),
        json!({"fill": "#name", "value": name}),
        json!({"fill": "#namespace", "value": namespace}),
        json!({"check": format!("#scope-{scope}")}),
        json!({"fill": ".kv-row .kv-key", "value": "value"}),
        json!({"fill": ".kv-row .kv-value", "value": value}),
        json!({"seal": key}),
    ]
}

fn output(run: &Run, key: &str) -> String {
    let v = &run.values[key];
    assert_eq!(v["errors"], "", "{key}: the page refused to seal");
    v["output"].as_str().expect("output").to_owned()
}

fn kubectl_apply(cp: &envtest::ControlPlane, yaml: &str) {
    let mut child = cp
        .kubectl(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write to kubectl");
    let out = child.wait_with_output().expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl apply: {}\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn secret_data(env: &Env, name: &str) -> BTreeMap<String, Vec<u8>> {
    wait_for_secret(&env.client, &env.app_ns, name, SECRET_TIMEOUT)
        .await
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// Runs a program with stdin; its stdout, or a panic naming it.
fn run_with(mut cmd: Command, stdin: &[u8]) -> Vec<u8> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn oracle(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new(repo().join("tests/oracles/oracle"));
    cmd.args(args);
    run_with(cmd, stdin)
}

/// Our kubeseal binary (built next to the controller by `cargo test --workspace`).
fn kubeseal(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let bin = Path::new(env!("CARGO_BIN_EXE_sealed-secrets-controller")).with_file_name("kubeseal");
    assert!(
        bin.exists(),
        "{} missing: build it with `cargo build -p kubeseal` (cargo test --workspace does)",
        bin.display()
    );
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("KUBECONFIG", "/nonexistent")
        .env_remove("SEALED_SECRETS_CERT");
    run_with(cmd, stdin)
}

/// The controller's private key (PKCS#1 PEM) in a file, for the oracles.
async fn private_key_file(env: &Env) -> tempfile::NamedTempFile {
    let keys = key_secrets(&env.client, &env.keys_ns).await;
    let key = keys
        .iter()
        .find(|k| same_cert(&key_cert_pem(k), &env.cert))
        .and_then(|k| k.data.as_ref()?.get("tls.key").cloned())
        .expect("the key Secret of the served certificate");
    let mut file = tempfile::NamedTempFile::new().expect("key file");
    file.write_all(&key.0).expect("write key");
    file
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("ui-screenshots"))
        .expect("target dir");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// `value` of `spec.encryptedData.<key>` in a SealedSecret YAML as the page writes it.
fn encrypted_value(yaml: &str, key: &str) -> String {
    let mut inside = false;
    for line in yaml.lines() {
        if line == "  encryptedData:" {
            inside = true;
        } else if inside && line.starts_with("    ") {
            if let Some(v) = line.strip_prefix(&format!("    {key}: ")) {
                return v.to_owned();
            }
        } else {
            inside = false;
        }
    }
    panic!("no encryptedData.{key} in\n{yaml}")
}

/// The YAML with every `encryptedData` value replaced by `<sealed>`.
fn mask(yaml: &str) -> String {
    let mut inside = false;
    let mut out = String::new();
    for line in yaml.lines() {
        if line == "  encryptedData:" {
            inside = true;
        } else if inside && line.starts_with("    ") {
            let key = line.split(": ").next().unwrap_or_default();
            out.push_str(&format!("{key}: <sealed>\n"));
            continue;
        } else {
            inside = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn the_page_seals_each_scope_and_a_binary_file_and_the_controller_unseals_them() {
    let Some(browser) = browser() else { return };
    let env = Env::start("ui-scopes", &["--my-cn=ui-test"]).await;
    let cp = control_plane().await;
    let url = env.controller.url("/");
    let ns = env.app_ns.clone();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let canary = format!("canary-{nanos}-plaintext");
    let bytes: Vec<u8> = (0..=255u8).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let bin_path = dir.path().join("all-bytes.bin");
    std::fs::write(&bin_path, &bytes).expect("binary file");
    let shots = screenshots_dir();

    let mut steps = Vec::new();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        steps.extend(seal_steps(
            &url,
            &format!("s-{scope}"),
            &ns,
            scope,
            scope,
            &canary,
        ));
    }
    // A binary file value, then verify the result through the controller.
    steps.extend([
        json!({"goto": url}),
        json!({"waitText": "#cert-status", "match": "^Using"}),
        json!({"read": "#cert-fingerprint", "as": "fingerprint"}),
        json!({"read": "#cert-subject", "as": "subject"}),
        json!({"fill": "#name", "value": "s-binary"}),
        json!({"fill": "#namespace", "value": ns}),
        json!({"fill": ".kv-row .kv-key", "value": "blob"}),
        json!({"files": ".kv-row .kv-file", "path": bin_path}),
        json!({"seal": "binary"}),
        json!({"click": "#verify-output"}),
        json!({"waitText": "#verify-result", "match": "can open|cannot open"}),
        json!({"read": "#verify-result", "as": "verified"}),
        json!({"eval": "Array.from(document.querySelectorAll('input:not([type=hidden]), textarea')).filter(e => e.labels.length === 0).map(e => e.id)", "as": "unlabelled"}),
        json!({"screenshot": shots.join("sealing-page-full.png"), "fullPage": true}),
        json!({"eval": "window.scrollTo(0, 0)", "as": "scrolled"}),
        json!({"screenshot": shots.join("sealing-page-1280x800.png")}),
    ]);
    let sessions = json!([
        {"name": "seal", "steps": steps},
        {"name": "zoom", "viewport": {"width": 640, "height": 400}, "scale": 2, "steps": [
            {"goto": url},
            {"waitText": "#cert-status", "match": "^Using"},
            {"fill": "#name", "value": "example"},
            {"fill": "#namespace", "value": ns},
            {"eval": "document.documentElement.scrollWidth - document.documentElement.clientWidth", "as": "overflow"},
            // Keyboard only: Tab moves from field to field, Enter on the focused button seals.
            {"eval": "document.getElementById('name').focus()", "as": "focused"},
            {"press": "Tab"},
            {"eval": "document.activeElement.id", "as": "after_tab"},
            {"eval": "document.querySelector('.kv-row .kv-key').focus()", "as": "focused"},
            {"press": "k"},
            {"press": "Tab"},
            {"press": "v"},
            {"eval": "document.getElementById('seal').focus()", "as": "focused"},
            {"press": "Enter"},
            {"waitText": "#output", "match": "kind: SealedSecret"},
            {"eval": "window.scrollTo(0, 0)", "as": "scrolled"},
            {"screenshot": shots.join("sealing-page-200-percent.png")},
        ]},
    ]);
    let run = drive(&browser, sessions);

    // The certificate shown is the controller's.
    let cert = crds::Certificate::from_pem(env.cert.as_bytes()).expect("certificate");
    let fingerprint = openssl_fingerprint(cert.der());
    assert_eq!(run.values["fingerprint"], fingerprint);
    assert_eq!(run.values["subject"], "CN=ui-test");
    assert!(
        run.values["verified"]
            .as_str()
            .is_some_and(|s| s.starts_with("The controller can open")),
        "{}",
        run.values["verified"]
    );
    assert_eq!(
        run.values["unlabelled"],
        json!([]),
        "every field has a label"
    );
    assert_eq!(
        run.values["overflow"], 0,
        "no sideways scrolling at 200 % zoom"
    );

    // Applied with kubectl, each unseals to the canary.
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        kubectl_apply(cp, &output(&run, scope));
    }
    kubectl_apply(cp, &output(&run, "binary"));
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let data = secret_data(&env, &format!("s-{scope}")).await;
        assert_eq!(
            data.get("value"),
            Some(&canary.clone().into_bytes()),
            "{scope}"
        );
    }
    assert_eq!(
        secret_data(&env, "s-binary").await.get("blob"),
        Some(&bytes),
        "all 256 byte values"
    );

    // The browser's own network log: only the controller, never the plaintext.
    let origin = format!("http://127.0.0.1:{}/", env.controller.api_port);
    assert!(!run.requests.is_empty());
    for r in &run.requests {
        let (u, body) = (
            r["url"].as_str().unwrap_or(""),
            r["body"].as_str().unwrap_or(""),
        );
        assert!(u.starts_with(&origin), "request to another host: {u}");
        assert!(
            !u.contains(&canary) && !body.contains(&canary),
            "plaintext sent: {r}"
        );
        assert!(!body.contains("canary-"), "plaintext sent: {r}");
    }
    assert!(run
        .requests
        .iter()
        .any(|r| r["url"].as_str().is_some_and(|u| u.ends_with("/v1/verify"))));

    // The page's ciphertexts open with the independent oracles.
    let key = private_key_file(&env).await;
    let key = key.path().to_str().expect("path");
    for (scope, label) in [
        ("strict", format!("{ns}/s-strict")),
        ("namespace-wide", ns.clone()),
        ("cluster-wide", String::new()),
    ] {
        let sealed = encrypted_value(&output(&run, scope), "value");
        for imp in ["aes", "kubesealpy"] {
            let plain = oracle(
                &["unseal-raw", "--impl", imp, "--key", key, "--label", &label],
                sealed.as_bytes(),
            );
            assert_eq!(plain, canary.as_bytes(), "{imp} opens the {scope} value");
        }
    }
    let opened = oracle(
        &["unseal-object", "--key", key],
        output(&run, "binary").as_bytes(),
    );
    let opened: Value = serde_json::from_slice(&opened).expect("oracle JSON");
    let blob = base64_of(&bytes);
    assert_eq!(opened, json!({"blob": blob}));

    if std::env::var_os("SEALED_SECRETS_UPDATE_SCREENSHOT").is_some() {
        std::fs::copy(
            shots.join("sealing-page-1280x800.png"),
            repo().join("controller/ui/sealing-page.png"),
        )
        .expect("copy the screenshot into docs/");
    }
}

fn openssl_fingerprint(der: &[u8]) -> String {
    // The fingerprint as openssl prints it (what the README tells users to compare with).
    let mut file = tempfile::NamedTempFile::new().expect("tempfile");
    file.write_all(der).expect("write");
    let out = Command::new("openssl")
        .args([
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
        ])
        .arg(file.path())
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn base64_of(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn the_page_writes_kubeseal_yaml_raw_values_fit_merge_into_files_and_bad_input_seals_nothing()
{
    let Some(browser) = browser() else { return };
    let env = Env::start("ui-shape", &[]).await;
    let cp = control_plane().await;
    let url = env.controller.url("/");
    let ns = env.app_ns.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_path = dir.path().join("cert.pem");
    std::fs::write(&cert_path, &env.cert).expect("cert file");
    let cert = cert_path.to_str().expect("path");

    // A fixed Secret: labels, annotations (one dropped), a type, data and stringData.
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: fixed\n  namespace: {ns}\n  labels:\n    app: web\n    tier: \"true\"\n  annotations:\n    team: a b\n    kubectl.kubernetes.io/last-applied-configuration: '{{\"x\":1}}'\ntype: kubernetes.io/basic-auth\ndata:\n  username: YWRtaW4=\nstringData:\n  password: \"yes\"\n"
    );
    let kubeseal_yaml = String::from_utf8(kubeseal(
        &["--cert", cert, "-o", "yaml"],
        manifest.as_bytes(),
    ))
    .expect("UTF-8");

    // A file made by kubeseal and extended with --merge-into.
    let merged = dir.path().join("merged.yaml");
    let secret = |key: &str, value: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: merged\n  namespace: {ns}\ntype: Opaque\nstringData:\n  {key}: {value}\n")
    };
    let first = kubeseal(
        &["--cert", cert, "-o", "yaml"],
        secret("a", "first").as_bytes(),
    );
    std::fs::write(&merged, first).expect("write");
    kubeseal(
        &[
            "--cert",
            cert,
            "--merge-into",
            merged.to_str().expect("path"),
        ],
        secret("b", "second").as_bytes(),
    );
    let merged_text = std::fs::read_to_string(&merged).expect("read");

    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 10 * 1024 * 1024]).expect("10 MiB file");
    let ec_cert = dir.path().join("ec.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=ec", "-days", "1", "-keyout"])
        .arg(dir.path().join("ec.key"))
        .arg("-out")
        .arg(&ec_cert)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "openssl makes an EC certificate");
    let expired = repo().join("cli/tests/fixtures/expired-cert.pem");

    let ready = json!({"waitText": "#cert-status", "match": "^Using"});
    let sessions = json!([
        {"name": "shape", "steps": [
            {"goto": url}, ready,
            {"click": "#manifest-box summary"},
            {"fill": "#manifest-input", "value": manifest},
            {"click": "#load-manifest"},
            {"seal": "fixed"},
            // Raw: one value for merged (strict).
            {"fill": "#name", "value": "merged"},
            {"fill": "#namespace", "value": ns},
            {"check": "#scope-strict"},
            {"click": ".kv-row:nth-child(2) .kv-remove"},
            {"fill": ".kv-row .kv-key", "value": "c"},
            {"fill": ".kv-row .kv-value", "value": "third"},
            {"check": "#mode-raw"},
            {"seal": "raw"},
            // Merge mode into the kubeseal-made file.
            {"check": "#mode-merge"},
            {"fill": "#merge-input", "value": merged_text},
            {"fill": ".kv-row .kv-key", "value": "d"},
            {"fill": ".kv-row .kv-value", "value": "fourth"},
            {"seal": "merge"},
        ]},
        {"name": "bad", "steps": [
            {"goto": url}, ready,
            {"fill": "#name", "value": "Not_A_Name"},
            {"fill": ".kv-row .kv-key", "value": "k"},
            {"fill": ".kv-row .kv-value", "value": "v"},
            {"seal": "bad_name"},
            {"fill": "#name", "value": "ok"},
            {"seal": "no_namespace"},
            {"fill": "#namespace", "value": ns},
            {"fill": ".kv-row .kv-value", "value": ""},
            {"seal": "empty_value"},
            {"check": "#allow-empty"},
            {"seal": "empty_allowed"},
            {"files": ".kv-row .kv-file", "path": big},
            {"read": ".kv-row .kv-error", "as": "big_file"},
            {"click": "#manifest-box summary"},
            {"fill": "#manifest-input", "value": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"},
            {"click": "#load-manifest"},
            {"read": "#manifest-error", "as": "not_a_secret"},
            {"fill": "#manifest-input", "value": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  k: not*base64\n"},
            {"click": "#load-manifest"},
            {"read": "#manifest-error", "as": "bad_base64"},
            {"fill": "#cert-url", "value": "v1/no-such-cert.pem"},
            {"click": "#fetch-cert"},
            {"waitText": "#cert-status", "match": "Cannot fetch"},
            {"read": "#cert-status", "as": "bad_url"},
            {"seal": "after_bad_url"},
            {"files": "#cert-file", "path": ec_cert},
            {"waitText": "#cert-status", "match": "RSA"},
            {"read": "#cert-status", "as": "ec"},
            {"files": "#cert-file", "path": expired},
            {"waitText": "#cert-status", "match": "^Using"},
            {"read": "#cert-warning", "as": "expired"},
            // Still usable: the controller's certificate again, and a good seal.
            {"fill": "#cert-url", "value": "v1/cert.pem"},
            {"click": "#fetch-cert"},
            {"waitText": "#cert-status", "match": "^Using the certificate from v1/cert.pem"},
            {"fill": ".kv-row .kv-value", "value": "recovered"},
            {"seal": "recovered"},
        ]},
    ]);
    let run = drive(&browser, sessions);

    // Same lines as kubeseal -o yaml once the ciphertexts are masked.
    let page_yaml = output(&run, "fixed");
    assert_eq!(mask(&page_yaml), mask(&kubeseal_yaml));
    assert!(page_yaml.starts_with("---\napiVersion: bitnami.com/v1alpha1\n"));

    // The raw value, put into the kubeseal --merge-into file, unseals with the others.
    let raw = output(&run, "raw");
    assert!(
        !raw.contains('\n') && !raw.is_empty(),
        "raw output is one value"
    );
    let with_raw = merged_text.replace(
        "  encryptedData:\n",
        &format!("  encryptedData:\n    c: {raw}\n"),
    );
    kubectl_apply(cp, &with_raw);
    let data = secret_data(&env, "merged").await;
    let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
    assert_eq!(
        (text("a"), text("b"), text("c")),
        (
            Some("first".into()),
            Some("second".into()),
            Some("third".into())
        )
    );
    // The page's merge mode adds to the same file; the controller opens old and new values.
    let merged_page = output(&run, "merge");
    let kubeseal_merged = {
        let again = dir.path().join("again.yaml");
        std::fs::write(&again, &merged_text).expect("write");
        kubeseal(
            &[
                "--cert",
                cert,
                "--merge-into",
                again.to_str().expect("path"),
            ],
            secret("d", "fourth").as_bytes(),
        );
        std::fs::read_to_string(&again).expect("read")
    };
    assert_eq!(
        mask(&merged_page),
        mask(&kubeseal_merged),
        "merge has kubeseal's shape"
    );
    kubectl_apply(cp, &merged_page);
    let data = eventually(SECRET_TIMEOUT, "merged Secret with d", || {
        let env = &env;
        async move {
            let d = secret_data(env, "merged").await;
            d.contains_key("d").then_some(d)
        }
    })
    .await;
    assert_eq!(data.get("d").map(Vec::as_slice), Some(&b"fourth"[..]));
    assert_eq!(data.get("a").map(Vec::as_slice), Some(&b"first"[..]));

    // Bad input: a message, nothing sealed, the page usable afterwards.
    let refused = |key: &str, needle: &str| {
        let v = &run.values[key];
        assert_eq!(v["output"], "", "{key}: nothing sealed");
        let errors = v["errors"].as_str().unwrap_or_default();
        assert!(
            errors.contains(needle),
            "{key}: {errors:?} should mention {needle:?}"
        );
    };
    refused("bad_name", "lower-case letters");
    refused("no_namespace", "namespace is required for the strict scope");
    refused("empty_value", "is empty");
    refused("after_bad_url", "certificate first");
    assert!(output(&run, "empty_allowed").contains("    k: "));
    let says = |key: &str, needle: &str| {
        let v = run.values[key].as_str().unwrap_or_default();
        assert!(v.contains(needle), "{key}: {v:?} should mention {needle:?}");
    };
    says("big_file", "at most 1 MiB");
    says("not_a_secret", "is a ConfigMap");
    says("bad_base64", "data.k is not valid base64");
    says("bad_url", "404");
    says("ec", "does not hold an RSA key");
    says("expired", "expired on");
    let recovered = output(&run, "recovered");
    kubectl_apply(cp, &recovered);
    assert_eq!(
        secret_data(&env, "ok").await.get("k").map(Vec::as_slice),
        Some(&b"recovered"[..])
    );
}

#[tokio::test]
async fn the_page_has_a_strict_csp_works_from_disk_and_ui_false_turns_it_off() {
    let Some(browser) = browser() else { return };
    let env = Env::start("ui-disk", &[]).await;
    let cp = control_plane().await;
    let page = http_call("GET", &env.controller.url("/"), b"").expect("GET /");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("connect-src 'self'")
            && !csp.contains("unsafe"),
        "{csp}"
    );
    let single = http_call("GET", &env.controller.url("/sealing-page.html"), b"").expect("GET");
    assert_eq!(single.status, 200);
    assert!(single
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment")));

    // The single file, opened from disk with a picked certificate.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sealing-page.html");
    std::fs::write(&file, &single.body).expect("write page");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, &env.cert).expect("write cert");
    let run = drive(
        &browser,
        json!([{"name": "disk", "steps": [
            {"goto": format!("file://{}", file.display())},
            {"files": "#cert-file", "path": cert},
            {"waitText": "#cert-status", "match": "^Using"},
            {"fill": "#name", "value": "from-disk"},
            {"fill": "#namespace", "value": env.app_ns},
            {"fill": ".kv-row .kv-key", "value": "k"},
            {"fill": ".kv-row .kv-value", "value": "offline"},
            {"seal": "disk"},
        ]}]),
    );
    for r in &run.requests {
        let u = r["url"].as_str().unwrap_or_default();
        assert!(
            u.starts_with("file://"),
            "the disk page made a request: {u}"
        );
    }
    kubectl_apply(cp, &output(&run, "disk"));
    assert_eq!(
        secret_data(&env, "from-disk")
            .await
            .get("k")
            .map(Vec::as_slice),
        Some(&b"offline"[..])
    );

    let off = ControllerProcess::start(
        cp.kubeconfig_path(),
        &env.keys_ns,
        &[&env.app_ns],
        &["--ui=false"],
    );
    off.wait_for_cert(Duration::from_secs(60));
    let page = http_call("GET", &off.url("/"), b"").expect("GET /");
    assert_eq!(page.status, 404, "--ui=false serves no page");
}
