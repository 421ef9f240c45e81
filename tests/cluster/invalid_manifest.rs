//! An invalid manifest that still names its database shows where operators look: a Warning
//! Event `InvalidManifest` on that gitops object, naming file, line and field, once per
//! revision, and the condition `InvalidManifest` on the object while the manifest stays
//! broken; the object keeps its last good version and is not pruned (nor is an object another
//! installation applied), and the other databases of the commit are
//! still applied and reconciled. A file that cannot be read at all (names no database) stops
//! pruning until it reads again.

use std::time::Duration;

use serde_json::Value;
use test_support::e2e::*;
use test_support::kinds::gitops_api;

/// The `InvalidManifest` condition of the gitops object, if any.
async fn invalid_condition(client: &kube::Client, ns: &str, name: &str) -> Option<Value> {
    let object = gitops_api(client, ns).get(name).await.unwrap();
    let conditions = to_value(&object)["status"]["conditions"].clone();
    conditions
        .as_array()?
        .iter()
        .find(|c| c["type"] == "InvalidManifest")
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_manifest_gets_an_event_and_a_condition_and_the_others_still_apply() {
    let sim = sim_namespace("invalid-event", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let (fine, target) = (Db::new("fine"), Db::new("target"));
    let fleet = Fleet::new(&ns, &[&fine, &target]);
    // An object another pg-gitops installation applied from its own repository.
    let mut foreign = Db::new("foreign").object(&ns);
    foreign["metadata"]["labels"] = serde_json::json!({
        "app.kubernetes.io/managed-by": "pg-gitops",
        "gitops.kubedb.com/source": "0123456789abcdef",
    });
    gitops_api(&client, &ns)
        .create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(foreign).unwrap(),
        )
        .await
        .unwrap();
    let mut config = fleet.config("invalid-event");
    // Pruning on: a broken manifest is still wanted, so its object must survive.
    config.reconcile.prune = true;
    let service = Service::start(config, client.clone());
    service.ready().await;
    wait_current(&client, &ns, &target).await;

    // A typo in target's manifest, and a change to fine in the same commit.
    let good = target.yaml(&ns);
    let broken = good.replace("replicas:", "replica:");
    assert_ne!(broken, good);
    std::fs::write(
        fleet.repo.work.join("fleet/fine.yaml"),
        fine.five_changes().yaml(&ns),
    )
    .unwrap();
    fleet
        .repo
        .commit("fleet/target.yaml", &broken, "a typo in target");
    wait_current(&client, &ns, &fine.five_changes()).await;
    let kept = to_value(&gitops_api(&client, &ns).get("target").await.unwrap());
    assert_eq!(
        kept["spec"]["replicas"], target.replicas,
        "not pruned, and its last good version stays: {kept}"
    );
    assert!(
        gitops_api(&client, &ns)
            .get_opt("foreign")
            .await
            .unwrap()
            .is_some(),
        "pruning removed an object another installation applied"
    );

    let condition = eventually("the InvalidManifest condition on 'target'", || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            invalid_condition(&client, &ns, "target")
                .await
                .ok_or_else(|| "no condition yet".to_owned())
        }
    })
    .await;
    assert_eq!(condition["status"], "True", "{condition}");
    assert_eq!(condition["reason"], "ValidationFailed", "{condition}");
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.starts_with("target.yaml:") && message.contains("spec.replica: unknown field"),
        "names file, line and field: {message}"
    );
    let notes = eventually("an InvalidManifest event on 'target'", || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            let reasons = event_reasons(&client, &ns, "target").await;
            if reasons.iter().any(|r| r == "InvalidManifest") {
                Ok(event_notes(&client, &ns, "target").await)
            } else {
                Err(format!("{reasons:?}"))
            }
        }
    })
    .await;
    let invalid: Vec<_> = notes
        .iter()
        .filter(|n| n.contains("unknown field"))
        .collect();
    assert_eq!(invalid.len(), 1, "one event per revision: {notes:?}");
    assert_eq!(
        invalid[0], message,
        "the event and the condition say the same"
    );
    // A few apply ticks later there is still one: no event per retry or per tick.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let notes = event_notes(&client, &ns, "target").await;
    assert_eq!(
        notes.iter().filter(|n| n.contains("unknown field")).count(),
        1,
        "{notes:?}"
    );

    // Fixed in Git: the condition goes.
    fleet.repo.commit("fleet/target.yaml", &good, "typo fixed");
    eventually("the condition gone once the manifest is fixed", || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            match invalid_condition(&client, &ns, "target").await {
                None => Ok(()),
                Some(condition) => Err(condition.to_string()),
            }
        }
    })
    .await;

    // fine.yaml leaves Git in a commit where target.yaml is not even YAML: that file could
    // have declared any database, so nothing is pruned while it is there...
    std::fs::remove_file(fleet.repo.work.join("fleet/fine.yaml")).unwrap();
    // (A database that stays, so the snapshot is not empty: an empty one never prunes.)
    std::fs::write(
        fleet.repo.work.join("fleet/extra.yaml"),
        Db::new("extra").yaml(&ns),
    )
    .unwrap();
    fleet.repo.commit(
        "fleet/target.yaml",
        "spec: [not yaml\n",
        "fine removed, target unreadable",
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        gitops_api(&client, &ns)
            .get_opt("fine")
            .await
            .unwrap()
            .is_some(),
        "pruned while a file of the snapshot could not be read"
    );
    // ...and once it reads again, fine (gone from Git) is pruned.
    fleet
        .repo
        .commit("fleet/target.yaml", &good, "target readable again");
    eventually("fine pruned once every file reads", || {
        let api = gitops_api(&client, &ns);
        async move {
            match api.get_opt("fine").await {
                Ok(None) => Ok(()),
                other => Err(format!("{:?}", other.map(|o| o.is_some()))),
            }
        }
    })
    .await;
    service.stop().await;
}
