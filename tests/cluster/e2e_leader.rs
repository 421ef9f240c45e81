//! End to end (issue 5): two replicas with leader election. Only the Lease holder writes (each
//! replica's kube client records every non-GET request it sends, so the standby's silence is
//! measured, not assumed); stopping the leader hands the Lease over and the other replica
//! continues the OpsRequest sequence where it stood, without duplicates.
//!
//!     cargo test --test e2e_leader

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use pg_gitops::config::Seconds;
use test_support::e2e::*;
use test_support::kinds::databases_api;

async fn holder(client: &Client, ns: &str) -> Result<String, String> {
    let lease = Api::<Lease>::namespaced(client.clone(), ns)
        .get_opt("pg-gitops")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no Lease yet")?;
    lease
        .spec
        .and_then(|s| s.holder_identity)
        .ok_or_else(|| "no holder".to_string())
}

fn ops_posts(writes: &Writes) -> usize {
    writes
        .all()
        .iter()
        .filter(|w| w.starts_with("POST") && w.contains("/postgresopsrequests"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_stopping_it_hands_over_mid_sequence() {
    let sim = sim_namespace("e2e-leader", Duration::from_millis(1000)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let db = Db::new("shared");
    let fleet = Fleet::new(&ns, &[&db]);
    let replica = |instance: &str| {
        let mut config = fleet.config(instance);
        config.leader_election.enabled = true;
        config.leader_election.lease_name = "pg-gitops".into();
        config.leader_election.lease_duration = Seconds(Duration::from_secs(4));
        config
    };

    let (client_a, writes_a) = recording_client().await;
    let a = Service::start(replica("replica-a"), client_a);
    eventually("replica-a holds the Lease", || async {
        holder(&client, &ns)
            .await
            .and_then(|h| if h == "replica-a" { Ok(()) } else { Err(h) })
    })
    .await;
    let (client_b, writes_b) = recording_client().await;
    let b = Service::start(replica("replica-b"), client_b);
    a.ready().await;
    b.ready().await;

    wait_current(&client, &ns, &db).await;
    let changed = db.five_changes();
    fleet.push(&[&changed], "five changes");
    eventually("a second OpsRequest", || async {
        let ops = ops_of(&client, &ns, "shared").await;
        if ops.len() >= 2 {
            Ok(())
        } else {
            Err(format!("{} OpsRequests", ops.len()))
        }
    })
    .await;
    assert_eq!(
        writes_b.outside_leases(),
        Vec::<String>::new(),
        "the standby wrote nothing but Lease attempts"
    );
    assert!(ops_posts(&writes_a) >= 2, "{:#?}", writes_a.all());
    assert_eq!(holder(&client, &ns).await.unwrap(), "replica-a");

    // A clean stop releases the Lease; the standby takes over at once and carries on.
    a.stop().await;
    let made_by_a = ops_of(&client, &ns, "shared").await;
    assert!(
        made_by_a.len() < 5,
        "the handover came after the sequence: {made_by_a:#?}"
    );
    let handed_over = tokio::time::Instant::now();
    eventually("replica-b holds the Lease", || async {
        holder(&client, &ns)
            .await
            .and_then(|h| if h == "replica-b" { Ok(()) } else { Err(h) })
    })
    .await;
    assert!(
        handed_over.elapsed() < Duration::from_secs(4),
        "a released Lease is taken before it would expire ({:?})",
        handed_over.elapsed()
    );
    wait_current(&client, &ns, &changed).await;
    let ops = ops_of(&client, &ns, "shared").await;
    let names: BTreeSet<String> = ops.iter().map(name_of).collect();
    assert_eq!(ops.len(), 5, "{names:?}");
    assert_eq!(names.len(), 5);
    assert_one_after_another(&sim.timeline, &ops, &FIVE_STEPS).await;
    changed.assert_live_matches(&to_value(
        &databases_api(&client, &ns).get("shared").await.unwrap(),
    ));
    assert!(
        ops_posts(&writes_b) >= 5 - made_by_a.len(),
        "replica-b created the rest of the sequence: {:#?}",
        writes_b.all()
    );
    // The Events name the instance that made each step: both replicas, each for its share.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let created_by = |instance: &'static str| {
        let events = events.clone();
        async move {
            events
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("OpsRequestCreated"))
                .filter(|e| e.reporting_instance.as_deref() == Some(instance))
                // kube's Recorder folds repeats of one (reason, action, object, instance)
                // into one Event with a series count.
                .map(|e| e.series.map_or(1, |s| s.count))
                .sum::<i32>()
        }
    };
    let (by_a, by_b) = (created_by("replica-a").await, created_by("replica-b").await);
    assert!(
        by_a >= 2 && by_b >= 1,
        "OpsRequestCreated events: {by_a} by replica-a, {by_b} by replica-b"
    );
    assert_eq!(by_a + by_b, 5, "one OpsRequestCreated event per request");
    b.stop().await;
    sim.stop().await;
}
