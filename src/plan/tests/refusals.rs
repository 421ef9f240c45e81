//! Changes KubeDB (or Kubernetes) would refuse are errors for their database, naming the
//! field and the value to fix, and are never planned as OpsRequests or patches.

use serde_json::json;

use super::*;
use crate::models::VOLUME_EXPANSION_MODE_ANNOTATION;

/// The 1-based line of the first line of the manifest of `spec`/`metadata` holding `needle`.
fn line_of(spec: &Value, metadata: Value, needle: &str) -> usize {
    let mut meta = json!({"name": "pg1", "namespace": "db"});
    meta.as_object_mut()
        .unwrap()
        .extend(metadata.as_object().cloned().unwrap_or_default());
    let text = crate::yaml::to_string(&json!({"apiVersion": "gitops.kubedb.com/v1alpha1",
        "kind": "Postgres", "metadata": meta, "spec": spec}));
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in\n{text}"))
}

/// The only error of a plan that planned nothing.
fn only_error(plan: &DatabasePlan) -> &PlanError {
    assert!(
        plan.steps.is_empty(),
        "nothing may be planned: {:?}",
        types(plan)
    );
    assert_eq!(plan.errors.len(), 1, "{:?}", plan.errors);
    &plan.errors[0]
}

/// The CRD's enum is `Online | Offline`: `offline` would make a VolumeExpansion the API
/// server refuses, so the annotation is checked before anything is planned.
#[test]
fn a_volume_expansion_mode_other_than_online_or_offline_is_an_error() {
    let spec = set(
        desired_spec(),
        "/storage/resources/requests/storage",
        json!("20Gi"),
    );
    for mode in ["offline", "ONLINE", "", "Offline "] {
        let metadata = json!({"annotations": {VOLUME_EXPANSION_MODE_ANNOTATION: mode}});
        let manifest = manifest_with(spec.clone(), metadata.clone());
        let planned = plan(&manifest, Some(&live(live_spec())));
        let error = only_error(&planned);
        assert!(
            error.message.contains(VOLUME_EXPANSION_MODE_ANNOTATION)
                && error.message.contains(&format!("{mode:?}"))
                && error.message.contains("Online or Offline"),
            "{mode:?}: {}",
            error.message
        );
        assert_eq!(error.file, "dbs/pg1.yaml");
        assert_eq!(
            error.line,
            line_of(&spec, metadata, VOLUME_EXPANSION_MODE_ANNOTATION),
            "{mode:?}"
        );
    }
    // Also when nothing would expand: a wrong annotation is found at once, not on the day
    // the disk grows.
    let metadata = json!({"annotations": {VOLUME_EXPANSION_MODE_ANNOTATION: "offline"}});
    let provision = plan(&manifest_with(desired_spec(), metadata), None);
    assert!(only_error(&provision).message.contains("\"offline\""));
    for mode in ["Online", "Offline"] {
        let metadata = json!({"annotations": {VOLUME_EXPANSION_MODE_ANNOTATION: mode}});
        let planned = plan(
            &manifest_with(spec.clone(), metadata),
            Some(&live(live_spec())),
        );
        assert_eq!(planned.errors, vec![], "{mode}");
        assert_eq!(
            ops_spec(&planned, 0)["volumeExpansion"]["mode"],
            json!(mode)
        );
    }
}

/// KubeDB refuses `tls` with `sslMode: disable`, and a database without TLS runs with
/// `disable`: adding TLS must say which sslMode to use, or the request is refused.
#[test]
fn adding_tls_while_the_live_ssl_mode_is_disable_needs_a_declared_ssl_mode() {
    let tls =
        json!({"issuerRef": {"apiGroup": "cert-manager.io", "kind": "Issuer", "name": "pg-ca"}});
    let spec = set(desired_spec(), "/tls", tls.clone());
    let live_db = live(live_spec());
    assert_eq!(live_db.spec.ssl_mode.as_deref(), Some("disable"));
    let refused = plan(&manifest(spec.clone()), Some(&live_db));
    let error = only_error(&refused);
    assert!(
        error.message.contains("live sslMode is disable")
            && error.message.contains("declare spec.sslMode")
            && error.message.contains("verify-full"),
        "{}",
        error.message
    );
    assert_eq!(error.line, line_of(&spec, json!({}), "tls:"));
    // Declared, it is carried in the request; a new database gets KubeDB's own default.
    let declared = plan(
        &manifest(set(spec.clone(), "/sslMode", json!("verify-full"))),
        Some(&live_db),
    );
    assert_eq!(declared.errors, vec![]);
    assert_eq!(types(&declared), vec![StepType::ReconfigureTLS]);
    assert_eq!(
        ops_spec(&declared, 0)["tls"]["sslMode"],
        json!("verify-full")
    );
    let provision = plan(&manifest(spec), None);
    assert_eq!(provision.errors, vec![]);
    assert_eq!(types(&provision), vec![StepType::Provision]);
}

