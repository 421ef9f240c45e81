//! Order, removals, provisioning, waiting, the owed Restart, names and the JSON contract.

use serde_json::json;

use super::*;
use crate::models::{LAST_APPLIED_ANNOTATION, RESTART_PENDING_ANNOTATION};

/// One commit changing everything, scaling down: the documented order.
fn everything(replicas: i64) -> Value {
    let mut spec = desired_spec();
    for (pointer, value) in [
        ("/replicas", json!(replicas)),
        ("/storage/resources/requests/storage", json!("20Gi")),
        (
            "/podTemplate/spec/containers/0/resources",
            // The limit too: the live one (1Gi) is below the new request.
            json!({"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}),
        ),
        ("/version", json!("17.2")),
        ("/configuration", json!({"secretName": "pg1-config-v2"})),
        (
            "/tls",
            json!({"issuerRef": {"kind": "Issuer", "name": "pg-ca"}}),
        ),
        ("/sslMode", json!("verify-full")),
        ("/authSecret", json!({"name": "pg1-auth-v2"})),
        ("/monitor", json!({"agent": "prometheus.io/builtin"})),
        ("/deletionPolicy", json!("Halt")),
    ] {
        spec = set(spec, pointer, value);
    }
    spec
}

#[test]
fn order_scaling_down_goes_before_resizing() {
    use StepType::*;
    let plan = plan(&manifest(everything(1)), Some(&live(live_spec())));
    assert_eq!(
        types(&plan),
        vec![
            Patch,
            HorizontalScaling,
            VolumeExpansion,
            VerticalScaling,
            UpdateVersion,
            Reconfigure,
            ReconfigureTLS,
            RotateAuth,
            Restart
        ]
    );
    for step in &plan.steps {
        if let Some(request) = step.ops_request() {
            assert_fits_ops_schema(request);
        }
    }
}

#[test]
fn order_scaling_up_goes_after_resizing() {
    use StepType::*;
    let plan = plan(&manifest(everything(5)), Some(&live(live_spec())));
    assert_eq!(
        types(&plan),
        vec![
            Patch,
            VolumeExpansion,
            VerticalScaling,
            HorizontalScaling,
            UpdateVersion,
            Reconfigure,
            ReconfigureTLS,
            RotateAuth,
            Restart
        ]
    );
}

#[test]
fn a_missing_database_is_one_provision_step() {
    let manifest = manifest_with(desired_spec(), json!({"labels": {"team": "payments"}}));
    let plan = plan(&manifest, None);
    assert_eq!(types(&plan), vec![StepType::Provision]);
    let object = &body(&plan.steps[0]);
    assert_eq!(object["apiVersion"], "kubedb.com/v1");
    assert_eq!(object["spec"], desired_spec());
    assert_eq!(object["metadata"]["labels"]["team"], "payments");
    let record: Value = serde_json::from_str(
        object["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["spec"], desired_spec());
    assert!(plan.steps[0].ops_request().is_none());
}

#[test]
fn an_open_ops_request_means_waiting_whoever_made_it() {
    for phase in [
        "",
        "Pending",
        "Progressing",
        "WaitingForApproval",
        "Approved",
    ] {
        let open = ops_request("someone-elses-op", "Restart", phase);
        let manifest = manifest(set(desired_spec(), "/replicas", json!(5)));
        let plan = plan_with_ops(&manifest, Some(&live(live_spec())), &[&open]);
        assert_eq!(
            plan.waiting_for.as_deref(),
            Some("someone-elses-op"),
            "{phase:?}"
        );
        assert!(plan.steps.is_empty(), "{phase:?}");
    }
    let finished = ops_request("old-op", "Restart", "Skipped");
    let manifest = manifest(set(desired_spec(), "/replicas", json!(5)));
    let plan = plan_with_ops(&manifest, Some(&live(live_spec())), &[&finished]);
    assert_eq!(plan.waiting_for, None);
    assert_eq!(types(&plan), vec![StepType::HorizontalScaling]);
}

#[test]
fn removals_are_seen_through_the_last_applied_record() {
    use StepType::*;
    let with = |pointer: &str, value: Value| set(desired_spec(), pointer, value);
    let tls = json!({"issuerRef": {"kind": "Issuer", "name": "pg-ca"}});
    // (case, recorded spec, live spec, expected steps, pointer into the first step, expected value)
    type Removal = (
        &'static str,
        Value,
        Value,
        Vec<StepType>,
        &'static str,
        Value,
    );
    let table: Vec<Removal> = vec![
        (
            "configuration",
            with("/configuration", json!({"secretName": "cfg"})),
            set(live_spec(), "/configuration", json!({"secretName": "cfg"})),
            vec![Reconfigure],
            "/configuration",
            json!({"removeCustomConfig": true}),
        ),
        (
            "inline only, secret kept",
            with(
                "/configuration",
                json!({"secretName": "cfg", "inline": {"user.conf": "a=1"}}),
            ),
            set(
                live_spec(),
                "/configuration",
                json!({"secretName": "cfg", "inline": {"user.conf": "a=1"}}),
            ),
            vec![Reconfigure],
            "/configuration",
            json!({"configSecret": {"name": "cfg"}, "removeCustomConfig": true}),
        ),
        (
            "tls",
            set(with("/tls", tls.clone()), "/sslMode", json!("require")),
            set(set(live_spec(), "/tls", tls), "/sslMode", json!("require")),
            vec![ReconfigureTLS],
            "/tls",
            json!({"remove": true}),
        ),
        (
            "a restart field",
            with("/monitor", json!({"agent": "prometheus.io/builtin"})),
            set(
                live_spec(),
                "/monitor",
                json!({"agent": "prometheus.io/builtin"}),
            ),
            vec![Patch, Restart],
            "/spec/monitor",
            Value::Null,
        ),
        (
            "a plain field",
            with("/halted", json!(true)),
            set(live_spec(), "/halted", json!(true)),
            vec![Patch],
            "/spec/halted",
            Value::Null,
        ),
    ];
    for (name, recorded, live_spec, steps, pointer, expected) in table {
        let mut desired = desired_spec();
        if name == "inline only, secret kept" {
            desired = set(desired, "/configuration", json!({"secretName": "cfg"}));
        }
        if name == "tls" {
            desired = set(desired, "/sslMode", json!("disable"));
        }
        let plan = plan(
            &manifest(desired),
            Some(&live_recorded(live_spec, recorded)),
        );
        assert_eq!(plan.errors, vec![], "{name}");
        assert_eq!(types(&plan), steps, "{name}");
        let first = &plan.steps[0];
        let found = match first.ops_request() {
            Some(request) => request.spec.get(&pointer[1..]).cloned(),
            None => body(first).pointer(pointer).cloned(),
        };
        assert_eq!(found, Some(expected), "{name}: {first:#?}");
    }
}

#[test]
fn removing_sizes_versions_and_resources_changes_nothing() {
    let spec = json!({"version": "16.4", "deletionPolicy": "WipeOut"});
    let recorded = desired_spec();
    let live = live_recorded(live_spec(), recorded);
    let plan = plan(&manifest(spec), Some(&live));
    // Nothing changes, so no step; only the record moves forward, as bookkeeping.
    assert_eq!(types(&plan), vec![]);
    let bookkeeping = plan.bookkeeping.as_ref().expect("the record to write");
    assert!(bookkeeping.get("spec").is_none());
    assert!(bookkeeping["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].is_string());
}

#[test]
fn the_owed_restart_survives_the_patch_and_is_cleared_once_done() {
    let desired = set(
        desired_spec(),
        "/monitor",
        json!({"agent": "prometheus.io/builtin"}),
    );
    let manifest = manifest(desired.clone());
    let first = plan(&manifest, Some(&live_recorded(live_spec(), desired_spec())));
    let token = &body(&first.steps[0])["metadata"]["annotations"][RESTART_PENDING_ANNOTATION]
        .as_str()
        .unwrap()
        .to_string();
    let restart_name = ops_name(&first, 1);

    // After the patch: the field is live, only the Restart remains, with the same name.
    let patched_record =
        &body(&first.steps[0])["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].clone();
    let patched = live_with(
        set(
            live_spec(),
            "/monitor",
            json!({"agent": "prometheus.io/builtin"}),
        ),
        json!({RESTART_PENDING_ANNOTATION: token, LAST_APPLIED_ANNOTATION: patched_record}),
    );
    let second = plan(&manifest, Some(&patched));
    assert_eq!(types(&second), vec![StepType::Restart]);
    assert_eq!(ops_name(&second, 0), restart_name);

    // Once it succeeded: no step; the bookkeeping clears the marker.
    let done = ops_request(&restart_name, "Restart", "Successful");
    let third = plan_with_ops(&manifest, Some(&patched), &[&done]);
    assert_eq!(types(&third), vec![]);
    let annotations = &third.bookkeeping.as_ref().unwrap()["metadata"]["annotations"];
    assert_eq!(annotations[RESTART_PENDING_ANNOTATION], Value::Null);
    assert!(
        annotations
            .as_object()
            .unwrap()
            .contains_key(RESTART_PENDING_ANNOTATION)
    );
    // The patch already moved the record to the desired spec: nothing more to write there.
    assert!(
        annotations.get(LAST_APPLIED_ANNOTATION).is_none(),
        "{annotations}"
    );
    let record: Value = serde_json::from_str(
        patched.metadata.annotations.as_ref().unwrap()[LAST_APPLIED_ANNOTATION].as_str(),
    )
    .unwrap();
    assert_eq!(record["spec"], desired);
}

#[test]
fn labels_and_annotations_are_patched_and_removed() {
    let manifest = manifest_with(
        desired_spec(),
        json!({"labels": {"team": "b"}, "annotations": {"note": "x", "gitops.kubedb.com/retry": "2"}}),
    );
    let mut live = live_recorded(live_spec(), desired_spec());
    live.metadata.labels = Some(
        [
            ("team".to_string(), "a".to_string()),
            ("old".to_string(), "1".to_string()),
        ]
        .into(),
    );
    let record = json!({"spec": desired_spec(), "labels": {"team": "a", "old": "1"}}).to_string();
    live.metadata.annotations = Some([(LAST_APPLIED_ANNOTATION.to_string(), record)].into());
    let plan = plan(&manifest, Some(&live));
    let patch = &body(&plan.steps[0]);
    assert_eq!(
        patch["metadata"]["labels"],
        json!({"team": "b", "old": null})
    );
    assert_eq!(patch["metadata"]["annotations"]["note"], "x");
    assert!(
        patch["metadata"]["annotations"]
            .get("gitops.kubedb.com/retry")
            .is_none(),
        "control annotations stay on the gitops object"
    );
}

#[test]
fn volume_expansion_mode_comes_from_settings_or_annotation() {
    let spec = set(
        desired_spec(),
        "/storage/resources/requests/storage",
        json!("20Gi"),
    );
    let settings = PlanSettings {
        volume_expansion_mode: "Offline".into(),
        ..PlanSettings::default()
    };
    let plan = plan_database(
        &manifest(spec.clone()),
        Some(&live(live_spec())),
        &[],
        None,
        &settings,
        None,
    );
    assert_eq!(ops_spec(&plan, 0)["volumeExpansion"]["mode"], "Offline");
    let annotated = manifest_with(
        spec,
        json!({"annotations": {"gitops.kubedb.com/volume-expansion-mode": "Online"}}),
    );
    let plan = plan_database(
        &annotated,
        Some(&live(live_spec())),
        &[],
        None,
        &settings,
        None,
    );
    assert_eq!(ops_spec(&plan, 0)["volumeExpansion"]["mode"], "Online");
}

#[test]
fn certificate_rotation_on_request() {
    let tls = json!({"issuerRef": {"kind": "Issuer", "name": "pg-ca"}});
    let spec = set(
        set(desired_spec(), "/tls", tls.clone()),
        "/sslMode",
        json!("require"),
    );
    let live = live_recorded(
        set(set(live_spec(), "/tls", tls), "/sslMode", json!("require")),
        spec.clone(),
    );
    let manifest = manifest_with(
        spec,
        json!({"annotations": {"gitops.kubedb.com/rotate-certificates": "2026-11"}}),
    );
    let plan = plan(&manifest, Some(&live));
    assert_eq!(types(&plan), vec![StepType::ReconfigureTLS]);
    assert_eq!(
        ops_spec(&plan, 0)["tls"],
        json!({"rotateCertificates": true})
    );
    assert_fits_ops_schema(plan.steps[0].ops_request().unwrap());
}

#[test]
fn names_are_deterministic_and_generation_sensitive() {
    let spec = set(desired_spec(), "/replicas", json!(5));
    let a = plan(&manifest(spec.clone()), Some(&live(live_spec())));
    let b = plan(&manifest(spec.clone()), Some(&live(live_spec())));
    assert_eq!(a, b);
    let mut later = manifest(spec);
    later.declared["metadata"]["generation"] = json!(7);
    let c = plan(&later, Some(&live(live_spec())));
    assert_ne!(ops_name(&a, 0), ops_name(&c, 0));
    assert!(ops_name(&a, 0).starts_with("pg1-horizontalscaling-"));
}

#[test]
fn the_json_contract() {
    let good = manifest(set(desired_spec(), "/replicas", json!(5)));
    let mut set_ = crate::manifest::ManifestSet::default();
    set_.manifests.push(std::sync::Arc::new(good));
    set_.errors.push(crate::manifest::ManifestError {
        file: "bad.yaml".into(),
        line: 4,
        message: "spec.replica: unknown field".into(),
        database: Some(("db".into(), "broken".into())),
    });
    set_.errors.push(crate::manifest::ManifestError {
        file: "junk.yaml".into(),
        line: 1,
        message: "invalid YAML".into(),
        database: None,
    });
    let mut live_state = LiveState::default();
    live_state
        .databases
        .insert(("db".into(), "pg1".into()), live(live_spec()).into());
    let report = plan_report(&set_, &live_state);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["databases", "errors"]
    );
    let databases = json["databases"].as_array().unwrap();
    assert_eq!(databases.len(), 2);
    let broken = &databases[0];
    assert_eq!(
        broken.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![
            "namespace",
            "name",
            "steps",
            "errors",
            "waitingFor",
            // Added in 0.2.0 (README, JSON contract): why steps are withheld, or null.
            "waitingReason",
            "notes"
        ]
    );
    assert_eq!(
        broken["errors"],
        json!([{"file": "bad.yaml", "line": 4, "message": "spec.replica: unknown field"}])
    );
    assert_eq!(broken["steps"], json!([]));
    let pg1 = &databases[1];
    assert_eq!(pg1["name"], "pg1");
    assert_eq!(pg1["waitingFor"], Value::Null);
    let step = &pg1["steps"][0];
    assert_eq!(
        step.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["type", "opsRequest", "patch"]
    );
    assert_eq!(step["type"], "HorizontalScaling");
    assert_eq!(step["opsRequest"]["kind"], "PostgresOpsRequest");
    assert_eq!(step["opsRequest"]["apiVersion"], "ops.kubedb.com/v1alpha1");
    assert_eq!(step["patch"], Value::Null);
    assert_eq!(
        json["errors"],
        json!([{"file": "junk.yaml", "line": 1, "message": "invalid YAML"}])
    );
    assert_eq!(report.exit_code(), 2);
}

#[test]
fn exit_codes() {
    let in_sync = manifest(desired_spec());
    let mut set_ = crate::manifest::ManifestSet::default();
    set_.manifests.push(std::sync::Arc::new(in_sync));
    let mut live_state = LiveState::default();
    live_state.databases.insert(
        ("db".into(), "pg1".into()),
        live_recorded(live_spec(), desired_spec()).into(),
    );
    assert_eq!(plan_report(&set_, &live_state).exit_code(), 0);
    live_state.databases.clear();
    assert_eq!(plan_report(&set_, &live_state).exit_code(), 1);
}
