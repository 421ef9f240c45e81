use super::*;
use serde_json::json;

fn at(revision: &str, phase: &str) -> Value {
    json!({"metadata": {"resourceVersion": revision}, "status": {"phase": phase}})
}

#[test]
fn our_newer_write_wins_over_a_stale_cache() {
    let cached = at("10", "Pending");
    assert_eq!(
        newest_of(cached.clone(), Some(&at("11", "Progressing"))),
        at("11", "Progressing")
    );
    assert_eq!(
        newest_of(cached.clone(), Some(&at("9", "Progressing"))),
        cached
    );
    assert_eq!(newest_of(cached.clone(), None), cached);
    // Revisions compare as numbers, not strings.
    assert_eq!(
        newest_of(at("9", "Pending"), Some(&at("10", "Failed"))),
        at("10", "Failed")
    );
    // An unparsable revision never beats the cache.
    assert_eq!(newest_of(cached.clone(), Some(&at("x", "Failed"))), cached);
}
