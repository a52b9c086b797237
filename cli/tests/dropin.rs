//! Drop-in behaviour of upstream's current kubeseal (v0.36) that scripts rely on: the client
//! flags added since v0.17 (`--as-uid`, `--proxy-url`, klog's newer flag), comma-separated
//! `--from-file` / `--recovery-private-key`, the namespace mismatch, `--cert` URLs through
//! `HTTP(S)_PROXY` / `NO_PROXY`, the `--version` shape, key backups from a typed Go client, and
//! OS errors worded as Go's.

pub mod offline_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use offline_support::{
    assert_fails, assert_ok, keys, kubeseal, kubeseal_env, path_arg, seal, stderr, stdout,
};

const SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\nstringData: {user: admin}\n";
const SECRET_WITHOUT_NAMESPACE: &str =
    "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {user: admin}\n";

/// A loopback HTTP listener that records each request's head and answers with `respond`.
/// Stands in for an HTTP proxy (or an API server endpoint) just far enough to see it was used.
struct Recorder {
    addr: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(respond: fn(&str) -> Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr").to_string();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                // A tunnel (CONNECT answered 200) carries the next request on the same stream.
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    if head.is_empty() {
                        break;
                    }
                    let answer = respond(&head);
                    seen.lock().expect("lock").push(head);
                    let _ = stream.write_all(&answer);
                    if !answer.starts_with(b"HTTP/1.1 200 Connection established") {
                        break;
                    }
                }
            }
        });
        Recorder { addr, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }
}

/// Answers as the API server and the controller would for `--fetch-cert`: the controller's
/// Service, then the certificate (through the Service proxy, or directly for a `--cert` URL).
fn serve_cert(head: &str) -> Vec<u8> {
    if head.starts_with("CONNECT ") {
        return b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec();
    }
    if head.contains("/services/sealed-secrets-controller ") {
        let service = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "sealed-secrets-controller", "namespace": "kube-system"},
            "spec": {"ports": [{"name": "http", "port": 8080}]},
        })
        .to_string();
        return format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{service}",
            service.len()
        )
        .into_bytes();
    }
    let pem = std::fs::read(keys().cert()).expect("cert");
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        pem.len()
    )
    .into_bytes();
    answer.extend(pem);
    answer
}

fn refuse(_: &str) -> Vec<u8> {
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
}

#[test]
fn version_is_v_prefixed_semver() {
    let out = kubeseal(&["--version"], b"");
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!("kubeseal version: v{}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn klog_legacy_stderr_threshold_behavior_is_accepted() {
    for flag in [
        "--legacy_stderr_threshold_behavior",
        "--legacy_stderr_threshold_behavior=false",
    ] {
        let out = kubeseal(
            &[flag, "--cert", &path_arg(&keys().cert()), "-o", "json"],
            SECRET.as_bytes(),
        );
        assert_ok(&out);
    }
}

#[test]
fn from_file_splits_on_commas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    std::fs::write(&a, "one").expect("write");
    std::fs::write(&b, "two").expect("write");
    let files = format!("first={},{}", a.display(), b.display());
    let out = kubeseal(
        &[
            "--cert",
            &path_arg(&keys().cert()),
            "-o",
            "json",
            "--name",
            "s",
            "-n",
            "ns",
            "--from-file",
            &files,
        ],
        b"",
    );
    assert_ok(&out);
    let sealed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let keys: Vec<&String> = sealed["spec"]["encryptedData"]
        .as_object()
        .expect("encryptedData")
        .keys()
        .collect();
    assert_eq!(keys, ["b.txt", "first"]);
}

fn recovery_unseal(key_arg: &str, sealed: &[u8]) -> std::process::Output {
    kubeseal(
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            key_arg,
            "-o",
            "json",
        ],
        sealed,
    )
}

/// A key backup as a typed Go client marshals a SecretList: `kind: List` without `kind` or
/// `apiVersion` on its items.
fn typed_key_list_json() -> String {
    let b64 = |p| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).expect("pem"));
    serde_json::json!({
        "kind": "List",
        "apiVersion": "v1",
        "metadata": {},
        "items": [{
            "metadata": {"name": "sealed-secrets-key", "namespace": "kube-system"},
            "data": {"tls.key": b64(keys().key()), "tls.crt": b64(keys().cert())},
            "type": "kubernetes.io/tls",
        }],
    })
    .to_string()
}

#[test]
fn recovery_private_key_splits_on_commas_and_reads_a_typed_list() {
    let sealed = serde_json::to_vec(&seal(SECRET)).expect("JSON");
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("keys.json");
    std::fs::write(&list, typed_key_list_json()).expect("write");
    let out = recovery_unseal(&path_arg(&list), &sealed);
    assert_ok(&out);
    let secret: serde_json::Value = serde_json::from_slice(&out.stdout).expect("Secret");
    assert_eq!(secret["data"]["user"], "YWRtaW4=");

    // Two key files in one comma-separated value.
    let both = format!("{},{}", list.display(), keys().key().display());
    assert_ok(&recovery_unseal(&both, &sealed));
}

