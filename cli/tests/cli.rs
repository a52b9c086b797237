//! `kubeseal` as a user runs it: output shape, modes, and every bad input (message, exit code,
//! nothing written).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub mod offline_support;

use offline_support::{assert_fails, assert_ok, kubeseal, kubeseal_env, stderr, stdout};

/// A 2048-bit key and certificate made once per test binary with the openssl CLI.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
    fn other_key(&self) -> PathBuf {
        self.dir.path().join("other.pem")
    }
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stderr(Stdio::null())
                .status()
                .expect("the openssl CLI is needed to make test keys");
            assert!(status.success(), "openssl {args:?} failed");
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=sealed-secret/O=sealed-secret",
        ]);
        run(&["genrsa", "-traditional", "-out", "other.pem", "2048"]);
        run(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "other.pem",
            "-out",
            "other-cert.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=other",
        ]);
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ec.key",
            "-out",
            "ec.pem",
            "-days",
            "30",
            "-subj",
            "/CN=ec",
        ]);
        Keys { dir }
    })
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const SECRET: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: mysecret
  namespace: myns
  uid: 0b6d1d2e-5f1a-4d5e-9c1b-1f0e0a0b0c0d
  resourceVersion: "42"
  creationTimestamp: "2024-01-01T00:00:00Z"
  labels:
    app: web
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"stringData":{"password":"CANARY-PLAINTEXT"}}'
    team: payments
  managedFields:
  - manager: kubectl
    operation: Apply
type: Opaque
data:
  username: YWRtaW4=
stringData:
  password: CANARY-PLAINTEXT
"#;

const SECRET_WITHOUT_NAMESPACE: &str =
    "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: YQ==}\n";

fn cert_arg() -> String {
    keys().cert().display().to_string()
}

fn recovery_unseal(sealed: &[u8], key: &Path) -> Output {
    kubeseal(
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            &key.display().to_string(),
            "-o",
            "json",
        ],
        sealed,
    )
}

/// The data of the unsealed Secret(s) printed by --recovery-unseal (JSON stream).
fn unsealed_data(o: &Output) -> Vec<serde_json::Value> {
    assert_ok(o);
    serde_json::Deserializer::from_slice(&o.stdout)
        .into_iter::<serde_json::Value>()
        .map(|v| v.expect("JSON")["data"].clone())
        .collect()
}

#[test]
fn json_output_has_the_go_shape_and_no_plaintext() {
    let o = kubeseal(&["--cert", &cert_arg()], SECRET.as_bytes());
    assert_ok(&o);
    let text = stdout(&o);
    assert!(!text.contains("CANARY"), "plaintext leaked: {text}");
    assert!(text.ends_with("}\n"));
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    // Field order as Go prints it.
    let order = [
        "\"kind\": \"SealedSecret\"",
        "\"apiVersion\": \"bitnami.com/v1alpha1\"",
        "\"metadata\"",
        "\"name\": \"mysecret\"",
        "\"namespace\": \"myns\"",
        "\"creationTimestamp\": null",
        "\"spec\"",
        "\"template\"",
        "\"labels\"",
        "\"annotations\"",
        "\"type\": \"Opaque\"",
        "\"encryptedData\"",
        "\"password\"",
        "\"username\"",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|needle| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle} missing in {text}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "field order differs from Go's: {text}"
    );
    let tmeta = &v["spec"]["template"]["metadata"];
    assert_eq!(
        tmeta["annotations"],
        serde_json::json!({"team": "payments"})
    );
    assert_eq!(tmeta["labels"], serde_json::json!({"app": "web"}));
    for server_field in ["uid", "resourceVersion", "managedFields"] {
        assert!(tmeta.get(server_field).is_none(), "{server_field} kept");
    }
    assert!(tmeta["creationTimestamp"].is_null());
    assert_eq!(
        v["metadata"].as_object().map(|m| m.len()),
        Some(3),
        "top-level metadata: name, namespace, creationTimestamp"
    );
    let data = unsealed_data(&recovery_unseal(text.as_bytes(), &keys().key()));
    assert_eq!(
        data[0],
        serde_json::json!({"password": "Q0FOQVJZLVBMQUlOVEVYVA==", "username": "YWRtaW4="})
    );
}

