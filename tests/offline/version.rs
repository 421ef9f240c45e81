//! `pg-gitops --version` (issue 10): the crate version, the Git commit of the checkout it was
//! built from, and the build date; `-V` stays the bare version.

use std::process::Command;

fn pg_gitops(flag: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .arg(flag)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn version_names_the_crate_version_the_commit_and_the_build_date() {
    let said = pg_gitops("--version");
    let rest = said
        .strip_prefix(&format!("pg-gitops {} (commit ", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{said:?}"));
    let (commit, rest) = rest.split_once(", built ").unwrap();
    let date = rest.strip_suffix(")\n").unwrap();
    // The commit this checkout is at (build.rs reran when HEAD moved); "unknown" only outside
    // a Git checkout.
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8(output.stdout).unwrap());
    match head {
        Some(head) => assert!(
            commit.len() >= 7 && head.starts_with(commit),
            "{commit:?} is not HEAD {head}"
        ),
        None => assert_eq!(commit, "unknown"),
    }
    let parts: Vec<&str> = date.split('-').collect();
    assert!(
        parts.len() == 3
            && [4, 2, 2]
                .iter()
                .zip(&parts)
                .all(|(len, part)| part.len() == *len && part.chars().all(|c| c.is_ascii_digit())),
        "a YYYY-MM-DD date: {date:?}"
    );
    assert_eq!(
        pg_gitops("-V"),
        format!("pg-gitops {}\n", env!("CARGO_PKG_VERSION"))
    );
}
