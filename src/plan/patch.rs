//! Fields that need no OpsRequest are patched straight into the live object, first.
//!
//! The patch is a JSON merge patch (RFC 7386), not a server-side apply: the database was
//! created (and is changed by KubeDB's ops-manager) under other field managers, so SSA's
//! "omit a field to remove it" would not remove what the user deleted from Git, while a merge
//! patch with an explicit `null` does. Only declared fields are sent.
//!
//! The same patch keeps the last-applied record current for the fields it applies, and
//! marks a Restart as owed when restart fields change, because once patched they no longer
//! show in the diff and the Restart must survive a crash between the two steps.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::compare::{canonical, covers, is_empty};
use super::members;
use super::metadata::{map_patch, user_annotations, user_labels};
use super::ops::token;
use super::removals;
use super::resources::{is_scaled, merge_containers};
use crate::models::{
    GitopsPostgres, KubedbPostgres, LAST_APPLIED_ANNOTATION, LastApplied, ObjectMeta,
    RESTART_PENDING_ANNOTATION, REVISION_ANNOTATION, ROTATE_CERTIFICATES_ANNOTATION,
};

/// Spec fields changed only through OpsRequests (or not at all): never patched.
pub const OPS_FIELDS: [&str; 9] = [
    "version",
    "replicas",
    "storage",
    "storageType",
    "configuration",
    "configSecret",
    "tls",
    "sslMode",
    "clientAuthMode",
];

/// Fields that take effect only after a Restart; one Restart covers all of them.
/// `synchronousReplicationConfig` is one of them like `leaderElection`: KubeDB writes it
/// into the pods' configuration when they start, so patched alone it would not take effect.
pub const RESTART_FIELDS: [&str; 9] = [
    "monitor",
    "archiver",
    "remoteReplica",
    "leaderElection",
    "replication",
    "standbyMode",
    "streamingMode",
    "enforceFsGroup",
    "synchronousReplicationConfig",
];

/// Fields that stay as they are live when they leave Git: sizes, the version and container
/// resources (removing them from Git must not reset them), the auth secret KubeDB needs, and
/// `init`, which KubeDB refuses to change once the database is initialised (a patch nulling
/// it would fail, and being first, block every other change of the database). `sslMode` and
/// `clientAuthMode` too: going back to KubeDB's default (which depends on TLS and the major)
/// would be a ReconfigureTLS that restarts every pod and may lock clients out (`require` →
/// `verify-full` refuses clients without the CA; `md5` → `scram`, the default from
/// PostgreSQL 18, refuses passwords stored as md5), on a commit that only deleted a line.
/// Changing them takes a declared value, never an absence. The arbiter and the read replica
/// groups hold resources, and a group is removed only by a HorizontalScaling (`members`).
pub const KEPT_WHEN_REMOVED: [&str; 11] = [
    "version",
    "replicas",
    "storage",
    "storageType",
    "podTemplate",
    "authSecret",
    "init",
    "sslMode",
    "clientAuthMode",
    "arbiter",
    "readReplicas",
];

/// The outcome of comparing the patchable fields.
pub struct PatchPlan {
    /// The merge patch, when anything must change.
    pub patch: Option<Value>,
    /// The token of the Restart the patch makes owed.
    pub restart_token: Option<String>,
}

/// The record of a fully reconciled database: everything declared.
pub fn full_record(desired: &GitopsPostgres, declared: &Map<String, Value>) -> LastApplied {
    LastApplied {
        spec: declared.clone(),
        labels: user_labels(&desired.metadata),
        annotations: user_annotations(&desired.metadata),
    }
}

