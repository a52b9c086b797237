//! The connection options `kubeseal` and `ccloud-keys` share: where the controller is and how
//! to reach the API server (kubectl's client flags, as upstream `kubeseal` names them).

use std::path::PathBuf;

use clap::Args;
use goflags::parse_go_duration;

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
