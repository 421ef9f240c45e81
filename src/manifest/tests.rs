use std::fs;

use super::*;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const GOOD: &str = "apiVersion: gitops.kubedb.com/v1alpha1
kind: Postgres
metadata:
  name: good
spec:
  version: \"16.4\"
  replicas: 3
";

#[test]
fn loads_recursively_multi_document_and_skips_other_kinds() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/good.yaml", GOOD);
    write(
        dir.path(),
        "b/multi.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: second\n  namespace: prod\nspec:\n  version: \"17.2\"\n",
    );
    write(dir.path(), "README.md", "not yaml: [");
    write(dir.path(), ".git/config.yaml", "broken: [");
    let set = load_dir(
        dir.path(),
        &LoadOptions {
            default_namespace: "dbs".into(),
            ..LoadOptions::default()
        },
    );
    assert_eq!(set.errors, vec![]);
    let keys: Vec<_> = set.manifests.iter().map(|m| m.key()).collect();
    assert_eq!(
        keys,
        vec![
            ("dbs".into(), "good".into()),
            ("prod".into(), "second".into())
        ]
    );
    assert_eq!(set.manifests[1].line, 5);
    assert_eq!(set.manifests[1].file, PathBuf::from("b/multi.yml"));
    assert_eq!(set.notices.len(), 1);
    assert_eq!(set.notices[0].line, 1);
    assert!(
        set.notices[0].message.contains("v1 ConfigMap"),
        "{}",
        set.notices[0].message
    );
}

#[test]
fn a_typo_is_an_error_with_file_line_field_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "typo.yaml",
        &GOOD.replace("replicas: 3", "replica: 5"),
    );
    write(
        dir.path(),
        "z-good.yaml",
        &GOOD.replace("name: good", "name: other"),
    );
    let set = load_dir(dir.path(), &LoadOptions::default());
    assert_eq!(set.errors.len(), 1, "{:?}", set.errors);
    let error = &set.errors[0];
    assert_eq!(error.file, PathBuf::from("typo.yaml"));
    assert_eq!(error.line, 7);
    assert!(
        error.message.starts_with("spec.replica: unknown field"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("did you mean `replicas`"),
        "{}",
        error.message
    );
    assert_eq!(error.database, Some(("default".into(), "good".into())));
    // The broken manifest does not hide the good one.
    assert_eq!(set.manifests.len(), 1);
    assert_eq!(set.manifests[0].key().1, "other");
}

#[test]
fn syntax_errors_and_bad_metadata_are_reported_per_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "broken.yaml",
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nspec: [oops\n",
    );
    write(
        dir.path(),
        "noname.yaml",
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  labels: {a: b}\nspec:\n  version: \"1\"\n",
    );
    write(
        dir.path(),
        "badname.yaml",
        &GOOD.replace("name: good", "name: Bad_Name"),
    );
    write(
        dir.path(),
        "extra.yaml",
        &GOOD.replace("  name: good", "  name: extra\n  uid: abc"),
    );
    write(dir.path(), "ok.yaml", GOOD);
    let set = load_dir(dir.path(), &LoadOptions::default());
    let by_file = |f: &str| {
        set.errors
            .iter()
            .find(|e| e.file == Path::new(f))
            .unwrap_or_else(|| panic!("no error for {f}: {:?}", set.errors))
    };
    assert!(by_file("broken.yaml").message.contains("invalid YAML"));
    assert_eq!(by_file("noname.yaml").line, 3);
    assert!(
        by_file("noname.yaml")
            .message
            .contains("metadata.name: required")
    );
    assert!(by_file("badname.yaml").message.contains("not a valid name"));
    assert_eq!(by_file("extra.yaml").line, 5);
    assert_eq!(set.manifests.len(), 1);
}

#[test]
fn duplicates_are_refused_together() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "one.yaml", GOOD);
    write(dir.path(), "two.yaml", GOOD);
    let set = load_dir(dir.path(), &LoadOptions::default());
    assert!(set.manifests.is_empty());
    assert_eq!(set.errors.len(), 2);
    assert!(
        set.errors[0].message.contains("one.yaml:1, two.yaml:1"),
        "{}",
        set.errors[0].message
    );
}

