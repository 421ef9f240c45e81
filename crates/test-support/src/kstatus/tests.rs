//! The port against kstatus' own expectations: the five cases of upstream's
//! `TestCRDGenericStatus` (status_compute_test.go, objects rewritten as JSON), and the
//! generic-condition and deletion rules of generic.go.

use serde_json::{Value, json};

use super::*;

fn cr(metadata: Value, status: Value) -> Value {
    let mut object = json!({"apiVersion": "something/v1", "kind": "MyCR", "metadata": metadata});
    if !status.is_null() {
        object["status"] = status;
    }
    object
}

fn status_of(object: &Value) -> (KStatus, Option<String>) {
    let computed = compute(object).unwrap();
    (computed.status, computed.reason)
}

#[test]
fn upstream_crd_generic_status_cases() {
    let g1 = json!({"name": "test", "namespace": "qual", "generation": 1});
    let cases = [
        (
            "crdNoStatus",
            cr(g1.clone(), Value::Null),
            KStatus::Current,
            None,
        ),
        (
            "crdMismatchStatusGeneration",
            cr(
                json!({"name": "test", "namespace": "qual", "generation": 2}),
                json!({"observedGeneration": 1}),
            ),
            KStatus::InProgress,
            Some("LatestGenerationNotObserved"),
        ),
        (
            "crdReady",
            cr(
                g1.clone(),
                json!({"conditions": [{"type": "Ready", "status": "True", "message": "All looks ok", "reason": "AllOk"}]}),
            ),
            KStatus::Current,
            None,
        ),
        (
            "crdNotReady",
            cr(
                g1.clone(),
                json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False", "reason": "NotReadyYet"}]}),
            ),
            KStatus::InProgress,
            Some("NotReadyYet"),
        ),
        (
            "crdNoCondition",
            cr(
                g1,
                json!({"conditions": [{"type": "SomeCondition", "status": "False"}]}),
            ),
            KStatus::Current,
            None,
        ),
    ];
    for (name, object, status, reason) in cases {
        assert_eq!(
            status_of(&object),
            (status, reason.map(str::to_string)),
            "{name}"
        );
    }
}

#[test]
fn the_first_true_reconciling_or_stalled_decides_before_ready() {
    let metadata = json!({"name": "a", "generation": 3});
    let reconciling =
        json!({"type": "Reconciling", "status": "True", "reason": "Busy", "message": "m"});
    let stalled = json!({"type": "Stalled", "status": "True", "reason": "Broken", "message": "x"});
    let ready = json!({"type": "Ready", "status": "True"});
    let object = cr(
        metadata.clone(),
        json!({"observedGeneration": 3, "conditions": [ready, stalled, reconciling]}),
    );
    let computed = compute(&object).unwrap();
    assert_eq!(computed.status, KStatus::Failed);
    assert_eq!(computed.message, "x");
    let object = cr(
        metadata.clone(),
        json!({"conditions": [reconciling, stalled]}),
    );
    assert_eq!(status_of(&object).0, KStatus::InProgress);
    // False conditions are what "abnormal-true" calls normal: Ready decides then.
    let object = cr(
        metadata,
        json!({"conditions": [
            {"type": "Reconciling", "status": "False"},
            {"type": "Stalled", "status": "False"},
            {"type": "Ready", "status": "Unknown", "reason": "Waiting"},
        ]}),
    );
    assert_eq!(
        status_of(&object),
        (KStatus::InProgress, Some("Waiting".into()))
    );
}

#[test]
fn deletion_comes_first_and_wrong_types_are_errors() {
    let object = cr(
        json!({"name": "a", "generation": 2, "deletionTimestamp": "2026-12-01T00:00:00Z"}),
        json!({"observedGeneration": 1}),
    );
    assert_eq!(status_of(&object).0, KStatus::Terminating);
    let object = cr(json!({"name": "a", "generation": "2"}), Value::Null);
    assert!(compute(&object).is_err());
    let object = cr(
        json!({"name": "a"}),
        json!({"conditions": {"type": "Ready"}}),
    );
    assert!(compute(&object).is_err());
}
