//! `kubedb-sim` on a real API server: provisioning with KubeDB's defaults, one request at a
//! time per database in creation order, Failed (webhook refusals and injected failures) and
//! Skipped requests, and the `kubedb-sim` binary itself.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;

use kubedb_sim::defaults::{VersionFacts, default_postgres_spec};
use kubedb_sim::{FAIL_ANNOTATION, FAIL_MESSAGE_ANNOTATION};
use serde_json::{Value, json};
use test_support::kinds;
use test_support::sim::{SimNamespace, create_version, failure_message, is_paused, wait_for};

const STEP: Duration = Duration::from_millis(200);

fn spec(version: &str) -> Value {
    json!({
        "version": version,
        "storage": {"resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "standard"},
    })
}

#[tokio::test]
async fn a_new_database_is_defaulted_provisioned_and_ready() {
    let sim = SimNamespace::start("sim-provision", STEP).await;
    sim.create_database("pg1", spec("16.8"), json!({})).await;
    sim.wait_database("pg1", "phase Ready", |db| db["status"]["phase"] == "Ready")
        .await;
    let ready = sim.settled_database("pg1").await;

    // Every default survived the API server's pruning: defaulting the live spec again
    // changes nothing.
    let facts = VersionFacts::new("16.8", None);
    assert_eq!(
        default_postgres_spec("pg1", &ready["spec"], &facts),
        ready["spec"]
    );
    assert_eq!(ready["spec"]["replicas"], 1);
    assert_eq!(ready["spec"]["deletionPolicy"], "Delete");
    assert_eq!(ready["spec"]["leaderElection"]["electionTick"], 10);
    assert_eq!(
        ready["spec"]["podTemplate"]["spec"]["serviceAccountName"],
        "pg1"
    );
    assert_eq!(
        ready["spec"]["replication"]["walLimitPolicy"],
        "WALKeepSize"
    );

    let status = &ready["status"];
    assert_eq!(
        status["observedGeneration"],
        ready["metadata"]["generation"]
    );
    for kind in [
        "ProvisioningStarted",
        "Provisioned",
        "ReplicaReady",
        "AcceptingConnection",
        "Ready",
    ] {
        let condition = status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == kind))
            .unwrap_or_else(|| panic!("condition {kind} missing: {status:#}"));
        assert_eq!(condition["status"], "True");
        assert!(condition["lastTransitionTime"].is_string(), "{condition}");
        assert!(condition["reason"].is_string(), "{condition}");
    }
    let phases: Vec<Value> = sim
        .timeline
        .versions("Postgres", "pg1")
        .iter()
        .filter_map(|seen| seen.object.pointer("/status/phase").cloned())
        .collect();
    assert_eq!(phases.first(), Some(&json!("Provisioning")));
    assert_eq!(phases.last(), Some(&json!("Ready")));

    // A later spec change is observed.
    let patch = json!({"spec": {"deletionPolicy": "WipeOut"}});
    sim.databases()
        .patch(
            "pg1",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("patching the database");
    sim.wait_database("pg1", "the new generation observed", |db| {
        db["status"]["observedGeneration"] == db["metadata"]["generation"]
            && db["metadata"]["generation"] != ready["metadata"]["generation"]
    })
    .await;
}

#[tokio::test]
async fn defaults_for_tls_monitoring_and_even_replicas_survive_pruning() {
    let sim = SimNamespace::start("sim-provision-full", STEP).await;
    let mut full = spec("13.4");
    full["replicas"] = json!(2);
    full["sslMode"] = json!("verify-ca");
    full["tls"] =
        json!({"issuerRef": {"apiGroup": "cert-manager.io", "kind": "Issuer", "name": "ca"}});
    full["monitor"] = json!({"agent": "prometheus.io/operator", "prometheus": {"exporter": {}}});
    full["configSecret"] = json!({"name": "pg1-custom"});
    // If the API server pruned any default, the simulator would keep rewriting it and the
    // database would never get past defaulting.
    let ready = sim.ready_database("pg1", full).await;
    let facts = VersionFacts::new("13.4", None);
    assert_eq!(
        default_postgres_spec("pg1", &ready["spec"], &facts),
        ready["spec"]
    );
    assert_eq!(ready["spec"]["sslMode"], "verify-ca");
    assert_eq!(
        ready["spec"]["arbiter"]["resources"]["requests"]["storage"],
        "2Gi"
    );
    assert_eq!(
        ready["spec"]["monitor"]["prometheus"]["exporter"]["port"],
        56790
    );
    assert_eq!(
        ready["spec"]["tls"]["certificates"][0]["secretName"],
        "pg1-server-cert"
    );
    assert_eq!(
        ready["spec"]["configuration"],
        json!({"secretName": "pg1-custom"})
    );
    assert!(ready["spec"].get("configSecret").is_none());
    sim.stop().await;
}

