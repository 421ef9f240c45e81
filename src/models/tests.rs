use serde_json::{Value, json};

use super::*;

/// Nothing a user writes may be dropped: unknown and untyped fields survive a round trip.
#[test]
fn gitops_postgres_round_trips_every_field() {
    let written = json!({
        "apiVersion": "gitops.kubedb.com/v1alpha1",
        "kind": "Postgres",
        "metadata": {"name": "pg1", "namespace": "db", "labels": {"team": "a"}},
        "spec": {
            "version": "16.4",
            "replicas": 3,
            "storage": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                        "resources": {"requests": {"storage": "10Gi"}, "claims": [{"name": "x"}]}},
            "podTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {
                "nodeSelector": {"disk": "ssd"},
                "containers": [{"name": "postgres", "env": [{"name": "X", "value": "1"}],
                                "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": 1024}}}]}},
            "configuration": {"secretName": "cfg", "inline": {"user.conf": "max_connections=200"},
                              "tuning": {"profile": "oltp"}, "futureField": true},
            "authSecret": {"name": "pg1-auth", "kind": "Secret", "rotateAfter": "720h"},
            "tls": {"issuerRef": {"kind": "Issuer", "name": "ca"}},
            "monitor": {"agent": "prometheus.io/operator"},
            "deletionPolicy": "WipeOut",
            "serviceTemplates": [{"alias": "primary", "spec": {"type": "LoadBalancer"}}]
        }
    });
    let typed: GitopsPostgres = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(typed.spec.replicas, Some(3));
    assert_eq!(typed.spec.container("postgres").unwrap().name, "postgres");
    assert_eq!(typed.spec.config_secret_name(), Some("cfg"));
    let back: Value = serde_json::to_value(&typed).unwrap();
    assert_eq!(back, written);
}

#[test]
fn legacy_config_secret_is_read() {
    let spec: PostgresSpec =
        serde_json::from_value(json!({"configSecret": {"name": "old"}})).unwrap();
    assert_eq!(spec.config_secret_name(), Some("old"));
}

#[test]
fn ops_phase_open_and_final() {
    for open in [
        "",
        "Pending",
        "Progressing",
        "WaitingForApproval",
        "Approved",
        "Weird",
    ] {
        assert!(OpsPhase::parse(open).is_open(), "{open}");
    }
    for done in ["Successful", "Failed", "Skipped", "Denied"] {
        assert!(!OpsPhase::parse(done).is_open(), "{done}");
    }
}

#[test]
fn ops_failure_message_prefers_the_failed_condition() {
    let ops: PostgresOpsRequest = serde_json::from_value(json!({
        "metadata": {"name": "x"},
        "spec": {"type": "Restart", "databaseRef": {"name": "pg1"}},
        "status": {"phase": "Failed", "conditions": [
            {"type": "Failed", "status": "True", "reason": "Failed", "message": "disk full"},
            {"type": "Other", "status": "True", "message": "later note"}
        ]}
    }))
    .unwrap();
    assert_eq!(ops.phase(), OpsPhase::Failed);
    assert_eq!(ops.failure_message(), Some("disk full"));
    assert_eq!(ops.database_name(), Some("pg1"));
}

#[test]
fn resource_traits_match_the_crds() {
    use k8s_openapi::Resource;
    assert_eq!(GitopsPostgres::API_VERSION, "gitops.kubedb.com/v1alpha1");
    assert_eq!(KubedbPostgres::URL_PATH_SEGMENT, "postgreses");
    assert_eq!(PostgresOpsRequest::URL_PATH_SEGMENT, "postgresopsrequests");
    assert_eq!(PostgresVersion::KIND, "PostgresVersion");
}
