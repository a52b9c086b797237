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
