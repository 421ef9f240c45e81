use super::*;
use crate::FAIL_ANNOTATION;
use crate::status::PAUSED;

const NOW: &str = "2026-11-22T03:00:00Z";
const STEP: std::time::Duration = std::time::Duration::from_secs(2);

fn ready_database(name: &str) -> Value {
    let spec = default_postgres_spec(
        name,
        &json!({"version": "16.8", "storage": {"resources": {"requests": {"storage": "10Gi"}}}}),
        &VersionFacts::new("16.8", None),
    );
    let conditions: Vec<Value> = [
        PROVISIONING_STARTED,
        PROVISIONED,
        REPLICA_READY,
        ACCEPTING_CONNECTION,
        READY,
    ]
    .iter()
    .map(|kind| json!({"type": kind, "status": "True", "lastTransitionTime": NOW}))
    .collect();
    json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "generation": 2},
        "spec": spec,
        "status": {"phase": "Ready", "observedGeneration": 2, "conditions": conditions},
    })
}

fn ops(name: &str, created: &str, phase: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["databaseRef"] = json!({"name": "pg1"});
    let mut ops = json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "generation": 1,
                     "creationTimestamp": created},
        "spec": spec,
    });
    if !phase.is_empty() {
        ops["status"] = json!({"phase": phase});
    }
    ops
}

fn restart(name: &str, created: &str, phase: &str) -> Value {
    ops(
        name,
        created,
        phase,
        json!({"type": "Restart", "restart": {}}),
    )
}

fn plan_for(databases: Vec<Value>, ops_requests: Vec<Value>, elapsed: &[&str]) -> Plan {
    let snapshot = Snapshot {
        databases,
        ops_requests,
        ..Snapshot::default()
    };
    let elapsed: BTreeSet<String> = elapsed.iter().map(|uid| uid.to_string()).collect();
    decide(
        &snapshot,
        Clock {
            now: NOW,
            elapsed: &elapsed,
            step: STEP,
        },
    )
}

fn status_of<'a>(plan: &'a Plan, kind: TargetKind, name: &str) -> Vec<&'a Value> {
    plan.steps
        .iter()
        .flat_map(|step| &step.writes)
        .filter(|write| {
            write.target.kind == kind && write.target.name == name && write.part == Part::Status
        })
        .map(|write| &write.patch)
        .collect()
}

fn ops_phase(plan: &Plan, name: &str) -> Option<String> {
    status_of(plan, TargetKind::OpsRequest, name)
        .last()
        .and_then(|patch| patch["phase"].as_str().map(str::to_string))
}

fn has_condition(patch: &Value, kind: &str) -> bool {
    patch["conditions"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    })
}

#[test]
fn a_new_database_is_defaulted_then_provisioned() {
    let fresh = json!({"metadata": {"name": "pg1", "namespace": "ns", "uid": "u1", "generation": 1},
                       "spec": {"version": "16.8"}});
    let plan = plan_for(vec![fresh.clone()], vec![], &[]);
    assert_eq!(plan.steps.len(), 1);
    let write = &plan.steps[0].writes[0];
    assert_eq!(write.part, Part::Main);
    assert_eq!(write.patch["spec"]["replicas"], 1);
    assert!(
        write.patch["spec"].get("version").is_none(),
        "only defaults are written"
    );

    let mut defaulted = fresh;
    defaulted["spec"] =
        default_postgres_spec("pg1", &defaulted["spec"], &VersionFacts::new("16.8", None));
    let plan = plan_for(vec![defaulted.clone()], vec![], &[]);
    let patch = &plan.steps[0].writes[0].patch;
    assert_eq!(patch["phase"], "Provisioning");
    assert!(has_condition(patch, PROVISIONING_STARTED));
    assert!(plan.steps[0].writes[0].observe_generation);

    defaulted["status"] = patch.clone();
    let waiting = plan_for(vec![defaulted.clone()], vec![], &[]);
    assert!(waiting.steps.is_empty());
    assert_eq!(
        waiting.timers,
        vec![("u1".to_string(), TimerKind::Provisioning)]
    );

    let done = plan_for(vec![defaulted], vec![], &["u1"]);
    let patch = &done.steps[0].writes[0].patch;
    assert_eq!(patch["phase"], "Ready");
    for kind in [PROVISIONED, REPLICA_READY, ACCEPTING_CONNECTION, READY] {
        assert!(has_condition(patch, kind), "{kind} missing in {patch}");
    }
}

#[test]
fn a_changed_generation_is_observed() {
    let mut database = ready_database("pg1");
    database["metadata"]["generation"] = json!(3);
    let plan = plan_for(vec![database], vec![], &[]);
    assert_eq!(plan.steps.len(), 1);
    assert!(plan.steps[0].writes[0].observe_generation);
}