#[test]
fn yaml_output_is_sorted_with_a_leading_separator() {
    let o = kubeseal(
        &[
            "--cert",
            &cert_arg(),
            "-o",
            "yaml",
            "--scope",
            "namespace-wide",
        ],
        SECRET.as_bytes(),
    );
    assert_ok(&o);
    let text = stdout(&o);
    assert!(text.starts_with("---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n  creationTimestamp: null\n  name: mysecret\n  namespace: myns\nspec:\n  encryptedData:\n    password: AQ"), "got:\n{text}");
    assert!(text.contains("\n  template:\n    metadata:\n      annotations:\n        sealedsecrets.bitnami.com/namespace-wide: \"true\"\n        team: payments\n      creationTimestamp: null\n      labels:\n        app: web\n      name: mysecret\n      namespace: myns\n    type: Opaque\n"), "got:\n{text}");
}

#[test]
fn many_secrets_in_yaml_or_json_give_one_sealed_secret_each_in_order() {
    let yaml = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: ns}\ndata: {k: YQ==}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b, namespace: ns}\nstringData: {k: b}\n---\n";
    let json = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"ns"},"data":{"k":"YQ=="}}
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b","namespace":"ns"},"stringData":{"k":"b"}}"#;
    for (input, format) in [(yaml, "yaml"), (json, "json"), (yaml, "json")] {
        let o = kubeseal(&["--cert", &cert_arg(), "-o", format], input.as_bytes());
        assert_ok(&o);
        let text = stdout(&o);
        let a = text
            .find("name: a")
            .or_else(|| text.find("\"name\": \"a\""));
        let b = text
            .find("name: b")
            .or_else(|| text.find("\"name\": \"b\""));
        assert!(a.is_some() && a < b, "order kept: {text}");
        if format == "yaml" {
            assert_eq!(text.matches("---\n").count(), 2);
        }
        // Unseal each document separately.
        let docs: Vec<String> = if format == "yaml" {
            text.split("---\n")
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect()
        } else {
            serde_json::Deserializer::from_str(&text)
                .into_iter::<serde_json::Value>()
                .map(|v| v.expect("json").to_string())
                .collect()
        };
        assert_eq!(docs.len(), 2);
        let values: Vec<_> = docs
            .iter()
            .map(|d| unsealed_data(&recovery_unseal(d.as_bytes(), &keys().key()))[0]["k"].clone())
            .collect();
        assert_eq!(values, ["YQ==", "Yg=="]);
    }
}

#[test]
fn namespace_comes_from_metadata_then_flag_then_kubeconfig() {
    let no_ns = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: YQ==}\n";
    let cert = cert_arg();
    let o = kubeseal(&["--cert", &cert, "-n", "fromflag"], no_ns.as_bytes());
    assert_ok(&o);
    assert!(stdout(&o).contains("\"namespace\": \"fromflag\""));

    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("config");
    std::fs::write(&kc, "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: x, namespace: fromctx}\n- name: d\n  context: {cluster: x}\n").expect("write kubeconfig");
    let kc = kc.display().to_string();
    let o = kubeseal_env(&["--cert", &cert], no_ns.as_bytes(), &[("KUBECONFIG", &kc)]);
    assert_ok(&o);
    assert!(stdout(&o).contains("\"namespace\": \"fromctx\""));
    let o = kubeseal_env(
        &["--cert", &cert, "--context", "d"],
        no_ns.as_bytes(),
        &[("KUBECONFIG", &kc)],
    );
    assert!(
        stdout(&o).contains("\"namespace\": \"default\""),
        "context without namespace means default"
    );

    // A stale context does not matter when no namespace is needed (cluster-wide).
    let o = kubeseal_env(
        &[
            "--cert",
            &cert,
            "--context",
            "typo",
            "--scope",
            "cluster-wide",
        ],
        no_ns.as_bytes(),
        &[("KUBECONFIG", &kc)],
    );
    assert_ok(&o);
    // A context that does not exist is an error, never a silent "default".
    let o = kubeseal_env(
        &["--cert", &cert, "--context", "typo"],
        no_ns.as_bytes(),
        &[("KUBECONFIG", &kc)],
    );
    assert_fails(&o, "context was not found for specified context: typo");
    // SEALED_SECRETS_NAMESPACE sets -n, as every SEALED_SECRETS_<FLAG> sets its flag.
    let o = kubeseal_env(
        &["--cert", &cert],
        no_ns.as_bytes(),
        &[("SEALED_SECRETS_NAMESPACE", "fromenv")],
    );
    assert_ok(&o);
    assert!(stdout(&o).contains("\"namespace\": \"fromenv\""));

    let o = kubeseal(&["--cert", &cert], no_ns.as_bytes());
    assert_fails(&o, "input secret has no namespace");
    // Cluster-wide Secrets need no namespace.
    let o = kubeseal(
        &["--cert", &cert, "--scope", "cluster-wide"],
        no_ns.as_bytes(),
    );
    assert_ok(&o);
}

