//! The reconcile stage: a kube-runtime Controller on gitops Postgres objects that also watches
//! `kubedb.com` Postgres and PostgresOpsRequests through reflector caches (no polling GETs).
//!
//! Each reconcile: plan from the caches (pure) → execute only the first step (client
//! required) → write status if it changed (client required) → wait for the next event.
//! Nothing is kept in memory between reconciles except the caches and a failure count for
//! backoff; a restarted process continues where the cluster says it is.

mod broken;
mod budget;
mod caches;
mod expectations;
mod kubedb_gitops;
mod owners;
mod pacing;
mod report;
mod standings;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::api::Api;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::{debug, info, instrument, warn};

use crate::api_health::ApiHealth;
use crate::backoff::Backoff;
use crate::config::Config;
use crate::events;
use crate::execute::{ExecuteError, Executed, execute, write_bookkeeping};
use crate::manifest::Manifest;
use crate::metrics::{Metrics, Outcome};
use crate::models::{
    GitopsPostgres, KubedbPostgres, PostgresOpsRequest, PostgresVersion, REVISION_ANNOTATION,
    SUSPEND_ANNOTATION,
};
use crate::notify::Notifier;
use crate::ownership::{self, Verdict};
use crate::plan::{Catalog, PlanSettings, Step, plan_database};
use crate::status::Standing;

pub use broken::BrokenManifests;
use caches::strip_unread;
pub use caches::{CacheWriters, Caches, caches};
use expectations::{Expectations, Expected, Seen};
use kubedb_gitops::{Sightings, Written};
use owners::Owners;
use pacing::Pacing;
use report::{publish_step, write_status};
use standings::{Change, Standings};

/// Settings of the reconcile stage.
#[derive(Debug, Clone)]
pub struct ReconcilerSettings {
    pub plan: PlanSettings,
    /// Suspend every database (config `reconcile.suspend`).
    pub suspend_all: bool,
    /// Watch one namespace only; `None` watches all.
    pub namespace: Option<String>,
    /// Safety-net recompute interval; writes happen only if something changed.
    pub resync: Duration,
    /// Name of this replica in events.
    pub instance: String,
    /// This instance's owner id (`reconcile.owner`): the databases it may drive.
    pub owner: String,
    /// OpsRequests created per second across the fleet, at most.
    pub max_ops_requests_per_second: NonZeroU32,
    /// Told each standing computed (config `[notify]`; set by the service).
    pub notify: Notifier,
}

impl ReconcilerSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            plan: PlanSettings::from_config(config),
            suspend_all: config.reconcile.suspend,
            namespace: config.reconcile.namespace.clone(),
            resync: config.reconcile.resync_interval.0,
            instance: config.reconcile.instance_name(),
            owner: config.owner(),
            max_ops_requests_per_second: config.reconcile.max_ops_requests_per_second,
            notify: Notifier::default(),
        }
    }
}

/// Whether this replica may write, and when it became the writer.
pub struct LeaderHooks {
    pub is_leader: Arc<dyn Fn() -> bool + Send + Sync>,
    pub gained: futures::stream::BoxStream<'static, ()>,
}

/// Errors of one reconcile; they back off and retry, growing per object.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    #[error("writing the status of {name}: {source}")]
    Status { name: String, source: kube::Error },
    #[error("adopting the kubedb.com Postgres {name}: {source}")]
    Adopt { name: String, source: kube::Error },
}

/// What every reconcile shares.
pub struct Context {
    client: Client,
    databases: Store<KubedbPostgres>,
    ops_requests: Store<PostgresOpsRequest>,
    versions: Store<PostgresVersion>,
    settings: ReconcilerSettings,
    is_leader: Arc<dyn Fn() -> bool + Send + Sync>,
    recorder: Recorder,
    /// Failed reconciles in a row per database, for its backoff.
    failures: Arc<Mutex<HashMap<ObjectRef<GitopsPostgres>, u32>>>,
    metrics: Metrics,
    standings: Arc<Mutex<Standings>>,
    broken: BrokenManifests,
    /// One bucket of turns to create OpsRequests, shared by every database.
    pacing: Pacing,
    /// Our writes the caches must show before a database is planned again.
    expectations: Arc<Mutex<Expectations>>,
    owners: Arc<Owners>,
    /// Databases KubeDB's own gitops operator was seen writing.
    sightings: Sightings,
}

/// The per-object backoff after a failed reconcile: 1 s, doubled per failure up to
/// [`MAX_BACKOFF`].
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), MAX_BACKOFF);

