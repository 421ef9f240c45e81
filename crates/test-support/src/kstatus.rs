//! kstatus' `Compute` for a custom resource, ported rule for rule from sigs.k8s.io/cli-utils
//! `pkg/kstatus/status` (read at its 2025-10 HEAD, unchanged in these rules since 2021): the
//! status Flux's kustomize-controller computes for `wait: true` and `healthChecks`, and
//! `kubectl`-less tools such as kpt for their own waits.
//!
//! `Compute` (status.go), for a kind with no built-in rule (`GetLegacyConditionsFn` knows only
//! core and apps kinds, CRDs, Jobs, PDBs; `gitops.kubedb.com/Postgres` is none of them):
//! 1. `checkGenericProperties` (generic.go):
//!    - `metadata.deletionTimestamp` set and not empty → **Terminating**;
//!    - `checkGeneration`: `metadata.generation` found, `status.observedGeneration` found and
//!      different → **InProgress**, reason `LatestGenerationNotObserved`. A missing
//!      `observedGeneration` skips the check;
//!    - then the conditions in their order: the first `Reconciling` with status `True` →
//!      **InProgress** (its reason and message); the first `Stalled` with status `True` →
//!      **Failed** (its reason and message); whichever comes first wins.
//! 2. `checkReadyCondition` (status.go): the first `Ready` condition with status `True` →
//!    **Current** ("Resource is Ready"); `False` or `Unknown` → **InProgress** (its reason and
//!    message); any other status: the next `Ready` condition is looked at.
//! 3. Otherwise **Current** ("Resource is current"): an object without status and conditions
//!    is Current to kstatus.
//!
//! Type errors (a generation that is not an integer, conditions that are not a list of
//! objects with string fields) are errors in kstatus (`NestedInt64`, `FromUnstructured`);
//! they are errors here too.

use serde_json::Value;

/// kstatus' status of a resource (`Status`; NotFound and Unknown come from its poller, not
/// from `Compute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KStatus {
    InProgress,
    Failed,
    Current,
    Terminating,
}

/// `Result` of `Compute`: the status, its message, and the reason of the condition that
/// decided it (kstatus' `Result.Conditions[0].Reason`), if one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    pub status: KStatus,
    pub message: String,
    pub reason: Option<String>,
}

impl Computed {
    fn new(status: KStatus, message: &str, reason: Option<&str>) -> Self {
        Self {
            status,
            message: message.into(),
            reason: reason.map(str::to_string),
        }
    }
}

/// kstatus `Compute` for a custom resource (`object` as the API server returns it).
pub fn compute(object: &Value) -> Result<Computed, String> {
    // checkGenericProperties: deletion first.
    match object.pointer("/metadata/deletionTimestamp") {
        None | Some(Value::Null) => {}
        Some(Value::String(stamp)) if stamp.is_empty() => {}
        Some(Value::String(_)) => {
            return Ok(Computed::new(
                KStatus::Terminating,
                "Resource scheduled for deletion",
                None,
            ));
        }
        Some(other) => return Err(format!("metadata.deletionTimestamp: {other}")),
    }
    // checkGeneration.
    if let Some(generation) = nested_i64(object, "/metadata/generation")?
        && let Some(observed) = nested_i64(object, "/status/observedGeneration")?
        && observed != generation
    {
        let kind = object["kind"].as_str().unwrap_or_default();
        let message = format!(
            "{kind} generation is {generation}, but latest observed generation is {observed}"
        );
        return Ok(Computed::new(
            KStatus::InProgress,
            &message,
            Some("LatestGenerationNotObserved"),
        ));
    }
    let conditions = conditions(object)?;
    for c in &conditions {
        if c.kind == "Reconciling" && c.status == "True" {
            return Ok(Computed::new(
                KStatus::InProgress,
                &c.message,
                Some(&c.reason),
            ));
        }
        if c.kind == "Stalled" && c.status == "True" {
            return Ok(Computed::new(KStatus::Failed, &c.message, Some(&c.reason)));
        }
    }
    // No legacy rule for a custom resource; then checkReadyCondition.
    for c in conditions.iter().filter(|c| c.kind == "Ready") {
        match c.status.as_str() {
            "True" => return Ok(Computed::new(KStatus::Current, "Resource is Ready", None)),
            "False" | "Unknown" => {
                return Ok(Computed::new(
                    KStatus::InProgress,
                    &c.message,
                    Some(&c.reason),
                ));
            }
            _ => {}
        }
    }
    Ok(Computed::new(KStatus::Current, "Resource is current", None))
}

/// `unstructured.NestedInt64`: absent is `None`; present but not an integer is an error.
fn nested_i64(object: &Value, pointer: &str) -> Result<Option<i64>, String> {
    match object.pointer(pointer) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{pointer} is not an int64: {value}")),
    }
}

/// kstatus' `BasicCondition`: absent string fields read as "".
struct Condition {
    kind: String,
    status: String,
    reason: String,
    message: String,
}

/// `GetObjectWithConditions`: `status.conditions` as a list; absent or null is empty.
fn conditions(object: &Value) -> Result<Vec<Condition>, String> {
    let listed = match object.pointer("/status/conditions") {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("status.conditions is not a list: {other}")),
    };
    listed
        .iter()
        .map(|c| {
            let text = |key: &str| match c.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(format!("condition {key} is not a string: {other}")),
            };
            if !c.is_object() {
                return Err(format!("a condition is not an object: {c}"));
            }
            Ok(Condition {
                kind: text("type")?,
                status: text("status")?,
                reason: text("reason")?,
                message: text("message")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