#[test]
fn new_requests_are_queued_or_refused() {
    let good = restart("a", "2026-11-22T02:00:00Z", "");
    let missing_block = ops(
        "b",
        "2026-11-22T02:00:01Z",
        "",
        json!({"type": "VolumeExpansion"}),
    );
    let plan = plan_for(vec![ready_database("pg1")], vec![good, missing_block], &[]);
    assert_eq!(ops_phase(&plan, "a").as_deref(), Some("Pending"));
    assert_eq!(ops_phase(&plan, "b").as_deref(), Some("Failed"));
    let failed = status_of(&plan, TargetKind::OpsRequest, "b")[0];
    let condition = &failed["conditions"][0];
    assert_eq!(condition["reason"], "Failed");
    assert_eq!(
        condition["message"],
        "spec.volumeExpansion is required for spec.type VolumeExpansion"
    );
}

#[test]
fn the_oldest_pending_request_starts_and_pauses_the_database() {
    let first = ops(
        "z-first",
        "2026-11-22T02:00:00Z",
        "Pending",
        json!({"type": "HorizontalScaling", "horizontalScaling": {"replicas": 3}}),
    );
    let second = restart("a-second", "2026-11-22T02:00:05Z", "Pending");
    let plan = plan_for(vec![ready_database("pg1")], vec![second, first], &[]);
    assert_eq!(ops_phase(&plan, "z-first").as_deref(), Some("Progressing"));
    assert_eq!(ops_phase(&plan, "a-second"), None, "the second waits");
    let db_patch = status_of(&plan, TargetKind::Database, "pg1")[0];
    assert!(has_condition(db_patch, PAUSED));
}

#[test]
fn same_second_requests_are_ordered_by_name() {
    let b = restart("b", "2026-11-22T02:00:00Z", "Pending");
    let a = ops(
        "a",
        "2026-11-22T02:00:00Z",
        "Pending",
        json!({"type": "HorizontalScaling", "horizontalScaling": {"replicas": 3}}),
    );
    let plan = plan_for(vec![ready_database("pg1")], vec![b, a], &[]);
    assert_eq!(ops_phase(&plan, "a").as_deref(), Some("Progressing"));
}

#[test]
fn a_finished_request_writes_the_spec_then_resumes_then_succeeds() {
    let mut database = ready_database("pg1");
    database["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": PAUSED, "status": "True"}));
    let running = ops(
        "grow",
        "2026-11-22T02:00:00Z",
        "Progressing",
        json!({"type": "VolumeExpansion", "volumeExpansion": {"mode": "Online", "postgres": "20Gi"}}),
    );
    let waiting = plan_for(vec![database.clone()], vec![running.clone()], &[]);
    assert!(waiting.steps.is_empty());
    assert_eq!(
        waiting.timers,
        vec![("uid-grow".to_string(), TimerKind::OpsStep)]
    );

    let plan = plan_for(vec![database], vec![running], &["uid-grow"]);
    let writes = &plan.steps[0].writes;
    assert_eq!(writes.len(), 3);
    assert_eq!(
        (writes[0].target.kind, writes[0].part),
        (TargetKind::Database, Part::Main)
    );
    assert_eq!(
        writes[0].patch,
        json!({"spec": {"storage": {"resources": {"requests": {"storage": "20Gi"}}}}})
    );
    assert_eq!(
        (writes[1].target.kind, writes[1].part),
        (TargetKind::Database, Part::Status)
    );
    assert!(!has_condition(&writes[1].patch, PAUSED));
    assert!(writes[1].observe_generation);
    assert_eq!(writes[2].patch["phase"], "Successful");
    assert!(has_condition(&writes[2].patch, "Successful"));
}

#[test]
fn an_injected_failure_fails_after_the_step_and_resumes() {
    let mut database = ready_database("pg1");
    database["metadata"]["annotations"] = json!({FAIL_ANNOTATION: "Reconfigure, Restart"});
    database["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": PAUSED, "status": "True"}));
    let running = restart("r", "2026-11-22T02:00:00Z", "Progressing");
    let plan = plan_for(vec![database], vec![running], &["uid-r"]);
    let writes = &plan.steps[0].writes;
    assert_eq!(writes.len(), 2, "no spec write");
    assert!(!has_condition(&writes[0].patch, PAUSED));
    assert_eq!(writes[1].patch["phase"], "Failed");
    let message = writes[1].patch["conditions"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains(FAIL_ANNOTATION), "{message}");
}

#[test]
fn a_custom_injected_message_is_used() {
    let database = json!({"metadata": {"annotations": {
        FAIL_ANNOTATION: "*", crate::FAIL_MESSAGE_ANNOTATION: "disk on fire"}}});
    assert_eq!(
        crate::injected_failure(&database, "Restart").as_deref(),
        Some("disk on fire")
    );
    let unrelated = json!({"metadata": {"annotations": {FAIL_ANNOTATION: "Restart"}}});
    assert_eq!(crate::injected_failure(&unrelated, "Reconfigure"), None);
}

