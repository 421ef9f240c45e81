//! Data safety (issue 9, items 1, 2, 3 and 5): what the plan writes onto the database and
//! what it reads back from it must never hand the database to another tool, lose a removal,
//! or disagree with what the API server will store.

use serde_json::json;

use super::*;
use crate::models::LAST_APPLIED_ANNOTATION;
use test_support::metadata::assert_no_tool_keys;

/// Labels a manifest carries once Argo CD, Flux or kubectl applied it, next to the user's own.
fn tool_labels() -> Value {
    json!({
        "team": "payments",
        "app.kubernetes.io/instance": "shop",
        "kustomize.toolkit.fluxcd.io/name": "databases",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        "helm.toolkit.fluxcd.io/name": "dbs",
    })
}

fn tool_annotations() -> Value {
    json!({
        "note": "owned by payments",
        "argocd.argoproj.io/tracking-id": "shop:gitops.kubedb.com/Postgres:db/pg1",
        "argocd.argoproj.io/sync-wave": "1",
        "kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{}}",
        "fluxcd.io/automated": "true",
    })
}

/// Asserts that no step writes, records or removes a key a GitOps tool owns.
fn assert_no_tool_metadata(plan: &DatabasePlan) {
    for step in &plan.steps {
        if step.ops_request().is_none() {
            assert_no_tool_keys(&body(step)["metadata"]);
        }
    }
}

#[test]
fn provision_copies_no_gitops_tool_metadata() {
    let manifest = manifest_with(
        desired_spec(),
        json!({"labels": tool_labels(), "annotations": tool_annotations()}),
    );
    let plan = plan(&manifest, None);
    assert_eq!(types(&plan), vec![StepType::Provision]);
    assert_no_tool_metadata(&plan);
    let metadata = &body(&plan.steps[0])["metadata"];
    assert_eq!(metadata["labels"], json!({"team": "payments"}));
    assert_eq!(metadata["annotations"]["note"], "owned by payments");
    let record = test_support::metadata::record(metadata).unwrap();
    assert_eq!(record["labels"], json!({"team": "payments"}));
    assert_eq!(record["annotations"], json!({"note": "owned by payments"}));
}

/// In cluster mode the gitops object is read back from the API server, where Argo CD, Flux
/// and kubectl wrote their own keys that the manifest in Git never held.
#[test]
fn cluster_mode_copies_no_gitops_tool_metadata() {
    let object: crate::models::GitopsPostgres = serde_json::from_value(json!({
        "apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
        "metadata": {"name": "pg1", "namespace": "db", "generation": 3,
                     "labels": tool_labels(), "annotations": tool_annotations()},
        "spec": set(desired_spec(), "/deletionPolicy", json!("Halt"))
    }))
    .unwrap();
    let manifest = Manifest::from_object(&object, "db/pg1");
    let provision = plan(&manifest, None);
    assert_no_tool_metadata(&provision);
    assert_eq!(
        body(&provision.steps[0])["metadata"]["labels"],
        json!({"team": "payments"})
    );
    let patch = plan(&manifest, Some(&live_recorded(live_spec(), desired_spec())));
    assert_eq!(types(&patch), vec![StepType::Patch]);
    assert_no_tool_metadata(&patch);
    let metadata = &body(&patch.steps[0])["metadata"];
    assert_eq!(metadata["labels"], json!({"team": "payments"}));
}

#[test]
fn a_patch_copies_no_gitops_tool_metadata() {
    let manifest = manifest_with(
        set(desired_spec(), "/deletionPolicy", json!("Halt")),
        json!({"labels": tool_labels(), "annotations": tool_annotations()}),
    );
    let plan = plan(&manifest, Some(&live_recorded(live_spec(), desired_spec())));
    assert_eq!(types(&plan), vec![StepType::Patch]);
    assert_no_tool_metadata(&plan);
    let metadata = &body(&plan.steps[0])["metadata"];
    assert_eq!(metadata["labels"], json!({"team": "payments"}));
    let record = test_support::metadata::record(metadata).unwrap();
    assert_eq!(record["labels"], json!({"team": "payments"}));
}

