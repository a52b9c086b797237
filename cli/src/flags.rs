//! The command line: every flag of the Go `kubeseal`, with the same names, short forms, defaults
//! and `SEALED_SECRETS_*` environment variables. Parsing only; the work is done elsewhere.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use crds::goflags::parse_go_duration;

/// Seal Kubernetes Secrets into SealedSecrets that only the controller in the cluster can open.
///
/// Reads a Secret (YAML or JSON, one or many documents) from stdin or -f and writes the
/// SealedSecret(s) to stdout or -w. Drop-in replacement for Bitnami's kubeseal.
#[derive(Debug, Parser)]
#[command(
    name = "kubeseal",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true,
    // As pflag: a flag given twice keeps its last value (lists keep accumulating).
    args_override_self = true,
    after_help = "Examples:\n  kubeseal --cert pub-cert.pem -o yaml < secret.yaml > sealed-secret.yaml\n  kubeseal --cert pub-cert.pem --merge-into sealed-secret.yaml < more-keys.yaml\n  echo -n s3cr3t | kubeseal --cert pub-cert.pem --raw --namespace ns --name mysecret\n  kubeseal --recovery-unseal --recovery-private-key backup.yaml < sealed-secret.yaml\n\nExit status: 0 on success, 1 on any error (one line on stderr, nothing written), 2 on bad usage."
)]
pub struct Cli {
    /// Shell completions and other helpers.
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub seal: SealFlags,

    #[command(flatten)]
    pub cluster: ClusterFlags,

    #[command(flatten)]
    pub klog: KlogFlags,
}

/// The logging flags the Go `kubeseal` inherits from klog: accepted (so scripts that pass
/// `-v 2` keep working) and ignored, hidden from the help.
#[derive(Debug, Default, Args)]
pub struct KlogFlags {
    /// Log level verbosity (ignored).
    #[arg(short = 'v', long = "v", hide = true, value_name = "LEVEL")]
    pub v: Option<String>,
    /// Ignored (klog).
    #[arg(long = "vmodule", hide = true)]
    pub vmodule: Option<String>,
    /// Ignored (klog).
    #[arg(long = "log_dir", hide = true)]
    pub log_dir: Option<String>,
    /// Ignored (klog).
    #[arg(long = "log_file", hide = true)]
    pub log_file: Option<String>,
    /// Ignored (klog).
    #[arg(long = "log_file_max_size", hide = true)]
    pub log_file_max_size: Option<String>,
    /// Ignored (klog).
    #[arg(long = "stderrthreshold", hide = true)]
    pub stderrthreshold: Option<String>,
    /// Ignored (klog).
    #[arg(long = "log_backtrace_at", hide = true)]
    pub log_backtrace_at: Option<String>,
    /// Ignored (klog).
    #[arg(long = "logtostderr", hide = true)]
    pub logtostderr: bool,
    /// Ignored (klog).
    #[arg(long = "alsologtostderr", hide = true)]
    pub alsologtostderr: bool,
    /// Ignored (klog).
    #[arg(long = "skip_headers", hide = true)]
    pub skip_headers: bool,
    /// Ignored (klog).
    #[arg(long = "skip_log_headers", hide = true)]
    pub skip_log_headers: bool,
    /// Ignored (klog).
    #[arg(long = "add_dir_header", hide = true)]
    pub add_dir_header: bool,
    /// Ignored (klog).
    #[arg(long = "one_output", hide = true)]
    pub one_output: bool,
    /// Ignored (klog v2.140).
    #[arg(long = "legacy_stderr_threshold_behavior", hide = true)]
    pub legacy_stderr_threshold_behavior: bool,
}

/// Subcommands (the original has none; these are additions).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script (e.g. `source <(kubeseal completion bash)`).
    Completion {
        /// The shell to generate for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Seal or re-encrypt every manifest of a directory tree, in parallel (`kubeseal bulk seal
    /// SRC_DIR DST_DIR`, `kubeseal bulk re-encrypt DIR`).
    Bulk(Box<crate::bulk::BulkArgs>),
}

/// Flags that decide what is sealed and how.
#[derive(Debug, Args)]
pub struct SealFlags {
    /// Certificate / public key file or http(s)/file:// URL to seal with (default: fetch it from
    /// the controller). Repeat as NAME=FILE|URL to seal for several clusters at once; -w must
    /// then contain {cluster}.
    #[arg(long, env = "SEALED_SECRETS_CERT", value_name = "FILE|URL")]
    pub cert: Vec<String>,

