//! The status of a gitops Postgres, computed purely from the plan, the OpsRequests and the
//! live database. Wire-compatible with KubeDB's gitops CRD (the API server prunes anything
//! else): `status.gitops.gitOpsInfo[]`, kstatus-style `Ready`/`Reconciling`/`Stalled`
//! conditions, and `status.phase` mirrored from the database.
//!
//! The conditions keep kstatus' contract (sigs.k8s.io/cli-utils `pkg/kstatus/status`, what
//! Flux's `wait` and `healthChecks` compute): `status.observedGeneration` is the generation the
//! status was computed from, always written; `Reconciling` is True while anything remains
//! (a step, an open OpsRequest, a wait for a turn or for the database, a database not Ready
//! yet); `Stalled` is True only for what needs a person (the plan's errors); `Ready` is True
//! only when the database matches Git and is Ready. `charts/pg-gitops/files/argocd-health.lua`
//! reads the same conditions for Argo CD.

use serde_json::Value;

use crate::gate::{Hold, HoldKind};
use crate::models::{
    Condition, GENERATION_ANNOTATION, GitOpsInfo, GitOpsInfoList, GitOpsOperation, GitopsPostgres,
    GitopsStatus, KubedbPostgres, PostgresOpsRequest,
};
use crate::plan::{DatabasePlan, ErrorKind};

/// Entries of `gitOpsInfo` kept: the current generation and a short history.
const HISTORY: usize = 5;

/// How a database stands, for status, events and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Live matches Git.
    Current,
    /// Steps remain or an OpsRequest runs.
    Progressing,
    /// An error or a failed OpsRequest: nothing more happens until Git or the retry token changes.
    Stalled,
    /// Reconciling is switched off for it.
    Suspended,
}

impl Standing {
    pub const ALL: [Standing; 4] = [
        Standing::Current,
        Standing::Progressing,
        Standing::Stalled,
        Standing::Suspended,
    ];

    pub fn of(plan: &DatabasePlan, suspended: bool) -> Self {
        if suspended {
            Self::Suspended
        } else if !plan.errors.is_empty() {
            Self::Stalled
        } else if plan.is_waiting() || !plan.steps.is_empty() {
            Self::Progressing
        } else {
            Self::Current
        }
    }
}

/// Everything the status is computed from. `now` is an RFC 3339 time, used only for
/// conditions whose status changes (so an unchanged status is byte-identical and not written).
pub struct StatusInput<'a> {
    pub object: &'a GitopsPostgres,
    pub plan: &'a DatabasePlan,
    /// OpsRequests of this database.
    pub ops: &'a [&'a PostgresOpsRequest],
    pub live: Option<&'a KubedbPostgres>,
    pub suspended: bool,
    /// The error of this database's manifest in Git when it is broken (so Git's version is
    /// not applied): shown as the condition `InvalidManifest`.
    pub invalid_manifest: Option<&'a str>,
    pub now: &'a str,
}

