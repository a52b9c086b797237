//! Command-line flags: every flag of the Go controller (names, defaults, deprecated aliases, Go
//! boolean syntax `--flag=false`), plus the ones this implementation adds (`--kubeconfig`,
//! `--leader-elect`, `--rotate-rate-limit`).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgAction, Parser, ValueEnum};
use tracing::level_filters::LevelFilter;

/// Unseals SealedSecrets into Secrets; serves the sealing certificate and the verify/rotate API.
#[derive(Debug, Parser)]
#[command(name = "sealed-secrets-controller", disable_version_flag = true)]
pub struct Flags {
    /// Prefix used to name keys.
    #[arg(long, default_value = "sealed-secrets-key")]
    pub key_prefix: String,
    /// Size of encryption key.
    #[arg(long, default_value_t = 4096)]
    pub key_size: usize,
    /// Duration that certificate is valid for.
    #[arg(long, default_value = "87600h", value_parser = parse_go_duration)]
    pub key_ttl: Duration,
    /// Common name to be used as issuer/subject DN in generated certificate.
    #[arg(long, default_value = "")]
    pub my_cn: String,
    /// New key generation period (automatic rotation disabled if 0).
    #[arg(long, alias = "rotate-period", default_value = "720h", value_parser = parse_go_duration)]
    pub key_renew_period: Duration,
    /// Which key sorts first: CertNotBefore or SecretCreationTimestamp.
    #[arg(long, value_enum, default_value = "CertNotBefore")]
    pub key_order_priority: KeyOrder,
    /// Accept deprecated V1 data field.
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub accept_deprecated_v1_data: bool,
    /// Create a new key if latest one is older than this cutoff time (RFC 1123 with numeric zone,
    /// e.g. "Mon, 02 Jan 2006 15:04:05 -0700").
    #[arg(long, default_value = "")]
    pub key_cutoff_time: String,
    /// Scan all namespaces or only the current namespace.
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub all_namespaces: bool,
    /// Comma-separated list of additional namespaces to be scanned.
    #[arg(long, default_value = "")]
    pub additional_namespaces: String,
    /// Label selector which can be used to filter sealed secrets.
    #[arg(long, default_value = "")]
    pub label_selector: String,
    /// Number of allowed sustained request per second for verify endpoint.
    #[arg(long, allow_negative_numbers = true, default_value_t = 2)]
    pub rate_limit: u32,
    /// Number of requests allowed to exceed the rate limit per second for verify endpoint.
    #[arg(long, allow_negative_numbers = true, default_value_t = 2)]
    pub rate_limit_burst: u32,
    /// Not in the original: how many clients the rate limits remember at most (bounded memory;
    /// a client whose quota has refilled is forgotten first, a limited one never).
    #[arg(long, default_value_t = crate::limiter::MAX_CLIENTS)]
    pub rate_limit_clients: usize,
    /// Not in the original: requests per second per client allowed on the rotate endpoint
    /// (0, the default, means no limit, as in the original).
    #[arg(long, default_value_t = 0)]
    pub rotate_rate_limit: u32,
    /// Not in the original: requests allowed to exceed --rotate-rate-limit at once.
    #[arg(long, default_value_t = 2)]
    pub rotate_rate_limit_burst: u32,
    /// Not in the original: do not fill sealed_secrets_controller_condition_info, so /metrics
    /// does not name SealedSecrets (for a metrics port reachable by users who should not list
    /// them).
    #[arg(long)]
    pub metrics_omit_secret_labels: bool,
    /// Comma-separated list of additional annotations for private key secrets (k=v).
    #[arg(long, default_value = "")]
    pub privatekey_annotations: String,
    /// Comma-separated list of additional labels for private key secrets (k=v).
    #[arg(long, default_value = "")]
    pub privatekey_labels: String,
    /// Accepted for compatibility (also as its v0.17 name --old-gc-behaviour); garbage
    /// collection always follows owner references.
    #[arg(long, alias = "old-gc-behaviour")]
    pub old_gc_behavior: bool,
    /// Whether to update the status of SealedSecrets.
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub update_status: bool,
    /// Accepted for compatibility: key Secrets created or restored while running are always
    /// picked up.
    #[arg(long)]
    pub watch_for_secrets: bool,
    /// Do not re-create or restore a Secret someone deleted or edited.
    #[arg(long)]
    pub skip_recreate: bool,
    /// Log INFO and DEBUG lines to stdout and WARN/ERROR to stderr; false: everything to stderr.
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub log_info_stdout: bool,
    /// Log level: DEBUG, INFO, WARN or ERROR (any case; Go's offsets such as INFO+4 too).
    #[arg(long, default_value = "INFO", value_parser = parse_log_level)]
    pub log_level: LevelFilter,
    /// Log format: text or json.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Max unseal retries for a SealedSecret whose Secret cannot be written.
    #[arg(long, allow_negative_numbers = true, default_value_t = 5)]
    pub max_unseal_retries: u32,
    /// Kubernetes client requests per second (no client-side limit unless given: the API
    /// server protects itself; a negative value means no limit, as in the original).
    #[arg(long, allow_negative_numbers = true)]
    pub kubeclient_qps: Option<f32>,
    /// Kubernetes client burst (with --kubeclient-qps; default 10).
    #[arg(long, allow_negative_numbers = true)]
    pub kubeclient_burst: Option<u32>,
    /// HTTP request timeout: reading a request, body included.
    #[arg(long, default_value = "2m", value_parser = parse_go_duration)]
    pub read_timeout: Duration,
    /// HTTP response timeout: from the end of the request headers to the end of the response.
    #[arg(long, default_value = "2m", value_parser = parse_go_duration)]
    pub write_timeout: Duration,
    /// HTTP listen address for the API (cert, verify, rotate, healthz).
    #[arg(long, default_value = ":8080")]
    pub listen_addr: String,
    /// HTTP listen address for /metrics.
    #[arg(long, default_value = ":8081")]
    pub listen_metrics_addr: String,
    /// Kubeconfig file (default: $KUBECONFIG, whose colon-separated files are merged, or
    /// ~/.kube/config; else the in-cluster config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Elect a leader among replicas through a Lease; only the leader creates keys and writes
    /// Secrets, every replica serves the HTTP API.
    #[arg(long)]
    pub leader_elect: bool,
    /// Lease duration for leader election.
    #[arg(long, default_value = "15s", value_parser = parse_go_duration)]
    pub leader_elect_lease_duration: Duration,
    /// Name of the Lease used for leader election.
    #[arg(long, default_value = "sealed-secrets-controller")]
    pub leader_elect_lease_name: String,
    /// Serve the sealing page at / (it seals in the browser; --ui=false turns it off).
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub ui: bool,
    /// Print version information and exit.
    #[arg(long)]
    pub version: bool,
}

