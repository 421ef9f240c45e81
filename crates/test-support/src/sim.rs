//! Harness for the `kubedb-sim` cluster tests (`tests/sim_*.rs`): a simulator running
//! in-process on the test's runtime, scoped to a fresh namespace, and a [`Timeline`] that
//! records every version of the namespace's databases and OpsRequests in etcd order.
//!
//! Ordering claims ("Paused was set before the request turned Progressing") are checked on
//! `metadata.resourceVersion`, which on a real API server is etcd's global revision: it orders
//! writes across resources exactly, where wall-clock polling would be flaky.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use kubedb_sim::{SimConfig, SimHandle, spawn};
use serde_json::{Value, json};

use crate::kinds;

mod timeline;
pub use timeline::{Seen, Timeline};

/// How long any wait in these tests may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A simulator and a timeline on a fresh namespace.
pub struct SimNamespace {
    pub client: Client,
    pub namespace: String,
    pub timeline: Timeline,
    sim: Option<SimHandle>,
}

impl SimNamespace {
    /// A fresh namespace with a simulator whose OpsRequest steps last `step`.
    /// Set `RUST_LOG=kubedb_sim=info` to see the simulator's steps in test output.
    pub async fn start(prefix: &str, step: Duration) -> Self {
        // Provisioning is not what these tests wait for; keep it short whatever the step.
        Self::start_with(prefix, step, step.min(Duration::from_millis(200))).await
    }

    /// As [`SimNamespace::start`], with new databases `Provisioning` for `provisioning`.
    pub async fn start_with(prefix: &str, step: Duration, provisioning: Duration) -> Self {
        let cluster = crate::cluster().await;
        let namespace = cluster.namespace(prefix).await;
        Self::on(cluster.client(), namespace, step, provisioning).await
    }

    /// The same on an existing namespace of any cluster (e.g. a test's [`crate::OwnCluster`]).
    pub async fn on(
        client: Client,
        namespace: String,
        step: Duration,
        provisioning: Duration,
    ) -> Self {
        crate::logs::install();
        let timeline = Timeline::start(client.clone(), &namespace).await;
        let mut config = SimConfig::new(step).in_namespace(namespace.clone());
        config.provisioning_duration = provisioning;
        let sim = spawn(client.clone(), config);
        Self {
            client,
            namespace,
            timeline,
            sim: Some(sim),
        }
    }

    pub fn databases(&self) -> Api<DynamicObject> {
        kinds::databases_api(&self.client, &self.namespace)
    }

    fn ops_requests(&self) -> Api<DynamicObject> {
        kinds::ops_api(&self.client, &self.namespace)
    }

    /// Creates a `kubedb.com` Postgres and waits until it is Ready; returns the live object.
    pub async fn ready_database(&self, name: &str, spec: Value) -> Value {
        self.create_database(name, spec, json!({})).await;
        self.wait_database(name, "phase Ready", |db| {
            db.pointer("/status/phase") == Some(&json!("Ready"))
        })
        .await
    }

    pub async fn create_database(&self, name: &str, spec: Value, annotations: Value) {
        let body = kinds::object(
            &kinds::kubedb_postgres(),
            json!({"metadata": {"name": name, "annotations": annotations}, "spec": spec}),
        );
        self.databases()
            .create(&PostParams::default(), &body)
            .await
            .unwrap_or_else(|e| panic!("creating Postgres {name}: {e}"));
    }

    /// Creates an OpsRequest for database `db` with `spec` (type and block).
    pub async fn create_ops(&self, name: &str, db: &str, spec: Value) {
        let mut spec = spec;
        spec["databaseRef"] = json!({"name": db});
        let body = kinds::object(
            &kinds::ops_request(),
            json!({"metadata": {"name": name}, "spec": spec}),
        );
        self.ops_requests()
            .create(&PostParams::default(), &body)
            .await
            .unwrap_or_else(|e| panic!("creating PostgresOpsRequest {name}: {e}"));
    }

