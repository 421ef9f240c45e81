use std::path::Path;

use git2::{Oid, Repository};

use super::*;

const FILE: i32 = 0o100_644;
const DIR: i32 = 0o040_000;

/// A tree entry: its path split into components, its mode and its content.
type Entry<'a> = (Vec<&'a str>, i32, &'a str);

/// Writes a tree of (path, mode, content) entries into `repo`; directories are implied.
fn tree(repo: &Repository, entries: &[(&str, i32, &str)]) -> Oid {
    fn build(repo: &Repository, entries: &[Entry<'_>]) -> Oid {
        let mut builder = repo.treebuilder(None).unwrap();
        let mut dirs: std::collections::BTreeMap<&str, Vec<Entry<'_>>> = Default::default();
        for (parts, mode, content) in entries {
            if parts.len() == 1 {
                let blob = repo.blob(content.as_bytes()).unwrap();
                builder.insert(parts[0], blob, *mode).unwrap();
            } else {
                dirs.entry(parts[0])
                    .or_default()
                    .push((parts[1..].to_vec(), *mode, content));
            }
        }
        for (name, children) in dirs {
            builder.insert(name, build(repo, &children), DIR).unwrap();
        }
        builder.write().unwrap()
    }
    let split: Vec<_> = (entries.iter())
        .map(|(path, mode, content)| (path.split('/').collect(), *mode, *content))
        .collect();
    build(repo, &split)
}

fn walked(entries: &[(&str, i32, &str)]) -> (Vec<String>, Vec<(String, &'static str)>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    let id = tree(&repo, entries);
    let tree = repo.find_tree(id).unwrap();
    let walked = walk_tree(&repo, &tree, Path::new("fleet"), |_| true).unwrap();
    let files = (walked.files.iter())
        .map(|f| {
            let text = Blobs(&repo).read(&f.path).unwrap();
            format!("{}={text}", f.relative.display())
        })
        .collect();
    let refused = (walked.refused.iter())
        .map(|r| (r.relative.display().to_string(), r.reason))
        .collect();
    (files, refused)
}

#[test]
fn links_are_resolved_inside_the_tree_through_chains_and_linked_directories() {
    let (files, refused) = walked(&[
        ("fleet/a.yaml", FILE, "a"),
        ("fleet/chain.yaml", LINK_MODE, "hop.yaml"),
        ("fleet/hop.yaml", LINK_MODE, "../shared/x.yaml"),
        ("fleet/team", LINK_MODE, "../shared"),
        ("fleet/up.yaml", LINK_MODE, "team/../shared/x.yaml"),
        ("fleet/.hidden.yaml", FILE, "hidden"),
        ("shared/x.yaml", FILE, "x"),
    ]);
    assert_eq!(
        files,
        [
            "a.yaml=a",
            "chain.yaml=x",
            "hop.yaml=x",
            "team/x.yaml=x",
            "up.yaml=x"
        ]
    );
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn links_that_leave_loop_or_dangle_are_refused_by_name() {
    let (files, refused) = walked(&[
        ("fleet/abs.yaml", LINK_MODE, "/etc/passwd"),
        ("fleet/up.yaml", LINK_MODE, "../../x.yaml"),
        ("fleet/git.yaml", LINK_MODE, "../.git/config"),
        ("fleet/loop.yaml", LINK_MODE, "loop.yaml"),
        ("fleet/gone.yaml", LINK_MODE, "nothing.yaml"),
        ("fleet/through-file.yaml", LINK_MODE, "ok.yaml/x"),
        ("fleet/ok.yaml", FILE, "ok"),
        ("fleet/self", LINK_MODE, "."),
    ]);
    assert_eq!(
        files,
        ["ok.yaml=ok"],
        "a link to an ancestor ends the walk there"
    );
    assert_eq!(
        refused,
        [
            ("abs.yaml".to_string(), OUTSIDE),
            ("git.yaml".to_string(), INTO_GIT),
            ("gone.yaml".to_string(), BROKEN),
            ("loop.yaml".to_string(), BROKEN),
            ("through-file.yaml".to_string(), BROKEN),
            ("up.yaml".to_string(), OUTSIDE),
        ]
    );
}

#[test]
fn a_root_that_leaves_the_repository_or_is_missing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    let id = tree(&repo, &[("fleet", LINK_MODE, ".."), ("a.yaml", FILE, "a")]);
    let tree = repo.find_tree(id).unwrap();
    let error = walk_tree(&repo, &tree, Path::new("fleet"), |_| true).unwrap_err();
    assert_eq!(error.to_string(), ROOT_OUTSIDE);
    let error = walk_tree(&repo, &tree, Path::new("nothing"), |_| true).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(error.to_string(), "`nothing` does not exist in the tree");
}
