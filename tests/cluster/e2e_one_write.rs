//! Fleet scale (issue 12): a commit that changes one manifest writes one gitops object, not
//! one per database. The service runs in-process with a recording client (every non-GET
//! request it sends is logged); a fleet of databases converges, then one manifest changes
//! its replicas. Until that database is Current again the service may write that gitops
//! object once, and then only what the change itself needs (its OpsRequest, status, Events,
//! record): at most 10 writes. The other objects keep the revision at which their manifest
//! last changed. Before, every manifest was applied on every commit (a write and a
//! reconcile per database).
//!
//! And a commit that changes every database rolls out at `max_ops_requests_per_second`, not
//! in one burst, while the databases waiting their turn say so in their status.

use std::time::Duration;

use std::num::NonZeroU32;

use kube::api::ListParams;
use test_support::e2e::*;
use test_support::kinds::{gitops_api, ops_api};

const FLEET: usize = 12;

/// Waits until the service has written nothing for 2 s; returns how many writes it made.
async fn quiet(writes: &Writes) -> usize {
    let mut seen = (writes.outside_leases().len(), tokio::time::Instant::now());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while seen.1.elapsed() < Duration::from_secs(2) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service never stops writing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let count = writes.outside_leases().len();
        if count != seen.0 {
            seen = (count, tokio::time::Instant::now());
        }
    }
    seen.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_file_commit_writes_one_gitops_object() {
    let sim = sim_namespace("one-write", Duration::from_millis(200)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let dbs: Vec<Db> = (0..FLEET).map(|i| Db::new(&format!("db{i:02}"))).collect();
    let refs: Vec<&Db> = dbs.iter().collect();
    let fleet = Fleet::new(&ns, &refs);
    let first = fleet.repo.head();
    let (recorded, writes) = recording_client().await;
    let service = Service::start(fleet.config("one-write"), recorded);
    service.ready().await;
    for db in &dbs {
        wait_current(&client, &ns, db).await;
    }
    let before = quiet(&writes).await;
    // Each database provisioned once: no second create on a cache that has not caught up
    // with the first (which the API server would answer AlreadyExists).
    let posts = |written: &[String], resource: &str| {
        written
            .iter()
            .filter(|w| w.starts_with("POST") && w.contains(resource))
            .count()
    };
    let startup = writes.outside_leases();
    assert_eq!(
        posts(&startup, "/apis/kubedb.com/v1/namespaces/"),
        FLEET,
        "{startup:#?}"
    );

    let mut changed = dbs[3].clone();
    changed.replicas = 4;
    let mut next: Vec<&Db> = refs.clone();
    next[3] = &changed;
    let second = fleet.push(&next, "db03: four replicas");
    wait_current(&client, &ns, &changed).await;
    quiet(&writes).await;
    let written: Vec<String> = writes.outside_leases().split_off(before);

    let gitops_writes: Vec<&String> = written
        .iter()
        .filter(|w| w.contains("/gitops.kubedb.com/") && !w.contains("/status"))
        .collect();
    assert_eq!(gitops_writes.len(), 1, "{written:#?}");
    assert!(
        gitops_writes[0].contains("/postgreses/db03"),
        "{written:#?}"
    );
    assert_eq!(posts(&written, "/postgresopsrequests"), 1, "{written:#?}");
    assert!(
        written.len() <= 10,
        "{} writes: {written:#?}",
        written.len()
    );

    // The revision annotation says when each manifest last changed.
    for object in gitops_api(&client, &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        let name = object.metadata.name.clone().unwrap();
        let revision = object.metadata.annotations.unwrap()["gitops.kubedb.com/revision"].clone();
        let expected = if name == "db03" { &second } else { &first };
        assert_eq!(&revision, expected, "{name}");
    }
    service.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_wide_change_rolls_out_at_the_configured_pace() {
    let sim = sim_namespace("paced", Duration::from_millis(200)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let dbs: Vec<Db> = (0..FLEET).map(|i| Db::new(&format!("db{i:02}"))).collect();
    let fleet = Fleet::new(&ns, &dbs.iter().collect::<Vec<_>>());
    let mut config = fleet.config("paced");
    config.reconcile.max_ops_requests_per_second = NonZeroU32::new(2).unwrap();
    let service = Service::start(config, client.clone());
    service.ready().await;
    for db in &dbs {
        wait_current(&client, &ns, db).await;
    }

    let scaled: Vec<Db> = dbs
        .iter()
        .map(|db| Db {
            replicas: 2,
            ..db.clone()
        })
        .collect();
    fleet.push(
        &scaled.iter().collect::<Vec<_>>(),
        "every database: two replicas",
    );
    // While the rollout runs, databases without a turn say why they wait.
    let gitops = gitops_api(&client, &ns);
    eventually("a database waiting for its turn", || async {
        let listed = gitops
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        listed
            .iter()
            .map(to_value)
            .find(|o| {
                condition(o, "Reconciling")
                    .is_some_and(|(_, _, message)| message.contains("waits its turn"))
            })
            .ok_or_else(|| "none waits".to_string())
    })
    .await;
    for db in &scaled {
        wait_current(&client, &ns, db).await;
    }
    let mut created: Vec<i64> = ops_api(&client, &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.metadata.creation_timestamp.unwrap().0.as_second())
        .collect();
    created.sort();
    assert_eq!(created.len(), FLEET);
    // 2 per second with a burst of 2: twelve requests take at least 5 s (the API server's
    // clock has whole seconds, so allow one second less).
    let span = created[FLEET - 1] - created[0];
    assert!(
        span >= 4,
        "{FLEET} OpsRequests within {span} s: {created:?}"
    );
    // Within any second at most 4 turns are granted (the burst of 2, then 2 a second); a
    // calendar second may show all 4 when the first two reached the API server late (seen on a
    // loaded machine), never 5.
    for window in created.windows(5) {
        assert!(
            window[4] - window[0] >= 1,
            "five OpsRequests in one second: {created:?}"
        );
    }
    service.stop().await;
    sim.stop().await;
}
