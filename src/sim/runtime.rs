//! The simulator's I/O: reflectors on Postgres, PostgresOpsRequest and PostgresVersion, a
//! loop that snapshots them, asks [`decide`] what to do, makes the writes, and sleeps until
//! the next change or timer.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::Store;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::api::{OpsType, ops_request_resource, postgres_resource, postgres_version_resource};
use super::decide::{Clock, Part, Snapshot, Step, Target, TargetKind, TimerKind, Write, decide};
use super::json::str_at;
use super::validate::current_auth_secret;
use super::watch::{AbortOnDrop, reflect};
use super::{FIELD_MANAGER, SimConfig};

/// Why [`run`] stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the {0} watch stopped before its first list completed")]
    WatchStopped(&'static str),
    #[error("the simulator task failed: {0}")]
    Task(String),
}

/// Passes in a row that may follow each other without waiting for a change; a guard against
/// a write the API server silently drops (a pruned field) turning into a hot loop.
const MAX_IMMEDIATE_PASSES: u32 = 20;
/// Pause after a failed write before trying again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Runs the simulator until `shutdown` completes. See the module docs of [`crate::sim`].
pub async fn run<F>(client: Client, config: SimConfig, shutdown: F) -> Result<(), RunError>
where
    F: Future<Output = ()> + Send,
{
    let changed = Arc::new(Notify::new());
    let scoped = |resource: &ApiResource| match &config.namespace {
        Some(namespace) => {
            Api::<DynamicObject>::namespaced_with(client.clone(), namespace, resource)
        }
        None => Api::<DynamicObject>::all_with(client.clone(), resource),
    };
    let catalog_api = Api::<DynamicObject>::all_with(client.clone(), &postgres_version_resource());
    let (databases, database_watch) =
        reflect(scoped(&postgres_resource()), postgres_resource(), &changed);
    let (ops_requests, ops_watch) = reflect(
        scoped(&ops_request_resource()),
        ops_request_resource(),
        &changed,
    );
    let (versions, version_watch) = reflect(catalog_api, postgres_version_resource(), &changed);
    let watches = [database_watch, ops_watch, version_watch];
    let _abort_watches = AbortOnDrop(&watches);

    tokio::pin!(shutdown);
    let ready = async {
        let names = ["Postgres", "PostgresOpsRequest", "PostgresVersion"];
        for (store, name) in [&databases, &ops_requests, &versions]
            .into_iter()
            .zip(names)
        {
            store
                .wait_until_ready()
                .await
                .map_err(|_| RunError::WatchStopped(name))?;
        }
        Ok::<(), RunError>(())
    };
    tokio::select! {
        _ = &mut shutdown => return Ok(()),
        result = ready => result?,
    }
    tracing::info!(namespace = ?config.namespace, "kubedb-sim: caches ready");

    let mut sim = Sim {
        client,
        config,
        stores: [databases, ops_requests, versions],
        latest: HashMap::new(),
        timers: HashMap::new(),
    };
    let mut immediate_passes = 0;
    loop {
        // A pass may wait on the API server; shutdown must not wait for it (every write is
        // idempotent, so stopping half-way is safe).
        let outcome = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            outcome = sim.pass() => outcome,
        };
        let now = Instant::now();
        let wake_at = match outcome {
            PassOutcome::Wrote if immediate_passes < MAX_IMMEDIATE_PASSES => {
                immediate_passes += 1;
                continue;
            }
            PassOutcome::WriteFailed => now + RETRY_DELAY,
            _ => sim.next_wake(now),
        };
        immediate_passes = 0;
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = changed.notified() => {}
            _ = tokio::time::sleep_until(wake_at) => {}
        }
    }
}

enum PassOutcome {
    Idle,
    Wrote,
    WriteFailed,
}

type ObjectKey = (TargetKind, String, String);

struct Sim {
    client: Client,
    config: SimConfig,
    /// Databases, OpsRequests, PostgresVersions.
    stores: [Store<DynamicObject>; 3],
    /// The newest version of each object this pass knows: the cache, or what a write returned
    /// (the cache may not have seen our own write yet).
    latest: HashMap<ObjectKey, Value>,
    timers: HashMap<String, Instant>,
}

