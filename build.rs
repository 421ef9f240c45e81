//! Records what `pg-gitops --version` says besides the crate version: the Git commit and the
//! build date (`PG_GITOPS_GIT_COMMIT` and `PG_GITOPS_BUILD_DATE` for `env!`).
//!
//! - Commit: `PG_GITOPS_GIT_COMMIT` if set (a Docker build context may have no `.git`), else
//!   `git rev-parse --short HEAD`, else "unknown" (a source tarball, no `git`).
//! - Date: `SOURCE_DATE_EPOCH` if set (reproducible builds), else today, as YYYY-MM-DD (UTC).
//!
//! Cargo reruns this only when HEAD moves (the HEAD file, the branch's ref, packed-refs), so an
//! edit-build loop does not recompile the crate for a new date; the date is the day of the
//! build that first saw the commit.

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PG_GITOPS_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let commit = std::env::var("PG_GITOPS_GIT_COMMIT")
        .ok()
        .filter(|commit| !commit.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PG_GITOPS_GIT_COMMIT={}", commit.trim());

    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=PG_GITOPS_BUILD_DATE={}", utc_date(seconds));
}

/// The short commit of HEAD, and the files whose change means HEAD moved. `--git-path` finds
/// them in a linked worktree too, where `.git` is a file and the refs live elsewhere.
fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = PathBuf::from(manifest_dir()).join(path);
            // A path that does not exist would make Cargo rerun this on every build.
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(commit)
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(manifest_dir())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
}

/// Seconds since the epoch as a UTC calendar date (Howard Hinnant's days-to-civil algorithm;
/// a build script should not pull in a date crate for one line).
fn utc_date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