/// Runs the controller until `shutdown` resolves. `on_ready` is called once the caches are
/// filled, so `/readyz` never answers before the service has seen the cluster.
pub async fn run(
    client: Client,
    settings: ReconcilerSettings,
    leader: LeaderHooks,
    metrics: Metrics,
    caches: (Caches, CacheWriters),
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    on_ready: impl FnOnce() + Send + 'static,
) {
    let scoped = |client: Client| -> (
        Api<GitopsPostgres>,
        Api<KubedbPostgres>,
        Api<PostgresOpsRequest>,
    ) {
        match &settings.namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client, ns),
            ),
            None => (
                Api::all(client.clone()),
                Api::all(client.clone()),
                Api::all(client),
            ),
        }
    };
    // kube-runtime's applier holds its runner until the store is ready, and stops polling the
    // watches once shutdown begins: a shutdown that arrives before the caches filled would
    // wait forever for a readiness that can no longer come. Nothing has been reconciled then,
    // so that shutdown ends the controller at once.
    let shutdown = shutdown.shared();
    let (caches_filled, caches_filled_rx) = tokio::sync::watch::channel(false);
    let before_ready = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.await;
            if *caches_filled_rx.borrow() {
                std::future::pending::<()>().await;
            }
        }
    };
    let (gitops_api, databases_api, ops_api) = scoped(client.clone());
    let config = watcher::Config::default();
    let (
        Caches {
            gitops,
            gitops_listed: mut gitops_listed_rx,
            ops_requests,
            broken,
            api,
        },
        CacheWriters {
            gitops: gitops_writer,
            gitops_listed,
            ops_requests: ops_writer,
        },
    ) = caches;
    let standings = Arc::new(Mutex::new(Standings::default()));
    let failures = Arc::new(Mutex::new(HashMap::new()));
    let expectations = Arc::new(Mutex::new(Expectations::default()));
    let owners = Arc::new(Owners::new(settings.owner.clone()));
    let sightings = Sightings::default();
    // Reconciles never see a deletion (applied objects only): forget a deleted database here,
    // and after a re-list every database no longer listed.
    let forget = {
        let (standings, failures, expectations, metrics, listed, owners, notify) = (
            standings.clone(),
            failures.clone(),
            expectations.clone(),
            metrics.clone(),
            gitops.clone(),
            owners.clone(),
            settings.notify.clone(),
        );
        move |deleted: Option<&GitopsPostgres>| {
            let mut standings = standings.lock().expect("standings");
            let mut failures = failures.lock().expect("failure counts");
            let mut expectations = expectations.lock().expect("expectations");
            let gone: Vec<_> = match deleted {
                Some(object) => {
                    let key = ObjectRef::from_obj(object);
                    failures.remove(&key);
                    expectations.forget(&key);
                    owners.settle(&key);
                    standings
                        .forget(&key)
                        .map(|was| (key, was))
                        .into_iter()
                        .collect()
                }
                None => {
                    failures.retain(|key, _| listed.get(key).is_some());
                    expectations.retain(|key| listed.get(key).is_some());
                    owners.retain(|key| listed.get(key).is_some());
                    standings.retain(|key| listed.get(key).is_some())
                }
            };
            for (key, was) in &gone {
                let namespace = key.namespace.as_deref().unwrap_or_default();
                metrics.set_database_standing(namespace, &key.name, Some(*was), None);
                notify.forget(namespace, &key.name);
            }
            if !gone.is_empty() {
                publish_standings(&metrics, &standings);
            }
            metrics.set_owned_elsewhere(owners.left_count());
        }
    };
    let gitops_events = reflector::reflector(
        gitops_writer,
        watcher(gitops_api, config.clone()).modify(sightings.inspect_then_strip(Written::Gitops)),
    )
    .inspect({
        let api = api.clone();
        move |event| {
            api.observe_watch(event);
            match event {
                Ok(watcher::Event::InitDone) => {
                    forget(None);
                    let _ = gitops_listed.send(true);
                }
                Ok(watcher::Event::Delete(object)) => forget(Some(object)),
                Err(error) => warn!(%error, "watching gitops Postgres objects"),
                _ => {}
            }
        }
    })
    .backoff(api.watch_backoff())
    .applied_objects();
    let (databases, databases_writer) = reflector::store();
    let (versions, versions_writer) = reflector::store();
    let database_events = reflector::reflector(
        databases_writer,
        watcher(databases_api, config.clone())
            .modify(sightings.inspect_then_strip(Written::Database)),
    )
    .inspect(observed_by(&api))
    .backoff(api.watch_backoff())
    .touched_objects();
    let ops_events = reflector::reflector(
        ops_writer,
        watcher(ops_api, config.clone()).modify(strip_unread),
    )
    .inspect(observed_by(&api))
    .backoff(api.watch_backoff())
    .touched_objects();
    // The catalog only informs the version check; it never triggers a reconcile.
    let version_events = reflector::reflector(
        versions_writer,
        watcher(Api::<PostgresVersion>::all(client.clone()), config.clone()).modify(strip_unread),
    )
    .inspect(observed_by(&api))
    .backoff(api.watch_backoff())
    .touched_objects();
    tokio::spawn(version_events.for_each(|_| async {}));

    let (failures_after_outage, expectations_after_outage) =
        (failures.clone(), expectations.clone());
    tokio::spawn(crate::api_health::probe(client.clone(), api.clone()));
    let recorder = events::recorder(client.clone(), &settings.instance);
    let pacing = Pacing::new(settings.max_ops_requests_per_second);
    let context = Arc::new(Context {
        client,
        databases: databases.clone(),
        ops_requests: ops_requests.clone(),
        versions,
        settings,
        is_leader: leader.is_leader,
        recorder,
        failures,
        metrics,
        standings,
        broken: broken.clone(),
        pacing,
        expectations,
        owners,
        sightings,
    });
    // Our own reflector for the main kind too, so readiness waits on caches we can observe.
    let controller = Controller::for_stream(gitops_events, gitops.clone())
        .with_config(ControllerConfig::default().concurrency(4))
        .watches_stream(database_events, |db: KubedbPostgres| same_name(&db))
        .watches_stream(ops_events, |ops: PostgresOpsRequest| {
            let namespace = ops.namespace()?;
            Some(ObjectRef::new(ops.database_name()?).within(&namespace))
        })
        .reconcile_all_on(leader.gained)
        // After an outage, at once: the backoffs of reconciles that failed during it would
        // otherwise outlast it by minutes (and the caches were re-listed since our writes).
        .reconcile_all_on(api.returns().map(move |()| {
            failures_after_outage
                .lock()
                .expect("failure counts")
                .clear();
            expectations_after_outage
                .lock()
                .expect("expectations")
                .clear();
        }))
        .reconcile_on(broken.changes())
        .graceful_shutdown_on(shutdown);
    let gitops_store = gitops;
    tokio::spawn(async move {
        let gitops = async {
            let ready = gitops_listed_rx.wait_for(|listed| *listed).await.is_ok();
            info!(
                ready,
                objects = gitops_store.state().len(),
                "gitops Postgres cache filled"
            );
            ready
        };
        let dbs = async {
            let ready = databases.wait_until_ready().await.is_ok();
            info!(ready, "kubedb.com Postgres cache filled");
            ready
        };
        let ops = async {
            let ready = ops_requests.wait_until_ready().await.is_ok();
            info!(ready, "PostgresOpsRequest cache filled");
            ready
        };
        if let (true, true, true) = futures::future::join3(gitops, dbs, ops).await {
            let _ = caches_filled.send(true);
            on_ready();
        }
    });
    let drained = controller
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                warn!(%error, "reconcile failed");
            }
        });
    tokio::select! {
        () = drained => {}
        () = before_ready => info!("shutdown before the caches filled; nothing to drain"),
    }
}