/// A tool's key on the live database may have been put there by that tool (or by an older
/// pg-gitops that copied it, into its record): pg-gitops never removes it.
#[test]
fn a_tool_key_on_the_database_is_never_removed() {
    let manifest = manifest_with(
        set(desired_spec(), "/deletionPolicy", json!("Halt")),
        json!({"labels": {"team": "payments"}}),
    );
    let record = json!({
        "spec": desired_spec(),
        "labels": {"team": "payments", "app.kubernetes.io/instance": "shop",
                   "kustomize.toolkit.fluxcd.io/name": "databases"},
        "annotations": {"argocd.argoproj.io/tracking-id": "shop:x", "kubectl.kubernetes.io/restartedAt": "now"},
    });
    let mut live = live_with(
        live_spec(),
        json!({LAST_APPLIED_ANNOTATION: record.to_string(),
               "argocd.argoproj.io/tracking-id": "shop:x", "kubectl.kubernetes.io/restartedAt": "now"}),
    );
    live.metadata.labels = Some(
        [
            ("team", "payments"),
            ("app.kubernetes.io/instance", "shop"),
            ("kustomize.toolkit.fluxcd.io/name", "databases"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    let plan = plan(&manifest, Some(&live));
    assert_eq!(types(&plan), vec![StepType::Patch]);
    assert_no_tool_metadata(&plan);
}

/// The record annotation with the wrapper around a bare spec, or a bare spec alone.
/// pg1 as Git declares it, with `pg1` as its live object, beside pg2, whose live object is
/// one replica change from Git: the case of one bad database among good ones.
fn beside_pg2(pg1: crate::models::CachedDatabase) -> (ManifestSet, LiveState) {
    let mut set_ = ManifestSet::default();
    set_.manifests
        .push(std::sync::Arc::new(manifest(desired_spec())));
    let mut other = manifest(set(desired_spec(), "/replicas", json!(5)));
    other.declared["metadata"]["name"] = json!("pg2");
    set_.manifests.push(std::sync::Arc::new(other));
    let mut live_state = LiveState::default();
    live_state
        .databases
        .insert(("db".into(), "pg1".into()), pg1);
    live_state.databases.insert(
        ("db".into(), "pg2".into()),
        live_recorded(live_spec(), desired_spec()).into(),
    );
    (set_, live_state)
}

fn record_live(record: &str) -> KubedbPostgres {
    live_with(
        set(live_spec(), "/configuration", json!({"secretName": "cfg"})),
        json!({LAST_APPLIED_ANNOTATION: record}),
    )
}

#[test]
fn a_bare_spec_record_still_shows_removals() {
    let recorded = set(
        desired_spec(),
        "/configuration",
        json!({"secretName": "cfg"}),
    );
    for record in [recorded.to_string(), json!({"spec": recorded}).to_string()] {
        let plan = plan(&manifest(desired_spec()), Some(&record_live(&record)));
        assert_eq!(plan.errors, vec![], "{record}");
        assert_eq!(types(&plan), vec![StepType::Reconfigure], "{record}");
        assert_eq!(
            ops_spec(&plan, 0)["configuration"],
            json!({"removeCustomConfig": true}),
            "{record}"
        );
    }
}

#[test]
fn an_unreadable_record_is_an_error_naming_it_and_is_never_overwritten() {
    for record in [
        "not json",
        "[1, 2]",
        "\"a string\"",
        r#"{"spec": "16.4"}"#,
        r#"{"spec": {"version": "16.4"}, "labels": ["team"]}"#,
        r#"{"spec": {"version": "16.4"}, "speck": {}}"#,
    ] {
        let plan = plan(&manifest(desired_spec()), Some(&record_live(record)));
        assert!(plan.steps.is_empty(), "{record}: {:#?}", plan.steps);
        assert_eq!(plan.errors.len(), 1, "{record}: {:?}", plan.errors);
        let message = &plan.errors[0].message;
        assert!(
            message.contains(LAST_APPLIED_ANNOTATION),
            "{record}: {message}"
        );
        assert_eq!(plan.errors[0].file, "dbs/pg1.yaml");
        assert_eq!(plan.error_kind(), Some(ErrorKind::UnreadableRecord));
    }
    // The other databases of the snapshot are still planned.
    let (set_, live_state) = beside_pg2(record_live("not json").into());
    let report = plan_report(&set_, &live_state);
    assert_eq!(report.databases[0].errors.len(), 1);
    assert_eq!(
        types(&report.databases[1]),
        vec![StepType::HorizontalScaling]
    );
}

/// `tls: null` in Git: the API server drops the null, so the service sees `tls` removed; the
/// preview must say the same.
#[test]
fn an_explicit_null_plans_as_the_field_removed() {
    let tls = json!({"issuerRef": {"kind": "Issuer", "name": "pg-ca"}});
    let monitor = json!({"agent": "prometheus.io/builtin"});
    let recorded = set(
        set(
            set(desired_spec(), "/tls", tls.clone()),
            "/sslMode",
            json!("require"),
        ),
        "/monitor",
        monitor.clone(),
    );
    let live = live_recorded(
        set(
            set(set(live_spec(), "/tls", tls), "/sslMode", json!("require")),
            "/monitor",
            monitor,
        ),
        recorded,
    );
    let absent = set(desired_spec(), "/sslMode", json!("disable"));
    let mut nulled = absent.clone();
    nulled["tls"] = Value::Null;
    nulled["monitor"] = Value::Null;
    let removed = plan(&manifest(absent), Some(&live));
    assert_eq!(
        types(&removed),
        vec![StepType::Patch, StepType::ReconfigureTLS, StepType::Restart]
    );
    assert_eq!(plan(&manifest(nulled), Some(&live)), removed);
}

#[test]
fn a_record_holds_no_nulls() {
    let mut spec = desired_spec();
    spec["monitor"] = Value::Null;
    spec["podTemplate"]["spec"]["nodeSelector"] = Value::Null;
    let plan = plan(&manifest(spec), None);
    let object = &body(&plan.steps[0]);
    let record = object["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(!record.contains("null"), "{record}");
    assert_eq!(object["spec"], desired_spec());
}

/// `spec.init` is immutable once the database is initialised: removing it from Git keeps it,
/// and the other changes of the commit still go through.
#[test]
fn removing_init_keeps_it() {
    let init = json!({"script": {"configMap": {"name": "seed"}}});
    let live = live_recorded(
        set(
            live_spec(),
            "/init",
            json!({"initialized": true, "script": {"configMap": {"name": "seed"}}}),
        ),
        set(desired_spec(), "/init", init),
    );
    let changed = plan(
        &manifest(set(desired_spec(), "/deletionPolicy", json!("Halt"))),
        Some(&live),
    );
    assert_eq!(changed.errors, vec![]);
    assert_eq!(types(&changed), vec![StepType::Patch]);
    let patch = &body(&changed.steps[0]);
    assert_eq!(patch["spec"], json!({"deletionPolicy": "Halt"}));
    let alone = plan(&manifest(desired_spec()), Some(&live));
    assert_eq!(alone.errors, vec![]);
    for step in &alone.steps {
        assert!(
            step.patch().and_then(|p| p.pointer("/spec/init")).is_none(),
            "{step:#?}"
        );
    }
}

/// A live database the cache cannot read back is an error on it, and the others are planned;
/// it is never planned against an empty spec (which would look like every field changed).
#[test]
fn a_live_database_that_cannot_be_read_is_an_error_not_an_empty_spec() {
    let unreadable = crate::models::CachedDatabase::unreadable(live(live_spec()).metadata);
    let (set_, live_state) = beside_pg2(unreadable);
    let report = plan_report(&set_, &live_state);
    let pg1 = &report.databases[0];
    assert!(pg1.steps.is_empty(), "{:#?}", pg1.steps);
    assert_eq!(pg1.error_kind(), Some(ErrorKind::InvalidSpec));
    assert!(
        pg1.errors[0].message.contains("cannot be read"),
        "{:?}",
        pg1.errors
    );
    assert_eq!(
        types(&report.databases[1]),
        vec![StepType::HorizontalScaling]
    );
}
