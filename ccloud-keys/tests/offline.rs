//! One-shot sealing on the real control plane: every credential kind sealed with `ccloud-keys`
//! unseals (by our controller, and by an independent implementation) to exactly the Secret the
//! operators would have written with kubectl. Plus every bad input: a one-line error, exit 1,
//! nothing written, no secret echoed.

pub mod support;

use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use support::{ccloud_keys, data_b64, git, oracle_unseal, run, wait_secret, Env};

const API_SECRET: &str = "Zx9+abc/SECRETvalue0123456789";

/// One credential kind: how ccloud-keys is called, and how the operator writes the same Secret.
struct Case {
    name: &'static str,
    args: Vec<String>,
    stdin: String,
    env: Vec<(&'static str, String)>,
    kubectl_create: Vec<String>,
    labels: Vec<&'static str>,
}

fn cases(dir: &Path) -> Vec<Case> {
    let env_file = dir.join("mysql.env");
    std::fs::write(
        &env_file,
        "# connect-operator\nMYSQL_CONNECTION_USER=orders\nMYSQL_CONNECTION_PASSWORD=p4ss word!\nMYSQL_ROOT_PASSWORD=r00t\n",
    )
    .expect("env file");
    let keyfile = dir.join("bq.json");
    std::fs::write(
        &keyfile,
        "{\n  \"type\": \"service_account\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n\"\n}\n",
    )
    .expect("key file");
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let json = format!(r#"{{"key":"ABCDEFGHIJKLMNOP","secret":"{API_SECRET}"}}"#);
    vec![
        Case {
            name: "cc.api-key.orders-app.lkc-9z8y",
            args: s(&[
                "api-key", "--service-account", "orders-app", "--service-account-id", "sa-1x2y",
                "--resource-id", "lkc-9z8y", "--key", "ABCDEFGHIJKLMNOP",
            ]),
            stdin: format!("{API_SECRET}\n"),
            env: vec![],
            kubectl_create: vec![format!("--from-literal=ccloud-api-key={json}")],
            labels: vec![
                "resource_id=lkc-9z8y", "service_accont=orders-app",
                "service_account_id=sa-1x2y", "key=ABCDEFGHIJKLMNOP", "category=kafka",
            ],
        },
        Case {
            name: "cc.api-key.orders-app.lsrc-77q",
            args: s(&[
                "api-key", "--service-account", "orders-app", "--service-account-id", "sa-1x2y",
                "--resource-id", "lsrc-77q", "--key", "SRKEY000000000001", "--secret-env",
                "SR_SECRET",
            ]),
            stdin: String::new(),
            env: vec![("SR_SECRET", "sr-Secret/42".to_owned())],
            kubectl_create: vec![
                r#"--from-literal=ccloud-api-key={"key":"SRKEY000000000001","secret":"sr-Secret/42"}"#
                    .to_owned(),
            ],
            labels: vec![
                "resource_id=lsrc-77q", "service_accont=orders-app",
                "service_account_id=sa-1x2y", "key=SRKEY000000000001",
                "category=schema-registry",
            ],
        },
        Case {
            name: "cc.sasl-jaas-config.orders-app.dev.lkc-9z8y",
            args: s(&[
                "sasl-jaas-config", "--service-account", "orders-app", "--environment", "dev",
                "--kafka-cluster", "lkc-9z8y", "--key", "ABCDEFGHIJKLMNOP",
            ]),
            stdin: API_SECRET.to_owned(),
            env: vec![],
            kubectl_create: vec![format!(
                "--from-literal=sasl-jaas-config.properties=sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"ABCDEFGHIJKLMNOP\" password=\"{API_SECRET}\";"
            )],
            labels: vec![],
        },
        Case {
            name: "cc.schema-registry-basic-auth-user-info.orders-app.dev",
            args: s(&[
                "schema-registry-auth", "--service-account", "orders-app", "--environment", "dev",
                "--key", "SRKEY000000000001",
            ]),
            stdin: "sr-Secret/42\n".to_owned(),
            env: vec![],
            kubectl_create: s(&[
                "--from-literal=schema-registry-basic-auth-user-info.properties=schema.registry.basic.auth.user.info=SRKEY000000000001:sr-Secret/42",
            ]),
            labels: vec![],
        },
        Case {
            name: "cc.bootstrap-servers.dev.lkc-9z8y",
            args: s(&[
                "bootstrap-servers", "--environment", "dev", "--kafka-cluster", "lkc-9z8y",
                "--servers", "pkc-4r297.europe-west1.gcp.confluent.cloud:9092",
            ]),
            stdin: String::new(),
            env: vec![],
            kubectl_create: s(&[
                "--from-literal=bootstrap-servers.properties=bootstrap.servers=pkc-4r297.europe-west1.gcp.confluent.cloud:9092",
            ]),
            labels: vec![],
        },
        Case {
            name: "cc.schema-registry-url.dev",
            args: s(&[
                "schema-registry-url", "--environment", "dev", "--url",
                "https://psrc-4kk0p.westeurope.azure.confluent.cloud",
            ]),
            stdin: String::new(),
            env: vec![],
            kubectl_create: s(&[
                "--from-literal=schema-registry-url.properties=schema.registry.url=https://psrc-4kk0p.westeurope.azure.confluent.cloud",
            ]),
            labels: vec![],
        },
        Case {
            name: "cc.api-key.cloud",
            args: s(&["cloud-key", "--key", "CLOUDKEY00000001"]),
            stdin: "cloud+Secret/9\n".to_owned(),
            env: vec![],
            kubectl_create: s(&[
                "--from-literal=key=CLOUDKEY00000001",
                "--from-literal=secret=cloud+Secret/9",
            ]),
            labels: vec![],
        },
        Case {
            name: "cc.ccloud-secrets",
            args: s(&[
                "operator-login", "--email", "ops@example.com", "--secret-env", "CCLOUD_PW",
            ]),
            stdin: String::new(),
            env: vec![("CCLOUD_PW", "correct horse battery".to_owned())],
            kubectl_create: s(&[
                "--from-literal=CCLOUD_EMAIL=ops@example.com",
                "--from-literal=CCLOUD_PASSWORD=correct horse battery",
            ]),
            labels: vec![],
        },
        Case {
            name: "connect-operator-secrets",
            args: vec![
                "connector".to_owned(),
                "--name".to_owned(),
                "connect-operator-secrets".to_owned(),
                "--from-env-file".to_owned(),
                env_file.display().to_string(),
            ],
            stdin: String::new(),
            env: vec![],
            kubectl_create: vec![format!("--from-env-file={}", env_file.display())],
            labels: vec![],
        },
        Case {
            name: "orders-bq-sink-keyfile",
            args: vec![
                "connector".to_owned(),
                "--name".to_owned(),
                "orders-bq-sink-keyfile".to_owned(),
                "--from-file".to_owned(),
                format!("keyfile={}", keyfile.display()),
            ],
            stdin: String::new(),
            env: vec![],
            kubectl_create: vec![format!("--from-file=keyfile={}", keyfile.display())],
            labels: vec![],
        },
    ]
}

#[tokio::test]
async fn every_kind_unseals_to_what_the_operator_would_have_written() {
    let env = Env::start("ccloud-offline").await;
    let reference_ns = env
        .cp
        .create_namespace("ccloud-reference")
        .await
        .expect("namespace");
    let inputs = tempfile::tempdir().expect("tempdir");
    let keys = env.private_keys().await;
    for case in cases(inputs.path()) {
        // Sealed with ccloud-keys, secret part from stdin or an environment variable.
        let mut cmd = ccloud_keys(&["--repo", &env.repo().display().to_string(), "--env", "dev"]);
        cmd.args(["-n", &env.app_ns]).args(&case.args);
        for (k, v) in &case.env {
            cmd.env(k, v);
        }
        let out = run(cmd, case.stdin.as_bytes());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", case.name);
        let rel = env.sealed_rel(case.name);
        assert!(
            stderr.contains(&rel),
            "{}: says where it wrote: {stderr}",
            case.name
        );
        let sealed = std::fs::read(env.repo().join(&rel)).expect("sealed file");
        let text = String::from_utf8_lossy(&sealed);
        for secret_part in [
            API_SECRET,
            "sr-Secret/42",
            "correct horse",
            "p4ss word",
            "MIIE",
        ] {
            assert!(
                !text.contains(secret_part),
                "{}: plaintext in Git",
                case.name
            );
            assert!(
                !stderr.contains(secret_part),
                "{}: plaintext on stderr",
                case.name
            );
        }

        // The same Secret written the operator's way, in another namespace.
        let create: Vec<&str> = case.kubectl_create.iter().map(String::as_str).collect();
        env.operator_apply(&reference_ns, case.name, &create, &case.labels);
        let expected: Secret = Api::namespaced(env.client.clone(), &reference_ns)
            .get(case.name)
            .await
            .expect("reference Secret");

        // Flux applies the file; our controller unseals it.
        env.kubectl(
            &["apply", "-f", &env.repo().join(&rel).display().to_string()],
            b"",
        );
        let got = wait_secret(&env.client, &env.app_ns, case.name, |_| true).await;
        assert_eq!(got.data, expected.data, "{}: data", case.name);
        assert_eq!(got.type_, expected.type_, "{}: type", case.name);
        assert_eq!(
            got.metadata.labels, expected.metadata.labels,
            "{}: labels",
            case.name
        );

        // An independent implementation agrees.
        assert_eq!(
            oracle_unseal(&sealed, &keys),
            data_b64(&expected),
            "{}: the oracle unseals the same data",
            case.name
        );
    }
}

fn assert_fails(out: &std::process::Output, needle: &str, secret: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit 1; stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert_eq!(
        stderr
            .trim_end()
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "one error line: {stderr}"
    );
    assert!(!stderr.contains(secret), "the secret leaked: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
}

/// A Git working tree with `secrets/keys/dev.crt`, and no cluster.
fn offline_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = crds::keygen::generate(
        2048,
        "test",
        std::time::SystemTime::now(),
        std::time::Duration::from_secs(3600),
    )
    .expect("key");
    let cert = key.certificate.to_pem();
    std::fs::create_dir_all(dir.path().join("secrets/keys")).expect("mkdir");
    std::fs::write(dir.path().join("secrets/keys/dev.crt"), cert).expect("cert");
    git(dir.path(), &["init", "--quiet"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "--quiet", "-m", "init"]);
    dir
}

fn cloud_key(repo: &Path, extra: &[&str], secret: &str) -> std::process::Output {
    let mut cmd = ccloud_keys(&["--repo", &repo.display().to_string(), "--env", "dev"]);
    cmd.args(extra).args(["cloud-key", "--key", "CLOUDKEY1"]);
    run(cmd, secret.as_bytes())
}

fn sealed_files(repo: &Path) -> Vec<String> {
    let dir = repo.join("secrets/sealed/dev");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn malformed_env_file_is_refused_naming_the_line() {
    let repo = offline_repo();
    let env_file = repo.path().join("bad.env");
    std::fs::write(&env_file, "USER=orders\nhunter2-password-line\n").expect("write");
    let mut cmd = ccloud_keys(&["--repo", &repo.path().display().to_string(), "--env", "dev"]);
    cmd.args([
        "connector",
        "--name",
        "connect-operator-secrets",
        "--from-env-file",
    ])
    .arg(&env_file);
    let out = run(cmd, b"");
    assert_fails(&out, "bad.env:2: expected KEY=VALUE", "hunter2");
    assert!(sealed_files(repo.path()).is_empty(), "nothing written");
}

#[test]
fn missing_certificate_is_a_clear_error() {
    let repo = offline_repo();
    std::fs::remove_file(repo.path().join("secrets/keys/dev.crt")).expect("rm");
    let out = cloud_key(repo.path(), &[], "TOPSECRET-1");
    assert_fails(&out, "secrets/keys/dev.crt does not exist", "TOPSECRET-1");
    let out = cloud_key(repo.path(), &["--cert", "/nonexistent.pem"], "TOPSECRET-1");
    assert_fails(
        &out,
        "cannot read certificate: open /nonexistent.pem: no such file or directory",
        "TOPSECRET-1",
    );
    std::fs::write(repo.path().join("garbage.pem"), "not a certificate").expect("write");
    let garbage = repo.path().join("garbage.pem").display().to_string();
    let out = cloud_key(repo.path(), &["--cert", &garbage], "TOPSECRET-1");
    assert_fails(&out, "cannot use certificate", "TOPSECRET-1");
    assert!(sealed_files(repo.path()).is_empty());
}

#[test]
fn local_changes_in_the_target_file_are_never_overwritten() {
    let repo = offline_repo();
    let out = cloud_key(repo.path(), &[], "TOPSECRET-1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = repo
        .path()
        .join("secrets/sealed/dev/default-cc.api-key.cloud.yaml");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "--quiet", "-m", "sealed"]);
    // A hand edit, not committed.
    let edited = format!(
        "{}# reviewed by hand\n",
        std::fs::read_to_string(&file).expect("read")
    );
    std::fs::write(&file, &edited).expect("edit");
    let out = cloud_key(repo.path(), &[], "TOPSECRET-2");
    assert_fails(&out, "refusing to overwrite secrets/sealed/dev/default-cc.api-key.cloud.yaml: it has uncommitted changes", "TOPSECRET-2");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        edited,
        "left alone"
    );
    // --force is the explicit way through.
    let out = cloud_key(repo.path(), &["--force"], "TOPSECRET-2");
    assert!(out.status.success());
    assert_ne!(std::fs::read_to_string(&file).expect("read"), edited);
}

#[test]
fn read_only_repository_is_an_error_and_leaves_nothing_behind() {
    let repo = offline_repo();
    let sealed_dir = repo.path().join("secrets/sealed/dev");
    std::fs::create_dir_all(&sealed_dir).expect("mkdir");
    // Root ignores permission bits: make the directory read-only with a bind mount in a
    // private mount namespace instead.
    let script = format!(
        "mount --bind {d} {d} && mount -o remount,bind,ro {d} && exec \"$@\"",
        d = sealed_dir.display()
    );
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-m", "sh", "-c", &script, "sh"])
        .arg(env!("CARGO_BIN_EXE_ccloud-keys"))
        .args(["--repo", &repo.path().display().to_string(), "--env", "dev"])
        .args(["cloud-key", "--key", "CLOUDKEY1"]);
    let out = run(cmd, b"TOPSECRET-3");
    assert_fails(&out, "Read-only file system", "TOPSECRET-3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: cannot write ") && stderr.contains("default-cc.api-key.cloud.yaml"),
        "names the file: {stderr}"
    );
    assert!(
        sealed_files(repo.path()).is_empty(),
        "no partial or temp file"
    );
}

