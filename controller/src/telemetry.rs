//! Logging with `tracing`: `--log-format text|json`, `--log-level`, `--log-info-stdout`.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing::Level;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
use tracing_subscriber::EnvFilter;

use crate::flags::LogFormat;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `--log-level`. With
/// `info_stdout` (the original's `--log-info-stdout`, on by default) INFO and DEBUG lines go to
/// stdout and WARN/ERROR lines to stderr; without it everything goes to stderr.
pub fn init(format: LogFormat, level: LevelFilter, info_stdout: bool) {
    // The libraries' INFO lines are noise; their warnings stay (unless the level is higher).
    let quiet = level.min(LevelFilter::WARN);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},kube_lease_manager={quiet},kube_runtime={quiet}"
        ))
    });
    let (writer, ansi) = if info_stdout {
        let split = std::io::stderr
            .with_max_level(Level::WARN)
            .or_else(std::io::stdout);
        let ansi = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
        (BoxMakeWriter::new(split), ansi)
    } else {
        (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        )
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