#[test]
fn bad_inputs_fail_with_one_line_naming_the_problem() {
    let cert = cert_arg();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &[],
            "kind: Secret\nmetadata: {name: [unclosed\n",
            "input is not valid YAML",
        ),
        (&[], "{\"kind\": \"Secret\",", "input is not valid JSON"),
        (
            &[],
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\ndata: {a: b}\n",
            "document 1 is not a Secret (kind \"ConfigMap\")",
        ),
        (
            &[],
            "apiVersion: v1\nkind: Secret\nmetadata: {namespace: n}\ndata: {a: YQ==}\n",
            "missing metadata.name",
        ),
        (
            &[],
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\n",
            "secret.data is empty in input Secret \"s\"",
        ),
        (
            &[],
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\ndata: {a: 12345}\n",
            "document 1 is not a valid Secret",
        ),
        (&[], "", "no Secret found in stdin"),
        (&["--scope", "wide"], SECRET, "unknown scope \"wide\""),
        (&["-o", "toml"], SECRET, "unsupported output format: toml"),
        (
            &["--raw", "--namespace", "n"],
            "",
            "must provide the --name flag with --raw and --scope strict",
        ),
        (
            &["--raw", "--name", "s"],
            "x",
            "must provide the --namespace flag with --raw and --scope strict",
        ),
        (
            &["--raw", "--name", "s", "-n", "n"],
            "",
            "--raw read an empty value from stdin",
        ),
        (
            &[
                "--raw",
                "--name",
                "s",
                "-n",
                "n",
                "--from-file",
                "a",
                "--from-file",
                "b",
            ],
            "",
            "must provide only one --from-file",
        ),
        (
            &["--from-file", "x=y"],
            "",
            "--from-file requires --raw, or --name",
        ),
    ];
    for (args, input, needle) in cases {
        let mut all = vec!["--cert", cert.as_str()];
        all.extend_from_slice(args);
        let o = kubeseal(&all, input.as_bytes());
        assert_fails(&o, needle);
        assert!(
            !stderr(&o).contains("12345"),
            "a value leaked into the error"
        );
    }
    // Empty data is fine when allowed.
    let o = kubeseal(
        &["--cert", &cert, "--allow-empty-data"],
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\n",
    );
    assert_ok(&o);
    assert!(stdout(&o).contains("\"encryptedData\": {}"));
}