#[test]
fn dry_run_shows_the_file_and_writes_nothing() {
    let repo = offline_repo();
    let out = cloud_key(repo.path(), &["--dry-run"], "TOPSECRET-4");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("# would write secrets/sealed/dev/default-cc.api-key.cloud.yaml"));
    assert!(stdout.contains("kind: SealedSecret") && stdout.contains("encryptedData:"));
    assert!(!stdout.contains("TOPSECRET-4"));
    assert!(sealed_files(repo.path()).is_empty());
}

#[test]
fn secrets_are_never_taken_from_arguments_and_equals_signs_are_flagged() {
    let repo = offline_repo();
    // There is no flag that takes the secret itself.
    let out = run(
        ccloud_keys(&["--env", "dev", "cloud-key", "--key", "K", "--secret", "x"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "usage error");
    let out = cloud_key(repo.path(), &[], "abc=def");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("contains '='"), "{stderr}");
    assert!(!stderr.contains("abc=def"));
    // An empty secret is refused, and the file written above is left as it was.
    let file = repo
        .path()
        .join("secrets/sealed/dev/default-cc.api-key.cloud.yaml");
    let before = std::fs::read(&file).expect("sealed file");
    let out = cloud_key(repo.path(), &["--force"], "\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end(), "error: the API secret is empty");
    assert_eq!(std::fs::read(&file).expect("sealed file"), before);
}
