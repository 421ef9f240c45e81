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
    let state = read_files(&[dir.path().to_path_buf()], "default");
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
    let state = read_files(&[dir.path().to_path_buf()], "default");
    assert!(state.catalog.is_none());
    assert!(
        state
            .databases
            .contains_key(&("default".to_string(), "a".to_string()))
    );
}

#[test]
fn broken_files_are_error_entries_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "a: 1\nb: [\n").unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "apiVersion: kubedb.com/v1\nkind: Postgres\nmetadata: {name: a}\nspec: {}\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.yaml");
    let state = read_files(&[file.clone(), good, missing.clone()], "shop");
    assert!(
        state
            .databases
            .contains_key(&("shop".to_string(), "a".to_string()))
    );
    assert_eq!(state.errors.len(), 2, "{:?}", state.errors);
    // Paths that cannot be read are found before any file is parsed.
    assert_eq!(state.errors[0].file, missing);
    assert_eq!(state.errors[1].file, file);
    assert!(
        state.errors[1].message.contains("invalid YAML") && state.errors[1].database.is_none(),
        "{:?}",
        state.errors[1]
    );
}

#[test]
fn an_object_that_cannot_be_typed_puts_the_error_on_its_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.yaml"),
        "apiVersion: kubedb.com/v1\nkind: Postgres\nmetadata: {name: a}\nspec: {replicas: many}\n---\napiVersion: ops.kubedb.com/v1alpha1\nkind: PostgresOpsRequest\nmetadata: {name: op, namespace: db, labels: 5}\nspec: {type: Restart, databaseRef: {name: b}}\n",
    )
    .unwrap();
    let state = read_files(&[dir.path().to_path_buf()], "shop");
    let named: Vec<_> = state
        .errors
        .iter()
        .map(|e| (e.line, e.database.clone()))
        .collect();
    assert_eq!(
        named,
        vec![
            (1, Some(("shop".to_string(), "a".to_string()))),
            (6, Some(("db".to_string(), "b".to_string())))
        ]
    );
}

#[test]
fn the_client_names_itself_pg_gitops_with_its_version() {
    let mut config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
    config.headers.push((
        axum::http::header::USER_AGENT,
        axum::http::HeaderValue::from_static("kube-rs"),
    ));
    let config = identified(config);
    let agents: Vec<_> = config
        .headers
        .iter()
        .filter(|(name, _)| *name == axum::http::header::USER_AGENT)
        .map(|(_, value)| value.to_str().unwrap().to_string())
        .collect();
    assert_eq!(agents, [format!("pg-gitops/{}", env!("CARGO_PKG_VERSION"))]);
}
