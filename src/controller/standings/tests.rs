use super::*;

fn key(name: &str) -> Key {
    ObjectRef::new(name).within("team-a")
}

fn counts(standings: &Standings) -> Vec<u64> {
    Standing::ALL.iter().map(|s| standings.count(*s)).collect()
}

#[test]
fn a_changed_standing_moves_its_count_and_an_unchanged_one_reports_no_change() {
    let mut standings = Standings::default();
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
    let mut standings = Standings::default();
    standings.set(key("a"), Standing::Stalled);
    standings.set(key("b"), Standing::Current);
    assert_eq!(standings.forget(&key("a")), Some(Standing::Stalled));
    assert_eq!(standings.forget(&key("a")), None);
    assert_eq!(counts(&standings), [1, 0, 0, 0]);
}

#[test]
fn after_a_relist_only_databases_still_listed_are_counted() {
    let mut standings = Standings::default();
    standings.set(key("a"), Standing::Stalled);
    standings.set(key("b"), Standing::Suspended);
    standings.set(key("c"), Standing::Current);
    let mut gone = standings.retain(|k| k.name == "c");
    gone.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    assert_eq!(
        gone,
        [
            (key("a"), Standing::Stalled),
            (key("b"), Standing::Suspended)
        ]
    );
    assert!(standings.retain(|k| k.name == "c").is_empty());
    assert_eq!(counts(&standings), [1, 0, 0, 0]);
}