/// The part of a declared field a patch may carry: the resources of the containers
/// VerticalScaling resizes (and the exporter's) belong to it, the auth secret's name to
/// RotateAuth. Other containers' resources (sidecars) are patched: KubeDB has no OpsRequest
/// for them and its webhook lets the pod template change.
fn patchable<'a>(key: &str, value: &'a Value) -> Cow<'a, Value> {
    if !matches!(
        key,
        "podTemplate" | "authSecret" | "monitor" | "arbiter" | "readReplicas"
    ) {
        return Cow::Borrowed(value);
    }
    let mut value = value.clone();
    match key {
        "podTemplate" => {
            if let Some(containers) = value
                .pointer_mut("/spec/containers")
                .and_then(Value::as_array_mut)
            {
                for container in containers.iter_mut().filter(|c| is_scaled(c)) {
                    container.as_object_mut().map(|c| c.remove("resources"));
                }
            }
        }
        "authSecret" => {
            value.as_object_mut().map(|a| a.remove("name"));
        }
        "monitor" => {
            if let Some(exporter) = value
                .pointer_mut("/prometheus/exporter")
                .and_then(Value::as_object_mut)
            {
                exporter.remove("resources");
            }
        }
        // The arbiter's and read replicas' resources are VerticalScaling's (`members`).
        "arbiter" => {
            value.as_object_mut().map(|a| a.remove("resources"));
        }
        "readReplicas" => {
            for group in value.as_array_mut().into_iter().flatten() {
                group.as_object_mut().map(|g| g.remove("resources"));
            }
        }
        _ => {}
    }
    Cow::Owned(value)
}

