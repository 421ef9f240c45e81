use std::sync::Arc;

use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use serde_json::json;

use super::*;
use crate::manifest::{Manifest, ManifestError, ManifestSet};

const SOURCE: &str = "0123456789abcdef";

fn settings() -> ApplySettings {
    ApplySettings {
        prune: true,
        source_id: SOURCE.into(),
        owner: "team-a".into(),
        ..ApplySettings::default()
    }
}

fn key(namespace: &str, name: &str) -> Key {
    (namespace.into(), name.into())
}

/// A gitops object as the API server holds it, with these labels.
fn object(namespace: &str, name: &str, labels: serde_json::Value, version: &str) -> GitopsPostgres {
    serde_json::from_value(json!({
        "apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
        "metadata": {
            "name": name, "namespace": namespace, "labels": labels,
            "uid": format!("uid-{name}"), "resourceVersion": version,
        },
        "spec": {"version": "16.4"},
    }))
    .unwrap()
}

fn ours() -> serde_json::Value {
    json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE, SOURCE_LABEL: SOURCE, OWNER_LABEL: "team-a"})
}

fn cache(objects: &[GitopsPostgres]) -> (Store<CachedGitops>, Writer<CachedGitops>) {
    let (store, mut writer) = reflector::store();
    for object in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(CachedGitops::from(object.clone())));
    }
    (store, writer)
}

fn snapshot(names: &[&str], errors: Vec<ManifestError>) -> Snapshot {
    let manifests = names
        .iter()
        .map(|name| {
            let object = object("db", name, json!({}), "1");
            Arc::new(Manifest::from_object(&object, &format!("{name}.yaml")))
        })
        .collect();
    Snapshot {
        revision: "abc".into(),
        manifests: ManifestSet {
            manifests,
            errors,
            notices: Vec::new(),
        },
    }
}

fn broken(file: &str, database: Option<Key>) -> ManifestError {
    ManifestError {
        file: file.into(),
        line: 1,
        message: "broken".into(),
        database,
    }
}

#[test]
fn an_empty_snapshot_or_an_unreadable_file_prunes_nothing_and_a_broken_manifest_is_kept() {
    assert_eq!(keep(&snapshot(&[], Vec::new())), Err(Refusal::Empty));
    assert_eq!(
        keep(&snapshot(&["a"], vec![broken("x.yaml", None)])),
        Err(Refusal::Unreadable("x.yaml".into()))
    );
    let kept = keep(&snapshot(
        &["a"],
        vec![broken("b.yaml", Some(key("db", "b")))],
    ))
    .unwrap();
    assert_eq!(kept, BTreeSet::from([key("db", "a"), key("db", "b")]));
}

#[test]
fn only_our_objects_that_git_no_longer_declares_are_candidates_at_the_version_seen() {
    let mut deleting = serde_json::to_value(object("db", "deleting", ours(), "7")).unwrap();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-12-04T00:00:00Z");
    let deleting: GitopsPostgres = serde_json::from_value(deleting).unwrap();
    let mut other_owner = ours();
    other_owner[OWNER_LABEL] = json!("team-b");
    let mut other_source = ours();
    other_source[SOURCE_LABEL] = json!("fedcba9876543210");
    let mut unowned = ours();
    unowned.as_object_mut().unwrap().remove(OWNER_LABEL);
    let (cache, _writer) = cache(&[
        object("db", "kept", ours(), "1"),
        object("db", "gone", ours(), "2"),
        object("db", "theirs", other_owner, "3"),
        object("db", "elsewhere", other_source, "4"),
        object("db", "before-owners", unowned, "5"),
        object("db", "by-hand", json!({}), "6"),
        deleting,
        object("other", "out-of-scope", ours(), "8"),
    ]);
    let settings = ApplySettings {
        namespace: Some("db".into()),
        ..settings()
    };
    let keep = BTreeSet::from([key("db", "kept")]);
    let found = candidates(&cache, &Unseen::default(), &keep, &settings);
    let expected = Seen {
        uid: Some("uid-gone".into()),
        resource_version: Some("2".into()),
    };
    assert_eq!(found, BTreeMap::from([(key("db", "gone"), expected)]));
}

/// A manifest added in one commit and removed in the next, before the watch showed the
/// object: the cache alone would never have named it, and it stayed until deleted by hand.
#[test]
fn a_written_object_the_cache_does_not_show_yet_is_a_candidate_at_the_version_written() {
    let (cache, mut writer) = cache(&[object("db", "kept", ours(), "1")]);
    let mut unseen = Unseen::default();
    let written = object("db", "brief", ours(), "9");
    unseen.wrote(&written);
    unseen.wrote(&object("db", "kept", ours(), "2"));
    let keep = BTreeSet::from([key("db", "kept")]);
    unseen.settle(&cache, &keep);
    let found = candidates(&cache, &unseen, &keep, &settings());
    let at_write = Seen {
        uid: Some("uid-brief".into()),
        resource_version: Some("9".into()),
    };
    assert_eq!(found, BTreeMap::from([(key("db", "brief"), at_write)]));
    // Once the cache shows it as written, the cache alone names it.
    writer.apply_watcher_event(&watcher::Event::Apply(CachedGitops::from(written)));
    unseen.settle(&cache, &keep);
    assert!(unseen.0.is_empty(), "{unseen:?}");
    assert_eq!(candidates(&cache, &unseen, &keep, &settings()).len(), 1);
}
