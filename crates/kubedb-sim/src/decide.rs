//! The simulator's decisions, pure: from a snapshot of the cluster (databases, OpsRequests,
//! catalog, secrets) and the timers that have elapsed, the writes to make next.
//!
//! The runtime calls [`decide`] after every change it sees and again right after it has made
//! the writes, until nothing is left to do (level-triggered: nothing is remembered between
//! passes except timers). At most one step touches a given database per pass, so two steps
//! never overwrite each other's conditions list.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::defaults::{VersionFacts, default_postgres_spec};
use super::json::{merge_patch, str_at};
use super::status::{
    ACCEPTING_CONNECTION, Condition, PROVISIONED, PROVISIONING_STARTED, READY, REPLICA_READY,
    condition_is_true, conditions_of, database_phase, generation_of, upsert_condition,
};

/// Everything a pass looks at.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `kubedb.com/v1` Postgres objects as JSON (metadata, spec, status).
    pub databases: Vec<Value>,
    /// PostgresOpsRequest objects as JSON.
    pub ops_requests: Vec<Value>,
    /// PostgresVersion objects by name.
    pub versions: BTreeMap<String, Value>,
    /// namespace → secret name → `username` key, for the secrets that exist.
    pub secret_usernames: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

/// Time as the decisions see it.
#[derive(Debug, Clone, Copy)]
pub struct Clock<'a> {
    /// RFC 3339 timestamp for `lastTransitionTime`.
    pub now: &'a str,
    /// uids of objects whose step timer has run out.
    pub elapsed: &'a BTreeSet<String>,
    /// How long a request runs; one whose `spec.timeout` is shorter fails as timed out.
    pub step: Duration,
}

/// Which step duration an object is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// A database between `Provisioning` and `Ready`.
    Provisioning,
    /// An OpsRequest in `Progressing`.
    OpsStep,
}

/// The outcome of one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Objects (by uid) that wait on a timer, elapsed or not; the runtime arms missing timers
    /// and forgets the others.
    pub timers: Vec<(String, TimerKind)>,
}

/// One logical transition, made of writes applied in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// For logs: what happens and to what.
    pub summary: String,
    pub writes: Vec<Write>,
}

/// A JSON merge patch on one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub target: Target,
    pub part: Part,
    pub patch: Value,
    /// Set `status.observedGeneration` to the object's generation as the runtime last saw it
    /// (which may have just changed through an earlier write of the same step).
    pub observe_generation: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub kind: TargetKind,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetKind {
    Database,
    OpsRequest,
}

/// The main resource (spec, metadata) or the status subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
}

impl Target {
    pub fn of(kind: TargetKind, object: &Value) -> Self {
        Self {
            kind,
            namespace: str_at(object, "/metadata/namespace")
                .unwrap_or_default()
                .to_string(),
            name: str_at(object, "/metadata/name")
                .unwrap_or_default()
                .to_string(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            TargetKind::Database => "Postgres",
            TargetKind::OpsRequest => "PostgresOpsRequest",
        };
        write!(f, "{kind} {}/{}", self.namespace, self.name)
    }
}

pub fn uid_of(object: &Value) -> String {
    str_at(object, "/metadata/uid")
        .unwrap_or_default()
        .to_string()
}

/// Computes the next steps.
pub fn decide(snapshot: &Snapshot, clock: Clock<'_>) -> Plan {
    let mut plan = Plan::default();
    let mut busy_databases = BTreeSet::new();
    for database in &snapshot.databases {
        if database.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        if let Some(step) = database_step(database, snapshot, clock, &mut plan.timers) {
            busy_databases.insert(Target::of(TargetKind::Database, database));
            plan.steps.push(step);
        }
    }
    super::queue::ops_steps(snapshot, clock, &mut busy_databases, &mut plan);
    plan
}

/// The webhook's defaults, then the provisioner: Provisioning, then Ready after a step.
fn database_step(
    database: &Value,
    snapshot: &Snapshot,
    clock: Clock<'_>,
    timers: &mut Vec<(String, TimerKind)>,
) -> Option<Step> {
    let target = Target::of(TargetKind::Database, database);
    let spec = database.get("spec").cloned().unwrap_or_else(|| json!({}));
    let version_name = str_at(&spec, "/version").unwrap_or_default();
    let facts = VersionFacts::new(version_name, snapshot.versions.get(version_name));
    let defaulted = default_postgres_spec(&target.name, &spec, &facts);
    if let Some(patch) = merge_patch(&spec, &defaulted) {
        return Some(Step {
            summary: format!("{target}: write KubeDB defaults into spec"),
            writes: vec![Write {
                target,
                part: Part::Main,
                patch: json!({"spec": patch}),
                observe_generation: false,
            }],
        });
    }

    let mut conditions = conditions_of(database);
    let generation = generation_of(database);
    let status_write = |conditions: Vec<Value>| Write {
        target: target.clone(),
        part: Part::Status,
        patch: json!({
            "phase": database_phase(&conditions),
            "conditions": conditions,
        }),
        observe_generation: true,
    };
    if !condition_is_true(&conditions, PROVISIONING_STARTED) {
        let message = format!(
            "The KubeDB operator has started the provisioning of Postgres: {}/{}",
            target.namespace, target.name
        );
        upsert_condition(
            &mut conditions,
            Condition::yes(
                PROVISIONING_STARTED,
                "DatabaseProvisioningStartedSuccessfully",
                &message,
            ),
            generation,
            clock.now,
        );
        return Some(Step {
            summary: format!("{target}: Provisioning"),
            writes: vec![status_write(conditions)],
        });
    }
    if !condition_is_true(&conditions, PROVISIONED) {
        let uid = uid_of(database);
        let elapsed = clock.elapsed.contains(&uid);
        timers.push((uid, TimerKind::Provisioning));
        if !elapsed {
            return None;
        }
        let ready = [
            (
                REPLICA_READY,
                "AllReplicasReady",
                "All desired replicas are ready.",
            ),
            (
                ACCEPTING_CONNECTION,
                "DatabaseAcceptingConnectionRequest",
                "The database is accepting connection requests.",
            ),
            (
                READY,
                "ReadinessCheckSucceeded",
                "The database is ready and passing the readiness check.",
            ),
            (
                PROVISIONED,
                "DatabaseSuccessfullyProvisioned",
                "The database has been provisioned successfully.",
            ),
        ];
        for (kind, reason, message) in ready {
            upsert_condition(
                &mut conditions,
                Condition::yes(kind, reason, message),
                generation,
                clock.now,
            );
        }
        return Some(Step {
            summary: format!("{target}: Ready"),
            writes: vec![status_write(conditions)],
        });
    }
    let observed = database
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    if generation.is_some() && observed != generation {
        return Some(Step {
            summary: format!(
                "{target}: observe generation {}",
                generation.unwrap_or_default()
            ),
            writes: vec![Write {
                target,
                part: Part::Status,
                patch: json!({}),
                observe_generation: true,
            }],
        });
    }
    None
}

#[cfg(test)]
mod tests;
