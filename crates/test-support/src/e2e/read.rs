//! Reading and waiting on what the service and the simulator wrote: OpsRequests in creation
//! order, gitops objects and their conditions, Events. Re-exported by [`crate::e2e`].

use std::future::Future;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::{Db, PATIENCE};
use crate::kinds::{gitops_api, ops_api};
use crate::sim::Timeline;

pub fn to_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).expect("object as JSON")
}

/// Polls `probe` every 100 ms until it returns `Some`; fails with `what` and the last state
/// `describe` gives after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if tokio::time::Instant::now() > deadline => {
                panic!("{what}: not reached within {PATIENCE:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The OpsRequests of database `db` (`spec.databaseRef.name`), in no particular order: use
/// [`in_creation_order`] for order (creationTimestamps have one-second granularity).
pub async fn ops_of(client: &Client, ns: &str, db: &str) -> Vec<Value> {
    let listed = ops_api(client, ns)
        .list(&ListParams::default())
        .await
        .expect("listing OpsRequests");
    listed
        .items
        .iter()
        .map(to_value)
        .filter(|o| o.pointer("/spec/databaseRef/name") == Some(&json!(db)))
        .collect()
}

/// `ops` ordered by the etcd revision that created them, once the timeline has seen them.
pub async fn in_creation_order(timeline: &Timeline, ops: &[Value]) -> Vec<Value> {
    for o in ops {
        timeline
            .wait_for_version(
                "PostgresOpsRequest",
                &name_of(o),
                crate::sim::revision_of(o),
            )
            .await;
    }
    created_in_order(timeline, ops)
        .into_iter()
        .map(|(_, o)| o)
        .collect()
}

pub fn name_of(object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub fn type_of(ops: &Value) -> String {
    ops["spec"]["type"].as_str().unwrap_or_default().to_string()
}

pub fn phase_of(object: &Value) -> String {
    object
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// `(status, reason, message)` of condition `kind` on a gitops object.
pub fn condition(object: &Value, kind: &str) -> Option<(String, String, String)> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| {
            let text = |key: &str| c[key].as_str().unwrap_or("").to_string();
            (text("status"), text("reason"), text("message"))
        })
}

/// `changeRequestStatus` of the newest `gitOpsInfo` entry.
pub fn change_request_status(object: &Value) -> String {
    object
        .pointer("/status/gitops/gitOpsInfo/0/changeRequestStatus")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Whether the gitops object says, for its current generation: Ready=True, Current, phase Ready.
pub fn is_current(object: &Value) -> bool {
    let generation = object.pointer("/metadata/generation");
    condition(object, "Ready").is_some_and(|(status, _, _)| status == "True")
        && condition(object, "Stalled").is_some_and(|(status, _, _)| status == "False")
        && change_request_status(object) == "Current"
        && phase_of(object) == "Ready"
        && object.pointer("/status/gitops/gitOpsInfo/0/observedGeneration") == generation
        && object.pointer("/status/observedGeneration") == generation
}

/// Waits until the gitops object `name` satisfies `done`; returns it.
pub async fn wait_gitops(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let api = gitops_api(client, ns);
    eventually(&format!("gitops Postgres {name}: {what}"), || async {
        match api.get_opt(name).await {
            Ok(Some(object)) => {
                let value = to_value(&object);
                if done(&value) {
                    Ok(value)
                } else {
                    Err(format!("{:#}", value["status"]))
                }
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Waits until the gitops object of `db` is Current for the generation that declares `db`'s
/// spec (so an earlier Current status does not count).
pub async fn wait_current(client: &Client, ns: &str, db: &Db) -> Value {
    let spec = db.spec();
    wait_gitops(client, ns, &db.name, "Current with the pushed spec", |o| {
        spec_declares(&o["spec"], &spec) && is_current(o)
    })
    .await
}

/// Whether every value of `declared` is in `actual` (objects compared key by key).
pub fn spec_declares(actual: &Value, declared: &Value) -> bool {
    match (actual, declared) {
        (Value::Object(a), Value::Object(d)) => d
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| spec_declares(av, v))),
        (a, d) => a == d,
    }
}

/// Waits until OpsRequest `name` has a terminal phase; returns it.
pub async fn wait_ops_finished(client: &Client, ns: &str, name: &str) -> Value {
    let api = ops_api(client, ns);
    eventually(&format!("OpsRequest {name} finishes"), || async {
        match api.get_opt(name).await {
            Ok(Some(object)) => {
                let value = to_value(&object);
                let phase = phase_of(&value);
                if ["Successful", "Failed", "Skipped", "Denied"].contains(&phase.as_str()) {
                    Ok(value)
                } else {
                    Err(format!("phase {phase:?}"))
                }
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// The OpsRequests of `db` in the timeline, ordered by the etcd revision that created them.
fn created_in_order(timeline: &Timeline, ops: &[Value]) -> Vec<(u64, Value)> {
    let mut created: Vec<(u64, Value)> = ops
        .iter()
        .map(|o| {
            let versions = timeline.versions("PostgresOpsRequest", &name_of(o));
            let first = versions
                .first()
                .unwrap_or_else(|| panic!("the timeline never saw {}", name_of(o)));
            (first.revision, o.clone())
        })
        .collect();
    created.sort_by_key(|(revision, _)| *revision);
    created
}

/// Asserts, on etcd revisions (exact, unlike second-granular timestamps), that each
/// OpsRequest was created only after the previous one had turned Successful, and that their
/// types come in `expected` order. Returns their names in creation order.
pub async fn assert_one_after_another(
    timeline: &Timeline,
    ops: &[Value],
    expected: &[&str],
) -> Vec<String> {
    for o in ops {
        timeline
            .wait_for_version(
                "PostgresOpsRequest",
                &name_of(o),
                crate::sim::revision_of(o),
            )
            .await;
    }
    let created = created_in_order(timeline, ops);
    let types: Vec<String> = created.iter().map(|(_, o)| type_of(o)).collect();
    assert_eq!(types, expected, "OpsRequest types in creation order");
    for pair in created.windows(2) {
        let (_, previous) = &pair[0];
        let (created_at, next) = &pair[1];
        let succeeded_at = timeline.ops_phase_revision(&name_of(previous), "Successful");
        assert!(
            *created_at > succeeded_at,
            "{} was created at revision {created_at}, before {} turned Successful at revision {succeeded_at}",
            name_of(next),
            name_of(previous)
        );
    }
    created.iter().map(|(_, o)| name_of(o)).collect()
}

/// Creates the gitops object of `db` in `ns` with `labels`, as Argo CD or Flux would.
pub async fn create_gitops(client: &Client, ns: &str, db: &Db, labels: Value) {
    let mut object = db.object(ns);
    object["metadata"]["labels"] = labels;
    gitops_api(client, ns)
        .create(
            &kube::api::PostParams::default(),
            &crate::kinds::object(&crate::kinds::gitops_postgres(), object),
        )
        .await
        .unwrap_or_else(|e| panic!("creating {}: {e}", db.name));
}

/// Merge-patches the gitops object of `db` to declare `db`'s spec (a new generation).
pub async fn set_spec(client: &Client, ns: &str, db: &Db) {
    gitops_api(client, ns)
        .patch(
            &db.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": db.spec()})),
        )
        .await
        .unwrap_or_else(|e| panic!("patching {}: {e}", db.name));
}

/// Merge-patches the metadata annotations of an object.
pub async fn annotate(api: &Api<DynamicObject>, name: &str, annotations: Value) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
    )
    .await
    .unwrap_or_else(|e| panic!("annotating {name}: {e}"));
}

/// Reasons of the Events about the gitops object `name`, oldest first.
pub async fn event_reasons(client: &Client, ns: &str, name: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    let mut events: Vec<_> = api
        .list(&ListParams::default())
        .await
        .expect("listing events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    events.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    events.into_iter().filter_map(|e| e.reason).collect()
}

/// (reason, reporting instance, note) of every Event about `name`, each as many times as its
/// series count says it happened.
pub async fn events_about(client: &Client, ns: &str, name: &str) -> Vec<(String, String, String)> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .expect("listing events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .flat_map(|e| {
            let times = e.series.as_ref().map_or(1, |s| s.count) as usize;
            let event = (
                e.reason.unwrap_or_default(),
                e.reporting_instance.unwrap_or_default(),
                e.note.unwrap_or_default(),
            );
            std::iter::repeat_n(event, times)
        })
        .collect()
}

/// The notes of the Events about the gitops object `name` (each as many times as its series
/// count says it happened).
pub async fn event_notes(client: &Client, ns: &str, name: &str) -> Vec<String> {
    events_about(client, ns, name)
        .await
        .into_iter()
        .map(|(_, _, note)| note)
        .collect()
}
