//! Prometheus metrics with the original's names, help texts and labels (so dashboards and alerts
//! keep working), the standard `process_*` metrics, plus key-health gauges the original lacks.

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
    /// `condition_info{namespace,name,condition,ss_app_kubernetes_io_instance}`: -1 false,
    /// 0 unknown, 1 true.
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
        let mut text = String::new();
        for chunk in self.render_chunks() {
            text.push_str(&chunk);
        }
        text
    }

    /// The text exposition in pieces of a bounded size, made one by one as they are taken:
    /// `condition_info` has a line per SealedSecret (about 20 MiB at 100,000), which a scrape
    /// should not need at once.
    pub fn render_chunks(&self) -> impl Iterator<Item = String> + Send + 'static {
        let mut head = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut head);
        let head = String::from_utf8(head).unwrap_or_default();
        let conditions = self.condition_info.clone();
        let mut cursor = Some(Cursor::Start);
        let pages = std::iter::from_fn(move || {
            let mut page = String::new();
            cursor = conditions.write_page(cursor.take()?, &mut page);
            Some(page)
        });
        let tail = std::iter::once_with(|| {
            let mut text = String::new();
            if let Some(process) = process::Stats::read() {
                process.write_text(&mut text);
            }
            text
        });
        std::iter::once(head).chain(pages).chain(tail)
    }

    /// `--metrics-omit-secret-labels`: `condition_info` stays empty, so `/metrics` names no
    /// SealedSecret (for a metrics port that users who may not list them can reach).
    pub fn omit_secret_labels(mut self) -> Self {
        self.condition_info_enabled = false;
        self
    }

    /// Records the Synced condition of a SealedSecret, with its `app.kubernetes.io/instance`
    /// label as `ss_app_kubernetes_io_instance` (empty when it has none, as in the original).
    pub fn set_sealed_condition(&self, sealed: &crds::SealedSecret, synced: Option<bool>) {
        let instance = sealed
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(INSTANCE_LABEL))
            .map_or("", String::as_str);
        self.set_condition_with_instance(
            sealed.metadata.namespace.as_deref().unwrap_or_default(),
            sealed.metadata.name.as_deref().unwrap_or_default(),
            instance,
            synced,
        );
    }

    /// Records the Synced condition of a SealedSecret known only by name (an empty
    /// `ss_app_kubernetes_io_instance`); [`Metrics::set_sealed_condition`] fills that label.
    pub fn set_condition(&self, namespace: &str, name: &str, synced: Option<bool>) {
        self.set_condition_with_instance(namespace, name, "", synced);
    }

    fn set_condition_with_instance(
        &self,
        namespace: &str,
        name: &str,
        instance: &str,
        synced: Option<bool>,
    ) {
        if !self.condition_info_enabled {
            return;
        }
        let value = match synced {
            Some(true) => 1,
            Some(false) => -1,
            None => 0,
        };
        let mut namespaces = self
            .condition_info
            .values
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let names = match namespaces.get_mut(namespace) {
            Some(names) => names,
            None => namespaces.entry(namespace.into()).or_default(),
        };
        names.insert(name.into(), (instance.into(), value));
    }

    /// Forgets a deleted SealedSecret.
    pub fn forget(&self, namespace: &str, name: &str) {
        let mut namespaces = self
            .condition_info
            .values
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(names) = namespaces.get_mut(namespace) {
            names.remove(name);
            if names.is_empty() {
                namespaces.remove(namespace);
            }
        }
    }
}

/// `condition_info`, kept as one number per SealedSecret and written straight into the text
/// exposition when scraped. A `GaugeVec` child holds its own copies of the descriptor and label
/// pairs (about 1 KiB per SealedSecret), and even a custom `Collector` has to build a protobuf
/// `Metric` with three label pairs per sample on every scrape: about 6 MiB of short-lived heap at
/// 10,000 SealedSecrets, which the allocator keeps. Clones share the values.
#[derive(Clone, Default)]
struct Conditions {
    /// namespace → name → (`app.kubernetes.io/instance` label, value of the `Synced`
    /// condition). By namespace first, so that each namespace's name is held once, not once
    /// per SealedSecret.
    values: Arc<Mutex<BTreeMap<Box<str>, Names>>>,
}

