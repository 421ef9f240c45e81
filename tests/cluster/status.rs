//! Every status pg-gitops computes is accepted by the real gitops CRD and read back whole:
//! the API server prunes undeclared fields and refuses wrong types, so this is where a status
//! that merely serialises is proven to be wire-compatible.

use kube::api::{Api, Patch, PatchParams, PostParams};
use pg_gitops::models::{GitopsPostgres, KubedbPostgres, PostgresOpsRequest};
use pg_gitops::plan::{DatabasePlan, ErrorKind, PlanError, Step};
use pg_gitops::status::{StatusInput, compute, differs};
use serde_json::json;

fn plan(steps: Vec<Step>, errors: Vec<PlanError>, waiting_for: Option<&str>) -> DatabasePlan {
    DatabasePlan {
        steps,
        errors,
        waiting_for: waiting_for.map(str::to_string),
        ..DatabasePlan::new(String::new(), "pg1".into())
    }
}

#[tokio::test]
async fn computed_statuses_are_accepted_and_read_back_whole() {
    let cluster = test_support::cluster().await;
    let namespace = cluster.namespace("status").await;
    let api: Api<GitopsPostgres> = Api::namespaced(cluster.client(), &namespace);
    let object: GitopsPostgres = serde_json::from_value(json!({
        "apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
        "metadata": {"name": "pg1"}, "spec": {"version": "16.4"}
    }))
    .unwrap();
    let mut object = api.create(&PostParams::default(), &object).await.unwrap();
    let live: KubedbPostgres = serde_json::from_value(
        json!({"metadata": {"name": "pg1"}, "spec": {}, "status": {"phase": "Ready"}}),
    )
    .unwrap();
    let ops: PostgresOpsRequest = serde_json::from_value(json!({
        "metadata": {"name": "pg1-restart-abc123", "annotations": {"gitops.kubedb.com/generation": "1"}},
        "spec": {"type": "Restart"}, "status": {"phase": "Progressing"}
    }))
    .unwrap();
    let provision = Step::Provision(Box::default());
    let failed = PlanError {
        file: "pg1.yaml".into(),
        line: 7,
        message: "VolumeExpansion x ended Failed: disk".into(),
        kind: ErrorKind::OpsRequestFailed,
    };
    let cases = [
        (
            "progressing",
            plan(vec![provision], vec![], None),
            None,
            false,
        ),
        (
            "waiting",
            plan(vec![], vec![], Some("pg1-restart-abc123")),
            None,
            false,
        ),
        ("stalled", plan(vec![], vec![failed], None), None, false),
        ("current", plan(vec![], vec![], None), Some(&live), false),
        ("suspended", plan(vec![], vec![], None), Some(&live), true),
        // The condition of a manifest broken in Git, then its removal once fixed.
        (
            "invalid manifest",
            plan(vec![], vec![], None),
            Some(&live),
            false,
        ),
        (
            "manifest fixed",
            plan(vec![], vec![], None),
            Some(&live),
            false,
        ),
    ];
    for (name, plan, live, suspended) in cases {
        let status = compute(&StatusInput {
            invalid_manifest: (name == "invalid manifest")
                .then_some("team-a/pg1.yaml:8: spec.replica: unknown field"),
            object: &object,
            plan: &plan,
            ops: &[&ops],
            live,
            suspended,
            now: "2026-11-22T03:00:00Z",
        });
        let written = api
            .patch_status(
                "pg1",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{name}: the API server refused the status: {e}\n{:#}",
                    json!(status)
                )
            });
        assert!(
            !differs(&written, &status),
            "{name}: the API server changed the status:\nsent {:#}\ngot {:#}",
            json!(status),
            json!(written.status)
        );
        object = written;
    }

    // Real KubeDB, like kubedb-sim, leaves a new OpsRequest without a phase for a moment. Its
    // entry in the status must still be accepted (1.20 reads an empty string as null and
    // refused the whole write with 422, and the reconcile backed off).
    let just_created: PostgresOpsRequest = serde_json::from_value(json!({
        "metadata": {"name": "pg1-restart-def456", "annotations": {"gitops.kubedb.com/generation": "1"}},
        "spec": {"type": "Restart"}
    }))
    .unwrap();
    // A fresh object: a merge patch keeps fields of the earlier cases' statuses (`phase`).
    let mut fresh = object.clone();
    fresh.metadata = kube::api::ObjectMeta {
        name: Some("pg2".into()),
        ..Default::default()
    };
    fresh.status = None;
    let object = api.create(&PostParams::default(), &fresh).await.unwrap();
    let status = compute(&StatusInput {
        invalid_manifest: None,
        object: &object,
        plan: &plan(vec![], vec![], Some("pg1-restart-def456")),
        ops: &[&just_created],
        live: None,
        suspended: false,
        now: "2026-11-22T03:00:00Z",
    });
    let written = api
        .patch_status(
            "pg2",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "a request without a phase: the API server refused the status: {e}\n{:#}",
                json!(status)
            )
        });
    assert!(
        !differs(&written, &status),
        "the API server changed the status:\nsent {:#}\ngot {:#}",
        json!(status),
        json!(written.status)
    );
}
