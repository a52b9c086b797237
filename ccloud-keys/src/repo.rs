//! The GitOps repository layout Flux watches, and the few Git operations ccloud-keys needs
//! (through the `git` program): sealed files at `secrets/sealed/<env>/<namespace>-<name>.yaml`,
//! each environment's certificate at `secrets/keys/<env>.crt`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// A working tree and the environment (`dev`, `prd`, …) files are written for.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
    env: String,
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
        if !self.is_git()? {
            return Ok(false);
        }
        let out = self
            .git()
            .args(["status", "--porcelain", "--"])
            .arg(rel)
            .output()
            .context("cannot run git status")?;
        if !out.status.success() {
            bail!(
                "git status failed in {}: {}",
                self.root.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(!out.stdout.is_empty())
    }

    /// Whether the root is inside a Git working tree.
    pub fn is_git(&self) -> Result<bool> {
        let out = self
            .git()
            .args(["rev-parse", "--is-inside-work-tree"])
            .output()
            .context("cannot run git (is it installed?)")?;
        Ok(out.status.success() && out.stdout.starts_with(b"true"))
    }

    /// Writes `bytes` to `rel` atomically, creating its directory.
    pub fn write(&self, rel: &Path, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        kubeseal::output::write_atomically(&path, bytes)
    }

    /// Commits exactly `rel` (nothing else that may be staged) with `message`, as `author`
    /// (`Name <email>`, also used as committer).
    pub fn commit(&self, rel: &Path, message: &str, author: &str) -> Result<()> {
        let (name, email) = parse_author(author)?;
        let add = self
            .git()
            .args(["add", "--"])
            .arg(rel)
            .output()
            .context("cannot run git add")?;
        if !add.status.success() {
            bail!(
                "git add {} failed: {}",
                rel.display(),
                String::from_utf8_lossy(&add.stderr).trim()
            );
        }
        let out = self
            .git()
            .arg("-c")
            .arg(format!("user.name={name}"))
            .arg("-c")
            .arg(format!("user.email={email}"))
            .args(["commit", "--quiet", "--no-verify", "-m", message, "--"])
            .arg(rel)
            .output()
            .context("cannot run git commit")?;
        if !out.status.success() {
            bail!(
                "git commit of {} failed: {}",
                rel.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Pushes the current branch to `remote`.
    pub fn push(&self, remote: &str) -> Result<()> {
        let out = self
            .git()
            .args(["push", "--quiet", remote, "HEAD"])
            .output()
            .context("cannot run git push")?;
        if !out.status.success() {
            bail!(
                "git push to {remote} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn git(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.root);
        cmd
    }
}

/// `Name <email>` → (name, email).
fn parse_author(author: &str) -> Result<(&str, &str)> {
    let parsed = author
        .split_once('<')
        .and_then(|(name, rest)| Some((name.trim(), rest.strip_suffix('>')?.trim())))
        .filter(|(name, email)| !name.is_empty() && email.contains('@'));
    parsed.ok_or_else(|| anyhow::anyhow!("--author {author:?} is not of the form 'Name <email>'"))
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

    #[test]
    fn authors_need_a_name_and_an_email() {
        assert_eq!(
            parse_author("Key Bot <bot@example.com>").ok(),
            Some(("Key Bot", "bot@example.com"))
        );
        assert!(parse_author("bot@example.com").is_err());
        assert!(parse_author("<bot@example.com>").is_err());
    }
}
