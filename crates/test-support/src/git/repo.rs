//! Bare repositories driven with the `git` CLI, the way a user pushes.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A bare repository (the "server" side) plus a working clone to commit from.
pub struct TestRepo {
    pub temp: TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
}

impl TestRepo {
    /// A bare repo `repo.git` with one commit on `main` holding `fleet/db.yaml`.
    #[expect(
        clippy::new_without_default,
        reason = "it creates directories and runs git: not a default value"
    )]
    pub fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let bare = temp.path().join("repo.git");
        let work = temp.path().join("work");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--bare", "-q"]);
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        let repo = TestRepo { temp, bare, work };
        repo.commit("fleet/db.yaml", "revision: 1\n", "first");
        repo
    }

    /// Writes `file`, commits it on the current branch, pushes it; returns the commit SHA.
    pub fn commit(&self, file: &str, content: &str, message: &str) -> String {
        let path = self.work.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        let branch = git(&self.work, &["rev-parse", "--abbrev-ref", "HEAD"]);
        git(
            &self.work,
            &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
        );
        self.head()
    }

    pub fn head(&self) -> String {
        git(&self.work, &["rev-parse", "HEAD"])
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// A fresh directory for the source's clone.
    pub fn work_dir(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }
}
