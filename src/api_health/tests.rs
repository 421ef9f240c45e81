use std::time::Duration;

use futures::StreamExt;
use kube::core::Status;
use kube::runtime::watcher;

use super::*;

fn api_error(code: u16) -> kube::Error {
    kube::Error::Api(Status::failure("test", "Test").with_code(code).boxed())
}

#[test]
fn only_errors_that_mean_no_answer_are_outages() {
    for code in [500, 503, 504, 429] {
        assert!(is_outage(&api_error(code)), "{code}");
    }
    for code in [400, 403, 404, 409, 410, 422] {
        assert!(!is_outage(&api_error(code)), "{code}");
    }
    let refused = kube::Error::Service("connection refused".into());
    assert!(is_outage(&refused));
    // A watch whose resource version expired (410 Gone) is a normal re-list, not an outage.
    let gone =
        watcher::Error::WatchError(Status::failure("too old", "Expired").with_code(410).boxed());
    assert!(!is_outage_of_watch(&gone));
    assert!(is_outage_of_watch(&watcher::Error::WatchFailed(
        kube::Error::Service("reset".into())
    )));
}

#[tokio::test]
async fn an_outage_keeps_its_start_shows_the_latest_error_and_ends_once() {
    let health = ApiHealth::new();
    let mut returns = Box::pin(health.returns());
    health.answered();
    assert_eq!(health.now(), Reachability::Reachable);

    let failed: Result<(), watcher::Error> = Err(watcher::Error::WatchFailed(
        kube::Error::Service("first".into()),
    ));
    health.observe_watch(&failed);
    let Reachability::Unreachable { since, error } = health.now() else {
        panic!("an outage after a transport error");
    };
    assert!(error.contains("first"), "{error}");
    health.failed(&"second");
    assert_eq!(
        health.now(),
        Reachability::Unreachable {
            since,
            error: "second".into()
        }
    );
    // An event of any watch proves the API answers.
    health.observe_watch(&Ok::<(), watcher::Error>(()));
    assert_eq!(health.now(), Reachability::Reachable);
    tokio::time::timeout(Duration::from_secs(1), returns.next())
        .await
        .expect("the end of the outage is announced")
        .expect("the stream goes on");
    // Nothing more until the next outage ends.
    health.answered();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), returns.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_non_outage_error_changes_nothing() {
    let health = ApiHealth::new();
    let forbidden: Result<(), watcher::Error> =
        Err(watcher::Error::InitialListFailed(api_error(403)));
    health.observe_watch(&forbidden);
    assert!(health.now().is_reachable());
}

#[test]
fn watches_retry_within_a_few_seconds_however_long_the_outage() {
    let delays: Vec<Duration> = watch_backoff().take(20).collect();
    assert_eq!(delays.len(), 20, "it never gives up");
    assert!(delays[0] <= Duration::from_secs(1), "{delays:?}");
    // 2 s plus backon's jitter of up to the delay itself.
    assert!(
        delays.iter().all(|d| *d <= Duration::from_secs(4)),
        "{delays:?}"
    );
    assert!(
        delays[10..].iter().all(|d| *d >= Duration::from_secs(2)),
        "{delays:?}"
    );
}

#[test]
fn a_watch_retries_at_once_after_an_outage_ends_but_only_once() {
    let health = ApiHealth::new();
    let mut backoff = health.watch_backoff();
    let during: Vec<Duration> = backoff.by_ref().take(8).collect();
    assert!(during[7] >= Duration::from_secs(2), "{during:?}");
    health.failed(&"refused");
    health.answered();
    assert_eq!(
        backoff.next(),
        Some(Duration::ZERO),
        "the first retry after the outage"
    );
    let after = backoff.next().unwrap();
    assert!(
        after > Duration::ZERO && after <= Duration::from_secs(1),
        "then from the start again: {after:?}"
    );
}
