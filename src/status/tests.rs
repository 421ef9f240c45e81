use serde_json::json;

use super::*;
use crate::plan::{ErrorKind, PlanError, Step};

fn object(status: Value) -> GitopsPostgres {
    serde_json::from_value(json!({
        "metadata": {"name": "pg1", "namespace": "db", "generation": 4},
        "spec": {"version": "16.4"},
        "status": status
    }))
    .unwrap()
}

fn plan() -> DatabasePlan {
    DatabasePlan::new("db".into(), "pg1".into())
}

fn live(phase: &str) -> KubedbPostgres {
    serde_json::from_value(
        json!({"metadata": {"name": "pg1"}, "spec": {}, "status": {"phase": phase}}),
    )
    .unwrap()
}

fn ops(name: &str, generation: i64, phase: &str) -> PostgresOpsRequest {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": {GENERATION_ANNOTATION: generation.to_string()}},
        "spec": {"type": "Restart"}, "status": {"phase": phase}
    }))
    .unwrap()
}

fn condition<'a>(status: &'a GitopsStatus, kind: &str) -> &'a Condition {
    status.conditions.iter().find(|c| c.type_ == kind).unwrap()
}

#[test]
fn in_sync_and_ready_is_current() {
    let object = object(json!(null));
    let live = live("Ready");
    let status = compute(&StatusInput {
        invalid_manifest: None,
        object: &object,
        plan: &plan(),
        ops: &[],
        live: Some(&live),
        suspended: false,
        now: "2026-11-22T00:00:00Z",
    });
    assert_eq!(condition(&status, "Ready").status, "True");
    assert_eq!(condition(&status, "Reconciling").status, "False");
    assert_eq!(condition(&status, "Stalled").status, "False");
    assert_eq!(status.phase.as_deref(), Some("Ready"));
    let info = &status.gitops.as_ref().unwrap().git_ops_info[0];
    assert_eq!(info.change_request_status.as_deref(), Some("Current"));
    assert_eq!(info.observed_generation, Some(4));
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(4))
    );
}

#[test]
fn matching_git_but_not_ready_is_still_reconciling() {
    // kstatus reads Reconciling=True as InProgress: Flux's wait must not end before KubeDB
    // reports the database Ready (while it provisions it, or after an OpsRequest).
    let object = object(json!(null));
    for phase in ["Provisioning", "NotReady", "Critical"] {
        let live = live(phase);
        let status = compute(&StatusInput {
            invalid_manifest: None,
            object: &object,
            plan: &plan(),
            ops: &[],
            live: Some(&live),
            suspended: false,
            now: "t",
        });
        let reconciling = condition(&status, "Reconciling");
        assert_eq!(reconciling.status, "True", "{phase}");
        assert_eq!(reconciling.reason.as_deref(), Some("DatabaseNotReady"));
        assert!(reconciling.message.as_deref().unwrap().contains(phase));
        assert_eq!(condition(&status, "Ready").status, "False");
        assert_eq!(condition(&status, "Stalled").status, "False");
        assert_eq!(status.observed_generation, Some(4));
    }
}

#[test]
fn progressing_lists_this_generations_ops_requests_with_phases() {
    let object = object(json!(null));
    let mut plan = plan();
    plan.waiting_for = Some("pg1-restart-abc".into());
    let (mine, old) = (
        ops("pg1-restart-abc", 4, "Progressing"),
        ops("pg1-restart-old", 3, "Successful"),
    );
    let status = compute(&StatusInput {
        invalid_manifest: None,
        object: &object,
        plan: &plan,
        ops: &[&mine, &old],
        live: None,
        suspended: false,
        now: "t",
    });
    assert_eq!(condition(&status, "Reconciling").status, "True");
    assert_eq!(
        condition(&status, "Reconciling").message.as_deref(),
        Some("waiting for OpsRequest pg1-restart-abc")
    );
    let info = &status.gitops.as_ref().unwrap().git_ops_info[0];
    assert_eq!(info.change_request_status.as_deref(), Some("InProgress"));
    assert_eq!(
        info.operations,
        vec![GitOpsOperation {
            name: "pg1-restart-abc".into(),
            status: "Progressing".into()
        }]
    );
}

