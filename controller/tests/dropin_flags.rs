//! Drop-in for upstream's current release (v0.36, issue 14): the Helm chart's arguments as the
//! chart renders them, the flags and behaviour added since v0.17 (`--old-gc-behaviour`,
//! `--log-info-stdout`, dual-stack `:PORT`, negative `--kubeclient-qps`, rotate not
//! rate-limited, `process_*` metrics), `--version`, and SIGTERM (as a process and as PID 1, a
//! leader releasing its Lease). Parsing is checked without a cluster; the rest on the real
//! control plane.

pub mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use sealed_secrets_controller::flags::Flags;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_sealed-secrets-controller");

/// The chart's default arguments, verbatim (ports apart: tests run side by side).
fn chart_defaults(api_port: u16, metrics_port: u16) -> Vec<String> {
    [
        "--update-status",
        "--key-prefix",
        "sealed-secrets-key",
        "--listen-addr",
        &format!(":{api_port}"),
        "--listen-metrics-addr",
        &format!(":{metrics_port}"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Every optional argument of the chart, each value a separate argument as the chart renders
/// it (`- --kubeclient-qps` / `- "-1"`).
const CHART_OPTIONAL: &[&[&str]] = &[
    &["--skip-recreate"],
    &["--key-renew-period", "720h"],
    &["--key-renew-period", "0"],
    &["--key-ttl", "87600h"],
    &["--key-cutoff-time", "Mon, 02 Jan 2006 15:04:05 -0700"],
    &["--rate-limit", "5"],
    &["--rate-limit-burst", "10"],
    &["--additional-namespaces", "a,b"],
    &["--privatekey-annotations", "team=infra,tier=gold"],
    &["--privatekey-labels", "team=infra"],
    &["--log-info-stdout"],
    &["--log-level", "INFO"],
    &["--log-level", "DEBUG"],
    &["--log-format", "json"],
    &["--log-format", "text"],
    &["--max-unseal-retries", "5"],
    &["--watch-for-secrets"],
    &["--kubeclient-qps", "-1"],
    &["--kubeclient-qps", "0.5"],
    &["--kubeclient-burst", "20"],
];

fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
    goflags::parse_with_env::<Flags, _, _>(
        std::iter::once("controller").chain(args.iter().copied()),
    )
}

#[test]
fn the_charts_arguments_parse_as_the_chart_renders_them() {
    let defaults = chart_defaults(8080, 8081);
    let defaults: Vec<&str> = defaults.iter().map(String::as_str).collect();
    let flags = parse(&defaults).expect("the chart's default arguments");
    assert!(flags.update_status);
    assert_eq!(flags.key_prefix, "sealed-secrets-key");
    assert_eq!(flags.listen_addr, ":8080");
    flags.validate().expect("valid");
    for optional in CHART_OPTIONAL {
        let args = [&defaults[..], optional].concat();
        let flags = parse(&args).unwrap_or_else(|e| panic!("{optional:?}: {e}"));
        flags
            .validate()
            .unwrap_or_else(|e| panic!("{optional:?}: {e:#}"));
    }
    let f = parse(&["--kubeclient-qps", "-1", "--kubeclient-burst", "20"]).expect("parses");
    assert_eq!(
        (f.kubeclient_qps, f.kubeclient_burst),
        (Some(-1.0), Some(20))
    );
    let f = parse(&["--additional-namespaces", "a,b", "--all-namespaces=false"]).expect("parses");
    assert_eq!(
        f.namespaces("own"),
        Some(vec!["own".into(), "a".into(), "b".into()])
    );
    // --log-info-stdout bare, with a value, and its default.
    assert!(parse(&["--log-info-stdout"]).expect("bare").log_info_stdout);
    assert!(
        !parse(&["--log-info-stdout=false"])
            .expect("=false")
            .log_info_stdout
    );
    assert!(parse(&[]).expect("default").log_info_stdout);
    // The v0.17 name of --old-gc-behavior.
    assert!(
        parse(&["--old-gc-behaviour"])
            .expect("old name")
            .old_gc_behavior
    );
    assert!(
        parse(&["--old-gc-behavior=true"])
            .expect("new name")
            .old_gc_behavior
    );
    // Rotate is not rate-limited unless asked (our flag).
    assert_eq!(parse(&[]).expect("default").rotate_rate_limit, 0);
}

/// Runs the controller with `args` and no cluster until it exits (within 30 s): (exit code,
/// stdout, stderr).
fn run_without_cluster(args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .env("POD_NAMESPACE", "nowhere")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("the controller starts");
    let status = wait_exit(&mut child, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{args:?} still running after 30 s"));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status.code(), read(&out_path), read(&err_path))
}

/// The exit status of `child` within `timeout`; else it is killed and `None`.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn arguments_the_chart_can_render_but_we_cannot_honour_are_one_line_errors_exit_2() {
    for (args, names) in [
        (&["--kubeclient-burst", "-1"][..], "--kubeclient-burst"),
        (&["--rate-limit", "-1"][..], "--rate-limit"),
        (&["--max-unseal-retries", "-1"][..], "--max-unseal-retries"),
        (&["--log-level", "verbose"][..], "--log-level"),
        (&["--log-format", "logfmt"][..], "--log-format"),
        (&["--key-renew-period", "30d"][..], "--key-renew-period"),
        (
            &["--key-cutoff-time", "2024-01-01"][..],
            "--key-cutoff-time",
        ),
        (&["--privatekey-labels", "team"][..], "privatekey-labels"),
        (&["--listen-addr", ":http"][..], "--listen-addr"),
        (
            &["--listen-metrics-addr", "localhost:8081"][..],
            "--listen-metrics-addr",
        ),
        (&["--unknown-flag"][..], "--unknown-flag"),
    ] {
        let (code, stdout, stderr) = run_without_cluster(args);
        assert_eq!(code, Some(2), "{args:?}: exit 2; stderr:\n{stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line, got:\n{stderr}{stdout}");
        assert!(lines[0].starts_with("error: "), "{args:?}: {}", lines[0]);
        assert!(lines[0].contains(names), "{args:?}: names it: {}", lines[0]);
    }
}

#[test]
fn version_is_v_prefixed_semver() {
    let (code, stdout, _) = run_without_cluster(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!("controller version: v{}\n", env!("CARGO_PKG_VERSION"))
    );
    let version = stdout.trim_end().rsplit(' ').next().unwrap_or_default();
    let semver = version.strip_prefix('v').unwrap_or_default();
    assert!(
        semver.split('.').count() == 3
            && semver
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "upstream's scripts match v[0-9]+.[0-9]+.[0-9]+: {version}"
    );
}

/// Log lines of `text`, with their level (text or JSON format).
fn levels(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(
            |line| match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => v["level"].as_str().unwrap_or("?").to_owned(),
                Err(_) => ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
                    .into_iter()
                    .find(|level| line.contains(&format!(" {level} ")))
                    .unwrap_or("?")
                    .to_owned(),
            },
        )
        .collect()
}

#[test]
fn log_info_stdout_puts_info_on_stdout_and_errors_on_stderr_in_both_formats() {
    // Without a cluster the controller logs its start (INFO), then the missing config (ERROR).
    for format in ["text", "json"] {
        for bare in [
            &[][..],
            &["--log-info-stdout"][..],
            &["--log-info-stdout=true"][..],
        ] {
            let args = [&["--log-format", format][..], bare].concat();
            let (code, stdout, stderr) = run_without_cluster(&args);
            assert_eq!(code, Some(1), "{args:?}: {stderr}");
            assert!(
                stdout.contains("Starting sealed-secrets controller"),
                "{args:?}: {stdout}"
            );
            assert_eq!(levels(&stdout), ["INFO"], "{args:?}: stdout\n{stdout}");
            assert_eq!(levels(&stderr), ["ERROR"], "{args:?}: stderr\n{stderr}");
        }
        let args = ["--log-format", format, "--log-info-stdout=false"];
        let (_, stdout, stderr) = run_without_cluster(&args);
        assert_eq!(stdout, "", "{args:?}: nothing on stdout");
        assert_eq!(
            levels(&stderr),
            ["INFO", "ERROR"],
            "{args:?}: stderr\n{stderr}"
        );
    }
    // --log-level ERROR keeps the INFO line off.
    let (_, stdout, stderr) = run_without_cluster(&["--log-level", "ERROR"]);
    assert_eq!(
        (stdout.as_str(), levels(&stderr)),
        ("", vec!["ERROR".to_owned()])
    );
}

/// A controller run by a test: stdout and stderr in separate files.
struct Run {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    /// `prefix` (e.g. `unshare ...`) then the controller with `args`, `--kubeconfig`, and
    /// `POD_NAMESPACE` / `POD_NAME`; `env` on top.
    fn start(prefix: &[&str], args: &[String], namespace: &str, env: &[(&str, &str)]) -> Self {
        let cp_kubeconfig = kubeconfig();
        let dir = tempfile::tempdir().expect("tempdir");
        let (out, err) = (dir.path().join("out"), dir.path().join("err"));
        let (program, rest) = match prefix.split_first() {
            Some((p, rest)) => (
                *p,
                rest.iter()
                    .map(|s| (*s).to_owned())
                    .chain([BIN.to_owned()])
                    .collect(),
            ),
            None => (BIN, Vec::new()),
        };
        let child = Command::new(program)
            .args(rest)
            .args(args)
            .arg("--key-size=2048")
            .arg("--kubeconfig")
            .arg(cp_kubeconfig)
            .env_remove("RUST_LOG")
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", format!("{namespace}-pod"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("the controller starts");
        Self {
            child,
            out,
            err,
            _dir: dir,
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits for `url` to answer 200; its body.
    fn wait_for(&mut self, url: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, body)) = http_get(url) {
                return body;
            }
            assert!(
                Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)),
                "{url} never answered; stdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
        }
    }
}

