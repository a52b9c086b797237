//! Supervised tasks (issue 15): when one of the controller's long-lived tasks fails or panics,
//! the process logs which one and exits non-zero (so the kubelet restarts it), instead of going
//! on half-alive (serving with frozen keys, a green liveness probe). Faults are injected with
//! `SEALED_SECRETS_FAULT_INJECT`; the real control plane runs the rest.

pub mod support;

use std::time::{Duration, Instant};

use support::*;

/// Starts a controller watching a fresh namespace, with `SEALED_SECRETS_FAULT_INJECT=fault`.
async fn start_with_fault(prefix: &str, fault: &str) -> ControllerProcess {
    let cp = control_plane().await;
    let ns = cp.create_namespace(prefix).await.expect("namespace");
    let args: Vec<String> = [
        "--key-size=2048".to_owned(),
        "--all-namespaces=false".to_owned(),
        format!("--additional-namespaces={ns}"),
    ]
    .into();
    ControllerProcess::start_exact(
        cp.kubeconfig_path(),
        &ns,
        None,
        &args,
        &[("SEALED_SECRETS_FAULT_INJECT", fault)],
    )
}

/// Starts a controller with a fault injected and returns its exit status, log and lifetime.
async fn exit_with_fault(prefix: &str, fault: &str) -> (Option<i32>, String, Duration) {
    let mut controller = start_with_fault(prefix, fault).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(status)) = controller.child.try_wait() {
            return (status.code(), controller.log(), started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the controller kept running with {fault} injected:\n{}",
        controller.log()
    );
}

#[tokio::test]
async fn a_task_that_panics_or_fails_ends_the_process_with_its_name() {
    for (prefix, fault, line) in [
        (
            "sup-watch",
            "key-watch:panic",
            "task key-watch panicked: injected panic",
        ),
        (
            "sup-rec",
            "reconciler",
            "task reconciler failed: injected fault",
        ),
        (
            "sup-api",
            "api-server",
            "task api-server failed: injected fault",
        ),
        (
            "sup-rot",
            "key-rotation:panic",
            "task key-rotation panicked: injected panic",
        ),
    ] {
        let (code, log, took) = exit_with_fault(prefix, fault).await;
        assert_eq!(code, Some(1), "{fault}: non-zero exit:\n{log}");
        assert!(
            log.contains(line),
            "{fault}: the log names the task:\n{log}"
        );
        eprintln!("{fault}: exit after {took:?}");
    }
}

#[tokio::test]
async fn a_healthy_controller_is_not_stopped_by_a_fault_in_another_name() {
    let mut controller = start_with_fault("sup-none", "no-such-task").await;
    controller.wait_for_cert(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        controller.is_running(),
        "still running:\n{}",
        controller.log()
    );
}
