//! Two pg-gitops instances with overlapping scope (issue 11, item 4): each owns what it
//! applies, provisions or adopts (label `gitops.kubedb.com/owner`), and neither prunes,
//! applies over nor drives the other's objects; each says so with a Warning Event
//! `OwnedByAnother` naming the other owner, once, and counts it in
//! `pg_gitops_owned_elsewhere`. Objects from before ownership existed are adopted by exactly
//! one of them.

use std::net::SocketAddr;
use std::time::Duration;

use kube::Client;
use kube::api::{Patch, PatchParams, PostParams};
use pg_gitops::config::{Config, Seconds};
use serde_json::{Value, json};
use test_support::e2e::*;
use test_support::git::repo::git;
use test_support::kinds::{databases_api, gitops_api};

const OWNER: &str = "gitops.kubedb.com/owner";

/// The `OwnedByAnother` notes `instance` wrote about `name`.
async fn refusals(client: &Client, ns: &str, name: &str, instance: &str) -> Vec<String> {
    events_about(client, ns, name)
        .await
        .into_iter()
        .filter(|(reason, by, _)| reason == "OwnedByAnother" && by == instance)
        .map(|(_, _, note)| note)
        .collect()
}

/// Waits for an `OwnedByAnother` Event of `instance` about `name` whose note contains `text`.
async fn wait_refusal(client: &Client, ns: &str, name: &str, instance: &str, text: &str) {
    eventually(&format!("{instance} refuses {name} ({text})"), || async {
        let notes = refusals(client, ns, name, instance).await;
        if notes.iter().any(|n| n.contains(text)) {
            Ok(())
        } else {
            Err(format!("{:?}", events_about(client, ns, name).await))
        }
    })
    .await;
}

async fn owned_elsewhere(listen: SocketAddr) -> f64 {
    http_get(listen, "/metrics")
        .await
        .lines()
        .find_map(|line| line.strip_prefix("pg_gitops_owned_elsewhere "))
        .and_then(|value| value.trim().parse().ok())
        .expect("pg_gitops_owned_elsewhere on /metrics")
}

fn label(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/labels/gitops.kubedb.com~1owner")?
        .as_str()
}

async fn database(client: &Client, ns: &str, name: &str) -> Value {
    to_value(&databases_api(client, ns).get(name).await.unwrap())
}

async fn gitops_object(client: &Client, ns: &str, name: &str) -> Value {
    to_value(&gitops_api(client, ns).get(name).await.unwrap())
}

