//! `ccloud-keys watch` on the real control plane, with our controller: the operator's Secrets are
//! fed back to a Git working tree without plaintext, without churn, one commit per change, the
//! replaced key id is reported, and once Flux applies the files the controller adopts the live
//! Secrets and both writers agree.

pub mod support;

use std::time::Duration;

use envtest::workspace::{free_port, http_get};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use support::WatchProcess;
use support::{
    ccloud_keys, data_b64, eventually, git, oracle_unseal, run, try_oracle_unseal, wait_secret, Env,
};

const NAME: &str = "cc.api-key.orders-app.lkc-9z8y";

/// The operator (re)writing the API key Secret for key `id`.
fn mint(env: &Env, id: &str, secret: &str, annotation: Option<&str>) {
    let json = format!(r#"--from-literal=ccloud-api-key={{"key":"{id}","secret":"{secret}"}}"#);
    let key_label = format!("key={id}");
    let labels = [
        "resource_id=lkc-9z8y",
        "service_accont=orders-app",
        "service_account_id=sa-1x2y",
        key_label.as_str(),
        "category=kafka",
    ];
    env.operator_apply(&env.app_ns, NAME, &[&json], &labels);
    if let Some(a) = annotation {
        env.kubectl(
            &[
                "annotate",
                "--overwrite",
                "-n",
                &env.app_ns,
                "secret",
                NAME,
                a,
            ],
            b"",
        );
    }
}

fn commits(env: &Env) -> usize {
    git(env.repo(), &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .expect("count")
}

async fn live(env: &Env, name: &str) -> Secret {
    Api::<Secret>::namespaced(env.client.clone(), &env.app_ns)
        .get(name)
        .await
        .expect("live Secret")
}

#[tokio::test]
async fn operator_keys_reach_git_once_per_change_and_the_controller_adopts_them() {
    let env = Env::start("ccloud-watch").await;
    let keys = env.private_keys().await;
    let watch =
        WatchProcess::start_in(&env, &["--commit", "--author", "Key Bot <bot@example.com>"]);
    let rel = env.sealed_rel(NAME);
    let file = env.repo().join(&rel);

    // The operator mints a key; other Secrets in the namespace are left alone.
    env.operator_apply(&env.app_ns, "unrelated", &["--from-literal=a=b"], &[]);
    env.operator_apply(
        &env.app_ns,
        "cc.ccloud-secrets",
        &["--from-literal=CCLOUD_EMAIL=x"],
        &[],
    );
    mint(&env, "KEY1AAAAAAAAAAAA", "first/Secret+1", None);
    watch
        .wait_metric("ccloud_keys_secrets_sealed_total", 1.0)
        .await;
    assert_eq!(commits(&env), 2, "one commit for the new file");
    let log = git(
        env.repo(),
        &["log", "-1", "--format=%an <%ae>%n%s", "--name-only"],
    );
    assert!(log.starts_with("Key Bot <bot@example.com>\nSeal "), "{log}");
    assert!(
        log.contains(&rel),
        "the commit holds exactly the file: {log}"
    );
    let sealed = std::fs::read(&file).expect("sealed file");
    let text = String::from_utf8_lossy(&sealed);
    assert!(!text.contains("last-applied-configuration"), "{text}");
    assert!(!text.contains("first/Secret"), "no plaintext in Git");
    assert!(
        !text.contains("resourceVersion") && !text.contains("uid:"),
        "{text}"
    );
    let operator = live(&env, NAME).await;
    assert_eq!(oracle_unseal(&sealed, &keys), data_b64(&operator));
    assert_eq!(
        operator
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("sealedsecrets.bitnami.com/managed"))
            .map(String::as_str),
        Some("true"),
        "the live Secret is marked for adoption"
    );
    let files = std::fs::read_dir(env.repo().join("secrets/sealed/dev"))
        .expect("dir")
        .count();
    assert_eq!(files, 1, "only the selected Secret was fed back");
    assert!(
        !watch.log().contains("first/Secret"),
        "no plaintext in the log"
    );

    // Re-minted with the same key but new metadata (deleted and re-created, annotated):
    // nothing is re-sealed, the file is not touched.
    let before = std::fs::metadata(&file)
        .expect("stat")
        .modified()
        .expect("mtime");
    let unchanged = watch.metric("ccloud_keys_secrets_unchanged_total");
    env.kubectl(&["delete", "secret", "-n", &env.app_ns, NAME], b"");
    mint(
        &env,
        "KEY1AAAAAAAAAAAA",
        "first/Secret+1",
        Some("ccloud-operator/run=2"),
    );
    watch
        .wait_metric("ccloud_keys_secrets_unchanged_total", unchanged + 2.0)
        .await;
    assert_eq!(std::fs::read(&file).expect("read"), sealed, "same bytes");
    assert_eq!(
        std::fs::metadata(&file)
            .expect("stat")
            .modified()
            .expect("mtime"),
        before
    );
    assert_eq!(commits(&env), 2, "no commit");

    // A new key: a new file and commit that names the old key for revocation.
    mint(&env, "KEY2BBBBBBBBBBBB", "second/Secret+2", None);
    watch
        .wait_metric("ccloud_keys_secrets_sealed_total", 2.0)
        .await;
    assert_eq!(commits(&env), 3);
    let message = git(env.repo(), &["log", "-1", "--format=%B"]);
    assert!(
        message.contains("confluent api-key delete KEY1AAAAAAAAAAAA"),
        "{message}"
    );
    assert_eq!(watch.metric("ccloud_keys_api_keys_replaced_total"), 1.0);
    let sealed2 = std::fs::read(&file).expect("read");
    let operator2 = live(&env, NAME).await;
    assert_eq!(oracle_unseal(&sealed2, &keys), data_b64(&operator2));

    // Flux applies the directory: the controller adopts the operator's Secret, same data.
    let dir = env.repo().join("secrets/sealed/dev").display().to_string();
    env.kubectl(&["apply", "-f", &dir], b"");
    let adopted = wait_secret(&env.client, &env.app_ns, NAME, |s| {
        s.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "SealedSecret" && o.controller == Some(true))
    })
    .await;
    assert_eq!(
        adopted.data, operator2.data,
        "adoption keeps the operator's data"
    );
    assert_eq!(adopted.metadata.labels, operator2.metadata.labels);

    // The controller's write is not fed back.
    let sealed_count = watch.metric("ccloud_keys_secrets_sealed_total");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        watch.metric("ccloud_keys_secrets_sealed_total"),
        sealed_count
    );
    assert_eq!(commits(&env), 3);

    // The operator mints again after adoption: Git follows, and once Flux applies the new file
    // both writers hold the new key.
    mint(&env, "KEY3CCCCCCCCCCCC", "third/Secret+3", None);
    watch
        .wait_metric("ccloud_keys_secrets_sealed_total", sealed_count + 1.0)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(commits(&env), 4, "exactly one more commit (no flip-flop)");
    let sealed3 = std::fs::read(&file).expect("read");
    let unsealed3 = oracle_unseal(&sealed3, &keys);
    assert!(
        String::from_utf8_lossy(&sealed3).contains("KEY3CCCCCCCCCCCC"),
        "the key id label is in the template"
    );
    env.kubectl(&["apply", "-f", &dir], b"");
    let converged = wait_secret(&env.client, &env.app_ns, NAME, |s| data_b64(s) == unsealed3).await;
    assert_eq!(
        converged
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("key"))
            .map(String::as_str),
        Some("KEY3CCCCCCCCCCCC")
    );
}

