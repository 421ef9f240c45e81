use serde_json::{Value, json};

use super::*;

const OPS: &str = "pg1-versionupdate-k3x9qa";

/// A gitops object at generation 3 whose status is as the service writes it for a held
/// UpdateVersion (or, with `held: false`, for a step that started), with `approvals`.
fn object(held: bool, approvals: Option<&str>) -> GitopsPostgres {
    let mut conditions =
        vec![json!({"type": "Ready", "status": "False", "reason": "AwaitingApproval"})];
    let operation = if held {
        conditions.push(json!({
            "type": "AwaitingApproval", "status": "True", "reason": "ApprovalRequired",
            "observedGeneration": 3,
            "message": format!("UpdateVersion awaits approval: pg-gitops approve db/pg1 --step k3x9qa \
                (OpsRequest {OPS}; or annotate gitops.kubedb.com/approved=k3x9qa)"),
        }));
        json!({"name": OPS, "status": "AwaitingApproval"})
    } else {
        json!({"name": OPS, "status": "Progressing"})
    };
    let annotations = approvals.map_or(Value::Null, |a| json!({APPROVED_ANNOTATION: a}));
    serde_json::from_value(json!({
        "metadata": {"name": "pg1", "namespace": "db", "generation": 3, "annotations": annotations},
        "spec": {},
        "status": {
            "observedGeneration": 3,
            "conditions": conditions,
            "gitops": {"gitOpsInfo": [
                {"observedGeneration": 3, "changeRequestStatus": "Pending", "operations": [operation]},
                {"observedGeneration": 2, "operations": [{"name": "pg1-restart-old111", "status": "AwaitingApproval"}]},
            ]},
        },
    }))
    .unwrap()
}

fn update_version() -> Awaiting {
    Awaiting {
        step: "UpdateVersion".into(),
        ops_request: OPS.into(),
        token: "k3x9qa".into(),
    }
}

fn said(kind: OutcomeKind) -> String {
    let outcome = Outcome {
        namespace: "db".into(),
        name: "pg1".into(),
        kind,
    };
    format!("{outcome} (exit {})", outcome.exit_code())
}

#[test]
fn the_step_awaiting_is_read_from_the_listed_operation() {
    assert_eq!(awaiting(&object(true, None)), Ok(Some(update_version())));
    assert_eq!(awaiting(&object(false, None)), Ok(None));
    assert_eq!(
        decide(&object(true, None), None),
        Decision::Approve(update_version())
    );
    assert_eq!(
        decide(&object(true, None), Some("k3x9qa")),
        Decision::Approve(update_version())
    );
}

#[test]
fn another_token_than_the_one_awaiting_is_refused_naming_both() {
    let decision = decide(&object(true, Some("zzzzzz")), Some("zzzzzz"));
    let Decision::Refuse(refusal) = decision else {
        panic!("{decision:?}");
    };
    assert_eq!(
        said(OutcomeKind::Refused(refusal)),
        "db/pg1 awaits approval of UpdateVersion pg1-versionupdate-k3x9qa (token k3x9qa), not \
         zzzzzz: the plan changed since you looked; review it again (exit 1)"
    );
}

#[test]
fn nothing_awaiting_is_refused_unless_the_token_asked_for_is_approved_already() {
    assert_eq!(
        decide(&object(false, None), None),
        Decision::Refuse(Refusal::NothingAwaits)
    );
    assert_eq!(
        said(OutcomeKind::Refused(Refusal::NothingAwaits)),
        "db/pg1 has no step awaiting approval (exit 1)"
    );
    let object_without_status = GitopsPostgres::default();
    assert_eq!(
        decide(&object_without_status, None),
        Decision::Refuse(Refusal::NothingAwaits)
    );
    // Run again after the step started: the approval stands.
    assert_eq!(
        decide(&object(false, Some("k3x9qa")), Some("k3x9qa")),
        Decision::AlreadyApprovedToken("k3x9qa".into())
    );
    assert_eq!(
        decide(&object(false, Some("k3x9qa")), None),
        Decision::Refuse(Refusal::NothingAwaits)
    );
    assert_eq!(
        decide(&object(false, Some("k3x9qa")), Some("other1")),
        Decision::Refuse(Refusal::NothingAwaits)
    );
}

#[test]
fn a_token_already_in_the_annotation_is_not_written_again() {
    let decision = decide(&object(true, Some("abc123, k3x9qa")), None);
    assert_eq!(decision, Decision::AlreadyApproved(update_version()));
    assert!(said(OutcomeKind::AlreadyApproved(update_version())).ends_with("(exit 0)"));
}

#[test]
fn a_status_older_than_the_object_approves_nothing() {
    let mut changed = object(true, None);
    changed.metadata.generation = Some(4);
    let decision = decide(&changed, None);
    assert_eq!(
        decision,
        Decision::Refuse(Refusal::Stale {
            generation: 4,
            observed: 3
        })
    );
}

#[test]
fn a_condition_without_its_listed_operation_is_refused() {
    let mut object = object(true, None);
    let status = object.status.as_mut().unwrap();
    status.gitops.as_mut().unwrap().git_ops_info[0].operations[0].status = "Pending".into();
    assert_eq!(decide(&object, None), Decision::Refuse(Refusal::Unlisted));
}

#[test]
fn the_step_type_comes_from_the_name_else_from_the_message() {
    assert_eq!(
        step_type("pg1-rotate-auth-abc123", "abc123", None),
        "RotateAuth"
    );
    assert_eq!(
        step_type(
            "pg1-odd-abc123",
            "abc123",
            Some("Restart awaits approval: ...")
        ),
        "Restart"
    );
    assert_eq!(step_type("pg1-odd-abc123", "abc123", None), "step");
}

#[test]
fn the_approved_line_names_the_step_the_object_and_the_token() {
    assert_eq!(
        said(OutcomeKind::Approved(update_version())),
        "approved UpdateVersion pg1-versionupdate-k3x9qa of db/pg1 (token k3x9qa) (exit 0)"
    );
}

#[test]
fn the_token_is_appended_once_and_the_ten_most_recent_are_kept() {
    assert_eq!(with_token(None, "k3x9qa"), "k3x9qa");
    assert_eq!(with_token(Some(""), "k3x9qa"), "k3x9qa");
    assert_eq!(
        with_token(Some("abc123, def456 abc123"), "k3x9qa"),
        "abc123,def456,k3x9qa"
    );
    assert_eq!(with_token(Some("k3x9qa,abc123"), "k3x9qa"), "abc123,k3x9qa");
    let many: Vec<String> = (0..12).map(|i| format!("t{i:05}")).collect();
    let value = with_token(Some(&many.join(",")), "k3x9qa");
    let kept: Vec<&str> = value.split(',').collect();
    assert_eq!(kept.len(), KEPT_TOKENS);
    assert_eq!(kept[0], "t00003");
    assert_eq!(kept[KEPT_TOKENS - 1], "k3x9qa");
    assert!(gate::is_approved(Some(&value), "k3x9qa"));
}

#[test]
fn the_target_is_namespace_slash_name() {
    assert_eq!(
        parse_target("db/pg1"),
        Ok(("db".to_string(), "pg1".to_string()))
    );
    for wrong in ["pg1", "/pg1", "db/", "db/pg1/x"] {
        assert!(parse_target(wrong).is_err(), "{wrong}");
    }
}
