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
mod catalog;
mod expectations;
mod kubedb_gitops;
mod listed;
mod ops_index;
mod owners;
mod pacing;
mod reconcile;
mod report;
mod standings;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::api::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::{info, warn};

use crate::api_health::ApiHealth;
use crate::backoff::Backoff;
use crate::config::{Config, FleetBudgetConfig};
use crate::events;
use crate::execute::ExecuteError;
use crate::gate::ChangeControl;
use crate::metrics::Metrics;
use crate::models::{
    CachedDatabase, CachedGitops, GitopsPostgres, PostgresOpsRequest, PostgresVersion,
};
use crate::notify::Notifier;
use crate::plan::PlanSettings;
use crate::status::Standing;

pub use broken::BrokenManifests;
use budget::FleetBudget;
use caches::strip_unread;
pub use caches::{CacheWriters, Caches, caches};
use catalog::Catalogs;
use expectations::Expectations;
use kubedb_gitops::{Sightings, Written};
use listed::Listed;
use ops_index::OpsIndex;
use owners::Owners;
use pacing::Pacing;
use reconcile::{error_policy, publish_holds, publish_standings, reconcile};
use standings::{Holds, Standings};

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
    /// Approvals and maintenance windows (config `[approval]`, `[maintenance]`).
    pub change_control: ChangeControl,
    /// OpsRequests in flight at once, at most (config `reconcile.max_parallel_ops`).
    pub fleet_budget: Option<FleetBudgetConfig>,
    /// Databases reconciled at once (config `reconcile.concurrency`).
    pub concurrency: u16,
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
            change_control: config.change_control(),
            fleet_budget: config.fleet_budget(),
            concurrency: config.reconcile.concurrency.get(),
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
    /// Never seen: the cache's text of an object did not read back (see `models::Cached`).
    #[error("reading the cached Postgres objects of {name}: {source}")]
    Cached {
        name: String,
        source: serde_json::Error,
    },
}

