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
    /// Whether the root is in a Git working tree (checked once).
    is_git: bool,
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
            is_git: inside_work_tree(&root),
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
        if !self.is_git {
            return Ok(false);
        }
        let status = self.run(
            self.git().args(["status", "--porcelain", "--"]).arg(rel),
            &format!("git status in {}", self.root.display()),
        )?;
        Ok(!status.is_empty())
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
        self.run(
            self.git().args(["add", "--"]).arg(rel),
            &format!("git add {}", rel.display()),
        )?;
        self.run(
            self.git()
                .arg("-c")
                .arg(format!("user.name={name}"))
                .arg("-c")
                .arg(format!("user.email={email}"))
                .args(["commit", "--quiet", "--no-verify", "-m", message, "--"])
                .arg(rel),
            &format!("git commit of {}", rel.display()),
        )?;
        Ok(())
    }

    /// Pushes the current branch to `remote`.
    pub fn push(&self, remote: &str) -> Result<()> {
        self.run(
            self.git().args(["push", "--quiet", remote, "HEAD"]),
            &format!("git push to {remote}"),
        )?;
        Ok(())
    }

    fn git(&self) -> Command {
        git_in(&self.root)
    }

    /// Runs a git command; its stdout, or an error naming `what` with git's own message.
    fn run(&self, cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {what} (is git installed?)"))?;
        if !out.status.success() {
            bail!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    }
}

/// `git -C dir`.
fn git_in(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir);
    cmd
}

/// Whether `dir` is inside a Git working tree (false when git itself is missing).
fn inside_work_tree(dir: &Path) -> bool {
    git_in(dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.starts_with(b"true"))
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
