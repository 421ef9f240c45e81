//! The last standing of each database and the count per standing, for the `databases{state}`
//! gauge. Counts are kept as the standings change, so a reconcile costs the same for one
//! database or ten thousand; a deleted database is forgotten, so the gauge never counts it.

use std::collections::HashMap;

use kube::runtime::reflector::ObjectRef;

use crate::models::GitopsPostgres;
use crate::status::Standing;

type Key = ObjectRef<GitopsPostgres>;

/// What recording a standing changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Unchanged,
    /// `previous` is none for a database not counted before.
    Changed {
        previous: Option<Standing>,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Standings {
    by_database: HashMap<Key, Standing>,
    counts: [u64; Standing::ALL.len()],
}

impl Standings {
    /// Records the standing of a database.
    pub(crate) fn set(&mut self, key: Key, standing: Standing) -> Change {
        let previous = self.by_database.insert(key, standing);
        if previous == Some(standing) {
            return Change::Unchanged;
        }
        if let Some(previous) = previous {
            self.counts[slot(previous)] -= 1;
        }
        self.counts[slot(standing)] += 1;
        Change::Changed { previous }
    }

    /// Forgets a deleted database; the standing it had, if it was counted.
    pub(crate) fn forget(&mut self, key: &Key) -> Option<Standing> {
        let standing = self.by_database.remove(key)?;
        self.counts[slot(standing)] -= 1;
        Some(standing)
    }

    /// Keeps only the databases `exists` still knows (after a re-list, where deletions made
    /// while the watch was down arrive as absence, not as events); the ones forgotten.
    pub(crate) fn retain(&mut self, exists: impl Fn(&Key) -> bool) -> Vec<(Key, Standing)> {
        let gone: Vec<Key> = self
            .by_database
            .keys()
            .filter(|key| !exists(key))
            .cloned()
            .collect();
        gone.into_iter()
            .filter_map(|key| self.forget(&key).map(|standing| (key, standing)))
            .collect()
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
