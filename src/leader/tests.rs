use std::time::SystemTime;

use futures::StreamExt;

use super::election::{ObservedLease, Retry};
use super::*;

/// A client for a port nothing listens on: enough for code that never reaches the API, and
/// a fast connection error for code that does.
fn unreachable_client() -> Client {
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    Client::try_from(config).unwrap()
}

fn settings(identity: &str) -> LeaderSettings {
    LeaderSettings {
        enabled: true,
        lease_name: "pg-gitops-leader".to_owned(),
        lease_namespace: "pg-gitops".to_owned(),
        identity: identity.to_owned(),
        lease_duration: DEFAULT_LEASE_DURATION,
    }
}

fn election(identity: &str, library_holds: bool, observed: Option<ObservedLease>) -> Election {
    Election {
        client: unreachable_client(),
        settings: settings(identity),
        timing: Timing::for_lease(DEFAULT_LEASE_DURATION).unwrap(),
        shared: Arc::new(Shared::new(Fence::Closed, false)),
        library_holds,
        observed,
    }
}

fn lease(holder: Option<&str>, renewed_ago: Duration) -> Option<ObservedLease> {
    Some(ObservedLease {
        holder: holder.map(str::to_owned),
        renew_time: Some(SystemTime::now() - renewed_ago),
    })
}

#[test]
fn renewals_every_third_and_writes_stop_at_two_thirds_of_the_lease() {
    let default = Timing::for_lease(DEFAULT_LEASE_DURATION).unwrap();
    assert_eq!(default.lease_seconds, 15);
    // The crate renews when `grace` seconds are left: 5 s after each renewal.
    assert_eq!(default.grace_seconds, 10);
    assert_eq!(default.renew_deadline, Duration::from_secs(10));

    let shortest = Timing::for_lease(MIN_LEASE_DURATION).unwrap();
    assert_eq!((shortest.lease_seconds, shortest.grace_seconds), (3, 2));
    assert_eq!(shortest.renew_deadline, Duration::from_secs(2));

    let fractional = Timing::for_lease(Duration::from_millis(4_200)).unwrap();
    assert_eq!(fractional.lease_seconds, 5, "rounded up to whole seconds");

    assert!(matches!(
        Timing::for_lease(Duration::from_millis(2_999)),
        Err(LeaderError::LeaseTooShort(_))
    ));
}

#[tokio::test]
async fn disabled_election_is_always_the_leader() {
    let mut disabled = settings("a");
    disabled.enabled = false;
    let leadership = start(unreachable_client(), disabled, std::future::pending())
        .await
        .unwrap();
    assert!(leadership.is_leader());
    assert!(*leadership.watch().borrow());
    leadership.stopped().await;
    assert!(Leadership::always().clone().is_leader());
}

#[tokio::test]
async fn bad_settings_and_an_unreachable_api_server_are_errors() {
    let mut blank = settings(" ");
    assert!(matches!(
        start(unreachable_client(), blank.clone(), async {}).await,
        Err(LeaderError::EmptySetting("identity"))
    ));
    blank.identity = "a".to_owned();
    blank.lease_duration = Duration::from_secs(1);
    assert!(matches!(
        start(unreachable_client(), blank, async {}).await,
        Err(LeaderError::LeaseTooShort(_))
    ));
    let error = start(unreachable_client(), settings("a"), async {})
        .await
        .unwrap_err();
    assert!(matches!(error, LeaderError::Lease { .. }), "{error:?}");
    assert!(error.to_string().contains("pg-gitops/pg-gitops-leader"));
}

#[test]
fn the_fence_closes_at_its_deadline_without_any_task_running() {
    let leadership = Leadership {
        shared: Arc::new(Shared::new(Fence::Closed, false)),
    };
    assert!(!leadership.is_leader());
    leadership
        .shared
        .set_fence(Fence::Until(Instant::now() + Duration::from_secs(60)));
    assert!(leadership.is_leader());
    assert!(*leadership.watch().borrow());
    leadership
        .shared
        .set_fence(Fence::Until(Instant::now() - Duration::from_millis(1)));
    assert!(!leadership.is_leader());
    assert!(!*leadership.watch().borrow());
}

#[tokio::test]
async fn gained_ticks_on_each_gain_only() {
    let leadership = Leadership {
        shared: Arc::new(Shared::new(Fence::Closed, false)),
    };
    let mut gained = Box::pin(leadership.gained());
    let open = || Fence::Until(Instant::now() + Duration::from_secs(60));

    leadership.shared.set_fence(open());
    gained.next().await.unwrap();
    leadership.shared.set_fence(Fence::Closed);
    leadership.shared.set_fence(open());
    gained.next().await.unwrap();
    // A renewal while leader moves the deadline but is no new gain.
    leadership.shared.set_fence(open());
    let no_tick = tokio::time::timeout(Duration::from_millis(50), gained.next()).await;
    assert!(no_tick.is_err(), "ticked without a new gain");
}

#[tokio::test]
async fn leader_only_while_the_manager_holds_and_our_renewal_is_fresh() {
    let fresh = Duration::from_secs(1);
    // 11 s ago is past the 10 s renew deadline, though the 15 s Lease has not expired yet.
    let stale = Duration::from_secs(11);
    let cases = [
        (true, lease(Some("a"), fresh), true),
        (true, lease(Some("a"), stale), false),
        (false, lease(Some("a"), fresh), false),
        (true, lease(Some("b"), fresh), false),
        (true, lease(None, fresh), false),
        (true, None, false),
    ];
    for (library_holds, observed, expected) in cases {
        let election = election("a", library_holds, observed.clone());
        election.update_fence();
        let leader = fence_is_open(election.shared.fence(), Instant::now());
        assert_eq!(
            leader, expected,
            "holds={library_holds} observed={observed:?}"
        );
        assert_eq!(*election.shared.leader.borrow(), expected);
    }
}

#[tokio::test]
async fn the_manager_is_replaced_when_the_lease_contradicts_it() {
    let renewed = Duration::from_secs(1);
    let cases = [
        // Released or deleted while we wait: go for it now, not at the old expiry.
        (false, lease(None, renewed), true),
        (false, Some(ObservedLease::default()), true),
        // Someone else holds it while the manager thinks we do.
        (true, lease(Some("b"), renewed), true),
        (true, lease(Some("a"), renewed), false),
        (false, lease(Some("b"), renewed), false),
        // Not yet listed: nothing to contradict.
        (false, None, false),
    ];
    for (library_holds, observed, expected) in cases {
        let election = election("a", library_holds, observed.clone());
        assert_eq!(
            election.manager_is_out_of_date(),
            expected,
            "holds={library_holds} observed={observed:?}"
        );
    }
}

#[test]
fn retries_back_off_up_to_a_cap_and_reset_on_success() {
    let mut retry = Retry::default();
    let delays: Vec<Duration> = (0..6).map(|_| retry.failed()).collect();
    assert_eq!(delays[0], RETRY_MIN);
    assert_eq!(delays[1], RETRY_MIN * 2);
    assert_eq!(*delays.last().unwrap(), RETRY_MAX);
    retry.succeeded();
    assert_eq!(retry.failed(), RETRY_MIN);
}
