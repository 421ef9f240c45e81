//! A push delivered to a standby replica (issue 11): the chart's Service balances webhooks
//! over every replica, but only the leader applies. The standby passes the push on through
//! the Lease (`gitops.kubedb.com/sync-requested-at`, see `src/leader/relay.rs`), and the
//! leader fetches at once instead of at its next poll (an hour here, so only the relay can
//! explain a fetch). Prints each delivery → leader-snapshot latency; docs/reliability.md
//! records them.
//!
//!     cargo test --test cluster webhook_standby -- --nocapture

use std::time::{Duration, Instant};

use pg_gitops::config::Seconds;
use pg_gitops::server::Provider;
use test_support::e2e::*;
use test_support::webhook::deliver_over_tcp;

const SECRET: &str = "standby-webhook-secret";
/// A generous alarm, not the goal (one second): the figures are printed and recorded.
const ALARM: Duration = Duration::from_secs(5);

async fn leads(service: &Service) -> bool {
    metric(service.listen, "pg_gitops_leader").await == 1.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_delivered_to_the_standby_makes_the_leader_fetch_at_once() {
    let sim = sim_namespace("standby-push", Duration::from_millis(200)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let db = Db::new("pushed");
    let fleet = Fleet::new(&ns, &[&db]);
    let secret_file = fleet.repo.temp.path().join("webhook-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let replica = |instance: &str| {
        let mut config = fleet.config(instance);
        config.leader_election.enabled = true;
        config.leader_election.lease_name = "pg-gitops".into();
        // Only a webhook (or the relay) may make a replica fetch during the test.
        config.source.poll_interval = Seconds(Duration::from_secs(3600));
        config.server.webhooks.generic_secret_file = Some(secret_file.clone());
        config
    };
    let leader = Service::start(replica("replica-a"), client.clone());
    leader.ready().await;
    eventually("replica-a leads", || async {
        if leads(&leader).await {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    })
    .await;
    let standby = Service::start(replica("replica-b"), client.clone());
    standby.ready().await;
    assert!(!leads(&standby).await, "replica-b is the standby");
    wait_current(&client, &ns, &db).await;

    let mut latencies = Vec::new();
    for round in 0..5 {
        // A commit outside the manifests' path: a new revision, nothing to reconcile.
        let sha = fleet
            .repo
            .commit(&format!("notes/{round}.md"), "a push", "a push");
        let sent = Instant::now();
        let response = deliver_over_tcp(standby.listen, Provider::Generic, SECRET, &sha).await;
        assert!(response.starts_with("HTTP/1.1 202"), "{response}");
        loop {
            let revision = status_report(leader.listen).await.source.revision;
            if revision.as_deref() == Some(sha.as_str()) {
                break;
            }
            assert!(
                sent.elapsed() < ALARM,
                "round {round}: the leader still has {revision:?}, not {sha}, {:?} after the push reached the standby",
                sent.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(sent.elapsed());
        assert!(leads(&leader).await && !leads(&standby).await);
    }
    latencies.sort();
    eprintln!(
        "standby push → leader snapshot: {}",
        latencies
            .iter()
            .map(|l| format!("{:.0} ms", l.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    standby.stop().await;
    leader.stop().await;
    sim.stop().await;
}
