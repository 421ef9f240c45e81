//! KubeDB's own gitops operator at work beside pg-gitops (issue 11, item 5): seen in
//! `metadata.managedFields` (its field manager `kubedb-gitops...` on a gitops object or a
//! database, or any other writer of `status.gitops`), and announced with one Warning Event
//! `KubeDBGitopsOperator` per database that says how to turn it off, not one per reconcile.
//! The writes here are made with those field managers, as that operator would make them.

use std::time::Duration;

use kube::Client;
use kube::api::{Patch, PatchParams};
use pg_gitops::config::Seconds;
use serde_json::json;
use test_support::e2e::*;
use test_support::kinds::{databases_api, gitops_api};

/// The notes of the `KubeDBGitopsOperator` Events about `name`, each as often as it happened.
async fn warnings(client: &Client, ns: &str, name: &str) -> Vec<String> {
    events_about(client, ns, name)
        .await
        .into_iter()
        .filter(|(reason, _, _)| reason == "KubeDBGitopsOperator")
        .map(|(_, _, note)| note)
        .collect()
}

async fn wait_warning(client: &Client, ns: &str, name: &str) -> String {
    eventually(
        &format!("a KubeDBGitopsOperator Event on {name}"),
        || async {
            let notes = warnings(client, ns, name).await;
            notes.first().cloned().ok_or_else(|| "none yet".to_owned())
        },
    )
    .await
}

fn by(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubedb_gitops_operator_at_work_is_announced_once_per_database() {
    let sim = sim_namespace("kubedb-gitops", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let (orders, billing, carts, quiet) = (
        Db::new("orders"),
        Db::new("billing"),
        Db::new("carts"),
        Db::new("quiet"),
    );
    for db in [&orders, &billing, &carts, &quiet] {
        gitops_api(&client, &ns)
            .create(
                &Default::default(),
                &serde_json::from_value(db.object(&ns)).unwrap(),
            )
            .await
            .unwrap();
    }
    let mut config = base_config(&ns, "kubedb-gitops");
    config.reconcile.resync_interval = Seconds(Duration::from_secs(2));
    let service = Service::start(config, client.clone());
    service.ready().await;
    for db in [&orders, &billing, &carts, &quiet] {
        wait_current(&client, &ns, db).await;
    }

    // orders: the operator's field manager writes the gitops object.
    let gitops = gitops_api(&client, &ns);
    let mark =
        |n: u32| Patch::Merge(json!({"metadata": {"annotations": {"seen-by": n.to_string()}}}));
    gitops
        .patch("orders", &by("kubedb-gitops"), &mark(1))
        .await
        .unwrap();
    // billing: another writer (whatever its name) of the status KubeDB's operator keeps.
    gitops
        .patch_status(
            "billing",
            &by("gitops-operator"),
            &Patch::Merge(json!({"status": {"gitops": {"gitOpsInfo": [{
                "observedGeneration": 1, "changeRequestStatus": "InProgress",
                "operations": [{"name": "billing-horizontalscaling-x1y2z3", "status": "Pending"}],
            }]}}})),
        )
        .await
        .unwrap();
    // carts: the operator's field manager writes the kubedb.com Postgres.
    databases_api(&client, &ns)
        .patch("carts", &by("kubedb-gitops"), &mark(1))
        .await
        .unwrap();

    let note = wait_warning(&client, &ns, "orders").await;
    assert!(note.contains("\"kubedb-gitops\""), "{note}");
    assert!(
        note.contains("kubedb-crd-manager.installGitOpsCRDs=false"),
        "says how to turn it off: {note}"
    );
    let note = wait_warning(&client, &ns, "billing").await;
    assert!(
        note.contains("\"gitops-operator\"") && note.contains("status.gitops"),
        "{note}"
    );
    let note = wait_warning(&client, &ns, "carts").await;
    assert!(note.contains("kubedb.com Postgres"), "{note}");

    // More writes of the operator and several resyncs (every 2 s): still one Event each, and
    // none about the database nobody else touches.
    for n in 2..4 {
        gitops
            .patch("orders", &by("kubedb-gitops"), &mark(n))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    for name in ["orders", "billing", "carts"] {
        assert_eq!(warnings(&client, &ns, name).await.len(), 1, "{name}");
    }
    assert!(warnings(&client, &ns, "quiet").await.is_empty());
    service.stop().await;
    sim.stop().await;
}
