//! Issue 9, item 11: writing pg-gitops' own record is bookkeeping, never a step. A database
//! whose only difference is the record is in sync: no step, exit code 0.

use serde_json::json;

use super::*;

/// Plans one database against `live` through `plan_all`, as `pg-gitops plan` does.
fn report(desired: Value, live: KubedbPostgres) -> PlanReport {
    let mut manifests = ManifestSet::default();
    manifests.manifests.push(manifest(desired));
    let mut state = LiveState::default();
    state.databases.insert(("db".into(), "pg1".into()), live);
    plan_all(&manifests, &state, &PlanSettings::default(), None)
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
