//! `kubeseal bulk seal` / `kubeseal bulk re-encrypt` as a user runs them: mirrored trees, mixed
//! multi-document files, formats, per-file failures, summary and exit codes. `bulk re-encrypt`
//! is exercised against a small fake API server (the controller-backed tests live elsewhere).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub mod offline_support;

use offline_support::{keys, kubeseal, path_arg, stderr};

/// `kubeseal bulk seal --cert CERT SRC DST EXTRA...`.
fn bulk_seal(src: &Path, dst: &Path, extra: &[&str]) -> Output {
    let cert = path_arg(&keys().cert());
    let (src, dst) = (src.display().to_string(), dst.display().to_string());
    let mut args = vec!["bulk", "seal", "--cert", &cert, &src, &dst];
    args.extend_from_slice(extra);
    kubeseal(&args, b"")
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every file under `root`, relative and sorted.
fn files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The documents of a YAML or JSON manifest file, in order.
fn documents(text: &str) -> Vec<serde_json::Value> {
    if text.trim_start().starts_with(['{', '[']) {
        let mut docs = Vec::new();
        for v in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
            match v.expect("JSON") {
                serde_json::Value::Array(items) => docs.extend(items),
                other => docs.push(other),
            }
        }
        docs
    } else {
        serde_yaml::Deserializer::from_str(text)
            .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
            .filter(|v: &serde_json::Value| !v.is_null())
            .collect()
    }
}

fn kinds(docs: &[serde_json::Value]) -> Vec<&str> {
    docs.iter()
        .map(|d| d["kind"].as_str().unwrap_or_default())
        .collect()
}

/// Unseals one SealedSecret with the test key; returns the Secret's `data` (base64 values).
fn unseal(sealed: &serde_json::Value) -> serde_json::Value {
    let key = path_arg(&keys().key());
    let o = kubeseal(
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            &key,
            "-o",
            "json",
        ],
        sealed.to_string().as_bytes(),
    );
    assert!(o.status.success(), "unseal failed: {}", stderr(&o));
    let secret: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON Secret");
    secret["data"].clone()
}

fn secret(name: &str, namespace: Option<&str>, key: &str, value: &str) -> String {
    let ns = namespace
        .map(|n| format!("\n  namespace: {n}"))
        .unwrap_or_default();
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}{ns}\ntype: Opaque\nstringData:\n  {key}: {value}\n")
}