#[tokio::test]
async fn requests_run_one_at_a_time_per_database_in_creation_order() {
    // Long enough that the requests below are all created while the first one still runs.
    let sim = SimNamespace::start("sim-order", Duration::from_millis(1500)).await;
    futures::join!(
        sim.ready_database("pg1", spec("16.8")),
        sim.ready_database("pg2", spec("16.8"))
    );
    // Names sort in creation order: creationTimestamp has one-second resolution.
    let vertical = json!({"type": "VerticalScaling", "verticalScaling": {
        "postgres": {"resources": {"requests": {"cpu": "1"}}}}});
    sim.create_ops("a-vertical", "pg1", vertical).await;
    sim.create_ops(
        "b-horizontal",
        "pg1",
        json!({"type": "HorizontalScaling", "horizontalScaling": {"replicas": 3}}),
    )
    .await;
    sim.create_ops("c-other-db", "pg2", json!({"type": "Restart"}))
        .await;

    let timeline = &sim.timeline;
    for name in ["a-vertical", "b-horizontal", "c-other-db"] {
        sim.finished_ops(name).await;
        assert_eq!(
            timeline.ops_phases(name),
            ["Pending", "Progressing", "Successful"],
            "{name}"
        );
    }
    let first_done = timeline.ops_phase_revision("a-vertical", "Successful");
    let second_started = timeline.ops_phase_revision("b-horizontal", "Progressing");
    let second_queued = timeline.ops_phase_revision("b-horizontal", "Pending");
    assert!(
        second_queued < first_done,
        "the second request was queued while the first ran"
    );
    assert!(
        second_started > first_done,
        "the second request started only after the first ended"
    );
    // The database was paused again for the second run, by the second request.
    let running = timeline.database_at("pg1", second_started);
    assert!(is_paused(&running));
    // Another database is not held up by pg1's queue.
    let other_started = timeline.ops_phase_revision("c-other-db", "Progressing");
    assert!(
        other_started < first_done,
        "pg2's request ran alongside pg1's"
    );
    assert_eq!(sim.database("pg1").await["spec"]["replicas"], 3);
}

#[tokio::test]
async fn a_pending_request_superseded_by_a_newer_one_of_the_same_type_is_skipped() {
    let sim = SimNamespace::start("sim-skip", Duration::from_millis(1500)).await;
    sim.ready_database("pg1", spec("16.8")).await;
    sim.create_ops("a-restart", "pg1", json!({"type": "Restart"}))
        .await;
    let scale = |replicas: i64| json!({"type": "HorizontalScaling", "horizontalScaling": {"replicas": replicas}});
    sim.create_ops("b-scale-to-3", "pg1", scale(3)).await;
    sim.create_ops("c-scale-to-5", "pg1", scale(5)).await;

    let skipped = sim.finished_ops("b-scale-to-3").await;
    assert_eq!(
        sim.timeline.ops_phases("b-scale-to-3"),
        ["Pending", "Skipped"]
    );
    let condition = &skipped["status"]["conditions"][0];
    assert_eq!(condition["type"], "Skipped");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("c-scale-to-5"),
        "{condition}"
    );
    sim.finished_ops("c-scale-to-5").await;
    assert_eq!(
        sim.timeline.ops_phases("c-scale-to-5"),
        ["Pending", "Progressing", "Successful"]
    );
    assert_eq!(sim.database("pg1").await["spec"]["replicas"], 5);
}

