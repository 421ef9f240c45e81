//! Prometheus metrics in one [`prometheus_client`] registry (prefix `pg_gitops`), served as
//! OpenMetrics text by [`metrics_handler`].
//!
//! Every family is typed: callers pass our own enums ([`StepType`], [`OpsRequestType`],
//! [`DeliveryResult`], ...), never free-form strings, so a label value cannot be misspelled and the
//! set of series stays bounded. Label sets that are known up front are created at zero when
//! [`Metrics`] is built, so dashboards and alerts see `0` instead of a missing series.

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::build_info;
use crate::models::OpsRequestType;
use crate::plan::StepType;
use crate::server::DeliveryResult;
use crate::source::SourceStats;
use crate::status::Standing;

mod databases;
mod follow;
mod labels;
mod notifications;

use labels::{
    ALL_STEP_TYPES, BuildInfoLabels, DatabaseLabels, DeliveryLabels, ReasonLabels, ResultLabels,
    RevisionLabels, StateLabels, TypeLabels, delivery_label, standing_label, step_label,
};

/// The content type of the OpenMetrics text exposition format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether one pass of an operation worked (`result="ok"`) or not (`result="error"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
        }
    }
}

/// Reconcile durations run from a cache-only no-op (milliseconds) to an API round trip under
/// load (seconds): 5 ms doubling to ~20 s.
fn reconcile_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Creates the series for `labels` at zero, so it is exposed before its first increment.
fn expose_at_zero<S, M>(family: &Family<S, M>, labels: &S)
where
    S: Clone + Hash + Eq,
    M: Clone + Default,
{
    drop(family.get_or_create(labels));
}

struct Families {
    reconcile_total: Family<ResultLabels, Counter>,
    reconcile_duration_seconds: Histogram,
    git_fetch_duration_seconds: Histogram,
    steps_executed_total: Family<TypeLabels, Counter>,
    ops_requests_created_total: Family<TypeLabels, Counter>,
    databases: Family<StateLabels, Gauge>,
    database_info: Family<DatabaseLabels, Gauge>,
    leader: Gauge,
    kubernetes_api_reachable: Gauge,
    git_fetch_total: Family<ResultLabels, Counter>,
    webhook_deliveries_total: Family<DeliveryLabels, Counter>,
    notifications_total: Family<DeliveryLabels, Counter>,
    snapshot_revision: Family<RevisionLabels, Gauge>,
    git_last_success_timestamp_seconds: Gauge,
    invalid_manifests: Gauge,
    owned_elsewhere: Gauge,
    databases_held: Family<ReasonLabels, Gauge>,
    build_info: Family<BuildInfoLabels, Gauge>,
}

struct Inner {
    registry: Registry,
    families: Families,
    /// The source's counters, read at scrape time (see [`Metrics::observe_source`]).
    source: OnceLock<Arc<SourceStats>>,
}