fn b64(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn summary(o: &Output) -> String {
    stderr(o).lines().last().unwrap_or_default().to_owned()
}

#[test]
fn seal_mirrors_a_nested_tree_and_every_value_unseals() {
    let src = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let dst = out.path().join("sealed");
    let s = src.path();
    write(
        s,
        "top.yaml",
        &secret("top", Some("ns1"), "password", "CANARY-top"),
    );
    write(
        s,
        "a/b/c/deep.yml",
        &secret("deep", Some("ns2"), "token", "CANARY-deep"),
    );
    write(
        s,
        "a/json/api.json",
        r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api", "namespace": "ns3"}, "stringData": {"key": "CANARY-json"}}"#,
    );
    write(s, "a/notes.txt", "not a manifest\n");
    write(
        s,
        "a/cm-only.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    write(
        s,
        ".hidden/ignored.yaml",
        &secret("h", Some("ns"), "k", "v"),
    );

    let o = bulk_seal(s, &dst, &[]);
    assert!(o.status.success(), "bulk seal failed: {}", stderr(&o));
    assert!(o.stdout.is_empty(), "bulk seal prints nothing on stdout");
    assert_eq!(
        files(&dst),
        ["a/b/c/deep.yml", "a/json/api.json", "top.yaml"],
        "same relative paths; no file without a Secret; hidden entries and other names ignored"
    );
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "skipped (no Secret): {}",
            s.join("a/cm-only.yaml").display()
        )),
        "{err}"
    );
    assert!(
        summary(&o).starts_with("sealed 3 files (3 Secrets), 0 failed, 1 skipped in "),
        "{err}"
    );
    for (rel, key, value) in [
        ("top.yaml", "password", "CANARY-top"),
        ("a/b/c/deep.yml", "token", "CANARY-deep"),
        ("a/json/api.json", "key", "CANARY-json"),
    ] {
        let text = read(&dst, rel);
        assert!(!text.contains("CANARY"), "plaintext in {rel}: {text}");
        let docs = documents(&text);
        assert_eq!(kinds(&docs), ["SealedSecret"], "{rel}");
        assert_eq!(unseal(&docs[0])[key], b64(value), "{rel}");
    }

    // A second run replaces the outputs (fresh ciphertexts, same values).
    let before = read(&dst, "top.yaml");
    let o = bulk_seal(s, &dst, &["--jobs", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = read(&dst, "top.yaml");
    assert_ne!(before, after);
    assert_eq!(unseal(&documents(&after)[0])["password"], b64("CANARY-top"));
}

#[test]
fn mixed_files_keep_the_other_documents_verbatim_and_in_order() {
    let src = tempfile::tempdir().expect("tempdir");
    let dst = tempfile::tempdir().expect("tempdir");
    let config_map = "# Settings of the app.\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings   # keep me\n  namespace: app\ndata:\n  zeta: \"1\"\n  alpha: yes\n";
    let deployment = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: app}\nspec:\n  replicas: 2   # two\n";
    let text = format!(
        "{config_map}---\n# the database password is CANARY-comment\n{}{deployment}---\n{}",
        secret("db", Some("app"), "password", "CANARY-db"),
        secret("api", Some("app"), "token", "CANARY-api"),
    );
    write(src.path(), "app/all.yaml", &text);

    let o = bulk_seal(src.path(), dst.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(summary(&o).starts_with("sealed 1 file (2 Secrets), 0 failed, 0 skipped"));
    let out = read(dst.path(), "app/all.yaml");
    assert!(
        !out.contains("CANARY"),
        "plaintext or its comment kept: {out}"
    );
    // The other documents are the input's bytes, comments and key order included.
    assert!(out.starts_with(config_map), "{out}");
    assert!(out.contains(deployment), "{out}");
    let docs = documents(&out);
    assert_eq!(
        kinds(&docs),
        ["ConfigMap", "SealedSecret", "Deployment", "SealedSecret"]
    );
    assert_eq!(docs[1]["metadata"]["name"], "db");
    assert_eq!(docs[3]["metadata"]["name"], "api");
    assert_eq!(unseal(&docs[1])["password"], b64("CANARY-db"));
    assert_eq!(unseal(&docs[3])["token"], b64("CANARY-api"));
    // YAML output: every SealedSecret introduced by `---`.
    assert_eq!(
        out.matches("---\napiVersion: bitnami.com/v1alpha1").count(),
        2
    );
}

#[test]
fn each_file_keeps_its_format_unless_o_is_given() {
    let src = tempfile::tempdir().expect("tempdir");
    let s = src.path();
    let cm = r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"z": "1", "a": "2"}}"#;
    let json_secret = r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j", "namespace": "ns"}, "data": {"k": "dmFsdWU="}}"#;
    write(s, "stream.json", &format!("{cm}\n{json_secret}\n"));
    write(
        s,
        "array.json",
        &format!("[\n  {json_secret},\n  {cm}\n]\n"),
    );
    write(s, "plain.yaml", &secret("y", Some("ns"), "k", "value"));

    let dst = tempfile::tempdir().expect("tempdir");
    let o = bulk_seal(s, dst.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stream = read(dst.path(), "stream.json");
    assert!(
        stream.starts_with(&format!("{cm}\n{{\n  \"kind\": \"SealedSecret\"")),
        "{stream}"
    );
    assert_eq!(kinds(&documents(&stream)), ["ConfigMap", "SealedSecret"]);
    let array = read(dst.path(), "array.json");
    let parsed: serde_json::Value = serde_json::from_str(&array).expect("still one JSON array");
    assert_eq!(parsed.as_array().map(Vec::len), Some(2));
    assert!(array.trim_end().ends_with(&format!("{cm}\n]")), "{array}");
    assert_eq!(kinds(&documents(&array)), ["SealedSecret", "ConfigMap"]);
    let yaml = read(dst.path(), "plain.yaml");
    assert!(
        yaml.starts_with("---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n"),
        "{yaml}"
    );

    // -o yaml turns the JSON files into YAML (same names), -o json the YAML ones into JSON.
    let dst = tempfile::tempdir().expect("tempdir");
    let o = bulk_seal(s, dst.path(), &["-o", "yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stream = read(dst.path(), "stream.json");
    assert!(
        stream.starts_with("---\napiVersion: v1\ndata:\n"),
        "{stream}"
    );
    assert_eq!(kinds(&documents(&stream)), ["ConfigMap", "SealedSecret"]);
    assert_eq!(unseal(&documents(&stream)[1])["k"], "dmFsdWU=");
    let dst = tempfile::tempdir().expect("tempdir");
    let o = bulk_seal(s, dst.path(), &["--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let yaml = read(dst.path(), "plain.yaml");
    assert!(
        yaml.starts_with("{\n  \"kind\": \"SealedSecret\""),
        "{yaml}"
    );
    assert_eq!(unseal(&documents(&yaml)[0])["k"], b64("value"));

    let o = bulk_seal(s, dst.path(), &["-o", "xml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unsupported output format: xml"));
}

#[test]
fn a_bad_file_is_reported_and_the_others_are_still_sealed() {
    let src = tempfile::tempdir().expect("tempdir");
    let dst = tempfile::tempdir().expect("tempdir");
    let s = src.path();
    write(s, "good1.yaml", &secret("g1", Some("ns"), "k", "v1"));
    write(s, "sub/good2.yaml", &secret("g2", Some("ns"), "k", "v2"));
    write(
        s,
        "sub/bad.yaml",
        "apiVersion: v1\nkind: Secret\n  data: [CANARY-bad\n",
    );
    write(s, "sub/notes.yaml", "# only a comment\n");

    for jobs in ["1", "3"] {
        let o = bulk_seal(s, dst.path(), &["--jobs", jobs]);
        assert_eq!(o.status.code(), Some(1), "exit 1 when a file failed");
        let err = stderr(&o);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(
            errors,
            [format!(
                "error: {}: input is not valid YAML: syntax error at line 3 column 7",
                s.join("sub/bad.yaml").display()
            )],
            "{err}"
        );
        assert!(!err.contains("CANARY"), "{err}");
        assert!(
            summary(&o).starts_with("sealed 2 files (2 Secrets), 1 failed, 1 skipped in "),
            "{err}"
        );
        assert_eq!(files(dst.path()), ["good1.yaml", "sub/good2.yaml"]);
    }
}

#[test]
fn a_secret_without_a_namespace_fails_its_file_unless_n_or_cluster_wide() {
    let src = tempfile::tempdir().expect("tempdir");
    let s = src.path();
    write(s, "with-ns.yaml", &secret("a", Some("ns"), "k", "v"));
    // The second document lacks a namespace: the whole file fails, nothing of it is written.
    write(
        s,
        "no-ns.yaml",
        &format!(
            "{}---\n{}",
            secret("b", Some("ns"), "k", "v"),
            secret("c", None, "k", "v")
        ),
    );

    let dst = tempfile::tempdir().expect("tempdir");
    let o = bulk_seal(s, dst.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "error: {}: document 2 (Secret \"c\"): the Secret has no namespace (set metadata.namespace, or pass -n/--namespace",
            s.join("no-ns.yaml").display()
        )),
        "{err}"
    );
    assert_eq!(files(dst.path()), ["with-ns.yaml"]);

    // -n gives Secrets without a namespace one; the others keep theirs.
    let dst = tempfile::tempdir().expect("tempdir");
    let o = bulk_seal(s, dst.path(), &["-n", "fallback"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let docs = documents(&read(dst.path(), "no-ns.yaml"));
    assert_eq!(docs[0]["metadata"]["namespace"], "ns");
    assert_eq!(docs[1]["metadata"]["namespace"], "fallback");
    assert_eq!(unseal(&docs[1])["k"], b64("v"));

    // A cluster-wide Secret needs none.
    let dst = tempfile::tempdir().expect("tempdir");
    let o = bulk_seal(s, dst.path(), &["--scope", "cluster-wide"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let docs = documents(&read(dst.path(), "no-ns.yaml"));
    assert_eq!(
        docs[1]["metadata"]["annotations"]["sealedsecrets.bitnami.com/cluster-wide"],
        "true"
    );
}

#[test]
fn failure_lines_name_the_problem_but_never_a_value() {
    let src = tempfile::tempdir().expect("tempdir");
    let dst = tempfile::tempdir().expect("tempdir");
    let s = src.path();
    write(
        s,
        "wrong-type.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: ns}\ndata: {k: 424242424242}\n",
    );
    write(
        s,
        "no-name.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {namespace: ns}\nstringData: {k: CANARY-noname}\n",
    );
    write(
        s,
        "empty.json",
        r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "e", "namespace": "ns"}}"#,
    );
    write(
        s,
        "not-json.json",
        "{\"kind\": \"Secret\", \"stringData\": {\"k\": \"CANARY-json\"",
    );
    let o = bulk_seal(s, dst.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(!err.contains("CANARY") && !err.contains("424242"), "{err}");
    for needle in [
        "wrong-type.yaml: document 1 is not a valid Secret: invalid type: integer",
        "no-name.yaml: document 1: missing metadata.name",
        "empty.json: document 1 (Secret \"e\"): secret.data is empty",
        "not-json.json: input is not valid JSON",
    ] {
        assert!(err.contains(needle), "{needle:?} missing in {err}");
    }
    assert_eq!(err.lines().filter(|l| l.starts_with("error: ")).count(), 4);
    assert!(summary(&o).starts_with("sealed 0 files (0 Secrets), 4 failed, 0 skipped"));
    assert!(files(dst.path()).is_empty());

    // --allow-empty-data lets the empty Secret through.
    let o = bulk_seal(s, dst.path(), &["--allow-empty-data"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(files(dst.path()), ["empty.json"]);
}

#[test]
fn dst_inside_src_is_not_read_back_and_src_as_dst_is_refused() {
    let src = tempfile::tempdir().expect("tempdir");
    let s = src.path();
    write(s, "a.yaml", &secret("a", Some("ns"), "k", "v"));
    let dst = s.join("sealed");
    for _ in 0..2 {
        let o = bulk_seal(s, &dst, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(summary(&o).starts_with("sealed 1 file (1 Secret), 0 failed, 0 skipped"));
    }
    assert_eq!(files(s), ["a.yaml", "sealed/a.yaml"]);

    let o = bulk_seal(s, &s.join("."), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("SRC_DIR and DST_DIR are the same directory"));
    assert_eq!(read(s, "a.yaml"), secret("a", Some("ns"), "k", "v"));

    // SRC inside DST: an output that would land on an input is refused.
    let root = tempfile::tempdir().expect("tempdir");
    write(
        root.path(),
        "p/x.yaml",
        &secret("x", Some("ns"), "k", "outer"),
    );
    write(
        root.path(),
        "p/p/x.yaml",
        &secret("x", Some("ns"), "k", "inner"),
    );
    let o = bulk_seal(&root.path().join("p"), root.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("would overwrite an input file"),
        "{}",
        stderr(&o)
    );
    assert!(read(root.path(), "p/x.yaml").contains("outer"));

    let o = bulk_seal(&s.join("missing"), &dst, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read SRC_DIR"), "{}", stderr(&o));
}

#[test]
fn without_cert_the_controller_is_needed_and_nothing_is_written() {
    let src = tempfile::tempdir().expect("tempdir");
    write(src.path(), "a.yaml", &secret("a", Some("ns"), "k", "v"));
    let out = tempfile::tempdir().expect("tempdir");
    let dst = out.path().join("dst");
    let o = kubeseal(
        &[
            "bulk",
            "seal",
            &src.path().display().to_string(),
            &dst.display().to_string(),
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: no kubeconfig found"),
        "{}",
        stderr(&o)
    );
    assert!(
        !dst.exists(),
        "DST_DIR is not created when nothing can be sealed"
    );
}

#[test]
fn usage_errors_exit_2_and_help_shows_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let cert = path_arg(&keys().cert());
    for args in [
        vec!["bulk"],
        vec!["bulk", "seal", &d],
        vec!["bulk", "seal", &d, &d, "--jobs", "0"],
        vec!["bulk", "seal", &d, &d, "--merge-into", "x"],
        vec!["--cert", &cert, "bulk", "seal", &d, &d],
        vec!["bulk", "re-encrypt"],
        vec!["bulk", "re-encrypt", &d, "--jobs", "0"],
        vec!["bulk", "re-encrypt", &d, &d],
        vec!["bulk", "re-encrypt", &d, "--cert", &cert],
    ] {
        let o = kubeseal(&args, b"");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    for (sub, example) in [
        (
            "seal",
            "kubeseal bulk seal --cert pub-cert.pem secrets/ sealed/",
        ),
        ("re-encrypt", "kubeseal bulk re-encrypt sealed/"),
    ] {
        let o = kubeseal(&["bulk", sub, "--help"], b"");
        assert!(o.status.success());
        let help = String::from_utf8(o.stdout).expect("UTF-8");
        assert!(help.contains(example), "{help}");
        assert!(help.contains("--jobs"), "{help}");
        assert!(help.contains("--kubeconfig"), "{help}");
    }
    let o = kubeseal(&["--help"], b"");
    assert!(String::from_utf8_lossy(&o.stdout).contains("bulk"));
}

#[test]
fn re_encrypt_argument_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.yaml");
    std::fs::write(&file, "a: 1\n").expect("write");
    let cases: [(&[&str], String); 4] = [
        (
            &[],
            format!(
                "error: cannot read DIR {}",
                dir.path().join("nope").display()
            ),
        ),
        (
            &[],
            format!("error: DIR {} is not a directory", file.display()),
        ),
        (&[], "error: no kubeconfig found".to_owned()),
        (
            &["-o", "toml"],
            "error: unsupported output format: toml".to_owned(),
        ),
    ];
    let targets = [
        dir.path().join("nope"),
        file.clone(),
        dir.path().to_path_buf(),
        dir.path().to_path_buf(),
    ];
    for ((extra, needle), target) in cases.iter().zip(&targets) {
        let target = target.display().to_string();
        let mut args = vec!["bulk", "re-encrypt", &target];
        args.extend_from_slice(extra);
        let o = kubeseal(&args, b"");
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).starts_with(needle.as_str()),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(o.stdout.is_empty());
    }
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "a: 1\n");
}

// ---------------------------------------------------------------------------------------------
// bulk re-encrypt against a fake API server: the Service lookup and the Service proxy's
// /v1/rotate, which marks each value as rotated (or answers 409 for a SealedSecret named
// "undecryptable", as the controller does for one it cannot open).

struct FakeApiServer {
    url: String,
    rotations: Arc<AtomicUsize>,
}

fn fake_api_server() -> FakeApiServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let rotations = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&rotations);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || serve_connection(stream, &counter));
        }
    });
    FakeApiServer { url, rotations }
}

fn serve_connection(stream: TcpStream, rotations: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, answer) = answer(method, path, &body, rotations);
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(
    method: &str,
    path: &str,
    body: &[u8],
    rotations: &AtomicUsize,
) -> (&'static str, String) {
    let service = "/api/v1/namespaces/kube-system/services/sealed-secrets-controller";
    let rotate =
        "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/rotate";
    match (method, path) {
        ("GET", p) if p == service => (
            "200 OK",
            serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "sealed-secrets-controller", "namespace": "kube-system"},
                "spec": {"ports": [{"name": "http", "port": 8080}]}
            })
            .to_string(),
        ),
        ("POST", p) if p == rotate => {
            let mut sealed: serde_json::Value = serde_json::from_slice(body).expect("JSON body");
            if sealed["metadata"]["name"] == "undecryptable" {
                return ("409 Conflict", "{}".to_owned());
            }
            rotations.fetch_add(1, Ordering::SeqCst);
            if let Some(data) = sealed["spec"]["encryptedData"].as_object_mut() {
                for v in data.values_mut() {
                    *v = format!("rotated-{}", v.as_str().unwrap_or_default()).into();
                }
            }
            // What the controller's copy carries from the API server (dropped by kubeseal).
            sealed["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z".into();
            sealed["metadata"]["generation"] = 7.into();
            ("200 OK", sealed.to_string())
        }
        _ => ("404 Not Found", "{}".to_owned()),
    }
}