/// The status to write.
pub fn compute(input: &StatusInput<'_>) -> GitopsStatus {
    let generation = input.object.metadata.generation.unwrap_or(0);
    let previous = input.object.status.clone().unwrap_or_default();
    let standing = Standing::of(input.plan, input.suspended);
    let (ready, reconciling, stalled) = condition_values(input, standing);
    // Abnormal-true, as kstatus reads Reconciling and Stalled: present only while the manifest
    // is broken. Ready is left as the object's own reconcile makes it: the last good version
    // still runs.
    let invalid = input
        .invalid_manifest
        .map(|error| ("True", "ValidationFailed", error.to_string()));
    // Abnormal-true as well: present only while a step waits for a person.
    let awaiting_approval = input
        .plan
        .hold
        .as_ref()
        .filter(|hold| hold.kind() == HoldKind::Approval)
        .map(|hold| ("True", "ApprovalRequired", hold_message(input, hold)));
    let conditions = [
        ("Ready", ready),
        ("Reconciling", reconciling),
        ("Stalled", stalled),
    ]
    .into_iter()
    .chain(invalid.map(|value| ("InvalidManifest", value)))
    .chain(awaiting_approval.map(|value| ("AwaitingApproval", value)))
    .map(|(kind, (status, reason, message))| {
        let kept = previous
            .conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == status);
        Condition {
            type_: kind.to_string(),
            status: status.to_string(),
            reason: Some(reason.to_string()),
            // Omitted when empty: API servers before 1.21 read "" here as null and refuse it.
            message: (!message.is_empty()).then_some(message),
            observed_generation: Some(generation),
            last_transition_time: kept
                .and_then(|c| c.last_transition_time.clone())
                .or_else(|| Some(input.now.to_string())),
            ..Condition::default()
        }
    })
    .collect();
    GitopsStatus {
        phase: input
            .live
            .and_then(|l| l.status.as_ref())
            .and_then(|s| s.phase.clone()),
        observed_generation: Some(generation),
        conditions,
        gitops: Some(GitOpsInfoList {
            git_ops_info: history(input, &previous, generation, standing),
        }),
        other: Default::default(),
    }
}

type ConditionValue = (&'static str, &'static str, String);

