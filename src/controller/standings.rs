//! The last standing of each database and the count per standing, for the `databases{state}`
//! gauge (and the same for holds, for `databases_held{reason}`). Counts are kept as the
//! standings change, so a reconcile costs the same for one database or ten thousand; a deleted
//! database is forgotten, so the gauge never counts it, even when a reconcile that began
//! before the deletion finishes after it (see [`Listed`]).

use std::collections::HashMap;

use kube::runtime::reflector::ObjectRef;

use super::listed::Listed;
use crate::gate::HoldKind;
use crate::models::CachedGitops;
use crate::status::Standing;

type Key = ObjectRef<CachedGitops>;

/// A value counted per database: one of a few.
pub(crate) trait Counted: Copy + Eq + 'static {
    const ALL: &'static [Self];
}

impl Counted for Standing {
    const ALL: &'static [Self] = &Standing::ALL;
}

impl Counted for HoldKind {
    const ALL: &'static [Self] = &HoldKind::ALL;
}

/// What recording a value changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change<V> {
    Unchanged,
    /// `previous` is none for a database not counted before.
    Changed {
        previous: Option<V>,
    },
}

/// The value of each database the gitops cache lists, and how many databases have each value.
pub(crate) struct Tally<V> {
    by_database: HashMap<Key, V>,
    counts: [u64; 8],
    listed: Listed,
}

pub(crate) type Standings = Tally<Standing>;
pub(crate) type Holds = Tally<HoldKind>;

impl<V: Counted> Tally<V> {
    pub(crate) fn new(listed: Listed) -> Self {
        Self {
            by_database: HashMap::new(),
            counts: [0; 8],
            listed,
        }
    }

    /// Records the value of a database, unless the cache no longer lists it (deleted while
    /// the reconcile that computed the value ran: counting it would keep it in the gauge
    /// forever, as nothing forgets it again).
    pub(crate) fn set(&mut self, key: Key, standing: V) -> Change<V> {
        if !self.listed.contains(&key) {
            return Change::Unchanged;
        }
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

    /// Records a value or, with none, forgets the database.
    pub(crate) fn set_or_forget(&mut self, key: Key, value: Option<V>) -> Change<V> {
        match value {
            Some(value) => self.set(key, value),
            None => match self.forget(&key) {
                Some(previous) => Change::Changed {
                    previous: Some(previous),
                },
                None => Change::Unchanged,
            },
        }
    }

    /// Forgets a deleted database; the value it had, if it was counted.
    pub(crate) fn forget(&mut self, key: &Key) -> Option<V> {
        let standing = self.by_database.remove(key)?;
        self.counts[slot(standing)] -= 1;
        Some(standing)
    }

    /// Keeps only the databases the cache still lists (after a re-list, where deletions made
    /// while the watch was down arrive as absence, not as events); the ones forgotten.
    pub(crate) fn retain_listed(&mut self) -> Vec<(Key, V)> {
        let gone: Vec<Key> = self
            .by_database
            .keys()
            .filter(|key| !self.listed.contains(key))
            .cloned()
            .collect();
        gone.into_iter()
            .filter_map(|key| self.forget(&key).map(|standing| (key, standing)))
            .collect()
    }

    pub(crate) fn count(&self, value: V) -> u64 {
        self.counts[slot(value)]
    }
}

fn slot<V: Counted>(value: V) -> usize {
    V::ALL
        .iter()
        .position(|s| *s == value)
        .expect("ALL lists every value")
}

#[cfg(test)]
mod tests;
