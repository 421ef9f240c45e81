//! Every change KubeDB cannot make is an error on that database, at the right line, and
//! nothing is planned for it.

use serde_json::json;

use super::*;

struct Case {
    name: &'static str,
    desired: Vec<(&'static str, Value)>,
    live: Vec<(&'static str, Value)>,
    /// Text the error message must contain.
    message: &'static str,
    /// The manifest key whose line the error must point at.
    line_key: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "storageType",
            desired: vec![("/storageType", json!("Ephemeral"))],
            live: vec![],
            message: "storageType cannot change (Durable → Ephemeral)",
            line_key: "storageType:",
        },
        Case {
            name: "storage shrink",
            desired: vec![("/storage/resources/requests/storage", json!("5Gi"))],
            live: vec![],
            message: "storage cannot shrink (10240Mi → 5Gi)",
            line_key: "storage: 5Gi",
        },
        Case {
            name: "storageClassName",
            desired: vec![("/storage/storageClassName", json!("fast"))],
            live: vec![],
            message: "storageClassName cannot change (\"standard\" → \"fast\")",
            line_key: "storageClassName:",
        },
        Case {
            name: "other storage fields",
            desired: vec![("/storage/accessModes", json!(["ReadWriteMany"]))],
            live: vec![],
            message: "storage.accessModes cannot change",
            line_key: "accessModes:",
        },
        Case {
            name: "replicas below one",
            desired: vec![("/replicas", json!(0))],
            live: vec![],
            message: "replicas must be at least 1, not 0",
            line_key: "replicas:",
        },
        Case {
            name: "init after initialisation",
            desired: vec![(
                "/init",
                json!({"script": {"configMap": {"name": "seed-v2"}}}),
            )],
            live: vec![(
                "/init",
                json!({"initialized": true, "script": {"configMap": {"name": "seed"}}}),
            )],
            message: "spec.init cannot change after the database was initialised",
            line_key: "init:",
        },
        Case {
            name: "inline config key",
            desired: vec![(
                "/configuration",
                json!({"inline": {"postgresql.conf": "x=1"}}),
            )],
            live: vec![],
            message: "only the key `user.conf`",
            line_key: "inline:",
        },
        Case {
            name: "sslMode without tls",
            desired: vec![("/sslMode", json!("require"))],
            live: vec![],
            message: "sslMode require needs spec.tls",
            line_key: "sslMode:",
        },
        Case {
            name: "clientAuthMode cert without tls",
            desired: vec![("/clientAuthMode", json!("cert"))],
            live: vec![],
            message: "clientAuthMode cert needs TLS",
            line_key: "clientAuthMode:",
        },
        Case {
            name: "duplicate container",
            desired: vec![(
                "/podTemplate/spec/containers/1",
                json!({"name": "postgres"}),
            )],
            live: vec![],
            message: "container \"postgres\" is declared twice",
            line_key: "- name: postgres\n",
        },
    ]
}

/// The 1-based line of the last line of `text` that contains `needle` after the spec starts.
fn line_containing(text: &str, needle: &str) -> usize {
    let needle = needle.trim_end_matches('\n');
    let spec_start = text.lines().position(|l| l.starts_with("spec:")).unwrap();
    text.lines()
        .enumerate()
        .skip(spec_start)
        .filter(|(_, l)| l.contains(needle))
        .last()
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in\n{text}"))
}

#[test]
fn every_error_case_blocks_the_database_and_names_the_line() {
    for case in cases() {
        let (desired, live_spec) = mutated(&case.desired, &case.live);
        let manifest = manifest(desired.clone());
        let text = crate::yaml::to_string(
            &json!({"apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
            "metadata": {"name": "pg1", "namespace": "db"}, "spec": desired}),
        );
        let plan = plan(&manifest, Some(&live(live_spec)));
        assert!(
            plan.steps.is_empty(),
            "{}: nothing may be planned, got {:?}",
            case.name,
            types(&plan)
        );
        assert_eq!(plan.errors.len(), 1, "{}: {:?}", case.name, plan.errors);
        let error = &plan.errors[0];
        assert!(
            error.message.contains(case.message),
            "{}: {}",
            case.name,
            error.message
        );
        assert_eq!(error.file, "dbs/pg1.yaml");
        assert_eq!(
            error.line,
            line_containing(&text, case.line_key),
            "{}: {}",
            case.name,
            error.message
        );
    }
}

