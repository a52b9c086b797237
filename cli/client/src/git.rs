//! The few Git operations the tools need, through the `git` program (the user's own
//! configuration, credentials and hooks-free commits): is a file changed locally, commit exactly
//! these files, push with retries. Shared by `kubeseal bulk re-encrypt --commit` and
//! `ccloud-keys`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// How often a refused or failed push is tried again (after a rebase onto the remote).
pub const PUSH_ATTEMPTS: u32 = 4;

/// A directory that may lie inside a Git working tree.
#[derive(Debug, Clone)]
pub struct WorkTree {
    root: PathBuf,
    is_git: bool,
}

impl WorkTree {
    /// `dir`, checked once for being inside a working tree.
    pub fn new(dir: &Path) -> Self {
        Self {
            is_git: inside_work_tree(dir),
            root: dir.to_owned(),
        }
    }

    /// Whether the directory is inside a Git working tree.
    pub fn is_git(&self) -> bool {
        self.is_git
    }

    /// The directory given to [`WorkTree::new`].
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when `path` (relative to the root, or absolute) differs from what Git has
    /// committed: modified, staged or untracked. Outside a working tree, always false.
    pub fn has_local_changes(&self, path: &Path) -> Result<bool> {
        if !self.is_git {
            return Ok(false);
        }
        let status = run(
            self.git().args(["status", "--porcelain", "--"]).arg(path),
            &format!("git status in {}", self.root.display()),
        )?;
        Ok(!status.is_empty())
    }

    /// Commits exactly `paths` (nothing else that may be staged) with `message`, as `author`
    /// (`Name <email>`, also the committer). Nothing to commit is an error only when Git says so.
    pub fn commit(&self, paths: &[PathBuf], message: &str, author: &str) -> Result<()> {
        let (name, email) = parse_author(author)?;
        run(
            self.git().args(["add", "--"]).args(paths),
            &format!("git add in {}", self.root.display()),
        )?;
        run(
            self.git()
                .arg("-c")
                .arg(format!("user.name={name}"))
                .arg("-c")
                .arg(format!("user.email={email}"))
                .args(["commit", "--quiet", "--no-verify", "-m", message, "--"])
                .args(paths),
            &format!("git commit in {}", self.root.display()),
        )?;
        Ok(())
    }

    /// Pushes the current branch to `remote` once.
    pub fn push(&self, remote: &str) -> Result<()> {
        run(
            self.git().args(["push", "--quiet", remote, "HEAD"]),
            &format!("git push to {remote}"),
        )?;
        Ok(())
    }

    /// Pushes, and when that fails (the remote moved on, or a passing fault) rebases onto the
    /// remote branch and tries again, [`PUSH_ATTEMPTS`] times in all with a growing pause.
    pub fn push_with_retry(&self, remote: &str) -> Result<()> {
        let mut last = None;
        for attempt in 1..=PUSH_ATTEMPTS {
            match self.push(remote) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            if attempt < PUSH_ATTEMPTS {
                std::thread::sleep(Duration::from_millis(500 << attempt));
                self.rebase_onto(remote)?;
            }
        }
        let err = last.unwrap_or_else(|| anyhow::anyhow!("git push to {remote} failed"));
        Err(err.context(format!("gave up after {PUSH_ATTEMPTS} attempts")))
    }

    /// `git pull --rebase REMOTE BRANCH` for the current branch; a failed rebase is aborted.
    fn rebase_onto(&self, remote: &str) -> Result<()> {
        let branch = run(
            self.git().args(["rev-parse", "--abbrev-ref", "HEAD"]),
            "git rev-parse",
        )?;
        let branch = String::from_utf8_lossy(&branch).trim().to_owned();
        let pulled = run(
            self.git()
                .args(["pull", "--quiet", "--rebase", "--no-edit", remote])
                .arg(&branch),
            &format!("git pull --rebase from {remote}"),
        );
        if pulled.is_err() {
            let _ = self.git().args(["rebase", "--abort"]).output();
        }
        pulled.map(|_| ())
    }

    fn git(&self) -> Command {
        git_in(&self.root)
    }
}

/// Runs a git command; its stdout, or an error naming `what` with git's own message.
fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
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
pub fn parse_author(author: &str) -> Result<(&str, &str)> {
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
    fn authors_need_a_name_and_an_email() {
        assert_eq!(
            parse_author("Key Bot <bot@example.com>").ok(),
            Some(("Key Bot", "bot@example.com"))
        );
        assert!(parse_author("bot@example.com").is_err());
        assert!(parse_author("<bot@example.com>").is_err());
    }

    #[test]
    fn a_plain_directory_has_no_local_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = WorkTree::new(dir.path());
        assert!(!tree.is_git());
        assert!(!tree.has_local_changes(Path::new("x.yaml")).expect("status"));
    }
}