/// Waits until the service at `listen` has the snapshot of `revision`, and a moment more for
/// its apply stage (apply and prune) to run on it.
async fn applied(listen: SocketAddr, revision: &str) {
    eventually(&format!("the snapshot of {revision}"), || async {
        let metrics = http_get(listen, "/metrics").await;
        if metrics.contains(&format!("revision=\"{revision}\"")) {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// Git mode: one repository and path (so one source label), two branches, two instances with
/// pruning on. Before owners, each pruned what the other applied (same source label, not in
/// its own branch) and applied its version of a shared database over the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_repository_never_prune_or_apply_over_each_other() {
    let sim = sim_namespace("own-git", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let (alpha, beta) = (Db::new("alpha"), Db::new("beta"));
    let fleet = Fleet::new(&ns, &[&alpha]);
    let work = fleet.repo.work.clone();
    // Branch `other`: beta, and alpha with another replica count.
    git(&work, &["checkout", "-q", "-b", "other"]);
    let alpha_elsewhere = Db {
        replicas: 5,
        ..alpha.clone()
    };
    fleet.push(&[&alpha_elsewhere, &beta], "the other branch");
    git(&work, &["checkout", "-q", "main"]);
    let instance = |name: &str, owner: &str, branch: &str| -> Config {
        let mut config = fleet.config(name);
        config.source.branch = branch.into();
        config.reconcile.prune = true;
        config.reconcile.owner = Some(owner.into());
        config
    };
    // One after the other: two instances creating the same object at the same instant is
    // the one race the label cannot settle (the second apply relabels; then neither drives
    // it, see the README).
    let a = Service::start(instance("own-git-a", "team-a", "main"), client.clone());
    a.ready().await;
    wait_current(&client, &ns, &alpha).await;
    let b = Service::start(instance("own-git-b", "team-b", "other"), client.clone());
    b.ready().await;
    wait_current(&client, &ns, &beta).await;
    wait_refusal(&client, &ns, "alpha", "own-git-b", "not applied from Git").await;

    // A new revision on each branch: each instance applies and prunes once more.
    let main_head = fleet
        .repo
        .commit("fleet/notes.txt", "not a manifest\n", "main moves");
    applied(a.listen, &main_head).await;
    git(&work, &["checkout", "-q", "other"]);
    let other_head = fleet
        .repo
        .commit("fleet/notes.txt", "not a manifest\n", "other moves");
    git(&work, &["checkout", "-q", "main"]);
    applied(b.listen, &other_head).await;

    for (name, owner) in [("alpha", "team-a"), ("beta", "team-b")] {
        let object = gitops_api(&client, &ns).get_opt(name).await.unwrap();
        let object = to_value(&object.unwrap_or_else(|| panic!("{name} was pruned")));
        assert_eq!(label(&object), Some(owner), "{object:#}");
        assert_eq!(label(&database(&client, &ns, name).await), Some(owner));
    }
    // alpha is as team-a's Git says: team-b neither applied its version nor scaled it.
    let alpha_object = gitops_object(&client, &ns, "alpha").await;
    assert_eq!(alpha_object["spec"]["replicas"], 3, "{alpha_object:#}");
    assert_eq!(database(&client, &ns, "alpha").await["spec"]["replicas"], 3);
    assert!(ops_of(&client, &ns, "alpha").await.is_empty());
    // team-b said why, naming team-a: its apply stage (once per revision of its branch) and
    // its reconciler (once).
    wait_refusal(&client, &ns, "alpha", "own-git-b", "not reconciled").await;
    let notes = refusals(&client, &ns, "alpha", "own-git-b").await;
    assert!(notes.iter().all(|n| n.contains("\"team-a\"")), "{notes:?}");
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.contains("not reconciled"))
            .count(),
        1,
        "{notes:?}"
    );
    assert_eq!(owned_elsewhere(a.listen).await, 1.0, "beta, for team-a");
    assert_eq!(owned_elsewhere(b.listen).await, 1.0, "alpha, for team-b");
    a.stop().await;
    b.stop().await;
    sim.stop().await;
}

/// Cluster mode, as beside Argo CD: the gitops objects are applied by a GitOps tool, with the
/// owner label in Git or without one, and two instances watch the same namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_in_cluster_mode_drive_only_their_own_databases() {
    let sim = sim_namespace("own-cluster", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    // legacy: a database and its gitops object from before owners existed (no label).
    let legacy = Db::new("legacy");
    sim.ready_database("legacy", legacy.spec()).await;
    // gamma: assigned to team-a in Git, but its database already belongs to team-b.
    let gamma = Db {
        replicas: 2,
        ..Db::new("gamma")
    };
    let mut gamma_database = json!({
        "apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": {"name": "gamma", "labels": {OWNER: "team-b"}},
        "spec": Db::new("gamma").spec(),
    });
    gamma_database["spec"]["replicas"] = json!(3);
    databases_api(&client, &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(gamma_database).unwrap(),
        )
        .await
        .unwrap();
    let (alpha, beta) = (Db::new("alpha"), Db::new("beta"));
    for (db, owner) in [
        (&alpha, Some("team-a")),
        (&beta, Some("team-b")),
        (&legacy, None),
        (&gamma, Some("team-a")),
    ] {
        let mut object = db.object(&ns);
        if let Some(owner) = owner {
            object["metadata"]["labels"] = json!({OWNER: owner});
        }
        gitops_api(&client, &ns)
            .create(
                &PostParams::default(),
                &serde_json::from_value(object).unwrap(),
            )
            .await
            .unwrap();
    }
    let instance = |name: &str, owner: &str| -> Config {
        let mut config = base_config(&ns, name);
        config.reconcile.owner = Some(owner.into());
        config.reconcile.resync_interval = Seconds(Duration::from_secs(2));
        config
    };
    let a = Service::start(instance("own-a", "team-a"), client.clone());
    let b = Service::start(instance("own-b", "team-b"), client.clone());
    a.ready().await;
    b.ready().await;

    wait_current(&client, &ns, &alpha).await;
    wait_current(&client, &ns, &beta).await;
    wait_current(&client, &ns, &legacy).await;
    assert_eq!(
        label(&database(&client, &ns, "alpha").await),
        Some("team-a")
    );
    assert_eq!(label(&database(&client, &ns, "beta").await), Some("team-b"));
    // Adopted by exactly one: the other saw the label (or lost the precondition) and left it.
    let winner = label(&database(&client, &ns, "legacy").await)
        .expect("the legacy database was adopted")
        .to_owned();
    let (loser, loser_name) = if winner == "team-a" {
        (&b, "own-b")
    } else {
        (&a, "own-a")
    };
    wait_refusal(&client, &ns, "legacy", loser_name, &format!("\"{winner}\"")).await;

    // gamma: team-a's gitops object, team-b's database. team-a says so in the status; nobody
    // drives it.
    let stalled = wait_gitops(&client, &ns, "gamma", "Stalled, OwnedByAnother", |o| {
        condition(o, "Stalled")
            .is_some_and(|(status, reason, _)| status == "True" && reason == "OwnedByAnother")
    })
    .await;
    let (_, _, message) = condition(&stalled, "Stalled").unwrap();
    assert!(message.contains("\"team-b\""), "{message}");
    wait_refusal(&client, &ns, "gamma", "own-b", "\"team-a\"").await;

    // A change to alpha: only team-a drives it.
    gitops_api(&client, &ns)
        .patch(
            "alpha",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    let scaled = Db {
        replicas: 2,
        ..alpha.clone()
    };
    wait_current(&client, &ns, &scaled).await;
    let ops = ops_of(&client, &ns, "alpha").await;
    assert_eq!(ops.len(), 1, "{ops:#?}");
    assert_eq!(label(&ops[0]), Some("team-a"), "{:#}", ops[0]);
    let created: Vec<String> = events_about(&client, &ns, "alpha")
        .await
        .into_iter()
        .filter(|(reason, _, _)| reason == "OpsRequestCreated")
        .map(|(_, by, _)| by)
        .collect();
    assert_eq!(created, ["own-a"]);
    wait_refusal(&client, &ns, "alpha", "own-b", "\"team-a\"").await;
    wait_refusal(&client, &ns, "beta", "own-a", "\"team-b\"").await;

    // Several resyncs later (every 2 s): nothing more was done to gamma, and each refusal
    // was said once, not per reconcile.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(ops_of(&client, &ns, "gamma").await.is_empty());
    let gamma_now = database(&client, &ns, "gamma").await;
    assert_eq!(gamma_now["spec"]["replicas"], 3);
    assert_eq!(label(&gamma_now), Some("team-b"));
    for (name, instance) in [
        ("alpha", "own-b"),
        ("beta", "own-a"),
        ("gamma", "own-b"),
        ("legacy", loser_name),
    ] {
        let notes = refusals(&client, &ns, name, instance).await;
        assert_eq!(notes.len(), 1, "{name} by {instance}: {notes:?}");
    }
    // team-a leaves beta (and legacy if it lost); team-b leaves alpha and gamma (and legacy).
    let lost = |service: &Service| f64::from(std::ptr::eq(service, loser));
    assert_eq!(owned_elsewhere(a.listen).await, 1.0 + lost(&a));
    assert_eq!(owned_elsewhere(b.listen).await, 2.0 + lost(&b));
    a.stop().await;
    b.stop().await;
    sim.stop().await;
}
