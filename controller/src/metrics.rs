//! Prometheus metrics with the original's names, help texts and labels (so dashboards and alerts
//! keep working), plus key-health gauges the original lacks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus::{
    Counter, Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

const NS: &str = "sealed_secrets_controller";

/// Every metric the controller exports.
pub struct Metrics {
    registry: Registry,
    /// False with `--metrics-omit-secret-labels`.
    condition_info_enabled: bool,
    /// `unseal_requests_total`.
    pub unseal_requests: IntCounter,
    /// `unseal_errors_total{reason,namespace}`.
    pub unseal_errors: IntCounterVec,
    /// `condition_info{namespace,name,condition}`: -1 false, 0 unknown, 1 true.
    condition_info: Conditions,
    /// `http_requests_total{path,code,method}`.
    pub http_requests: IntCounterVec,
    /// `http_request_duration_seconds{path,method}`.
    pub http_duration: HistogramVec,
    /// New: number of loaded keys.
    pub keys: IntGauge,
    /// New: age of the newest key in seconds.
    pub newest_key_age: Gauge,
    /// New: seconds until the next key renewal (negative when overdue, absent when disabled).
    pub next_renewal: Gauge,
    /// New: SealedSecrets with a value sealed to a key other than the newest.
    pub sealed_to_old_keys: IntGauge,
    /// New: CPU time spent decrypting SealedSecrets and rendering their Secrets.
    pub unseal_cpu: Counter,
}

impl Metrics {
    /// Creates and registers every metric (`next_key_renewal_seconds` only when renewal is on).
    pub fn new(version: &str, renewal_enabled: bool) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let build_info = Gauge::with_opts(
            Opts::new("build_info", "Build information.")
                .namespace(NS)
                .const_label("revision", version),
        )?;
        build_info.set(1.0);
        let m = Self {
            unseal_requests: IntCounter::with_opts(
                Opts::new("unseal_requests_total", "Total number of sealed secret unseal requests").namespace(NS),
            )?,
            unseal_errors: IntCounterVec::new(
                Opts::new("unseal_errors_total", "Total number of sealed secret unseal errors by reason").namespace(NS),
                &["reason", "namespace"],
            )?,
            condition_info: Conditions::default(),
            http_requests: IntCounterVec::new(
                Opts::new("http_requests_total", "A counter for requests to the wrapped handler.").namespace(NS),
                &["path", "code", "method"],
            )?,
            http_duration: HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "A histogram of latencies for requests.")
                    .namespace(NS),
                &["path", "method"],
            )?,
            keys: IntGauge::with_opts(
                Opts::new("keys", "Number of sealing keys loaded.").namespace(NS),
            )?,
            newest_key_age: Gauge::with_opts(
                Opts::new("newest_key_age_seconds", "Age of the newest sealing key.").namespace(NS),
            )?,
            next_renewal: Gauge::with_opts(
                Opts::new("next_key_renewal_seconds", "Seconds until the next key renewal (negative: overdue).")
                    .namespace(NS),
            )?,
            sealed_to_old_keys: IntGauge::with_opts(
                Opts::new(
                    "sealed_secrets_not_on_newest_key",
                    "SealedSecrets with a value sealed to a key other than the newest (re-encrypt them).",
                )
                .namespace(NS),
            )?,
            unseal_cpu: Counter::with_opts(
                Opts::new(
                    "unseal_cpu_seconds_total",
                    "CPU time spent decrypting SealedSecrets and rendering their Secrets.",
                )
                .namespace(NS),
            )?,
            registry,
            condition_info_enabled: true,
        };
        m.registry.register(Box::new(build_info))?;
        m.registry.register(Box::new(m.unseal_requests.clone()))?;
        m.registry.register(Box::new(m.unseal_errors.clone()))?;
        m.registry.register(Box::new(m.http_requests.clone()))?;
        m.registry.register(Box::new(m.http_duration.clone()))?;
        m.registry.register(Box::new(m.keys.clone()))?;
        m.registry.register(Box::new(m.newest_key_age.clone()))?;
        if renewal_enabled {
            m.registry.register(Box::new(m.next_renewal.clone()))?;
        }
        m.registry
            .register(Box::new(m.sealed_to_old_keys.clone()))?;
        m.registry.register(Box::new(m.unseal_cpu.clone()))?;
        Ok(m)
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        let mut text = String::from_utf8(buf).unwrap_or_default();
        self.condition_info.write_text(&mut text);
        text
    }

    /// `--metrics-omit-secret-labels`: `condition_info` stays empty, so `/metrics` names no
    /// SealedSecret (for a metrics port that users who may not list them can reach).
    pub fn omit_secret_labels(mut self) -> Self {
        self.condition_info_enabled = false;
        self
    }

    /// Records the Synced condition of a SealedSecret.
    pub fn set_condition(&self, namespace: &str, name: &str, synced: Option<bool>) {
        if !self.condition_info_enabled {
            return;
        }
        let value = match synced {
            Some(true) => 1.0,
            Some(false) => -1.0,
            None => 0.0,
        };
        self.condition_info
            .values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((namespace.to_owned(), name.to_owned()), value);
    }

    /// Forgets a deleted SealedSecret.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.condition_info
            .values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(namespace.to_owned(), name.to_owned()));
    }
}

