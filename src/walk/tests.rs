use std::os::unix::fs::symlink;
use std::path::Path;

use super::{INTO_GIT, OUTSIDE, walk};

fn yaml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml")
}

fn relatives(walked: &super::Walked) -> Vec<String> {
    walked
        .files
        .iter()
        .map(|f| f.relative.display().to_string())
        .collect()
}

#[test]
fn links_out_of_the_boundary_are_refused_and_never_read() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), "token: x\n").unwrap();
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path().join("fleet");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("db.yaml"), "a: 1\n").unwrap();
    symlink(
        outside.path().join("secret.yaml"),
        root.join("file-link.yaml"),
    )
    .unwrap();
    symlink(outside.path(), root.join("dir-link")).unwrap();
    symlink("/etc/passwd", root.join("passwd.yaml")).unwrap();
    symlink("../../../../../../etc/passwd", root.join("relative.yaml")).unwrap();

    let walked = walk(&root, repo.path(), yaml).unwrap();

    assert_eq!(relatives(&walked), ["db.yaml"]);
    let refused: Vec<_> = walked
        .refused
        .iter()
        .map(|r| (r.relative.display().to_string(), r.reason))
        .collect();
    assert_eq!(
        refused,
        [
            ("dir-link".to_string(), OUTSIDE),
            ("file-link.yaml".to_string(), OUTSIDE),
            ("passwd.yaml".to_string(), OUTSIDE),
            ("relative.yaml".to_string(), OUTSIDE),
        ]
    );
}

#[test]
fn links_inside_the_boundary_are_followed_under_their_own_name() {
    // The shape kubelet gives a mounted ConfigMap: `db.yaml -> ..data/db.yaml`,
    // `..data -> ..2026_12_01`.
    let mount = tempfile::tempdir().unwrap();
    let version = mount.path().join("..2026_12_01");
    std::fs::create_dir(&version).unwrap();
    std::fs::write(version.join("db.yaml"), "a: 1\n").unwrap();
    symlink("..2026_12_01", mount.path().join("..data")).unwrap();
    symlink("..data/db.yaml", mount.path().join("db.yaml")).unwrap();
    // A link to a sibling directory of the subpath stays inside the checkout.
    std::fs::create_dir(mount.path().join("shared")).unwrap();
    std::fs::write(mount.path().join("shared/base.yaml"), "b: 1\n").unwrap();
    symlink("shared", mount.path().join("linked")).unwrap();

    let walked = walk(mount.path(), mount.path(), yaml).unwrap();

    assert_eq!(
        relatives(&walked),
        ["db.yaml", "linked/base.yaml", "shared/base.yaml"]
    );
    assert!(walked.refused.is_empty());
    assert!(walked.files[0].path.ends_with("..2026_12_01/db.yaml"));
}

#[test]
fn links_into_dot_git_and_link_cycles_are_not_followed() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join(".git")).unwrap();
    std::fs::write(repo.path().join(".git/config"), "[remote]\n").unwrap();
    symlink(".git/config", repo.path().join("config.yaml")).unwrap();
    std::fs::create_dir(repo.path().join("a")).unwrap();
    symlink("..", repo.path().join("a/loop")).unwrap();
    std::fs::write(repo.path().join("a/db.yaml"), "a: 1\n").unwrap();

    let walked = walk(repo.path(), repo.path(), yaml).unwrap();

    assert_eq!(relatives(&walked), ["a/db.yaml"]);
    assert_eq!(walked.refused.len(), 1);
    assert_eq!(walked.refused[0].reason, INTO_GIT);
}

#[test]
fn a_root_that_resolves_outside_the_boundary_is_an_error() {
    let outside = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    symlink(outside.path(), repo.path().join("fleet")).unwrap();

    let error = walk(&repo.path().join("fleet"), repo.path(), yaml).unwrap_err();

    assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(error.to_string().contains("outside the repository"));
}