#[test]
fn line_of_finds_fields_for_plan_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.yaml", GOOD);
    let set = load_dir(dir.path(), &LoadOptions::default());
    let path = [
        PathSegment::Key("spec".into()),
        PathSegment::Key("replicas".into()),
    ];
    assert_eq!(set.manifests[0].line_of(&path), 7);
}

#[test]
fn a_missing_directory_is_an_error_not_a_panic() {
    let set = load_dir(Path::new("/nonexistent/pg-gitops"), &LoadOptions::default());
    assert_eq!(set.errors.len(), 1);
    assert!(
        set.errors[0]
            .message
            .contains("cannot read the manifest directory")
    );
}

/// The API server drops nulls from what it stores, so `tls: null` is the field left out: the
/// declared form says so too, and the preview agrees with what the service does.
#[test]
fn explicit_nulls_are_not_declared() {
    let mut set = ManifestSet::default();
    load_text(
        Path::new("nulls.yaml"),
        Arc::from(
            "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: nulls\n  labels: null\nspec:\n  version: \"16.4\"\n  tls: null\n  monitor: ~\n  podTemplate:\n    spec:\n      nodeSelector: null\n",
        ),
        &LoadOptions::default(),
        &mut set,
    );
    assert_eq!(set.errors, vec![]);
    let manifest = &set.manifests[0];
    assert_eq!(
        manifest.declared["spec"],
        serde_json::json!({"version": "16.4", "podTemplate": {"spec": {}}})
    );
    assert!(manifest.declared["metadata"].get("labels").is_none());
}

/// A misspelt kind in the gitops group meant a database; as a notice it was silently never
/// reconciled (and, with pruning, its gitops object deleted). Other databases' gitops kinds
/// (KubeDB's own operator reads them) stay notices.
#[test]
fn a_misspelt_kind_in_the_gitops_group_is_an_error_for_its_database() {
    let mut set = ManifestSet::default();
    let text = "apiVersion: gitops.kubedb.com/v1alpha1\nkind: MySQL\nmetadata: {name: other}\nspec: {}\n---\napiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgress\nmetadata:\n  name: typo\n  namespace: prod\nspec:\n  version: \"16.4\"\n---\n".to_string()
        + GOOD;
    load_text(
        Path::new("dbs.yaml"),
        Arc::from(text),
        &LoadOptions {
            default_namespace: "dbs".into(),
            ..LoadOptions::default()
        },
        &mut set,
    );
    assert_eq!(set.manifests.len(), 1, "the good manifest is still loaded");
    assert_eq!(set.notices.len(), 1, "{:?}", set.notices);
    assert!(set.notices[0].message.contains("MySQL"));
    assert_eq!(set.errors.len(), 1, "{:?}", set.errors);
    let error = &set.errors[0];
    assert_eq!(error.line, 7, "the line of `kind`");
    assert_eq!(error.database, Some(("prod".into(), "typo".into())));
    assert!(
        error.message.contains("kind: \"Postgress\"") && error.message.contains("Postgres"),
        "{}",
        error.message
    );
}

/// Found by the manifest_loader fuzz target: a gitops Postgres document without `metadata`
/// (here misspelt) panicked the loader (a map index on a missing key), which failed the
/// whole sync and froze the snapshot. It is an error for its file like any other.
#[test]
fn a_document_without_metadata_is_an_error_not_a_panic() {
    for document in [
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nme,tadata:\n  name: x\nspec:\n  version: \"16.4\"\n",
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata: 7\nspec:\n  version: \"16.4\"\n",
    ] {
        let mut set = ManifestSet::default();
        load_text(
            Path::new("x.yaml"),
            Arc::from(document),
            &LoadOptions::default(),
            &mut set,
        );
        assert!(set.manifests.is_empty(), "{document}");
        assert!(
            set.errors.iter().any(|e| e
                .message
                .contains("metadata.name: required field is missing")),
            "{:#?}",
            set.errors
        );
    }
}
