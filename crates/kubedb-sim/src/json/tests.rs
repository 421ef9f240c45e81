use super::*;
use serde_json::json;

#[test]
fn fill_keeps_what_is_there_and_replaces_null() {
    let mut spec = json!({"replicas": 3, "standbyMode": null});
    fill(&mut spec, "replicas", json!(1));
    fill(&mut spec, "standbyMode", json!("Hot"));
    fill(&mut spec, "storageType", json!("Durable"));
    assert_eq!(
        spec,
        json!({"replicas": 3, "standbyMode": "Hot", "storageType": "Durable"})
    );
}

#[test]
fn named_item_finds_or_appends() {
    let mut list = json!([{"name": "postgres", "image": "x"}]);
    named_item(&mut list, "postgres")["resources"] = json!({});
    named_item(&mut list, "pg-coordinator");
    assert_eq!(
        list,
        json!([{"name": "postgres", "image": "x", "resources": {}}, {"name": "pg-coordinator"}])
    );
}

#[test]
fn merge_patch_sets_changes_and_nulls_removals() {
    let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2], "gone": true});
    let new = json!({"a": 1, "b": {"c": 5, "d": 3}, "e": [1], "added": "x"});
    assert_eq!(
        merge_patch(&old, &new),
        Some(json!({"b": {"c": 5}, "e": [1], "added": "x", "gone": null}))
    );
    assert_eq!(merge_patch(&old, &old), None);
}

#[test]
fn unset_matches_go_zero_values() {
    assert!(is_unset(None));
    assert!(is_unset(Some(&json!(""))));
    assert!(is_unset(Some(&json!({}))));
    assert!(!is_unset(Some(&json!(0))));
    assert!(!is_unset(Some(&json!({"a": 1}))));
}
