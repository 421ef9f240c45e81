//! Status conditions and phases, written the way KubeDB writes them (`docs/kubedb-api.md` §1.4,
//! §2.4): kmapi conditions with `lastTransitionTime` and `observedGeneration`, and the
//! database phase derived from the conditions by `PhaseFromConditionV1`.

use serde_json::{Value, json};

/// Database condition types (kubedb/apimachinery `apis/kubedb/constants.go`).
pub const PROVISIONING_STARTED: &str = "ProvisioningStarted";
pub const PROVISIONED: &str = "Provisioned";
pub const REPLICA_READY: &str = "ReplicaReady";
pub const ACCEPTING_CONNECTION: &str = "AcceptingConnection";
pub const READY: &str = "Ready";
pub const PAUSED: &str = "Paused";

/// A condition to set: `type`, `status` ("True"/"False"), `reason`, `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition<'a> {
    pub kind: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: &'a str,
}

impl<'a> Condition<'a> {
    pub fn yes(kind: &'a str, reason: &'a str, message: &'a str) -> Self {
        Self {
            kind,
            status: true,
            reason,
            message,
        }
    }
}

/// The `status.conditions` list of an object (empty when absent).
pub fn conditions_of(object: &Value) -> Vec<Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The status ("True", "False", "Unknown") of condition `kind`, if present.
pub fn condition_status<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|condition| condition.get("type").and_then(Value::as_str) == Some(kind))
        .and_then(|condition| condition.get("status"))
        .and_then(Value::as_str)
}

pub fn condition_is_true(conditions: &[Value], kind: &str) -> bool {
    condition_status(conditions, kind) == Some("True")
}

/// Sets a condition, keeping `lastTransitionTime` when the status does not change (the
/// Kubernetes convention, so watchers can tell a flip from a refresh).
pub fn upsert_condition(
    conditions: &mut Vec<Value>,
    condition: Condition<'_>,
    generation: Option<i64>,
    now: &str,
) {
    let status = if condition.status { "True" } else { "False" };
    let existing = conditions
        .iter()
        .position(|item| item.get("type").and_then(Value::as_str) == Some(condition.kind));
    let transition_time = existing
        .map(|index| &conditions[index])
        .filter(|item| item.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|item| item.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    let mut entry = json!({
        "type": condition.kind,
        "status": status,
        "reason": condition.reason,
        "message": condition.message,
        "lastTransitionTime": transition_time,
    });
    if let Some(generation) = generation {
        entry["observedGeneration"] = json!(generation);
    }
    match existing {
        Some(index) => conditions[index] = entry,
        None => conditions.push(entry),
    }
}

/// Removes condition `kind`; returns whether it was there.
pub fn remove_condition(conditions: &mut Vec<Value>, kind: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|item| item.get("type").and_then(Value::as_str) != Some(kind));
    conditions.len() != before
}

/// The database phase from its conditions, first match wins (`pkg/phase/phase.go`).
/// `Paused` does not change the phase.
pub fn database_phase(conditions: &[Value]) -> Option<&'static str> {
    let is = |kind: &str, status: &str| condition_status(conditions, kind) == Some(status);
    if is("HealthCheckPaused", "True") {
        return Some("Unknown");
    }
    if is("Halted", "True") {
        return Some("Halted");
    }
    let tentative = is(PROVISIONING_STARTED, "True").then_some("Provisioning");
    if is("DataRestoreStarted", "True") {
        return Some("DataRestoring");
    }
    if is("DataRestored", "False") {
        return Some("NotReady");
    }
    if is(PROVISIONED, "True") {
        if is(ACCEPTING_CONNECTION, "False") {
            return Some("NotReady");
        }
        if is(REPLICA_READY, "False") || is(READY, "False") {
            return Some("Critical");
        }
        if is(READY, "True") {
            return Some("Ready");
        }
    }
    tentative
}

/// The current `metadata.generation` of an object.
pub fn generation_of(object: &Value) -> Option<i64> {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
}

#[cfg(test)]
mod tests;
