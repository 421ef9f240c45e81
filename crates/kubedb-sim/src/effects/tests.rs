use super::*;
use serde_json::json;

fn db_spec() -> Value {
    json!({
        "version": "15.4",
        "replicas": 3,
        "standbyMode": "Hot",
        "storage": {"resources": {"requests": {"storage": "10Gi"}}, "storageClassName": "std"},
        "authSecret": {"name": "pg1-auth", "kind": "Secret"},
        "sslMode": "disable",
        "clientAuthMode": "md5",
        "configuration": {"secretName": "pg1-config"},
        "podTemplate": {"spec": {"containers": [
            {"name": "postgres", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}},
            {"name": "pg-coordinator", "resources": {"requests": {"cpu": "200m"}}},
        ]}},
    })
}

fn apply(ops_spec: Value) -> Value {
    apply_ops_to_spec(&ops_spec, &db_spec()).unwrap()
}

fn container<'a>(spec: &'a Value, name: &str) -> &'a Value {
    spec["podTemplate"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

#[test]
fn update_version_sets_the_version() {
    let spec = apply(json!({"type": "UpdateVersion", "updateVersion": {"targetVersion": "16.8"}}));
    assert_eq!(spec["version"], "16.8");
}

#[test]
fn horizontal_scaling_sets_replicas_and_modes() {
    let spec = apply(json!({"type": "HorizontalScaling", "horizontalScaling": {
        "replicas": 5, "standbyMode": "Warm", "streamingMode": "Asynchronous"}}));
    assert_eq!(spec["replicas"], 5);
    assert_eq!(spec["standbyMode"], "Warm");
    assert_eq!(spec["streamingMode"], "Asynchronous");
}

#[test]
fn horizontal_scaling_of_read_replicas() {
    let spec = apply(json!({"type": "HorizontalScaling", "horizontalScaling": {
        "readReplicas": [{"name": "ro", "replicas": 2}]}}));
    assert_eq!(spec["readReplicas"], json!([{"name": "ro", "replicas": 2}]));
    let removed = apply_ops_to_spec(
        &json!({"type": "HorizontalScaling", "horizontalScaling": {"readReplicas": [{"name": "ro", "remove": true}]}}),
        &spec,
    )
    .unwrap();
    assert!(removed.get("readReplicas").is_none());
}

#[test]
fn volume_expansion_sets_the_storage_request() {
    let spec = apply(
        json!({"type": "VolumeExpansion", "volumeExpansion": {"mode": "Online", "postgres": "20Gi"}}),
    );
    assert_eq!(spec["storage"]["resources"]["requests"]["storage"], "20Gi");
    assert_eq!(spec["storage"]["storageClassName"], "std");
}

#[test]
fn vertical_scaling_sets_container_resources() {
    let spec = apply(json!({"type": "VerticalScaling", "verticalScaling": {
        "postgres": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}},
        "coordinator": {"resources": {"limits": {"memory": "512Mi"}}},
        "exporter": {"resources": {"requests": {"cpu": "100m"}}},
    }}));
    assert_eq!(
        container(&spec, "postgres")["resources"],
        json!({"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}})
    );
    // Limits were given, requests were not: the requests stay.
    assert_eq!(
        container(&spec, "pg-coordinator")["resources"],
        json!({"requests": {"cpu": "200m"}, "limits": {"memory": "512Mi"}})
    );
    assert_eq!(
        spec["monitor"]["prometheus"]["exporter"]["resources"],
        json!({"requests": {"cpu": "100m"}})
    );
}

#[test]
fn reconfigure_writes_configuration() {
    let secret = apply(
        json!({"type": "Reconfigure", "configuration": {"configSecret": {"name": "pg1-config-v2"}}}),
    );
    assert_eq!(
        secret["configuration"],
        json!({"secretName": "pg1-config-v2"})
    );

    let inline = apply(json!({"type": "Reconfigure", "configuration": {
        "applyConfig": {"user.conf": "max_connections=200", "ignored": "x"}, "tuning": {"profile": "oltp"}}}));
    assert_eq!(
        inline["configuration"],
        json!({"secretName": "pg1-config", "inline": {"user.conf": "max_connections=200"}, "tuning": {"profile": "oltp"}})
    );

    let removed =
        apply(json!({"type": "Reconfigure", "configuration": {"removeCustomConfig": true}}));
    assert!(removed.get("configuration").is_none());

    let replaced = apply(json!({"type": "Reconfigure", "configuration": {
        "removeCustomConfig": true, "configSecret": {"name": "fresh"}}}));
    assert_eq!(replaced["configuration"], json!({"secretName": "fresh"}));
}

#[test]
fn rotate_auth_points_to_the_new_secret() {
    let spec = apply(
        json!({"type": "RotateAuth", "authentication": {"secretRef": {"kind": "Secret", "name": "pg1-auth-v2"}}}),
    );
    assert_eq!(
        spec["authSecret"],
        json!({"name": "pg1-auth-v2", "kind": "Secret"})
    );
    let same = apply(json!({"type": "RotateAuth"}));
    assert_eq!(same, db_spec());
}

#[test]
fn reconfigure_tls_adds_and_removes() {
    let added = apply(json!({"type": "ReconfigureTLS", "tls": {
        "issuerRef": {"apiGroup": "cert-manager.io", "kind": "Issuer", "name": "pg-ca"}}}));
    assert_eq!(added["tls"]["issuerRef"]["name"], "pg-ca");
    assert_eq!(added["sslMode"], "verify-full");

    let explicit = apply(json!({"type": "ReconfigureTLS", "tls": {
        "issuerRef": {"kind": "Issuer", "name": "pg-ca"}, "sslMode": "require", "clientAuthMode": "cert"}}));
    assert_eq!(explicit["sslMode"], "require");
    assert_eq!(explicit["clientAuthMode"], "cert");

    let removed = apply_ops_to_spec(
        &json!({"type": "ReconfigureTLS", "tls": {"remove": true}}),
        &explicit,
    )
    .unwrap();
    assert!(removed.get("tls").is_none());
    assert_eq!(removed["sslMode"], "disable");
    assert_eq!(removed["clientAuthMode"], "md5");

    let rotated = apply_ops_to_spec(
        &json!({"type": "ReconfigureTLS", "tls": {"rotateCertificates": true}}),
        &explicit,
    )
    .unwrap();
    assert_eq!(rotated, explicit);
}

#[test]
fn restart_changes_nothing() {
    assert_eq!(apply(json!({"type": "Restart", "restart": {}})), db_spec());
}

#[test]
fn storage_migration_sets_the_class() {
    let spec =
        apply(json!({"type": "StorageMigration", "migration": {"storageClassName": "fast"}}));
    assert_eq!(spec["storage"]["storageClassName"], "fast");
}

#[test]
fn an_unknown_type_is_an_error() {
    assert_eq!(
        apply_ops_to_spec(&json!({"type": "Upgrade"}), &db_spec()),
        Err(EffectError::UnknownType("Upgrade".into()))
    );
}

#[test]
fn vertical_scaling_of_a_read_replica() {
    let mut spec = db_spec();
    spec["readReplicas"] = json!([{"name": "ro", "replicas": 1}]);
    let scaled = apply_ops_to_spec(
        &json!({"type": "VerticalScaling", "verticalScaling": {"readReplicas": [
            {"name": "ro", "postgres": {"resources": {"requests": {"cpu": "2"}}}}]}}),
        &spec,
    )
    .unwrap();
    assert_eq!(
        scaled["readReplicas"],
        json!([{"name": "ro", "replicas": 1, "resources": {"requests": {"cpu": "2"}}}])
    );
}
