use super::*;
use serde_json::json;

fn database() -> Value {
    json!({
        "metadata": {"name": "pg1", "namespace": "db"},
        "spec": {
            "version": "15.4",
            "replicas": 3,
            "authSecret": {"name": "pg1-auth", "kind": "Secret"},
            "storage": {"resources": {"requests": {"storage": "10Gi"}}},
        },
    })
}

fn catalog() -> BTreeMap<String, Value> {
    let entry = |name: &str, allow: &[&str]| {
        json!({
            "metadata": {"name": name},
            "spec": {"version": name, "updateConstraints": {"allowlist": allow}},
        })
    };
    [
        ("15.4", entry("15.4", &[">= 15.4, < 17"])),
        ("16.8", entry("16.8", &[])),
        ("17.4", entry("17.4", &[])),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

fn ops(op_type: &str, block: Option<(&str, Value)>) -> Value {
    let mut ops = json!({"spec": {"type": op_type, "databaseRef": {"name": "pg1"}}});
    if let Some((key, value)) = block {
        ops["spec"][key] = value;
    }
    ops
}

fn check(ops: &Value) -> Result<OpsType, Refusal> {
    check_with_secrets(ops, &BTreeMap::new())
}

fn check_with_secrets(
    ops: &Value,
    secrets: &BTreeMap<String, Option<String>>,
) -> Result<OpsType, Refusal> {
    let db = database();
    let versions = catalog();
    let facts = Facts {
        database: Some(&db),
        versions: &versions,
        secret_usernames: secrets,
    };
    validate_ops_request(ops, &facts)
}

#[test]
fn the_documented_examples_are_accepted() {
    let accepted = [
        ops("Restart", None),
        ops("Restart", Some(("restart", json!({})))),
        ops("RotateAuth", None),
        ops(
            "HorizontalScaling",
            Some(("horizontalScaling", json!({"replicas": 5}))),
        ),
        ops(
            "VolumeExpansion",
            Some((
                "volumeExpansion",
                json!({"mode": "Online", "postgres": "20Gi"}),
            )),
        ),
        ops(
            "VerticalScaling",
            Some((
                "verticalScaling",
                json!({"postgres": {"resources": {"requests": {"cpu": "1"}}}}),
            )),
        ),
        ops(
            "Reconfigure",
            Some(("configuration", json!({"configSecret": {"name": "c2"}}))),
        ),
        ops(
            "Reconfigure",
            Some((
                "configuration",
                json!({"applyConfig": {"user.conf": "max_connections=200"}}),
            )),
        ),
        ops("ReconfigureTLS", Some(("tls", json!({"remove": true})))),
        ops(
            "UpdateVersion",
            Some(("updateVersion", json!({"targetVersion": "16.8"}))),
        ),
    ];
    for request in accepted {
        assert!(
            check(&request).is_ok(),
            "{request} refused: {:?}",
            check(&request)
        );
    }
}

#[test]
fn an_unknown_database_is_refused() {
    let versions = catalog();
    let secrets = BTreeMap::new();
    let facts = Facts {
        database: None,
        versions: &versions,
        secret_usernames: &secrets,
    };
    let refusal = validate_ops_request(&ops("Restart", None), &facts).unwrap_err();
    assert_eq!(refusal, Refusal::UnknownDatabase("pg1".into()));
    assert!(refusal.to_string().contains("\"pg1\""));
}

#[test]
fn a_missing_type_block_is_refused() {
    for (op_type, block) in [
        ("UpdateVersion", "updateVersion"),
        ("HorizontalScaling", "horizontalScaling"),
        ("VerticalScaling", "verticalScaling"),
        ("VolumeExpansion", "volumeExpansion"),
        ("Reconfigure", "configuration"),
        ("ReconfigureTLS", "tls"),
    ] {
        let refusal = check(&ops(op_type, None)).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            format!("spec.{block} is required for spec.type {op_type}")
        );
    }
    assert!(matches!(
        check(&ops("Upgrade", None)),
        Err(Refusal::UnknownType(_))
    ));
}

#[test]
fn horizontal_scaling_rules() {
    let zero = ops(
        "HorizontalScaling",
        Some(("horizontalScaling", json!({"replicas": 0}))),
    );
    assert_eq!(check(&zero), Err(Refusal::TooFewReplicas(0)));
    let both = ops(
        "HorizontalScaling",
        Some((
            "horizontalScaling",
            json!({"replicas": 2, "readReplicas": [{"name": "r"}]}),
        )),
    );
    assert_eq!(check(&both), Err(Refusal::ReplicasOrReadReplicas));
    let zero_read = ops(
        "HorizontalScaling",
        Some((
            "horizontalScaling",
            json!({"readReplicas": [{"name": "r", "replicas": 0}]}),
        )),
    );
    assert_eq!(check(&zero_read), Err(Refusal::TooFewReplicas(0)));
    let neither = ops(
        "HorizontalScaling",
        Some(("horizontalScaling", json!({"standbyMode": "Hot"}))),
    );
    assert_eq!(check(&neither), Err(Refusal::ReplicasOrReadReplicas));
}

#[test]
fn volume_must_grow_strictly() {
    for size in ["10Gi", "10240Mi", "5Gi"] {
        let request = ops(
            "VolumeExpansion",
            Some((
                "volumeExpansion",
                json!({"mode": "Online", "postgres": size}),
            )),
        );
        let refusal = check(&request).unwrap_err();
        assert!(
            matches!(refusal, Refusal::VolumeNotLarger { .. }),
            "{size}: {refusal}"
        );
        assert!(
            refusal
                .to_string()
                .contains("strictly larger than the current size 10Gi")
        );
    }
    let nothing = ops(
        "VolumeExpansion",
        Some(("volumeExpansion", json!({"mode": "Online"}))),
    );
    assert_eq!(check(&nothing), Err(Refusal::NothingToExpand));
    let arbiter = ops(
        "VolumeExpansion",
        Some((
            "volumeExpansion",
            json!({"mode": "Online", "arbiter": "4Gi"}),
        )),
    );
    assert!(matches!(
        check(&arbiter),
        Err(Refusal::VolumeUnreadable {
            field: "arbiter",
            ..
        })
    ));
}

#[test]
fn vertical_scaling_needs_more_than_the_exporter() {
    let exporter_only = ops(
        "VerticalScaling",
        Some((
            "verticalScaling",
            json!({"exporter": {"resources": {"requests": {"cpu": "1"}}}}),
        )),
    );
    assert_eq!(check(&exporter_only), Err(Refusal::NothingToScale));
    let unknown_read_replica = ops(
        "VerticalScaling",
        Some((
            "verticalScaling",
            json!({"readReplicas": [{"name": "ro", "postgres": {"resources": {}}}]}),
        )),
    );
    assert_eq!(
        check(&unknown_read_replica),
        Err(Refusal::UnknownReadReplica("ro".into()))
    );
}

#[test]
fn reconfigure_rules() {
    let empty = ops(
        "Reconfigure",
        Some(("configuration", json!({"restart": "auto"}))),
    );
    assert_eq!(check(&empty), Err(Refusal::NothingToReconfigure));
    let wrong_key = ops(
        "Reconfigure",
        Some((
            "configuration",
            json!({"applyConfig": {"postgresql.conf": "x"}}),
        )),
    );
    assert_eq!(
        check(&wrong_key),
        Err(Refusal::ApplyConfigWithoutUserConf(vec![
            "postgresql.conf".into()
        ]))
    );
    let extra_key = ops(
        "Reconfigure",
        Some((
            "configuration",
            json!({"applyConfig": {"user.conf": "a=1", "x": "y"}}),
        )),
    );
    assert!(check(&extra_key).is_ok());
    let remove_no_restart = ops(
        "Reconfigure",
        Some((
            "configuration",
            json!({"removeCustomConfig": true, "restart": "false"}),
        )),
    );
    assert_eq!(
        check(&remove_no_restart),
        Err(Refusal::RemoveWithoutRestart)
    );
    let tuning = ops(
        "Reconfigure",
        Some(("configuration", json!({"tuning": {"profile": "oltp"}}))),
    );
    assert!(check(&tuning).is_ok());
}

#[test]
fn version_updates_follow_the_current_constraints() {
    let not_allowed = ops(
        "UpdateVersion",
        Some(("updateVersion", json!({"targetVersion": "17.4"}))),
    );
    let refusal = check(&not_allowed).unwrap_err();
    assert!(matches!(
        refusal,
        Refusal::Version(VersionRefusal::NotAllowed { .. })
    ));
    assert!(refusal.to_string().contains("\"17.4\""), "{refusal}");
    let missing = ops(
        "UpdateVersion",
        Some(("updateVersion", json!({"targetVersion": "99.0"}))),
    );
    assert_eq!(
        check(&missing),
        Err(Refusal::TargetVersionMissing("99.0".into()))
    );
    let empty = ops("UpdateVersion", Some(("updateVersion", json!({}))));
    assert_eq!(check(&empty), Err(Refusal::EmptyTargetVersion));
}

#[test]
fn rotate_auth_cannot_change_the_username() {
    let request = ops(
        "RotateAuth",
        Some((
            "authentication",
            json!({"secretRef": {"kind": "Secret", "name": "pg1-auth-v2"}}),
        )),
    );
    let secrets: BTreeMap<String, Option<String>> = [
        ("pg1-auth".to_string(), Some("postgres".to_string())),
        ("pg1-auth-v2".to_string(), Some("admin".to_string())),
    ]
    .into();
    let refusal = check_with_secrets(&request, &secrets).unwrap_err();
    assert!(
        refusal.to_string().contains("the username cannot change"),
        "{refusal}"
    );

    let same: BTreeMap<String, Option<String>> = [
        ("pg1-auth".to_string(), Some("postgres".to_string())),
        ("pg1-auth-v2".to_string(), Some("postgres".to_string())),
    ]
    .into();
    assert!(check_with_secrets(&request, &same).is_ok());
    // Without the secrets the simulator stays lenient.
    assert!(check(&request).is_ok());
}

#[test]
fn storage_migration_needs_a_timeout_and_classes() {
    let request = ops(
        "StorageMigration",
        Some(("migration", json!({"storageClassName": "fast"}))),
    );
    assert_eq!(check(&request), Err(Refusal::MigrationIncomplete));
    let mut timed = request.clone();
    timed["spec"]["timeout"] = json!("10m");
    assert_eq!(check(&timed), Err(Refusal::MigrationWithoutStorageClass));
}

#[test]
fn the_current_auth_secret_defaults_to_db_auth() {
    assert_eq!(
        current_auth_secret(&json!({"metadata": {"name": "x"}, "spec": {}})),
        "x-auth"
    );
    assert_eq!(current_auth_secret(&database()), "pg1-auth");
}
