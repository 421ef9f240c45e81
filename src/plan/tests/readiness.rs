//! KubeDB runs OpsRequests only on a Ready database: one created for a database that is not
//! Ready, halted or being deleted waits in KubeDB's queue or fails, and blocks the next. The
//! plan withholds them and says why; a Patch (which may un-halt the database) still runs.

use serde_json::json;

use super::*;

fn with(mut database: KubedbPostgres, edit: impl FnOnce(&mut Value)) -> KubedbPostgres {
    let mut value = serde_json::to_value(&database).unwrap();
    edit(&mut value);
    database = serde_json::from_value(value).unwrap();
    database
}

#[test]
fn no_ops_request_for_a_database_that_is_not_ready_halted_or_being_deleted() {
    let manifest = manifest(set(desired_spec(), "/replicas", json!(5)));
    let ready = live(live_spec());
    assert_eq!(
        types(&plan(&manifest, Some(&ready))),
        vec![StepType::HorizontalScaling]
    );
    let cases = [
        (
            with(ready.clone(), |v| {
                v["status"]["phase"] = json!("Provisioning")
            }),
            "phase Provisioning",
        ),
        (
            with(ready.clone(), |v| v["spec"]["halted"] = json!(true)),
            "halted",
        ),
        (
            with(ready.clone(), |v| {
                v["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z")
            }),
            "being deleted",
        ),
    ];
    for (database, reason) in cases {
        let planned = plan(&manifest, Some(&database));
        assert_eq!(planned.errors, vec![]);
        assert_eq!(types(&planned), vec![], "{reason}");
        assert_eq!(planned.waiting_for, None, "no OpsRequest is open");
        let why = planned.waiting_reason.as_deref().unwrap_or_default();
        assert!(why.contains(reason), "{reason}: {why:?}");
        assert!(planned.bookkeeping.is_none(), "nothing is recorded as done");
        let rendered = crate::render::text(
            &PlanReport {
                databases: vec![planned.clone()],
                errors: vec![],
            },
            false,
        );
        assert!(rendered.contains(&format!("waiting: {why}")), "{rendered}");
        let report = PlanReport {
            databases: vec![planned],
            errors: vec![],
        };
        assert_eq!(report.exit_code(), 1, "a change is still owed");
        assert!(crate::render::json(&report).contains("\"waitingReason\""));
    }
}

/// The Patch of a halted database still runs: it may be what un-halts it (`halted: false`
/// in Git). The OpsRequests come once it is Ready again.
#[test]
fn a_halted_database_still_gets_its_patch() {
    let spec = set(
        set(desired_spec(), "/replicas", json!(5)),
        "/deletionPolicy",
        json!("Halt"),
    );
    let halted = with(live(live_spec()), |v| {
        v["spec"]["halted"] = json!(true);
        v["status"]["phase"] = json!("Halted");
    });
    let planned = plan(&manifest(spec), Some(&halted));
    assert_eq!(types(&planned), vec![StepType::Patch]);
    assert!(planned.waiting_reason.is_some());
}