static KUBECONFIG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn kubeconfig() -> &'static Path {
    KUBECONFIG.get().expect("control plane started")
}

async fn cluster() -> &'static envtest::ControlPlane {
    let cp = control_plane().await;
    let _ = KUBECONFIG.set(cp.kubeconfig_path().to_owned());
    cp
}

/// Whether this machine has an IPv6 loopback.
fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// With exactly the chart's default arguments: the API and metrics listen on IPv4 and IPv6,
/// a SealedSecret is unsealed, `condition_info` has upstream's labels, the `process_*` metrics
/// are there, rotate is not rate-limited (verify is), and INFO lines went to stdout only.
#[tokio::test]
async fn chart_default_arguments_dual_stack_metrics_and_unlimited_rotate() {
    let cp = cluster().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "chart-defaults").await;
    let (api, metrics) = (free_port(), free_port());
    // The arguments verbatim; the namespaces watched come from the variable (pflagenv), so that
    // this controller does not see the other tests' SealedSecrets.
    let mut run = Run::start(
        &[],
        &chart_defaults(api, metrics),
        &keys_ns,
        &[("SEALED_SECRETS_ADDITIONAL_NAMESPACES", app_ns.as_str())],
    );
    let cert = run.wait_for(&format!("http://127.0.0.1:{api}/v1/cert.pem"));
    if has_ipv6_loopback() {
        for url in [
            format!("http://[::1]:{api}/healthz"),
            format!("http://[::1]:{metrics}/metrics"),
        ] {
            let (status, _) = http_get(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(status, 200, "{url} answers over IPv6");
        }
    } else {
        eprintln!("SKIPPED (IPv6 half only): this machine has no IPv6 loopback ([::1])");
    }

    let mut sealed = seal(&cert, &app_ns, "db", &[("password", b"hunter2")]);
    sealed.metadata.labels =
        Some([("app.kubernetes.io/instance".to_owned(), "shop".to_owned())].into());
    create_sealed(&client, &sealed).await;
    wait_synced(&client, &app_ns, "db", "True").await;

    let text = http_get(&format!("http://127.0.0.1:{metrics}/metrics"))
        .expect("metrics")
        .1;
    let condition = metric_samples(&text, "sealed_secrets_controller_condition_info");
    let labels: Vec<_> = condition
        .iter()
        .map(|(l, _)| l.keys().cloned().collect::<Vec<_>>())
        .collect();
    assert_eq!(
        labels,
        [[
            "condition",
            "name",
            "namespace",
            "ss_app_kubernetes_io_instance"
        ]],
        "upstream's labels"
    );
    let value = |name: &str| {
        metric_samples(&text, name)
            .first()
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    assert!(value("process_cpu_seconds_total") > 0.0);
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_max_fds") >= value("process_open_fds"));
    let started = value("process_start_time_seconds");
    assert!(
        started <= now && started > now - 600.0,
        "{started} vs {now}"
    );

    // Rotate: 10 in a row all answer (the verify limit, 2/s with a burst of 2, would refuse
    // the 4th); verify still limits.
    let body = serde_json::to_vec(&sealed).expect("json");
    let url = |path: &str| format!("http://127.0.0.1:{api}{path}");
    let rotate: Vec<u16> = (0..10)
        .map(|_| {
            http_call("POST", &url("/v1/rotate"), &body)
                .expect("rotate")
                .status
        })
        .collect();
    assert_eq!(rotate, [200; 10], "rotate is not rate-limited by default");
    let verify: Vec<u16> = (0..10)
        .map(|_| {
            http_call("POST", &url("/v1/verify"), &body)
                .expect("verify")
                .status
        })
        .collect();
    assert!(verify.contains(&429), "verify is rate-limited: {verify:?}");

    // --log-info-stdout by default: INFO lines on stdout, none on stderr.
    let (stdout, stderr) = (run.stdout(), run.stderr());
    assert!(
        stdout.contains("Starting sealed-secrets controller"),
        "{stdout}"
    );
    assert!(
        !stderr.contains(" INFO "),
        "no INFO line on stderr:\n{stderr}"
    );
    assert!(
        !stdout.contains(" WARN ") && !stdout.contains(" ERROR "),
        "{stdout}"
    );
}

/// `condition_info`'s `ss_app_kubernetes_io_instance` carries the SealedSecret's
/// `app.kubernetes.io/instance` label.
#[tokio::test]
async fn condition_info_carries_the_instance_label() {
    let cp = cluster().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "instance-label").await;
    let (api, metrics) = (free_port(), free_port());
    let mut run = Run::start(
        &[],
        &chart_defaults(api, metrics),
        &keys_ns,
        &[("SEALED_SECRETS_ADDITIONAL_NAMESPACES", app_ns.as_str())],
    );
    let cert = run.wait_for(&format!("http://127.0.0.1:{api}/v1/cert.pem"));
    let mut sealed = seal(&cert, &app_ns, "db", &[("password", b"x")]);
    sealed.metadata.labels =
        Some([("app.kubernetes.io/instance".to_owned(), "shop".to_owned())].into());
    create_sealed(&client, &sealed).await;
    wait_synced(&client, &app_ns, "db", "True").await;
    let text = http_get(&format!("http://127.0.0.1:{metrics}/metrics"))
        .expect("metrics")
        .1;
    let labels = [
        ("condition", "Synced"),
        ("name", "db"),
        ("namespace", app_ns.as_str()),
        ("ss_app_kubernetes_io_instance", "shop"),
    ];
    assert_eq!(
        metric_value(&text, "sealed_secrets_controller_condition_info", &labels),
        Some(1.0),
        "{text}"
    );
}

