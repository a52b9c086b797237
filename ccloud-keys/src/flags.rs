//! The command line. Parsing only; `offline.rs` and `watch/` do the work.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use kubeseal_client::connection::{parse_duration, ControllerFlags};

use crate::input::SecretSource;
use crate::kinds::Category;

/// Seal Confluent Cloud API keys and Kafka Connect credentials into SealedSecrets laid out for
/// Flux (`secrets/sealed/<env>/<namespace>-<name>.yaml`), and feed keys the ccloud-operator mints
/// in the cluster back into Git.
///
/// Secret parts (API secrets, passwords) are never taken from the command line: they are read
/// from stdin, --secret-file or --secret-env, and never printed or logged.
#[derive(Debug, Parser)]
#[command(
    name = "ccloud-keys",
    version,
    after_help = "Examples:\n  ccloud-keys --env dev api-key --service-account orders-app --service-account-id sa-1x2y \\\n      --resource-id lkc-9z8y --key ABCDEFGHIJKLMNOP < api-secret.txt\n  ccloud-keys --env dev connector --name connect-operator-secrets --from-env-file mysql.env\n  ccloud-keys --env dev connector --name orders-bq-sink-keyfile --from-file keyfile=bq.json\n  ccloud-keys watch --repo /git/streaming-ops --env dev --commit\n\nExit status: 0 on success, 1 on any error (one line on stderr, nothing written), 2 on bad usage."
)]
pub struct Cli {
    #[command(flatten)]
    pub out: OutputFlags,

    #[command(subcommand)]
    pub command: Command,
}

/// Where sealed files go and what they are sealed with.
#[derive(Debug, Args)]
pub struct OutputFlags {
    /// Root of the GitOps working tree.
    #[arg(
        long,
        global = true,
        env = "CCLOUD_KEYS_REPO",
        default_value = ".",
        value_name = "DIR"
    )]
    pub repo: PathBuf,

    /// Environment the files are for (`dev`, `prd`, …): picks `secrets/sealed/<env>/` and the
    /// default certificate `secrets/keys/<env>.crt`.
    #[arg(long, global = true, env = "CCLOUD_KEYS_ENV", value_name = "ENV")]
    pub env: Option<String>,

    /// Certificate to seal with: a file or an http(s) URL (default: `secrets/keys/<env>.crt`;
    /// `watch` fetches it from the controller when not set).
    #[arg(
        long,
        global = true,
        env = "SEALED_SECRETS_CERT",
        value_name = "FILE|URL"
    )]
    pub cert: Option<String>,

    /// Namespace of the Secret (the operators write to `default`).
    #[arg(short = 'n', long, global = true, default_value = "default")]
    pub namespace: String,

    /// Show what would be written (path and SealedSecret) without writing anything.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Overwrite a target file even when it has uncommitted changes in Git.
    #[arg(long, global = true)]
    pub force: bool,
}

/// What to seal.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A Kafka or Schema Registry API key: `cc.api-key.<service-account>.<resource-id>`.
    ApiKey(ApiKeyArgs),
    /// The SASL JAAS line for a Kafka API key: `cc.sasl-jaas-config.<sa>.<environment>.<kafka>`.
    SaslJaasConfig(JaasArgs),
    /// Schema Registry basic-auth user info:
    /// `cc.schema-registry-basic-auth-user-info.<sa>.<environment>`.
    SchemaRegistryAuth(SchemaRegistryAuthArgs),
    /// Kafka bootstrap servers: `cc.bootstrap-servers.<environment>.<kafka>`.
    BootstrapServers(BootstrapArgs),
    /// The Schema Registry URL: `cc.schema-registry-url.<environment>`.
    SchemaRegistryUrl(SchemaRegistryUrlArgs),
    /// The Confluent Cloud API key: `cc.api-key.cloud`.
    CloudKey(CloudKeyArgs),
    /// The ccloud-operator's own login: `cc.ccloud-secrets`.
    OperatorLogin(LoginArgs),
    /// Connector credentials from env files and files (e.g. `connect-operator-secrets`,
    /// `orders-bq-sink-keyfile`).
    Connector(ConnectorArgs),
    /// Watch the Secrets the ccloud-operator writes and keep sealed copies in the Git tree.
    Watch(Box<WatchArgs>),
    /// Print a shell completion script (e.g. `source <(ccloud-keys completion bash)`).
    Completion {
        /// The shell to generate for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `api-key`.
#[derive(Debug, Args)]
pub struct ApiKeyArgs {
    /// Service-account name (becomes the `service_accont` label and part of the name).
    #[arg(long, value_name = "NAME")]
    pub service_account: String,
    /// Service-account id (`sa-…`).
    #[arg(long, value_name = "ID")]
    pub service_account_id: String,
    /// Kafka cluster (`lkc-…`) or Schema Registry (`lsrc-…`) id.
    #[arg(long, value_name = "ID")]
    pub resource_id: String,
    /// The API key id.
    #[arg(long, value_name = "ID")]
    pub key: String,
    /// Category label (default: from the resource id).
    #[arg(long, value_enum)]
    pub category: Option<Category>,
    #[command(flatten)]
    pub secret: SecretSource,
}

/// `sasl-jaas-config`.
#[derive(Debug, Args)]
pub struct JaasArgs {
    /// Service-account name.
    #[arg(long, value_name = "NAME")]
    pub service_account: String,
    /// Confluent Cloud environment.
    #[arg(long, value_name = "ENV")]
    pub environment: String,
    /// Kafka cluster id (`lkc-…`).
    #[arg(long, value_name = "ID")]
    pub kafka_cluster: String,
    /// The API key id.
    #[arg(long, value_name = "ID")]
    pub key: String,
    #[command(flatten)]
    pub secret: SecretSource,
}

/// `schema-registry-auth`.
#[derive(Debug, Args)]
pub struct SchemaRegistryAuthArgs {
    /// Service-account name.
    #[arg(long, value_name = "NAME")]
    pub service_account: String,
    /// Confluent Cloud environment.
    #[arg(long, value_name = "ENV")]
    pub environment: String,
    /// The Schema Registry API key id.
    #[arg(long, value_name = "ID")]
    pub key: String,
    #[command(flatten)]
    pub secret: SecretSource,
}

/// `bootstrap-servers`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Confluent Cloud environment.
    #[arg(long, value_name = "ENV")]
    pub environment: String,
    /// Kafka cluster id (`lkc-…`).
    #[arg(long, value_name = "ID")]
    pub kafka_cluster: String,
    /// `host:port[,host:port…]` (not secret).
    #[arg(long, value_name = "SERVERS")]
    pub servers: String,
}