#[test]
fn bad_certificates_are_refused_and_expired_ones_warned_about() {
    let k = keys();
    let not_pem = k.dir.path().join("secret.yaml");
    std::fs::write(&not_pem, SECRET).expect("write");
    let o = kubeseal(
        &["--cert", &not_pem.display().to_string()],
        SECRET.as_bytes(),
    );
    assert_fails(&o, "no PEM data found in certificate");
    let ec = k.dir.path().join("ec.pem").display().to_string();
    assert_fails(
        &kubeseal(&["--cert", &ec], SECRET.as_bytes()),
        "not an RSA key",
    );
    assert_fails(
        &kubeseal(&["--cert", "/nonexistent/cert.pem"], SECRET.as_bytes()),
        "cannot read certificate: open /nonexistent/cert.pem: no such file or directory",
    );

    let expired = fixture("expired-cert.pem").display().to_string();
    let o = kubeseal(&["--cert", &expired], SECRET.as_bytes());
    assert_ok(&o);
    assert!(
        stderr(&o).contains("warning: certificate") && stderr(&o).contains("expired on 2021-01-01"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn cluster_modes_without_a_cluster_fail_clearly() {
    let sealed = kubeseal(&["--cert", &cert_arg()], SECRET.as_bytes()).stdout;
    for args in [
        vec!["--fetch-cert"],
        vec![],
        vec!["--validate"],
        vec!["--re-encrypt"],
        vec!["--rotate"],
    ] {
        let input = if args.len() == 1 && args[0] != "--fetch-cert" {
            sealed.as_slice()
        } else {
            SECRET.as_bytes()
        };
        let o = kubeseal(&args, input);
        assert_fails(
            &o,
            "no kubeconfig found (set --kubeconfig or $KUBECONFIG, or pass --cert)",
        );
    }
    // A kubeconfig pointing at nothing: a bounded, one-line failure naming the controller.
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("config");
    std::fs::write(&kc, "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: x, user: u}\nclusters:\n- name: x\n  cluster: {server: \"https://127.0.0.1:1\"}\nusers:\n- name: u\n  user: {token: t}\n").expect("write");
    let o = kubeseal(
        &["--kubeconfig", &kc.display().to_string(), "--fetch-cert"],
        b"",
    );
    assert_fails(
        &o,
        "cannot get sealed secret service kube-system/sealed-secrets-controller",
    );
}

#[test]
fn raw_mode_prints_bare_base64_for_each_scope() {
    let cert = cert_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let value = dir.path().join("value");
    std::fs::write(&value, b"s3cr3t\n").expect("write");
    let from = format!("k={}", value.display());
    for (scope, name, ns) in [
        ("strict", "n1", "ns1"),
        ("namespace-wide", "", "ns1"),
        ("cluster-wide", "", ""),
    ] {
        let mut args = vec![
            "--cert",
            cert.as_str(),
            "--raw",
            "--scope",
            scope,
            "--from-file",
            from.as_str(),
        ];
        if !name.is_empty() {
            args.extend(["--name", name]);
        }
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        let o = kubeseal(&args, b"");
        assert_ok(&o);
        let ct = stdout(&o);
        assert!(
            !ct.ends_with('\n') && ct.starts_with("AQ"),
            "bare base64 for a 2048-bit key: {ct:?}"
        );
        // Wrap it into a SealedSecret and unseal it (namespace/name must match the label).
        let annotations = match scope {
            "namespace-wide" => {
                "  annotations: {sealedsecrets.bitnami.com/namespace-wide: \"true\"}\n"
            }
            "cluster-wide" => "  annotations: {sealedsecrets.bitnami.com/cluster-wide: \"true\"}\n",
            _ => "",
        };
        let sealed = format!("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: {}\n  namespace: {}\n{annotations}spec:\n  encryptedData:\n    k: {ct}\n", if name.is_empty() { "any" } else { name }, if ns.is_empty() { "other" } else { ns });
        let data = unsealed_data(&recovery_unseal(sealed.as_bytes(), &keys().key()));
        assert_eq!(
            data[0]["k"], "czNjcjN0Cg==",
            "{scope}: the trailing newline is kept"
        );
    }
    // Stdin works too.
    let o = kubeseal(
        &["--cert", &cert, "--raw", "--name", "n", "-n", "ns"],
        b"from-stdin",
    );
    assert_ok(&o);
}

/// Flag syntax a script written for the Go `kubeseal` uses: a repeated flag keeps its last
/// value, booleans take `=true`/`=1`/`=f`, klog's `-v 2` is accepted, durations are Go's.
#[test]
fn go_flag_syntax_is_accepted() {
    let cert = cert_arg();
    let o = kubeseal(
        &[
            "--cert", &cert, "-o", "yaml", "-o", "json", "-n", "a", "-n", "b",
        ],
        SECRET_WITHOUT_NAMESPACE.as_bytes(),
    );
    assert_ok(&o);
    assert!(stdout(&o).starts_with("{"), "the last -o wins");
    assert!(
        stdout(&o).contains("\"namespace\": \"b\""),
        "the last -n wins"
    );

    for raw in ["--raw=true", "--raw=1", "--raw=T"] {
        let o = kubeseal(
            &["--cert", &cert, raw, "--name", "s", "-n", "ns", "-v", "2"],
            b"value",
        );
        assert_ok(&o);
        assert!(!stdout(&o).contains('{'), "{raw} seals a raw value");
    }
    let o = kubeseal(
        &[
            "--cert",
            &cert,
            "--raw=false",
            "-n",
            "ns",
            "--request-timeout",
            "1m30s",
        ],
        SECRET_WITHOUT_NAMESPACE.as_bytes(),
    );
    assert_ok(&o);
    assert!(
        stdout(&o).contains("SealedSecret"),
        "--raw=false seals a Secret"
    );
    let o = kubeseal_env(
        &["--cert", &cert, "-n", "ns"],
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: e}\n",
        &[("SEALED_SECRETS_ALLOW_EMPTY_DATA", "1")],
    );
    assert_ok(&o);
    let o = kubeseal(&["--cert", &cert, "--raw=maybe"], b"x");
    assert_eq!(o.status.code(), Some(2), "a bad boolean is a usage error");
    assert!(stderr(&o).contains("maybe"), "{}", stderr(&o));

    // A variable that is set but empty counts as unset (CI templating leaves many).
    let o = kubeseal_env(
        &["--cert", &cert, "-n", "ns"],
        SECRET_WITHOUT_NAMESPACE.as_bytes(),
        &[
            ("SEALED_SECRETS_RAW", ""),
            ("SEALED_SECRETS_SECRET_FILE", ""),
            ("SEALED_SECRETS_FORMAT", ""),
        ],
    );
    assert_ok(&o);
    // --help names the variables, never their values.
    let o = kubeseal_env(
        &["--help"],
        b"",
        &[("SEALED_SECRETS_TOKEN", "s3cr3t-token")],
    );
    assert_ok(&o);
    assert!(stdout(&o).contains("SEALED_SECRETS_TOKEN"));
    assert!(!stdout(&o).contains("s3cr3t-token"), "help printed a token");
}

#[test]
fn sealed_file_is_written_atomically_and_its_extension_picks_yaml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sealed.yaml");
    let out_arg = out.display().to_string();
    let o = kubeseal(&["--cert", &cert_arg(), "-w", &out_arg], SECRET.as_bytes());
    assert_ok(&o);
    assert!(o.stdout.is_empty());
    let written = std::fs::read_to_string(&out).expect("written");
    assert!(written.starts_with("---\napiVersion: bitnami.com/v1alpha1\n"));
    // As the original, the extension wins over -o.
    let o = kubeseal(
        &["--cert", &cert_arg(), "-o", "json", "-w", &out_arg],
        SECRET.as_bytes(),
    );
    assert_ok(&o);
    let written = std::fs::read_to_string(&out).expect("written");
    assert!(written.starts_with("---\napiVersion: bitnami.com/v1alpha1\n"));
    // A failing run leaves the existing file untouched and no temp files behind.
    let o = kubeseal(
        &["--cert", &cert_arg(), "-w", &out_arg],
        b"kind: ConfigMap\n",
    );
    assert_fails(&o, "not a Secret");
    assert_eq!(std::fs::read_to_string(&out).expect("still there"), written);
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        1,
        "no temp files left"
    );
}

