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
    Manifest::from_object(&object, "pg1.yaml")
}

/// The object as `config` would have written it, with `owner` (if any).
fn object_with(config: &Value, owner: Option<&str>) -> CachedGitops {
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
    serde_json::from_value(object).unwrap()
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
    let live = object_with(&config, Some("team-b"));
    assert_eq!(
        write_for(&manifest(), Some(&live), &settings, "def"),
        Write::Foreign("team-b".into())
    );
}

#[test]
fn our_own_object_is_written_only_when_it_changed_and_unconditionally() {
    let settings = settings();
    let config = apply_object(&manifest(), "abc", &settings);
    let live = object_with(&config, Some("team-a"));
    assert_eq!(
        write_for(&manifest(), Some(&live), &settings, "def"),
        Write::None
    );
    let Write::Apply(new) = write_for(&manifest(), None, &settings, "def") else {
        panic!("a missing object is applied");
    };
    assert!(new["metadata"].get("resourceVersion").is_none(), "{new}");
}

#[test]
fn an_unowned_object_is_adopted_only_as_it_was_read() {
    // Applied before 0.4.0: everything as Git says, but no owner label.
    let settings = settings();
    let config = apply_object(&manifest(), "abc", &settings);
    let live = object_with(&config, None);
    let Write::Apply(adopting) = write_for(&manifest(), Some(&live), &settings, "def") else {
        panic!("an unowned object is adopted");
    };
    assert_eq!(adopting["metadata"]["labels"][OWNER_LABEL], "team-a");
    // The precondition: a conflict if another instance adopted it meanwhile.
    assert_eq!(adopting["metadata"]["resourceVersion"], "42");
}

#[test]
fn only_the_same_loaded_manifest_on_the_same_object_version_is_taken_as_still_held() {
    let settings = settings();
    let manifest = Arc::new(manifest());
    let (namespace, name) = manifest.key();
    let object = ObjectRef::new(&name).within(&namespace);
    let live = object_with(&apply_object(&manifest, "abc", &settings), Some("team-a"));
    let mut verified = Verified::default();
    assert!(verified.take(&manifest).is_none(), "nothing recorded yet");
    verified.record(&manifest, object.clone(), Some(&live));
    let held = verified.take(&manifest).expect("recorded");
    assert_eq!(held.object(), &object);
    assert!(held.still_holds(Some(&live)));
    // The object changed (a hand edit, a label, a status write): compared again.
    let mut moved = live.clone();
    moved.metadata.resource_version = Some("43".into());
    assert!(!held.still_holds(Some(&moved)));
    // The object is gone.
    assert!(!held.still_holds(None));
    verified.keep(held);
    // The file was loaded again, even to the same content: compared again.
    let reloaded = Arc::new(self::manifest());
    assert!(verified.take(&reloaded).is_none());
    // An entry is taken once: a pass keeps only what it found again.
    assert!(verified.take(&manifest).is_some());
    assert!(verified.take(&manifest).is_none());
}