/// Reports each event of a watch to the API's health.
fn observed_by<K>(api: &ApiHealth) -> impl Fn(&Result<watcher::Event<K>, watcher::Error>) + use<K> {
    let api = api.clone();
    move |event| api.observe_watch(event)
}

/// The gitops object of a `kubedb.com` Postgres has the same namespace and name.
fn same_name(database: &KubedbPostgres) -> Option<ObjectRef<GitopsPostgres>> {
    Some(ObjectRef::new(&database.name_any()).within(&database.namespace()?))
}

#[instrument(skip(object, ctx), fields(namespace = object.namespace().unwrap_or_default(), name = object.name_any()))]
async fn reconcile(
    object: Arc<GitopsPostgres>,
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
    object: &Arc<GitopsPostgres>,
    ctx: &Arc<Context>,
) -> Result<Action, ReconcileError> {
    if !(ctx.is_leader)() {
        // Standbys keep their caches warm and write nothing; gaining the lease re-runs all.
        return Ok(Action::await_change());
    }
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let live = ctx.databases.get(&ObjectRef::new(&name).within(&namespace));
    let ops: Vec<Arc<PostgresOpsRequest>> = ctx.ops_requests.state_filter(|o| {
        o.metadata.namespace.as_deref() == Some(namespace.as_str())
            && o.database_name() == Some(name.as_str())
    });
    let ops_refs: Vec<&PostgresOpsRequest> = ops.iter().map(AsRef::as_ref).collect();
    let key = ObjectRef::from_obj(&**object);
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
    let versions: Vec<PostgresVersion> =
        ctx.versions.state().iter().map(|v| (**v).clone()).collect();
    let catalog = (!versions.is_empty()).then(|| Catalog::new(versions));
    let annotation = |key: &str| object.annotations().get(key).cloned();
    let suspended =
        ctx.settings.suspend_all || annotation(SUSPEND_ANNOTATION).as_deref() == Some("true");
    let revision = annotation(REVISION_ANNOTATION);
    let verdict = ctx.owners.verdict(object, live.as_deref());
    match (&verdict, live.as_deref()) {
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

    let mut desired = (**object).clone();
    desired.status = None;
    let manifest = Manifest::from_object(desired, &format!("{namespace}/{name}"));
    let mut plan = plan_database(
        &manifest,
        live.as_deref(),
        &ops_refs,
        catalog.as_ref(),
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
    // An OpsRequest waits for a turn; the database is reconciled again when one is due.
    let mut next_turn = None;
    if may_write
        && let Some(Step::OpsRequest { .. }) = plan.steps.first()
        && let Err(wait) = ctx.pacing.take()
    {
        plan.waiting_reason = Some(ctx.pacing.waiting_reason());
        next_turn = Some(wait);
    }
    if may_write
        && next_turn.is_none()
        && let Some(step) = plan.steps.first()
    {
        let executed = execute(&ctx.client, &namespace, &name, step).await?;
        info!(step = ?step.step_type(), ?executed, "executed the first step");
        match &executed {
            Executed::Provisioned => expect(ctx, &key, Expected::Database),
            Executed::Patched { resource_version } => {
                expect_change(ctx, &key, live_version.as_deref(), resource_version.clone());
            }
            Executed::Created { name } | Executed::AlreadyExists { name } => match step {
                Step::OpsRequest { .. } => expect(ctx, &key, Expected::OpsRequest(name.clone())),
                _ => expect(ctx, &key, Expected::Database),
            },
        }
        ctx.metrics.record_step_executed(step.step_type());
        if let (Executed::Created { .. }, Step::OpsRequest { kind, .. }) = (&executed, step) {
            ctx.metrics.record_ops_request_created(*kind);
        }
        publish_step(ctx, object, &plan, &executed).await;
    }
    write_status(ctx, object, &plan, &ops_refs, live.as_deref(), suspended).await?;
    ctx.failures.lock().expect("failure counts").remove(&key);
    count_standing(ctx, key, Standing::of(&plan, suspended));
    ctx.settings
        .notify
        .observe_reconcile(object, &plan, suspended, live.as_deref());
    Ok(Action::requeue(next_turn.unwrap_or(ctx.settings.resync)))
}

fn expect(ctx: &Context, key: &ObjectRef<GitopsPostgres>, expected: Expected) {
    ctx.expectations
        .lock()
        .expect("expectations")
        .expect(key.clone(), expected);
}

/// After a patch of the database: wait for the cache to move past the version it had, unless
/// the patch changed nothing (the version stayed).
fn expect_change(
    ctx: &Context,
    key: &ObjectRef<GitopsPostgres>,
    before: Option<&str>,
    after: Option<String>,
) {
    if let (Some(before), Some(after)) = (before, after)
        && before != after
    {
        expect(ctx, key, Expected::DatabaseChangedFrom(before.to_owned()));
    }
}

/// Keeps the `databases{state}` gauge equal to the standings last computed.
fn count_standing(ctx: &Context, key: ObjectRef<GitopsPostgres>, standing: Standing) {
    let mut standings = ctx.standings.lock().expect("standings");
    let (namespace, name) = (key.namespace.clone().unwrap_or_default(), key.name.clone());
    if let Change::Changed { previous } = standings.set(key, standing) {
        ctx.metrics
            .set_database_standing(&namespace, &name, previous, Some(standing));
        publish_standings(&ctx.metrics, &standings);
    }
}

fn publish_standings(metrics: &Metrics, standings: &Standings) {
    for which in Standing::ALL {
        metrics.set_databases(which, standings.count(which));
    }
}

/// Growing per-object backoff: 1 s, 2 s, 4 s ... capped at 5 min (plus jitter), reset by a
/// success.
fn error_policy(object: Arc<GitopsPostgres>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let mut failures = ctx.failures.lock().expect("failure counts");
    let count = failures.entry(ObjectRef::from_obj(&*object)).or_insert(0);
    *count = count.saturating_add(1);
    let delay = BACKOFF.jittered(*count);
    warn!(%error, failures = *count, retry_in = ?delay, "reconcile failed; backing off");
    Action::requeue(delay)
}

#[cfg(test)]
mod tests;