#[tokio::test]
async fn local_edits_are_refused_and_key_renewal_is_picked_up() {
    let env = Env::start("ccloud-refuse").await;
    let watch = WatchProcess::start_in(&env, &["--commit"]);
    let rel = env.sealed_rel(NAME);
    let file = env.repo().join(&rel);
    mint(&env, "KEY1AAAAAAAAAAAA", "first/Secret+1", None);
    watch
        .wait_metric("ccloud_keys_secrets_sealed_total", 1.0)
        .await;

    // Someone edits the file by hand and has not committed: the watcher refuses to overwrite.
    let edited = format!(
        "{}# hand edit\n",
        std::fs::read_to_string(&file).expect("read")
    );
    std::fs::write(&file, &edited).expect("edit");
    mint(&env, "KEY2BBBBBBBBBBBB", "second/Secret+2", None);
    watch
        .wait_metric("ccloud_keys_errors_total{reason=\"refused\"}", 1.0)
        .await;
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        edited,
        "left alone"
    );
    assert!(
        watch.log().contains("refusing to overwrite"),
        "{}",
        watch.log()
    );

    // Discarded: the retry goes through. The controller renewed its key meanwhile: the file is
    // sealed to the new key only.
    let old_keys = env.private_keys().await;
    env.controller.signal("USR1").expect("USR1");
    let old_cert = std::fs::read_to_string(env.repo().join("secrets/keys/dev.crt")).expect("cert");
    eventually(Duration::from_secs(30), "a renewed certificate", || async {
        http_get(env.controller.api_port, "/v1/cert.pem")
            .ok()
            .filter(|c| *c != old_cert)
    })
    .await;
    git(env.repo(), &["checkout", "--", &rel]);
    watch
        .wait_metric("ccloud_keys_secrets_sealed_total", 2.0)
        .await;
    let sealed = std::fs::read(&file).expect("read");
    let operator = live(&env, NAME).await;
    let mut new_keys = env.private_keys().await;
    new_keys.retain(|name, _| !old_keys.contains_key(name));
    assert_eq!(new_keys.len(), 1, "one renewed key");
    assert_eq!(
        oracle_unseal(&sealed, &new_keys),
        data_b64(&operator),
        "sealed to the renewed key"
    );
    assert!(
        try_oracle_unseal(&sealed, old_keys.values().map(|f| f.path())).is_err(),
        "not sealed to an old key"
    );
}