#[test]
fn steps_not_yet_started_are_pending() {
    let object = object(json!(null));
    let mut plan = plan();
    plan.steps.push(Step::Patch(json!({})));
    let status = compute(&StatusInput {
        invalid_manifest: None,
        object: &object,
        plan: &plan,
        ops: &[],
        live: None,
        suspended: false,
        now: "t",
    });
    assert_eq!(
        status.gitops.unwrap().git_ops_info[0]
            .change_request_status
            .as_deref(),
        Some("Pending")
    );
}

#[test]
fn errors_stall_with_the_message() {
    let object = object(json!(null));
    let mut plan = plan();
    plan.errors.push(PlanError {
        file: "pg1.yaml".into(),
        line: 3,
        message: "VolumeExpansion x ended Failed: disk".into(),
        kind: ErrorKind::OpsRequestFailed,
    });
    let status = compute(&StatusInput {
        invalid_manifest: None,
        object: &object,
        plan: &plan,
        ops: &[],
        live: None,
        suspended: false,
        now: "t",
    });
    let stalled = condition(&status, "Stalled");
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_deref()),
        ("True", Some("OpsRequestFailed"))
    );
    assert!(
        stalled
            .message
            .as_deref()
            .unwrap()
            .contains("pg1.yaml:3: VolumeExpansion x ended Failed: disk")
    );
    assert_eq!(condition(&status, "Ready").status, "False");
    assert_eq!(
        status.gitops.unwrap().git_ops_info[0]
            .change_request_status
            .as_deref(),
        Some("Failed")
    );
}

/// The reason comes from what stops the database, not from the wording of a message (a
/// refusal whose text says "ended" is no failed OpsRequest).
#[test]
fn the_stalled_reason_follows_the_kind_of_error() {
    let object = object(json!(null));
    let error = |kind, message: &str| PlanError {
        file: "pg1.yaml".into(),
        line: 3,
        message: message.into(),
        kind,
    };
    let cases = [
        (
            vec![error(
                ErrorKind::InvalidSpec,
                "the init phase ended before; keep spec.init",
            )],
            "InvalidSpec",
        ),
        (
            vec![error(ErrorKind::OpsRequestNoEffect, "Restart x succeeded")],
            "OpsRequestNoEffect",
        ),
        (
            vec![error(
                ErrorKind::UnreadableRecord,
                "gitops.kubedb.com/last-applied",
            )],
            "UnreadableRecord",
        ),
        (
            vec![
                error(ErrorKind::InvalidSpec, "spec.replicas: must be at least 1"),
                error(ErrorKind::OpsRequestFailed, "VolumeExpansion x: disk"),
            ],
            "OpsRequestFailed",
        ),
    ];
    for (errors, reason) in cases {
        let mut plan = plan();
        plan.errors = errors;
        let status = compute(&StatusInput {
            invalid_manifest: None,
            object: &object,
            plan: &plan,
            ops: &[],
            live: None,
            suspended: false,
            now: "t",
        });
        for kind in ["Stalled", "Ready"] {
            assert_eq!(
                condition(&status, kind).reason.as_deref(),
                Some(reason),
                "{kind}: {:?}",
                plan.errors
            );
        }
    }
}

