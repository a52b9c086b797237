//! Ciphertext interoperability with independent third-party implementations of the
//! sealed-secrets format: the oracles of `tests/oracles/` (kubesealpy, aes-gcm-rsa-oaep and
//! @linode/kubeseal-encrypt, installed pinned on first use).
//!
//! Sealing is randomized, so there are no fixed test vectors: one side seals, the other side
//! unseals, in both directions, for raw values (our library and `kubeseal --raw`) and for whole
//! SealedSecret objects (`kubeseal` and `kubeseal --recovery-unseal`). The negative tests check
//! that a value sealed for one label does not open under another, on both sides, so that these
//! checks can fail at all.
//!
//! Needs the `openssl` CLI (for the test key), Python 3 and Node (for the oracles). Independent
//! cases run in parallel on a few worker threads; a test reports every failing case at once.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{ErrorKind, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crds::convert::ValueError;
use crds::{DecryptError, PrivateKey, PublicKey, Scope};
use k8s_openapi::ByteString;
use serde_json::{json, Map, Value};

const NAMESPACE: &str = "interop-ns";
const NAME: &str = "interop-secret";
const OTHER_NAMESPACE: &str = "other-ns";
const OTHER_NAME: &str = "other-secret";

/// The data key under which a raw ciphertext is wrapped into a SealedSecret.
const RAW_KEY: &str = "value";

/// Written out here rather than taken from `crds::scope`, so that a typo there shows up.
const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";

/// Our error for a value that no key opens (library `Display` and CLI stderr).
const NO_KEY_COULD_DECRYPT: &str = "no key could decrypt secret";

// ---------------------------------------------------------------------------------------------
// Test key material and oracle installation, once per test binary.

struct Fixture {
    dir: tempfile::TempDir,
    public_key: PublicKey,
    keys_pkcs8: Vec<PrivateKey>,
    keys_pkcs1: Vec<PrivateKey>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::create)
}

impl Fixture {
    fn create() -> Fixture {
        // Under the target directory (never dropped: statics are not), so `cargo clean` removes it.
        let dir = tempfile::Builder::new()
            .prefix("interop-keys-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("cannot create a temporary directory for the test key");
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:4096",
                "-nodes",
                "-keyout",
                "k.pem",
                "-out",
                "c.pem",
                "-days",
                "3650",
                "-subj",
                "/CN=sealed-secret/O=sealed-secret",
            ],
        );
        openssl(
            dir.path(),
            &["rsa", "-in", "k.pem", "-traditional", "-out", "k1.pem"],
        );
        install_oracles();

        let read = |file: &str| {
            let path = dir.path().join(file);
            std::fs::read(&path).unwrap_or_else(|e| {
                panic!("cannot read {} written by openssl: {e}", path.display())
            })
        };
        let (public_key, cert) = crds::parse_sealing_key(&read("c.pem"))
            .expect("our library cannot read the certificate made by openssl");
        assert!(
            cert.is_some(),
            "parse_sealing_key did not return the certificate of c.pem"
        );
        let parse_key = |file: &str, pem_tag: &str| {
            let pem = read(file);
            assert!(
                pem.windows(pem_tag.len()).any(|w| w == pem_tag.as_bytes()),
                "{file} is not a {pem_tag} file (openssl changed its defaults?)"
            );
            let keys = crds::parse_private_keys(&pem)
                .unwrap_or_else(|e| panic!("our library cannot read {file} ({pem_tag}): {e}"));
            assert_eq!(
                keys.len(),
                1,
                "{file} holds one key, our library read {}",
                keys.len()
            );
            assert_eq!(
                keys[0].public_key().spki_der(),
                public_key.spki_der(),
                "the key our library read from {file} does not match the certificate"
            );
            keys
        };
        let keys_pkcs8 = parse_key("k.pem", "BEGIN PRIVATE KEY");
        let keys_pkcs1 = parse_key("k1.pem", "BEGIN RSA PRIVATE KEY");
        Fixture {
            dir,
            public_key,
            keys_pkcs8,
            keys_pkcs1,
        }
    }

    fn cert(&self) -> String {
        path_arg(&self.dir.path().join("c.pem"))
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = match Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "the `openssl` command is not installed; these tests need it to generate their RSA key \
             and certificate (e.g. `apt-get install openssl`)"
        ),
        Err(e) => panic!("cannot run `openssl {}`: {e}", args.join(" ")),
    };
    assert!(
        output.status.success(),
        "`openssl {}` failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

fn oracles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oracles")
}

