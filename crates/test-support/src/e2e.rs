//! Harness for the end-to-end tests (`tests/e2e_*.rs`): the whole service (`run_until`, or the
//! `pg-gitops` binary) against the real API server, `kubedb-sim` in-process and a real Git
//! repository (bare repo on disk, pushed to with the `git` CLI).
//!
//! Every test works in a fresh namespace and scopes the service (`reconcile.namespace`) and the
//! simulator to it, so the tests of one binary run in parallel without seeing each other.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use pg_gitops::config::{Config, Seconds, SourceKind};
use pg_gitops::run::{RunError, run_until};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::git::repo::TestRepo;
use crate::kinds::{self, gitops_api, ops_api};
use crate::sim::{SimNamespace, Timeline, manifest};

/// The longest any single wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(40);

/// The documented order of the five OpsRequests of a scale-down + storage + resources +
/// version + configuration commit.
pub const FIVE_STEPS: [&str; 5] = [
    "HorizontalScaling",
    "VolumeExpansion",
    "VerticalScaling",
    "UpdateVersion",
    "Reconfigure",
];

/// A desired database as written in Git (`gitops.kubedb.com/v1alpha1` Postgres).
#[derive(Debug, Clone)]
pub struct Db {
    pub name: String,
    pub version: String,
    pub replicas: u32,
    pub storage: String,
    pub cpu: String,
    pub memory: String,
    pub config_secret: String,
    /// Extra annotations on the gitops object (e.g. the retry token in cluster mode).
    pub annotations: Value,
}

impl Db {
    /// The starting point of every test: 16.4, 3 replicas, 1Gi, 500m/512Mi, `<name>-config`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            version: "16.4".into(),
            replicas: 3,
            storage: "1Gi".into(),
            cpu: "500m".into(),
            memory: "512Mi".into(),
            config_secret: format!("{name}-config"),
            annotations: json!({}),
        }
    }

    /// The commit of issue 5: replicas down, storage up, resources up, version up, new
    /// configuration secret; five OpsRequests.
    pub fn five_changes(&self) -> Self {
        Self {
            version: "17.2".into(),
            replicas: self.replicas - 1,
            storage: "2Gi".into(),
            cpu: "1".into(),
            memory: "1Gi".into(),
            config_secret: format!("{}-config-v2", self.name),
            ..self.clone()
        }
    }

    pub fn spec(&self) -> Value {
        json!({
            "version": self.version,
            "replicas": self.replicas,
            "storageType": "Durable",
            "storage": {
                "storageClassName": "standard",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": self.storage}},
            },
            "podTemplate": {"spec": {"containers": [{
                "name": "postgres",
                "resources": {
                    "requests": {"cpu": self.cpu, "memory": self.memory},
                    "limits": {"memory": self.memory},
                },
            }]}},
            "configuration": {"secretName": self.config_secret},
            "deletionPolicy": "WipeOut",
        })
    }

    /// The object as JSON (namespace `ns`).
    pub fn object(&self, ns: &str) -> Value {
        json!({
            "apiVersion": "gitops.kubedb.com/v1alpha1",
            "kind": "Postgres",
            "metadata": {"name": self.name, "namespace": ns, "annotations": self.annotations},
            "spec": self.spec(),
        })
    }

    /// The manifest as YAML, the way a user keeps it in Git.
    pub fn yaml(&self, ns: &str) -> String {
        let mut object = self.object(ns);
        if self.annotations.as_object().is_none_or(|a| a.is_empty()) {
            object["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("annotations");
        }
        serde_yaml::to_string(&object).unwrap()
    }

    /// Asserts that the live `kubedb.com` Postgres carries every value this manifest declares.
    pub fn assert_live_matches(&self, live: &Value) {
        let spec = &live["spec"];
        assert_eq!(spec["version"], json!(self.version), "version: {spec:#}");
        assert_eq!(spec["replicas"], json!(self.replicas), "replicas: {spec:#}");
        assert_eq!(
            spec.pointer("/storage/resources/requests/storage"),
            Some(&json!(self.storage)),
            "storage: {spec:#}"
        );
        let postgres = crate::sim::container_resources(live, "postgres");
        assert_eq!(postgres["requests"]["cpu"], json!(self.cpu), "{postgres:#}");
        assert_eq!(
            postgres["requests"]["memory"],
            json!(self.memory),
            "{postgres:#}"
        );
        assert_eq!(
            postgres["limits"]["memory"],
            json!(self.memory),
            "{postgres:#}"
        );
        assert_eq!(
            spec.pointer("/configuration/secretName"),
            Some(&json!(self.config_secret)),
            "configuration: {spec:#}"
        );
    }
}