#[test]
fn a_superseded_pending_request_is_skipped() {
    let running = restart("r", "2026-11-22T02:00:00Z", "Progressing");
    let older = ops(
        "h1",
        "2026-11-22T02:00:01Z",
        "Pending",
        json!({"type": "HorizontalScaling", "horizontalScaling": {"replicas": 3}}),
    );
    let newer = ops(
        "h2",
        "2026-11-22T02:00:02Z",
        "Pending",
        json!({"type": "HorizontalScaling", "horizontalScaling": {"replicas": 5}}),
    );
    let mut database = ready_database("pg1");
    database["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": PAUSED, "status": "True"}));
    // While the restart runs, nothing else moves.
    let plan = plan_for(
        vec![database.clone()],
        vec![running, older.clone(), newer.clone()],
        &[],
    );
    assert!(plan.steps.is_empty(), "{:?}", plan.steps);
    // Once it has ended, the older scaling request is superseded.
    let mut database = ready_database("pg1");
    database["spec"]["replicas"] = json!(1);
    let plan = plan_for(vec![database], vec![older, newer], &[]);
    assert_eq!(ops_phase(&plan, "h1").as_deref(), Some("Skipped"));
    let patch = status_of(&plan, TargetKind::OpsRequest, "h1")[0];
    assert!(
        patch["conditions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("h2")
    );
}

#[test]
fn if_ready_requests_wait_for_a_ready_database_and_always_does_not() {
    let mut provisioning = ready_database("pg1");
    provisioning["status"] = json!({"phase": "Provisioning", "observedGeneration": 2,
        "conditions": [{"type": PROVISIONING_STARTED, "status": "True"}]});
    let plan = plan_for(
        vec![provisioning.clone()],
        vec![restart("r", "2026-11-22T02:00:00Z", "Pending")],
        &[],
    );
    assert_eq!(ops_phase(&plan, "r"), None);
    let mut always = restart("r", "2026-11-22T02:00:00Z", "Pending");
    always["spec"]["apply"] = json!("Always");
    let plan = plan_for(vec![provisioning], vec![always], &[]);
    assert_eq!(ops_phase(&plan, "r").as_deref(), Some("Progressing"));
}

#[test]
fn a_request_refused_at_its_turn_fails_without_pausing() {
    let shrink = ops(
        "shrink",
        "2026-11-22T02:00:00Z",
        "Pending",
        json!({"type": "VolumeExpansion", "volumeExpansion": {"mode": "Online", "postgres": "5Gi"}}),
    );
    let plan = plan_for(vec![ready_database("pg1")], vec![shrink], &[]);
    assert_eq!(ops_phase(&plan, "shrink").as_deref(), Some("Failed"));
    assert!(status_of(&plan, TargetKind::Database, "pg1").is_empty());
}

#[test]
fn an_orphaned_pause_is_lifted() {
    let mut database = ready_database("pg1");
    database["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": PAUSED, "status": "True"}));
    let plan = plan_for(vec![database], vec![], &[]);
    let patch = status_of(&plan, TargetKind::Database, "pg1")[0];
    assert!(!has_condition(patch, PAUSED));
}

#[test]
fn a_request_for_a_database_that_vanished_fails() {
    let running = restart("r", "2026-11-22T02:00:00Z", "Progressing");
    let plan = plan_for(vec![], vec![running], &["uid-r"]);
    assert_eq!(ops_phase(&plan, "r").as_deref(), Some("Failed"));
    let pending = restart("p", "2026-11-22T02:00:00Z", "Pending");
    let plan = plan_for(vec![], vec![pending], &[]);
    assert_eq!(ops_phase(&plan, "p").as_deref(), Some("Failed"));
}

#[test]
fn a_running_request_blocks_an_older_pending_one() {
    // Same second: "a" sorts first, but "b" already runs.
    let pending = restart("a", "2026-11-22T02:00:00Z", "Pending");
    let running = ops(
        "b",
        "2026-11-22T02:00:00Z",
        "Progressing",
        json!({"type": "HorizontalScaling", "horizontalScaling": {"replicas": 3}}),
    );
    let mut database = ready_database("pg1");
    database["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": PAUSED, "status": "True"}));
    let plan = plan_for(
        vec![database.clone()],
        vec![pending.clone(), running.clone()],
        &[],
    );
    assert!(plan.steps.is_empty(), "{:?}", plan.steps);
    assert_eq!(plan.timers, vec![("uid-b".to_string(), TimerKind::OpsStep)]);
    let plan = plan_for(vec![database], vec![pending, running], &["uid-b"]);
    assert_eq!(ops_phase(&plan, "b").as_deref(), Some("Successful"));
    assert_eq!(ops_phase(&plan, "a"), None);
}

#[test]
fn a_request_whose_timeout_is_shorter_than_the_step_times_out() {
    let mut database = ready_database("pg1");
    database["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": PAUSED, "status": "True"}));
    let mut running = restart("r", "2026-11-22T02:00:00Z", "Progressing");
    running["spec"]["timeout"] = json!("1s");
    let plan = plan_for(vec![database.clone()], vec![running.clone()], &["uid-r"]);
    assert_eq!(ops_phase(&plan, "r").as_deref(), Some("Failed"));
    let patch = status_of(&plan, TargetKind::OpsRequest, "r")[0];
    let message = patch["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("spec.timeout 1s"), "{message}");
    running["spec"]["timeout"] = json!("5m");
    let plan = plan_for(vec![database], vec![running], &["uid-r"]);
    assert_eq!(ops_phase(&plan, "r").as_deref(), Some("Successful"));
}