#[test]
fn transition_times_survive_unchanged_conditions_so_idle_writes_nothing() {
    let live = live("Ready");
    let first_object = object(json!(null));
    let first = compute(&StatusInput {
        invalid_manifest: None,
        object: &first_object,
        plan: &plan(),
        ops: &[],
        live: Some(&live),
        suspended: false,
        now: "t1",
    });
    let second_object = object(serde_json::to_value(&first).unwrap());
    let second = compute(&StatusInput {
        invalid_manifest: None,
        object: &second_object,
        plan: &plan(),
        ops: &[],
        live: Some(&live),
        suspended: false,
        now: "t2",
    });
    assert_eq!(
        condition(&second, "Ready").last_transition_time.as_deref(),
        Some("t1")
    );
    assert!(
        !differs(&second_object, &second),
        "recomputing an unchanged status must not write"
    );
    assert!(differs(&first_object, &first));
}

#[test]
fn history_keeps_earlier_generations_briefly() {
    let entries: Vec<Value> = (0..8)
        .map(|g| json!({"observedGeneration": g, "changeRequestStatus": "Current"}))
        .collect();
    let object = object(json!({"gitops": {"gitOpsInfo": entries}}));
    let status = compute(&StatusInput {
        invalid_manifest: None,
        object: &object,
        plan: &plan(),
        ops: &[],
        live: None,
        suspended: false,
        now: "t",
    });
    let info = status.gitops.unwrap().git_ops_info;
    assert_eq!(info.len(), HISTORY);
    assert_eq!(info[0].observed_generation, Some(4));
    assert!(info[1..].iter().all(|i| i.observed_generation != Some(4)));
}

#[test]
fn suspended_says_so() {
    let object = object(json!(null));
    let status = compute(&StatusInput {
        invalid_manifest: None,
        object: &object,
        plan: &plan(),
        ops: &[],
        live: None,
        suspended: true,
        now: "t",
    });
    assert_eq!(
        condition(&status, "Ready").reason.as_deref(),
        Some("Suspended")
    );
}

#[test]
fn operations_keep_the_order_already_written_when_timestamps_tie() {
    // Same creation second: name order would put verticalscaling before volumeexpansion.
    let object = object(json!({"gitops": {"gitOpsInfo": [{
        "observedGeneration": 4, "changeRequestStatus": "InProgress",
        "operations": [{"name": "pg1-volumeexpansion-aaaaaa", "status": "Successful"}]
    }]}}));
    let mut plan = plan();
    plan.waiting_for = Some("pg1-verticalscaling-bbbbbb".into());
    let (first, second) = (
        ops("pg1-volumeexpansion-aaaaaa", 4, "Successful"),
        ops("pg1-verticalscaling-bbbbbb", 4, "Pending"),
    );
    let status = compute(&StatusInput {
        invalid_manifest: None,
        object: &object,
        plan: &plan,
        ops: &[&second, &first],
        live: Some(&live("Ready")),
        suspended: false,
        now: "2026-11-22T00:00:00Z",
    });
    let names: Vec<&str> = status.gitops.as_ref().unwrap().git_ops_info[0]
        .operations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["pg1-volumeexpansion-aaaaaa", "pg1-verticalscaling-bbbbbb"]
    );
}

#[test]
fn a_broken_manifest_in_git_shows_as_a_condition_only_while_it_is_broken() {
    let object = object(json!(null));
    let live = live("Ready");
    let plan = plan();
    let input = |invalid_manifest| StatusInput {
        invalid_manifest,
        object: &object,
        plan: &plan,
        ops: &[],
        live: Some(&live),
        suspended: false,
        now: "2026-11-22T00:00:00Z",
    };
    let error = "team-a/pg1.yaml:8: spec.replica: unknown field";
    let broken = compute(&input(Some(error)));
    let invalid = condition(&broken, "InvalidManifest");
    assert_eq!(invalid.status, "True");
    assert_eq!(invalid.reason.as_deref(), Some("ValidationFailed"));
    assert_eq!(invalid.message.as_deref(), Some(error));
    assert_eq!(
        condition(&broken, "Ready").status,
        "True",
        "the last good version still runs"
    );
    let fixed = compute(&input(None));
    assert!(
        !fixed
            .conditions
            .iter()
            .any(|c| c.type_ == "InvalidManifest")
    );
}

mod holds;
