//! Issue 9, item 11: writing pg-gitops' own record is bookkeeping, never a step. A database
//! whose only difference is the record is in sync: no step, exit code 0.

use serde_json::json;

use super::*;
use crate::models::{LAST_APPLIED_ANNOTATION, RESTART_PENDING_ANNOTATION};

/// Plans one database against `live` through `plan_all`, as `pg-gitops plan` does.
fn report(desired: Value, live: KubedbPostgres) -> PlanReport {
    let mut manifests = ManifestSet::default();
    manifests
        .manifests
        .push(std::sync::Arc::new(manifest(desired)));
    let mut state = LiveState::default();
    state
        .databases
        .insert(("db".into(), "pg1".into()), live.into());
    plan_report(&manifests, &state)
}

fn assert_in_sync(report: &PlanReport, case: &str) {
    let plan = &report.databases[0];
    assert_eq!(plan.errors, vec![], "{case}");
    assert_eq!(types(plan), vec![], "{case}: {:#?}", plan.steps);
    assert_eq!(report.exit_code(), 0, "{case}");
}

#[test]
fn an_in_sync_database_without_a_record_has_no_step() {
    assert_in_sync(&report(desired_spec(), live(live_spec())), "no record");
}

#[test]
fn a_record_that_differs_only_in_spelling_is_no_step() {
    let two_containers = set(
        desired_spec(),
        "/podTemplate/spec/containers/1",
        json!({"name": "pg-coordinator", "resources": {"requests": {"cpu": "200m"}}}),
    );
    // The record holds the same values in other spellings and orders.
    let mut recorded = set(
        two_containers.clone(),
        "/storage/resources/requests/storage",
        json!("10737418240"),
    );
    recorded["podTemplate"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .reverse();
    assert_in_sync(
        &report(two_containers, live_recorded(live_spec(), recorded)),
        "spelling",
    );
}

#[test]
fn removing_fields_that_change_nothing_is_no_step() {
    // The record still lists replicas, storage and resources; Git no longer does.
    assert_in_sync(
        &report(
            json!({"version": "16.4", "deletionPolicy": "WipeOut"}),
            live_recorded(live_spec(), desired_spec()),
        ),
        "kept fields removed",
    );
}

/// The service still writes the record: the plan hands it over as bookkeeping once no step
/// is left.
#[test]
fn the_record_is_left_to_the_service_as_bookkeeping() {
    let missing = plan(&manifest(desired_spec()), Some(&live(live_spec())));
    let annotations =
        &missing.bookkeeping.as_ref().expect("the record to write")["metadata"]["annotations"];
    let record: Value =
        serde_json::from_str(annotations[LAST_APPLIED_ANNOTATION].as_str().unwrap()).unwrap();
    assert_eq!(record["spec"], desired_spec());
    // Written once, nothing more: an idle service writes nothing.
    let written = live_recorded(live_spec(), desired_spec());
    assert_eq!(
        plan(&manifest(desired_spec()), Some(&written)).bookkeeping,
        None
    );
    // A record in another spelling is rewritten once, still without a step.
    let respelled = live_recorded(
        live_spec(),
        set(
            desired_spec(),
            "/storage/resources/requests/storage",
            json!("10737418240"),
        ),
    );
    let respelled = plan(&manifest(desired_spec()), Some(&respelled));
    assert_eq!(types(&respelled), vec![]);
    assert!(respelled.bookkeeping.is_some());
    // While a step is left the record waits (a Patch step carries its own part of it).
    let changed = plan(
        &manifest(set(desired_spec(), "/replicas", json!(5))),
        Some(&live(live_spec())),
    );
    assert_eq!(types(&changed), vec![StepType::HorizontalScaling]);
    assert_eq!(changed.bookkeeping, None);
    // An owed Restart that is done is cleared the same way.
    let owed = live_with(
        live_spec(),
        json!({RESTART_PENDING_ANNOTATION: "t0k3n",
               LAST_APPLIED_ANNOTATION: json!({"spec": desired_spec()}).to_string()}),
    );
    let restart = plan(&manifest(desired_spec()), Some(&owed));
    let name = ops_name(&restart, 0);
    let done = ops_request(&name, "Restart", "Successful");
    let cleared = plan_with_ops(&manifest(desired_spec()), Some(&owed), &[&done]);
    assert_eq!(types(&cleared), vec![]);
    assert_eq!(
        cleared.bookkeeping,
        Some(json!({"metadata": {"annotations": {RESTART_PENDING_ANNOTATION: null}}}))
    );
}
