//! One reconcile of one database: plan from the caches (pure), hold the first step if change
//! control says so, execute it, report. Nothing is kept between reconciles but the caches,
//! the failure counts, the expectations and the fleet budget's slots.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use tracing::{debug, info, instrument, warn};

use super::budget::Want;
use super::expectations::{Expected, Seen};
use super::owners;
use super::report::{publish_step, write_status};
use super::standings::Change;
use super::standings::{Holds, Standings};
use super::{BACKOFF, Context, ReconcileError, kubedb_gitops};
use crate::execute::{Executed, execute, write_bookkeeping};
use crate::gate::{self, Hold, Subject};
use crate::manifest::Manifest;
use crate::metrics::{Metrics, Outcome};
use crate::models::{
    CachedGitops, GitopsPostgres, PostgresOpsRequest, REVISION_ANNOTATION, SUSPEND_ANNOTATION,
};
use crate::ownership::{self, Verdict};
use crate::plan::{DatabasePlan, Step, plan_database};
use crate::status::Standing;

#[instrument(skip(object, ctx), fields(namespace = object.namespace().unwrap_or_default(), name = object.name_any()))]
pub(super) async fn reconcile(
    object: Arc<CachedGitops>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let started = std::time::Instant::now();
    let result = reconcile_inner(&object, &ctx).await;
    let outcome = if result.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Error
    };
    ctx.metrics.record_reconcile(outcome, started.elapsed());
    result
}