impl Sim {
    async fn pass(&mut self) -> PassOutcome {
        let snapshot = self.snapshot().await;
        let now = Instant::now();
        let elapsed: BTreeSet<String> = self
            .timers
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(uid, _)| uid.clone())
            .collect();
        let timestamp = k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let plan = decide(
            &snapshot,
            Clock {
                now: &timestamp,
                elapsed: &elapsed,
                step: self.config.step_duration,
            },
        );

        let waiting: HashMap<String, TimerKind> = plan.timers.into_iter().collect();
        self.timers.retain(|uid, _| waiting.contains_key(uid));
        for (uid, kind) in waiting {
            let duration = match kind {
                TimerKind::Provisioning => self.config.provisioning_duration,
                TimerKind::OpsStep => self.config.step_duration,
            };
            self.timers.entry(uid).or_insert(now + duration);
        }

        if plan.steps.is_empty() {
            return PassOutcome::Idle;
        }
        let mut outcome = PassOutcome::Wrote;
        for step in &plan.steps {
            if let Err(error) = self.execute(step).await {
                tracing::warn!(step = %step.summary, %error, "kubedb-sim: write failed");
                outcome = PassOutcome::WriteFailed;
            }
        }
        outcome
    }

    /// When to run a pass without a change: the next timer. A timer that has already run
    /// out and is still here had its step held back (the database was busy, or the step did
    /// not converge), so it is retried after a pause rather than in a hot loop.
    fn next_wake(&self, now: Instant) -> Instant {
        let upcoming = self
            .timers
            .values()
            .copied()
            .filter(|deadline| *deadline > now)
            .min();
        let overdue = self.timers.values().any(|deadline| *deadline <= now);
        let retry = overdue.then_some(now + RETRY_DELAY);
        [upcoming, retry]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(3600))
    }

    /// The caches, overlaid with our own newer writes, plus direct reads for what a decision
    /// needs but the caches may not hold yet (a database created a moment before its
    /// OpsRequest, a catalog entry, the secrets of a RotateAuth).
    async fn snapshot(&mut self) -> Snapshot {
        let mut fresh = HashMap::new();
        let [databases, ops_requests, versions] = &self.stores;
        for (kind, store) in [
            (TargetKind::Database, databases),
            (TargetKind::OpsRequest, ops_requests),
        ] {
            for object in store.state() {
                let value = serde_json::to_value(object.as_ref()).unwrap_or_default();
                let key = key_of(kind, &value);
                let newest = match self.latest.get(&key) {
                    Some(ours) if resource_version(ours) > resource_version(&value) => ours.clone(),
                    _ => value,
                };
                fresh.insert(key, newest);
            }
        }
        self.latest = fresh;
        let mut snapshot = Snapshot::default();
        for version in versions.state() {
            let value = serde_json::to_value(version.as_ref()).unwrap_or_default();
            let name = str_at(&value, "/metadata/name")
                .unwrap_or_default()
                .to_string();
            snapshot.versions.insert(name, value);
        }
        self.fill_missing(&mut snapshot).await;
        for ((kind, _, _), object) in &self.latest {
            match kind {
                TargetKind::Database => snapshot.databases.push(object.clone()),
                TargetKind::OpsRequest => snapshot.ops_requests.push(object.clone()),
            }
        }
        snapshot
    }

    async fn fill_missing(&mut self, snapshot: &mut Snapshot) {
        let open: Vec<Value> = self
            .latest
            .iter()
            .filter(|((kind, _, _), ops)| {
                *kind == TargetKind::OpsRequest
                    && matches!(
                        str_at(ops, "/status/phase").unwrap_or_default(),
                        "" | "Pending"
                    )
            })
            .map(|(_, ops)| ops.clone())
            .collect();
        let mut wanted_versions: BTreeSet<String> = self
            .latest
            .iter()
            .filter(|((kind, _, _), _)| *kind == TargetKind::Database)
            .filter_map(|(_, db)| str_at(db, "/spec/version").map(str::to_string))
            .collect();
        for ops in &open {
            let namespace = str_at(ops, "/metadata/namespace")
                .unwrap_or_default()
                .to_string();
            let db_name = str_at(ops, "/spec/databaseRef/name")
                .unwrap_or_default()
                .to_string();
            let key = (TargetKind::Database, namespace.clone(), db_name.clone());
            if !self.latest.contains_key(&key) && !db_name.is_empty() {
                let api = self.api(TargetKind::Database, &namespace);
                if let Ok(Some(found)) = api.get_opt(&db_name).await {
                    let value = serde_json::to_value(&found).unwrap_or_default();
                    self.latest.insert(key.clone(), value);
                }
            }
            if let Some(target) = str_at(ops, "/spec/updateVersion/targetVersion") {
                wanted_versions.insert(target.to_string());
            }
            if let Some(database) = self.latest.get(&key) {
                wanted_versions.extend(str_at(database, "/spec/version").map(str::to_string));
                if str_at(ops, "/spec/type") == Some(OpsType::RotateAuth.as_str()) {
                    let current = current_auth_secret(database);
                    let new =
                        str_at(ops, "/spec/authentication/secretRef/name").map(str::to_string);
                    for name in [Some(current), new].into_iter().flatten() {
                        let username = self.secret_username(&namespace, &name).await;
                        if let Some(username) = username {
                            snapshot
                                .secret_usernames
                                .entry(namespace.clone())
                                .or_default()
                                .insert(name, username);
                        }
                    }
                }
            }
        }
        let catalog =
            Api::<DynamicObject>::all_with(self.client.clone(), &postgres_version_resource());
        for name in wanted_versions {
            if snapshot.versions.contains_key(&name) || name.is_empty() {
                continue;
            }
            if let Ok(Some(found)) = catalog.get_opt(&name).await {
                snapshot
                    .versions
                    .insert(name, serde_json::to_value(&found).unwrap_or_default());
            }
        }
    }

    /// `Some(username)` when the secret exists (the username itself may be absent).
    async fn secret_username(&self, namespace: &str, name: &str) -> Option<Option<String>> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        match secrets.get_opt(name).await {
            Ok(found) => found.map(|secret| {
                let from_data = secret.data.as_ref().and_then(|data| data.get("username"));
                from_data
                    .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned())
                    .or_else(|| {
                        secret
                            .string_data
                            .as_ref()
                            .and_then(|data| data.get("username").cloned())
                    })
            }),
            Err(error) => {
                tracing::warn!(%namespace, %name, %error, "kubedb-sim: cannot read secret");
                None
            }
        }
    }

    fn api(&self, kind: TargetKind, namespace: &str) -> Api<DynamicObject> {
        let resource = match kind {
            TargetKind::Database => postgres_resource(),
            TargetKind::OpsRequest => ops_request_resource(),
        };
        Api::namespaced_with(self.client.clone(), namespace, &resource)
    }

    async fn execute(&mut self, step: &Step) -> Result<(), kube::Error> {
        tracing::info!(step = %step.summary, "kubedb-sim");
        for write in &step.writes {
            self.write(write).await?;
        }
        Ok(())
    }

    async fn write(&mut self, write: &Write) -> Result<(), kube::Error> {
        let Target {
            kind,
            namespace,
            name,
        } = &write.target;
        let key = (*kind, namespace.clone(), name.clone());
        let mut patch = write.patch.clone();
        if write.observe_generation
            && let Some(generation) = self
                .latest
                .get(&key)
                .and_then(|o| o.pointer("/metadata/generation"))
                .cloned()
        {
            patch["observedGeneration"] = generation;
        }
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let api = self.api(*kind, namespace);
        let updated = match write.part {
            Part::Main => api.patch(name, &params, &Patch::Merge(&patch)).await?,
            Part::Status => {
                api.patch_status(name, &params, &Patch::Merge(&json!({"status": patch})))
                    .await?
            }
        };
        self.latest
            .insert(key, serde_json::to_value(&updated).unwrap_or_default());
        Ok(())
    }
}

fn key_of(kind: TargetKind, object: &Value) -> ObjectKey {
    let field = |pointer| str_at(object, pointer).unwrap_or_default().to_string();
    (kind, field("/metadata/namespace"), field("/metadata/name"))
}

/// resourceVersion as a number: opaque by contract, but etcd's revision in practice; an
/// unparsable one sorts lowest so the cache wins.
fn resource_version(object: &Value) -> u64 {
    str_at(object, "/metadata/resourceVersion")
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}