/// `condition_info`, kept as one number per SealedSecret and written straight into the text
/// exposition when scraped. A `GaugeVec` child holds its own copies of the descriptor and label
/// pairs (about 1 KiB per SealedSecret), and even a custom `Collector` has to build a protobuf
/// `Metric` with three label pairs per sample on every scrape: about 6 MiB of short-lived heap at
/// 10,000 SealedSecrets, which the allocator keeps. Clones share the values.
#[derive(Clone, Default)]
struct Conditions {
    /// `(namespace, name)` → value of the `Synced` condition.
    values: Arc<Mutex<BTreeMap<(String, String), f64>>>,
}

impl Conditions {
    const NAME: &str = "sealed_secrets_controller_condition_info";
    const HELP: &str = "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)";

    /// Appends the family in the text format, as the registry's encoder would write it.
    fn write_text(&self, out: &mut String) {
        use std::fmt::Write as _;
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        if values.is_empty() {
            return;
        }
        out.reserve(values.len() * (Self::NAME.len() + 64));
        let _ = writeln!(out, "# HELP {} {}", Self::NAME, Self::HELP);
        let _ = writeln!(out, "# TYPE {} gauge", Self::NAME);
        for ((namespace, name), value) in values.iter() {
            let _ = writeln!(
                out,
                "{}{{condition=\"Synced\",name=\"{}\",namespace=\"{}\"}} {value}",
                Self::NAME,
                Escaped(name),
                Escaped(namespace),
            );
        }
    }
}

/// A label value escaped for the text format (backslash, double quote, newline).
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_info_is_written_in_the_text_format() {
        let metrics = Metrics::new("test", false).expect("metrics");
        metrics.set_condition("apps", "db", Some(true));
        metrics.set_condition("apps", "odd\"name\\", Some(false));
        metrics.set_condition("other", "pending", None);
        let text = metrics.render();
        let family: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("condition_info"))
            .collect();
        assert_eq!(
            family,
            [
                "# HELP sealed_secrets_controller_condition_info Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)",
                "# TYPE sealed_secrets_controller_condition_info gauge",
                r#"sealed_secrets_controller_condition_info{condition="Synced",name="db",namespace="apps"} 1"#,
                r#"sealed_secrets_controller_condition_info{condition="Synced",name="odd\"name\\",namespace="apps"} -1"#,
                r#"sealed_secrets_controller_condition_info{condition="Synced",name="pending",namespace="other"} 0"#,
            ]
        );
        // The other families are still there, and the forgotten series goes.
        assert!(text.contains("sealed_secrets_controller_unseal_requests_total 0"));
        metrics.forget("apps", "db");
        assert!(!metrics.render().contains(r#"name="db""#));
    }
}