/// The `PostgresVersion` catalog every test needs for UpdateVersion 16.4 → 17.2 (cluster-scoped,
/// shared by the tests of a binary; an existing object is fine).
async fn ensure_versions(client: &Client) {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &kinds::postgres_version());
    for (version, allowlist) in [
        ("16.4", vec![">= 16.4, < 18"]),
        ("17.2", vec![">= 17.2, < 18"]),
    ] {
        let body = manifest(
            &kinds::postgres_version(),
            json!({
                "metadata": {"name": version},
                "spec": {
                    "version": version,
                    "distribution": "Official",
                    "db": {"image": format!("postgres:{version}-alpine"), "baseOS": "alpine"},
                    "coordinator": {"image": "ghcr.io/kubedb/pg-coordinator:v0.40.0"},
                    "exporter": {"image": "prometheuscommunity/postgres-exporter:v0.15.0"},
                    "podSecurityPolicies": {"databasePolicyName": "postgres-db"},
                    "securityContext": {"runAsUser": 70},
                    "updateConstraints": {"allowlist": allowlist},
                },
            }),
        );
        match api.create(&PostParams::default(), &body).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => panic!("creating PostgresVersion {version}: {error}"),
        }
    }
}

/// A fresh namespace with the simulator (OpsRequest steps of `step`), a timeline of its
/// databases and OpsRequests, and the version catalog.
pub async fn sim_namespace(prefix: &str, step: Duration) -> SimNamespace {
    let sim = SimNamespace::start(prefix, step).await;
    ensure_versions(&sim.client).await;
    sim
}

/// A Git repository whose `fleet/` holds one file per database.
pub struct Fleet {
    pub repo: TestRepo,
    pub namespace: String,
}

impl Fleet {
    /// A new bare repo with the manifests of `dbs` committed and pushed.
    pub fn new(namespace: &str, dbs: &[&Db]) -> Self {
        let repo = TestRepo::new();
        // TestRepo starts with a placeholder fleet/db.yaml that is not a manifest.
        std::fs::remove_file(repo.work.join("fleet/db.yaml")).unwrap();
        let fleet = Self {
            repo,
            namespace: namespace.into(),
        };
        fleet.push(dbs, "the fleet");
        fleet
    }

    /// Writes the manifests of `dbs`, commits and pushes; returns the commit SHA.
    pub fn push(&self, dbs: &[&Db], message: &str) -> String {
        let (last, rest) = dbs.split_last().expect("at least one database");
        for db in rest {
            std::fs::write(
                self.repo.work.join(format!("fleet/{}.yaml", db.name)),
                db.yaml(&self.namespace),
            )
            .unwrap();
        }
        self.repo.commit(
            &format!("fleet/{}.yaml", last.name),
            &last.yaml(&self.namespace),
            message,
        )
    }

    /// A service configuration following this repo's `main` over file://, polling every second.
    pub fn config(&self, instance: &str) -> Config {
        let mut config = base_config(&self.namespace, instance);
        config.source.kind = SourceKind::Git;
        config.source.url = Some(self.repo.file_url());
        config.source.path = "fleet".into();
        config.source.work_dir = self.repo.work_dir(&format!("clone-{instance}"));
        config.source.poll_interval = Seconds(Duration::from_secs(1));
        config.source.poll_jitter = Seconds(Duration::ZERO);
        config.source.timeout = Seconds(Duration::from_secs(20));
        config
    }
}

/// Everything but the source: scoped to `namespace`, a free loopback port, a named instance.
pub fn base_config(namespace: &str, instance: &str) -> Config {
    let mut config = Config::default();
    config.source.kind = SourceKind::Cluster;
    config.server.listen = free_port();
    config.reconcile.namespace = Some(namespace.into());
    config.reconcile.instance = Some(instance.into());
    config.leader_election.lease_namespace = namespace.into();
    config
}

/// A loopback address nobody listens on (bound once and released).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The service running in-process on the test's runtime.
pub struct Service {
    task: JoinHandle<Result<(), RunError>>,
    stop: Option<oneshot::Sender<()>>,
    pub listen: SocketAddr,
}