#[test]
fn merge_into_adds_values_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sealed.yaml");
    let o = kubeseal(&["--cert", &cert_arg(), "-o", "yaml"], SECRET.as_bytes());
    assert_ok(&o);
    std::fs::write(&file, &o.stdout).expect("write");
    let before: serde_yaml::Value = serde_yaml::from_slice(&o.stdout).expect("yaml");

    let update = "apiVersion: v1\nkind: Secret\nmetadata: {name: ignored, labels: {tier: db}}\nstringData: {token: t0k3n}\n";
    let o = kubeseal(
        &[
            "--cert",
            &cert_arg(),
            "--merge-into",
            &file.display().to_string(),
        ],
        update.as_bytes(),
    );
    assert_ok(&o);
    assert!(o.stdout.is_empty(), "--merge-into prints nothing");
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.starts_with("---\n"), "the YAML file stays YAML");
    let after: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    assert_eq!(after["metadata"], before["metadata"]);
    assert_eq!(
        after["spec"]["encryptedData"]["password"],
        before["spec"]["encryptedData"]["password"]
    );
    assert_eq!(
        after["spec"]["template"]["metadata"]["labels"]["tier"],
        "db"
    );
    assert_eq!(
        after["spec"]["template"]["metadata"]["labels"]["app"],
        "web"
    );
    let data = unsealed_data(&recovery_unseal(text.as_bytes(), &keys().key()));
    assert_eq!(
        data[0]["token"], "dDBrM24=",
        "sealed under the file's name and namespace"
    );
    assert_eq!(data[0]["username"], "YWRtaW4=");

    // Not a SealedSecret: refused, file untouched.
    let not_sealed = dir.path().join("plain.yaml");
    std::fs::write(&not_sealed, SECRET).expect("write");
    let o = kubeseal(
        &[
            "--cert",
            &cert_arg(),
            "--merge-into",
            &not_sealed.display().to_string(),
        ],
        update.as_bytes(),
    );
    assert_fails(&o, "is not a SealedSecret");
    assert_eq!(std::fs::read_to_string(&not_sealed).expect("read"), SECRET);
}

