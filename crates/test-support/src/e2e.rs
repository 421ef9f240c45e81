//! Harness for the end-to-end tests (`tests/cluster/e2e_*.rs`): the whole service (`run_until`, or the
//! `pg-gitops` binary) against the real API server, `kubedb-sim` in-process and a real Git
//! repository (bare repo on disk, pushed to with the `git` CLI).
//!
//! Every test works in a fresh namespace and scopes the service (`reconcile.namespace`) and the
//! simulator to it, so the tests of one binary run in parallel without seeing each other.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use pg_gitops::config::{Config, Seconds, SourceKind};
use pg_gitops::run::{RunError, run_until};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod process;
mod read;
pub use process::ServiceProcess;
pub use read::*;

use crate::git::repo::TestRepo;
use crate::kinds;
use crate::sim::SimNamespace;

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
    /// `spec.authSecret.name`, when the manifest names the Secret of its password.
    pub auth_secret: Option<String>,
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
            auth_secret: None,
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
        let mut spec = json!({
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
        });
        if let Some(name) = &self.auth_secret {
            spec["authSecret"] = json!({"name": name});
        }
        spec
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
        pg_gitops::yaml::to_string(&object)
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
pub async fn ensure_versions(client: &Client) {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &kinds::postgres_version());
    for (version, allowlist) in [
        ("16.4", vec![">= 16.4, < 18"]),
        ("17.2", vec![">= 17.2, < 18"]),
    ] {
        let body = kinds::object(
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
    config.server.listen = crate::free_port();
    config.reconcile.namespace = Some(namespace.into());
    config.reconcile.instance = Some(instance.into());
    config.leader_election.lease_namespace = namespace.into();
    config
}

/// A loopback address nobody listens on (bound once and released).
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

/// The service's `GET /status` at `listen`, parsed; fails the test if it is not a report.
pub async fn status_report(listen: SocketAddr) -> pg_gitops::status_view::StatusReport {
    let response = http_get(listen, "/status").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("/status is not a report ({e}): {body}"))
}

/// Sum of the `pg_gitops_reconcile_total` series on the service's `/metrics` at `listen`.
pub async fn reconciles(listen: SocketAddr) -> f64 {
    metric(listen, "pg_gitops_reconcile_total").await
}

/// Sum of the series of metric `name` on the service's `/metrics` at `listen` (0 if none).
pub async fn metric(listen: SocketAddr, name: &str) -> f64 {
    http_get(listen, "/metrics")
        .await
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
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
    let (client, log) = client_recording(|method| method != axum::http::Method::GET).await;
    (client, Writes(log))
}

/// Every GET request a client sent (lists, watches, reads), as "GET path?query".
#[derive(Clone, Default)]
pub struct Reads(Arc<Mutex<Vec<String>>>);

impl Reads {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A client of the test cluster that records every GET request it sends, as
/// [`recording_client`] records writes.
pub async fn reading_client() -> (Client, Reads) {
    let (client, log) = client_recording(|method| method == axum::http::Method::GET).await;
    (client, Reads(log))
}

async fn client_recording(
    wanted: fn(&axum::http::Method) -> bool,
) -> (Client, Arc<Mutex<Vec<String>>>) {
    let cluster = crate::cluster().await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let layer = tower::util::MapRequestLayer::new({
        let log = log.clone();
        move |request: axum::http::Request<kube::client::Body>| {
            if wanted(request.method()) {
                log.lock()
                    .unwrap()
                    .push(format!("{} {}", request.method(), request.uri()));
            }
            request
        }
    });
    let client = kube::client::ClientBuilder::try_from(cluster.config())
        .expect("a client builder from the test kubeconfig")
        .with_layer(&layer)
        .build();
    (client, log)
}

/// Writes a config file for the `pg-gitops` binary.
pub fn write_config(config: &Config, path: &Path) {
    std::fs::write(path, toml::to_string(config).unwrap()).unwrap();
}
