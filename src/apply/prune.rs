//! Pruning (`reconcile.prune`): deletes the gitops objects this instance applied from this
//! source whose manifest left Git. Never a `kubedb.com` Postgres: its database is orphaned.
//!
//! The candidates come from the controller's cache of gitops objects, not from a LIST: a
//! LIST of every managed object on every commit is the one request of a commit whose cost
//! grows with the fleet. Deleting on a cache's word takes two guards:
//! - each delete carries the uid and `resourceVersion` the candidate was seen at. An object
//!   changed since (another owner's label, an edit, deleted and created again) is refused by
//!   the API server with a conflict and kept; the next pass looks at it again as the cache
//!   then shows it.
//! - an object this stage wrote that the cache does not show at that version yet
//!   ([`Unseen`]) is a candidate with the version the write returned, so a manifest added and
//!   removed again before the watch caught up is still pruned.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tracing::{info, warn};

use super::{ApplyError, ApplyReport, ApplySettings, CONCURRENT_WRITES};
use crate::models::{
    CachedGitops, GitopsPostgres, MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_LABEL, SOURCE_LABEL,
};
use crate::source::Snapshot;

type Key = (String, String);

/// The version of an object a delete may remove, and no other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    uid: Option<String>,
    resource_version: Option<String>,
}

impl Seen {
    fn of(metadata: &crate::models::ObjectMeta) -> Self {
        Self {
            uid: metadata.uid.clone(),
            resource_version: metadata.resource_version.clone(),
        }
    }
}

/// Objects this stage wrote that the cache did not yet show at the version written.
#[derive(Debug, Default)]
pub(crate) struct Unseen(HashMap<Key, Seen>);

impl Unseen {
    /// Records an object as the API server answered our write.
    pub(super) fn wrote(&mut self, object: &GitopsPostgres) {
        let key = (object.namespace().unwrap_or_default(), object.name_any());
        self.0.insert(key, Seen::of(&object.metadata));
    }

    /// Forgets what the cache now shows as written, and what Git still declares.
    fn settle(&mut self, cache: &Store<CachedGitops>, keep: &BTreeSet<Key>) {
        self.0.retain(|key, seen| {
            let shown = cache
                .get(&ObjectRef::new(&key.1).within(&key.0))
                .is_some_and(|live| live.metadata.resource_version == seen.resource_version);
            !shown && !keep.contains(key)
        });
    }
}

/// Why a snapshot prunes nothing.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No manifest at all: far more often a wrong path or a bad push than a wish to delete
    /// everything (as Argo CD's `allowEmpty` guard says).
    Empty,
    /// A file that could not be read at all may have declared any database.
    Unreadable(std::path::PathBuf),
}

/// The databases Git still wants: every manifest's, broken ones included.
pub(super) fn keep(snapshot: &Snapshot) -> Result<BTreeSet<Key>, Refusal> {
    let manifests = &snapshot.manifests;
    if manifests.manifests.is_empty() {
        return Err(Refusal::Empty);
    }
    if let Some(unknown) = manifests.errors.iter().find(|e| e.database.is_none()) {
        return Err(Refusal::Unreadable(unknown.file.clone()));
    }
    let mut keep: BTreeSet<Key> = manifests.manifests.iter().map(|m| m.key()).collect();
    // A manifest that is merely broken is still wanted: never prune its object.
    keep.extend(manifests.errors.iter().filter_map(|e| e.database.clone()));
    Ok(keep)
}

/// Whether this instance applied `object` from this source. An object without an owner label
/// (applied before 0.4.0) is not: which of two instances sharing a source applied it cannot
/// be told.
fn ours(object: &CachedGitops, settings: &ApplySettings) -> bool {
    let Some(labels) = object.metadata.labels.as_ref() else {
        return false;
    };
    let is = |label: &str, value: &str| labels.get(label).map(String::as_str) == Some(value);
    is(MANAGED_BY_LABEL, MANAGED_BY_VALUE)
        && is(SOURCE_LABEL, &settings.source_id)
        && is(OWNER_LABEL, &settings.owner)
}

/// What to delete, in order of namespace and name: the cached objects of ours that Git no
/// longer declares, and what we wrote that the cache does not show yet (at the version
/// written).
pub(super) fn candidates(
    cache: &Store<CachedGitops>,
    unseen: &Unseen,
    keep: &BTreeSet<Key>,
    settings: &ApplySettings,
) -> BTreeMap<Key, Seen> {
    let in_scope = |namespace: &str| settings.namespace.as_deref().is_none_or(|n| n == namespace);
    let mut candidates: BTreeMap<Key, Seen> = cache
        .state()
        .iter()
        .filter(|object| object.metadata.deletion_timestamp.is_none() && ours(object, settings))
        .map(|object| {
            let key = (object.namespace().unwrap_or_default(), object.name_any());
            (key, Seen::of(&object.metadata))
        })
        .filter(|(key, _)| in_scope(&key.0) && !keep.contains(key))
        .collect();
    candidates.extend(
        (unseen.0.iter())
            .filter(|(key, _)| in_scope(&key.0) && !keep.contains(*key))
            .map(|(key, seen)| (key.clone(), seen.clone())),
    );
    candidates
}

/// Deletes what Git no longer declares, unless the snapshot says it must not.
pub(super) async fn prune(
    client: &Client,
    snapshot: &Snapshot,
    cache: &Store<CachedGitops>,
    unseen: &mut Unseen,
    settings: &ApplySettings,
    report: &mut ApplyReport,
) {
    let keep = match keep(snapshot) {
        Ok(keep) => keep,
        Err(Refusal::Empty) => {
            return warn!("the snapshot holds no manifest; refusing to prune everything");
        }
        Err(Refusal::Unreadable(file)) => {
            return warn!(file = %file.display(), "a file of the snapshot names no database it could be read for; not pruning until it is fixed");
        }
    };
    unseen.settle(cache, &keep);
    let candidates = candidates(cache, unseen, &keep, settings);
    let mut deletes = futures::stream::iter(candidates)
        .map(|((namespace, name), seen)| {
            let api: Api<GitopsPostgres> = Api::namespaced(client.clone(), &namespace);
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: seen.uid,
                    resource_version: seen.resource_version,
                }),
                ..DeleteParams::default()
            };
            async move {
                let result = api.delete(&name, &params).await;
                ((namespace, name), result)
            }
        })
        .buffer_unordered(CONCURRENT_WRITES);
    while let Some((key, result)) = deletes.next().await {
        match result {
            Ok(_) => {
                unseen.0.remove(&key);
                report.pruned.push(key);
            }
            // Gone already: what pruning wanted.
            Err(kube::Error::Api(status)) if status.code == 404 => {
                unseen.0.remove(&key);
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                info!(namespace = %key.0, name = %key.1, "not pruned: the object changed since it was seen; looking again");
                // The cache decides from now on: the object moved past what we wrote.
                unseen.0.remove(&key);
                let (namespace, name) = key;
                report.failed.push(ApplyError::Changed { namespace, name });
            }
            Err(source) => {
                let (namespace, name) = key;
                warn!(%namespace, %name, error = %source, "could not prune");
                report.failed.push(ApplyError::Prune {
                    namespace,
                    name,
                    source,
                });
            }
        }
    }
    report.pruned.sort();
}

#[cfg(test)]
mod tests;