/// How keys are ordered to pick the one that seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyOrder {
    /// Newest certificate NotBefore first (the original's default).
    #[value(name = "CertNotBefore")]
    CertNotBefore,
    /// Newest Secret creationTimestamp first.
    #[value(name = "SecretCreationTimestamp")]
    SecretCreationTimestamp,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

pub use goflags::{parse_go_bool, parse_go_duration};

/// Parses `--log-level` as Go's `slog.Level` text: DEBUG, INFO, WARN or ERROR in any case,
/// optionally with an offset (`INFO+4` is WARN). Records at or above the level are logged.
pub fn parse_log_level(text: &str) -> Result<LevelFilter, String> {
    let bad = || format!("invalid log level {text:?} (use DEBUG, INFO, WARN or ERROR)");
    let upper = text.trim().to_ascii_uppercase();
    let split = upper.find(['+', '-']).unwrap_or(upper.len());
    let (name, offset) = upper.split_at(split);
    let base: i64 = match name {
        "DEBUG" => -4,
        "INFO" => 0,
        "WARN" | "WARNING" => 4,
        "ERROR" => 8,
        _ => return Err(bad()),
    };
    let offset: i64 = match offset {
        "" => 0,
        o => o.parse().map_err(|_| bad())?,
    };
    // Go's levels of the records the controller writes: DEBUG -4, INFO 0, WARN 4, ERROR 8.
    Ok(match base + offset {
        ..=-4 => LevelFilter::DEBUG,
        -3..=0 => LevelFilter::INFO,
        1..=4 => LevelFilter::WARN,
        5..=8 => LevelFilter::ERROR,
        _ => LevelFilter::OFF,
    })
}

/// Where an HTTP server listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// Every address of the host, IPv6 and IPv4 (`:8080`, `0.0.0.0:8080`, `[::]:8080`), as
    /// Go's `net.Listen` does for a wildcard address.
    Any(u16),
    /// One address.
    At(SocketAddr),
}

