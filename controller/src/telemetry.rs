//! Logging with `tracing`: `--log-format text|json`, `--log-level`.

use tracing_subscriber::EnvFilter;

use crate::flags::LogFormat;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `--log-level`.
pub fn init(format: LogFormat, level: &str) {
    let level = match level.to_ascii_uppercase().as_str() {
        "DEBUG" => "debug",
        "WARN" | "WARNING" => "warn",
        "ERROR" => "error",
        _ => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},kube_lease_manager=warn,kube_runtime=warn"))
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