/// `--rotate-rate-limit` (ours) limits rotate per client when asked; every optional chart
/// argument, as rendered, runs (a negative `--kubeclient-qps` installs no client-side limit).
#[tokio::test]
async fn every_optional_chart_argument_runs_and_rotate_can_be_limited() {
    let cp = cluster().await;
    let (keys_ns, app_ns) = namespaces(cp, "chart-optional").await;
    let (api, metrics) = (free_port(), free_port());
    let mut args = chart_defaults(api, metrics);
    for optional in CHART_OPTIONAL {
        // The last value of a flag given twice wins; skip the alternatives we do not want.
        if matches!(
            optional,
            ["--key-renew-period", "0"]
                | ["--log-format", "text"]
                | ["--log-level", "DEBUG"]
                | ["--kubeclient-qps", "0.5"]
                | ["--additional-namespaces", _]
        ) {
            continue;
        }
        args.extend(optional.iter().map(|s| (*s).to_owned()));
    }
    args.extend(["--additional-namespaces".to_owned(), app_ns.clone()]);
    args.extend(
        [
            "--old-gc-behaviour",
            "--rotate-rate-limit",
            "1",
            "--rotate-rate-limit-burst",
            "0",
        ]
        .map(str::to_owned),
    );
    let mut run = Run::start(&[], &args, &keys_ns, &[]);
    let cert = run.wait_for(&format!("http://127.0.0.1:{api}/v1/cert.pem"));
    let body = serde_json::to_vec(&seal(&cert, &app_ns, "x", &[("v", b"1")])).expect("json");
    let url = format!("http://127.0.0.1:{api}/v1/rotate");
    let codes: Vec<u16> = (0..3)
        .map(|_| http_call("POST", &url, &body).expect("rotate").status)
        .collect();
    assert_eq!(codes[0], 200, "{codes:?}");
    assert!(
        codes[1..].contains(&429),
        "--rotate-rate-limit=1 limits: {codes:?}"
    );
    let log = run.stdout() + &run.stderr();
    assert!(
        !log.contains("Kubernetes client rate limit"),
        "a negative QPS means no limit:\n{log}"
    );
    let keys = key_secrets(&cp.client().expect("client"), &keys_ns).await;
    let labels = keys[0].metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("team").map(String::as_str),
        Some("infra"),
        "--privatekey-labels"
    );
}

