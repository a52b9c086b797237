//! The default namespace `kubeseal` uses for a Secret that has none, read as kubectl does:
//! `--kubeconfig`, else `$KUBECONFIG` (files merged, first value wins), else `~/.kube/config`;
//! the context from `--context` or `current-context`. The files are parsed and merged by kube's
//! [`Kubeconfig`] loader; only the choice of files and of the context is made here.

use std::path::{Path, PathBuf};

use anyhow::Result;
use kube::config::{Kubeconfig, KubeconfigError};

/// The namespace of the selected context (`"default"` when it sets none), or `None` when there is
/// no kubeconfig at all.
pub fn context_namespace(explicit: Option<&Path>, context: Option<&str>) -> Result<Option<String>> {
    let Some(merged) = read_merged(explicit)? else {
        return Ok(None);
    };
    // An empty --context means unset, as with kubectl.
    let current = context
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .or_else(|| merged.current_context.clone().filter(|c| !c.is_empty()));
    let Some(name) = current else {
        return Ok(Some("default".to_owned()));
    };
    // As client-go: a context that does not exist is an error, never a silent "default" (a
    // Secret sealed for the wrong namespace could never be unsealed).
    let named = merged
        .contexts
        .iter()
        .find(|ctx| ctx.name == name)
        .ok_or_else(|| anyhow::anyhow!("context was not found for specified context: {name}"))?;
    let namespace = named
        .context
        .as_ref()
        .and_then(|c| c.namespace.as_deref())
        .filter(|ns| !ns.is_empty())
        .unwrap_or("default");
    Ok(Some(namespace.to_owned()))
}

/// The candidate files merged in order, or `None` when none exists. A missing file is skipped
/// unless it was named with `--kubeconfig`.
fn read_merged(explicit: Option<&Path>) -> Result<Option<Kubeconfig>> {
    let mut merged: Option<Kubeconfig> = None;
    for path in candidate_files(explicit) {
        check_encoding(&path)?;
        let config = match Kubeconfig::read_from(&path) {
            Ok(config) => config,
            Err(KubeconfigError::ReadConfig(e, _))
                if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() =>
            {
                continue
            }
            Err(KubeconfigError::ReadConfig(e, _)) => {
                return Err(crate::os_error("cannot read kubeconfig", &path, &e))
            }
            Err(_) => anyhow::bail!("kubeconfig {} is not valid YAML", path.display()),
        };
        merged = Some(match merged {
            Some(first) => first.merge(config)?,
            None => config,
        });
    }
    Ok(merged)
}

/// Refuses a file kube's loader would panic on: a UTF-16 byte-order mark followed by an odd
/// number of bytes (kube-client 5 reads it two bytes at a time, past the end). A file that
/// cannot be read is left to the loader, which names the OS error.
pub fn check_encoding(path: &Path) -> Result<()> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(());
    };
    if matches!(bytes.as_slice(), [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..]) && bytes.len() % 2 == 1 {
        anyhow::bail!(
            "kubeconfig {} is not valid UTF-16: an odd number of bytes",
            path.display()
        );
    }
    Ok(())
}

/// Every kubeconfig file kubectl would read (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`),
/// checked with [`check_encoding`].
pub fn check_candidates(explicit: Option<&Path>) -> Result<()> {
    candidate_files(explicit)
        .iter()
        .try_for_each(|path| check_encoding(path))
}

fn candidate_files(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list).collect();
    }
    std::env::var_os("HOME")
        .map(|home| vec![PathBuf::from(home).join(".kube").join("config")])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`tests/fuzz` `kubeconfig`): kube's loader indexed past the end of a
    /// UTF-16 file of an odd length and panicked.
    #[test]
    fn an_odd_length_utf16_kubeconfig_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("temp dir");
        for bom in [[0xFF, 0xFE], [0xFE, 0xFF]] {
            let path = dir.path().join("config");
            let mut bytes = bom.to_vec();
            bytes.extend_from_slice(b"apiVersion: v1\n");
            std::fs::write(&path, &bytes).expect("write");
            let e = context_namespace(Some(&path), None).expect_err("odd UTF-16");
            assert!(e.to_string().contains("not valid UTF-16"), "{e}");
        }
    }
}
