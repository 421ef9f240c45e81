//! The reflector caches the controller fills, made apart from it so that other readers (the
//! `/status` endpoint) share them instead of watching the API a second time.

use kube::runtime::reflector::{self, Store, store::Writer};
use tokio::sync::watch;

use super::BrokenManifests;
use crate::api_health::ApiHealth;
use crate::models::{CachedGitops, PostgresOpsRequest};

/// The caches of gitops objects and OpsRequests the controller fills, readable elsewhere (the
/// `/status` endpoint) without any API call of its own.
#[derive(Clone)]
pub struct Caches {
    pub gitops: Store<CachedGitops>,
    /// True once the gitops cache holds the first full list. Readers wait on this, not on
    /// `Store::wait_until_ready`: kube-runtime's readiness wakes only one of several waiters
    /// (a oneshot receiver keeps one waker), and the controller already waits on it.
    pub gitops_listed: watch::Receiver<bool>,
    pub ops_requests: Store<PostgresOpsRequest>,
    /// The broken manifests of the snapshot in use (set with a Git or directory source).
    pub broken: BrokenManifests,
    /// Whether the watches that fill these caches reach the API server: while they cannot,
    /// the caches show the cluster as it was when the outage began.
    pub api: ApiHealth,
}

/// The writing halves of [`Caches`], handed to [`super::run`].
pub struct CacheWriters {
    pub(super) gitops: Writer<CachedGitops>,
    pub(super) gitops_listed: watch::Sender<bool>,
    pub(super) ops_requests: Writer<PostgresOpsRequest>,
}

/// Empty caches and their writers: made before the controller starts so readers can hold them.
pub fn caches() -> (Caches, CacheWriters) {
    let (gitops, gitops_writer) = reflector::store();
    let (ops_requests, ops_writer) = reflector::store();
    let (listed_tx, gitops_listed) = watch::channel(false);
    (
        Caches {
            gitops,
            gitops_listed,
            ops_requests,
            broken: BrokenManifests::default(),
            api: ApiHealth::new(),
        },
        CacheWriters {
            gitops: gitops_writer,
            gitops_listed: listed_tx,
            ops_requests: ops_writer,
        },
    )
}

/// kubectl's copy of the whole object, as `kubectl apply` leaves it.
const KUBECTL_LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what the service never reads before an object is cached: who wrote which field
/// (`managedFields`, often as large as the object) and kubectl's copy of the whole object.
/// At fleet size these are most of the cache. pg-gitops' own record
/// (`gitops.kubedb.com/last-applied`) stays: the planner reads it.
pub(super) fn strip_unread<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(KUBECTL_LAST_APPLIED);
    }
}
