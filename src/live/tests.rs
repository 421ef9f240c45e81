use super::*;

#[test]
fn reads_lists_and_multi_document_files_and_ignores_other_kinds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("live.yaml"),
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: kubedb.com/v1\n  kind: Postgres\n  metadata: {name: pg1, namespace: db}\n  spec: {version: \"16.4\"}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n---\napiVersion: ops.kubedb.com/v1alpha1\nkind: PostgresOpsRequest\nmetadata: {name: op1, namespace: db}\nspec: {type: Restart, databaseRef: {name: pg1}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("versions.yml"),
        "apiVersion: catalog.kubedb.com/v1alpha1\nkind: PostgresVersion\nmetadata: {name: \"16.4\"}\nspec: {version: \"16.4\"}\n",
    )
    .unwrap();
    let state = read_files(&[dir.path().to_path_buf()]).unwrap();
    assert!(
        state
            .databases
            .contains_key(&("db".to_string(), "pg1".to_string()))
    );
    assert_eq!(state.ops_requests.len(), 1);
    assert!(state.catalog.unwrap().get("16.4").is_some());
}

#[test]
fn without_versions_the_catalog_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.yaml"),
        "apiVersion: kubedb.com/v1\nkind: Postgres\nmetadata: {name: a}\nspec: {}\n",
    )
    .unwrap();
    let state = read_files(&[dir.path().to_path_buf()]).unwrap();
    assert!(state.catalog.is_none());
    assert!(
        state
            .databases
            .contains_key(&("default".to_string(), "a".to_string()))
    );
}

#[test]
fn broken_files_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "a: 1\nb: [\n").unwrap();
    let error = read_files(&[file]).unwrap_err().to_string();
    assert!(
        error.contains("bad.yaml:") && error.contains("invalid YAML"),
        "{error}"
    );
}