/// Installs (or just checks) the pinned oracles once, so that parallel oracle calls never race to
/// install them.
fn install_oracles() {
    let script = oracles_dir().join("install.sh");
    let output = Command::new(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "installing the oracles with {} failed ({}); it needs Python 3 with venv, Node and \
         network access to PyPI and npm on the first run:\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

fn path_arg(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("test path {} is not UTF-8", path.display()))
        .to_owned()
}

/// The two PEM forms of the test key.
#[derive(Clone, Copy, Debug)]
enum KeyForm {
    /// `k.pem`: `PRIVATE KEY` (what `openssl req -newkey` writes).
    Pkcs8,
    /// `k1.pem`: `RSA PRIVATE KEY` (what the controller stores in `tls.key`).
    Pkcs1,
}

impl KeyForm {
    fn path(self) -> String {
        let file = match self {
            KeyForm::Pkcs8 => "k.pem",
            KeyForm::Pkcs1 => "k1.pem",
        };
        path_arg(&fixture().dir.path().join(file))
    }

    fn keys(self) -> &'static [PrivateKey] {
        match self {
            KeyForm::Pkcs8 => &fixture().keys_pkcs8,
            KeyForm::Pkcs1 => &fixture().keys_pkcs1,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values, scopes and labels.

/// How `kubeseal --raw` gets a value (our CLI refuses an empty stdin, so empty goes by file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CliInput {
    Stdin,
    FromFile,
}

struct TestValue {
    /// Also used as the data key in whole objects.
    name: &'static str,
    bytes: Vec<u8>,
    cli_input: CliInput,
}

impl TestValue {
    fn is_utf8(&self) -> bool {
        std::str::from_utf8(&self.bytes).is_ok()
    }
}

fn test_values() -> &'static [TestValue] {
    static VALUES: OnceLock<Vec<TestValue>> = OnceLock::new();
    VALUES.get_or_init(|| {
        vec![
            TestValue {
                name: "text",
                bytes: "p4ss: wörd ✓ 🔑\nsecond line\n".as_bytes().to_vec(),
                cli_input: CliInput::Stdin,
            },
            TestValue {
                name: "empty",
                bytes: Vec::new(),
                cli_input: CliInput::FromFile,
            },
            TestValue {
                name: "all-bytes",
                bytes: (0..=255u8).collect(),
                cli_input: CliInput::FromFile,
            },
            TestValue {
                name: "random-1MiB",
                bytes: pseudo_random_bytes(1 << 20, 0x5eed_5ea1_ed5e_c4e7),
                cli_input: CliInput::Stdin,
            },
        ]
    })
}

fn test_value(name: &str) -> &'static TestValue {
    test_values()
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no test value named {name:?}"))
}

/// Incompressible, reproducible bytes (splitmix64); the randomness that matters is the sealer's.
fn pseudo_random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Where a sealed value belongs: its scope and the SealedSecret's namespace and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Binding {
    scope: Scope,
    namespace: &'static str,
    name: &'static str,
}

impl Binding {
    fn new(scope: Scope) -> Binding {
        Binding {
            scope,
            namespace: NAMESPACE,
            name: NAME,
        }
    }

    fn all_scopes() -> Vec<Binding> {
        Scope::ALL.into_iter().map(Binding::new).collect()
    }

    /// The OAEP label, computed here independently of `crds::Scope::label`.
    fn label(&self) -> String {
        match self.scope {
            Scope::Strict => format!("{}/{}", self.namespace, self.name),
            Scope::NamespaceWide => self.namespace.to_owned(),
            Scope::ClusterWide => String::new(),
        }
    }

    /// The label as our library computes it.
    fn our_label(&self) -> Vec<u8> {
        self.scope.label(self.namespace, self.name)
    }

    fn scope_flag(&self) -> &'static str {
        match self.scope {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }

