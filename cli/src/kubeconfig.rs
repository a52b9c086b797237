//! Just enough of kubectl's kubeconfig loading to find the default namespace, as `kubeseal` does
//! when a Secret has no namespace: `--kubeconfig`, else `$KUBECONFIG` (files merged, first value
//! wins), else `~/.kube/config`; the context from `--context` or `current-context`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde_json::Value;

/// The namespace of the selected context (`"default"` when it sets none), or `None` when there is
/// no kubeconfig at all.
pub fn context_namespace(explicit: Option<&Path>, context: Option<&str>) -> Result<Option<String>> {
    let files = candidate_files(explicit);
    let mut configs = Vec::new();
    for path in files {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let value: Value = serde_yaml::from_slice(&bytes).map_err(|_| {
                    anyhow::anyhow!("kubeconfig {} is not valid YAML", path.display())
                })?;
                configs.push(value);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read kubeconfig {}", path.display()))
            }
        }
    }
    if configs.is_empty() {
        return Ok(None);
    }
    // An empty --context means unset, as with kubectl.
    let current = context
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            configs
                .iter()
                .filter_map(|c| c.get("current-context").and_then(Value::as_str))
                .find(|c| !c.is_empty())
                .map(str::to_owned)
        });
    let Some(name) = current else {
        return Ok(Some("default".to_owned()));
    };
    // As client-go: a context that does not exist is an error, never a silent "default" (a
    // Secret sealed for the wrong namespace could never be unsealed).
    let context = configs
        .iter()
        .flat_map(|c| {
            c.get("contexts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .find(|ctx| ctx.get("name").and_then(Value::as_str) == Some(name.as_str()))
        .ok_or_else(|| anyhow::anyhow!("context was not found for specified context: {name}"))?;
    let namespace = context
        .pointer("/context/namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .unwrap_or("default");
    Ok(Some(namespace.to_owned()))
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
