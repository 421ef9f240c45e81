use super::*;
use serde_json::json;

fn facts(major: u64, uid: i64) -> VersionFacts {
    VersionFacts {
        major: Some(major),
        run_as_user: Some(uid),
    }
}

fn container<'a>(spec: &'a Value, list: &str, name: &str) -> &'a Value {
    spec["podTemplate"]["spec"][list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("container {name} missing"))
}

#[test]
fn a_minimal_spec_gets_every_webhook_default() {
    let spec = default_postgres_spec("pg1", &json!({"version": "16.8"}), &facts(16, 999));
    assert_eq!(spec["version"], "16.8");
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["standbyMode"], "Hot");
    assert_eq!(spec["storageType"], "Durable");
    assert_eq!(spec["deletionPolicy"], "Delete");
    assert_eq!(
        spec["authSecret"],
        json!({"name": "pg1-auth", "kind": "Secret"})
    );
    assert_eq!(
        spec["leaderElection"],
        json!({
            "period": "300ms", "electionTick": 10, "heartbeatTick": 1,
            "maximumLagBeforeFailover": 67108864,
            "transferLeadershipInterval": "1s", "transferLeadershipTimeout": "1m0s",
        })
    );
    assert_eq!(spec["podTemplate"]["spec"]["serviceAccountName"], "pg1");
    assert_eq!(
        spec["podTemplate"]["spec"]["securityContext"],
        json!({"fsGroup": 999, "runAsUser": 999, "runAsGroup": 999})
    );
    let postgres = container(&spec, "containers", "postgres");
    assert_eq!(
        postgres["securityContext"],
        json!({
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": true, "runAsUser": 999, "runAsGroup": 999,
            "seccompProfile": {"type": "RuntimeDefault"},
        })
    );
    assert_eq!(
        postgres["resources"],
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}})
    );
    let coordinator = container(&spec, "containers", "pg-coordinator");
    assert_eq!(
        coordinator["resources"]["limits"],
        json!({"memory": "256Mi"})
    );
    assert_eq!(coordinator["securityContext"]["runAsNonRoot"], true);
    let init = container(&spec, "initContainers", "postgres-init-container");
    assert_eq!(init["resources"]["limits"], json!({"memory": "512Mi"}));
    assert_eq!(
        spec["replication"],
        json!({"walLimitPolicy": "WALKeepSize", "walKeepSize": 1536})
    );
    assert_eq!(spec["sslMode"], "disable");
    assert_eq!(spec["clientAuthMode"], "md5");
    assert_eq!(
        spec["healthChecker"],
        json!({"periodSeconds": 10, "timeoutSeconds": 10, "failureThreshold": 1})
    );
    // One replica is odd: no arbiter; no TLS: no certificates; no monitor: nothing invented.
    assert!(spec.get("arbiter").is_none());
    assert!(spec.get("tls").is_none());
    assert!(spec.get("monitor").is_none());
}

#[test]
fn defaulting_twice_changes_nothing() {
    let once = default_postgres_spec("pg1", &json!({"version": "13.2"}), &facts(13, 70));
    let twice = default_postgres_spec("pg1", &once, &facts(13, 70));
    assert_eq!(once, twice);
}

