//! Reading secret parts without putting them on the command line (they would land in shell
//! history and `ps`): from stdin, a file or an environment variable; env files (`KEY=VALUE`
//! lines, as `kubectl create secret --from-env-file` reads them) and `--from-file key=path`.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use zeroize::Zeroizing;

use crate::kinds::SecretText;

/// Where a secret part comes from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecretSource {
    /// Read the secret from this file (`-` for stdin). Default: stdin.
    #[arg(long, value_name = "FILE", conflicts_with = "secret_env")]
    pub secret_file: Option<PathBuf>,
    /// Read the secret from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
}

impl SecretSource {
    /// Reads the secret; a single trailing newline (from `echo` or a file) is dropped.
    pub fn read(&self, what: &str) -> Result<SecretText> {
        let text = match (&self.secret_file, &self.secret_env) {
            (_, Some(var)) => Zeroizing::new(std::env::var(var).map_err(|_| {
                anyhow::anyhow!("environment variable {var} (--secret-env) is not set or not UTF-8")
            })?),
            (Some(path), None) if path != Path::new("-") => {
                let bytes =
                    Zeroizing::new(std::fs::read(path).with_context(|| {
                        format!("cannot read the {what} from {}", path.display())
                    })?);
                Zeroizing::new(
                    std::str::from_utf8(&bytes)
                        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))?
                        .to_owned(),
                )
            }
            _ => read_stdin(what)?,
        };
        let trimmed = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        if trimmed.contains('\n') {
            bail!("the {what} spans several lines; expected one line");
        }
        Ok(Zeroizing::new(trimmed.to_owned()))
    }
}

fn read_stdin(what: &str) -> Result<SecretText> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Reading the {what} from stdin (it is not echoed to any log); end with Enter and Ctrl-D:");
    }
    let mut text = Zeroizing::new(String::new());
    stdin
        .lock()
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read the {what} from stdin (UTF-8 text expected)"))?;
    Ok(text)
}

/// One `KEY=VALUE` entry.
pub struct Entry {
    /// The data key.
    pub key: String,
    /// The value, wiped on drop.
    pub value: Zeroizing<Vec<u8>>,
}

/// Parses an env file as `kubectl create secret generic --from-env-file` does: one `KEY=VALUE` per
/// line, value verbatim after the first `=`, leading whitespace ignored, blank lines and `#`
/// comments skipped. Unlike kubectl, a line without `=` is an error (kubectl silently takes the
/// value from its own environment). Errors name the file and line, never the value.
pub fn parse_env_file(path: &Path, bytes: &[u8]) -> Result<Vec<Entry>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("env file {} is not UTF-8 text", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries: Vec<Entry> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{}:{}", path.display(), n + 1);
        let Some((key, value)) = line.split_once('=') else {
            bail!("env file {at}: expected KEY=VALUE");
        };
        check_key(key).with_context(|| format!("env file {at}"))?;
        if entries.iter().any(|e| e.key == key) {
            bail!("env file {at}: key {key:?} appears twice");
        }
        entries.push(Entry {
            key: key.to_owned(),
            value: Zeroizing::new(value.as_bytes().to_vec()),
        });
    }
    if entries.is_empty() {
        bail!("env file {} holds no KEY=VALUE line", path.display());
    }
    Ok(entries)
}

/// Reads `--from-file [key=]path` (the key defaults to the file name, as in kubectl).
pub fn read_from_file(spec: &str) -> Result<Entry> {
    let (key, path) = match spec.split_once('=') {
        Some((k, p)) => (k.to_owned(), PathBuf::from(p)),
        None => {
            let path = PathBuf::from(spec);
            let key = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (key, path)
        }
    };
    check_key(&key).with_context(|| format!("--from-file {spec}"))?;
    let value = Zeroizing::new(
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    Ok(Entry { key, value })
}

/// A Secret data key: `[-._a-zA-Z0-9]+`, as the API server requires.
fn check_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key.len() > 253
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        bail!("{key:?} is not a valid Secret key (letters, digits, '-', '_', '.')");
    }
    Ok(())
}

/// Warns (on stderr, naming only the key) about values the connect-operator would truncate: it
/// splits `.properties` lines at `=` and keeps only the second field.
pub fn warn_if_contains_equals(key: &str, value: &[u8]) {
    if value.contains(&b'=') {
        eprintln!(
            "warning: the value of {key} contains '=': the connect-operator splits properties at '=' and would truncate it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_reads_like_kubectl() {
        let text = b"\xef\xbb\xbf# comment\n\nMYSQL_CONNECTION_USER=orders\n  MYSQL_CONNECTION_PASSWORD=p@ss=word \nEMPTY=\n";
        let entries = parse_env_file(Path::new("creds.env"), text).expect("parses");
        let got: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|e| (e.key.clone(), e.value.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("MYSQL_CONNECTION_USER".to_owned(), b"orders".to_vec()),
                (
                    "MYSQL_CONNECTION_PASSWORD".to_owned(),
                    b"p@ss=word ".to_vec()
                ),
                ("EMPTY".to_owned(), Vec::new()),
            ]
        );
    }

    #[test]
    fn malformed_env_files_name_the_line_not_the_value() {
        let err = parse_env_file(Path::new("x.env"), b"A=1\nhunter2\n")
            .err()
            .expect("refused");
        let msg = format!("{err:#}");
        assert!(msg.contains("x.env:2"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let err = parse_env_file(Path::new("x.env"), b"BAD KEY=hunter2\n")
            .err()
            .expect("refused");
        assert!(!format!("{err:#}").contains("hunter2"));
        assert!(parse_env_file(Path::new("x.env"), b"A=1\nA=2\n").is_err());
        assert!(parse_env_file(Path::new("x.env"), b"# only a comment\n").is_err());
        assert!(parse_env_file(Path::new("x.env"), b"A=\xff\n").is_err());
    }
}
