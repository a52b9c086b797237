//! `/healthz` and `/metrics` of the watcher (Prometheus text format).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

const NS: &str = "ccloud_keys";

/// Everything the watcher counts.
pub struct Metrics {
    registry: Registry,
    /// Secrets sealed and written.
    pub sealed: IntCounter,
    /// Events whose plaintext was already sealed (no file touched).
    pub unchanged: IntCounter,
    /// Failures by reason (`certificate`, `seal`, `write`, `git`, `state`, `adopt`, `refused`).
    pub errors: IntCounterVec,
    /// API keys replaced by a new one (the old id is worth revoking).
    pub replaced_keys: IntCounter,
    /// Unix time of the last successful write.
    pub last_write: IntGauge,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| -> anyhow::Result<IntCounter> {
            let c = IntCounter::with_opts(Opts::new(name, help).namespace(NS))?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let sealed = counter(
            "secrets_sealed_total",
            "Secrets sealed and written to the repository.",
        )?;
        let unchanged = counter(
            "secrets_unchanged_total",
            "Secret events whose plaintext had already been sealed: nothing written.",
        )?;
        let replaced_keys = counter(
            "api_keys_replaced_total",
            "API keys replaced by a newly minted one (revoke the old id).",
        )?;
        let errors = IntCounterVec::new(
            Opts::new("errors_total", "Failures by reason.").namespace(NS),
            &["reason"],
        )?;
        registry.register(Box::new(errors.clone()))?;
        let last_write = IntGauge::with_opts(
            Opts::new(
                "last_write_timestamp_seconds",
                "Unix time of the last file written.",
            )
            .namespace(NS),
        )?;
        registry.register(Box::new(last_write.clone()))?;
        Ok(Self {
            registry,
            sealed,
            unchanged,
            errors,
            replaced_keys,
            last_write,
        })
    }

    fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Serves `/healthz` and `/metrics` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { metrics.render() }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "serving /healthz and /metrics");
    axum::serve(listener, router).await?;
    Ok(())
}
