use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::desired::select;
use crate::manifest::{LoadOptions, ManifestSet, load_stream};

fn doc(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: {name}\n\
         spec:\n  version: \"16.4\"\n  replicas: {replicas}\n"
    )
}

/// The manifests of a tree given as (file, text).
fn tree(files: &[(&str, String)]) -> ManifestSet {
    let mut set = ManifestSet::default();
    for (file, text) in files {
        let loaded = load_stream(Path::new(file), text, &LoadOptions::default());
        set.manifests.extend(loaded.manifests);
        set.errors.extend(loaded.errors);
    }
    set
}

fn touched(files: &[&str]) -> BTreeSet<PathBuf> {
    files.iter().map(PathBuf::from).collect()
}

fn planned(set: &ManifestSet) -> Vec<String> {
    set.manifests.iter().map(|m| m.key().1).collect()
}

#[test]
fn only_the_databases_whose_declared_spec_changed_are_planned() {
    let before = tree(&[
        ("team.yaml", format!("{}---\n{}", doc("a", 1), doc("b", 1))),
        ("c.yaml", doc("c", 1)),
    ]);
    let after = tree(&[
        ("team.yaml", format!("{}---\n{}", doc("a", 2), doc("b", 1))),
        ("renamed.yaml", doc("c", 1)),
        ("new.yaml", doc("d", 1)),
    ]);
    let loaded = select(
        before,
        after,
        &touched(&["team.yaml", "c.yaml", "renamed.yaml", "new.yaml"]),
        Path::new("."),
    );
    assert_eq!(planned(&loaded.set), ["a", "d"]);
    assert_eq!(loaded.context.untouched, 2, "b and the renamed c");
    assert!(loaded.context.removed.is_empty());
}

#[test]
fn a_database_gone_from_git_is_removed_unless_its_file_cannot_be_read() {
    let before = tree(&[("a.yaml", doc("a", 1)), ("b.yaml", doc("b", 1))]);
    let after = tree(&[("b.yaml", "kind: [\n".into())]);
    let loaded = select(
        before,
        after,
        &touched(&["a.yaml", "b.yaml"]),
        Path::new("."),
    );
    let removed: Vec<&str> = loaded
        .context
        .removed
        .iter()
        .map(|k| k.1.as_str())
        .collect();
    assert_eq!(
        removed,
        ["a"],
        "b.yaml is not YAML now: it may still declare b"
    );
    assert_eq!(loaded.set.errors.len(), 1, "{:?}", loaded.set.errors);
}

#[test]
fn errors_of_files_the_range_did_not_touch_are_not_the_range_s() {
    let before = tree(&[("old.yaml", "kind: [\n".into()), ("a.yaml", doc("a", 1))]);
    let after = tree(&[("old.yaml", "kind: [\n".into()), ("a.yaml", doc("a", 2))]);
    let loaded = select(before, after, &touched(&["a.yaml"]), Path::new("."));
    assert_eq!(planned(&loaded.set), ["a"]);
    assert!(loaded.set.errors.is_empty(), "{:?}", loaded.set.errors);
}