    /// Output format for sealed secret: json or yaml (default json; a .yaml/.yml -w file, or the
    /// file given to --merge-into, decides when not set).
    #[arg(
        short = 'o',
        long = "format",
        env = "SEALED_SECRETS_FORMAT",
        value_name = "FORMAT"
    )]
    pub format: Option<String>,

    /// Sealed-secret (output) file; written atomically. A .yaml/.yml name implies -o yaml.
    #[arg(short = 'w', long = "sealed-secret-file", value_name = "FILE")]
    pub sealed_secret_file: Option<PathBuf>,

    /// Secret (input) file (default: stdin).
    #[arg(short = 'f', long = "secret-file", value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// Write certificate to stdout. Useful for later use with --cert.
    #[arg(long, env = "SEALED_SECRETS_FETCH_CERT")]
    pub fetch_cert: bool,

    /// Allow empty data in the secret object.
    #[arg(long, env = "SEALED_SECRETS_ALLOW_EMPTY_DATA")]
    pub allow_empty_data: bool,

    /// Validate the given sealed secret object (needs the controller).
    #[arg(long)]
    pub validate: bool,

    /// Merge items from secret into an existing sealed secret file, updating the file in-place
    /// instead of writing to stdout.
    #[arg(long, value_name = "FILE")]
    pub merge_into: Option<PathBuf>,

    /// Encrypt a raw value passed via --from-file (or stdin); needs --name for strict scope and a
    /// namespace unless cluster-wide.
    #[arg(long)]
    pub raw: bool,

    /// Name of the sealed secret (required with --raw and strict scope; overrides the input's
    /// metadata.name otherwise).
    #[arg(long, env = "SEALED_SECRETS_NAME")]
    pub name: Option<String>,

    /// (Repeatable) Secret items from files: [key=]path. With --raw, exactly one. Without --raw,
    /// builds a Secret named --name from the files instead of reading one.
    #[arg(long = "from-file", value_delimiter = ',', value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,

    /// Set the scope of the sealed secret: strict, namespace-wide, cluster-wide (default strict,
    /// or what the input's scope annotations say).
    #[arg(long, env = "SEALED_SECRETS_SCOPE", value_name = "SCOPE")]
    pub scope: Option<String>,

    /// Re-encrypt the given sealed secret to use the latest cluster key (through the controller;
    /// offline with --recovery-private-key: to --cert if given, else to the newest backed-up key).
    #[arg(long, alias = "rotate")]
    pub re_encrypt: bool,

    /// Decrypt a sealed secrets file obtained from stdin, using the private key passed with
    /// --recovery-private-key. Intended to be used in disaster recovery mode.
    #[arg(long)]
    pub recovery_unseal: bool,

    /// Private key filename used by the --recovery-unseal command. Multiple files accepted either
    /// via comma separated list or by repetition of the flag. Either PEM encoded private keys or
    /// a backup of a key Secret / List of them (JSON or YAML).
    #[arg(long, value_delimiter = ',', value_name = "FILE")]
    pub recovery_private_key: Vec<PathBuf>,

    /// Print version information and exit.
    #[arg(long)]
    pub version: bool,
}

/// Where the controller is (its Service's namespace and name), as upstream names the flags.
#[derive(Debug, Clone, Args)]
pub struct ControllerFlags {
    /// Namespace of the sealed-secrets controller.
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    pub controller_namespace: String,
    /// Name of the sealed-secrets controller.
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    pub controller_name: String,
}

impl Default for ControllerFlags {
    fn default() -> Self {
        Self {
            controller_namespace: "kube-system".to_owned(),
            controller_name: "sealed-secrets-controller".to_owned(),
        }
    }
}

/// Where the controller is and how to reach the API server (the usual kubectl client flags).
#[derive(Debug, Default, Args)]
pub struct ClusterFlags {
    #[command(flatten)]
    pub controller: ControllerFlags,
    /// Path to the kubeconfig file to use.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// If present, the namespace scope for this CLI request.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// The name of the kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// The name of the kubeconfig cluster to use.
    #[arg(long)]
    pub cluster: Option<String>,
    /// The name of the kubeconfig user to use.
    #[arg(long)]
    pub user: Option<String>,
    /// The address and port of the Kubernetes API server.
    #[arg(short = 's', long)]
    pub server: Option<String>,
    /// Bearer token for authentication to the API server.
    #[arg(long)]
    pub token: Option<String>,
    /// If true, the server's certificate will not be checked for validity.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Path to a cert file for the certificate authority.
    #[arg(long, value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    /// Path to a client certificate file for TLS.
    #[arg(long, value_name = "FILE")]
    pub client_certificate: Option<PathBuf>,
    /// Path to a client key file for TLS.
    #[arg(long, value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// Server name to use for server certificate validation.
    #[arg(long)]
    pub tls_server_name: Option<String>,
    /// Username to impersonate for the operation.
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// Group to impersonate for the operation (repeatable).
    #[arg(long = "as-group", value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// UID to impersonate for the operation.
    #[arg(long = "as-uid", value_name = "UID")]
    pub as_uid: Option<String>,
    /// If provided, this URL will be used to connect via proxy.
    #[arg(long = "proxy-url", value_name = "URL")]
    pub proxy_url: Option<String>,
    /// Username for basic authentication to the API server.
    #[arg(long)]
    pub username: Option<String>,
    /// Password for basic authentication to the API server.
    #[arg(long)]
    pub password: Option<String>,
    /// The length of time to wait before giving up on a single server request (e.g. 30s).
    #[arg(long, default_value = "0")]
    pub request_timeout: String,
}

impl ClusterFlags {
    /// The client flags of another program that reaches the controller like `kubeseal`: a
    /// kubeconfig (else $KUBECONFIG, ~/.kube/config, in-cluster) and context, everything else at
    /// its default.
    pub fn from_kubeconfig(
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        controller: ControllerFlags,
    ) -> Self {
        Self {
            controller,
            kubeconfig,
            context,
            request_timeout: "0".to_owned(),
            ..Self::default()
        }
    }
}

/// Parses a duration as kubectl's `--request-timeout` does: plain seconds (`30`), else Go's
/// duration syntax (`30s`, `1m30s`, `1.5s`, `500ms`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    parse_go_duration(t).map_err(|_| format!("invalid duration {text:?} (e.g. 30s, 1m30s, 500ms)"))
}
