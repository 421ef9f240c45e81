use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::models::OpsRequestType;

fn step(kind: OpsRequestType, name: &str) -> Step {
    crate::plan::test_step(kind, name, json!({"volumeExpansion": {"mode": "Online"}}))
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Thursday noon UTC: outside `Sat 01:00-05:00`.
const THURSDAY: &str = "2026-12-03T12:00:00Z";

fn control() -> ChangeControl {
    ChangeControl {
        approval: ApprovalPolicy::parse(["UpdateVersion"]).unwrap(),
        windows: vec![(
            parse_selector("env=production").unwrap(),
            Schedule::parse("Sat 01:00-05:00 Europe/Berlin").unwrap(),
        )],
    }
}

fn held(
    annotations: &[(&str, &str)],
    labels: &[(&str, &str)],
    step: &Step,
    now: &str,
) -> Option<Hold> {
    let (annotations, labels) = (map(annotations), map(labels));
    hold(
        &control(),
        &Subject {
            annotations: &annotations,
            labels: &labels,
        },
        step,
        at(now),
    )
}

#[test]
fn a_step_the_policy_names_waits_for_its_token_and_only_its_token() {
    let update = step(OpsRequestType::UpdateVersion, "pg1-update-version-k3x9qa");
    let expected = Hold::AwaitingApproval {
        step: StepType::UpdateVersion,
        ops_request: "pg1-update-version-k3x9qa".into(),
        token: "k3x9qa".into(),
    };
    assert_eq!(held(&[], &[], &update, THURSDAY), Some(expected.clone()));
    // An approval of another intent (a token of an earlier commit) approves nothing.
    assert_eq!(
        held(&[(APPROVED_ANNOTATION, "zzzzzz")], &[], &update, THURSDAY),
        Some(expected.clone())
    );
    assert_eq!(
        held(
            &[(APPROVED_ANNOTATION, "zzzzzz,k3x9qa")],
            &[],
            &update,
            THURSDAY
        ),
        None
    );
    let message = expected.message("demo", "pg1");
    assert!(
        message.contains("pg-gitops approve demo/pg1 --step k3x9qa"),
        "{message}"
    );
    // Not named by the policy: no approval needed.
    assert_eq!(
        held(
            &[],
            &[],
            &step(OpsRequestType::HorizontalScaling, "pg1-x-aaaaaa"),
            THURSDAY
        ),
        None
    );
}

#[test]
fn the_annotation_replaces_the_policy_for_its_database() {
    let update = step(OpsRequestType::UpdateVersion, "pg1-update-version-k3x9qa");
    let restart = step(OpsRequestType::Restart, "pg1-restart-r00000");
    let none = [(APPROVAL_REQUIRED_ANNOTATION, "none")];
    assert_eq!(held(&none, &[], &update, THURSDAY), None);
    let restarts = [(APPROVAL_REQUIRED_ANNOTATION, "Restart")];
    assert_eq!(held(&restarts, &[], &update, THURSDAY), None);
    assert_eq!(
        held(&restarts, &[], &restart, THURSDAY).map(|h| h.kind()),
        Some(HoldKind::Approval)
    );
    // Unreadable: held (the plan reports the error and starts nothing anyway).
    let broken = [(APPROVAL_REQUIRED_ANNOTATION, "Upgrade")];
    assert_eq!(
        held(
            &broken,
            &[],
            &step(OpsRequestType::HorizontalScaling, "pg1-x-aaaaaa"),
            THURSDAY
        )
        .map(|h| h.kind()),
        Some(HoldKind::Approval)
    );
}

#[test]
fn a_disruptive_step_waits_for_the_window_of_its_labels_and_says_when_it_opens() {
    let restart = step(OpsRequestType::Restart, "pg1-restart-r00000");
    let production = [("env", "production")];
    let expected = Hold::OutsideWindow {
        step: StepType::Restart,
        schedule: "Sat 01:00-05:00 Europe/Berlin".into(),
        opens: at("2026-12-05T00:00:00Z"),
    };
    assert_eq!(
        held(&[], &production, &restart, THURSDAY),
        Some(expected.clone())
    );
    assert!(
        expected
            .message("demo", "pg1")
            .contains("the next opens at 2026-12-05T00:00:00Z")
    );
    // Inside the window, and for databases the selector does not match: no hold.
    assert_eq!(
        held(&[], &production, &restart, "2026-12-05T01:00:00Z"),
        None
    );
    assert_eq!(held(&[], &[("env", "staging")], &restart, THURSDAY), None);
    // An online volume expansion or a new replica disturbs nobody: no window needed.
    let grow = step(
        OpsRequestType::VolumeExpansion,
        "pg1-volume-expansion-v00000",
    );
    assert_eq!(held(&[], &production, &grow, THURSDAY), None);
    // The annotation replaces the config's windows.
    let own = [(MAINTENANCE_WINDOW_ANNOTATION, "Thu 11:00-13:00 UTC")];
    assert_eq!(held(&own, &production, &restart, THURSDAY), None);
    let later = [(MAINTENANCE_WINDOW_ANNOTATION, "Thu 13:00-14:00 UTC")];
    assert_eq!(
        held(&later, &[], &restart, THURSDAY),
        Some(Hold::OutsideWindow {
            step: StepType::Restart,
            schedule: "Thu 13:00-14:00 UTC".into(),
            opens: at("2026-12-03T13:00:00Z"),
        })
    );
}

#[test]
fn approval_comes_before_the_window() {
    let update = step(OpsRequestType::UpdateVersion, "pg1-update-version-k3x9qa");
    let production = [("env", "production")];
    assert_eq!(
        held(&[], &production, &update, THURSDAY).map(|h| h.kind()),
        Some(HoldKind::Approval)
    );
    assert_eq!(
        held(
            &[(APPROVED_ANNOTATION, "k3x9qa")],
            &production,
            &update,
            THURSDAY
        )
        .map(|h| h.kind()),
        Some(HoldKind::MaintenanceWindow)
    );
}

#[test]
fn object_writes_are_never_held() {
    let production = [("env", "production")];
    assert_eq!(
        held(&[], &production, &Step::Patch(json!({})), THURSDAY),
        None
    );
    assert_eq!(
        held(&[], &production, &Step::Provision(Box::default()), THURSDAY),
        None
    );
}

#[test]
fn annotations_that_cannot_be_read_are_named() {
    let problems = check_annotations(&map(&[
        (APPROVAL_REQUIRED_ANNOTATION, "Upgrade"),
        (MAINTENANCE_WINDOW_ANNOTATION, "Caturday 01:00-02:00 UTC"),
        (APPROVED_ANNOTATION, "anything"),
    ]));
    let names: Vec<&str> = problems.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        names,
        [APPROVAL_REQUIRED_ANNOTATION, MAINTENANCE_WINDOW_ANNOTATION]
    );
    assert!(problems[1].1.contains("`Caturday` is not a day"));
}

#[test]
fn selectors_as_kubectl_writes_them() {
    let selector = parse_selector("team=payments, env!=dev, tier, !legacy").unwrap();
    assert!(selector.matches(&map(&[
        ("team", "payments"),
        ("env", "prod"),
        ("tier", "db")
    ])));
    assert!(!selector.matches(&map(&[
        ("team", "payments"),
        ("env", "dev"),
        ("tier", "db")
    ])));
    assert!(!selector.matches(&map(&[
        ("team", "payments"),
        ("tier", "db"),
        ("legacy", "y")
    ])));
    assert!(
        parse_selector("team==payments")
            .unwrap()
            .matches(&map(&[("team", "payments")]))
    );
    assert!(parse_selector("=x").is_err());
}