#[test]
fn version_rules_from_the_catalog() {
    let table = [
        ("17.2", None),
        (
            "18.1",
            Some("its updateConstraints allow only >= 16.4, < 18"),
        ),
        ("17.0", Some("denied by updateConstraints \"17.0\"")),
        ("15.8", Some("is a downgrade (16.4 → 15.8)")),
        ("17.2-timescale", Some("changes the distribution")),
        ("16.9-old", Some("is deprecated")),
        ("19.0", Some("unknown version \"19.0\"")),
    ];
    for (target, expected) in table {
        let manifest = manifest(set(desired_spec(), "/version", json!(target)));
        let plan = plan_with_catalog(&manifest, Some(&live(live_spec())), &catalog());
        match expected {
            None => {
                assert_eq!(plan.errors, vec![], "{target}");
                assert_eq!(types(&plan), vec![StepType::UpdateVersion], "{target}");
                assert!(plan.notes.is_empty(), "{target}: {:?}", plan.notes);
            }
            Some(message) => {
                assert!(plan.steps.is_empty(), "{target}");
                assert!(
                    plan.errors.iter().any(|e| e.message.contains(message)),
                    "{target}: {:?}",
                    plan.errors
                );
            }
        }
    }
}

#[test]
fn without_a_catalog_the_version_check_says_it_was_skipped() {
    let manifest = manifest(set(desired_spec(), "/version", json!("15.8")));
    let plan = plan(&manifest, Some(&live(live_spec())));
    assert_eq!(types(&plan), vec![StepType::UpdateVersion]);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("version check skipped")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn a_new_database_needs_a_known_version() {
    let manifest = manifest(set(desired_spec(), "/version", json!("19.0")));
    let plan = plan_with_catalog(&manifest, None, &catalog());
    assert!(plan.steps.is_empty());
    assert!(plan.errors[0].message.contains("unknown version"));
}

#[test]
fn a_failed_ops_request_stalls_the_database_until_retry() {
    let manifest_v = manifest(set(
        desired_spec(),
        "/storage/resources/requests/storage",
        json!("20Gi"),
    ));
    let live = live(live_spec());
    let first = plan(&manifest_v, Some(&live));
    let name = ops_name(&first, 0);
    let failed = ops_request(&name, "VolumeExpansion", "Failed");
    let stalled = plan_with_ops(&manifest_v, Some(&live), &[&failed]);
    assert!(stalled.steps.is_empty());
    assert_eq!(stalled.error_kind(), Some(ErrorKind::OpsRequestFailed));
    assert!(
        stalled.errors[0].message.contains(&format!(
            "VolumeExpansion {name} ended Failed: volume is stuck"
        )),
        "{:?}",
        stalled.errors
    );
    // Bumping the retry annotation gives a new name, so the step is planned again.
    let retried = manifest_with(
        set(
            desired_spec(),
            "/storage/resources/requests/storage",
            json!("20Gi"),
        ),
        json!({"annotations": {"gitops.kubedb.com/retry": "1"}}),
    );
    let again = plan_with_ops(&retried, Some(&live), &[&failed]);
    assert_eq!(types(&again), vec![StepType::VolumeExpansion]);
    assert_ne!(ops_name(&again, 0), name);
}

#[test]
fn a_succeeded_request_whose_change_did_not_stick_is_reported_not_repeated() {
    let manifest = manifest(set(desired_spec(), "/replicas", json!(5)));
    let live = live(live_spec());
    let name = ops_name(&plan(&manifest, Some(&live)), 0);
    let done = ops_request(&name, "HorizontalScaling", "Successful");
    let plan = plan_with_ops(&manifest, Some(&live), &[&done]);
    assert!(plan.steps.is_empty());
    assert_eq!(plan.error_kind(), Some(ErrorKind::OpsRequestNoEffect));
    assert!(
        plan.errors[0]
            .message
            .contains("succeeded but the database still differs"),
        "{:?}",
        plan.errors
    );
}
