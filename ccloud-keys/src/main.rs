//! `ccloud-keys`: seals Confluent Cloud credentials into the repository layout Flux applies,
//! and feeds keys minted in the cluster back into Git. Flag parsing and error reporting only;
//! see `offline.rs` (one-shot sealing) and `watch/` (the feedback loop).

mod flags;
mod input;
mod kinds;
mod offline;
mod repo;
mod sealing;
mod watch;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::flags::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Completion { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "ccloud-keys", &mut std::io::stdout());
            Ok(())
        }
        Command::Watch(args) => watch::run(&cli.out, args),
        other => offline::run(&cli.out, other),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the chain of contexts joined by ": ".
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
