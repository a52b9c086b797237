//! Command-line parsing shared by the binaries (`kubeseal`, the controller, `ccloud-keys`), as the
//! Go originals parse: Go's boolean and
//! duration syntax, and flags set from `SEALED_SECRETS_*` environment variables (the originals'
//! `pflagenv`).

use std::time::Duration;

/// Prefix of the environment variables that set flags: `--key-prefix` is also
/// `SEALED_SECRETS_KEY_PREFIX`. A flag on the command line wins over its variable.
pub const ENV_PREFIX: &str = "SEALED_SECRETS_";

/// Parses a boolean as Go's `strconv.ParseBool` does: 1, t, T, TRUE, true, True and the
/// matching false forms.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("invalid boolean {other:?} (use true or false)")),
    }
}

/// Parses a Go `time.Duration` string: `720h`, `1h30m`, `15s`, `500ms`, `0`.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("unknown unit {other:?} in duration {s:?}")),
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("duration {s:?} is out of range"))
}

/// `command` with every visible long flag that has no environment variable yet also read from
/// `SEALED_SECRETS_<FLAG>` (dashes as underscores, upper case), except `--help` and `--version`.
///
/// As the originals' `pflagenv`, a variable that is set but empty counts as unset (also for
/// flags that declare their own variable). `--help` never prints variables' values (a token or
/// password may be among them).
pub fn with_env_vars(command: clap::Command) -> clap::Command {
    let empty = |name: &str| std::env::var_os(name).is_some_and(|v| v.is_empty());
    command.mut_args(|arg| {
        let arg = arg.hide_env_values(true);
        if let Some(env) = arg.get_env() {
            return if empty(&env.to_string_lossy()) {
                arg.env(None)
            } else {
                arg
            };
        }
        match arg.get_long() {
            Some(long) if long != "version" && long != "help" && !arg.is_hide_set() => {
                let name = format!("{ENV_PREFIX}{}", long.to_uppercase().replace('-', "_"));
                if empty(&name) {
                    arg
                } else {
                    // clap keeps variable names as `&'static str`; this runs once per process.
                    arg.env(&*Box::leak(name.into_boxed_str()))
                }
            }
            _ => arg,
        }
    })
}

/// `command` (and its subcommands) with every boolean flag also taking a value in Go's syntax,
/// as pflag's booleans do: `--raw`, `--raw=true`, `--raw=1`, `--raw=f`. An on/off flag
/// (`bool`, `ArgAction::SetTrue`) defaults to false; a flag that defaults to true is declared
/// `#[arg(long, action = ArgAction::Set, default_value_t = true)]` and keeps its default.
pub fn with_go_booleans(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| match go_bool_default(&arg) {
            Some(default) => arg
                .action(clap::ArgAction::Set)
                .value_parser(parse_go_bool)
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .default_value(default),
            None => arg,
        })
        .mut_subcommands(with_go_booleans)
}

/// The default of a boolean flag that should take Go's syntax, or `None` for any other argument.
fn go_bool_default(arg: &clap::Arg) -> Option<&'static str> {
    match arg.get_action() {
        clap::ArgAction::SetTrue => Some("false"),
        clap::ArgAction::Set
            if arg.get_value_parser().type_id() == std::any::TypeId::of::<bool>()
                && arg.get_long().is_some() =>
        {
            let default = arg.get_default_values().first();
            Some(if default.is_some_and(|d| d == "true") {
                "true"
            } else {
                "false"
            })
        }
        _ => None,
    }
}

/// Parses `args` (the program name first) into `P` with Go's boolean syntax only, ignoring the
/// environment (for tests, which run in parallel with tests that set variables).
pub fn parse_without_env<P, I, T>(args: I) -> Result<P, clap::Error>
where
    P: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    P::from_arg_matches(&with_go_booleans(P::command()).try_get_matches_from(args)?)
}

/// Parses `args` (the program name first) into `P` as the Go originals parse: booleans in Go's
/// syntax ([`with_go_booleans`]), and each flag not given on the command line taken from its
/// `SEALED_SECRETS_*` environment variable ([`with_env_vars`]).
pub fn parse_with_env<P, I, T>(args: I) -> Result<P, clap::Error>
where
    P: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let command = with_env_vars(with_go_booleans(P::command()));
    P::from_arg_matches(&command.try_get_matches_from(args)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("720h"),
            Ok(Duration::from_secs(720 * 3600))
        );
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("3d").is_err());
        assert!(parse_go_duration("9999999999999999h").is_err());
    }

    #[test]
    fn go_booleans() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Ok(false), "{f}");
        }
        assert!(parse_go_bool("yes").is_err());
    }

    #[derive(Debug, clap::Parser)]
    struct Demo {
        /// On/off, off by default.
        #[arg(long)]
        raw: bool,
        /// On by default.
        #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
        update_status: bool,
        /// Not a boolean: untouched.
        #[arg(long, default_value = "true")]
        name: String,
    }

    fn demo(args: &[&str]) -> Result<(bool, bool, String), String> {
        let mut argv = vec!["demo"];
        argv.extend_from_slice(args);
        parse_with_env::<Demo, _, _>(argv)
            .map(|d| (d.raw, d.update_status, d.name))
            .map_err(|e| e.kind().to_string())
    }

    #[test]
    fn booleans_take_go_syntax_and_keep_their_defaults() {
        assert_eq!(demo(&[]), Ok((false, true, "true".to_owned())));
        assert_eq!(
            demo(&["--raw", "--update-status"]).map(|d| (d.0, d.1)),
            Ok((true, true))
        );
        assert_eq!(
            demo(&["--raw=t", "--update-status=0"]).map(|d| (d.0, d.1)),
            Ok((true, false))
        );
        assert_eq!(demo(&["--update-status=F"]).map(|d| d.1), Ok(false));
        assert!(demo(&["--update-status=yes"]).is_err());
        // A value after a space is an argument, as with pflag: `--update-status false` is refused
        // here because this command takes no positional arguments.
        assert!(demo(&["--update-status", "false"]).is_err());
        assert_eq!(demo(&["--name", "x"]).map(|d| d.2), Ok("x".to_owned()));
    }
}
