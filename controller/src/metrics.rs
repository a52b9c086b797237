//! Prometheus metrics with the original's names, help texts and labels (so dashboards and alerts
//! keep working), plus key-health gauges the original lacks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

const NS: &str = "sealed_secrets_controller";

/// Every metric the controller exports.
pub struct Metrics {
    registry: Registry,
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
            condition_info: Conditions::new()?,
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
            registry,
        };
        m.registry.register(Box::new(build_info))?;
        m.registry.register(Box::new(m.unseal_requests.clone()))?;
        m.registry.register(Box::new(m.unseal_errors.clone()))?;
        m.registry.register(Box::new(m.condition_info.clone()))?;
        m.registry.register(Box::new(m.http_requests.clone()))?;
        m.registry.register(Box::new(m.http_duration.clone()))?;
        m.registry.register(Box::new(m.keys.clone()))?;
        m.registry.register(Box::new(m.newest_key_age.clone()))?;
        if renewal_enabled {
            m.registry.register(Box::new(m.next_renewal.clone()))?;
        }
        m.registry
            .register(Box::new(m.sealed_to_old_keys.clone()))?;
        Ok(m)
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Records the Synced condition of a SealedSecret.
    pub fn set_condition(&self, namespace: &str, name: &str, synced: Option<bool>) {
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

/// `condition_info`, kept as one number per SealedSecret and turned into samples only when
/// scraped: a `GaugeVec` child holds its own copies of the descriptor and label pairs, about
/// 1 KiB per SealedSecret. Clones share the values.
#[derive(Clone)]
struct Conditions {
    desc: Desc,
    /// `(namespace, name)` → value of the `Synced` condition.
    values: Arc<Mutex<BTreeMap<(String, String), f64>>>,
}

impl Conditions {
    fn new() -> prometheus::Result<Self> {
        Ok(Self {
            desc: Desc::new(
                format!("{NS}_condition_info"),
                "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)".to_owned(),
                vec!["namespace".to_owned(), "name".to_owned(), "condition".to_owned()],
                Default::default(),
            )?,
            values: Arc::default(),
        })
    }
}

impl Collector for Conditions {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let label = |name: &str, value: &str| {
            let mut pair = proto::LabelPair::default();
            pair.set_name(name.to_owned());
            pair.set_value(value.to_owned());
            pair
        };
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let metrics = values
            .iter()
            .map(|((namespace, name), value)| {
                let mut gauge = proto::Gauge::default();
                gauge.set_value(*value);
                let mut metric = proto::Metric::from_gauge(gauge);
                // Sorted by label name, as the registry expects.
                metric.set_label(vec![
                    label("condition", "Synced"),
                    label("name", name),
                    label("namespace", namespace),
                ]);
                metric
            })
            .collect();
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(MetricType::GAUGE);
        family.set_metric(metrics);
        vec![family]
    }
}
