//! The API server and etcd stopped for 30 s in the middle of OpsRequest sequences, then
//! started again on their data (issue 13). The `pg-gitops` binary (leader election on, so it
//! also loses and regains its Lease) must come through without a restart of its own: while
//! the outage lasts `/metrics` and `/status` say so; when the API server is back its watches
//! resume and the sequences go on within seconds; in the end every database has converged
//! with each OpsRequest created once, none skipped, in order.
//!
//! The control plane is the test's own ([`OwnCluster`]): the shared one cannot be stopped
//! under the other tests. The figures it prints are in docs/reliability.md:
//!
//!     cargo test --test cluster api_outage -- --nocapture

use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::OwnCluster;
use test_support::audit::AuditLog;
use test_support::e2e::*;
use test_support::kinds::gitops_api;
use test_support::sim::SimNamespace;

/// How long the API server and etcd stay down.
const OUTAGE: Duration = Duration::from_secs(30);
/// An alarm, not a measurement (the figures are printed and recorded), on what pg-gitops
/// itself controls: seeing the API again (its probe) and holding the Lease again.
const RESUME_ALARM: Duration = Duration::from_secs(30);
/// A deadline for correctness, not a speed alarm: after the return, the next OpsRequest also
/// waits for the API server's watch cache to warm up again (which held pg-gitops' re-started
/// watches for up to 100 s on a machine at load 10, and about 3 s alone) and for KubeDB's
/// stand-in to finish the OpsRequest in flight.
const CONVERGE_PATIENCE: Duration = Duration::from_secs(300);

async fn ops_count(client: &kube::Client, ns: &str, dbs: &[Db]) -> usize {
    let mut count = 0;
    for db in dbs {
        count += ops_of(client, ns, &db.name).await.len();
    }
    count
}

