//! Plan tests: fixtures shaped like real KubeDB objects (the live side carries the defaults
//! KubeDB's webhook writes), and table-driven cases per row of the field → step table.

mod bookkeeping;
mod converge;
mod errors;
mod flow;
mod numbers;
mod preview;
mod readiness;
mod refusals;
mod rules;
mod safety;
mod strict;
mod table;

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::manifest::{LoadOptions, ManifestSet, load_text};
use crate::models::{KubedbPostgres, PostgresOpsRequest, PostgresVersion};

/// A desired spec that matches [`live_spec`] on every declared field.
pub fn desired_spec() -> Value {
    json!({
        "version": "16.4",
        "replicas": 3,
        "storage": {"resources": {"requests": {"storage": "10Gi"}}},
        "podTemplate": {"spec": {"containers": [
            {"name": "postgres", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
        ]}},
        "deletionPolicy": "WipeOut"
    })
}

/// The live spec as KubeDB leaves it: the desired values plus everything the defaulter adds,
/// some in other spellings (`1024Mi` for `1Gi`, `0.5` for `500m`).
pub fn live_spec() -> Value {
    json!({
        "version": "16.4",
        "replicas": 3,
        "standbyMode": "Hot",
        "storageType": "Durable",
        "deletionPolicy": "WipeOut",
        "storage": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                    "resources": {"requests": {"storage": "10240Mi"}}},
        "authSecret": {"name": "pg1-auth", "kind": "Secret", "apiGroup": ""},
        "leaderElection": {"electionTick": 10, "heartbeatTick": 1, "maximumLagBeforeFailover": 67108864,
                           "period": "300ms", "transferLeadershipInterval": "1s", "transferLeadershipTimeout": "1m0s"},
        "replication": {"walLimitPolicy": "WALKeepSize", "walKeepSize": 1536},
        "sslMode": "disable",
        "clientAuthMode": "md5",
        "healthChecker": {"failureThreshold": 1, "periodSeconds": 10, "timeoutSeconds": 10},
        "podTemplate": {"spec": {"serviceAccountName": "pg1", "containers": [
            {"name": "postgres", "resources": {"requests": {"cpu": 0.5, "memory": "1024Mi"}, "limits": {"memory": "1Gi"}},
             "securityContext": {"runAsUser": 70, "allowPrivilegeEscalation": false}},
            {"name": "pg-coordinator", "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}}
        ]}}
    })
}

/// Sets `pointer` in `value` (creating objects on the way) or removes it for `Value::Null`.
pub fn set(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let mut slot = &mut value;
    for part in parent.split('/').skip(1) {
        slot = match slot {
            Value::Array(items) => &mut items[part.parse::<usize>().expect("an index")],
            other => other
                .as_object_mut()
                .expect("an object")
                .entry(part)
                .or_insert(json!({})),
        };
    }
    match (slot, new) {
        (Value::Array(items), new) => {
            let index = key.parse::<usize>().expect("an index");
            if index == items.len() {
                items.push(new);
            } else {
                items[index] = new;
            }
        }
        (slot, Value::Null) => {
            slot.as_object_mut().expect("an object").remove(key);
        }
        (slot, new) => {
            slot.as_object_mut()
                .expect("an object")
                .insert(key.into(), new);
        }
    }
    value
}

/// The desired and live specs of a case: the fixtures with each (pointer, value) applied.
pub fn mutated(desired: &[(&str, Value)], live: &[(&str, Value)]) -> (Value, Value) {
    let apply = |base: Value, changes: &[(&str, Value)]| {
        changes.iter().fold(base, |spec, (pointer, value)| {
            set(spec, pointer, value.clone())
        })
    };
    (apply(desired_spec(), desired), apply(live_spec(), live))
}

/// Loads a gitops manifest for `db/pg1` (or the name `metadata` gives) through the real
/// loader, so lines are real.
pub fn manifest_with(spec: Value, metadata: Value) -> Manifest {
    let mut meta = json!({"name": "pg1", "namespace": "db"});
    meta.as_object_mut()
        .unwrap()
        .extend(metadata.as_object().cloned().unwrap_or_default());
    let document = json!({"apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres", "metadata": meta, "spec": spec});
    let text = crate::yaml::to_string(&document);
    let mut set = ManifestSet::default();
    load_text(
        Path::new("dbs/pg1.yaml"),
        Arc::from(text),
        &LoadOptions::default(),
        &mut set,
    );
    assert_eq!(set.errors, vec![], "fixture manifest must be valid");
    std::sync::Arc::unwrap_or_clone(set.manifests.remove(0))
}

pub fn manifest(spec: Value) -> Manifest {
    manifest_with(spec, json!({}))
}

pub fn live_with(spec: Value, annotations: Value) -> KubedbPostgres {
    serde_json::from_value(json!({
        "apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": {"name": "pg1", "namespace": "db", "annotations": annotations},
        "spec": spec,
        "status": {"phase": "Ready"}
    }))
    .unwrap()
}

pub fn live(spec: Value) -> KubedbPostgres {
    live_with(spec, json!({}))
}

/// A live database whose last-applied record says `recorded` was declared.
pub fn live_recorded(spec: Value, recorded: Value) -> KubedbPostgres {
    let record = json!({"spec": recorded}).to_string();
    live_with(
        spec,
        json!({crate::models::LAST_APPLIED_ANNOTATION: record}),
    )
}

pub fn ops_request(name: &str, kind: &str, phase: &str) -> PostgresOpsRequest {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "db", "creationTimestamp": "2026-11-01T00:00:00Z"},
        "spec": {"type": kind, "databaseRef": {"name": "pg1"}},
        "status": {"phase": phase, "conditions": [{"type": "Failed", "status": "True", "reason": "Failed", "message": "volume is stuck"}]}
    }))
    .unwrap()
}

