//! A step held by change control: the conditions say why and how to go on, the held
//! OpsRequest is listed with the hold as its status, and the status stays byte-identical while
//! the hold lasts (so a held database is written once).

use super::*;
use crate::gate::Hold;
use crate::models::OpsRequestType;
use crate::plan::StepType;

fn held(hold: Hold) -> DatabasePlan {
    let mut plan = plan();
    plan.steps.push(crate::plan::test_step(
        OpsRequestType::UpdateVersion,
        "pg1-update-version-k3x9qa",
        json!({}),
    ));
    plan.hold = Some(hold);
    plan
}

fn status_of(object: &GitopsPostgres, plan: &DatabasePlan, now: &str) -> GitopsStatus {
    compute(&StatusInput {
        invalid_manifest: None,
        object,
        plan,
        ops: &[],
        live: Some(&live("Ready")),
        suspended: false,
        now,
    })
}

#[test]
fn awaiting_approval_has_its_condition_token_and_listed_operation() {
    let plan = held(Hold::AwaitingApproval {
        step: StepType::UpdateVersion,
        ops_request: "pg1-update-version-k3x9qa".into(),
        token: "k3x9qa".into(),
    });
    let object = object(json!(null));
    let status = status_of(&object, &plan, "t1");
    let awaiting = condition(&status, "AwaitingApproval");
    assert_eq!(awaiting.status, "True");
    let message = awaiting.message.as_deref().unwrap();
    assert!(
        message.contains("pg-gitops approve db/pg1 --step k3x9qa"),
        "{message}"
    );
    for kind in ["Ready", "Reconciling"] {
        assert_eq!(
            condition(&status, kind).reason.as_deref(),
            Some("AwaitingApproval")
        );
    }
    assert_eq!(condition(&status, "Reconciling").status, "True");
    assert_eq!(condition(&status, "Stalled").status, "False");
    let info = &status.gitops.as_ref().unwrap().git_ops_info[0];
    assert_eq!(info.change_request_status.as_deref(), Some("Pending"));
    assert_eq!(info.operations[0].name, "pg1-update-version-k3x9qa");
    assert_eq!(info.operations[0].status, "AwaitingApproval");
    // Reconciled again later: nothing to write.
    let written = object_with(&status);
    assert!(!differs(&written, &status_of(&written, &plan, "t2")));
    // Approved and started: the condition is gone.
    let mut started = plan.clone();
    started.hold = None;
    let after = status_of(&written, &started, "t3");
    assert!(
        after
            .conditions
            .iter()
            .all(|c| c.type_ != "AwaitingApproval")
    );
}

#[test]
fn a_window_hold_says_when_the_window_opens_and_the_budget_says_its_cap() {
    let plan = held(Hold::OutsideWindow {
        step: StepType::UpdateVersion,
        schedule: "Sat 01:00-05:00 Europe/Berlin".into(),
        opens: "2026-12-05T00:00:00Z".parse().unwrap(),
    });
    let status = status_of(&object(json!(null)), &plan, "t");
    let ready = condition(&status, "Ready");
    assert_eq!(ready.reason.as_deref(), Some("OutsideMaintenanceWindow"));
    assert!(
        ready
            .message
            .as_deref()
            .unwrap()
            .contains("the next opens at 2026-12-05T00:00:00Z")
    );
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.type_ != "AwaitingApproval")
    );
    let plan = held(Hold::FleetBudget {
        cap: 5,
        group: Some(("team".into(), "payments".into())),
    });
    let status = status_of(&object(json!(null)), &plan, "t");
    let reconciling = condition(&status, "Reconciling");
    assert_eq!(reconciling.reason.as_deref(), Some("FleetBudget"));
    assert!(
        reconciling
            .message
            .as_deref()
            .unwrap()
            .contains("5 OpsRequest(s) at most in flight with team=payments")
    );
}

fn object_with(status: &GitopsStatus) -> GitopsPostgres {
    object(serde_json::to_value(status).unwrap())
}
