//! Shared by the offline `kubeseal` test binaries: a key pair made once with the openssl CLI,
//! a runner with no kubeconfig in reach, and the failure assertion (exit 1, one `error:` line).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("openssl")
            .args([
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
            ])
            .current_dir(dir.path())
            .stderr(Stdio::null())
            .status()
            .expect("the openssl CLI is needed to make test keys");
        assert!(status.success(), "openssl req failed");
        Keys { dir }
    })
}

pub fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// Runs kubeseal with `args` and `stdin`, with no kubeconfig or proxy in reach unless `env`
/// sets one.
pub fn kubeseal_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubeseal"));
    cmd.args(args)
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "KUBECONFIG",
        "SEALED_SECRETS_CERT",
        "SEALED_SECRETS_SCOPE",
        "SEALED_SECRETS_FORMAT",
        "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        "SEALED_SECRETS_CONTROLLER_NAME",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("kubeseal runs");
    let mut input = child.stdin.take().expect("stdin");
    // kubeseal may exit before reading its input (e.g. on a bad flag): a broken pipe is fine.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("kubeseal finishes")
}

pub fn kubeseal(args: &[&str], stdin: &[u8]) -> Output {
    kubeseal_env(args, stdin, &[])
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// Asserts a failure: exit code 1, one `error:` line naming the problem, nothing on stdout.
#[track_caller]
pub fn assert_fails(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected exit 1, stderr: {err}");
    assert!(
        o.stdout.is_empty(),
        "nothing may be written on failure, got: {}",
        stdout(o)
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected, got: {err}");
    assert!(lines[0].starts_with("error: "), "got: {err}");
    assert!(lines[0].contains(needle), "expected {needle:?} in: {err}");
}

#[track_caller]
pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "kubeseal failed: {}", stderr(o));
}

/// Seals `secret` (YAML or JSON) with the test certificate; the SealedSecret as JSON.
pub fn seal(secret: &str) -> serde_json::Value {
    let out = kubeseal(
        &["--cert", &path_arg(&keys().cert()), "-o", "json"],
        secret.as_bytes(),
    );
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).expect("SealedSecret JSON")
}
