//! The OpsRequests of each database, by name, beside the reflector cache that holds them. A
//! reconcile reads its database's OpsRequests through it: filtering the whole cache cost
//! every reconcile a pass over every OpsRequest of the fleet (KubeDB keeps finished ones), so
//! a resync of 10,000 databases with a few requests each in their history walked hundreds of
//! millions of them.
//!
//! The index is told each watch event after the reflector applied it, as the other books
//! are (see [`super::listed`]). For a moment it may lag the cache, as the cache lags the API
//! server; a reconcile that runs in that moment sees the database as it was a moment
//! earlier, which the expectations already allow for: our own writes are waited for.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::models::PostgresOpsRequest;

/// A database: its namespace and name.
type Database = (String, String);

#[derive(Debug, Default)]
struct Index {
    /// The names of each database's OpsRequests.
    by_database: HashMap<Database, BTreeSet<String>>,
    /// The database each OpsRequest names (namespace, request name), to move or drop it.
    of_request: HashMap<(String, String), Database>,
}

impl Index {
    fn insert(&mut self, request: &PostgresOpsRequest) {
        let namespace = request.namespace().unwrap_or_default();
        let name = request.name_any();
        let Some(database) = request.database_name() else {
            // No database named: no reconcile reads it.
            return self.remove(&namespace, &name);
        };
        let database = (namespace.clone(), database.to_owned());
        let key = (namespace, name);
        if self.of_request.get(&key) == Some(&database) {
            return;
        }
        self.remove(&key.0, &key.1);
        let names = self.by_database.entry(database.clone()).or_default();
        names.insert(key.1.clone());
        self.of_request.insert(key, database);
    }

    fn remove(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        let Some(database) = self.of_request.remove(&key) else {
            return;
        };
        if let Some(names) = self.by_database.get_mut(&database) {
            names.remove(name);
            if names.is_empty() {
                self.by_database.remove(&database);
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    current: Index,
    /// Filled during a re-list; replaces `current` when it is done, as the cache's own
    /// buffer does.
    relisting: Option<Index>,
}

#[derive(Clone, Default)]
pub(crate) struct OpsIndex(Arc<Mutex<State>>);

impl OpsIndex {
    /// Follows one event of the OpsRequest watch (after the reflector applied it).
    pub(crate) fn observe(&self, event: &watcher::Event<PostgresOpsRequest>) {
        let mut state = self.0.lock().expect("ops index");
        match event {
            watcher::Event::Apply(request) => state.current.insert(request),
            watcher::Event::Delete(request) => state.current.remove(
                &request.namespace().unwrap_or_default(),
                &request.name_any(),
            ),
            watcher::Event::Init => state.relisting = Some(Index::default()),
            watcher::Event::InitApply(request) => {
                state.relisting.get_or_insert_default().insert(request);
            }
            watcher::Event::InitDone => {
                if let Some(listed) = state.relisting.take() {
                    state.current = listed;
                }
            }
        }
    }

    /// The OpsRequests of one database, from `cache`.
    pub(crate) fn of(
        &self,
        cache: &Store<PostgresOpsRequest>,
        namespace: &str,
        database: &str,
    ) -> Vec<Arc<PostgresOpsRequest>> {
        let state = self.0.lock().expect("ops index");
        let key = (namespace.to_owned(), database.to_owned());
        let Some(names) = state.current.by_database.get(&key) else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|name| cache.get(&ObjectRef::new(name).within(namespace)))
            // The cache may be a moment ahead of the index: a moved reference is not ours.
            .filter(|request| request.database_name() == Some(database))
            .collect()
    }
}

#[cfg(test)]
mod tests;