impl Service {
    pub fn start(config: Config, client: Client) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let listen = config.server.listen;
        let task = tokio::spawn(run_until(config, client, async move {
            let _ = stopped.await;
        }));
        Self {
            task,
            stop: Some(stop),
            listen,
        }
    }

    /// Waits until `/readyz` answers 200 (caches filled and, with a source, the first snapshot in).
    pub async fn ready(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            assert!(
                !self.task.is_finished(),
                "the service stopped before it was ready"
            );
            let answer = http_get(self.listen, "/readyz").await;
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the service is not ready after {PATIENCE:?}; /readyz answers: {answer:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clean shutdown (what SIGTERM does); the service must end without error within 20 s.
    pub async fn stop(mut self) {
        assert!(!self.task.is_finished(), "the service stopped on its own");
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("the service stops within 20 s")
            .expect("the service task did not panic")
            .expect("the service ran without error");
    }
}

/// A GET over a fresh connection; the raw response ("" if nobody answers).
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    let request = format!("GET {path} HTTP/1.1\r\nhost: pg-gitops\r\nconnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response
}

/// Every request a client sent that is not a read (method other than GET), as "METHOD path".
#[derive(Clone, Default)]
pub struct Writes(Arc<Mutex<Vec<String>>>);

impl Writes {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Writes other than to Leases (the election itself writes while campaigning).
    pub fn outside_leases(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|w| !w.contains("/leases"))
            .collect()
    }
}

/// A client of the test cluster that records every non-GET request it sends (a tower layer
/// in front of the HTTP stack, so nothing the service writes can bypass it).
pub async fn recording_client() -> (Client, Writes) {
    let cluster = crate::cluster().await;
    let writes = Writes::default();
    let log = writes.clone();
    let layer = tower::util::MapRequestLayer::new(
        move |request: axum::http::Request<kube::client::Body>| {
            if request.method() != axum::http::Method::GET {
                log.0
                    .lock()
                    .unwrap()
                    .push(format!("{} {}", request.method(), request.uri()));
            }
            request
        },
    );
    let client = kube::client::ClientBuilder::try_from(cluster.config())
        .expect("a client builder from the test kubeconfig")
        .with_layer(&layer)
        .build();
    (client, writes)
}

pub fn to_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).expect("object as JSON")
}

