use futures::StreamExt;

use super::*;
use crate::controller::listed::testing::{delete, listing};

fn key(name: &str) -> Key {
    ObjectRef::new(name).within("fleet")
}

/// The databases the tests' cache lists.
fn listed() -> Listed {
    let names = [
        "pg-a", "pg-b", "pg-c", "pg-d", "pg-e", "pg-y", "pg-1", "pg-2", "pg-3",
    ];
    let keys: Vec<Key> = names.iter().map(|name| key(name)).collect();
    listing(&keys).0
}

fn budget(cap: u32) -> (FleetBudget, UnboundedReceiver<Key>) {
    FleetBudget::new(NonZeroU32::new(cap).unwrap(), None, listed())
}

fn woken(receiver: &mut UnboundedReceiver<Key>) -> Vec<String> {
    let mut names = Vec::new();
    while let Ok(key) = receiver.try_recv() {
        names.push(key.name);
    }
    names
}

#[test]
fn no_more_than_the_cap_start_and_a_freed_slot_goes_to_the_first_waiting() {
    let (budget, mut wake) = budget(2);
    // Reconciles come in any order; slots go in name order among those waiting.
    assert!(budget.admit(&key("pg-c"), None, Want::Start).is_ok());
    assert!(budget.admit(&key("pg-d"), None, Want::Start).is_ok());
    let held = budget.admit(&key("pg-e"), None, Want::Start).unwrap_err();
    assert_eq!(
        held,
        Hold::FleetBudget {
            cap: 2,
            group: None
        }
    );
    assert!(budget.admit(&key("pg-b"), None, Want::Start).is_err());
    assert_eq!(budget.in_flight(&None), 2);
    // Granted again while it creates its OpsRequest; held while it is open.
    assert!(budget.admit(&key("pg-c"), None, Want::Start).is_ok());
    assert!(budget.admit(&key("pg-c"), None, Want::InFlight).is_ok());
    assert_eq!(budget.in_flight(&None), 2);
    // pg-c's OpsRequest ends: pg-b, first in order, is woken, and pg-e may not overtake it.
    assert!(budget.admit(&key("pg-c"), None, Want::Nothing).is_ok());
    assert_eq!(woken(&mut wake), ["pg-b"]);
    assert!(budget.admit(&key("pg-e"), None, Want::Start).is_err());
    assert!(budget.admit(&key("pg-b"), None, Want::Start).is_ok());
    assert_eq!(budget.in_flight(&None), 2);
}

#[test]
fn a_waiting_database_that_no_longer_needs_a_slot_stops_blocking_the_others() {
    let (budget, mut wake) = budget(1);
    assert!(budget.admit(&key("pg-y"), None, Want::Start).is_ok());
    assert!(budget.admit(&key("pg-a"), None, Want::Start).is_err());
    assert!(budget.admit(&key("pg-b"), None, Want::Start).is_err());
    // Git reverted pg-a's change: it needs nothing now.
    assert!(budget.admit(&key("pg-a"), None, Want::Nothing).is_ok());
    budget.forget(&key("pg-y"));
    assert_eq!(woken(&mut wake), ["pg-b"]);
    assert!(budget.admit(&key("pg-b"), None, Want::Start).is_ok());
}

#[test]
fn per_label_each_value_has_its_own_cap() {
    let (budget, _wake) =
        FleetBudget::new(NonZeroU32::new(1).unwrap(), Some("team".into()), listed());
    let (a, b) = (Some("a".to_string()), Some("b".to_string()));
    assert!(budget.admit(&key("pg-1"), a.clone(), Want::Start).is_ok());
    assert!(budget.admit(&key("pg-2"), b.clone(), Want::Start).is_ok());
    assert_eq!(
        budget.admit(&key("pg-3"), a.clone(), Want::Start),
        Err(Hold::FleetBudget {
            cap: 1,
            group: Some(("team".into(), "a".into()))
        })
    );
    assert_eq!((budget.in_flight(&a), budget.in_flight(&b)), (1, 1));
}

#[test]
fn open_ops_requests_found_at_start_up_count_before_anything_is_granted() {
    let (budget, _wake) = budget(2);
    // pg-z has an open OpsRequest but no gitops object: nothing of ours would ever free its
    // slot.
    budget.seed(|| {
        vec![
            (key("pg-b"), None),
            (key("pg-c"), None),
            (key("pg-z"), None),
        ]
    });
    // Seeding happens once: a second call is ignored.
    budget.seed(|| vec![(key("pg-d"), None)]);
    assert!(budget.admit(&key("pg-a"), None, Want::Start).is_err());
    assert!(budget.admit(&key("pg-b"), None, Want::InFlight).is_ok());
    assert_eq!(budget.in_flight(&None), 2);
}

#[tokio::test]
async fn the_wake_stream_yields_the_databases_to_reconcile() {
    let (budget, mut wake) = budget(1);
    assert!(budget.admit(&key("pg-a"), None, Want::Start).is_ok());
    assert!(budget.admit(&key("pg-b"), None, Want::Start).is_err());
    budget.admit(&key("pg-a"), None, Want::Nothing).unwrap();
    assert_eq!(wake.next().await.map(|k| k.name), Some("pg-b".into()));
}

/// A reconcile that read its object before the deletion asks for a slot after the deletion
/// was forgotten: the slot was never freed, and with a cap of one no database ever started
/// again.
#[test]
fn a_database_deleted_while_its_reconcile_ran_takes_no_slot() {
    let (listed, mut cache) = listing(&[key("pg-a"), key("pg-b")]);
    let (budget, mut wake) = FleetBudget::new(NonZeroU32::new(1).unwrap(), None, listed);
    assert!(budget.admit(&key("pg-b"), None, Want::Start).is_ok());
    assert!(
        budget.admit(&key("pg-a"), None, Want::Start).is_err(),
        "waits"
    );
    // Both are deleted; the watch reports it: out of the cache, then forgotten.
    for name in ["pg-a", "pg-b"] {
        delete(&mut cache, &key(name));
        budget.forget(&key(name));
    }
    // The reconciles in flight finish.
    assert!(budget.admit(&key("pg-a"), None, Want::Start).is_ok());
    assert!(budget.admit(&key("pg-b"), None, Want::InFlight).is_ok());
    assert_eq!(budget.in_flight(&None), 0);
    let state = budget.state.lock().unwrap();
    assert!(state.holders.is_empty());
    assert!(
        state.waiting.values().all(BTreeSet::is_empty),
        "nobody waits"
    );
    drop(state);
    let _ = woken(&mut wake);
}