#[tokio::test]
async fn an_injected_failure_fails_after_running_and_leaves_the_spec_alone() {
    let sim = SimNamespace::start("sim-inject", STEP).await;
    let annotations = json!({FAIL_ANNOTATION: "VolumeExpansion,Restart", FAIL_MESSAGE_ANNOTATION: "resize of data-pg1-0 failed"});
    sim.create_database("pg1", spec("16.8"), annotations).await;
    let ready = sim
        .wait_database("pg1", "phase Ready", |db| db["status"]["phase"] == "Ready")
        .await;
    sim.create_ops("grow", "pg1", json!({"type": "VolumeExpansion", "volumeExpansion": {"mode": "Offline", "postgres": "5Gi"}})).await;

    let failed = sim.finished_ops("grow").await;
    assert_eq!(
        sim.timeline.ops_phases("grow"),
        ["Pending", "Progressing", "Failed"]
    );
    assert_eq!(failure_message(&failed), "resize of data-pg1-0 failed");
    let progressing = sim.timeline.ops_phase_revision("grow", "Progressing");
    assert!(is_paused(&sim.timeline.database_at("pg1", progressing)));
    let after = sim.settled_database("pg1").await;
    assert!(!is_paused(&after), "resumed after the failure");
    assert_eq!(
        after["spec"], ready["spec"],
        "a failed request changes nothing"
    );

    // Types the annotation does not list still succeed.
    sim.create_ops(
        "scale",
        "pg1",
        json!({"type": "HorizontalScaling", "horizontalScaling": {"replicas": 3}}),
    )
    .await;
    assert_eq!(
        sim.finished_ops("scale").await["status"]["phase"],
        "Successful"
    );

    // A request whose spec.timeout is shorter than the step times out.
    let hurried = json!({"type": "Reconfigure", "timeout": "100ms",
        "configuration": {"tuning": {"profile": "oltp"}}});
    sim.create_ops("hurried", "pg1", hurried).await;
    let timed_out = sim.finished_ops("hurried").await;
    assert_eq!(
        sim.timeline.ops_phases("hurried"),
        ["Pending", "Progressing", "Failed"]
    );
    let message = failure_message(&timed_out);
    assert!(
        message.contains("longer than spec.timeout 100ms"),
        "{message}"
    );
    assert!(
        sim.database("pg1").await["spec"]
            .get("configuration")
            .is_none()
    );
}

#[tokio::test]
async fn requests_the_webhook_would_refuse_end_failed_with_the_reason() {
    let sim = SimNamespace::start("sim-refuse", STEP).await;
    let (v15, v16, v17) = (
        format!("{}-15.4", sim.namespace),
        format!("{}-16.8", sim.namespace),
        format!("{}-17.4", sim.namespace),
    );
    create_version(&sim.client, &v15, "15.4", &[">= 15.4, < 17"], &[]).await;
    create_version(&sim.client, &v16, "16.8", &[], &[]).await;
    create_version(&sim.client, &v17, "17.4", &[], &[]).await;
    sim.ready_database("pg1", spec(&v15)).await;

    let cases = [
        (
            "same-size",
            "pg1",
            json!({"type": "VolumeExpansion", "volumeExpansion": {"mode": "Online", "postgres": "1024Mi"}}),
            "must be strictly larger than the current size 1Gi",
        ),
        (
            "no-block",
            "pg1",
            json!({"type": "VerticalScaling"}),
            "spec.verticalScaling is required",
        ),
        (
            "too-far",
            "pg1",
            json!({"type": "UpdateVersion", "updateVersion": {"targetVersion": v17}}),
            "is not allowed by the updateConstraints",
        ),
        (
            "no-such-version",
            "pg1",
            json!({"type": "UpdateVersion", "updateVersion": {"targetVersion": "0.0-nothing"}}),
            "target PostgresVersion \"0.0-nothing\" not found",
        ),
        (
            "zero",
            "pg1",
            json!({"type": "HorizontalScaling", "horizontalScaling": {"replicas": 0}}),
            "at least 1",
        ),
        (
            "ghost",
            "no-such-db",
            json!({"type": "Restart"}),
            "database \"no-such-db\"",
        ),
    ];
    for (name, db, spec, _) in &cases {
        sim.create_ops(name, db, spec.clone()).await;
    }
    for (name, _, _, expected) in &cases {
        let failed = sim.finished_ops(name).await;
        assert_eq!(
            sim.timeline.ops_phases(name),
            ["Failed"],
            "{name} is refused at admission"
        );
        let message = failure_message(&failed);
        assert!(
            message.contains(expected),
            "{name}: {message:?} lacks {expected:?}"
        );
        assert_eq!(failed["status"]["observedGeneration"], 1);
    }
    // None of them touched the database; an allowed update still works afterwards.
    let db = sim.database("pg1").await;
    assert_eq!(db["spec"]["version"], json!(v15));
    sim.create_ops(
        "allowed",
        "pg1",
        json!({"type": "UpdateVersion", "updateVersion": {"targetVersion": v16}}),
    )
    .await;
    assert_eq!(
        sim.finished_ops("allowed").await["status"]["phase"],
        "Successful"
    );
    assert_eq!(sim.database("pg1").await["spec"]["version"], json!(v16));
}