/// Polls `probe` every 100 ms until it returns `Some`; fails with `what` and the last state
/// `describe` gives after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if tokio::time::Instant::now() > deadline => {
                panic!("{what}: not reached within {PATIENCE:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The OpsRequests of database `db` (`spec.databaseRef.name`), in no particular order: use
/// [`in_creation_order`] for order (creationTimestamps have one-second granularity).
pub async fn ops_of(client: &Client, ns: &str, db: &str) -> Vec<Value> {
    let listed = ops_api(client, ns)
        .list(&ListParams::default())
        .await
        .expect("listing OpsRequests");
    listed
        .items
        .iter()
        .map(to_value)
        .filter(|o| o.pointer("/spec/databaseRef/name") == Some(&json!(db)))
        .collect()
}

/// `ops` ordered by the etcd revision that created them, once the timeline has seen them.
pub async fn in_creation_order(timeline: &Timeline, ops: &[Value]) -> Vec<Value> {
    for o in ops {
        timeline
            .wait_for_version(
                "PostgresOpsRequest",
                &name_of(o),
                crate::sim::revision_of(o),
            )
            .await;
    }
    created_in_order(timeline, ops)
        .into_iter()
        .map(|(_, o)| o)
        .collect()
}

pub fn name_of(object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub fn type_of(ops: &Value) -> String {
    ops["spec"]["type"].as_str().unwrap_or_default().to_string()
}

pub fn phase_of(object: &Value) -> String {
    object
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// `(status, reason, message)` of condition `kind` on a gitops object.
pub fn condition(object: &Value, kind: &str) -> Option<(String, String, String)> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| {
            let text = |key: &str| c[key].as_str().unwrap_or("").to_string();
            (text("status"), text("reason"), text("message"))
        })
}

/// `changeRequestStatus` of the newest `gitOpsInfo` entry.
pub fn change_request_status(object: &Value) -> String {
    object
        .pointer("/status/gitops/gitOpsInfo/0/changeRequestStatus")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Whether the gitops object says, for its current generation: Ready=True, Current, phase Ready.
pub fn is_current(object: &Value) -> bool {
    let generation = object.pointer("/metadata/generation");
    condition(object, "Ready").is_some_and(|(status, _, _)| status == "True")
        && condition(object, "Stalled").is_some_and(|(status, _, _)| status == "False")
        && change_request_status(object) == "Current"
        && phase_of(object) == "Ready"
        && object.pointer("/status/gitops/gitOpsInfo/0/observedGeneration") == generation
        && object.pointer("/status/observedGeneration") == generation
}

/// Waits until the gitops object `name` satisfies `done`; returns it.
pub async fn wait_gitops(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let api = gitops_api(client, ns);
    eventually(&format!("gitops Postgres {name}: {what}"), || async {
        match api.get_opt(name).await {
            Ok(Some(object)) => {
                let value = to_value(&object);
                if done(&value) {
                    Ok(value)
                } else {
                    Err(format!("{:#}", value["status"]))
                }
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Waits until the gitops object of `db` is Current for the generation that declares `db`'s
/// spec (so an earlier Current status does not count).
pub async fn wait_current(client: &Client, ns: &str, db: &Db) -> Value {
    let spec = db.spec();
    wait_gitops(client, ns, &db.name, "Current with the pushed spec", |o| {
        spec_declares(&o["spec"], &spec) && is_current(o)
    })
    .await
}

/// Whether every value of `declared` is in `actual` (objects compared key by key).
pub fn spec_declares(actual: &Value, declared: &Value) -> bool {
    match (actual, declared) {
        (Value::Object(a), Value::Object(d)) => d
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| spec_declares(av, v))),
        (a, d) => a == d,
    }
}

/// Waits until OpsRequest `name` has a terminal phase; returns it.
pub async fn wait_ops_finished(client: &Client, ns: &str, name: &str) -> Value {
    let api = ops_api(client, ns);
    eventually(&format!("OpsRequest {name} finishes"), || async {
        match api.get_opt(name).await {
            Ok(Some(object)) => {
                let value = to_value(&object);
                let phase = phase_of(&value);
                if ["Successful", "Failed", "Skipped", "Denied"].contains(&phase.as_str()) {
                    Ok(value)
                } else {
                    Err(format!("phase {phase:?}"))
                }
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// The OpsRequests of `db` in the timeline, ordered by the etcd revision that created them.
fn created_in_order(timeline: &Timeline, ops: &[Value]) -> Vec<(u64, Value)> {
    let mut created: Vec<(u64, Value)> = ops
        .iter()
        .map(|o| {
            let versions = timeline.versions("PostgresOpsRequest", &name_of(o));
            let first = versions
                .first()
                .unwrap_or_else(|| panic!("the timeline never saw {}", name_of(o)));
            (first.revision, o.clone())
        })
        .collect();
    created.sort_by_key(|(revision, _)| *revision);
    created
}

/// Asserts, on etcd revisions (exact, unlike second-granular timestamps), that each
/// OpsRequest was created only after the previous one had turned Successful, and that their
/// types come in `expected` order. Returns their names in creation order.
pub async fn assert_one_after_another(
    timeline: &Timeline,
    ops: &[Value],
    expected: &[&str],
) -> Vec<String> {
    for o in ops {
        timeline
            .wait_for_version(
                "PostgresOpsRequest",
                &name_of(o),
                crate::sim::revision_of(o),
            )
            .await;
    }
    let created = created_in_order(timeline, ops);
    let types: Vec<String> = created.iter().map(|(_, o)| type_of(o)).collect();
    assert_eq!(types, expected, "OpsRequest types in creation order");
    for pair in created.windows(2) {
        let (_, previous) = &pair[0];
        let (created_at, next) = &pair[1];
        let succeeded_at = timeline.ops_phase_revision(&name_of(previous), "Successful");
        assert!(
            *created_at > succeeded_at,
            "{} was created at revision {created_at}, before {} turned Successful at revision {succeeded_at}",
            name_of(next),
            name_of(previous)
        );
    }
    created.iter().map(|(_, o)| name_of(o)).collect()
}

/// Merge-patches the metadata annotations of an object.
pub async fn annotate(api: &Api<DynamicObject>, name: &str, annotations: Value) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
    )
    .await
    .unwrap_or_else(|e| panic!("annotating {name}: {e}"));
}

/// Writes a config file for the `pg-gitops` binary.
pub fn write_config(config: &Config, path: &Path) {
    std::fs::write(path, toml::to_string(config).unwrap()).unwrap();
}

/// Reasons of the Events about the gitops object `name`, oldest first.
pub async fn event_reasons(client: &Client, ns: &str, name: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    let mut events: Vec<_> = api
        .list(&ListParams::default())
        .await
        .expect("listing events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    events.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    events.into_iter().filter_map(|e| e.reason).collect()
}

/// The notes of the Events about the gitops object `name` (each as many times as its series
/// count says it happened).
pub async fn event_notes(client: &Client, ns: &str, name: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .expect("listing events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .flat_map(|e| {
            let times = e.series.as_ref().map_or(1, |s| s.count) as usize;
            std::iter::repeat_n(e.note.unwrap_or_default(), times)
        })
        .collect()
}