#[tokio::test]
async fn unreachable_controller_and_missing_service_are_clear_errors() {
    let cp = support::control_plane().await;
    let repo = tempfile::tempdir().expect("tempdir");
    let kubeconfig = cp.kubeconfig_path().display().to_string();
    let dir = repo.path().display().to_string();
    let base = [
        "watch",
        "--once",
        "--repo",
        &dir,
        "--env",
        "dev",
        "--kubeconfig",
        &kubeconfig,
    ];
    let port = free_port().expect("port");
    let url = format!("http://127.0.0.1:{port}/v1/cert.pem");
    let mut cmd = ccloud_keys(&base);
    cmd.args(["--cert", &url]);
    let out = run(cmd, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot fetch the sealing certificate"),
        "{stderr}"
    );
    let mut cmd = ccloud_keys(&base);
    cmd.args(["--controller-namespace", "no-such-namespace"]);
    let out = run(cmd, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "service \"sealed-secrets-controller\" not found in namespace \"no-such-namespace\""
        ),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(repo.path())
            .expect("dir")
            .next()
            .is_none(),
        "nothing written"
    );
}

#[tokio::test]
async fn commits_are_pushed_and_a_failed_push_is_retried() {
    let env = Env::start("ccloud-push").await;
    let remote = tempfile::tempdir().expect("tempdir");
    let bare = remote.path().join("origin.git");
    git(
        remote.path(),
        &["init", "--quiet", "--bare", bare.to_str().expect("path")],
    );
    // Not reachable yet: the first push fails and is retried.
    git(
        env.repo(),
        &["remote", "add", "origin", bare.to_str().expect("path")],
    );
    let hidden = remote.path().join("hidden.git");
    std::fs::rename(&bare, &hidden).expect("hide the remote");
    let watch = WatchProcess::start_in(&env, &["--commit", "--push"]);
    mint(&env, "KEY1AAAAAAAAAAAA", "first/Secret+1", None);
    watch
        .wait_metric("ccloud_keys_secrets_sealed_total", 1.0)
        .await;
    watch
        .wait_metric("ccloud_keys_errors_total{reason=\"push\"}", 1.0)
        .await;
    std::fs::rename(&hidden, &bare).expect("restore the remote");
    let head = git(env.repo(), &["rev-parse", "HEAD"]);
    eventually(
        Duration::from_secs(30),
        "the commit on the remote",
        || async {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(&bare)
                .args(["rev-parse", "main"])
                .output()
                .ok()?;
            (String::from_utf8_lossy(&out.stdout) == head).then_some(())
        },
    )
    .await;
}

/// The watcher's rights in `env`'s namespace: Secrets and Events, and `update` on Secrets (which
/// saving the state needs) only when `may_update`.
fn grant(env: &Env, may_update: bool) {
    let secret_verbs = if may_update {
        "[get, list, watch, create, patch, update]"
    } else {
        "[get, list, watch, create, patch]"
    };
    let ns = &env.app_ns;
    let rbac = format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: watcher, namespace: {ns}}}