    /// Waits until OpsRequest `name` reaches a terminal phase and the timeline has caught up
    /// with it and with its database; returns the request.
    pub async fn finished_ops(&self, name: &str) -> Value {
        let terminal = ["Successful", "Failed", "Skipped", "Denied"];
        let ops = wait_for(&self.ops_requests(), name, "a terminal phase", |ops| {
            ops.pointer("/status/phase")
                .and_then(Value::as_str)
                .is_some_and(|phase| terminal.contains(&phase))
        })
        .await;
        self.timeline
            .wait_for_version("PostgresOpsRequest", name, revision_of(&ops))
            .await;
        if let Some(db) = ops
            .pointer("/spec/databaseRef/name")
            .and_then(Value::as_str)
            && let Ok(Some(_)) = self.databases().get_opt(db).await
        {
            self.settled_database(db).await;
        }
        ops
    }

    /// The live database, once the timeline has seen this version of it.
    pub async fn settled_database(&self, name: &str) -> Value {
        let live = self.database(name).await;
        self.timeline
            .wait_for_version("Postgres", name, revision_of(&live))
            .await;
        live
    }

    pub async fn wait_database(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_for(&self.databases(), name, what, done).await
    }

    pub async fn database(&self, name: &str) -> Value {
        let object = self
            .databases()
            .get(name)
            .await
            .expect("reading the database");
        serde_json::to_value(object).expect("object as JSON")
    }
}

impl SimNamespace {
    /// Stops the simulator and checks that it ran until asked to stop.
    pub async fn stop(mut self) {
        let sim = self.sim.take().expect("the simulator runs");
        assert!(!sim.is_finished(), "the simulator stopped on its own");
        tokio::time::timeout(Duration::from_secs(5), sim.stop())
            .await
            .expect("the simulator stops within 5s")
            .expect("the simulator ran without error");
    }
}

/// Polls `name` until `done` holds; fails the test after [`PATIENCE`] with the last state.
pub async fn wait_for(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut last = Value::Null;
    loop {
        if let Ok(Some(object)) = api.get_opt(name).await {
            last = serde_json::to_value(object).expect("object as JSON");
            if done(&last) {
                return last;
            }
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{name} did not reach {what} within {PATIENCE:?}; last seen: {last:#}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a cluster-scoped PostgresVersion (names must be unique across tests).
pub async fn create_version(
    client: &Client,
    name: &str,
    version: &str,
    allowlist: &[&str],
    denylist: &[&str],
) {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &kinds::postgres_version());
    let body = kinds::object(
        &kinds::postgres_version(),
        json!({
            "metadata": {"name": name},
            "spec": {
                "version": version,
                "distribution": "Official",
                "db": {"image": format!("postgres:{version}"), "baseOS": "bookworm"},
                "coordinator": {"image": "kubedb/pg-coordinator:v0.1.0"},
                "exporter": {"image": "prometheuscommunity/postgres-exporter:v0.15.0"},
                "podSecurityPolicies": {"databasePolicyName": "postgres-db"},
                "securityContext": {"runAsUser": 999},
                "updateConstraints": {"allowlist": allowlist, "denylist": denylist},
            },
        }),
    );
    api.create(&PostParams::default(), &body)
        .await
        .unwrap_or_else(|e| panic!("creating PostgresVersion {name}: {e}"));
}

/// `metadata.resourceVersion` as the etcd revision it is.
pub fn revision_of(object: &Value) -> u64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
        .expect("a numeric resourceVersion")
}

/// Whether the `Paused` condition is True on a database.
pub fn is_paused(database: &Value) -> bool {
    database
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == "Paused" && c["status"] == "True")
        })
}

/// The message of the condition whose reason is `Failed` (what KubeDB's CLI reports).
pub fn failure_message(ops: &Value) -> String {
    ops.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|conditions| conditions.iter().find(|c| c["reason"] == "Failed"))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_else(|| panic!("no condition with reason Failed in {ops:#}"))
        .to_string()
}

/// The resources of container `name` in a database spec.
pub fn container_resources(database: &Value, name: &str) -> Value {
    database["spec"]["podTemplate"]["spec"]["containers"]
        .as_array()
        .and_then(|containers| containers.iter().find(|c| c["name"] == name))
        .map(|c| c["resources"].clone())
        .unwrap_or_else(|| panic!("no container {name} in {database:#}"))
}
