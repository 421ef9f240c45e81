//! [`Timeline`]: every version of a namespace's KubeDB and gitops objects, in etcd order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::PATIENCE;
use crate::kinds;

/// One version of an object as a watch delivered it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// etcd revision of this version.
    pub revision: u64,
    pub kind: &'static str,
    pub name: String,
    pub object: Value,
}

/// Every version of the namespace's Postgres, PostgresOpsRequest and gitops Postgres
/// (kind `GitopsPostgres` here) objects.
pub struct Timeline {
    seen: Arc<Mutex<Vec<Seen>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Timeline {
    /// Starts watching; returns once every watch has listed (so nothing created afterwards
    /// is missed).
    pub async fn start(client: Client, namespace: &str) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (kind, resource) in [
            ("Postgres", kinds::kubedb_postgres()),
            ("PostgresOpsRequest", kinds::ops_request()),
            ("GitopsPostgres", kinds::gitops_postgres()),
        ] {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource);
            let (listed, on_listed) = oneshot::channel::<()>();
            let seen = Arc::clone(&seen);
            tasks.push(tokio::spawn(async move {
                let mut listed = Some(listed);
                // Retries within a second or two, and never in a hot loop, while the API
                // server is away (the outage test stops it).
                let retry: watcher::ExponentialBackoff = backon::ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(2))
                    .without_max_times()
                    .into();
                let stream = watcher(api, watcher::Config::default()).backoff(retry);
                futures::pin_mut!(stream);
                while let Some(event) = stream.next().await {
                    let object = match event {
                        Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                            object
                        }
                        Ok(watcher::Event::InitDone) => {
                            if let Some(listed) = listed.take() {
                                let _ = listed.send(());
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    let value = serde_json::to_value(&object).expect("object as JSON");
                    let revision = value
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .and_then(|text| text.parse().ok())
                        .expect("a numeric resourceVersion");
                    let name = object.metadata.name.clone().unwrap_or_default();
                    seen.lock().unwrap().push(Seen {
                        revision,
                        kind,
                        name,
                        object: value,
                    });
                }
            }));
            tokio::time::timeout(PATIENCE, on_listed)
                .await
                .expect("the timeline watch lists within the patience")
                .expect("the timeline watch is running");
        }
        Self { seen, tasks }
    }

    /// Versions of one object, oldest first.
    pub fn versions(&self, kind: &str, name: &str) -> Vec<Seen> {
        let mut versions: Vec<Seen> = self
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|seen| seen.kind == kind && seen.name == name)
            .cloned()
            .collect();
        versions.sort_by_key(|seen| seen.revision);
        versions.dedup_by_key(|seen| seen.revision);
        versions
    }

    /// The names of every object of `kind` seen, in the order first seen.
    pub fn names(&self, kind: &str) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for seen in self.seen.lock().unwrap().iter().filter(|s| s.kind == kind) {
            if !names.contains(&seen.name) {
                names.push(seen.name.clone());
            }
        }
        names
    }

    /// Waits until the watch has delivered version `revision` (or a newer one) of the object.
    pub async fn wait_for_version(&self, kind: &str, name: &str, revision: u64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self
            .versions(kind, name)
            .iter()
            .any(|seen| seen.revision >= revision)
        {
            if tokio::time::Instant::now() > deadline {
                panic!("the timeline never saw {kind} {name} at revision {revision}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The distinct phases an OpsRequest went through, in order.
    pub fn ops_phases(&self, name: &str) -> Vec<String> {
        let mut phases: Vec<String> = self
            .versions("PostgresOpsRequest", name)
            .iter()
            .filter_map(|seen| seen.object.pointer("/status/phase").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        phases.dedup();
        phases
    }

    /// The revision at which an OpsRequest first showed `phase`.
    pub fn ops_phase_revision(&self, name: &str, phase: &str) -> u64 {
        self.versions("PostgresOpsRequest", name)
            .iter()
            .find(|seen| seen.object.pointer("/status/phase") == Some(&json!(phase)))
            .unwrap_or_else(|| {
                panic!(
                    "{name} never showed phase {phase}; phases: {:?}",
                    self.ops_phases(name)
                )
            })
            .revision
    }

    /// The database as it was at `revision` (its newest version not after it).
    pub fn database_at(&self, name: &str, revision: u64) -> Value {
        self.versions("Postgres", name)
            .into_iter()
            .rfind(|seen| seen.revision <= revision)
            .unwrap_or_else(|| {
                panic!("no version of Postgres {name} at or before revision {revision}")
            })
            .object
    }
}

impl Drop for Timeline {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
