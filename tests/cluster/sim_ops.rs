//! `kubedb-sim` on a real API server, one test per OpsRequest type: the request goes
//! Pending → Progressing → Successful, the database is `Paused` while it runs (and only
//! then), and the live database spec carries the new value once the request is Successful.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use test_support::sim::{SimNamespace, container_resources, create_version, is_paused};

const STEP: Duration = Duration::from_millis(200);

fn base_spec(version: &str) -> Value {
    json!({
        "version": version,
        "replicas": 1,
        "storageType": "Durable",
        "storage": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "standard",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    })
}

/// Runs one request to completion and checks the lifecycle every type shares; returns the
/// database as it was when the request turned Successful.
async fn run_successfully(sim: &SimNamespace, db: &str, name: &str, spec: Value) -> Value {
    sim.create_ops(name, db, spec).await;
    let ops = sim.finished_ops(name).await;
    let timeline = &sim.timeline;
    assert_eq!(
        timeline.ops_phases(name),
        ["Pending", "Progressing", "Successful"],
        "phases of {name}; final object: {ops:#}"
    );
    assert_eq!(
        ops["status"]["observedGeneration"],
        ops["metadata"]["generation"]
    );
    let conditions = ops["status"]["conditions"].as_array().expect("conditions");
    assert!(
        conditions.iter().any(|c| c["type"] == "Successful"
            && c["status"] == "True"
            && c["reason"] == "Successful"),
        "{ops:#}"
    );

    let pending = timeline.ops_phase_revision(name, "Pending");
    let progressing = timeline.ops_phase_revision(name, "Progressing");
    let successful = timeline.ops_phase_revision(name, "Successful");
    assert!(
        !is_paused(&timeline.database_at(db, pending)),
        "not paused while only queued"
    );
    let running = timeline.database_at(db, progressing);
    assert!(is_paused(&running), "Paused while {name} runs: {running:#}");
    let paused = running["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Paused").cloned())
        .expect("the Paused condition");
    assert!(
        paused["message"].as_str().unwrap().contains(name),
        "{paused}"
    );
    let done = timeline.database_at(db, successful);
    assert!(
        !is_paused(&done),
        "resumed before {name} is Successful: {done:#}"
    );
    assert_eq!(done["status"]["phase"], "Ready");
    assert_eq!(
        done["status"]["observedGeneration"], done["metadata"]["generation"],
        "the new spec is observed before {name} is Successful"
    );
    done
}

#[tokio::test]
async fn update_version_moves_the_database_to_the_target_version() {
    let sim = SimNamespace::start("sim-update-version", STEP).await;
    let (current, target) = (
        format!("{}-15.4", sim.namespace),
        format!("{}-16.8", sim.namespace),
    );
    create_version(&sim.client, &current, "15.4", &[">= 15.4, < 17"], &[]).await;
    create_version(&sim.client, &target, "16.8", &[], &[]).await;
    let ready = sim.ready_database("pg1", base_spec(&current)).await;
    // The defaults used the catalog's uid, not the fallback.
    assert_eq!(
        ready["spec"]["podTemplate"]["spec"]["securityContext"]["runAsUser"],
        999
    );

    let done = run_successfully(
        &sim,
        "pg1",
        "pg1-versionupdate-aaaaaa",
        json!({"type": "UpdateVersion", "updateVersion": {"targetVersion": target}}),
    )
    .await;
    assert_eq!(done["spec"]["version"], json!(target));
}

#[tokio::test]
async fn horizontal_scaling_sets_replicas_and_adds_an_arbiter_for_even_counts() {
    let sim = SimNamespace::start("sim-horizontal", STEP).await;
    let ready = sim.ready_database("pg1", base_spec("16.8")).await;
    assert!(ready["spec"].get("arbiter").is_none());
    let done = run_successfully(
        &sim,
        "pg1",
        "pg1-horizontalscaling-bbbbbb",
        json!({"type": "HorizontalScaling", "horizontalScaling": {
            "replicas": 2, "standbyMode": "Hot", "streamingMode": "Asynchronous"}}),
    )
    .await;
    assert_eq!(done["spec"]["replicas"], 2);
    assert_eq!(done["spec"]["streamingMode"], "Asynchronous");
    assert_eq!(
        done["spec"]["arbiter"]["resources"]["requests"]["storage"],
        "2Gi"
    );
}

