//! The last standing of each database and the count per standing, for the `databases{state}`
//! gauge. Counts are kept as the standings change, so a reconcile costs the same for one
//! database or ten thousand; a deleted database is forgotten, so the gauge never counts it.

use std::collections::HashMap;

use kube::runtime::reflector::ObjectRef;

use crate::models::GitopsPostgres;
use crate::status::Standing;

type Key = ObjectRef<GitopsPostgres>;

#[derive(Debug, Default)]
pub(crate) struct Standings {
    by_database: HashMap<Key, Standing>,
    counts: [u64; Standing::ALL.len()],
}

impl Standings {
    /// Records the standing of a database; false when it had that standing already.
    pub(crate) fn set(&mut self, key: Key, standing: Standing) -> bool {
        let previous = self.by_database.insert(key, standing);
        if previous == Some(standing) {
            return false;
        }
        if let Some(previous) = previous {
            self.counts[slot(previous)] -= 1;
        }
        self.counts[slot(standing)] += 1;
        true
    }

    /// Forgets a deleted database; false when it was not counted.
    pub(crate) fn forget(&mut self, key: &Key) -> bool {
        match self.by_database.remove(key) {
            Some(standing) => {
                self.counts[slot(standing)] -= 1;
                true
            }
            None => false,
        }
    }

    /// Keeps only the databases `exists` still knows (after a re-list, where deletions made
    /// while the watch was down arrive as absence, not as events).
    pub(crate) fn retain(&mut self, exists: impl Fn(&Key) -> bool) -> bool {
        let gone: Vec<Key> = self
            .by_database
            .keys()
            .filter(|key| !exists(key))
            .cloned()
            .collect();
        // Not `any`: every key must be forgotten, not only the first.
        gone.iter().filter(|key| self.forget(key)).count() > 0
    }

    pub(crate) fn count(&self, standing: Standing) -> u64 {
        self.counts[slot(standing)]
    }
}

fn slot(standing: Standing) -> usize {
    Standing::ALL
        .iter()
        .position(|s| *s == standing)
        .expect("Standing::ALL lists every standing")
}

#[cfg(test)]
mod tests;
