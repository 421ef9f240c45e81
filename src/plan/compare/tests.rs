use serde_json::json;

use super::*;

#[test]
fn only_declared_fields_are_compared() {
    let desired =
        json!({"replicas": 3, "storage": {"resources": {"requests": {"storage": "10Gi"}}}});
    let live = json!({"replicas": 3, "standbyMode": "Hot", "storage": {"accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "10240Mi"}}}});
    assert!(covers(&desired, Some(&live)));
    assert!(!covers(&json!({"replicas": 5}), Some(&live)));
}

#[test]
fn quantities_compare_by_value_only_where_they_are_quantities() {
    let live = json!({"requests": {"cpu": "500m", "memory": "1Gi"}});
    assert!(covers(
        &json!({"requests": {"cpu": 0.5, "memory": "1024Mi"}}),
        Some(&live)
    ));
    assert!(!covers(&json!({"requests": {"cpu": "1"}}), Some(&live)));
    // A version string is not a quantity: "16.4" and "16.40" differ.
    assert!(!covers(
        &json!({"version": "16.40"}),
        Some(&json!({"version": "16.4"}))
    ));
}

#[test]
fn named_lists_match_by_name_and_ignore_extra_live_items() {
    let live =
        json!([{"name": "pg-coordinator", "resources": {}}, {"name": "postgres", "image": "x"}]);
    assert!(covers(
        &json!([{"name": "postgres", "image": "x"}]),
        Some(&live)
    ));
    assert!(!covers(
        &json!([{"name": "postgres", "image": "y"}]),
        Some(&live)
    ));
    assert!(!covers(&json!([{"name": "exporter"}]), Some(&live)));
}

#[test]
fn plain_lists_compare_whole() {
    assert!(covers(&json!(["a", "b"]), Some(&json!(["a", "b"]))));
    assert!(!covers(&json!(["a"]), Some(&json!(["a", "b"]))));
}

#[test]
fn absent_and_empty_are_alike() {
    assert!(covers(&json!({"labels": {}}), Some(&json!({}))));
    assert!(covers(&json!({"enforceFsGroup": false}), Some(&json!({}))));
    assert!(!covers(&json!({"enforceFsGroup": true}), Some(&json!({}))));
    assert!(covers(&json!({}), None));
}

#[test]
fn projection_shows_live_values_at_declared_paths() {
    let desired = json!({"replicas": 5, "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": {"requests": {"cpu": "1"}}}]}}});
    let live = json!({"replicas": 3, "deletionPolicy": "Delete", "podTemplate": {"spec": {"serviceAccountName": "pg", "containers": [
        {"name": "pg-coordinator"}, {"name": "postgres", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}});
    assert_eq!(
        project(&desired, Some(&live)),
        json!({"replicas": 3, "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": {"requests": {"cpu": "500m"}}}]}}})
    );
    // Equal values show in the desired spelling; a version is not a quantity.
    assert_eq!(
        project(
            &json!({"storage": "1Gi", "version": "16.40"}),
            Some(&json!({"storage": "1024Mi", "version": "16.4"}))
        ),
        json!({"storage": "1Gi", "version": "16.4"})
    );
}

#[test]
fn canonical_sorts_keys() {
    assert_eq!(
        canonical(&json!({"b": 1, "a": {"d": 2, "c": 3}})),
        r#"{"a":{"c":3,"d":2},"b":1}"#
    );
}