fn sealed_yaml(name: &str) -> String {
    format!("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: {name}\n  namespace: ns\nspec:\n  encryptedData:\n    k: AgAAold\n  template:\n    metadata:\n      name: {name}\n      namespace: ns\n")
}

#[test]
fn re_encrypt_rewrites_each_sealed_secret_in_place_and_keeps_the_rest() {
    let server = fake_api_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let kubeconfig = d.join(".kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: fake, user: u}}\ncurrent-context: c\n", server.url),
    )
    .expect("write kubeconfig");
    let config_map = "# keep this comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ns}\n";
    write(
        d,
        "app/mixed.yaml",
        &format!("{config_map}---\n{}", sealed_yaml("one")),
    );
    write(
        d,
        "app/deep/two.json",
        &serde_json::to_string_pretty(&documents(&sealed_yaml("two"))[0]).expect("json"),
    );
    write(d, "plain.yaml", config_map);
    let stuck = format!(
        "{}---\n{}",
        sealed_yaml("three"),
        sealed_yaml("undecryptable")
    );
    write(d, "stuck.yaml", &stuck);

    let kc = kubeconfig.display().to_string();
    let target = d.display().to_string();
    let o = kubeseal(&["bulk", "re-encrypt", "--kubeconfig", &kc, &target], b"");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "error: {}: document 2 (SealedSecret \"ns/undecryptable\"): the controller cannot decrypt it",
            d.join("stuck.yaml").display()
        )),
        "{err}"
    );
    assert!(err.contains("skipped (no SealedSecret): "), "{err}");
    assert!(
        summary(&o).starts_with("re-encrypted 2 files (2 SealedSecrets), 1 failed, 1 skipped in "),
        "{err}"
    );
    assert_eq!(server.rotations.load(Ordering::SeqCst), 3);

    let mixed = read(d, "app/mixed.yaml");
    assert!(mixed.starts_with(&format!("{config_map}---\n")), "{mixed}");
    let docs = documents(&mixed);
    assert_eq!(kinds(&docs), ["ConfigMap", "SealedSecret"]);
    assert_eq!(docs[1]["spec"]["encryptedData"]["k"], "rotated-AgAAold");
    assert!(docs[1]["metadata"]["creationTimestamp"].is_null());
    assert!(docs[1]["metadata"].get("generation").is_none());
    let two = read(d, "app/deep/two.json");
    assert!(
        two.starts_with("{\n  \"kind\": \"SealedSecret\""),
        "stays JSON: {two}"
    );
    assert_eq!(
        documents(&two)[0]["spec"]["encryptedData"]["k"],
        "rotated-AgAAold"
    );
    assert_eq!(
        read(d, "plain.yaml"),
        config_map,
        "no SealedSecret: untouched"
    );
    assert_eq!(
        read(d, "stuck.yaml"),
        stuck,
        "a failed file is left as it was"
    );
}