/// What every reconcile shares.
pub struct Context {
    client: Client,
    gitops: Store<CachedGitops>,
    databases: Store<CachedDatabase>,
    ops_requests: Store<PostgresOpsRequest>,
    /// The OpsRequests of each database, so a reconcile reads only its own.
    ops_index: OpsIndex,
    /// The version catalog, built once per change of its cache.
    catalogs: Catalogs,
    settings: ReconcilerSettings,
    is_leader: Arc<dyn Fn() -> bool + Send + Sync>,
    recorder: events::EventRecorder,
    /// Failed reconciles in a row per database, for its backoff.
    failures: Arc<Mutex<HashMap<ObjectRef<CachedGitops>, u32>>>,
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
    /// Slots for OpsRequests in flight, when `reconcile.max_parallel_ops` is set.
    budget: Option<Arc<FleetBudget>>,
    /// What change control holds each database for, for the `databases_held` gauge.
    holds: Arc<Mutex<Holds>>,
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
        Api<CachedGitops>,
        Api<CachedDatabase>,
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
    let listed = Listed::new(gitops.clone());
    let standings = Arc::new(Mutex::new(Standings::new(listed.clone())));
    let failures = Arc::new(Mutex::new(HashMap::new()));
    let expectations = Arc::new(Mutex::new(Expectations::default()));
    let owners = Arc::new(Owners::new(settings.owner.clone()));
    let sightings = Sightings::default();
    let holds = Arc::new(Mutex::new(Holds::new(listed.clone())));
    let (budget, budget_wakes) = match &settings.fleet_budget {
        Some(config) => {
            let (budget, wakes) =
                FleetBudget::new(config.max_parallel_ops, config.per_label.clone(), listed);
            (Some(Arc::new(budget)), Some(wakes))
        }
        None => (None, None),
    };
    // Reconciles never see a deletion (applied objects only): forget a deleted database here,
    // and after a re-list every database no longer listed.
    let forget = {
        let (holds, budget) = (holds.clone(), budget.clone());
        let (standings, failures, expectations, metrics, listed, owners, notify) = (
            standings.clone(),
            failures.clone(),
            expectations.clone(),
            metrics.clone(),
            gitops.clone(),
            owners.clone(),
            settings.notify.clone(),
        );
        move |deleted: Option<&CachedGitops>| {
            let mut standings = standings.lock().expect("standings");
            let mut holds = holds.lock().expect("holds");
            let mut failures = failures.lock().expect("failure counts");
            let mut expectations = expectations.lock().expect("expectations");
            // Every book forgets the database, whether or not a standing was recorded yet
            // (a reconcile may have held it or taken a budget slot first).
            let gone: Vec<(ObjectRef<CachedGitops>, Option<Standing>)> = match deleted {
                Some(object) => {
                    let key = ObjectRef::from_obj(object);
                    failures.remove(&key);
                    expectations.forget(&key);
                    owners.settle(&key);
                    let was = standings.forget(&key);
                    vec![(key, was)]
                }
                None => {
                    failures.retain(|key, _| listed.get(key).is_some());
                    expectations.retain(|key| listed.get(key).is_some());
                    owners.retain(|key| listed.get(key).is_some());
                    let mut gone: HashMap<_, _> = (holds.retain_listed().into_iter())
                        .map(|(key, _)| (key, None))
                        .collect();
                    gone.extend(
                        (standings.retain_listed().into_iter()).map(|(key, was)| (key, Some(was))),
                    );
                    gone.into_iter().collect()
                }
            };
            for (key, was) in &gone {
                holds.forget(key);
                if let Some(budget) = &budget {
                    budget.forget(key);
                }
                let namespace = key.namespace.as_deref().unwrap_or_default();
                if let Some(was) = was {
                    metrics.set_database_standing(namespace, &key.name, Some(*was), None);
                }
                notify.forget(namespace, &key.name);
            }
            if gone.iter().any(|(_, was)| was.is_some()) {
                publish_standings(&metrics, &standings);
            }
            publish_holds(&metrics, &holds);
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
    let ops_index = OpsIndex::default();
    let ops_events = reflector::reflector(
        ops_writer,
        watcher(ops_api, config.clone()).modify(strip_unread),
    )
    .inspect(observed_by(&api))
    .inspect({
        let index = ops_index.clone();
        move |event| {
            if let Ok(event) = event {
                index.observe(event);
            }
        }
    })
    .backoff(api.watch_backoff())
    .touched_objects();
    // The catalog only informs the version check; it never triggers a reconcile.
    let catalogs = Catalogs::new(versions);
    let version_events = reflector::reflector(
        versions_writer,
        watcher(Api::<PostgresVersion>::all(client.clone()), config.clone()).modify(strip_unread),
    )
    .inspect(observed_by(&api))
    .inspect({
        let catalogs = catalogs.clone();
        // Every event, a re-list's end included (the cache swaps its contents then).
        move |event| {
            if event.is_ok() {
                catalogs.changed();
            }
        }
    })
    .backoff(api.watch_backoff());
    tokio::spawn(version_events.for_each(|_| async {}));

    let (failures_after_outage, expectations_after_outage) =
        (failures.clone(), expectations.clone());
    tokio::spawn(crate::api_health::probe(client.clone(), api.clone()));
    let recorder = events::recorder(client.clone(), &settings.instance);
    let settings_concurrency = settings.concurrency;
    let pacing = Pacing::new(settings.max_ops_requests_per_second);
    let context = Arc::new(Context {
        client,
        databases: databases.clone(),
        ops_requests: ops_requests.clone(),
        ops_index,
        catalogs,
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
        budget,
        holds,
        gitops: gitops.clone(),
    });
    // Our own reflector for the main kind too, so readiness waits on caches we can observe.
    let controller = Controller::for_stream(gitops_events, gitops.clone())
        .with_config(ControllerConfig::default().concurrency(settings_concurrency))
        .watches_stream(database_events, |db: CachedDatabase| same_name(&db))
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
        // A slot of the fleet budget freed: the next waiting database in order.
        .reconcile_on(
            budget_wakes.map_or_else(|| futures::stream::pending().boxed(), StreamExt::boxed),
        )
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

/// The key of a gitops object (read whole) in the controller's cache, which keeps it compact.
pub(super) fn cache_key(object: &GitopsPostgres) -> ObjectRef<CachedGitops> {
    ObjectRef::new(&object.name_any()).within(&object.namespace().unwrap_or_default())
}

/// The gitops object of a `kubedb.com` Postgres has the same namespace and name.
fn same_name(database: &CachedDatabase) -> Option<ObjectRef<CachedGitops>> {
    Some(ObjectRef::new(&database.name_any()).within(&database.namespace()?))
}

#[cfg(test)]
mod tests;