/// KubeDB's guide removes TLS with `tls: {remove: true, clientAuthMode: md5}`, and refuses
/// `cert` without TLS: the declared mode goes into the request, and a live `cert` that Git
/// does not replace is an error naming it.
#[test]
fn removing_tls_carries_the_declared_client_auth_mode() {
    let tls = json!({"issuerRef": {"kind": "Issuer", "name": "pg-ca"}});
    let with_tls = |spec: Value| {
        set(
            set(
                set(spec, "/tls", tls.clone()),
                "/sslMode",
                json!("verify-full"),
            ),
            "/clientAuthMode",
            json!("cert"),
        )
    };
    let live_db = live_recorded(with_tls(live_spec()), with_tls(desired_spec()));
    let without_tls = set(desired_spec(), "/sslMode", json!("disable"));
    let carried = plan(
        &manifest(set(without_tls.clone(), "/clientAuthMode", json!("md5"))),
        Some(&live_db),
    );
    assert_eq!(carried.errors, vec![]);
    assert_eq!(types(&carried), vec![StepType::ReconfigureTLS]);
    assert_eq!(
        ops_spec(&carried, 0)["tls"],
        json!({"remove": true, "clientAuthMode": "md5"})
    );
    assert_fits_ops_schema(carried.steps[0].ops_request().unwrap());
    let refused = plan(&manifest(without_tls), Some(&live_db));
    let error = only_error(&refused);
    assert!(
        error.message.contains("live clientAuthMode is cert")
            && error
                .message
                .contains("declare spec.clientAuthMode: md5 or scram"),
        "{}",
        error.message
    );
}

/// Declared values laid over live ones must never give request > limit (Kubernetes refuses
/// the pods, and with them the VerticalScaling): the error names the live value to match.
#[test]
fn resources_never_planned_with_a_request_above_the_limit() {
    let postgres = "/podTemplate/spec/containers/0/resources";
    let coordinator = "/podTemplate/spec/containers/1";
    // (case, desired change, text of the error (None: planned), text on the error's line)
    let table: Vec<(&str, Value, Option<&str>, &str)> = vec![
        (
            "request above the live limit",
            set(
                desired_spec(),
                &format!("{postgres}/requests/memory"),
                json!("2Gi"),
            ),
            Some(
                "requests.memory 2Gi of container postgres is above its live limits.memory 1Gi; declare limits.memory too",
            ),
            "memory: 2Gi",
        ),
        (
            "limit below the live request",
            set(
                desired_spec(),
                coordinator,
                json!({"name": "pg-coordinator", "resources": {"limits": {"memory": "128Mi"}}}),
            ),
            Some(
                "limits.memory 128Mi of container pg-coordinator is below its live requests.memory 256Mi; declare requests.memory too",
            ),
            "memory: 128Mi",
        ),
        (
            "both declared the wrong way round",
            set(
                set(
                    desired_spec(),
                    &format!("{postgres}/requests/cpu"),
                    json!("2"),
                ),
                &format!("{postgres}/limits/cpu"),
                json!("1"),
            ),
            Some("requests.cpu 2 of container postgres is above its limits.cpu 1"),
            "cpu: '2'",
        ),
        (
            "the paired value declared too",
            set(
                set(
                    desired_spec(),
                    &format!("{postgres}/requests/memory"),
                    json!("2Gi"),
                ),
                &format!("{postgres}/limits/memory"),
                json!("2Gi"),
            ),
            None,
            "",
        ),
    ];
    for (name, spec, message, needle) in table {
        let planned = plan(&manifest(spec.clone()), Some(&live(live_spec())));
        match message {
            Some(message) => {
                let error = only_error(&planned);
                assert!(error.message.contains(message), "{name}: {}", error.message);
                assert_eq!(error.line, line_of(&spec, json!({}), needle), "{name}");
            }
            None => {
                assert_eq!(planned.errors, vec![], "{name}");
                assert_eq!(types(&planned), vec![StepType::VerticalScaling], "{name}");
                assert_eq!(
                    ops_spec(&planned, 0)["verticalScaling"]["postgres"]["resources"]["limits"],
                    json!({"memory": "2Gi"}),
                    "{name}"
                );
            }
        }
    }
}

