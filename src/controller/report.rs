//! What a reconcile reports back: the status of the gitops object (written only when it
//! differs) and Kubernetes events for executed steps and changes of standing.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::{Context, ReconcileError};
use crate::events::{self, Notice};
use crate::execute::{Executed, FIELD_MANAGER};
use crate::gate::HoldKind;
use crate::models::{GitopsPostgres, GitopsStatus, KubedbPostgres, PostgresOpsRequest};
use crate::plan::DatabasePlan;
use crate::status::{self, Standing, StatusInput};

/// Writes the status when it differs; emits an event when the database changes standing.
pub(super) async fn write_status(
    ctx: &Context,
    object: &GitopsPostgres,
    plan: &DatabasePlan,
    ops: &[&PostgresOpsRequest],
    live: Option<&KubedbPostgres>,
    suspended: bool,
) -> Result<(), ReconcileError> {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let invalid_manifest = ctx.broken.of(&super::cache_key(object));
    let next = status::compute(&StatusInput {
        object,
        plan,
        ops,
        live,
        suspended,
        invalid_manifest: invalid_manifest.as_deref(),
        now: &now,
    });
    if !status::differs(object, &next) {
        return Ok(());
    }
    let name = object.name_any();
    let api: Api<GitopsPostgres> =
        Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch_status(&name, &params, &Patch::Merge(json!({"status": next})))
        .await
        .map_err(|source| ReconcileError::Status {
            name: name.clone(),
            source,
        })?;
    let was_stalled = object.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    });
    announce_hold(ctx, object, plan, &next).await;
    let standing = Standing::of(plan, suspended);
    if standing == Standing::Stalled && !was_stalled {
        let note = plan
            .errors
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        publish(
            ctx,
            object,
            EventType::Warning,
            "Stalled",
            "Reconcile",
            note,
            None,
        )
        .await;
    }
    Ok(())
}

/// An Event when a step starts to wait for a person or a window (not for the fleet budget: a
/// fleet-wide rollout would raise one per waiting database, and its status says it already).
async fn announce_hold(
    ctx: &Context,
    object: &GitopsPostgres,
    plan: &DatabasePlan,
    next: &GitopsStatus,
) {
    let Some(hold) = plan
        .hold
        .as_ref()
        .filter(|h| h.kind() != HoldKind::FleetBudget)
    else {
        return;
    };
    let reconciling = |status: Option<&GitopsStatus>| {
        status
            .into_iter()
            .flat_map(|s| s.conditions.iter())
            .find(|c| c.type_ == "Reconciling")
            .map(|c| (c.reason.clone(), c.message.clone()))
    };
    if reconciling(object.status.as_deref()) == reconciling(Some(next)) {
        return;
    }
    let note = next
        .conditions
        .iter()
        .find(|c| c.type_ == "Reconciling")
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    publish(
        ctx,
        object,
        EventType::Normal,
        hold.reason(),
        "Hold",
        note,
        None,
    )
    .await;
}

pub(super) async fn publish_step(
    ctx: &Context,
    object: &GitopsPostgres,
    plan: &DatabasePlan,
    executed: &Executed,
) {
    let left = plan.steps.len().saturating_sub(1);
    let (reason, note, request) = match executed {
        Executed::Provisioned => (
            "Provisioned",
            "created the kubedb.com Postgres".to_string(),
            None,
        ),
        Executed::Patched { .. } => (
            "Patched",
            "patched fields that need no OpsRequest into the kubedb.com Postgres".to_string(),
            None,
        ),
        Executed::Created { name } => (
            "OpsRequestCreated",
            format!(
                "created {:?} {name}; {left} step(s) after it",
                plan.steps[0].step_type()
            ),
            Some(name),
        ),
        Executed::AlreadyExists { name } => (
            "OpsRequestExists",
            format!("{name} already exists; waiting for it"),
            Some(name),
        ),
    };
    // The OpsRequest is the event's related object. Besides pointing at it, this keeps the
    // events of different requests apart: kube's Recorder folds events with the same reason,
    // action, object and related object into one series and keeps only the first note.
    let related = request.map(|name| ObjectReference {
        api_version: Some("ops.kubedb.com/v1alpha1".into()),
        kind: Some("PostgresOpsRequest".into()),
        name: Some(name.clone()),
        namespace: object.namespace(),
        ..ObjectReference::default()
    });
    publish(
        ctx,
        object,
        EventType::Normal,
        reason,
        "Execute",
        note,
        related,
    )
    .await;
}

pub(super) async fn publish(
    ctx: &Context,
    object: &GitopsPostgres,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
    secondary: Option<ObjectReference>,
) {
    events::publish(
        &ctx.recorder,
        Notice {
            type_,
            reason,
            action,
            note: &note,
            secondary,
        },
        &object.object_ref(&()),
    )
    .await;
}