fn condition_values(
    input: &StatusInput<'_>,
    standing: Standing,
) -> (ConditionValue, ConditionValue, ConditionValue) {
    let plan = input.plan;
    let phase = input
        .live
        .and_then(|l| l.status.as_ref())
        .and_then(|s| s.phase.as_deref());
    let not = |reason: &'static str| ("False", reason, String::new());
    match standing {
        Standing::Suspended => (
            ("False", "Suspended", "reconciling is suspended".into()),
            not("Suspended"),
            not("Suspended"),
        ),
        Standing::Stalled => {
            let reason = plan.error_kind().map_or("InvalidSpec", ErrorKind::reason);
            let message = plan
                .errors
                .iter()
                .map(|e| format!("{}:{}: {}", e.file, e.line, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            (
                ("False", reason, message.clone()),
                not(reason),
                ("True", reason, message),
            )
        }
        Standing::Progressing if plan.hold.is_some() && plan.waiting_for.is_none() => {
            let hold = plan.hold.as_ref().expect("checked above");
            let message = hold_message(input, hold);
            (
                ("False", hold.reason(), message.clone()),
                ("True", hold.reason(), message),
                not(hold.reason()),
            )
        }
        Standing::Progressing => {
            let message = match (&plan.waiting_for, plan.steps.first()) {
                (Some(name), _) => format!("waiting for OpsRequest {name}"),
                (None, None) if plan.waiting_reason.is_some() => {
                    format!(
                        "waiting: {}",
                        plan.waiting_reason.as_deref().unwrap_or_default()
                    )
                }
                (None, Some(step)) => {
                    let name = step.ops_request().and_then(|o| o.metadata.name.clone());
                    let waiting = (plan.waiting_reason.as_deref())
                        .map(|reason| format!("; waiting: {reason}"))
                        .unwrap_or_default();
                    format!(
                        "{} step(s) left; next: {:?}{}{waiting}",
                        plan.steps.len(),
                        step.step_type(),
                        name.map(|n| format!(" {n}")).unwrap_or_default()
                    )
                }
                (None, None) => String::new(),
            };
            (
                ("False", "Progressing", message.clone()),
                ("True", "Progressing", message),
                not("Progressing"),
            )
        }
        Standing::Current if phase == Some("Ready") => (
            (
                "True",
                "Current",
                "the database matches Git and is Ready".into(),
            ),
            not("Current"),
            not("Current"),
        ),
        // Matching Git is not done yet: kstatus (Flux's `wait` and `healthChecks`) reads
        // Reconciling=True as InProgress, so Flux waits for the database (a new one while
        // KubeDB provisions it, one after its last OpsRequest until KubeDB reports Ready) instead
        // of reading the False conditions as Current. Not Stalled: KubeDB is still at work,
        // and a database that never gets Ready fails the Flux wait by its timeout.
        Standing::Current => {
            let message = format!(
                "the database matches Git but its phase is {}",
                phase.unwrap_or("unknown")
            );
            (
                ("False", "DatabaseNotReady", message.clone()),
                ("True", "DatabaseNotReady", message),
                not("DatabaseNotReady"),
            )
        }
    }
}

fn hold_message(input: &StatusInput<'_>, hold: &Hold) -> String {
    let meta = &input.object.metadata;
    hold.message(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// `gitOpsInfo`: the entry of this generation (the OpsRequests made for it, with their
/// phases) followed by the most recent earlier entries.
fn history(
    input: &StatusInput<'_>,
    previous: &GitopsStatus,
    generation: i64,
    standing: Standing,
) -> Vec<GitOpsInfo> {
    let generation_text = generation.to_string();
    let mut operations: Vec<&PostgresOpsRequest> = input
        .ops
        .iter()
        .copied()
        .filter(|o| {
            o.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(GENERATION_ANNOTATION))
                == Some(&generation_text)
        })
        .collect();
    // Creation order. creationTimestamp has one-second granularity, so requests created within
    // one second would fall back to name order; the order already written (one request at a
    // time, each listed once it exists) is the creation order, so it goes first.
    let listed: Vec<&str> = previous
        .gitops
        .iter()
        .flat_map(|g| g.git_ops_info.iter())
        .filter(|info| info.observed_generation == Some(generation))
        .flat_map(|info| info.operations.iter().map(|o| o.name.as_str()))
        .collect();
    operations.sort_by_key(|o| {
        let name = o.metadata.name.as_deref().unwrap_or_default();
        (
            listed.iter().position(|l| *l == name).unwrap_or(usize::MAX),
            o.metadata.creation_timestamp.as_ref().map(|t| t.0),
            name.to_string(),
        )
    });
    let change_request_status = match standing {
        Standing::Stalled => "Failed",
        Standing::Current => "Current",
        Standing::Progressing if operations.is_empty() && input.plan.waiting_for.is_none() => {
            "Pending"
        }
        Standing::Progressing | Standing::Suspended => "InProgress",
    };
    let current = GitOpsInfo {
        observed_generation: Some(generation),
        change_request_status: Some(change_request_status.to_string()),
        operations: operations
            .into_iter()
            .map(|o| GitOpsOperation {
                name: o.metadata.name.clone().unwrap_or_default(),
                status: o.phase().to_string(),
            })
            .chain(held_operation(input.plan))
            .collect(),
    };
    let earlier = previous
        .gitops
        .iter()
        .flat_map(|g| g.git_ops_info.iter())
        .filter(|info| info.observed_generation != Some(generation))
        .take(HISTORY - 1)
        .cloned();
    std::iter::once(current).chain(earlier).collect()
}

/// The OpsRequest change control holds back, listed with the hold as its status
/// (`AwaitingApproval`, `OutsideMaintenanceWindow`, `FleetBudget`): not created yet, but it is
/// what this generation waits for.
fn held_operation(plan: &DatabasePlan) -> Option<GitOpsOperation> {
    let hold = plan.hold.as_ref()?;
    let name = plan.steps.first()?.ops_request()?.metadata.name.clone()?;
    Some(GitOpsOperation {
        name,
        status: hold.reason().to_string(),
    })
}

/// Whether writing `next` would change anything on the object.
pub fn differs(object: &GitopsPostgres, next: &GitopsStatus) -> bool {
    let as_value = |s: &GitopsStatus| serde_json::to_value(s).unwrap_or(Value::Null);
    object.status.as_deref().map(as_value) != Some(as_value(next))
}

#[cfg(test)]
mod tests;