/// `schema-registry-url`.
#[derive(Debug, Args)]
pub struct SchemaRegistryUrlArgs {
    /// Confluent Cloud environment.
    #[arg(long, value_name = "ENV")]
    pub environment: String,
    /// The Schema Registry endpoint (not secret).
    #[arg(long)]
    pub url: String,
}

/// `cloud-key`.
#[derive(Debug, Args)]
pub struct CloudKeyArgs {
    /// The Cloud API key id.
    #[arg(long, value_name = "ID")]
    pub key: String,
    #[command(flatten)]
    pub secret: SecretSource,
}

/// `operator-login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The Confluent Cloud login e-mail.
    #[arg(long)]
    pub email: String,
    /// The password: from stdin, --secret-file or --secret-env.
    #[command(flatten)]
    pub secret: SecretSource,
}

/// `connector`.
#[derive(Debug, Args)]
pub struct ConnectorArgs {
    /// Secret name (e.g. `connect-operator-secrets`).
    #[arg(long)]
    pub name: String,
    /// `KEY=VALUE` lines (repeatable), as `kubectl create secret --from-env-file`.
    #[arg(long, value_name = "PATH")]
    pub from_env_file: Vec<PathBuf>,
    /// `[key=]path` (repeatable): the file's bytes under `key` (default: the file name).
    #[arg(long, value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,
}

/// `watch` flags.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// The controller whose certificate is used when --cert is not given.
    #[command(flatten)]
    pub controller: ControllerFlags,
    /// Only Secrets matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Only Secrets whose name starts with this (the operator's Secrets all start with `cc.`).
    #[arg(long, default_value = "cc.")]
    pub name_prefix: String,
    /// Secrets never fed back (repeatable; default: the operator's login, which comes from Git).
    #[arg(long, default_values_t = ["cc.ccloud-secrets".to_owned()])]
    pub exclude: Vec<String>,
    /// Namespace of the state Secret (default: $POD_NAMESPACE, else the watched namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub state_namespace: Option<String>,
    /// Name of the Secret holding the fingerprints.
    #[arg(long, default_value = "ccloud-keys-state")]
    pub state_secret: String,
    /// Fetch the controller's certificate again when the cached one is older than this (picks
    /// up key renewals).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub cert_refresh: Duration,
    /// Commit each written file (only that file).
    #[arg(long)]
    pub commit: bool,
    /// Push after each commit (`git push REMOTE HEAD`); a failed push is retried.
    #[arg(long, requires = "commit")]
    pub push: bool,
    /// The remote `--push` pushes to.
    #[arg(long, default_value = "origin")]
    pub remote: String,
    /// Author (and committer) of the commits.
    #[arg(long, default_value = "ccloud-keys <ccloud-keys@localhost>")]
    pub author: String,
    /// Commit message; `{namespace}`, `{name}` and `{file}` are replaced.
    #[arg(long, default_value = "Seal {namespace}/{name} from the cluster")]
    pub message: String,
    /// Do not mark live Secrets `sealedsecrets.bitnami.com/managed: "true"`.
    #[arg(long)]
    pub no_adopt: bool,
    /// Address of `/healthz` and `/metrics`.
    #[arg(long, default_value = "0.0.0.0:9102")]
    pub listen_addr: SocketAddr,
    /// Process the Secrets present now, then exit (non-zero if any failed).
    #[arg(long)]
    pub once: bool,
    /// How often failed Secrets are tried again.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub retry_interval: Duration,
    /// Log format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log level: debug, info, warn, error.
    #[arg(long, default_value = "info")]
    pub log_level: String,
}