#[test]
fn recovery_unseal_reports_why_values_do_not_open() {
    let o = kubeseal(&["--cert", &cert_arg()], SECRET.as_bytes());
    assert_ok(&o);
    let sealed = stdout(&o);
    let k = keys();
    let o = recovery_unseal(sealed.as_bytes(), &k.other_key());
    assert_fails(&o, "no key could decrypt secret (password, username)");

    // Moved to another namespace: the strict label no longer matches.
    let moved = sealed.replace("\"namespace\": \"myns\"", "\"namespace\": \"elsewhere\"");
    assert_fails(
        &recovery_unseal(moved.as_bytes(), &k.key()),
        "no key could decrypt secret",
    );

    let mut v: serde_json::Value = serde_json::from_str(&sealed).expect("json");
    v["spec"]["encryptedData"]["password"] = "not base64!".into();
    assert_fails(
        &recovery_unseal(v.to_string().as_bytes(), &k.key()),
        "sealed value is not valid base64 (password)",
    );
    v["spec"]["encryptedData"]["password"] = "AgA=".into();
    assert_fails(
        &recovery_unseal(v.to_string().as_bytes(), &k.key()),
        "ciphertext is truncated (2 bytes) (password)",
    );
    assert_fails(
        &recovery_unseal(SECRET.as_bytes(), &k.key()),
        "is not a SealedSecret",
    );
    assert_fails(
        &kubeseal(&["--recovery-unseal"], sealed.as_bytes()),
        "--recovery-unseal requires --recovery-private-key",
    );
    assert_fails(
        &kubeseal(
            &["--recovery-unseal", "--recovery-private-key", &cert_arg()],
            sealed.as_bytes(),
        ),
        "cannot use private key",
    );
}

#[test]
fn recovery_keys_can_be_comma_separated_or_repeated_and_be_backups() {
    let o = kubeseal(&["--cert", &cert_arg()], SECRET.as_bytes());
    let sealed = o.stdout;
    let k = keys();
    let pem = std::fs::read(k.key()).expect("key");
    let b64 = base64_encode(&pem);
    let backup = k.dir.path().join("backup.yaml");
    std::fs::write(&backup, format!("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: sealed-secrets-keyab12c\n    namespace: kube-system\n    labels: {{sealedsecrets.bitnami.com/sealed-secrets-key: active}}\n  type: kubernetes.io/tls\n  data:\n    tls.crt: \"\"\n    tls.key: {b64}\n")).expect("write");
    let backup_json = k.dir.path().join("backup.json");
    std::fs::write(&backup_json, format!("{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{{\"name\":\"k\"}},\"type\":\"kubernetes.io/tls\",\"data\":{{\"tls.key\":\"{b64}\"}}}}")).expect("write");
    let other = k.other_key().display().to_string();
    for keyspec in [
        vec![
            "--recovery-private-key".to_owned(),
            format!("{other},{}", backup.display()),
        ],
        vec![
            "--recovery-private-key".to_owned(),
            other.clone(),
            "--recovery-private-key".to_owned(),
            backup_json.display().to_string(),
        ],
    ] {
        let mut args = vec!["--recovery-unseal", "-o", "json"];
        args.extend(keyspec.iter().map(String::as_str));
        let data = unsealed_data(&kubeseal(&args, &sealed));
        assert_eq!(data[0]["username"], "YWRtaW4=", "{keyspec:?}");
    }
    // The owner reference in Go's field order (apiVersion, kind, name, uid, controller).
    let o = recovery_unseal(&sealed, &k.key());
    assert_ok(&o);
    let text = stdout(&o);
    let refs = &text[text
        .find("\"ownerReferences\"")
        .expect("an owner reference")..];
    let at = |key: &str| refs.find(&format!("\"{key}\"")).expect(key);
    let order = ["apiVersion", "kind", "name", "uid", "controller"].map(at);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{refs}");
}