/// name → (`app.kubernetes.io/instance` label, -1, 0 or 1) in one namespace.
type Names = BTreeMap<Box<str>, (Box<str>, i8)>;

/// The SealedSecret label the original copies into `condition_info`.
const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

impl Conditions {
    const NAME: &str = "sealed_secrets_controller_condition_info";
    const HELP: &str = "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)";

    /// Appends up to [`PAGE`] series of the family in the text format, as the registry's encoder
    /// would write them, from `cursor` on; the cursor of the next page, if any remain. Each page
    /// holds the lock only while it is written.
    fn write_page(&self, cursor: Cursor, out: &mut String) -> Option<Cursor> {
        use std::fmt::Write as _;
        use std::ops::Bound::{Included, Unbounded};
        let namespaces = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let (from_namespace, at_name) = match &cursor {
            Cursor::Start if namespaces.is_empty() => return None,
            Cursor::Start => {
                let _ = writeln!(out, "# HELP {} {}", Self::NAME, Self::HELP);
                let _ = writeln!(out, "# TYPE {} gauge", Self::NAME);
                (Unbounded, None)
            }
            Cursor::At(namespace, name) => (Included(namespace), Some(name)),
        };
        out.reserve(PAGE * (Self::NAME.len() + 96));
        let mut written = 0;
        for (namespace, names) in namespaces.range::<Box<str>, _>((from_namespace, Unbounded)) {
            let start = match at_name {
                Some(name) if Some(&**namespace) == cursor.namespace() => Included(name),
                _ => Unbounded,
            };
            for (name, (instance, value)) in names.range::<Box<str>, _>((start, Unbounded)) {
                if written == PAGE {
                    return Some(Cursor::At(namespace.clone(), name.clone()));
                }
                let _ = writeln!(
                    out,
                    "{}{{condition=\"Synced\",name=\"{}\",namespace=\"{}\",ss_app_kubernetes_io_instance=\"{}\"}} {value}",
                    Self::NAME,
                    Escaped(name),
                    Escaped(namespace),
                    Escaped(instance),
                );
                written += 1;
            }
        }
        None
    }
}

/// Series of `condition_info` written per page of a scrape.
const PAGE: usize = 1000;

/// Where the next page of `condition_info` starts: at the first series, or at the named one.
enum Cursor {
    Start,
    At(Box<str>, Box<str>),
}