#[test]
fn fields_the_user_set_are_kept() {
    let user = json!({
        "version": "16.8",
        "replicas": 3,
        "standbyMode": "Warm",
        "deletionPolicy": "WipeOut",
        "authSecret": {"name": "custom", "kind": "Secret"},
        "leaderElection": {"period": "1s", "electionTick": 5, "heartbeatTick": 1},
        "podTemplate": {"spec": {"serviceAccountName": "sa", "containers": [
            {"name": "postgres", "resources": {"requests": {"cpu": "2"}},
             "securityContext": {"runAsUser": 1234}},
        ]}},
        "replication": {"walLimitPolicy": "ReplicationSlot"},
        "sslMode": "require",
        "clientAuthMode": "scram",
        "tls": {"issuerRef": {"kind": "Issuer", "name": "ca"}},
    });
    let spec = default_postgres_spec("pg1", &user, &facts(16, 70));
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["standbyMode"], "Warm");
    assert_eq!(spec["deletionPolicy"], "WipeOut");
    assert_eq!(spec["authSecret"]["name"], "custom");
    assert_eq!(spec["leaderElection"]["period"], "1s");
    assert_eq!(spec["leaderElection"]["transferLeadershipTimeout"], "1m0s");
    assert_eq!(spec["podTemplate"]["spec"]["serviceAccountName"], "sa");
    let postgres = container(&spec, "containers", "postgres");
    // Requests were set, so KubeDB adds no limits.
    assert_eq!(postgres["resources"], json!({"requests": {"cpu": "2"}}));
    assert_eq!(postgres["securityContext"]["runAsUser"], 1234);
    assert_eq!(postgres["securityContext"]["runAsGroup"], 70);
    assert_eq!(
        spec["replication"],
        json!({"walLimitPolicy": "ReplicationSlot", "maxSlotWALKeepSize": -1})
    );
    assert_eq!(spec["sslMode"], "require");
    assert_eq!(spec["clientAuthMode"], "scram");
    assert_eq!(
        spec["tls"]["certificates"],
        json!([
            {"alias": "server", "secretName": "pg1-server-cert"},
            {"alias": "client", "secretName": "pg1-client-cert"},
            {"alias": "metrics-exporter", "secretName": "pg1-metrics-exporter-cert"},
        ])
    );
}

#[test]
fn version_dependent_defaults() {
    let old = default_postgres_spec("pg", &json!({"version": "12.9"}), &facts(12, 70));
    assert_eq!(
        old["replication"],
        json!({"walLimitPolicy": "WALKeepSegment", "walKeepSegment": 96})
    );
    let new = default_postgres_spec("pg", &json!({"version": "18.1"}), &facts(18, 70));
    assert_eq!(new["clientAuthMode"], "scram");
    let with_tls = default_postgres_spec(
        "pg",
        &json!({"version": "16.1", "tls": {"issuerRef": {"kind": "Issuer", "name": "ca"}}}),
        &facts(16, 70),
    );
    assert_eq!(with_tls["sslMode"], "verify-full");
}

#[test]
fn even_replicas_get_an_arbiter_and_halted_gets_halt() {
    let spec = default_postgres_spec(
        "pg",
        &json!({"version": "16.1", "replicas": 2, "halted": true}),
        &facts(16, 70),
    );
    assert_eq!(spec["arbiter"]["resources"]["requests"]["storage"], "2Gi");
    assert_eq!(spec["deletionPolicy"], "Halt");
    let wipe = json!({"version": "16.1", "halted": true, "deletionPolicy": "WipeOut"});
    let spec = default_postgres_spec("pg", &wipe, &facts(16, 70));
    assert_eq!(spec["deletionPolicy"], "Halt");
}

#[test]
fn legacy_config_secret_moves_into_configuration() {
    let spec = default_postgres_spec(
        "pg",
        &json!({"version": "16.1", "configSecret": {"name": "pg-conf"}}),
        &facts(16, 70),
    );
    assert_eq!(spec["configuration"], json!({"secretName": "pg-conf"}));
    assert!(spec.get("configSecret").is_none());
}

#[test]
fn monitor_gets_exporter_defaults() {
    let spec = default_postgres_spec(
        "pg",
        &json!({"version": "16.1", "monitor": {"agent": "prometheus.io/operator", "prometheus": {}}}),
        &facts(16, 70),
    );
    assert_eq!(spec["monitor"]["prometheus"]["exporter"]["port"], 56790);
    assert_eq!(
        spec["monitor"]["prometheus"]["exporter"]["securityContext"],
        json!({"runAsUser": 70, "runAsGroup": 70})
    );
}

#[test]
fn version_facts_prefer_the_catalog_and_fall_back_to_the_name() {
    let catalog = json!({"spec": {"version": "17.4", "securityContext": {"runAsUser": 999}}});
    assert_eq!(
        VersionFacts::new("17.4-bookworm", Some(&catalog)),
        facts(17, 999)
    );
    assert_eq!(
        VersionFacts::new("16.8-bookworm", None),
        VersionFacts {
            major: Some(16),
            run_as_user: None
        }
    );
    let spec = default_postgres_spec("pg", &json!({}), &VersionFacts::new("", None));
    assert_eq!(
        spec["podTemplate"]["spec"]["securityContext"]["runAsUser"],
        FALLBACK_RUN_AS_USER
    );
}
