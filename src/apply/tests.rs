use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;

use super::*;

fn settings() -> ApplySettings {
    ApplySettings {
        source_id: "0123456789abcdef".into(),
        owner: "team-a".into(),
        ..ApplySettings::default()
    }
}

fn manifest() -> Manifest {
    let object: GitopsPostgres = serde_json::from_value(json!({
        "apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
        "metadata": {"name": "pg1", "namespace": "db"},
        "spec": {"version": "16.4", "replicas": 3},
    }))
    .unwrap();
    Manifest::from_object(object, "pg1.yaml")
}

/// A cache holding the object as `config` would have written it, with `owner` (if any).
fn cache_with(config: &Value, owner: Option<&str>) -> Store<GitopsPostgres> {
    let mut object = config.clone();
    object["metadata"]["resourceVersion"] = json!("42");
    match owner {
        Some(owner) => object["metadata"]["labels"][OWNER_LABEL] = json!(owner),
        None => {
            object["metadata"]["labels"]
                .as_object_mut()
                .unwrap()
                .remove(OWNER_LABEL);
        }
    }
    let (store, mut writer): (_, Writer<GitopsPostgres>) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Apply(
        serde_json::from_value(object).unwrap(),
    ));
    store
}

#[test]
fn every_applied_object_carries_the_owner() {
    let config = apply_object(&manifest(), "abc", &settings());
    assert_eq!(config["metadata"]["labels"][OWNER_LABEL], "team-a");
    assert_eq!(
        config["metadata"]["labels"][SOURCE_LABEL],
        "0123456789abcdef"
    );
}

#[test]
fn another_owners_object_is_not_applied_over() {
    let settings = settings();
    let config = apply_object(&manifest(), "abc", &settings);
    let cache = cache_with(&config, Some("team-b"));
    assert_eq!(
        write_for(&manifest(), &cache, &settings, "def"),
        Write::Foreign("team-b".into())
    );
}

#[test]
fn our_own_object_is_written_only_when_it_changed_and_unconditionally() {
    let settings = settings();
    let config = apply_object(&manifest(), "abc", &settings);
    let cache = cache_with(&config, Some("team-a"));
    assert_eq!(
        write_for(&manifest(), &cache, &settings, "def"),
        Write::None
    );
    let (empty, _writer) = reflector::store::<GitopsPostgres>();
    let Write::Apply(new) = write_for(&manifest(), &empty, &settings, "def") else {
        panic!("a missing object is applied");
    };
    assert!(new["metadata"].get("resourceVersion").is_none(), "{new}");
}

#[test]
fn an_unowned_object_is_adopted_only_as_it_was_read() {
    // Applied before 0.4.0: everything as Git says, but no owner label.
    let settings = settings();
    let config = apply_object(&manifest(), "abc", &settings);
    let cache = cache_with(&config, None);
    let Write::Apply(adopting) = write_for(&manifest(), &cache, &settings, "def") else {
        panic!("an unowned object is adopted");
    };
    assert_eq!(adopting["metadata"]["labels"][OWNER_LABEL], "team-a");
    // The precondition: a conflict if another instance adopted it meanwhile.
    assert_eq!(adopting["metadata"]["resourceVersion"], "42");
}
