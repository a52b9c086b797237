//! The GitOps repository layout Flux watches: sealed files at
//! `secrets/sealed/<env>/<namespace>-<name>.yaml`, each environment's certificate at
//! `secrets/keys/<env>.crt`. The Git operations are kubeseal's (`kubeseal_client::git`), shared with
//! `kubeseal bulk re-encrypt --commit`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kubeseal_client::git::WorkTree;

/// A working tree and the environment (`dev`, `prd`, …) files are written for.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
    env: String,
    git: WorkTree,
}

impl Repo {
    /// Checks the environment name (it becomes a path component).
    pub fn new(root: PathBuf, env: &str) -> Result<Self> {
        let ok = !env.is_empty()
            && env
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !ok {
            bail!("--env {env:?} is not a valid environment name (letters, digits, '-', '_')");
        }
        if !root.is_dir() {
            bail!("--repo {} is not a directory", root.display());
        }
        Ok(Self {
            git: WorkTree::new(&root),
            root,
            env: env.to_owned(),
        })
    }

    /// The working tree's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `secrets/sealed/<env>/<namespace>-<name>.yaml`, relative to the root.
    pub fn sealed_file(&self, namespace: &str, name: &str) -> PathBuf {
        Path::new("secrets/sealed")
            .join(&self.env)
            .join(format!("{namespace}-{name}.yaml"))
    }

    /// `secrets/keys/<env>.crt` under the root: the default certificate.
    pub fn cert_file(&self) -> PathBuf {
        self.root
            .join("secrets/keys")
            .join(format!("{}.crt", self.env))
    }

    /// True when `rel` differs from what Git has committed (modified, staged or untracked). A
    /// directory that is not a Git working tree has no local changes as far as we can tell.
    pub fn has_local_changes(&self, rel: &Path) -> Result<bool> {
        self.git.has_local_changes(rel)
    }

    /// Writes `bytes` to `rel` atomically, creating its directory.
    pub fn write(&self, rel: &Path, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        kubeseal_client::output::write_atomically(&path, bytes)
    }

    /// Commits exactly `rel` (nothing else that may be staged) with `message`, as `author`
    /// (`Name <email>`, also used as committer).
    pub fn commit(&self, rel: &Path, message: &str, author: &str) -> Result<()> {
        self.git.commit(&[rel.to_owned()], message, author)
    }

    /// Pushes the current branch to `remote` (once: the watcher retries on its own schedule).
    pub fn push(&self, remote: &str) -> Result<()> {
        self.git.push(remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_the_one_flux_watches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repo::new(dir.path().to_owned(), "dev").expect("repo");
        assert_eq!(
            repo.sealed_file("default", "cc.api-key.app.lkc-1"),
            Path::new("secrets/sealed/dev/default-cc.api-key.app.lkc-1.yaml")
        );
        assert_eq!(repo.cert_file(), dir.path().join("secrets/keys/dev.crt"));
        assert!(Repo::new(dir.path().to_owned(), "../prd").is_err());
        assert!(Repo::new(dir.path().join("missing"), "dev").is_err());
    }
}