impl Flags {
    /// `--listen-addr` style (`:8080`, `127.0.0.1:8080`, `[::1]:8080`) as a listen address.
    pub fn listen(addr: &str) -> Result<Listen> {
        let full = if addr.starts_with(':') {
            format!("0.0.0.0{addr}")
        } else {
            addr.to_owned()
        };
        let parsed: SocketAddr = full
            .parse()
            .with_context(|| format!("invalid listen address {addr:?}"))?;
        let ip = parsed.ip();
        Ok(
            if ip == Ipv4Addr::UNSPECIFIED || ip == Ipv6Addr::UNSPECIFIED {
                Listen::Any(parsed.port())
            } else {
                Listen::At(parsed)
            },
        )
    }

    /// `k=v,k2=v2` maps (`--privatekey-labels`, `--privatekey-annotations`).
    pub fn key_values(flag: &str, text: &str) -> Result<BTreeMap<String, String>> {
        text.split(',')
            .map(str::trim)
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .ok_or_else(|| anyhow!("--{flag}: {kv:?} is not key=value"))
            })
            .collect()
    }

    /// The namespaces to watch: `None` for all. As in the original, `--additional-namespaces`
    /// restricts the watch to the controller's namespace plus the listed ones, whatever
    /// `--all-namespaces` says.
    pub fn namespaces(&self, own: &str) -> Option<Vec<String>> {
        if self.all_namespaces && self.additional_namespaces.trim().is_empty() {
            return None;
        }
        let mut list = vec![own.to_owned()];
        for ns in self.additional_namespaces.split(',').map(str::trim) {
            if !ns.is_empty() && !list.iter().any(|n| n == ns) {
                list.push(ns.to_owned());
            }
        }
        Some(list)
    }

    /// `--key-cutoff-time` as a time, if set.
    pub fn key_cutoff(&self) -> Result<Option<std::time::SystemTime>> {
        if self.key_cutoff_time.trim().is_empty() {
            return Ok(None);
        }
        let ts = k8s_openapi::jiff::fmt::rfc2822::parse(self.key_cutoff_time.trim())
            .map(|zoned| zoned.timestamp())
            .map_err(|e| anyhow!("--key-cutoff-time {:?}: {e}", self.key_cutoff_time))?;
        let secs = u64::try_from(ts.as_second())
            .map_err(|_| anyhow!("--key-cutoff-time is before 1970"))?;
        Ok(Some(std::time::UNIX_EPOCH + Duration::from_secs(secs)))
    }

    /// Checks values clap cannot.
    pub fn validate(&self) -> Result<()> {
        if ![2048, 3072, 4096, 8192].contains(&self.key_size) {
            bail!(
                "--key-size {} is not supported (use 2048, 3072, 4096 or 8192)",
                self.key_size
            );
        }
        Self::key_values("privatekey-labels", &self.privatekey_labels)?;
        Self::key_values("privatekey-annotations", &self.privatekey_annotations)?;
        self.key_cutoff()?;
        Self::listen(&self.listen_addr).context("--listen-addr")?;
        Self::listen(&self.listen_metrics_addr).context("--listen-metrics-addr")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_boolean_flags_and_aliases() {
        let f = goflags::parse_without_env::<Flags, _, _>([
            "c",
            "--update-status=false",
            "--skip-recreate",
            "--rotate-period",
            "1h",
            "--key-order-priority",
            "SecretCreationTimestamp",
        ])
        .expect("parses");
        assert!(!f.update_status);
        assert!(f.skip_recreate);
        assert!(f.all_namespaces);
        for (text, value) in [
            ("1", true),
            ("t", true),
            ("TRUE", true),
            ("0", false),
            ("F", false),
        ] {
            let f = goflags::parse_without_env::<Flags, _, _>([
                "c",
                &format!("--update-status={text}"),
            ])
            .expect("Go boolean syntax");
            assert_eq!(f.update_status, value, "--update-status={text}");
        }
        assert!(goflags::parse_without_env::<Flags, _, _>(["c", "--update-status=yes"]).is_err());
        // Flags that default to false get Go's syntax from the shared parser.
        let g = goflags::parse_without_env::<Flags, _, _>(["c", "--skip-recreate=t"])
            .expect("Go boolean syntax");
        assert!(g.skip_recreate);
        let g = goflags::parse_without_env::<Flags, _, _>(["c", "--skip-recreate=0"])
            .expect("Go boolean syntax");
        assert!(!g.skip_recreate);
        let t = goflags::parse_without_env::<Flags, _, _>([
            "c",
            "--read-timeout",
            "30s",
            "--write-timeout=1m",
        ])
        .expect("upstream's server timeouts");
        assert_eq!(
            (t.read_timeout, t.write_timeout),
            (Duration::from_secs(30), Duration::from_secs(60))
        );
        assert_eq!(f.key_renew_period, Duration::from_secs(3600));
        assert_eq!(f.key_order_priority, KeyOrder::SecretCreationTimestamp);
    }

    #[test]
    fn flags_not_on_the_command_line_come_from_sealed_secrets_variables() {
        // Variables only this test sets (no other test parses with the environment).
        std::env::set_var("SEALED_SECRETS_MY_CN", "from-env");
        std::env::set_var("SEALED_SECRETS_SKIP_RECREATE", "true");
        std::env::set_var("SEALED_SECRETS_KEY_RENEW_PERIOD", "1h");
        let f =
            goflags::parse_with_env::<Flags, _, _>(["c", "--key-renew-period=2h"]).expect("parses");
        assert_eq!(f.my_cn, "from-env");
        assert!(f.skip_recreate);
        assert_eq!(
            f.key_renew_period,
            Duration::from_secs(7200),
            "the command line wins"
        );
        std::env::set_var("SEALED_SECRETS_SKIP_RECREATE", "maybe");
        let err = goflags::parse_with_env::<Flags, _, _>(["c"]).expect_err("invalid value");
        assert!(err.to_string().contains("maybe"), "{err}");
        for name in ["MY_CN", "SKIP_RECREATE", "KEY_RENEW_PERIOD"] {
            std::env::remove_var(format!("SEALED_SECRETS_{name}"));
        }
    }

    #[test]
    fn cutoff_time_is_rfc1123_with_numeric_zone() {
        let f = goflags::parse_without_env::<Flags, _, _>([
            "c",
            "--key-cutoff-time",
            "Mon, 02 Jan 2006 15:04:05 -0700",
        ])
        .expect("parses");
        let t = f.key_cutoff().expect("valid").expect("set");
        assert_eq!(
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .ok(),
            Some(1_136_239_445)
        );
    }

    #[test]
    fn namespaces_and_key_values() {
        let f = goflags::parse_without_env::<Flags, _, _>([
            "c",
            "--all-namespaces=false",
            "--additional-namespaces",
            "a, b,a",
        ])
        .expect("parses");
        assert_eq!(
            f.namespaces("own"),
            Some(vec!["own".into(), "a".into(), "b".into()])
        );
        // --additional-namespaces alone (all-namespaces keeps its default, true) restricts the
        // watch too, as in the original.
        let f = goflags::parse_without_env::<Flags, _, _>(["c", "--additional-namespaces", "a"])
            .expect("parses");
        assert_eq!(f.namespaces("own"), Some(vec!["own".into(), "a".into()]));
        let f = goflags::parse_without_env::<Flags, _, _>(["c"]).expect("parses");
        assert_eq!(f.namespaces("own"), None);
        assert_eq!(
            Flags::key_values("x", "a=1, b=2").expect("valid"),
            BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])
        );
        assert!(Flags::key_values("x", "a").is_err());
    }

    #[test]
    fn log_levels_read_as_gos_slog_levels() {
        for (text, want) in [
            ("INFO", LevelFilter::INFO),
            ("info", LevelFilter::INFO),
            ("DEBUG", LevelFilter::DEBUG),
            ("Warn", LevelFilter::WARN),
            ("ERROR", LevelFilter::ERROR),
            ("INFO+4", LevelFilter::WARN),
            ("INFO+2", LevelFilter::WARN),
            ("WARN-4", LevelFilter::INFO),
            ("DEBUG-4", LevelFilter::DEBUG),
            ("ERROR+1", LevelFilter::OFF),
        ] {
            assert_eq!(parse_log_level(text), Ok(want), "{text}");
        }
        for bad in ["verbose", "", "INFO+", "INFO+x"] {
            let err = parse_log_level(bad).expect_err(bad);
            assert!(err.contains("invalid log level"), "{err}");
        }
    }

    #[test]
    fn wildcard_listen_addresses_mean_every_address_ipv6_included() {
        for any in [":8080", "0.0.0.0:8080", "[::]:8080"] {
            assert_eq!(Flags::listen(any).expect(any), Listen::Any(8080), "{any}");
        }
        assert_eq!(
            Flags::listen("127.0.0.1:9").expect("loopback"),
            Listen::At(SocketAddr::from(([127, 0, 0, 1], 9)))
        );
        assert!(Flags::listen("localhost").is_err());
    }
}
