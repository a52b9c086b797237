//! `kubeseal`: seal Kubernetes Secrets offline into SealedSecrets (drop-in for Bitnami's).
//!
//! This file only parses flags, dispatches and reports errors; see `modes.rs` for the work. The
//! client side it shares with `ccloud-keys` (controller API, certificates, kubeconfig, atomic
//! output) is the `kubeseal-client` crate in `cli/client/`.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory;

mod bulk;
mod flags;
mod modes;
mod render;
mod rotation;

use flags::{Cli, Command};

fn main() -> ExitCode {
    let cli = match goflags::parse_with_env::<Cli, _, _>(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(Command::Completion { shell }) = cli.command {
        let mut cmd = Cli::command();
        clap_complete::generate(shell, &mut cmd, "kubeseal", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Bulk(args)) = &cli.command {
        return bulk::run(args);
    }
    if cli.seal.version {
        println!("kubeseal version: v{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    match modes::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the chain of contexts joined by ": ".
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
