//! `envtest exec [--crd FILE]... -- COMMAND [ARGS]...`: starts a local control plane, runs the
//! command with `KUBECONFIG` pointing at it (and `PATH` holding its `kubectl`), then stops
//! everything. Used by the quick-start demo.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("envtest: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("exec") {
        bail!("usage: envtest exec [--crd FILE]... -- COMMAND [ARGS]...");
    }
    let mut crds = Vec::new();
    let mut command = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--crd" => crds.push(args.next().context("--crd needs a file")?),
            "--" => {
                command.extend(args.by_ref());
                break;
            }
            other => bail!("unexpected argument {other:?} (put the command after --)"),
        }
    }
    let Some((program, program_args)) = command.split_first() else {
        bail!("no command given after --");
    };
    let cp = envtest::ControlPlane::start().await?;
    eprintln!(
        "envtest: kube-apiserver {} ready at {} (log: {})",
        envtest::KUBERNETES_VERSION,
        cp.server_url(),
        cp.apiserver_log_path().display()
    );
    for crd in &crds {
        cp.install_crd(crd).await?;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(cp.bin_dir().to_path_buf()).chain(std::env::split_paths(&path)),
    )?;
    let status = tokio::process::Command::new(program)
        .args(program_args)
        .env("KUBECONFIG", cp.kubeconfig_path())
        .env("PATH", path)
        .status()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    drop(cp);
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
