//! `pg-gitops approve` (the built binary) against the real API server: a gitops object whose
//! status says an UpdateVersion awaits approval, as the service writes it. A token other than
//! the one awaiting is refused and nothing is written; without `--step` the awaiting token is
//! appended to the approvals annotation (by the field manager `pg-gitops-approve`); again, it
//! is already approved and nothing is written; nothing awaiting and a missing object are
//! refused with their exit codes.

use std::process::Output;

use kube::api::{Api, Patch, PatchParams, PostParams};
use pg_gitops::gate::{APPROVED_ANNOTATION, Hold};
use pg_gitops::models::GitopsPostgres;
use pg_gitops::plan::StepType;
use serde_json::json;

const OPS: &str = "pg1-versionupdate-k3x9qa";
const TOKEN: &str = "k3x9qa";

/// `pg-gitops approve` with `args`, with the test cluster's kubeconfig.
async fn approve(args: &[&str]) -> Output {
    let kubeconfig = test_support::cluster()
        .await
        .kubeconfig_path()
        .to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
            .arg("approve")
            .args(&args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env_remove("KUBECONFIG")
            .output()
            .expect("running pg-gitops approve")
    })
    .await
    .unwrap()
}

fn said(output: &Output) -> (i32, String, String) {
    (
        output.status.code().expect("exited"),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
        String::from_utf8_lossy(&output.stderr).trim().to_string(),
    )
}

async fn create(api: &Api<GitopsPostgres>, name: &str, approved: Option<&str>) -> GitopsPostgres {
    let annotations = approved.map(|a| json!({APPROVED_ANNOTATION: a}));
    let object: GitopsPostgres = serde_json::from_value(json!({
        "apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
        "metadata": {"name": name, "annotations": annotations}, "spec": {"version": "16.4"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &object).await.unwrap()
}

#[tokio::test]
async fn approve_command_writes_only_the_token_awaiting() {
    let cluster = test_support::cluster().await;
    let ns = cluster.namespace("approve").await;
    let api: Api<GitopsPostgres> = Api::namespaced(cluster.client(), &ns);
    let target = format!("{ns}/pg1");

    // pg1: an UpdateVersion held for approval, as the service writes it; an earlier approval.
    let object = create(&api, "pg1", Some("old111")).await;
    let generation = object.metadata.generation.unwrap();
    let hold = Hold::AwaitingApproval {
        step: StepType::UpdateVersion,
        ops_request: OPS.into(),
        token: TOKEN.into(),
    };
    let condition = |kind: &str, status: &str, reason: &str| {
        json!({"type": kind, "status": status, "reason": reason, "observedGeneration": generation,
               "lastTransitionTime": "2026-12-05T00:00:00Z", "message": hold.message(&ns, "pg1")})
    };
    let status = json!({
        "observedGeneration": generation,
        "conditions": [
            condition("Ready", "False", "AwaitingApproval"),
            condition("Reconciling", "True", "AwaitingApproval"),
            condition("AwaitingApproval", "True", "ApprovalRequired"),
        ],
        "gitops": {"gitOpsInfo": [{"observedGeneration": generation, "changeRequestStatus": "Pending",
            "operations": [{"name": OPS, "status": "AwaitingApproval"}]}]},
    });
    let held = api
        .patch_status(
            "pg1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
    let approvals = |object: &GitopsPostgres| {
        object
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(APPROVED_ANNOTATION))
            .cloned()
    };

    // A token reviewed earlier, no longer the one awaiting: refused, nothing written.
    let (code, _, stderr) = said(&approve(&[&target, "--step", "zzzzzz"]).await);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "{target} awaits approval of UpdateVersion {OPS} (token {TOKEN}), not zzzzzz: the \
             plan changed since you looked; review it again"
        )
    );
    let after = api.get("pg1").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        held.metadata.resource_version
    );

    // The step awaiting: its token appended to the earlier one.
    let (code, stdout, stderr) = said(&approve(&[&target]).await);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!("approved UpdateVersion {OPS} of {target} (token {TOKEN})")
    );
    let approved = api.get("pg1").await.unwrap();
    assert_eq!(approvals(&approved).as_deref(), Some("old111,k3x9qa"));
    assert!(
        approved
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|f| f.manager.as_deref() == Some("pg-gitops-approve")),
        "{:?}",
        approved.metadata.managed_fields
    );
    assert_eq!(approved.metadata.generation, Some(generation));

    // Again, with the token (the service has not reconciled yet): already approved, no write.
    let (code, stdout, stderr) = said(&approve(&[&target, "--step", TOKEN]).await);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("already approved"), "{stdout}");
    let again = api.get("pg1").await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        approved.metadata.resource_version
    );

    // pg2: nothing awaits.
    create(&api, "pg2", None).await;
    let (code, _, stderr) = said(&approve(&[&format!("{ns}/pg2")]).await);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr, format!("{ns}/pg2 has no step awaiting approval"));
    assert_eq!(approvals(&api.get("pg2").await.unwrap()), None);

    // No such object.
    let (code, _, stderr) = said(&approve(&[&format!("{ns}/missing")]).await);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{ns}/missing")) && stderr.contains("not found"),
        "{stderr}"
    );
}
