//! Which databases the gitops cache lists now, for the per-database books the controller
//! keeps beside it (the standings and holds behind the gauges, the fleet budget's slots).
//!
//! A reconcile can finish after its object was deleted: it read the object before the
//! deletion and records what it computed afterwards. The books forget a deleted database when
//! the watch reports the deletion, and kube-runtime's reflector removes the object from the
//! cache *before* that report runs. So a book that asks this, under its own lock, before it
//! records a database, never brings a deleted one back: either the cache no longer lists it,
//! or the forget that follows waits for the lock and removes what was recorded.

use kube::runtime::reflector::{ObjectRef, Store};

use crate::models::CachedGitops;

#[derive(Clone)]
pub(crate) struct Listed(Store<CachedGitops>);

impl Listed {
    pub(crate) fn new(cache: Store<CachedGitops>) -> Self {
        Self(cache)
    }

    pub(crate) fn contains(&self, key: &ObjectRef<CachedGitops>) -> bool {
        self.0.get(key).is_some()
    }
}

/// Caches that list the given databases, and their writer, for the books' tests.
#[cfg(test)]
pub(crate) mod testing {
    use kube::runtime::reflector::{self, ObjectRef, store::Writer};
    use kube::runtime::watcher;

    use super::Listed;
    use crate::models::{CachedGitops, ObjectMeta};

    pub(crate) fn object(key: &ObjectRef<CachedGitops>) -> CachedGitops {
        CachedGitops::unreadable(ObjectMeta {
            name: Some(key.name.clone()),
            namespace: key.namespace.clone(),
            ..ObjectMeta::default()
        })
    }

    pub(crate) fn listing(keys: &[ObjectRef<CachedGitops>]) -> (Listed, Writer<CachedGitops>) {
        let (store, mut writer) = reflector::store();
        for key in keys {
            writer.apply_watcher_event(&watcher::Event::Apply(object(key)));
        }
        (Listed::new(store), writer)
    }

    /// Deletes as the watch does: out of the cache first.
    pub(crate) fn delete(writer: &mut Writer<CachedGitops>, key: &ObjectRef<CachedGitops>) {
        writer.apply_watcher_event(&watcher::Event::Delete(object(key)));
    }
}
