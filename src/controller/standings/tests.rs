use super::*;
use crate::controller::listed::testing::{delete, listing};

fn key(name: &str) -> Key {
    ObjectRef::new(name).within("team-a")
}

/// Standings of a cache that lists a, b and c.
fn standings() -> Standings {
    Standings::new(listing(&[key("a"), key("b"), key("c")]).0)
}

fn counts(standings: &Standings) -> Vec<u64> {
    Standing::ALL.iter().map(|s| standings.count(*s)).collect()
}

#[test]
fn a_changed_standing_moves_its_count_and_an_unchanged_one_reports_no_change() {
    let mut standings = standings();
    let first = Change::Changed { previous: None };
    assert_eq!(standings.set(key("a"), Standing::Progressing), first);
    assert_eq!(standings.set(key("b"), Standing::Progressing), first);
    assert_eq!(
        standings.set(key("b"), Standing::Progressing),
        Change::Unchanged
    );
    assert_eq!(
        standings.set(key("a"), Standing::Current),
        Change::Changed {
            previous: Some(Standing::Progressing)
        }
    );
    assert_eq!(counts(&standings), [1, 1, 0, 0]);
}

#[test]
fn a_deleted_database_is_no_longer_counted() {
    let mut standings = standings();
    standings.set(key("a"), Standing::Stalled);
    standings.set(key("b"), Standing::Current);
    assert_eq!(standings.forget(&key("a")), Some(Standing::Stalled));
    assert_eq!(standings.forget(&key("a")), None);
    assert_eq!(counts(&standings), [1, 0, 0, 0]);
}

#[test]
fn after_a_relist_only_databases_still_listed_are_counted() {
    let (listed, mut cache) = listing(&[key("a"), key("b"), key("c")]);
    let mut standings = Standings::new(listed);
    standings.set(key("a"), Standing::Stalled);
    standings.set(key("b"), Standing::Suspended);
    standings.set(key("c"), Standing::Current);
    delete(&mut cache, &key("a"));
    delete(&mut cache, &key("b"));
    let mut gone = standings.retain_listed();
    gone.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    assert_eq!(
        gone,
        [
            (key("a"), Standing::Stalled),
            (key("b"), Standing::Suspended)
        ]
    );
    assert!(standings.retain_listed().is_empty());
    assert_eq!(counts(&standings), [1, 0, 0, 0]);
}

/// A reconcile that read its object before the deletion records its standing after the
/// deletion was forgotten: the gauge counted that database forever.
#[test]
fn a_standing_computed_after_the_deletion_is_not_counted() {
    let (listed, mut cache) = listing(&[key("a"), key("b")]);
    let mut standings = Standings::new(listed);
    standings.set(key("a"), Standing::Progressing);
    standings.set(key("b"), Standing::Current);
    // The watch reports the deletion: out of the cache, then forgotten.
    delete(&mut cache, &key("a"));
    assert_eq!(standings.forget(&key("a")), Some(Standing::Progressing));
    // The reconcile in flight finishes.
    assert_eq!(
        standings.set(key("a"), Standing::Current),
        Change::Unchanged
    );
    assert_eq!(counts(&standings), [1, 0, 0, 0]);
    assert!(
        standings.retain_listed().is_empty(),
        "nothing left to forget"
    );
}