pub fn plan(manifest: &Manifest, live: Option<&KubedbPostgres>) -> DatabasePlan {
    plan_with_ops(manifest, live, &[])
}

/// Plans with the database's OpsRequests (open or finished) given.
pub fn plan_with_ops(
    manifest: &Manifest,
    live: Option<&KubedbPostgres>,
    ops: &[&PostgresOpsRequest],
) -> DatabasePlan {
    let plan = plan_database(manifest, live, ops, None, &described(), Some("rev1"));
    strict::assert_fits_crds(&plan, live);
    plan
}

/// The name of the OpsRequest of the step at `index`.
pub fn ops_name(plan: &DatabasePlan, index: usize) -> String {
    plan.steps[index]
        .ops_request()
        .and_then(|o| o.metadata.name.clone())
        .expect("an OpsRequest step with a name")
}

pub fn plan_with_catalog(
    manifest: &Manifest,
    live: Option<&KubedbPostgres>,
    catalog: &Catalog,
) -> DatabasePlan {
    let plan = plan_database(
        manifest,
        live,
        &[],
        Some(catalog),
        &described(),
        Some("rev1"),
    );
    strict::assert_fits_crds(&plan, live);
    plan
}

/// What a step carries, as the JSON output shows it: the object a Provision creates, the
/// merge patch of a Patch, or the OpsRequest.
pub fn body(step: &Step) -> Value {
    serde_json::to_value(step).unwrap()[match step {
        Step::OpsRequest { .. } => "opsRequest",
        Step::Provision(_) | Step::Patch(_) => "patch",
    }]
    .clone()
}

/// Settings that fill `before` and `after` too (the text diff), so tests can read them.
pub fn described() -> PlanSettings {
    PlanSettings {
        describe: true,
        ..PlanSettings::default()
    }
}

/// Plans a whole snapshot, and checks every object it emits against the CRDs.
pub fn plan_report(set: &ManifestSet, live: &LiveState) -> PlanReport {
    let report = plan_all(set, live, &described(), None);
    for plan in &report.databases {
        let key = (plan.namespace.clone(), plan.name.clone());
        let database = (live.databases.get(&key)).and_then(|cached| cached.expand().ok());
        strict::assert_fits_crds(plan, database.as_ref());
    }
    report
}

pub fn types(plan: &DatabasePlan) -> Vec<StepType> {
    plan.steps.iter().map(|s| s.step_type()).collect()
}

/// The spec of the OpsRequest of the step at `index`.
pub fn ops_spec(plan: &DatabasePlan, index: usize) -> Value {
    json!(
        plan.steps[index]
            .ops_request()
            .expect("an OpsRequest step")
            .spec
    )
}

pub fn version(name: &str, semver: &str, extra: Value) -> PostgresVersion {
    let mut spec = json!({"version": semver, "distribution": "Official", "db": {"image": "postgres", "baseOS": "bookworm"}});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    serde_json::from_value(
        json!({"apiVersion": "catalog.kubedb.com/v1alpha1", "kind": "PostgresVersion",
        "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

pub fn catalog() -> Catalog {
    Catalog::new([
        version("15.8", "15.8", json!({})),
        version(
            "16.4",
            "16.4",
            json!({"updateConstraints": {"allowlist": [">= 16.4, < 18"], "denylist": ["17.0"]}}),
        ),
        version("17.0", "17.0", json!({})),
        version("17.2", "17.2", json!({})),
        version(
            "17.2-timescale",
            "17.2",
            json!({"distribution": "TimescaleDB"}),
        ),
        version("18.1", "18.1", json!({})),
        version("16.9-old", "16.9", json!({"deprecated": true})),
    ])
}

/// Asserts an OpsRequest's spec fits the real `ops.kubedb.com` CRD schema.
pub fn assert_fits_ops_schema(request: &PostgresOpsRequest) {
    strict::assert_fits_ops_crd(request);
}
