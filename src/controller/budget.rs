//! The fleet budget (`reconcile.max_parallel_ops`): at most N databases with an OpsRequest in
//! flight at once, across the fleet or per value of a label. A commit that bumps the version
//! of 500 databases then rolls through them N at a time, in the order of namespace and name.
//!
//! A database holds a slot from the moment it is allowed to create an OpsRequest until a
//! reconcile sees it with no open OpsRequest. Every open OpsRequest counts, whoever created
//! it; the slots are seeded from the caches once, before the first grant, so a restarted
//! process never starts more than the cap. Waiting databases are kept in order; a freed slot
//! goes to the first of them (and wakes it), never to whichever reconcile comes first.
//!
//! Only databases the gitops cache lists hold or wait for a slot (see [`Listed`]): a slot
//! taken by a reconcile that finished after its object's deletion would never be freed, and
//! a deleted database left waiting would stand before the others for good.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::sync::Mutex;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::runtime::reflector::ObjectRef;

use super::listed::Listed;
use crate::gate::Hold;
use crate::models::{CachedGitops, ObjectMeta};

type Key = ObjectRef<CachedGitops>;

/// The budget a database belongs to: the fleet (`None`), or a value of the label.
pub(crate) type Group = Option<String>;

/// What a database needs from the budget in this reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// An OpsRequest of it is open: it holds a slot.
    InFlight,
    /// Its next step creates an OpsRequest now.
    Start,
    /// Neither: any slot it held is free.
    Nothing,
}

pub(crate) struct FleetBudget {
    cap: u32,
    label: Option<String>,
    state: Mutex<State>,
    wake: UnboundedSender<Key>,
    listed: Listed,
}

#[derive(Default)]
struct State {
    seeded: bool,
    holders: HashMap<Key, Group>,
    in_flight: HashMap<Group, u32>,
    /// Ordered by namespace and name (ObjectRef orders so): the order slots are handed out.
    waiting: HashMap<Group, BTreeSet<(String, String)>>,
}

impl FleetBudget {
    /// A budget of `cap` slots (per value of `label`), and the stream of databases to
    /// reconcile when a slot frees for them.
    pub(crate) fn new(
        cap: NonZeroU32,
        label: Option<String>,
        listed: Listed,
    ) -> (Self, UnboundedReceiver<Key>) {
        let (wake, woken) = unbounded();
        let budget = Self {
            cap: cap.get(),
            label,
            state: Mutex::new(State::default()),
            wake,
            listed,
        };
        (budget, woken)
    }

    /// The group of a database, from its gitops object's labels.
    pub(crate) fn group_of(&self, object: &ObjectMeta) -> Group {
        let label = self.label.as_ref()?;
        Some(
            object
                .labels
                .as_ref()
                .and_then(|labels| labels.get(label))
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// Counts the databases with an open OpsRequest, once, before anything is granted. Only
    /// databases the cache lists: no reconcile would ever free another's slot.
    pub(crate) fn seed(&self, in_flight: impl FnOnce() -> Vec<(Key, Group)>) {
        let mut state = self.state.lock().expect("fleet budget");
        if state.seeded {
            return;
        }
        state.seeded = true;
        for (key, group) in in_flight() {
            if self.listed.contains(&key) {
                state.hold(key, group);
            }
        }
    }

    /// Records what the database needs; `Err` holds it back when its group has no slot free
    /// for it. A database deleted meanwhile is neither held back nor recorded.
    pub(crate) fn admit(&self, key: &Key, group: Group, want: Want) -> Result<(), Hold> {
        let mut state = self.state.lock().expect("fleet budget");
        let entry = (key.namespace.clone().unwrap_or_default(), key.name.clone());
        if !self.listed.contains(key) {
            return Ok(());
        }
        match want {
            Want::InFlight => {
                state.unwait(&entry);
                state.hold(key.clone(), group);
                Ok(())
            }
            Want::Nothing => {
                state.unwait(&entry);
                if let Some(freed) = state.release(key) {
                    self.wake_next(&state, &freed);
                }
                Ok(())
            }
            Want::Start if state.holders.contains_key(key) => Ok(()),
            Want::Start => {
                let used = state.in_flight.get(&group).copied().unwrap_or(0);
                let free = self.cap.saturating_sub(used) as usize;
                let waiting = state.waiting.entry(group.clone()).or_default();
                waiting.insert(entry.clone());
                let rank = waiting.range(..&entry).count();
                if rank < free {
                    state.unwait(&entry);
                    state.hold(key.clone(), group);
                    Ok(())
                } else {
                    Err(Hold::FleetBudget {
                        cap: self.cap,
                        group: self.label.clone().zip(group),
                    })
                }
            }
        }
    }

    /// Forgets a deleted database.
    pub(crate) fn forget(&self, key: &Key) {
        let mut state = self.state.lock().expect("fleet budget");
        let entry = (key.namespace.clone().unwrap_or_default(), key.name.clone());
        state.unwait(&entry);
        if let Some(freed) = state.release(key) {
            self.wake_next(&state, &freed);
        }
    }

    /// Wakes the first waiting databases of a group, as many as it has slots free.
    fn wake_next(&self, state: &State, group: &Group) {
        let used = state.in_flight.get(group).copied().unwrap_or(0);
        let free = self.cap.saturating_sub(used) as usize;
        for (namespace, name) in state.waiting.get(group).into_iter().flatten().take(free) {
            let _ = self
                .wake
                .unbounded_send(ObjectRef::new(name).within(namespace));
        }
    }

    #[cfg(test)]
    fn in_flight(&self, group: &Group) -> u32 {
        let state = self.state.lock().expect("fleet budget");
        state.in_flight.get(group).copied().unwrap_or(0)
    }
}

impl State {
    fn hold(&mut self, key: Key, group: Group) {
        if let Some(previous) = self.holders.insert(key, group.clone()) {
            // Held already (perhaps in another group, if its label changed).
            self.decrement(&previous);
        }
        *self.in_flight.entry(group).or_insert(0) += 1;
    }

    /// Frees the database's slot; the group it was in.
    fn release(&mut self, key: &Key) -> Option<Group> {
        let group = self.holders.remove(key)?;
        self.decrement(&group);
        Some(group)
    }

    fn decrement(&mut self, group: &Group) {
        if let Some(count) = self.in_flight.get_mut(group) {
            *count = count.saturating_sub(1);
        }
    }

    /// No longer waiting, in whichever group (its label may have changed meanwhile).
    fn unwait(&mut self, entry: &(String, String)) {
        for waiting in self.waiting.values_mut() {
            waiting.remove(entry);
        }
    }
}

#[cfg(test)]
mod tests;
