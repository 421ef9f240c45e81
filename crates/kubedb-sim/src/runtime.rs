//! The simulator's I/O: reflectors on Postgres, PostgresOpsRequest and PostgresVersion, a
//! loop that snapshots them, asks [`decide`] what to do, makes the writes, and sleeps until
//! the next change or timer.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::Store;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::api::{ops_request_resource, postgres_resource, postgres_version_resource};
use super::decide::{Clock, Part, Step, Target, TargetKind, TimerKind, Write, decide};
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

/// Runs the simulator until `shutdown` completes. See the [crate docs](crate).
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
            let mut waiting = std::pin::pin!(store.wait_until_ready());
            loop {
                tokio::select! {
                    result = &mut waiting => {
                        result.map_err(|_| RunError::WatchStopped(name))?;
                        break;
                    }
                    _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!(
                        "kubedb-sim: still waiting for the first list of {name}; are KubeDB's \
                         CRDs installed, and may this identity list and watch them?"
                    ),
                }
            }
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

pub(super) type ObjectKey = (TargetKind, String, String);

pub(super) struct Sim {
    pub(super) client: Client,
    config: SimConfig,
    /// Databases, OpsRequests, PostgresVersions.
    pub(super) stores: [Store<DynamicObject>; 3],
    /// The newest version of each object this pass knows: the cache, or what a write returned
    /// (the cache may not have seen our own write yet).
    pub(super) latest: HashMap<ObjectKey, Value>,
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
        // KubeDB's operator works on many databases at once: the steps of different databases
        // run side by side, those of one database (its own and its OpsRequests') in order.
        let mut groups: BTreeMap<(String, String), Vec<Step>> = BTreeMap::new();
        for step in plan.steps {
            groups.entry(group_of(&step)).or_default().push(step);
        }
        let runs = groups.into_values().map(|steps| {
            let client = self.client.clone();
            let mut known: HashMap<ObjectKey, Value> = steps
                .iter()
                .flat_map(|step| &step.writes)
                .filter_map(|write| {
                    let key = key_of(&write.target);
                    self.latest.get(&key).map(|value| (key, value.clone()))
                })
                .collect();
            async move {
                let mut failed = false;
                for step in &steps {
                    tracing::info!(step = %step.summary, "kubedb-sim");
                    for write in &step.writes {
                        match write_one(&client, write, &known).await {
                            Ok((key, value)) => {
                                known.insert(key, value);
                            }
                            Err(error) => {
                                tracing::warn!(step = %step.summary, %error, "kubedb-sim: write failed");
                                failed = true;
                                break;
                            }
                        }
                    }
                }
                (known, failed)
            }
        });
        let results: Vec<(HashMap<ObjectKey, Value>, bool)> = futures::stream::iter(runs)
            .buffer_unordered(CONCURRENT_DATABASES)
            .collect()
            .await;
        let mut outcome = PassOutcome::Wrote;
        for (known, failed) in results {
            self.latest.extend(known);
            if failed {
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

    pub(super) fn api(&self, kind: TargetKind, namespace: &str) -> Api<DynamicObject> {
        api_for(&self.client, kind, namespace)
    }
}

/// Databases whose steps run at once within a pass.
const CONCURRENT_DATABASES: usize = 16;

/// The database a step belongs to: its first database target, else its first target.
fn group_of(step: &Step) -> (String, String) {
    let target = step
        .writes
        .iter()
        .map(|write| &write.target)
        .find(|target| target.kind == TargetKind::Database)
        .or_else(|| step.writes.first().map(|write| &write.target));
    target.map_or_else(Default::default, |t| (t.namespace.clone(), t.name.clone()))
}

fn key_of(target: &Target) -> ObjectKey {
    (target.kind, target.namespace.clone(), target.name.clone())
}

/// One merge patch; the object as the API server returned it. `known` is the newest version
/// of each object this pass has seen (for `observedGeneration`).
async fn write_one(
    client: &Client,
    write: &Write,
    known: &HashMap<ObjectKey, Value>,
) -> Result<(ObjectKey, Value), kube::Error> {
    let Target {
        kind,
        namespace,
        name,
    } = &write.target;
    let key = key_of(&write.target);
    let mut patch = write.patch.clone();
    if write.observe_generation
        && let Some(generation) = known
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
    let api = api_for(client, *kind, namespace);
    let updated = match write.part {
        Part::Main => api.patch(name, &params, &Patch::Merge(&patch)).await?,
        Part::Status => {
            api.patch_status(name, &params, &Patch::Merge(&json!({"status": patch})))
                .await?
        }
    };
    Ok((key, serde_json::to_value(&updated).unwrap_or_default()))
}

fn api_for(client: &Client, kind: TargetKind, namespace: &str) -> Api<DynamicObject> {
    let resource = match kind {
        TargetKind::Database => postgres_resource(),
        TargetKind::OpsRequest => ops_request_resource(),
    };
    Api::namespaced_with(client.clone(), namespace, &resource)
}