#[tokio::test]
async fn vertical_scaling_sets_container_resources() {
    let sim = SimNamespace::start("sim-vertical", STEP).await;
    let ready = sim.ready_database("pg1", base_spec("16.8")).await;
    assert_eq!(
        container_resources(&ready, "postgres"),
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}})
    );
    let done = run_successfully(
        &sim,
        "pg1",
        "pg1-verticalscaling-cccccc",
        json!({"type": "VerticalScaling", "verticalScaling": {
            "postgres": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}},
            "coordinator": {"resources": {"requests": {"cpu": "300m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}},
        }}),
    )
    .await;
    assert_eq!(
        container_resources(&done, "postgres"),
        json!({"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}})
    );
    assert_eq!(
        container_resources(&done, "pg-coordinator")["requests"]["cpu"],
        "300m"
    );
}

#[tokio::test]
async fn volume_expansion_grows_the_storage_request() {
    let sim = SimNamespace::start("sim-volume", STEP).await;
    sim.ready_database("pg1", base_spec("16.8")).await;
    let done = run_successfully(
        &sim,
        "pg1",
        "pg1-volumeexpansion-dddddd",
        json!({"type": "VolumeExpansion", "volumeExpansion": {"mode": "Online", "postgres": "2Gi"}}),
    )
    .await;
    assert_eq!(
        done["spec"]["storage"]["resources"]["requests"]["storage"],
        "2Gi"
    );
    assert_eq!(done["spec"]["storage"]["storageClassName"], "standard");
}

#[tokio::test]
async fn reconfigure_sets_and_removes_the_configuration() {
    let sim = SimNamespace::start("sim-reconfigure", STEP).await;
    sim.ready_database("pg1", base_spec("16.8")).await;
    let with_secret = run_successfully(
        &sim,
        "pg1",
        "pg1-reconfigure-eeeee1",
        json!({"type": "Reconfigure", "configuration": {"configSecret": {"name": "pg1-config-v2"}}}),
    )
    .await;
    assert_eq!(
        with_secret["spec"]["configuration"],
        json!({"secretName": "pg1-config-v2"})
    );

    let inline = run_successfully(
        &sim,
        "pg1",
        "pg1-reconfigure-eeeee2",
        json!({"type": "Reconfigure", "configuration": {
            "applyConfig": {"user.conf": "max_connections = 200"}, "tuning": {"profile": "oltp"}}}),
    )
    .await;
    assert_eq!(
        inline["spec"]["configuration"],
        json!({"secretName": "pg1-config-v2", "inline": {"user.conf": "max_connections = 200"}, "tuning": {"profile": "oltp"}})
    );

    let removed = run_successfully(
        &sim,
        "pg1",
        "pg1-reconfigure-eeeee3",
        json!({"type": "Reconfigure", "configuration": {"removeCustomConfig": true}}),
    )
    .await;
    assert!(
        removed["spec"].get("configuration").is_none(),
        "{:#}",
        removed["spec"]
    );
}

#[tokio::test]
async fn rotate_auth_points_the_database_at_the_new_secret() {
    let sim = SimNamespace::start("sim-rotate-auth", STEP).await;
    let secrets: Api<Secret> = Api::namespaced(sim.client.clone(), &sim.namespace);
    for name in ["pg1-auth", "pg1-auth-v2"] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"username": "postgres", "password": format!("{name}-password")},
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("creating a secret");
    }
    let ready = sim.ready_database("pg1", base_spec("16.8")).await;
    assert_eq!(ready["spec"]["authSecret"]["name"], "pg1-auth");
    assert_eq!(ready["spec"]["authSecret"]["kind"], "Secret");
    let done = run_successfully(
        &sim,
        "pg1",
        "pg1-rotate-auth-ffffff",
        json!({"type": "RotateAuth", "authentication": {"secretRef": {"kind": "Secret", "name": "pg1-auth-v2"}}}),
    )
    .await;
    assert_eq!(done["spec"]["authSecret"]["name"], "pg1-auth-v2");
    assert!(
        done["status"]["authSecret"]["lastUpdateTimestamp"].is_string(),
        "{:#}",
        done["status"]
    );
}

#[tokio::test]
async fn reconfigure_tls_adds_then_removes_tls() {
    let sim = SimNamespace::start("sim-tls", STEP).await;
    let ready = sim.ready_database("pg1", base_spec("16.8")).await;
    assert_eq!(ready["spec"]["sslMode"], "disable");
    let added = run_successfully(
        &sim,
        "pg1",
        "pg1-reconfiguretls-ggggg1",
        json!({"type": "ReconfigureTLS", "tls": {
            "sslMode": "verify-full",
            "issuerRef": {"apiGroup": "cert-manager.io", "kind": "Issuer", "name": "pg-ca"}}}),
    )
    .await;
    assert_eq!(added["spec"]["tls"]["issuerRef"]["name"], "pg-ca");
    assert_eq!(added["spec"]["sslMode"], "verify-full");
    let aliases: Vec<&str> = added["spec"]["tls"]["certificates"]
        .as_array()
        .expect("certificates defaulted")
        .iter()
        .map(|c| c["alias"].as_str().unwrap())
        .collect();
    assert_eq!(aliases, ["server", "client", "metrics-exporter"]);

    let removed = run_successfully(
        &sim,
        "pg1",
        "pg1-reconfiguretls-ggggg2",
        json!({"type": "ReconfigureTLS", "tls": {"remove": true}}),
    )
    .await;
    assert!(
        removed["spec"].get("tls").is_none(),
        "{:#}",
        removed["spec"]
    );
    assert_eq!(removed["spec"]["sslMode"], "disable");
}

#[tokio::test]
async fn restart_changes_nothing_in_the_spec() {
    let sim = SimNamespace::start("sim-restart", STEP).await;
    let ready = sim.ready_database("pg1", base_spec("16.8")).await;
    let done = run_successfully(
        &sim,
        "pg1",
        "pg1-restart-hhhhhh",
        json!({"type": "Restart", "restart": {}, "apply": "Always", "timeout": "10m"}),
    )
    .await;
    assert_eq!(done["spec"], ready["spec"]);
    assert_eq!(
        done["metadata"]["generation"],
        ready["metadata"]["generation"]
    );
    sim.stop().await;
}
