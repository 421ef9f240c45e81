//! The reconciler's side of ownership ([`crate::ownership`]): the verdict for each database,
//! adopting a database nobody owns, the status of one we may not drive, and the Event for one
//! we leave to another instance (once per object and owner, not per reconcile).

use std::collections::HashMap;
use std::sync::Mutex;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::warn;

use super::report::publish;
use super::{Context, publish_standings};

use crate::execute::FIELD_MANAGER;
use crate::manifest::Manifest;
use crate::models::{CachedGitops, GitopsPostgres, KubedbPostgres, OWNER_LABEL};
use crate::ownership::{self, Refusal, Verdict};
use crate::plan::{DatabasePlan, ErrorKind, PlanError};

/// This instance's owner id and the refusals it announced.
pub(super) struct Owners {
    pub(super) id: String,
    /// Databases left to another instance, with the refusal last announced for each.
    left: Mutex<HashMap<ObjectRef<CachedGitops>, Refusal>>,
}

impl Owners {
    pub(super) fn new(id: String) -> Self {
        Self {
            id,
            left: Mutex::default(),
        }
    }

    /// Whose the gitops object and its database are, and so what this instance may do.
    pub(super) fn verdict(
        &self,
        object: &GitopsPostgres,
        live: Option<&KubedbPostgres>,
    ) -> Verdict {
        let claim = |labels| ownership::claim(labels, &self.id);
        let database = live.map(|live| claim(live.metadata.labels.as_ref()));
        ownership::decide(&claim(object.metadata.labels.as_ref()), database.as_ref())
    }

    /// Records that the database of `key` is left to another instance; true when this is news
    /// (first time, or another owner than announced), so the Event goes out once.
    pub(super) fn leave(&self, key: ObjectRef<CachedGitops>, refusal: &Refusal) -> bool {
        let mut left = self.left.lock().expect("left databases");
        left.insert(key, refusal.clone()).as_ref() != Some(refusal)
    }

    /// The database of `key` is ours again (or gone): a later refusal is news again. True
    /// when it was left before.
    pub(super) fn settle(&self, key: &ObjectRef<CachedGitops>) -> bool {
        self.left
            .lock()
            .expect("left databases")
            .remove(key)
            .is_some()
    }

    /// Keeps only the databases `exists` still knows (after a re-list).
    pub(super) fn retain(&self, exists: impl Fn(&ObjectRef<CachedGitops>) -> bool) {
        self.left
            .lock()
            .expect("left databases")
            .retain(|k, _| exists(k));
    }

    /// How many databases in scope this instance leaves to others.
    pub(super) fn left_count(&self) -> usize {
        self.left.lock().expect("left databases").len()
    }
}

/// Labels `live`, which nobody owns, as `owner`'s, but only as it was read: of two instances
/// adopting it at once one gets a conflict. False when it changed meanwhile (possibly adopted
/// by another instance); the caller looks again once the cache has caught up.
pub(super) async fn adopt(
    client: &Client,
    live: &KubedbPostgres,
    owner: &str,
) -> Result<bool, kube::Error> {
    let api: Api<KubedbPostgres> =
        Api::namespaced(client.clone(), &live.namespace().unwrap_or_default());
    let patch = json!({"metadata": {
        "resourceVersion": live.metadata.resource_version,
        "labels": {OWNER_LABEL: owner},
    }});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    match api
        .patch(&live.name_any(), &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

/// A plan for a database another instance owns while the gitops object is ours: no step, no
/// bookkeeping, and an error that the status shows as `Stalled`, reason `OwnedByAnother`.
pub(super) fn stall(plan: &mut DatabasePlan, manifest: &Manifest, refusal: &Refusal, ours: &str) {
    plan.steps.clear();
    plan.bookkeeping = None;
    plan.waiting_for = None;
    plan.waiting_reason = None;
    plan.errors.insert(
        0,
        PlanError {
            file: manifest.file.display().to_string(),
            line: manifest.line,
            message: refusal.message(ours),
            kind: ErrorKind::OwnedByAnother,
        },
    );
}

/// Leaves the database of `object` to another instance: nothing written but a Warning Event
/// `OwnedByAnother` (once per owner), not counted in this instance's standings; looked at
/// again at the next change or resync (a handover relabels it).
pub(super) async fn leave(ctx: &Context, object: &GitopsPostgres, refusal: &Refusal) -> Action {
    let key = super::cache_key(object);
    if ctx.owners.leave(key.clone(), refusal) {
        warn!(owner = %refusal.owner, "left to another pg-gitops instance");
        let note = format!("not reconciled: {}", refusal.message(&ctx.owners.id));
        let type_ = EventType::Warning;
        publish(
            ctx,
            object,
            type_,
            "OwnedByAnother",
            "Reconcile",
            note,
            None,
        )
        .await;
        ctx.metrics.set_owned_elsewhere(ctx.owners.left_count());
    }
    ctx.failures.lock().expect("failure counts").remove(&key);
    let mut standings = ctx.standings.lock().expect("standings");
    if let Some(was) = standings.forget(&key) {
        let namespace = key.namespace.as_deref().unwrap_or_default();
        ctx.metrics
            .set_database_standing(namespace, &key.name, Some(was), None);
        publish_standings(&ctx.metrics, &standings);
    }
    Action::requeue(ctx.settings.resync)
}

/// The database of `key` is this instance's to reconcile (again).
pub(super) fn settle(ctx: &Context, key: &ObjectRef<CachedGitops>) {
    if ctx.owners.settle(key) {
        ctx.metrics.set_owned_elsewhere(ctx.owners.left_count());
    }
}
