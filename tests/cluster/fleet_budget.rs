//! The fleet budget on the real API server, with kubedb-sim standing in for KubeDB's operator
//! (issue 14, part 4): a version bump of every database rolls through them at most
//! `reconcile.max_parallel_ops` at a time, and the waiting ones say so.
//!
//! "In flight" is read from the timeline in etcd order: an OpsRequest is in flight from the
//! revision that created it to the one where it turned Successful. Exact, unlike polling.

use std::time::Duration;

use serde_json::json;
use test_support::e2e::*;
use test_support::sim::SimNamespace;

const DATABASES: usize = 12;
const CAP: u32 = 3;
/// Long enough that every database is waiting before the first UpdateVersion ends, even on a
/// loaded machine: the order is then the budget's, not the order of the reconciles.
const STEP: Duration = Duration::from_millis(1000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_bump_of_the_fleet_rolls_through_it_at_most_the_cap_at_a_time() {
    let sim = SimNamespace::start("budget", STEP).await;
    ensure_versions(&sim.client).await;
    let mut config = base_config(&sim.namespace, "budget");
    config.reconcile.max_parallel_ops = std::num::NonZeroU32::new(CAP);
    let service = Service::start(config, sim.client.clone());
    service.ready().await;
    let dbs: Vec<Db> = (0..DATABASES)
        .map(|i| Db::new(&format!("pg-{i:02}")))
        .collect();
    for db in &dbs {
        create_gitops(&sim.client, &sim.namespace, db, json!({})).await;
    }
    for db in &dbs {
        wait_current(&sim.client, &sim.namespace, db).await;
    }

    // The commit that bumps every database's version, applied in reverse name order: the
    // budget, not the order of the writes, decides who goes first.
    let bumped: Vec<Db> = dbs
        .iter()
        .map(|db| Db {
            version: "17.2".into(),
            ..db.clone()
        })
        .collect();
    for db in bumped.iter().rev() {
        set_spec(&sim.client, &sim.namespace, db).await;
    }
    let waiting = eventually("databases waiting for the fleet budget", || async {
        let report = status_report(service.listen).await;
        let waiting: Vec<String> = report
            .databases
            .iter()
            .filter(|d| d.waiting_for.as_deref() == Some("fleet budget"))
            .map(|d| d.name.clone())
            .collect();
        if waiting.is_empty() {
            Err("none yet".to_string())
        } else {
            Ok(waiting)
        }
    })
    .await;
    eprintln!("waiting for the fleet budget: {waiting:?}");
    for db in &bumped {
        wait_current(&sim.client, &sim.namespace, db).await;
    }

    // Every UpdateVersion, with the revisions it was created and finished at.
    let mut spans: Vec<(u64, u64, String)> = Vec::new();
    for db in &dbs {
        let name = update_of(&sim, &db.name);
        let versions = sim.timeline.versions("PostgresOpsRequest", &name);
        let created = versions.first().unwrap().revision;
        let finished = sim.timeline.ops_phase_revision(&name, "Successful");
        spans.push((created, finished, db.name.clone()));
    }
    let mut most = 0;
    for (at, _, _) in &spans {
        let open = spans
            .iter()
            .filter(|(created, finished, _)| created <= at && at < finished)
            .count();
        most = most.max(open);
    }
    spans.sort();
    let order: Vec<&str> = spans.iter().map(|(_, _, name)| name.as_str()).collect();
    eprintln!("UpdateVersion order: {order:?}; most in flight at once: {most}");
    assert!(
        most <= CAP as usize,
        "{most} in flight at once, cap {CAP}: {spans:?}"
    );
    assert_eq!(
        most, CAP as usize,
        "the budget was used, not starved: {spans:?}"
    );
    // Past the first grants, slots go to the waiting databases in name order. Slots that
    // free together wake their databases together, and those may create their OpsRequests
    // in either order: so a database may come before a smaller name only within one wave
    // (fewer than CAP places apart), never a wave ahead of it.
    let later: Vec<&str> = order[CAP as usize..].to_vec();
    for (i, name) in later.iter().enumerate() {
        for after in later.iter().skip(i + CAP as usize) {
            assert!(
                name < after,
                "{after} got its slot a wave after {name}: {later:?}"
            );
        }
    }
    let gauge = metric(
        service.listen,
        "pg_gitops_databases_held{reason=\"fleet_budget\"}",
    )
    .await;
    assert_eq!(gauge, 0.0);
    service.stop().await;
    sim.stop().await;
}

/// The name of the UpdateVersion OpsRequest of database `db` in the timeline.
fn update_of(sim: &SimNamespace, db: &str) -> String {
    sim.timeline
        .names("PostgresOpsRequest")
        .into_iter()
        .find(|name| name.starts_with(&format!("{db}-")) && name.contains("versionupdate"))
        .unwrap_or_else(|| panic!("no UpdateVersion of {db}"))
}
