//! `kubeseal`: seal Kubernetes Secrets offline into SealedSecrets (drop-in for Bitnami's).
//!
//! This file only parses flags, dispatches and reports errors; see `modes.rs` for the work.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory;

use kubeseal::flags::{Cli, Command};
use kubeseal::{bulk, modes};

fn main() -> ExitCode {
    let cli = match crds::goflags::parse_with_env::<Cli, _, _>(std::env::args_os()) {
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