async fn reconcile_inner(
    cached: &Arc<CachedGitops>,
    ctx: &Arc<Context>,
) -> Result<Action, ReconcileError> {
    if !(ctx.is_leader)() {
        // Standbys keep their caches warm and write nothing; gaining the lease re-runs all.
        return Ok(Action::await_change());
    }
    let namespace = cached.namespace().unwrap_or_default();
    let name = cached.name_any();
    let key = ObjectRef::from_obj(&**cached);
    // The cache keeps the object compact; this reconcile reads it whole.
    let object = &Arc::new(cached.expand().map_err(|source| ReconcileError::Cached {
        name: format!("{namespace}/{name}"),
        source,
    })?);
    let live = (ctx.databases.get(&ObjectRef::new(&name).within(&namespace)))
        .map(|cached| cached.expand())
        .transpose()
        .map_err(|source| ReconcileError::Cached {
            name: format!("{namespace}/{name}"),
            source,
        })?;
    let ops: Vec<Arc<PostgresOpsRequest>> = ctx.ops_index.of(&ctx.ops_requests, &namespace, &name);
    let ops_refs: Vec<&PostgresOpsRequest> = ops.iter().map(AsRef::as_ref).collect();
    let live_version = live
        .as_ref()
        .and_then(|db| db.metadata.resource_version.clone());
    let ops_names: Vec<&str> = ops_refs
        .iter()
        .filter_map(|o| o.metadata.name.as_deref())
        .collect();
    let seen = Seen {
        database_version: live_version.as_deref(),
        database_exists: live.is_some(),
        ops_request_names: &ops_names,
    };
    if !ctx.expectations.lock().expect("expectations").allows(
        &key,
        &seen,
        std::time::Instant::now(),
    ) {
        // The watch event that brings our write reconciles it; the requeue is a fallback.
        debug!("the caches do not show this database's last write yet; waiting for them");
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let catalog = ctx.catalogs.current();
    let annotation = |key: &str| object.annotations().get(key).cloned();
    let suspended =
        ctx.settings.suspend_all || annotation(SUSPEND_ANNOTATION).as_deref() == Some("true");
    let revision = annotation(REVISION_ANNOTATION);
    let verdict = ctx.owners.verdict(object, live.as_ref());
    match (&verdict, live.as_ref()) {
        (Verdict::Leave(refusal), _) => return Ok(owners::leave(ctx, object, refusal).await),
        (Verdict::Adopt, Some(live)) => {
            let adopted = owners::adopt(&ctx.client, live, &ctx.owners.id)
                .await
                .map_err(|source| ReconcileError::Adopt {
                    name: name.clone(),
                    source,
                })?;
            if !adopted {
                // Changed since the cache saw it, perhaps adopted by another instance: look
                // again once the cache has caught up.
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            info!(owner = %ctx.owners.id, "adopted the kubedb.com Postgres: it had no owner");
        }
        _ => {}
    }
    owners::settle(ctx, &key);
    kubedb_gitops::announce(ctx, object).await;

    let manifest = Manifest::from_object(object, &format!("{namespace}/{name}"));
    let mut plan = plan_database(
        &manifest,
        live.as_ref(),
        &ops_refs,
        catalog.as_deref(),
        &ctx.settings.plan,
        revision.as_deref(),
    );
    if let Verdict::Stall(refusal) = &verdict {
        owners::stall(&mut plan, &manifest, refusal, &ctx.owners.id);
    }
    for step in &mut plan.steps {
        ownership::stamp(step, &ctx.owners.id);
    }

    let may_write = !suspended && plan.errors.is_empty() && plan.waiting_for.is_none();
    if may_write
        && plan.steps.is_empty()
        && let Some(patch) = &plan.bookkeeping
    {
        // The record (and markers) once no step is left: no event, no step, no metric.
        let version = write_bookkeeping(&ctx.client, &namespace, &name, patch).await?;
        expect_change(ctx, &key, live_version.as_deref(), version);
        info!("brought pg-gitops' own annotations on the database up to date");
    }
    // Change control holds the first step, or lets it through to the fleet budget.
    let now = jiff::Timestamp::now();
    if may_write && let Some(step) = plan.steps.first() {
        plan.hold = gate::hold(&ctx.settings.change_control, &subject(object), step, now);
    }
    admit(ctx, object, &key, &mut plan, may_write);
    // An OpsRequest waits for a turn; the database is reconciled again when one is due.
    let mut next_turn = None;
    if may_write
        && plan.hold.is_none()
        && let Some(Step::OpsRequest { .. }) = plan.steps.first()
        && let Err(wait) = ctx.pacing.take()
    {
        plan.waiting_reason = Some(ctx.pacing.waiting_reason());
        next_turn = Some(wait);
    }
    // Whether this reconcile's write will come back through a watch and reconcile the
    // database again.
    let mut awaiting_cache = false;
    if may_write
        && next_turn.is_none()
        && plan.hold.is_none()
        && let Some(step) = plan.steps.first()
    {
        let executed = execute(&ctx.client, &namespace, &name, step).await?;
        info!(step = ?step.step_type(), ?executed, "executed the first step");
        awaiting_cache = match &executed {
            Executed::Provisioned => expect(ctx, &key, Expected::Database),
            Executed::Patched { resource_version } => {
                expect_change(ctx, &key, live_version.as_deref(), resource_version.clone())
            }
            Executed::Created { name } | Executed::AlreadyExists { name } => match step {
                Step::OpsRequest { .. } => expect(ctx, &key, Expected::OpsRequest(name.clone())),
                _ => expect(ctx, &key, Expected::Database),
            },
        };
        ctx.metrics.record_step_executed(step.step_type());
        if let (Executed::Created { .. }, Step::OpsRequest { kind, .. }) = (&executed, step) {
            ctx.metrics.record_ops_request_created(*kind);
        }
        publish_step(ctx, object, &plan, &executed).await;
    }
    // After a write the status is left to the reconcile that the write's watch event brings:
    // written now, it would describe the step just executed as still to do, and be replaced
    // a moment later (one status write per step saved; at fleet size, the largest share of
    // the start's writes). If that event never comes, the expectation lapses and the requeue
    // below writes it.
    if !awaiting_cache {
        write_status(ctx, object, &plan, &ops_refs, live.as_ref(), suspended).await?;
    }
    ctx.failures.lock().expect("failure counts").remove(&key);
    count_hold(ctx, key.clone(), plan.hold.as_ref());
    count_standing(ctx, key, Standing::of(&plan, suspended));
    ctx.settings
        .notify
        .observe_reconcile(object, &plan, suspended, live.as_ref());
    // A window opens at a known time: be there when it does (the resync is the longest wait).
    let window_opens = match &plan.hold {
        Some(Hold::OutsideWindow { opens, .. }) => {
            Some(Duration::try_from(now.duration_until(*opens)).unwrap_or_default())
        }
        _ => None,
    };
    let lapse = awaiting_cache.then_some(super::expectations::PATIENCE);
    let wait = next_turn
        .or(window_opens.map(|w| w.min(ctx.settings.resync)))
        .or(lapse)
        .unwrap_or(ctx.settings.resync);
    Ok(Action::requeue(wait))
}

fn subject(object: &GitopsPostgres) -> Subject<'_> {
    Subject {
        annotations: object.annotations(),
        labels: object.labels(),
    }
}

/// Tells the fleet budget what this database needs, and holds its first step when its group
/// has no slot for it.
fn admit(
    ctx: &Context,
    object: &GitopsPostgres,
    key: &ObjectRef<CachedGitops>,
    plan: &mut DatabasePlan,
    may_write: bool,
) {
    let Some(budget) = &ctx.budget else {
        return;
    };
    budget.seed(|| in_flight(ctx, budget));
    let want = if plan.waiting_for.is_some() {
        Want::InFlight
    } else if may_write
        && plan.hold.is_none()
        && matches!(plan.steps.first(), Some(Step::OpsRequest { .. }))
    {
        Want::Start
    } else {
        Want::Nothing
    };
    if let Err(hold) = budget.admit(key, budget.group_of(&object.metadata), want) {
        plan.hold = Some(hold);
    }
}

/// The databases with an open OpsRequest now, from the caches: the budget's first count.
fn in_flight(
    ctx: &Context,
    budget: &super::budget::FleetBudget,
) -> Vec<(ObjectRef<CachedGitops>, super::budget::Group)> {
    let mut databases = std::collections::HashSet::new();
    for request in ctx.ops_requests.state() {
        if let (Some(namespace), Some(database)) = (
            request.metadata.namespace.as_deref(),
            request.database_name(),
        ) && request.phase().is_open()
        {
            databases.insert(ObjectRef::<CachedGitops>::new(database).within(namespace));
        }
    }
    databases
        .into_iter()
        .map(|key| {
            let group = ctx
                .gitops
                .get(&key)
                .map(|object| budget.group_of(&object.metadata))
                .unwrap_or_else(|| budget.group_of(&Default::default()));
            (key, group)
        })
        .collect()
}

/// Keeps the `databases_held{reason}` gauge equal to the holds last computed.
fn count_hold(ctx: &Context, key: ObjectRef<CachedGitops>, hold: Option<&Hold>) {
    let mut holds = ctx.holds.lock().expect("holds");
    if let Change::Changed { .. } = holds.set_or_forget(key, hold.map(Hold::kind)) {
        publish_holds(&ctx.metrics, &holds);
    }
}

pub(super) fn publish_holds(metrics: &Metrics, holds: &Holds) {
    for kind in crate::gate::HoldKind::ALL {
        metrics.set_databases_held(kind, holds.count(kind));
    }
}

/// Records what the caches must show before the database is planned again; always true (the
/// write will be seen).
fn expect(ctx: &Context, key: &ObjectRef<CachedGitops>, expected: Expected) -> bool {
    ctx.expectations
        .lock()
        .expect("expectations")
        .expect(key.clone(), expected);
    true
}

/// After a patch of the database: wait for the cache to move past the version it had, unless
/// the patch changed nothing (the version stayed); whether it waits.
fn expect_change(
    ctx: &Context,
    key: &ObjectRef<CachedGitops>,
    before: Option<&str>,
    after: Option<String>,
) -> bool {
    match (before, after) {
        (Some(before), Some(after)) if before != after => {
            expect(ctx, key, Expected::DatabaseChangedFrom(before.to_owned()))
        }
        _ => false,
    }
}

/// Keeps the `databases{state}` gauge equal to the standings last computed.
fn count_standing(ctx: &Context, key: ObjectRef<CachedGitops>, standing: Standing) {
    let mut standings = ctx.standings.lock().expect("standings");
    let (namespace, name) = (key.namespace.clone().unwrap_or_default(), key.name.clone());
    if let Change::Changed { previous } = standings.set(key, standing) {
        ctx.metrics
            .set_database_standing(&namespace, &name, previous, Some(standing));
        publish_standings(&ctx.metrics, &standings);
    }
}

pub(super) fn publish_standings(metrics: &Metrics, standings: &Standings) {
    for which in Standing::ALL {
        metrics.set_databases(which, standings.count(which));
    }
}

/// Growing per-object backoff: 1 s, 2 s, 4 s ... capped at 5 min (plus jitter), reset by a
/// success.
pub(super) fn error_policy(
    object: Arc<CachedGitops>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let mut failures = ctx.failures.lock().expect("failure counts");
    let count = failures.entry(ObjectRef::from_obj(&*object)).or_insert(0);
    *count = count.saturating_add(1);
    let delay = BACKOFF.jittered(*count);
    warn!(%error, failures = *count, retry_in = ?delay, "reconcile failed; backing off");
    Action::requeue(delay)
}
