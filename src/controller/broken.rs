//! The manifests in Git that could not be read, by the database they name, from the snapshot
//! in use: such a database keeps its last good version, and its status says why Git's
//! version is not applied (the `InvalidManifest` condition).

use std::collections::HashSet;
use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;

use crate::models::CachedGitops;
use crate::source::Snapshot;

type Key = ObjectRef<CachedGitops>;

/// Follows the source's snapshots; empty without a source (`source.kind = "cluster"`).
#[derive(Clone, Default)]
pub struct BrokenManifests(Option<watch::Receiver<Option<Arc<Snapshot>>>>);

impl BrokenManifests {
    pub fn follow(snapshots: watch::Receiver<Option<Arc<Snapshot>>>) -> Self {
        Self(Some(snapshots))
    }

    /// The error of the manifest in Git that names this database, if it is broken.
    pub(super) fn of(&self, key: &Key) -> Option<String> {
        let snapshot = self.0.as_ref()?.borrow().clone()?;
        snapshot
            .manifests
            .errors
            .iter()
            .find(|error| named(error.database.as_ref()).as_ref() == Some(key))
            .map(ToString::to_string)
    }

    /// For each new snapshot, the databases whose manifest is broken in it or was broken in
    /// the one before: their condition may have changed although their object did not (a
    /// broken manifest is not applied, so no watch event tells).
    pub(super) fn changes(&self) -> impl Stream<Item = Key> + Send + 'static {
        let snapshots = self.0.clone();
        stream::unfold(
            (snapshots, HashSet::<Key>::new()),
            |(snapshots, before)| async move {
                let mut receiver = snapshots?;
                receiver.changed().await.ok()?;
                let now: HashSet<Key> = receiver
                    .borrow_and_update()
                    .as_ref()
                    .map(|snapshot| {
                        snapshot
                            .manifests
                            .errors
                            .iter()
                            .filter_map(|error| named(error.database.as_ref()))
                            .collect()
                    })
                    .unwrap_or_default();
                let touched: Vec<Key> = now.union(&before).cloned().collect();
                Some((stream::iter(touched), (Some(receiver), now)))
            },
        )
        .flatten()
    }
}

fn named(database: Option<&(String, String)>) -> Option<Key> {
    let (namespace, name) = database?;
    Some(ObjectRef::new(name).within(namespace))
}