/// Sends SIGTERM to `pid`.
fn sigterm(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -TERM {pid}");
}

/// The only child process of `pid`, once there.
fn child_of(pid: u32) -> u32 {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(child) = text.split_whitespace().next().and_then(|c| c.parse().ok()) {
            return child;
        }
        assert!(Instant::now() < deadline, "{pid} started no child");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM ends a running controller within a few seconds, exit status 0: as a process, and as
/// PID 1 of its own PID namespace (a container), where a signal without a handler is ignored.
#[tokio::test]
async fn sigterm_ends_the_controller_promptly_also_as_pid_1() {
    let cp = cluster().await;
    let unshare = ["unshare", "--pid", "--fork", "--mount-proc"];
    let can_unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(can_unshare, "util-linux unshare --pid works here (root)");
    for as_pid_1 in [false, true] {
        let (keys_ns, app_ns) =
            namespaces(cp, if as_pid_1 { "sigterm-pid1" } else { "sigterm" }).await;
        let (api, metrics) = (free_port(), free_port());
        let mut args = chart_defaults(api, metrics);
        args.extend(["--additional-namespaces".to_owned(), app_ns]);
        let prefix: &[&str] = if as_pid_1 { &unshare } else { &[] };
        let mut run = Run::start(prefix, &args, &keys_ns, &[]);
        run.wait_for(&format!("http://127.0.0.1:{api}/v1/cert.pem"));
        let target = if as_pid_1 {
            child_of(run.child.id())
        } else {
            run.child.id()
        };
        if as_pid_1 {
            let status =
                std::fs::read_to_string(format!("/proc/{target}/status")).unwrap_or_default();
            let nspid = status
                .lines()
                .find(|l| l.starts_with("NSpid:"))
                .unwrap_or_default();
            assert!(
                nspid.trim_end().ends_with("\t1"),
                "the controller is PID 1 of its namespace: {nspid}"
            );
        }
        let sent = Instant::now();
        sigterm(target);
        let status = wait_exit(&mut run.child, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("as PID 1: {as_pid_1}: still running 5 s after SIGTERM"));
        assert!(status.success(), "as PID 1: {as_pid_1}: {status:?}");
        assert!(
            run.stdout().contains("received SIGTERM; exiting"),
            "{}",
            run.stdout()
        );
        eprintln!(
            "as PID 1: {as_pid_1}: exited {:?} after SIGTERM",
            sent.elapsed()
        );
    }
}

/// With `--leader-elect`, the leader releases its Lease on SIGTERM: another replica need not
/// wait out the lease duration.
#[tokio::test]
async fn sigterm_releases_the_leaders_lease() {
    let cp = cluster().await;
    let client = cp.client().expect("client");
    let (keys_ns, app_ns) = namespaces(cp, "sigterm-lease").await;
    let (api, metrics) = (free_port(), free_port());
    let mut args = chart_defaults(api, metrics);
    args.extend(
        [
            "--additional-namespaces",
            &app_ns,
            "--leader-elect",
            "--leader-elect-lease-duration",
            "60s",
        ]
        .map(str::to_owned),
    );
    let mut run = Run::start(&[], &args, &keys_ns, &[]);
    run.wait_for(&format!("http://127.0.0.1:{api}/v1/cert.pem"));
    let leases: Api<Lease> = Api::namespaced(client.clone(), &keys_ns);
    let me = format!("{keys_ns}-pod");
    let holder = |lease: &Lease| lease.spec.as_ref().and_then(|s| s.holder_identity.clone());
    eventually(
        Duration::from_secs(30),
        "the Lease held by the controller",
        || {
            let (leases, me) = (leases.clone(), me.clone());
            async move {
                let lease = leases.get("sealed-secrets-controller").await.ok()?;
                (holder(&lease) == Some(me)).then_some(())
            }
        },
    )
    .await;
    sigterm(run.child.id());
    let status =
        wait_exit(&mut run.child, Duration::from_secs(5)).expect("exits within 5 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    let lease = leases
        .get("sealed-secrets-controller")
        .await
        .expect("the Lease");
    assert_eq!(holder(&lease), None, "released: {:?}", lease.spec);
}
