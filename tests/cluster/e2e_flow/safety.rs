//! Data safety end to end (issue 9): in cluster mode, where Argo CD or Flux apply the gitops
//! object and write their own keys on it, the database created from it carries none of them;
//! a last-applied record that cannot be read stops that database and is never overwritten;
//! a missing record is written back without a step.

use std::time::Duration;

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use test_support::e2e::*;
use test_support::kinds;
use test_support::kinds::{databases_api, gitops_api};

use super::STEP;
use test_support::metadata::{RECORD_ANNOTATION as RECORD, assert_no_tool_keys, record};

/// Asserts the database, and the record on it, carry no key a GitOps tool owns.
fn assert_no_tool_metadata(live: &Value) {
    let metadata = &live["metadata"];
    assert!(record(metadata).is_some(), "a record: {metadata:#}");
    assert_no_tool_keys(metadata);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_cd_and_flux_metadata_never_reaches_the_database() {
    let sim = sim_namespace("e2e-meta", STEP).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let service = Service::start(base_config(&ns, "e2e-meta"), client.clone());
    service.ready().await;

    // What Argo CD (label tracking, tracking id) and Flux's kustomize-controller leave on
    // the objects they apply, next to the user's own label and annotation.
    let db = Db::new("tracked");
    let mut object = db.object(&ns);
    object["metadata"]["labels"] = json!({
        "team": "payments",
        "app.kubernetes.io/instance": "shop",
        "kustomize.toolkit.fluxcd.io/name": "databases",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    });
    object["metadata"]["annotations"] = json!({
        "note": "owned by payments",
        "argocd.argoproj.io/tracking-id": "shop:gitops.kubedb.com/Postgres:ns/tracked",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
    });
    let gitops = gitops_api(&client, &ns);
    gitops
        .create(
            &PostParams::default(),
            &kinds::object(&kinds::gitops_postgres(), object),
        )
        .await
        .unwrap();
    wait_current(&client, &ns, &db).await;
    let live = to_value(&databases_api(&client, &ns).get("tracked").await.unwrap());
    assert_no_tool_metadata(&live);
    assert_eq!(live["metadata"]["labels"]["team"], "payments", "{live:#}");
    assert_eq!(live["metadata"]["annotations"]["note"], "owned by payments");

    // A later change (a Patch step) brings none of them either.
    gitops
        .patch(
            "tracked",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"annotations": {"argocd.argoproj.io/sync-wave": "2"}},
                "spec": {"deletionPolicy": "Delete"},
            })),
        )
        .await
        .unwrap();
    let live = eventually("the deletion policy patched in", || async {
        let live = to_value(&databases_api(&client, &ns).get("tracked").await.unwrap());
        if live["spec"]["deletionPolicy"] == "Delete" {
            Ok(live)
        } else {
            Err(format!("{:#}", live["spec"]))
        }
    })
    .await;
    assert_no_tool_metadata(&live);
    service.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_record_stalls_its_database_and_is_kept_a_missing_one_is_written_back() {
    let sim = sim_namespace("e2e-record", STEP).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let service = Service::start(base_config(&ns, "e2e-record"), client.clone());
    service.ready().await;
    let db = Db::new("recorded");
    gitops_api(&client, &ns)
        .create(
            &PostParams::default(),
            &kinds::object(&kinds::gitops_postgres(), db.object(&ns)),
        )
        .await
        .unwrap();
    wait_current(&client, &ns, &db).await;
    let databases = databases_api(&client, &ns);

    annotate(&databases, "recorded", json!({RECORD: "not json"})).await;
    let stalled = wait_gitops(&client, &ns, "recorded", "Stalled on the record", |o| {
        condition(o, "Stalled")
            .is_some_and(|(status, _, message)| status == "True" && message.contains(RECORD))
    })
    .await;
    assert_eq!(condition(&stalled, "Ready").unwrap().0, "False");
    // Resyncs and watch events come and go; the record is never overwritten.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let live = to_value(&databases.get("recorded").await.unwrap());
    assert_eq!(
        live["metadata"]["annotations"][RECORD], "not json",
        "{live:#}"
    );

    // Deleting it is how a user accepts the loss: the service writes a fresh record, as
    // bookkeeping, not as a step (no Patched event, no OpsRequest).
    annotate(&databases, "recorded", json!({RECORD: null})).await;
    let live = eventually("the record written back", || async {
        let live = to_value(&databases.get("recorded").await.unwrap());
        match live["metadata"]["annotations"][RECORD].as_str() {
            Some(text) if text != "not json" => Ok(live),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let record: Value =
        serde_json::from_str(live["metadata"]["annotations"][RECORD].as_str().unwrap()).unwrap();
    assert!(spec_declares(&record["spec"], &db.spec()), "{record:#}");
    wait_current(&client, &ns, &db).await;
    let reasons = event_reasons(&client, &ns, "recorded").await;
    assert!(!reasons.contains(&"Patched".to_string()), "{reasons:?}");
    assert!(ops_of(&client, &ns, "recorded").await.is_empty());
    service.stop().await;
    sim.stop().await;
}