/// The process's metrics. Cheap to clone (one `Arc`); every clone records into the same
/// registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pg_gitops");
        let families = Families {
            reconcile_total: Family::default(),
            reconcile_duration_seconds: reconcile_duration_histogram(),
            // 50 ms to about 7 min: a local directory reload up to a slow clone at the timeout.
            git_fetch_duration_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            steps_executed_total: Family::default(),
            ops_requests_created_total: Family::default(),
            databases: Family::default(),
            database_info: Family::default(),
            leader: Gauge::default(),
            kubernetes_api_reachable: Gauge::default(),
            git_fetch_total: Family::default(),
            webhook_deliveries_total: Family::default(),
            notifications_total: Family::default(),
            snapshot_revision: Family::default(),
            git_last_success_timestamp_seconds: Gauge::default(),
            invalid_manifests: Gauge::default(),
            owned_elsewhere: Gauge::default(),
            databases_held: Family::default(),
            build_info: Family::default(),
        };
        // Counter names are registered without `_total`: the OpenMetrics encoder appends it.
        registry.register(
            "reconcile",
            "Reconciles of gitops Postgres objects, by result",
            families.reconcile_total.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            families.reconcile_duration_seconds.clone(),
        );
        registry.register(
            "steps_executed",
            "Plan steps executed (Provision, Patch, or an OpsRequest type)",
            families.steps_executed_total.clone(),
        );
        registry.register(
            "ops_requests_created",
            "PostgresOpsRequests created, by type",
            families.ops_requests_created_total.clone(),
        );
        registry.register(
            "databases",
            "Gitops Postgres objects by state",
            families.databases.clone(),
        );
        registry.register(
            "database_info",
            "One series per gitops Postgres object, value 1, with its namespace, name and state \
             (the state label as in pg_gitops_databases); a deleted database has none",
            families.database_info.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and may write, else 0",
            families.leader.clone(),
        );
        registry.register(
            "kubernetes_api_reachable",
            "1 while this replica's watches reach the Kubernetes API, 0 during an outage (no \
             connection, or 5xx/429 answers) until the API answers again",
            families.kubernetes_api_reachable.clone(),
        );
        registry.register(
            "git_fetch",
            "Syncs of the source (a Git fetch or a directory reload), by result",
            families.git_fetch_total.clone(),
        );
        registry.register(
            "git_fetch_duration_seconds",
            "Time one sync of the source took (a Git fetch and load, or a directory reload), \
             failed ones included",
            families.git_fetch_duration_seconds.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook requests received, by provider and result",
            families.webhook_deliveries_total.clone(),
        );
        registry.register(
            "notifications",
            "Notifications (commit statuses, alerts) by target provider and result: sent, \
             retried, failed (gave up), dropped (queue full; provider \"all\" before routing)",
            families.notifications_total.clone(),
        );
        registry.register(
            "snapshot_revision",
            "The Git revision of the snapshot in use (one series, value 1)",
            families.snapshot_revision.clone(),
        );
        registry.register(
            "git_last_success_timestamp_seconds",
            "When the source last synced without an error (Unix seconds; 0 before the first \
             success and with source.kind = cluster)",
            families.git_last_success_timestamp_seconds.clone(),
        );
        registry.register(
            "invalid_manifests",
            "Manifests of the snapshot in use that could not be read (broken YAML, invalid \
             documents, unreadable files)",
            families.invalid_manifests.clone(),
        );
        registry.register(
            "owned_elsewhere",
            "Gitops Postgres objects in scope that this instance leaves alone because another \
             pg-gitops instance owns them or their database (label gitops.kubedb.com/owner)",
            families.owned_elsewhere.clone(),
        );
        registry.register(
            "databases_held",
            "Databases whose next step change control holds, by reason: approval (a person must \
             approve it), maintenance_window (it restarts pods and no window is open), \
             fleet_budget (reconcile.max_parallel_ops OpsRequests are in flight)",
            families.databases_held.clone(),
        );
        registry.register(
            "build_info",
            "The running build: version and Git commit as labels, value 1",
            families.build_info.clone(),
        );
        families
            .build_info
            .get_or_create(&BuildInfoLabels {
                version: build_info::VERSION,
                commit: build_info::COMMIT,
            })
            .set(1);

        for outcome in [Outcome::Ok, Outcome::Error] {
            let labels = ResultLabels {
                result: outcome.label(),
            };
            expose_at_zero(&families.reconcile_total, &labels);
            expose_at_zero(&families.git_fetch_total, &labels);
        }
        for step in ALL_STEP_TYPES {
            expose_at_zero(
                &families.steps_executed_total,
                &TypeLabels {
                    r#type: step_label(step),
                },
            );
        }
        for kind in OpsRequestType::ALL {
            expose_at_zero(
                &families.ops_requests_created_total,
                &TypeLabels {
                    r#type: kind.as_str(),
                },
            );
        }
        for standing in Standing::ALL {
            expose_at_zero(
                &families.databases,
                &StateLabels {
                    state: standing_label(standing),
                },
            );
        }

        Metrics {
            inner: Arc::new(Inner {
                registry,
                families,
                source: OnceLock::new(),
            }),
        }
    }

    fn families(&self) -> &Families {
        &self.inner.families
    }

    /// How many databases in scope another instance owns.
    pub fn set_owned_elsewhere(&self, count: usize) {
        self.families()
            .owned_elsewhere
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// How many databases change control holds for `kind` now.
    pub fn set_databases_held(&self, kind: crate::gate::HoldKind, count: u64) {
        self.families()
            .databases_held
            .get_or_create(&ReasonLabels {
                reason: kind.label(),
            })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// One reconcile finished after `duration`.
    pub fn record_reconcile(&self, outcome: Outcome, duration: Duration) {
        let families = self.families();
        families
            .reconcile_total
            .get_or_create(&ResultLabels {
                result: outcome.label(),
            })
            .inc();
        families
            .reconcile_duration_seconds
            .observe(duration.as_secs_f64());
    }

    /// A plan step was carried out (the database created, patched, or an OpsRequest made).
    pub fn record_step_executed(&self, step: StepType) {
        self.families()
            .steps_executed_total
            .get_or_create(&TypeLabels {
                r#type: step_label(step),
            })
            .inc();
    }

    /// An OpsRequest was created by us (not counted when it already existed).
    pub fn record_ops_request_created(&self, kind: OpsRequestType) {
        self.families()
            .ops_requests_created_total
            .get_or_create(&TypeLabels {
                r#type: kind.as_str(),
            })
            .inc();
    }

    /// How many databases are in `state` now (set after each full count, not incremented).
    pub fn set_databases(&self, standing: Standing, count: u64) {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.families()
            .databases
            .get_or_create(&StateLabels {
                state: standing_label(standing),
            })
            .set(count);
    }

    pub fn set_leader(&self, is_leader: bool) {
        self.families().leader.set(i64::from(is_leader));
    }

    /// Reads the source's own counters at every scrape. The source counts its syncs in
    /// [`SourceStats`] (tests read them too); copying them here when scraped keeps one count
    /// and no second bookkeeping path in the Git loop.
    pub(crate) fn observe_source(&self, stats: Arc<SourceStats>) {
        let durations = self.families().git_fetch_duration_seconds.clone();
        stats.observe_syncs(move |took| durations.observe(took.as_secs_f64()));
        // A second call would mean two sources; the service has one, so the first one stays.
        let _ = self.inner.source.set(stats);
    }

    fn refresh_source(&self) {
        let Some(stats) = self.inner.source.get() else {
            return;
        };
        for (outcome, total) in [
            (Outcome::Ok, SourceStats::get(&stats.succeeded)),
            (Outcome::Error, SourceStats::get(&stats.errors)),
        ] {
            let counter = self
                .families()
                .git_fetch_total
                .get_or_create(&ResultLabels {
                    result: outcome.label(),
                });
            // Both only grow; a concurrent scrape may already have raised it.
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        let last_success = SourceStats::get(&stats.last_success_unix);
        self.families()
            .git_last_success_timestamp_seconds
            .set(i64::try_from(last_success).unwrap_or(i64::MAX));
    }

    /// `receiver` is the provider's name in the webhook path ([`Provider::name`](crate::server::Provider::name)).
    pub fn record_webhook_delivery(&self, receiver: &'static str, result: DeliveryResult) {
        self.families()
            .webhook_deliveries_total
            .get_or_create(&DeliveryLabels {
                provider: receiver,
                result: delivery_label(result),
            })
            .inc();
    }

    /// The snapshot now in use. The previous revision's series is dropped, so exactly one
    /// series carries value 1 and the family does not grow with every commit.
    pub fn set_snapshot_revision(&self, revision: &str) {
        let family = &self.families().snapshot_revision;
        family.clear();
        family
            .get_or_create(&RevisionLabels {
                revision: revision.to_owned(),
            })
            .set(1);
    }

    /// How many manifests of the snapshot in use could not be read.
    pub fn set_invalid_manifests(&self, count: usize) {
        self.families()
            .invalid_manifests
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The whole registry as OpenMetrics text, ending in `# EOF`.
    pub fn encode(&self) -> String {
        self.refresh_source();
        let mut text = String::new();
        // The text encoder fails only when the writer fails (a `String` never does) or for a
        // native histogram without buckets (none is registered here).
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)
            .expect("encoding metrics into a String cannot fail");
        text
    }
}

/// `GET /metrics`: the registry in OpenMetrics text format.
pub async fn metrics_handler(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        metrics.encode(),
    )
}

#[cfg(test)]
mod tests;