impl Cursor {
    fn namespace(&self) -> Option<&str> {
        match self {
            Cursor::Start => None,
            Cursor::At(namespace, _) => Some(namespace),
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

/// The standard `process_*` metrics of Prometheus client libraries, read from `/proc` at each
/// scrape (names, help texts and types as Go's process collector writes them).
mod process {
    use std::fmt::Write as _;

    /// Clock ticks per second of `/proc/*/stat` times: the kernel's USER_HZ, 100 on every
    /// architecture Linux runs containers on (Go's procfs assumes the same).
    const USER_HZ: f64 = 100.0;

    /// One reading of the process's counters.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Stats {
        pub cpu_seconds: f64,
        pub resident_bytes: f64,
        pub virtual_bytes: f64,
        pub open_fds: f64,
        pub max_fds: Option<f64>,
        pub start_time_seconds: f64,
    }

    impl Stats {
        /// Reads `/proc/self`; `None` where there is no procfs.
        pub fn read() -> Option<Self> {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            let boot = std::fs::read_to_string("/proc/stat").ok()?;
            let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
            let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
            let page_size = rustix::param::page_size();
            parse(&stat, &boot, &limits, open_fds, page_size)
        }

        /// Appends the families in the text format.
        pub fn write_text(&self, out: &mut String) {
            let mut family = |name: &str, kind: &str, help: &str, value: f64| {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                let _ = writeln!(out, "{name} {value}");
            };
            family(
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                self.cpu_seconds,
            );
            if let Some(max) = self.max_fds {
                family(
                    "process_max_fds",
                    "gauge",
                    "Maximum number of open file descriptors.",
                    max,
                );
            }
            family(
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                self.open_fds,
            );
            family(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                self.resident_bytes,
            );
            family(
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                self.start_time_seconds,
            );
            family(
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                self.virtual_bytes,
            );
        }
    }

    /// Builds the reading from `/proc/self/stat`, `/proc/stat` (for the boot time),
    /// `/proc/self/limits`, the number of open descriptors and the page size.
    pub fn parse(
        stat: &str,
        boot: &str,
        limits: &str,
        open_fds: usize,
        page_size: usize,
    ) -> Option<Stats> {
        // The command name (field 2) may hold spaces and parentheses: fields resume after the
        // last ')'. Field 3 (state) is then index 0.
        let fields: Vec<&str> = stat
            .get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
        let boot_time: f64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|soft| soft.parse().ok());
        Some(Stats {
            cpu_seconds: (field(14)? + field(15)?) / USER_HZ,
            start_time_seconds: boot_time + field(22)? / USER_HZ,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)? * page_size as f64,
            open_fds: open_fds as f64,
            max_fds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_with_many_sealed_secrets_comes_in_bounded_pages_with_each_series_once() {
        let metrics = Metrics::new("0.0.0", false).expect("metrics");
        for i in 0..2_500 {
            metrics.set_condition(&format!("ns{}", i % 3), &format!("s{i:05}"), Some(true));
        }
        let chunks: Vec<String> = metrics.render_chunks().collect();
        let series: Vec<&str> = chunks
            .iter()
            .flat_map(|c| c.lines())
            .filter(|l| l.starts_with("sealed_secrets_controller_condition_info{"))
            .collect();
        assert_eq!(series.len(), 2_500);
        let mut unique = series.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 2_500, "none twice");
        let biggest = chunks.iter().map(String::len).max().unwrap_or_default();
        assert!(biggest < 200 * 1_000, "a page of {biggest} bytes");
        assert_eq!(
            chunks
                .concat()
                .matches("# TYPE sealed_secrets_controller_condition_info")
                .count(),
            1
        );
    }

    #[test]
    fn condition_info_is_written_in_the_text_format() {
        let metrics = Metrics::new("test", false).expect("metrics");
        let mut labelled = crds::SealedSecret::new("db", Default::default());
        labelled.metadata.namespace = Some("apps".into());
        labelled.metadata.name = Some("db".into());
        labelled.metadata.labels = Some(BTreeMap::from([(INSTANCE_LABEL.into(), "prod".into())]));
        metrics.set_sealed_condition(&labelled, Some(true));
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
                r#"sealed_secrets_controller_condition_info{condition="Synced",name="db",namespace="apps",ss_app_kubernetes_io_instance="prod"} 1"#,
                r#"sealed_secrets_controller_condition_info{condition="Synced",name="odd\"name\\",namespace="apps",ss_app_kubernetes_io_instance=""} -1"#,
                r#"sealed_secrets_controller_condition_info{condition="Synced",name="pending",namespace="other",ss_app_kubernetes_io_instance=""} 0"#,
            ]
        );
        // The other families are still there, and the forgotten series goes.
        assert!(text.contains("sealed_secrets_controller_unseal_requests_total 0"));
        metrics.forget("apps", "db");
        assert!(!metrics.render().contains(r#"name="db""#));
    }

    #[test]
    fn process_metrics_come_from_proc_in_gos_names_and_units() {
        // A command name with a space and a parenthesis, as the kernel writes it.
        let stat = "4242 (a b) c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 3 0 \
                    12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1048576              1048576              files\n";
        let stats = process::parse(stat, boot, limits, 12, 4096).expect("parses");
        assert_eq!(
            stats,
            process::Stats {
                cpu_seconds: 3.0,
                resident_bytes: 2560.0 * 4096.0,
                virtual_bytes: 104_857_600.0,
                open_fds: 12.0,
                max_fds: Some(1_048_576.0),
                start_time_seconds: 1_700_000_123.45,
            }
        );
        assert_eq!(process::parse("garbage", boot, limits, 1, 4096), None);
        let mut text = String::new();
        stats.write_text(&mut text);
        assert!(text
            .contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3\n"));
        assert!(text.contains("process_max_fds 1048576\n"));
        // This process, read for real.
        let own = process::Stats::read().expect("/proc is there");
        assert!(own.resident_bytes > 0.0 && own.open_fds >= 3.0, "{own:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        assert!(own.start_time_seconds <= now && own.start_time_seconds > now - 3600.0);
    }
}
