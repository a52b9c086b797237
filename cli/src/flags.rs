//! The command line: every flag of the Go `kubeseal`, with the same names, short forms, defaults
//! and `SEALED_SECRETS_*` environment variables. Parsing only; the work is done elsewhere.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use kubeseal_client::connection::ClusterFlags;

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
    Bulk(Box<BulkArgs>),
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

/// Seal or re-encrypt every manifest of a directory tree, in parallel.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// What to do with the tree.
    #[command(subcommand)]
    pub command: BulkCommand,
}

/// The bulk operations.
#[derive(Debug, Subcommand)]
pub enum BulkCommand {
    /// Seal every Secret under SRC_DIR into a mirrored tree under DST_DIR.
    #[command(
        long_about = "Seal every Secret under SRC_DIR into a mirrored tree under DST_DIR.\n\n\
Reads every *.yaml, *.yml and *.json file under SRC_DIR (recursively; hidden files and \
directories such as .git are ignored, and so is DST_DIR when it lies inside SRC_DIR) and writes \
each file that holds a Secret to the same relative path under DST_DIR, with each Secret replaced \
by its SealedSecret. The other documents of a file are copied as they are, in their order, \
comments included; comments inside a Secret's document are dropped. Each file keeps its format \
(JSON stays JSON, YAML stays YAML with --- separators) unless -o is given. Files without a Secret \
are not written (reported as \"skipped (no Secret)\"). Existing files in DST_DIR are replaced \
atomically; nothing is ever deleted there.\n\n\
The certificate comes from --cert, or is fetched once from the controller. A Secret without a \
namespace gets the one of -n; without -n that file fails (the kubeconfig's context is not \
looked at, so that a tree seals the same whatever the current context; cluster-wide Secrets \
need no namespace).\n\n\
A progress bar is drawn when stderr is a terminal. Each failed file is reported on one line \
(error: FILE: reason, never a value) and the others are still sealed; a summary ends the run. \
Exit status: 0 when every file was sealed or skipped, 1 when any failed or nothing could start, \
2 on bad usage.",
        after_help = "Examples:\n  \
kubeseal bulk seal --cert pub-cert.pem secrets/ sealed/\n  \
kubeseal bulk seal -n default --jobs 4 plain/ sealed/    # certificate fetched from the controller\n  \
kubeseal bulk seal --cert https://certs.example.com/prod.pem -o yaml plain/ sealed/prod/"
    )]
    Seal(SealArgs),

    /// Re-encrypt every SealedSecret under DIR in place with the controller's newest key.
    #[command(
        visible_alias = "rotate",
        long_about = "Re-encrypt every SealedSecret under DIR in place with the controller's newest key.\n\n\
Reads every *.yaml, *.yml and *.json file under DIR (recursively; hidden files and directories \
are ignored), sends each SealedSecret to the controller to be re-encrypted (as --re-encrypt does) \
and rewrites the file atomically. The other documents of a file are kept as they are, in their \
order; each file keeps its format unless -o is given. Files without a SealedSecret are left alone \
(\"skipped (no SealedSecret)\"); a file is rewritten only when all of its SealedSecrets were \
re-encrypted, otherwise it is reported and left as it was. Needs access to the controller \
(kubeconfig or the cluster flags below).\n\n\
With --only-stale only the files with a value not on the newest key are rewritten (the others \
are left byte for byte and counted as \"already current\"); each rewritten file is listed. With \
--recovery-private-key no controller is needed: the backed-up keys decrypt, and values are \
re-encrypted to --cert, else to the newest backed-up key. With --commit the rewritten files are \
committed in one commit (a file with uncommitted changes is refused), with --push pushed \
(rebased and retried when refused). When the controller becomes unreachable no new file is \
started and the run says how many are left.\n\n\
Exit status: 0 when every file was re-encrypted, current or skipped, 1 when any failed or the \
controller cannot be reached, 2 on bad usage.",
        after_help = "Examples:\n  \
kubeseal bulk re-encrypt sealed/\n  \
kubeseal bulk re-encrypt --context prod --controller-namespace sealed-secrets --jobs 8 sealed/prod/\n  \
kubeseal bulk re-encrypt --only-stale --commit --push sealed/\n  \
kubeseal bulk re-encrypt --recovery-private-key keys-backup.yaml --cert new-cluster.pem sealed/"
    )]
    ReEncrypt(ReEncryptArgs),
}

/// `kubeseal bulk seal`.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Directory of Secret manifests to seal (read recursively).
    #[arg(value_name = "SRC_DIR")]
    pub src: PathBuf,

    /// Directory to write the sealed tree to (created when missing).
    #[arg(value_name = "DST_DIR")]
    pub dst: PathBuf,

    /// Certificate / public key file or http(s)/file:// URL to seal with (default: fetch it once
    /// from the controller).
    #[arg(long, env = "SEALED_SECRETS_CERT", value_name = "FILE|URL")]
    pub cert: Option<String>,

    /// Set the scope of every sealed secret: strict, namespace-wide, cluster-wide (default: what
    /// each Secret's scope annotations say, else strict).
    #[arg(long, env = "SEALED_SECRETS_SCOPE", value_name = "SCOPE")]
    pub scope: Option<String>,

    /// Allow empty data in the secret objects.
    #[arg(long, env = "SEALED_SECRETS_ALLOW_EMPTY_DATA")]
    pub allow_empty_data: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// `kubeseal bulk re-encrypt`.
#[derive(Debug, Args)]
pub struct ReEncryptArgs {
    /// Directory of SealedSecret manifests to re-encrypt in place (read recursively).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Rewrite only the files with a value not on the newest key; the others are left byte
    /// for byte (through the controller this needs this project's controller: /v1/rotate?onlyStale).
    #[arg(long)]
    pub only_stale: bool,

    /// Re-encrypt offline with these backed-up private keys (PEM, key Secrets or a List of
    /// them; comma-separated or repeated): no controller needed.
    #[arg(long, value_delimiter = ',', value_name = "FILE")]
    pub recovery_private_key: Vec<PathBuf>,

    /// With --recovery-private-key: re-encrypt to this certificate (file or URL; e.g. another
    /// cluster's, to migrate) instead of the newest backed-up key.
    #[arg(long, value_name = "FILE|URL", requires = "recovery_private_key")]
    pub cert: Option<String>,

    /// Commit the rewritten files in one commit (a file with uncommitted changes is refused).
    #[arg(long)]
    pub commit: bool,

    /// Push the commit (`git push REMOTE HEAD`), rebasing and retrying when refused.
    #[arg(long, requires = "commit")]
    pub push: bool,

    /// The remote --push pushes to.
    #[arg(long, default_value = "origin", requires = "push")]
    pub remote: String,

    /// Author (and committer) of the commit.
    #[arg(
        long,
        default_value = "kubeseal <kubeseal@localhost>",
        requires = "commit"
    )]
    pub author: String,

    /// First line of the commit message (default: "Re-encrypt N SealedSecret files to the
    /// newest key"); the files follow in its body.
    #[arg(long, requires = "commit")]
    pub message: Option<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of both bulk operations.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Output format: json or yaml (default: each file keeps its own format).
    #[arg(short = 'o', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,

    /// How many files to work on at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,

    #[command(flatten, next_help_heading = "Cluster access")]
    pub cluster: ClusterFlags,
}
