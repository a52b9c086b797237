//! From a Secret to the sealed file in the repository, shared by the one-shot commands and the
//! watcher: clean the metadata, seal with strict scope (as `kubeseal --format=yaml` does), write
//! atomically or show what would be written.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use crds::{Format, PublicKey, SealOptions};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::repo::Repo;

/// Annotations never carried into Git: plaintext copies (`last-applied-configuration`) and the
/// controller's adoption marker (set on the live Secret, meaningless in a template).
fn dropped_annotation(key: &str) -> bool {
    key == "kubectl.kubernetes.io/last-applied-configuration"
        || key.starts_with("sealedsecrets.bitnami.com/")
}

/// The Secret as it should be sealed: name, namespace, labels, the annotations worth keeping,
/// type, immutable and data; everything the API server sets is dropped.
pub fn clean(secret: &Secret) -> Secret {
    let annotations: BTreeMap<String, String> = secret
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !dropped_annotation(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Secret {
        metadata: ObjectMeta {
            name: secret.metadata.name.clone(),
            namespace: secret.metadata.namespace.clone(),
            labels: secret.metadata.labels.clone().filter(|l| !l.is_empty()),
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            ..ObjectMeta::default()
        },
        type_: secret.type_.clone(),
        immutable: secret.immutable,
        data: secret.data.clone(),
        string_data: secret.string_data.clone(),
    }
}

/// Seals with strict scope and renders the YAML `kubeseal --format=yaml` would write.
pub fn seal_to_yaml(secret: Secret, key: &PublicKey) -> Result<String> {
    let sealed = crds::seal_secret(secret, key, &SealOptions::default()).context("cannot seal")?;
    crds::write_sealed_secrets(&[sealed], Format::Yaml).context("cannot render the SealedSecret")
}

/// Loads a sealing certificate from a file or URL.
pub fn load_cert(source: &str) -> Result<PublicKey> {
    let pem = kubeseal_client::cert::read_cert_source(source)?;
    kubeseal_client::cert::sealing_key(source, &pem)
}

/// The certificate of the one-shot commands: `--cert`, else `secrets/keys/<env>.crt`.
pub fn offline_cert(cert: Option<&str>, repo: &Repo) -> Result<PublicKey> {
    match cert {
        Some(source) => load_cert(source),
        None => {
            let path = repo.cert_file();
            if !path.is_file() {
                bail!(
                    "no certificate: --cert not given and {} does not exist (fetch it with `kubeseal --fetch-cert > {}`)",
                    path.display(),
                    path.display()
                );
            }
            load_cert(&path.to_string_lossy())
        }
    }
}

/// What happened to a target file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written.
    Written,
    /// Shown only (`--dry-run`).
    DryRun,
}

/// Writes `yaml` to `rel` under the repo (or prints it with `dry_run`). Refuses to overwrite a
/// file with uncommitted changes unless `may_overwrite` says those changes are known.
pub fn emit(
    repo: &Repo,
    rel: &Path,
    yaml: &str,
    dry_run: bool,
    may_overwrite: impl FnOnce() -> bool,
) -> Result<Outcome> {
    if dry_run {
        println!("# would write {}\n{yaml}", rel.display());
        return Ok(Outcome::DryRun);
    }
    if repo.root().join(rel).exists() && repo.has_local_changes(rel)? && !may_overwrite() {
        bail!(
            "refusing to overwrite {}: it has uncommitted changes in Git (commit or discard them, or pass --force)",
            rel.display()
        );
    }
    repo.write(rel, yaml.as_bytes())?;
    Ok(Outcome::Written)
}
