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
    assert!(standings.set(key("a"), Standing::Progressing));
    assert!(standings.set(key("b"), Standing::Progressing));
    assert!(!standings.set(key("b"), Standing::Progressing));
    assert!(standings.set(key("a"), Standing::Current));
    assert_eq!(counts(&standings), [1, 1, 0, 0]);
}

#[test]
fn a_deleted_database_is_no_longer_counted() {
    let mut standings = Standings::default();
    standings.set(key("a"), Standing::Stalled);
    standings.set(key("b"), Standing::Current);
    assert!(standings.forget(&key("a")));
    assert!(!standings.forget(&key("a")));
    assert_eq!(counts(&standings), [1, 0, 0, 0]);
}

#[test]
fn after_a_relist_only_databases_still_listed_are_counted() {
    let mut standings = Standings::default();
    standings.set(key("a"), Standing::Stalled);
    standings.set(key("b"), Standing::Suspended);
    standings.set(key("c"), Standing::Current);
    assert!(standings.retain(|k| k.name == "c"));
    assert!(!standings.retain(|k| k.name == "c"));
    assert_eq!(counts(&standings), [1, 0, 0, 0]);
}
