use super::*;

fn id(database: &str) -> Identity<'_> {
    Identity {
        namespace: "db",
        database,
        generation: 3,
        retry: "",
        revision: Some("abc123"),
    }
}

#[test]
fn names_keep_kubedb_shape_and_are_deterministic() {
    let a = build(
        &id("pg1"),
        OpsRequestType::UpdateVersion,
        json!({"targetVersion": "17.2"}),
        "",
    );
    let b = build(
        &id("pg1"),
        OpsRequestType::UpdateVersion,
        json!({"targetVersion": "17.2"}),
        "",
    );
    let name = a.metadata.name.clone().unwrap();
    assert_eq!(a.metadata.name, b.metadata.name);
    assert!(name.starts_with("pg1-versionupdate-"), "{name}");
    let hash = name.rsplit('-').next().unwrap();
    assert_eq!(hash.len(), 6);
    assert!(
        hash.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
}

#[test]
fn every_input_changes_the_name() {
    let base = name(&id("pg1"), OpsRequestType::Restart, "{}");
    let mut other = id("pg1");
    other.generation = 4;
    assert_ne!(base, name(&other, OpsRequestType::Restart, "{}"));
    let mut other = id("pg1");
    other.retry = "1";
    assert_ne!(base, name(&other, OpsRequestType::Restart, "{}"));
    let mut other = id("pg1");
    other.namespace = "prod";
    assert_ne!(base, name(&other, OpsRequestType::Restart, "{}"));
    assert_ne!(base, name(&id("pg1"), OpsRequestType::Restart, "{\"x\":1}"));
    assert_ne!(
        name(&id("pg1"), OpsRequestType::VerticalScaling, "{}")
            .rsplit('-')
            .next(),
        name(&id("pg1"), OpsRequestType::HorizontalScaling, "{}")
            .rsplit('-')
            .next()
    );
}

#[test]
fn long_database_names_are_shortened_to_63() {
    let long = "a".repeat(60);
    for kind in OpsRequestType::ALL {
        let name = name(&id(&long), kind, "{}");
        assert!(name.len() <= 63, "{name} is {} long", name.len());
        assert!(name.contains(kind.name_suffix()));
    }
    let dashed = format!("{}-{}", "a".repeat(40), "b".repeat(19));
    let name = name(&id(&dashed), OpsRequestType::HorizontalScaling, "{}");
    assert!(!name.contains("--"), "{name}");
}

#[test]
fn ops_requests_carry_labels_and_revision() {
    let ops = build(&id("pg1"), OpsRequestType::Restart, json!({}), "t");
    let labels = ops.metadata.labels.unwrap();
    assert_eq!(labels[MANAGED_BY_LABEL], "pg-gitops");
    assert_eq!(labels[DATABASE_LABEL], "pg1");
    assert_eq!(
        ops.metadata.annotations.unwrap()[REVISION_ANNOTATION],
        "abc123"
    );
    assert_eq!(ops.spec["type"], "Restart");
    assert_eq!(ops.spec["databaseRef"]["name"], "pg1");
}