    fn scope_annotation(&self) -> Option<&'static str> {
        match self.scope {
            Scope::Strict => None,
            Scope::NamespaceWide => Some(NAMESPACE_WIDE_ANNOTATION),
            Scope::ClusterWide => Some(CLUSTER_WIDE_ANNOTATION),
        }
    }

    /// Every binding over these names whose label differs from this one's (one per label).
    fn wrong_bindings(&self) -> Vec<Binding> {
        let mut seen = vec![self.label()];
        let mut out = Vec::new();
        for scope in Scope::ALL {
            for namespace in [NAMESPACE, OTHER_NAMESPACE] {
                for name in [NAME, OTHER_NAME] {
                    let b = Binding {
                        scope,
                        namespace,
                        name,
                    };
                    if !seen.contains(&b.label()) {
                        seen.push(b.label());
                        out.push(b);
                    }
                }
            }
        }
        out
    }

    /// The moves that change the label (fewer than [`Binding::wrong_bindings`], for the slower
    /// oracles).
    fn label_changing_moves(&self) -> Vec<Binding> {
        self.moves()
            .into_iter()
            .filter(|b| b.label() != self.label())
            .collect()
    }

    /// What can happen to a SealedSecret after sealing: renamed, moved to another namespace, or
    /// given another scope annotation.
    fn moves(&self) -> Vec<Binding> {
        let mut out = vec![
            Binding {
                name: OTHER_NAME,
                ..*self
            },
            Binding {
                namespace: OTHER_NAMESPACE,
                ..*self
            },
        ];
        out.extend(
            Scope::ALL
                .into_iter()
                .filter(|s| *s != self.scope)
                .map(|scope| Binding { scope, ..*self }),
        );
        out
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{} (label {:?})",
            self.scope_flag(),
            self.namespace,
            self.name,
            self.label()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Running processes.

/// A finished process.
struct Ran {
    what: String,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Ran {
    /// Stdout of a successful run, or the failure as an error.
    fn ok(self) -> Result<Vec<u8>, String> {
        if self.code == Some(0) {
            Ok(self.stdout)
        } else {
            Err(format!(
                "`{}` failed (exit {:?}): {}",
                self.what,
                self.code,
                self.stderr.trim()
            ))
        }
    }

    /// Checks that the run failed with `code` and a message containing `needle` (any case).
    fn refused(&self, code: i32, needle: &str) -> Result<(), String> {
        if self.code == Some(0) {
            return Err(format!("`{}` succeeded but must fail", self.what));
        }
        if self.code != Some(code) || !self.stderr.to_lowercase().contains(needle) {
            return Err(format!(
                "`{}` failed, but not with exit {code} and {needle:?} (exit {:?}): {}",
                self.what,
                self.code,
                self.stderr.trim()
            ));
        }
        Ok(())
    }
}

fn describe_command(program: &str, args: &[&str]) -> String {
    let mut out = program.to_owned();
    for arg in args {
        out.push(' ');
        if arg.is_empty() || arg.contains(' ') {
            out.push_str(&format!("'{arg}'"));
        } else {
            out.push_str(arg);
        }
    }
    out
}

/// Runs `cmd` with `stdin` as its input (written from another thread, so that large outputs do
/// not deadlock).
fn run(mut cmd: Command, stdin: &[u8], what: String) -> Result<Ran, String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{what}`: {e}"))?;
    let mut input = child
        .stdin
        .take()
        .ok_or_else(|| format!("`{what}` has no stdin pipe"))?;
    let output = std::thread::scope(|s| {
        s.spawn(move || {
            // A child that fails early stops reading; its exit status tells what happened.
            let _ = input.write_all(stdin);
        });
        child.wait_with_output()
    })
    .map_err(|e| format!("cannot wait for `{what}`: {e}"))?;
    Ok(Ran {
        what,
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn oracle(args: &[&str], stdin: &[u8]) -> Result<Ran, String> {
    let mut cmd = Command::new(oracles_dir().join("oracle"));
    // Installed by the fixture; never install from parallel calls.
    cmd.args(args).env("ORACLES_NO_INSTALL", "1");
    run(cmd, stdin, describe_command("oracle", args))
}

/// Our `kubeseal`, isolated from the caller's `SEALED_SECRETS_*` variables and kubeconfig.
fn kubeseal(args: &[&str], stdin: &[u8]) -> Result<Ran, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubeseal"));
    cmd.args(args);
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("SEALED_SECRETS_") {
            cmd.env_remove(var);
        }
    }
    cmd.env(
        "KUBECONFIG",
        fixture().dir.path().join("no-such-kubeconfig"),
    );
    run(cmd, stdin, describe_command("kubeseal", args))
}

// ---------------------------------------------------------------------------------------------
// The oracles.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Oracle {
    Aes,
    Kubesealpy,
    Linode,
}

impl Oracle {
    const SEALERS: [Oracle; 3] = [Oracle::Aes, Oracle::Kubesealpy, Oracle::Linode];
    const UNSEALERS: [Oracle; 2] = [Oracle::Aes, Oracle::Kubesealpy];

    fn impl_arg(self) -> &'static str {
        match self {
            Oracle::Aes => "aes",
            Oracle::Kubesealpy => "kubesealpy",
            Oracle::Linode => "linode",
        }
    }

    /// The key file this oracle gets when unsealing (kubesealpy: the controller's form).
    fn key_form(self) -> KeyForm {
        match self {
            Oracle::Kubesealpy => KeyForm::Pkcs1,
            Oracle::Aes | Oracle::Linode => KeyForm::Pkcs8,
        }
    }

    /// linode's public API seals UTF-8 text, namespace-wide only.
    fn can_seal(self, binding: &Binding, value: &TestValue) -> bool {
        match self {
            Oracle::Linode => binding.scope == Scope::NamespaceWide && value.is_utf8(),
            Oracle::Aes | Oracle::Kubesealpy => true,
        }
    }

    fn seal_raw(self, binding: &Binding, plaintext: &[u8]) -> Result<String, String> {
        let cert = fixture().cert();
        let label = binding.label();
        let args = [
            "seal-raw",
            "--impl",
            self.impl_arg(),
            "--cert",
            &cert,
            "--label",
            &label,
        ];
        let out = oracle(&args, plaintext)?.ok()?;
        let text =
            String::from_utf8(out).map_err(|_| format!("{self} seal-raw printed non-UTF-8"))?;
        let sealed = text.trim();
        if sealed.is_empty() || sealed.contains(char::is_whitespace) {
            return Err(format!(
                "{self} seal-raw did not print one base64 line: {text:?}"
            ));
        }
        Ok(sealed.to_owned())
    }

    fn unseal_raw(self, label: &str, sealed: &str) -> Result<Ran, String> {
        let key = self.key_form().path();
        let args = [
            "unseal-raw",
            "--impl",
            self.impl_arg(),
            "--key",
            &key,
            "--label",
            label,
        ];
        oracle(&args, sealed.as_bytes())
    }
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Oracle::Aes => "aes-gcm-rsa-oaep",
            Oracle::Kubesealpy => "kubesealpy",
            Oracle::Linode => "@linode/kubeseal-encrypt",
        })
    }
}

/// kubesealpy's SealedSecret YAML for `data`.
fn oracle_seal_object(
    binding: &Binding,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<String, String> {
    let cert = fixture().cert();
    let args = [
        "seal-object",
        "--cert",
        &cert,
        "--name",
        binding.name,
        "--namespace",
        binding.namespace,
        "--scope",
        binding.scope_flag(),
    ];
    let input: BTreeMap<&String, String> = data.iter().map(|(k, v)| (k, b64(v))).collect();
    let input = serde_json::to_vec(&input).map_err(|e| format!("cannot encode JSON: {e}"))?;
    let out = oracle(&args, &input)?.ok()?;
    String::from_utf8(out).map_err(|_| "oracle seal-object printed non-UTF-8".to_owned())
}

fn oracle_unseal_object(sealed_secret: &str) -> Result<Ran, String> {
    let key = Oracle::Kubesealpy.key_form().path();
    oracle(&["unseal-object", "--key", &key], sealed_secret.as_bytes())
}

/// The data of a successful `oracle unseal-object` run.
fn oracle_unsealed_data(ran: Ran) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let what = ran.what.clone();
    let out = ran.ok()?;
    let value: Value =
        serde_json::from_slice(&out).map_err(|e| format!("`{what}` did not print JSON: {e}"))?;
    decode_data(&value).map_err(|e| format!("`{what}` output: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Our side.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OurSealer {
    Library,
    Cli,
}

impl OurSealer {
    fn seal_raw(self, binding: &Binding, value: &TestValue) -> Result<String, String> {
        match self {
            OurSealer::Library => {
                crds::seal_bytes(&fixture().public_key, &binding.our_label(), &value.bytes)
                    .map_err(|e| format!("crds::seal_bytes failed: {e}"))
            }
            OurSealer::Cli => {
                let cert = fixture().cert();
                // Namespace and name are always given, so a CLI that ignored --scope would seal
                // under the strict label and the oracles would refuse it.
                let mut args = vec![
                    "--cert",
                    &cert,
                    "--raw",
                    "--scope",
                    binding.scope_flag(),
                    "--namespace",
                    binding.namespace,
                    "--name",
                    binding.name,
                ];
                let dir = tempfile::tempdir_in(fixture().dir.path())
                    .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
                let file = path_arg(&dir.path().join("value.bin"));
                let ran = match value.cli_input {
                    CliInput::Stdin => kubeseal(&args, &value.bytes)?,
                    CliInput::FromFile => {
                        std::fs::write(&file, &value.bytes)
                            .map_err(|e| format!("cannot write {file}: {e}"))?;
                        args.extend(["--from-file", &file]);
                        kubeseal(&args, b"")?
                    }
                };
                let out = ran.ok()?;
                String::from_utf8(out)
                    .map(|s| s.trim().to_owned())
                    .map_err(|_| "kubeseal --raw printed non-UTF-8".to_owned())
            }
        }
    }
}

impl fmt::Display for OurSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OurSealer::Library => "our library",
            OurSealer::Cli => "our kubeseal --raw",
        })
    }
}

fn library_unseal(keys: KeyForm, binding: &Binding, sealed: &str) -> Result<Vec<u8>, ValueError> {
    crds::unseal_bytes(keys.keys(), &binding.our_label(), sealed).map(|plain| plain.to_vec())
}

/// Checks that our library refuses `sealed` under `binding` for the right reason.
fn library_refuses(keys: KeyForm, binding: &Binding, sealed: &str) -> Result<(), String> {
    match library_unseal(keys, binding, sealed) {
        Ok(plain) => Err(format!(
            "our library unsealed it under the wrong binding {binding} ({} bytes)",
            plain.len()
        )),
        Err(e)
            if matches!(e, ValueError::Decrypt(DecryptError::NoKeyCouldDecrypt))
                && e.to_string() == NO_KEY_COULD_DECRYPT =>
        {
            Ok(())
        }
        Err(e) => Err(format!(
            "our library refused it under {binding}, but with {e:?} (\"{e}\") instead of \
             {NO_KEY_COULD_DECRYPT:?}"
        )),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutFormat {
    Json,
    Yaml,
}

impl OutFormat {
    const ALL: [OutFormat; 2] = [OutFormat::Json, OutFormat::Yaml];

    fn flag(self) -> &'static str {
        match self {
            OutFormat::Json => "json",
            OutFormat::Yaml => "yaml",
        }
    }

    fn render(self, value: &Value) -> String {
        match self {
            OutFormat::Json => serde_json::to_string_pretty(value).expect("JSON always encodes"),
            OutFormat::Yaml => serde_yaml::to_string(value).expect("a JSON value encodes as YAML"),
        }
    }

    /// Parses one document, insisting on JSON syntax for JSON.
    fn parse(self, text: &[u8]) -> Result<Value, String> {
        match self {
            OutFormat::Json => serde_json::from_slice(text)
                .map_err(|e| format!("output is not one JSON object: {e}")),
            OutFormat::Yaml => serde_yaml::from_slice(text)
                .map_err(|e| format!("output is not one YAML document: {e}")),
        }
    }
}

/// `kubeseal --recovery-unseal` of one SealedSecret document.
fn cli_recovery_unseal(
    sealed_secret: &str,
    key: KeyForm,
    format: OutFormat,
) -> Result<Ran, String> {
    let key = key.path();
    kubeseal(
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            &key,
            "-o",
            format.flag(),
        ],
        sealed_secret.as_bytes(),
    )
}

/// The data of the Secret a successful `--recovery-unseal` printed, checking its kind and names.
fn cli_unsealed_data(
    ran: Ran,
    format: OutFormat,
    binding: &Binding,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let what = ran.what.clone();
    let out = ran.ok()?;
    let secret = format.parse(&out).map_err(|e| format!("`{what}`: {e}"))?;
    let field = |pointer: &str| secret.pointer(pointer).and_then(Value::as_str);
    if field("/kind") != Some("Secret") || field("/apiVersion") != Some("v1") {
        return Err(format!("`{what}` did not print a v1 Secret: {secret}"));
    }
    if field("/metadata/name") != Some(binding.name)
        || field("/metadata/namespace") != Some(binding.namespace)
    {
        return Err(format!(
            "`{what}` printed a Secret named {:?} in {:?}, expected {}/{}",
            field("/metadata/name"),
            field("/metadata/namespace"),
            binding.namespace,
            binding.name
        ));
    }
    let data = secret
        .get("data")
        .ok_or_else(|| format!("`{what}` printed a Secret without data"))?;
    decode_data(data).map_err(|e| format!("`{what}` data: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Manifests and data.

/// Standard padded base64, as Kubernetes encodes `data` (through `ByteString`'s serde).
fn b64(bytes: &[u8]) -> String {
    match serde_json::to_value(ByteString(bytes.to_vec())) {
        Ok(Value::String(s)) => s,
        other => panic!("ByteString did not serialize to a string: {other:?}"),
    }
}

fn unb64(text: &str) -> Result<Vec<u8>, String> {
    serde_json::from_value::<ByteString>(Value::String(text.to_owned()))
        .map(|b| b.0)
        .map_err(|e| format!("not standard base64 ({e})"))
}

/// `{"key": "<base64>"}` → bytes; anything but strings (e.g. `null`) is an error.
fn decode_data(value: &Value) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let map = value
        .as_object()
        .ok_or_else(|| format!("data is not a mapping: {value}"))?;
    map.iter()
        .map(|(k, v)| {
            let text = v
                .as_str()
                .ok_or_else(|| format!("data {k:?} is not a string: {v}"))?;
            Ok((
                k.clone(),
                unb64(text).map_err(|e| format!("data {k:?}: {e}"))?,
            ))
        })
        .collect()
}

/// Every test value under its name.
/// The data of the whole-object tests: every test value, with the 1 MiB one cut to 64 KiB
/// (large values are covered raw; YAML parsing of megabytes only slows the oracles down).
fn object_data() -> BTreeMap<String, Vec<u8>> {
    test_values()
        .iter()
        .map(|v| match v.name {
            "random-1MiB" => ("random-64KiB".to_owned(), v.bytes[..64 << 10].to_vec()),
            _ => (v.name.to_owned(), v.bytes.clone()),
        })
        .collect()
}

/// Small data for tests about labels rather than values.
fn small_data() -> BTreeMap<String, Vec<u8>> {
    ["text", "empty"]
        .into_iter()
        .map(|name| (name.to_owned(), test_value(name).bytes.clone()))
        .collect()
}

fn same_bytes(who: &str, expected: &[u8], actual: &[u8]) -> Result<(), String> {
    if expected == actual {
        return Ok(());
    }
    let first_difference = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let preview = |b: &[u8]| {
        if b.len() <= 64 {
            format!(" \"{}\"", b.escape_ascii())
        } else {
            String::new()
        }
    };
    Err(format!(
        "{who} gave {} bytes{} instead of the {} bytes sealed{}; first difference at byte \
         {first_difference}",
        actual.len(),
        preview(actual),
        expected.len(),
        preview(expected),
    ))
}

fn same_data(
    who: &str,
    expected: &BTreeMap<String, Vec<u8>>,
    actual: &BTreeMap<String, Vec<u8>>,
) -> Result<(), String> {
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<&String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(format!(
            "{who} gave data keys {:?}: missing {missing:?}, unexpected {extra:?}",
            actual.keys().collect::<Vec<_>>()
        ));
    }
    for (key, value) in expected {
        same_bytes(&format!("{who} (data {key:?})"), value, &actual[key])?;
    }
    Ok(())
}

/// Sets name and namespace of an object's metadata to `binding`'s, and its scope annotation too
/// when `with_scope` (otherwise removes any).
fn set_metadata(meta: &mut Value, binding: &Binding, with_scope: bool) -> Result<(), String> {
    let Some(meta) = meta.as_object_mut() else {
        return Err(format!("metadata is not a mapping: {meta}"));
    };
    meta.insert("name".into(), json!(binding.name));
    meta.insert("namespace".into(), json!(binding.namespace));
    let mut annotations = match meta.remove("annotations") {
        Some(Value::Object(a)) => a,
        _ => Map::new(),
    };
    annotations.remove(NAMESPACE_WIDE_ANNOTATION);
    annotations.remove(CLUSTER_WIDE_ANNOTATION);
    if let Some(key) = binding.scope_annotation().filter(|_| with_scope) {
        annotations.insert(key.into(), json!("true"));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    Ok(())
}

/// The metadata blocks of a SealedSecret, and whether the scope annotation goes there. Only the
/// SealedSecret's own annotations decide the scope (the controller ignores the template's), so
/// the template gets none: an unsealer that reads the wrong block fails.
const SEALED_SECRET_METADATA: [(&str, bool); 2] =
    [("/metadata", true), ("/spec/template/metadata", false)];

/// A SealedSecret around raw ciphertexts, shaped like `kubeseal`'s output.
fn sealed_secret_yaml(binding: &Binding, encrypted: &[(&str, &str)]) -> String {
    let encrypted: BTreeMap<&str, &str> = encrypted.iter().copied().collect();
    let mut doc = json!({
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {},
        "spec": {
            "encryptedData": encrypted,
            "template": {"metadata": {}, "type": "Opaque"},
        },
    });
    for (pointer, with_scope) in SEALED_SECRET_METADATA {
        let meta = doc
            .pointer_mut(pointer)
            .expect("the document has this path");
        set_metadata(meta, binding, with_scope).expect("an empty mapping takes metadata");
    }
    OutFormat::Yaml.render(&doc)
}

/// The same SealedSecret (YAML or JSON) with its own and its template's metadata rebound.
fn move_object(sealed_secret: &str, to: &Binding) -> Result<String, String> {
    let mut doc = OutFormat::Yaml.parse(sealed_secret.as_bytes())?;
    for (pointer, with_scope) in SEALED_SECRET_METADATA {
        if let Some(meta) = doc.pointer_mut(pointer) {
            set_metadata(meta, to, with_scope)?;
        }
    }
    Ok(OutFormat::Yaml.render(&doc))
}

/// Where the scope of a Secret sealed by our CLI comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScopeSource {
    Flag,
    Annotation,
}

/// A Secret holding `data`, in `format`; with its scope annotation when `source` says so.
fn secret_manifest(
    binding: &Binding,
    data: &BTreeMap<String, Vec<u8>>,
    source: ScopeSource,
    format: OutFormat,
) -> String {
    let encoded: BTreeMap<&String, String> = data.iter().map(|(k, v)| (k, b64(v))).collect();
    let mut metadata = json!({"name": binding.name, "namespace": binding.namespace});
    if source == ScopeSource::Annotation {
        set_metadata(&mut metadata, binding, true).expect("metadata is a mapping");
    }
    format.render(&json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": encoded,
    }))
}

/// Our `kubeseal` sealing `data` into a SealedSecret bound to `binding`, in `format`.
fn cli_seal_object(
    binding: &Binding,
    data: &BTreeMap<String, Vec<u8>>,
    source: ScopeSource,
    format: OutFormat,
) -> Result<String, String> {
    let cert = fixture().cert();
    let mut args = vec!["--cert", &cert, "-o", format.flag()];
    if source == ScopeSource::Flag {
        args.extend(["--scope", binding.scope_flag()]);
    }
    let input = secret_manifest(binding, data, source, format);
    let out = kubeseal(&args, input.as_bytes())?.ok()?;
    format
        .parse(&out)
        .map_err(|e| format!("kubeseal -o {}: {e}", format.flag()))?;
    String::from_utf8(out).map_err(|_| "kubeseal printed non-UTF-8".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Parallel cases.

fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get() + 1)
        .clamp(2, 8)
}

/// `f` over `items` on a few threads, results in order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers().min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                results.lock().expect("results lock poisoned")[i] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .expect("results lock poisoned")
        .into_iter()
        .map(|r| r.expect("every item was processed"))
        .collect()
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(non-string panic)".to_owned())
}

/// Runs every case (in parallel) and fails listing all the cases that failed.
fn run_all<T: Sync>(
    cases: &[T],
    name: impl Fn(&T) -> String,
    check: impl Fn(&T) -> Result<(), String> + Sync,
) {
    assert!(!cases.is_empty(), "no cases to run");
    // Initialise the fixture before fanning out (a failure there is one clear panic).
    fixture();
    let outcomes = par_map(cases, |case| {
        catch_unwind(AssertUnwindSafe(|| check(case)))
            .unwrap_or_else(|p| Err(format!("panicked: {}", panic_message(p.as_ref()))))
    });
    let failures: Vec<String> = cases
        .iter()
        .zip(outcomes)
        .filter_map(|(case, outcome)| outcome.err().map(|e| format!("{}: {e}", name(case))))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n- {}",
        failures.len(),
        cases.len(),
        failures.join("\n- ")
    );
}

/// Every (scope, value) pair.
fn scope_value_pairs() -> Vec<(Binding, &'static TestValue)> {
    Binding::all_scopes()
        .into_iter()
        .flat_map(|b| test_values().iter().map(move |v| (b, v)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Ours → theirs: raw values.

fn check_ours_unseal_in_oracles(sealer: OurSealer) {
    let cases: Vec<(Binding, &TestValue, Oracle)> = scope_value_pairs()
        .into_iter()
        .flat_map(|(b, v)| Oracle::UNSEALERS.map(|o| (b, v, o)))
        .collect();
    run_all(
        &cases,
        |(b, v, o)| format!("{sealer} → {o}, {b}, value {:?}", v.name),
        |(binding, value, oracle)| {
            let sealed = sealer.seal_raw(binding, value)?;
            let plain = oracle.unseal_raw(&binding.label(), &sealed)?.ok()?;
            same_bytes(&oracle.to_string(), &value.bytes, &plain)
        },
    );
}

#[test]
fn library_sealed_values_unseal_in_oracles() {
    check_ours_unseal_in_oracles(OurSealer::Library);
}

#[test]
fn cli_raw_sealed_values_unseal_in_oracles() {
    check_ours_unseal_in_oracles(OurSealer::Cli);
}

// ---------------------------------------------------------------------------------------------
// Theirs → ours: raw values.

#[test]
fn oracle_sealed_values_unseal_in_our_library_and_cli() {
    let cases: Vec<(Oracle, Binding, &TestValue)> = Oracle::SEALERS
        .into_iter()
        .flat_map(|o| scope_value_pairs().into_iter().map(move |(b, v)| (o, b, v)))
        .filter(|(o, b, v)| o.can_seal(b, v))
        .collect();
    assert!(
        cases.iter().any(|(o, ..)| *o == Oracle::Linode),
        "no case for {}",
        Oracle::Linode
    );
    run_all(
        &cases,
        |(o, b, v)| format!("{o} → ours, {b}, value {:?}", v.name),
        |(oracle, binding, value)| {
            let sealed = oracle.seal_raw(binding, &value.bytes)?;

            let plain = library_unseal(KeyForm::Pkcs1, binding, &sealed)
                .map_err(|e| format!("our library could not unseal it: {e}"))?;
            same_bytes("our library", &value.bytes, &plain)?;

            let doc = sealed_secret_yaml(binding, &[(RAW_KEY, &sealed)]);
            let ran = cli_recovery_unseal(&doc, KeyForm::Pkcs8, OutFormat::Json)?;
            let data = cli_unsealed_data(ran, OutFormat::Json, binding)?;
            let expected = BTreeMap::from([(RAW_KEY.to_owned(), value.bytes.clone())]);
            same_data("our kubeseal --recovery-unseal", &expected, &data)
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Whole objects, both ways.

#[test]
fn oracle_sealed_objects_unseal_in_our_cli() {
    let expected = object_data();
    run_all(
        &Binding::all_scopes(),
        |b| format!("kubesealpy seal-object → kubeseal --recovery-unseal, {b}"),
        |binding| {
            let sealed = oracle_seal_object(binding, &expected)?;
            for format in OutFormat::ALL {
                for key in [KeyForm::Pkcs8, KeyForm::Pkcs1] {
                    let ran = cli_recovery_unseal(&sealed, key, format)?;
                    let data = cli_unsealed_data(ran, format, binding)?;
                    same_data(
                        &format!(
                            "kubeseal --recovery-unseal -o {} ({key:?} key)",
                            format.flag()
                        ),
                        &expected,
                        &data,
                    )?;
                }
            }
            Ok(())
        },
    );
}

#[test]
fn our_cli_sealed_objects_unseal_in_oracle() {
    let expected = object_data();
    let mut cases: Vec<(Binding, OutFormat, ScopeSource)> = Binding::all_scopes()
        .into_iter()
        .flat_map(|b| OutFormat::ALL.map(|f| (b, f, ScopeSource::Flag)))
        .collect();
    // The scope can also come from the input Secret's annotations (strict has none).
    cases.extend(
        Binding::all_scopes()
            .into_iter()
            .filter(|b| b.scope != Scope::Strict)
            .map(|b| (b, OutFormat::Yaml, ScopeSource::Annotation)),
    );
    run_all(
        &cases,
        |(b, f, s)| {
            format!(
                "kubeseal -o {} (scope from {s:?}) → kubesealpy, {b}",
                f.flag()
            )
        },
        |(binding, format, source)| {
            let sealed = cli_seal_object(binding, &expected, *source, *format)?;
            let data = oracle_unsealed_data(oracle_unseal_object(&sealed)?)?;
            same_data("kubesealpy unseal-object", &expected, &data)
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Negative cross-checks: a value is bound to its label.

#[test]
fn oracle_ciphertexts_under_a_wrong_label_do_not_unseal_in_ours() {
    let text = test_value("text");
    let cases: Vec<(Oracle, Binding)> = Oracle::SEALERS
        .into_iter()
        .flat_map(|o| Binding::all_scopes().into_iter().map(move |b| (o, b)))
        .filter(|(o, b)| o.can_seal(b, text))
        .collect();
    run_all(
        &cases,
        |(o, b)| format!("{o} sealed for {b}"),
        |(oracle, right)| {
            let sealed = oracle.seal_raw(right, &text.bytes)?;
            // Controls: the right binding opens it, in the library and in the CLI.
            let plain = library_unseal(KeyForm::Pkcs8, right, &sealed)
                .map_err(|e| format!("control: our library could not unseal it: {e}"))?;
            same_bytes("control: our library", &text.bytes, &plain)?;
            let ran = cli_recovery_unseal(
                &sealed_secret_yaml(right, &[(RAW_KEY, &sealed)]),
                KeyForm::Pkcs8,
                OutFormat::Json,
            )?;
            let data = cli_unsealed_data(ran, OutFormat::Json, right)
                .map_err(|e| format!("control: {e}"))?;
            let expected = BTreeMap::from([(RAW_KEY.to_owned(), text.bytes.clone())]);
            same_data("control: our kubeseal --recovery-unseal", &expected, &data)?;

            for wrong in right.wrong_bindings() {
                library_refuses(KeyForm::Pkcs8, &wrong, &sealed)?;
                let doc = sealed_secret_yaml(&wrong, &[(RAW_KEY, &sealed)]);
                cli_recovery_unseal(&doc, KeyForm::Pkcs8, OutFormat::Json)?
                    .refused(1, NO_KEY_COULD_DECRYPT)
                    .map_err(|e| format!("SealedSecret moved to {wrong}: {e}"))?;
            }
            Ok(())
        },
    );
}

#[test]
fn our_ciphertexts_under_a_wrong_label_do_not_unseal_in_oracles() {
    let text = test_value("text");
    // One ciphertext per scope, then (ciphertext, oracle, binding tried) cases: the right binding
    // (the control) and every rename, move or rescope that changes the label.
    let sealed: Vec<(Binding, String)> = Binding::all_scopes()
        .into_iter()
        .map(|b| {
            let s = OurSealer::Library
                .seal_raw(&b, text)
                .unwrap_or_else(|e| panic!("sealing for {b}: {e}"));
            (b, s)
        })
        .collect();
    let cases: Vec<(&Binding, &str, Oracle, Binding)> = sealed
        .iter()
        .flat_map(|(right, s)| {
            std::iter::once(*right)
                .chain(right.label_changing_moves())
                .flat_map(move |tried| Oracle::UNSEALERS.map(|o| (right, s.as_str(), o, tried)))
        })
        .collect();
    run_all(
        &cases,
        |(right, _, o, tried)| format!("ours sealed for {right}, {o} tried {tried}"),
        |(right, sealed, oracle, tried)| {
            let ran = oracle.unseal_raw(&tried.label(), sealed)?;
            if tried == *right {
                same_bytes(&format!("control: {oracle}"), &text.bytes, &ran.ok()?)
            } else {
                ran.refused(1, "decrypt")
            }
        },
    );
}

#[test]
fn moved_sealed_objects_unseal_only_where_their_scope_allows() {
    let expected = small_data();
    fixture();
    // kubesealpy objects, sealed once per scope (in parallel), for our CLI to unseal; indexed
    // like `Binding::all_scopes()`.
    let theirs: Vec<Result<String, String>> =
        par_map(&Binding::all_scopes(), |b| oracle_seal_object(b, &expected));

    #[derive(Clone, Copy, Debug)]
    enum Direction {
        OursToOracle,
        OracleToOurs,
    }
    let cases: Vec<(Direction, usize, Binding, Binding)> = Binding::all_scopes()
        .into_iter()
        .enumerate()
        .flat_map(|(i, from)| from.moves().into_iter().map(move |to| (i, from, to)))
        .flat_map(|(i, from, to)| {
            [Direction::OursToOracle, Direction::OracleToOurs].map(|d| (d, i, from, to))
        })
        .collect();
    run_all(
        &cases,
        |(d, _, from, to)| format!("{d:?}: sealed for {from}, moved to {to}"),
        |(direction, i, from, to)| {
            // A move keeps working exactly when it keeps the label (e.g. renaming a
            // namespace-wide SealedSecret, or anything done to a cluster-wide one).
            let should_open = from.label() == to.label();
            match direction {
                Direction::OursToOracle => {
                    let sealed =
                        cli_seal_object(from, &expected, ScopeSource::Flag, OutFormat::Yaml)?;
                    let ran = oracle_unseal_object(&move_object(&sealed, to)?)?;
                    if should_open {
                        same_data("kubesealpy", &expected, &oracle_unsealed_data(ran)?)
                    } else {
                        ran.refused(1, "decrypt")
                    }
                }
                Direction::OracleToOurs => {
                    let sealed = theirs[*i].as_ref().map_err(|e| format!("sealing: {e}"))?;
                    let ran = cli_recovery_unseal(
                        &move_object(sealed, to)?,
                        KeyForm::Pkcs1,
                        OutFormat::Json,
                    )?;
                    if should_open {
                        let data = cli_unsealed_data(ran, OutFormat::Json, to)?;
                        same_data("kubeseal --recovery-unseal", &expected, &data)
                    } else {
                        ran.refused(1, NO_KEY_COULD_DECRYPT)
                    }
                }
            }
        },
    );
}