#[tokio::test]
async fn rotate_auth_cannot_change_the_username() {
    let sim = SimNamespace::start("sim-rotate-user", STEP).await;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(sim.client.clone(), &sim.namespace);
    for (name, username) in [("pg1-auth", "postgres"), ("pg1-admin", "admin")] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"username": username, "password": "secret"},
        }))
        .unwrap();
        secrets
            .create(&Default::default(), &secret)
            .await
            .expect("creating a secret");
    }
    sim.ready_database("pg1", spec("16.8")).await;
    let rotate = json!({"type": "RotateAuth", "authentication": {"secretRef": {"kind": "Secret", "name": "pg1-admin"}}});
    sim.create_ops("to-admin", "pg1", rotate).await;
    let failed = sim.finished_ops("to-admin").await;
    assert_eq!(sim.timeline.ops_phases("to-admin"), ["Failed"]);
    let message = failure_message(&failed);
    assert!(message.contains("the username cannot change"), "{message}");
    assert_eq!(
        sim.database("pg1").await["spec"]["authSecret"]["name"],
        "pg1-auth"
    );
}

#[tokio::test]
async fn the_kubedb_sim_binary_serves_a_namespace() {
    let cluster = test_support::cluster().await;
    let client = cluster.client();
    let namespace = cluster.namespace("sim-binary").await;
    let mut child = tokio::process::Command::new(kubedb_sim_binary())
        .args(["--namespace", &namespace, "--step-duration", "200ms"])
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("starting kubedb-sim");
    let databases =
        kube::Api::namespaced_with(client.clone(), &namespace, &kinds::kubedb_postgres());
    let body = kinds::object(
        &kinds::kubedb_postgres(),
        json!({"metadata": {"name": "pg1"}, "spec": spec("16.8")}),
    );
    databases
        .create(&Default::default(), &body)
        .await
        .expect("creating a database");
    let ready = wait_for(&databases, "pg1", "phase Ready", |db| {
        db["status"]["phase"] == "Ready"
    })
    .await;
    assert_eq!(ready["spec"]["standbyMode"], "Hot");
    // SIGTERM stops it promptly and cleanly.
    let pid = child.id().expect("kubedb-sim is running").to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(signalled.expect("running kill").success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("kubedb-sim exits within 10s of SIGTERM")
        .expect("waiting for kubedb-sim");
    assert!(status.success(), "kubedb-sim exited with {status}");
}

/// The kubedb-sim binary is built by its own crate, so Cargo does not set
/// `CARGO_BIN_EXE_kubedb-sim` for this package: it is found next to this test's `deps`
/// directory. `scripts/test` (`cargo test --workspace`) builds it through kubedb-sim's own
/// binary test; a lone `cargo test --test sim_queue` needs `cargo build -p kubedb-sim` first.
fn kubedb_sim_binary() -> std::path::PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let path = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps")
        .join(format!("kubedb-sim{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p kubedb-sim` (scripts/test builds it)",
        path.display()
    );
    path
}