/// The live object as a merge patch leaves it (RFC 7386, as the API server applies it).
pub fn live_after_patch(live: &KubedbPostgres, patch: &Value) -> Option<KubedbPostgres> {
    fn merge(target: &mut Value, patch: &Value) {
        let Value::Object(patch) = patch else {
            *target = patch.clone();
            return;
        };
        if !target.is_object() {
            *target = Value::Object(Map::new());
        }
        if let Value::Object(map) = target {
            for (key, value) in patch {
                if value.is_null() {
                    map.remove(key);
                } else {
                    merge(map.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
    }
    let mut object = serde_json::to_value(live).ok()?;
    merge(&mut object, patch);
    serde_json::from_value(object).ok()
}

/// Compares labels, annotations and non-OpsRequest spec fields; builds the merge patch.
pub fn plan_patch(
    desired: &GitopsPostgres,
    declared: &Map<String, Value>,
    live: &KubedbPostgres,
    live_spec: &Value,
    record: Option<&LastApplied>,
    generation: i64,
    revision: Option<&str>,
) -> PatchPlan {
    let mut spec_patch = Map::new();
    let mut restart_changed = false;
    for (key, value) in declared
        .iter()
        .filter(|(k, _)| !OPS_FIELDS.contains(&k.as_str()))
    {
        let wanted = patchable(key, value);
        let recorded = record.and_then(|r| r.spec.get(key));
        let nested = removals::nested(key, value, recorded, live_spec.get(key));
        let changed = nested.resend || !covers(&wanted, live_spec.get(key));
        if !changed && nested.is_empty() {
            continue;
        }
        // Only the removed keys when nothing else changed: the rest is live already.
        let mut patch_value = match (changed, key.as_str()) {
            (false, _) => Value::Object(Map::new()),
            (true, "podTemplate") => merge_containers(&wanted, live_spec.get(key)),
            (true, "readReplicas") => members::lay_over_live(&wanted, live_spec.get(key)),
            (true, _) => wanted.into_owned(),
        };
        removals::overlay(&mut patch_value, &nested.nulls);
        spec_patch.insert(key.clone(), patch_value);
        restart_changed |= RESTART_FIELDS.contains(&key.as_str());
    }
    for key in record.into_iter().flat_map(|r| r.spec.keys()) {
        let removed = !declared.contains_key(key)
            && !OPS_FIELDS.contains(&key.as_str())
            && !KEPT_WHEN_REMOVED.contains(&key.as_str());
        if removed && live_spec.get(key).is_some_and(|v| !is_empty(v)) {
            spec_patch.insert(key.clone(), Value::Null);
            restart_changed |= RESTART_FIELDS.contains(&key.as_str());
        }
    }
    let wanted_labels = user_labels(&desired.metadata);
    let labels = map_patch(
        &wanted_labels,
        live.metadata.labels.as_ref(),
        record.map(|r| &r.labels),
    );
    let wanted_annotations = user_annotations(&desired.metadata);
    let mut annotations = map_patch(
        &wanted_annotations,
        live.metadata.annotations.as_ref(),
        record.map(|r| &r.annotations),
    );

    if spec_patch.is_empty() && labels.is_empty() && annotations.is_empty() {
        return PatchPlan {
            patch: None,
            restart_token: None,
        };
    }
    let restart_token = restart_changed.then(|| {
        let restart_spec: Map<String, Value> = declared
            .iter()
            .filter(|(k, _)| RESTART_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        token(&[
            &generation.to_string(),
            &canonical(&Value::Object(restart_spec)),
        ])
    });
    // The record moves forward only for what this patch applies; OpsRequest fields keep
    // their old record until their steps are done, so a removal stays visible until then.
    let mut next = record.cloned().unwrap_or_default();
    next.spec.retain(|k, _| OPS_FIELDS.contains(&k.as_str()));
    next.spec.extend(
        declared
            .iter()
            .filter(|(k, _)| !OPS_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    next.labels = wanted_labels;
    next.annotations = wanted_annotations;
    annotations.insert(LAST_APPLIED_ANNOTATION.into(), json!(record_json(&next)));
    if let Some(token) = &restart_token {
        annotations.insert(RESTART_PENDING_ANNOTATION.into(), json!(token));
    }
    if let Some(revision) = revision {
        annotations.insert(REVISION_ANNOTATION.into(), json!(revision));
    }
    let mut metadata = Map::new();
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    metadata.insert("annotations".into(), Value::Object(annotations));
    let mut patch = Map::new();
    patch.insert("metadata".into(), Value::Object(metadata));
    if !spec_patch.is_empty() {
        patch.insert("spec".into(), Value::Object(spec_patch));
    }
    PatchPlan {
        patch: Some(Value::Object(patch)),
        restart_token,
    }
}

/// The annotation value of a record.
pub fn record_json(record: &LastApplied) -> String {
    serde_json::to_string(record).expect("a record serialises")
}

/// The bookkeeping once every step is done: the whole record, the owed Restart cleared, a
/// finished certificate rotation remembered. `None` when the live object already says so.
/// The record is compared as written, so one in other spellings (`10Gi`, `10737418240`) is
/// rewritten once; that is no step (see `DatabasePlan::bookkeeping`).
pub fn bookkeeping_patch(
    desired: &GitopsPostgres,
    declared: &Map<String, Value>,
    live: &KubedbPostgres,
    live_record: Option<&LastApplied>,
    rotate_token: Option<&str>,
) -> Option<Value> {
    let live_annotations = live.metadata.annotations.clone().unwrap_or_default();
    let mut annotations = Map::new();
    // Compared in place: building the record costs a copy of the spec, needed only to write it.
    let current = live_record.is_some_and(|r| {
        r.spec == *declared
            && r.labels == user_labels(&desired.metadata)
            && r.annotations == user_annotations(&desired.metadata)
    });
    if !current {
        annotations.insert(
            LAST_APPLIED_ANNOTATION.into(),
            json!(record_json(&full_record(desired, declared))),
        );
    }
    if live.restart_pending().is_some() {
        annotations.insert(RESTART_PENDING_ANNOTATION.into(), Value::Null);
    }
    if let Some(token) = rotate_token.filter(|t| {
        live_annotations
            .get(ROTATE_CERTIFICATES_ANNOTATION)
            .map(String::as_str)
            != Some(*t)
    }) {
        annotations.insert(ROTATE_CERTIFICATES_ANNOTATION.into(), json!(token));
    }
    (!annotations.is_empty()).then(|| json!({"metadata": {"annotations": annotations}}))
}

/// The `kubedb.com` Postgres a Provision step creates: the desired spec as written, the
/// user's labels and annotations (never a GitOps tool's: see the `metadata` module), and the
/// record of it.
pub fn provision_object(
    desired: &GitopsPostgres,
    declared: &Map<String, Value>,
    revision: Option<&str>,
) -> KubedbPostgres {
    let mut annotations = user_annotations(&desired.metadata);
    annotations.insert(
        LAST_APPLIED_ANNOTATION.into(),
        record_json(&full_record(desired, declared)),
    );
    if let Some(revision) = revision {
        annotations.insert(REVISION_ANNOTATION.into(), revision.into());
    }
    let labels = user_labels(&desired.metadata);
    KubedbPostgres {
        api_version: "kubedb.com/v1".into(),
        kind: "Postgres".into(),
        metadata: ObjectMeta {
            name: desired.metadata.name.clone(),
            namespace: desired.metadata.namespace.clone(),
            labels: (!labels.is_empty()).then_some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: desired.spec.clone(),
        ..KubedbPostgres::default()
    }
}