/// KubeDB has no OpsRequest for containers other than postgres, pg-coordinator and the
/// exporter, and its webhook lets podTemplate change: a sidecar's resources are patched in
/// (laid over its live ones), not dropped.
#[test]
fn sidecar_resources_are_patched_in() {
    let sidecar = |resources: Value| json!({"name": "log-shipper", "image": "shipper:1", "resources": resources});
    let live_db = live(set(
        live_spec(),
        "/podTemplate/spec/containers/2",
        sidecar(json!({"requests": {"cpu": "50m"}, "limits": {"cpu": "200m"}})),
    ));
    let spec = set(
        desired_spec(),
        "/podTemplate/spec/containers/1",
        json!({"name": "log-shipper", "resources": {"requests": {"cpu": "100m"}}}),
    );
    let planned = plan(&manifest(spec.clone()), Some(&live_db));
    assert_eq!(planned.errors, vec![]);
    assert_eq!(types(&planned), vec![StepType::Patch]);
    let patch = &body(&planned.steps[0]);
    let containers = patch["spec"]["podTemplate"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let shipped = containers.iter().find(|c| c["name"] == "log-shipper");
    assert_eq!(
        shipped,
        Some(&sidecar(
            json!({"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}})
        )),
        "{patch:#}"
    );
    // The database's own containers keep their live resources: those go by VerticalScaling.
    assert_eq!(
        containers[0],
        live_spec()["podTemplate"]["spec"]["containers"][0]
    );
    // Once applied, the database is in sync.
    let applied = live(set(
        live_spec(),
        "/podTemplate/spec/containers/2",
        sidecar(json!({"requests": {"cpu": "0.1"}, "limits": {"cpu": "200m"}})),
    ));
    assert_eq!(
        types(&plan(&manifest(spec.clone()), Some(&applied))),
        vec![]
    );
    // A sidecar limit below its live request is refused like any other.
    let below = set(
        spec,
        "/podTemplate/spec/containers/1/resources",
        json!({"limits": {"cpu": "10m"}}),
    );
    let refused = plan(&manifest(below), Some(&live_db));
    assert!(
        only_error(&refused)
            .message
            .contains("container log-shipper")
    );
}

/// KubeDB needs `numSyncReplicas` below `replicas` (at most the number of `standbyNames`
/// when those are given), whichever side changes: a commit would wait for standbys that
/// do not exist.
#[test]
fn num_sync_replicas_must_stay_below_replicas() {
    let sync = |n: i64| json!({"mode": "Any", "numSyncReplicas": n});
    let live_sync = live(set(live_spec(), "/synchronousReplicationConfig", sync(2)));
    // (case, desired spec, live database, text of the error (None: planned), text on its line)
    let table: Vec<(&str, Value, &KubedbPostgres, Option<&str>, &str)> = vec![
        (
            "declared equal to replicas",
            set(desired_spec(), "/synchronousReplicationConfig", sync(3)),
            &live_sync,
            Some("numSyncReplicas 3 must be below replicas 3"),
            "numSyncReplicas:",
        ),
        (
            "scaling down to the live numSyncReplicas",
            set(desired_spec(), "/replicas", json!(2)),
            &live_sync,
            Some("numSyncReplicas 2 (live) must be below replicas 2"),
            "replicas: 2",
        ),
        (
            "more than the standby names",
            set(
                desired_spec(),
                "/synchronousReplicationConfig",
                json!({"mode": "First", "numSyncReplicas": 2, "standbyNames": ["pg1-1"]}),
            ),
            &live_sync,
            Some("numSyncReplicas 2 must be at most the 1 standbyNames"),
            "numSyncReplicas:",
        ),
        (
            "below replicas",
            set(desired_spec(), "/replicas", json!(5)),
            &live_sync,
            None,
            "",
        ),
    ];
    for (name, spec, live_db, message, needle) in table {
        let planned = plan(&manifest(spec.clone()), Some(live_db));
        match message {
            Some(message) => {
                let error = only_error(&planned);
                assert!(error.message.contains(message), "{name}: {}", error.message);
                assert_eq!(error.line, line_of(&spec, json!({}), needle), "{name}");
            }
            None => assert_eq!(planned.errors, vec![], "{name}"),
        }
    }
}
