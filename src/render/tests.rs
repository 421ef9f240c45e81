use serde_json::json;

use super::*;
use crate::plan::{ErrorKind, PlanError};

fn report() -> PlanReport {
    PlanReport {
        databases: vec![DatabasePlan {
            steps: vec![Step::Patch(json!({"spec": {"deletionPolicy": "Halt"}}))],
            notes: vec!["version check skipped".into()],
            before: json!({"deletionPolicy": "Delete", "replicas": 3}),
            after: json!({"deletionPolicy": "Halt", "replicas": 3}),
            ..DatabasePlan::new("db".into(), "pg1".into())
        }],
        errors: vec![PlanError {
            file: "junk.yaml".into(),
            line: 2,
            message: "invalid YAML".into(),
            kind: ErrorKind::InvalidSpec,
        }],
    }
}

#[test]
fn text_shows_a_unified_diff_and_numbered_steps() {
    let text = text(&report(), false);
    assert!(text.contains("db/pg1 1 step(s)"), "{text}");
    assert!(text.contains("-deletionPolicy: Delete"), "{text}");
    assert!(text.contains("+deletionPolicy: Halt"), "{text}");
    assert!(text.contains("  1. Patch"), "{text}");
    assert!(text.contains("note: version check skipped"), "{text}");
    assert!(text.contains("error: junk.yaml:2: invalid YAML"), "{text}");
    assert!(!text.contains('\x1b'), "no colour off a terminal");
}

#[test]
fn colour_only_when_asked() {
    assert!(text(&report(), true).contains(GREEN));
}

#[test]
fn json_is_the_contract() {
    let value: Value = serde_json::from_str(&json(&report())).unwrap();
    assert_eq!(value["databases"][0]["steps"][0]["type"], "Patch");
    assert_eq!(value["errors"][0]["line"], 2);
}