rules:
- {{apiGroups: [\"\"], resources: [secrets], verbs: {secret_verbs}}}
- {{apiGroups: [\"\", events.k8s.io], resources: [events], verbs: [create, patch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: watcher, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: watcher}}
subjects:
- {{kind: ServiceAccount, name: watcher, namespace: {ns}}}
"
    );
    env.kubectl(&["apply", "-f", "-"], rbac.as_bytes());
}

/// The watcher's state as stored in the cluster.
async fn stored_state(env: &Env) -> String {
    let state = Api::<Secret>::namespaced(env.client.clone(), &env.app_ns)
        .get("ccloud-keys-state")
        .await
        .expect("state Secret");
    let bytes = state
        .data
        .and_then(|d| d.get("state.json").cloned())
        .expect("state.json");
    String::from_utf8(bytes.0).expect("UTF-8")
}

#[tokio::test]
async fn a_state_that_cannot_be_saved_is_saved_later_and_survives_a_restart() {
    let env = Env::start("ccloud-state").await;
    grant(&env, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("watcher.kubeconfig");
    env.cp
        .write_service_account_kubeconfig(&env.app_ns, "watcher", &kubeconfig)
        .expect("kubeconfig");
    let cert = format!("--cert={}", env.controller.cert_url());
    let ns = format!("--namespace={}", env.app_ns);
    let args = ["--env=dev", ns.as_str(), cert.as_str()];
    let watch = WatchProcess::start(env.repo(), &kubeconfig, &args);
    mint(&env, "KEY1AAAAAAAAAAAA", "first/Secret+1", None);

    // The file is written (not committed: no --commit), then saving the state is forbidden.
    watch
        .wait_metric("ccloud_keys_errors_total{reason=\"state\"}", 1.0)
        .await;
    let file = env.repo().join(env.sealed_rel(NAME));
    let written = std::fs::read(&file).expect("the file was written");
    let key = format!("{}/{NAME}", env.app_ns);
    assert!(!stored_state(&env).await.contains(&key));

    // Once the watcher may update its state, the retry saves it, without writing the file again.
    grant(&env, true);
    eventually(Duration::from_secs(30), "the state to be saved", || async {
        stored_state(&env).await.contains(&key).then_some(())
    })
    .await;
    drop(watch);
    assert_eq!(std::fs::read(&file).expect("read"), written);

    // A restarted watcher knows the (still uncommitted) file as its own: nothing to do, no refusal.
    let dir = env.repo().display().to_string();
    let mut cmd = ccloud_keys(&["watch", "--once", "--repo", &dir]);
    cmd.args(["--kubeconfig".as_ref(), kubeconfig.as_os_str()])
        .args(args);
    let out = run(cmd, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("refusing"), "{stderr}");
    assert_eq!(std::fs::read(&file).expect("read"), written, "untouched");
}

/// A key sealed offline (`ccloud-keys api-key`), committed and applied by Flux, comes back as a
/// Secret the controller wrote: the watcher never feeds it back (it came from Git). The
/// operator re-minting that key afterwards is fed back, once.
#[tokio::test]
async fn a_secret_unsealed_from_git_is_not_fed_back_but_a_later_remint_is() {
    let env = Env::start("ccloud-fromgit").await;
    let rel = env.sealed_rel(NAME);
    let file = env.repo().join(&rel);
    let repo = env.repo().display().to_string();
    let mut cmd = ccloud_keys(&["--repo", &repo, "--env", "dev", "-n", &env.app_ns]);
    cmd.args([
        "api-key",
        "--service-account",
        "orders-app",
        "--service-account-id",
        "sa-1x2y",
        "--resource-id",
        "lkc-9z8y",
        "--key",
        "KEY0OFFLINE00000",
    ]);
    let out = run(cmd, b"offline/Secret+0");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(env.repo(), &["add", "."]);
    git(env.repo(), &["commit", "--quiet", "-m", "sealed offline"]);
    let offline = std::fs::read(&file).expect("sealed file");
    let watch =
        WatchProcess::start_in(&env, &["--commit", "--author", "Key Bot <bot@example.com>"]);

    // Flux applies the file: the controller creates the Secret from Git.
    env.kubectl(&["apply", "-f", &file.display().to_string()], b"");
    wait_secret(&env.client, &env.app_ns, NAME, |s| s.data.is_some()).await;
    watch
        .wait_metric("ccloud_keys_secrets_unchanged_total", 1.0)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        commits(&env),
        2,
        "no commit for a Secret that came from Git"
    );
    assert_eq!(
        std::fs::read(&file).expect("read"),
        offline,
        "file untouched"
    );
    assert_eq!(watch.metric("ccloud_keys_secrets_sealed_total"), 0.0);
    let unmarked = live(&env, NAME).await;
    assert!(
        unmarked
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("sealedsecrets.bitnami.com/managed"))
            .is_none(),
        "a Secret from Git is not marked for adoption"
    );

    // The operator re-mints the key in the cluster: that is fed back, in one commit (the
    // controller restoring the Git version meanwhile is, again, not).
    mint(&env, "KEY1REMINT000000", "remint/Secret+1", None);
    watch
        .wait_metric("ccloud_keys_secrets_sealed_total", 1.0)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(commits(&env), 3, "exactly one commit for the re-mint");
    let resealed = std::fs::read(&file).expect("read");
    assert_ne!(resealed, offline);
    assert!(String::from_utf8_lossy(&resealed).contains("KEY1REMINT000000"));
    assert!(
        !watch.log().contains("remint/Secret"),
        "no plaintext in the log"
    );
}
