//! Leader election against the real API server: two replicas, one leader; a clean shutdown
//! hands over at once; a crashed leader is replaced once its Lease expires; a leader that can
//! no longer renew stops writing before its Lease expires. Each test prints its measurements
//! (run with `--nocapture` to see them).

use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use test_support::leader::{
    PATIENCE, Replica, Sampler, grant_lease_role, lease_state, revoke_lease_role, seconds_between,
    settings, wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_replicas_leads_and_a_clean_shutdown_hands_over_at_once() {
    let cluster = test_support::cluster().await;
    let client = cluster.client();
    let ns = cluster.namespace("leader-release").await;
    // A long Lease: renewed every 10 s, so a handover that waited for the expiry would take
    // 20 s or more after the shutdown.
    let lease = Duration::from_secs(30);

    let started = Instant::now();
    let (mut a, mut b) = tokio::join!(
        Replica::start(client.clone(), settings(&ns, "replica-a", lease)),
        Replica::start(client.clone(), settings(&ns, "replica-b", lease)),
    );
    let sampler = Sampler::start(vec![a.leadership.clone(), b.leadership.clone()]);
    wait_until("one replica leads", || {
        a.leadership.is_leader() || b.leadership.is_leader()
    })
    .await;
    let first_leader_after = started.elapsed();
    // A while later there is still exactly one leader, and the Lease names it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let a_leads = a.leadership.is_leader();
    let (leader, standby, standby_index) = if a_leads {
        (&mut a, &mut b, 1)
    } else {
        (&mut b, &mut a, 0)
    };
    assert!(leader.leadership.is_leader() && !standby.leadership.is_leader());
    let (holder, _) = lease_state(client.clone(), &ns).await;
    assert_eq!(holder.as_deref(), Some(leader.identity.as_str()));

    let mut standby_gained = Box::pin(standby.leadership.gained());
    let shutdown_at = Instant::now();
    leader.shut_down().await;
    let released_after = shutdown_at.elapsed();
    assert!(
        !leader.leadership.is_leader(),
        "a stopped replica never leads"
    );
    wait_until("the standby leads", || standby.leadership.is_leader()).await;
    tokio::time::timeout(PATIENCE, standby_gained.next())
        .await
        .expect("gained() ticks when the standby takes over")
        .expect("gained() stream is open");
    let (holder, _) = lease_state(client.clone(), &ns).await;
    assert_eq!(holder.as_deref(), Some(standby.identity.as_str()));

    let timeline = sampler.finish();
    let took_over = timeline
        .first(standby_index, true, shutdown_at)
        .expect("the sampler saw the standby take over")
        .at
        - shutdown_at;
    eprintln!(
        "leader_election: first leader after {first_leader_after:?}; release took \
         {released_after:?}; standby led {took_over:?} after the shutdown began \
         (lease 30 s; {} samples, {} with two leaders)",
        timeline.samples, timeline.overlaps
    );
    assert_eq!(timeline.overlaps, 0, "two leaders at once");
    assert!(
        took_over < Duration::from_secs(15),
        "the handover took {took_over:?}: it waited for the Lease to expire instead of \
         following the release"
    );

    standby.shut_down().await;
    let (holder, _) = lease_state(client, &ns).await;
    assert_eq!(
        holder, None,
        "the last replica released the Lease on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_leader_is_replaced_once_its_lease_expires() {
    let cluster = test_support::cluster().await;
    let client = cluster.client();
    let ns = cluster.namespace("leader-crash").await;
    // Renewed every second; writes stop 2.67 s after a renewal; expires after 4 s.
    let lease = Duration::from_secs(4);

    // Replica A runs on a runtime of its own, so dropping that runtime kills it mid-flight:
    // no release, no further renewal, like a crashed process.
    let crashing_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let a_settings = settings(&ns, "replica-a", lease);
    let a = crashing_runtime
        .spawn(async move { Replica::start(cluster.client(), a_settings).await })
        .await
        .unwrap();
    wait_until("replica-a leads", || a.leadership.is_leader()).await;
    let mut b = Replica::start(client.clone(), settings(&ns, "replica-b", lease)).await;
    let sampler = Sampler::start(vec![a.leadership.clone(), b.leadership.clone()]);
    // Several renewal rounds pass with A leading and B standing by.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(a.leadership.is_leader() && !b.leadership.is_leader());

    let crashed_at = Instant::now();
    let crashed_wall = SystemTime::now();
    crashing_runtime.shutdown_background();
    // A request already on the wire may still land; after that the Lease shows A's last
    // renewal until B takes it (which cannot happen before the expiry, 4 s on).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (holder, last_renewal) = lease_state(client.clone(), &ns).await;
    assert_eq!(holder.as_deref(), Some("replica-a"));
    let last_renewal = last_renewal.expect("the held Lease has a renewTime");

    wait_until("replica-b leads", || b.leadership.is_leader()).await;
    let timeline = sampler.finish();
    let a_stopped = timeline
        .first(0, false, crashed_at)
        .expect("A's fence closed");
    let b_leads = timeline.first(1, true, crashed_at).expect("B took over");
    eprintln!(
        "leader_election: crash -> standby leads in {:?} (lease 4 s); A's last renewal was \
         {:.2} s before the crash; A's fence closed {:.2} s and B led {:.2} s after that \
         renewal (renew deadline 2.67 s, expiry 4 s)",
        b_leads.at - crashed_at,
        seconds_between(last_renewal, crashed_wall),
        seconds_between(last_renewal, a_stopped.wall),
        seconds_between(last_renewal, b_leads.wall),
    );
    assert_eq!(timeline.overlaps, 0, "two leaders at once");
    assert!(
        a_stopped.at < b_leads.at,
        "the crashed leader's fence closes first"
    );
    let expiry = last_renewal + lease;
    assert!(
        a_stopped.wall < expiry,
        "the crashed leader still counted as leader at its Lease's expiry"
    );
    assert!(
        b_leads.wall > expiry,
        "the standby took the Lease {:.3} s before it expired",
        seconds_between(b_leads.wall, expiry)
    );
    b.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_writing_before_its_lease_expires() {
    let cluster = test_support::cluster().await;
    let admin = cluster.client();
    let ns = cluster.namespace("leader-fence").await;
    // Renewed every 2 s; writes stop 4 s after a renewal; expires after 6 s.
    let lease = Duration::from_secs(6);

    // Both replicas run as service accounts holding only the Role the election needs, which
    // also shows that Role is enough. Revoking A's binding then makes its renewals fail.
    grant_lease_role(admin.clone(), &ns, "replica-a").await;
    grant_lease_role(admin.clone(), &ns, "replica-b").await;
    let a_client = cluster.service_account(&ns, "replica-a");
    let b_client = cluster.service_account(&ns, "replica-b");
    let a = Replica::start(a_client, settings(&ns, "replica-a", lease)).await;
    wait_until("replica-a leads", || a.leadership.is_leader()).await;
    let mut b = Replica::start(b_client, settings(&ns, "replica-b", lease)).await;
    let sampler = Sampler::start(vec![a.leadership.clone(), b.leadership.clone()]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(a.leadership.is_leader() && !b.leadership.is_leader());

    let revoked_at = Instant::now();
    revoke_lease_role(admin.clone(), &ns, "replica-a").await;
    wait_until("replica-a stops leading", || !a.leadership.is_leader()).await;
    // A cannot renew any more, so the Lease shows its last renewal until B takes it.
    let (holder, last_renewal) = lease_state(admin.clone(), &ns).await;
    assert_eq!(
        holder.as_deref(),
        Some("replica-a"),
        "A stopped leading only when B had taken the Lease, not at its renew deadline"
    );
    let last_renewal = last_renewal.expect("the held Lease has a renewTime");
    wait_until("replica-b leads", || b.leadership.is_leader()).await;

    let timeline = sampler.finish();
    let a_stopped = timeline
        .first(0, false, revoked_at)
        .expect("A's fence closed");
    let b_leads = timeline.first(1, true, revoked_at).expect("B took over");
    eprintln!(
        "leader_election: renewals refused -> A stopped {:.2} s and B led {:.2} s after A's \
         last renewal (renew deadline 4 s, expiry 6 s); B led {:?} after the revocation",
        seconds_between(last_renewal, a_stopped.wall),
        seconds_between(last_renewal, b_leads.wall),
        b_leads.at - revoked_at,
    );
    assert_eq!(timeline.overlaps, 0, "two leaders at once");
    let expiry = last_renewal + lease;
    assert!(
        a_stopped.wall < expiry,
        "A still counted as leader when its Lease expired"
    );
    assert!(b_leads.wall > expiry, "B took the Lease before it expired");
    assert!(
        !a.leadership.is_leader(),
        "A never regains without its Role"
    );
    b.shut_down().await;
}