#[test]
fn namespace_flag_must_match_the_input_secret() {
    let cert = path_arg(&keys().cert());
    let args = ["--cert", cert.as_str(), "-o", "json", "-n"];
    let run = |ns: &str, input: &str| kubeseal(&[&args[..], &[ns]].concat(), input.as_bytes());
    assert_fails(&run("other", SECRET), "namespace mismatch");
    let same = run("ns", SECRET);
    assert_ok(&same);
    let filled = run("other", SECRET_WITHOUT_NAMESPACE);
    assert_ok(&filled);
    let sealed: serde_json::Value = serde_json::from_slice(&filled.stdout).expect("JSON");
    assert_eq!(sealed["metadata"]["namespace"], "other");
}

#[test]
fn os_errors_read_as_go_s() {
    let missing = "/nonexistent/x.pem";
    let expected = format!("open {missing}: no such file or directory");
    assert_fails(&recovery_unseal(missing, SECRET.as_bytes()), &expected);
    assert_fails(
        &kubeseal(&["--cert", missing], SECRET.as_bytes()),
        &expected,
    );
    assert_fails(
        &kubeseal(&["--cert", &path_arg(&keys().cert()), "-f", missing], b""),
        &expected,
    );
    let from_file = format!("k={missing}");
    assert_fails(
        &kubeseal(
            &[
                "--cert",
                &path_arg(&keys().cert()),
                "--name",
                "s",
                "-n",
                "ns",
                "--from-file",
                &from_file,
            ],
            b"",
        ),
        &expected,
    );
}

#[test]
fn cert_urls_use_http_proxy_and_https_proxy() {
    // Hosts under .invalid never resolve: only a proxy can answer for them.
    let http = Recorder::start(serve_cert);
    let proxy = format!("http://{}", http.addr);
    let cert_url = "http://cert.example.invalid/v1/cert.pem";
    let out = kubeseal_env(
        &["--cert", cert_url, "-o", "json"],
        SECRET.as_bytes(),
        &[
            ("HTTP_PROXY", &proxy),
            ("HTTPS_PROXY", "http://127.0.0.1:1"),
        ],
    );
    assert_ok(&out);
    let heads = http.heads();
    // A forwarding request (as Go sends) or a tunnel to the host: either way through the proxy.
    assert!(
        heads
            .iter()
            .any(|h| h.starts_with(&format!("GET {cert_url} "))
                || h.starts_with("CONNECT cert.example.invalid:80 ")),
        "{heads:?}"
    );

    let https = Recorder::start(refuse);
    let out = kubeseal_env(
        &["--cert", "https://cert.example.invalid/v1/cert.pem"],
        SECRET.as_bytes(),
        &[("HTTPS_PROXY", &https.addr)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let heads = https.heads();
    assert!(
        heads
            .iter()
            .any(|h| h.starts_with("CONNECT cert.example.invalid:443 ")),
        "{heads:?}"
    );
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let http = Recorder::start(serve_cert);
    let proxy = format!("http://{}", http.addr);
    let out = kubeseal_env(
        &["--cert", "http://cert.example.invalid/v1/cert.pem"],
        SECRET.as_bytes(),
        &[("HTTP_PROXY", &proxy), ("NO_PROXY", "example.invalid")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(http.heads().is_empty(), "{:?}", http.heads());
}

#[test]
fn proxy_url_carries_the_api_server_connection() {
    let proxy = Recorder::start(refuse);
    let out = kubeseal(
        &[
            "--fetch-cert",
            "--server",
            "https://api.example.invalid:6443",
            "--insecure-skip-tls-verify",
            "--token",
            "t",
            "--request-timeout",
            "5s",
            "--proxy-url",
            &format!("http://{}", proxy.addr),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let heads = proxy.heads();
    assert!(
        heads
            .iter()
            .any(|h| h.starts_with("CONNECT api.example.invalid:6443 ")),
        "{heads:?}"
    );
}

#[test]
fn as_uid_is_sent_as_the_impersonate_uid_header() {
    let api = Recorder::start(serve_cert);
    let out = kubeseal(
        &[
            "--fetch-cert",
            "--server",
            &format!("http://{}", api.addr),
            "--token",
            "t",
            "--as",
            "alice",
            "--as-uid",
            "1234",
        ],
        b"",
    );
    assert_ok(&out);
    assert!(stdout(&out).contains("BEGIN CERTIFICATE"));
    let heads = api.heads().join("").to_ascii_lowercase();
    assert!(heads.contains("impersonate-uid: 1234\r\n"), "{heads}");
    assert!(heads.contains("impersonate-user: alice\r\n"), "{heads}");

    assert_fails(
        &kubeseal(
            &[
                "--fetch-cert",
                "--server",
                &format!("http://{}", api.addr),
                "--as-uid",
                "1234",
            ],
            b"",
        ),
        "--as-uid require --as",
    );
}