/// Polls `done` every 100 ms; returns how long it took, or fails after `patience`.
async fn until(what: &str, patience: Duration, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < patience,
            "{what}: not within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_and_etcd_outage_mid_sequence_loses_and_doubles_nothing() {
    let cluster = OwnCluster::start("outage").await;
    let client = cluster.client();
    ensure_versions(&client).await;
    let ns = cluster.namespace("outage").await;
    let step = Duration::from_millis(700);
    let sim = SimNamespace::on(client.clone(), ns.clone(), step, Duration::from_millis(200)).await;
    let dbs: Vec<Db> = ["a", "b", "c"].iter().map(|n| Db::new(n)).collect();
    let fleet = Fleet::new(&ns, &dbs.iter().collect::<Vec<_>>());
    let mut config = fleet.config("outage");
    config.leader_election.enabled = true;
    config.leader_election.lease_name = "outage".into();
    let listen = config.server.listen;
    let config_file = fleet.repo.temp.path().join("config.toml");
    write_config(&config, &config_file);
    // Kept after the test for a look at what the service did (RUST_LOG sets its level).
    let log = std::env::temp_dir().join("pg-gitops-api-outage.log");
    let _ = std::fs::remove_file(&log);
    let mut service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_pg-gitops"),
        &config_file,
        &cluster.kubeconfig_path(),
        Some(&log),
    );
    let pid = service.pid();
    for db in &dbs {
        wait_current(&client, &ns, db).await;
    }

    let changed: Vec<Db> = dbs.iter().map(Db::five_changes).collect();
    fleet.push(&changed.iter().collect::<Vec<_>>(), "five changes each");
    // Mid-sequence: some OpsRequests made, most still to come.
    until(
        "the sequences are under way",
        Duration::from_secs(60),
        async || ops_count(&client, &ns, &dbs).await >= 4,
    )
    .await;
    let before = ops_count(&client, &ns, &dbs).await;
    cluster.stop_api_server_and_etcd().await;
    let stopped = Instant::now();
    eprintln!("outage: API server and etcd stopped with {before} of 15 OpsRequests made");

    // While it lasts, the service says so (and keeps answering).
    let noticed = until("/metrics shows the outage", OUTAGE, async || {
        metric(listen, "pg_gitops_kubernetes_api_reachable").await == 0.0
            && http_get(listen, "/metrics")
                .await
                .contains("pg_gitops_kubernetes_api_reachable 0")
    })
    .await;
    let status = http_get(listen, "/status").await;
    let body: Value = serde_json::from_str(status.split("\r\n\r\n").nth(1).unwrap_or_default())
        .unwrap_or_else(|e| panic!("/status is JSON during the outage ({e}): {status}"));
    assert_eq!(body["kubernetes"]["reachable"], false, "{body:#}");
    assert!(
        body["kubernetes"]["unreachableSince"].is_string(),
        "{body:#}"
    );
    assert!(body["kubernetes"]["error"].is_string(), "{body:#}");
    eprintln!(
        "outage: /metrics and /status showed it {:.1} s after the stop",
        noticed.as_secs_f64()
    );
    tokio::time::sleep(OUTAGE.saturating_sub(stopped.elapsed())).await;

    let mut audit = AuditLog::from_end(cluster.audit_log());
    cluster.start_api_server_and_etcd().await;
    let back = Instant::now();
    let outage = back - stopped;
    until(
        "/metrics shows the API reachable again",
        RESUME_ALARM,
        async || metric(listen, "pg_gitops_kubernetes_api_reachable").await == 1.0,
    )
    .await;
    let reachable = back.elapsed();
    until("the Lease is held again", RESUME_ALARM, async || {
        metric(listen, "pg_gitops_leader").await == 1.0
    })
    .await;
    let leading = back.elapsed();
    until(
        "the next OpsRequest is created",
        CONVERGE_PATIENCE,
        async || {
            audit
                .pg_gitops_writes()
                .iter()
                .any(|write| write.reason() == "OpsRequest create")
        },
    )
    .await;
    let resumed = back.elapsed();
    until("every sequence ends", CONVERGE_PATIENCE, async || {
        ops_count(&client, &ns, &dbs).await == 15
            && futures::future::join_all(changed.iter().map(|db| {
                let (client, ns) = (client.clone(), ns.clone());
                async move {
                    let object = gitops_api(&client, &ns).get(&db.name).await.ok()?;
                    let value = serde_json::to_value(object).ok()?;
                    Some(spec_declares(&value["spec"], &db.spec()) && is_current(&value))
                }
            }))
            .await
            .into_iter()
            .all(|current| current == Some(true))
    })
    .await;
    let converged = back.elapsed();
    eprintln!(
        "outage: {:.1} s down; after the API server was back: reachable again in {:.1} s, \
         leader again in {:.1} s, next OpsRequest created in {:.1} s, all 15 done in {:.1} s",
        outage.as_secs_f64(),
        reachable.as_secs_f64(),
        leading.as_secs_f64(),
        resumed.as_secs_f64(),
        converged.as_secs_f64()
    );

    // The timeline's own watch came back through the same warming watch cache: let it catch
    // up before the order is read from it.
    for db in &changed {
        for o in ops_of(&client, &ns, &db.name).await {
            let name = name_of(&o);
            until(
                "the timeline sees the OpsRequest succeed",
                CONVERGE_PATIENCE,
                async || {
                    sim.timeline
                        .versions("PostgresOpsRequest", &name)
                        .iter()
                        .any(|seen| phase_of(&seen.object) == "Successful")
                },
            )
            .await;
        }
    }
    for db in &changed {
        wait_current(&client, &ns, db).await;
        let ops = ops_of(&client, &ns, &db.name).await;
        assert_eq!(ops.len(), 5, "{}: {ops:#?}", db.name);
        assert_one_after_another(&sim.timeline, &ops, &FIVE_STEPS).await;
        for o in &ops {
            assert_eq!(phase_of(o), "Successful", "{o:#}");
        }
    }
    assert!(
        service.is_running() && service.pid() == pid,
        "pg-gitops came through the outage without a restart"
    );
    service.kill_9();
    sim.stop().await;
    cluster.stop().await;
}