#[test]
fn cert_can_come_from_an_http_url() {
    let pem = std::fs::read(keys().cert()).expect("cert");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        for (i, stream) in listener.incoming().take(2).enumerate() {
            let mut stream = stream.expect("conn");
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let reply = if i == 0 {
                let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", pem.len()).into_bytes();
                r.extend_from_slice(&pem);
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            stream.write_all(&reply).expect("reply");
        }
    });
    let url = format!("http://{addr}/v1/cert.pem");
    let o = kubeseal(&["--cert", &url], SECRET.as_bytes());
    assert_ok(&o);
    let data = unsealed_data(&recovery_unseal(&o.stdout, &keys().key()));
    assert_eq!(data[0]["username"], "YWRtaW4=");
    assert_fails(&kubeseal(&["--cert", &url], SECRET.as_bytes()), "404");
    server.join().expect("server");
}

#[test]
fn fetch_cert_with_a_cert_source_prints_it() {
    let o = kubeseal(&["--cert", &cert_arg(), "--fetch-cert"], b"");
    assert_ok(&o);
    assert_eq!(o.stdout, std::fs::read(keys().cert()).expect("cert"));
}

#[test]
fn from_file_without_raw_builds_a_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("config.json");
    std::fs::write(&f, b"{\"a\":1}").expect("write");
    let o = kubeseal(
        &[
            "--cert",
            &cert_arg(),
            "--name",
            "app",
            "-n",
            "ns",
            "--from-file",
            &f.display().to_string(),
        ],
        b"",
    );
    assert_ok(&o);
    let data = unsealed_data(&recovery_unseal(&o.stdout, &keys().key()));
    assert_eq!(data[0]["config.json"], "eyJhIjoxfQ==");
}

#[test]
fn several_certs_seal_the_same_input_for_each_cluster() {
    let k = keys();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir
        .path()
        .join("sealed/{cluster}/db.yaml")
        .display()
        .to_string();
    let prod = format!("prod={}", k.cert().display());
    let stag = format!("stag={}", k.dir.path().join("other-cert.pem").display());
    let o = kubeseal(
        &["--cert", &prod, "--cert", &stag, "-w", &out],
        SECRET.as_bytes(),
    );
    assert_ok(&o);
    let prod_file = std::fs::read(dir.path().join("sealed/prod/db.yaml")).expect("prod file");
    let stag_file = std::fs::read(dir.path().join("sealed/stag/db.yaml")).expect("stag file");
    assert!(prod_file.starts_with(b"---\n"), "a .yaml target is YAML");
    assert_eq!(
        unsealed_data(&recovery_unseal(&prod_file, &k.key()))[0]["username"],
        "YWRtaW4="
    );
    assert_eq!(
        unsealed_data(&recovery_unseal(&stag_file, &k.other_key()))[0]["username"],
        "YWRtaW4="
    );
    assert_fails(
        &recovery_unseal(&stag_file, &k.key()),
        "no key could decrypt secret",
    );

    let o = kubeseal(&["--cert", &prod, "--cert", &stag], SECRET.as_bytes());
    assert_fails(&o, "need -w with a {cluster} placeholder");
    let o = kubeseal(
        &[
            "--cert",
            &prod,
            "--cert",
            &k.cert().display().to_string(),
            "-w",
            &out,
        ],
        SECRET.as_bytes(),
    );
    assert_fails(&o, "each must be NAME=FILE|URL");
}

#[test]
fn version_help_and_completions() {
    let o = kubeseal(&["--version"], b"");
    assert_ok(&o);
    assert_eq!(
        stdout(&o),
        format!("kubeseal version: v{}\n", env!("CARGO_PKG_VERSION"))
    );
    let o = kubeseal(&["--help"], b"");
    assert_ok(&o);
    for flag in [
        "--cert",
        "--scope",
        "--raw",
        "--merge-into",
        "--recovery-unseal",
        "--sealed-secret-file",
        "--controller-namespace",
    ] {
        assert!(stdout(&o).contains(flag), "{flag} missing from --help");
    }
    for shell in ["bash", "zsh", "fish"] {
        let o = kubeseal(&["completion", shell], b"");
        assert_ok(&o);
        assert!(
            stdout(&o).contains("recovery-private-key"),
            "{shell} completion lacks flags"
        );
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
