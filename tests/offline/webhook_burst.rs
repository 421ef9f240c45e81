//! A burst of 100 signed push deliveries (spread over all five receivers) while a sync is in
//! flight collapses into at most two syncs: the one running and one queued. The Git server is
//! real (smart HTTP) and deliberately slow so the burst lands while the first sync runs.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use pg_gitops::manifest::LoadOptions;
use pg_gitops::server::{
    self, AppState, DeliveryLog, Provider, Readiness, WebhookSecrets, WebhookTarget,
};
use pg_gitops::source::{self, Secret, SourceStats};
use test_support::git::http::HttpGitServer;
use test_support::git::repo::TestRepo;
use test_support::git::wait_until;
use test_support::logs;
use test_support::webhook::{delivery, push_body};
use tower::ServiceExt;

const TOKEN: &str = "tok-burst-0a9d-never-log-me";
const WEBHOOK_SECRET: &str = "whsec-burst-77e1-never-log-me";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100_deliveries_causes_at_most_two_syncs() {
    logs::capture();
    let repo = TestRepo::new();
    let server = HttpGitServer::start(
        repo.temp.path().into(),
        "git",
        TOKEN,
        Duration::from_millis(300),
    )
    .await;
    let token_file = repo.temp.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let mut config = test_support::git::source_config(
        server.url(),
        repo.work_dir("clone"),
        Duration::from_secs(20),
    );
    config.auth.token_file = Some(token_file);
    let mut handle = source::start(&config, LoadOptions::default()).unwrap();
    let first = repo.head();
    handle.wait_for(|snapshot| snapshot.revision == first).await;
    let stats = handle.stats.clone();
    let (syncs_before, fetches_before) = (
        SourceStats::get(&stats.syncs),
        SourceStats::get(&stats.fetches),
    );

    let mut secrets = WebhookSecrets::default();
    for provider in Provider::ALL {
        secrets = secrets.with(provider, Secret::new(WEBHOOK_SECRET));
    }
    let router = server::router(AppState {
        secrets: Arc::new(secrets),
        target: WebhookTarget {
            reference: handle.reference.clone(),
            trigger: handle.trigger.clone(),
            relay: None,
        },
        deliveries: DeliveryLog::default(),
        readiness: Readiness::default(),
        liveness: Default::default(),
    });
    let pushed = repo.commit("fleet/db.yaml", "revision: 2\n", "second");
    let deliveries = (0..100).map(|n| {
        let provider = Provider::ALL[n % Provider::ALL.len()];
        let request = delivery(
            provider,
            Some(WEBHOOK_SECRET),
            false,
            push_body(provider, "main", &pushed),
        );
        router.clone().oneshot(request)
    });
    let responses = futures::future::join_all(deliveries).await;
    assert!(
        responses
            .iter()
            .all(|response| response.as_ref().unwrap().status() == StatusCode::ACCEPTED)
    );
    assert_eq!(handle.trigger.requests(), 100);

    tokio::time::timeout(
        Duration::from_secs(20),
        handle.wait_for(|s| s.revision == pushed),
    )
    .await
    .expect("the burst's commit arrives");
    // Let the queued sync (if any) run, then make sure nothing else was started.
    assert!(
        wait_until(Duration::from_secs(10), || {
            SourceStats::get(&stats.syncs)
                == SourceStats::get(&stats.fetches)
                    + SourceStats::get(&stats.skipped_fetches)
                    + SourceStats::get(&stats.errors)
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let syncs = SourceStats::get(&stats.syncs) - syncs_before;
    let fetches = SourceStats::get(&stats.fetches) - fetches_before;
    eprintln!("burst of 100 deliveries: {syncs} syncs, {fetches} fetch");
    assert!(
        (1..=2).contains(&syncs),
        "100 deliveries caused {syncs} syncs"
    );
    assert_eq!(fetches, 1, "one download for one new commit");
    assert_eq!(
        SourceStats::get(&stats.errors),
        0,
        "{:?}",
        stats.last_error()
    );
    assert!(logs::captured().contains("push received; sync requested"));
    logs::assert_no_secret_logged(&[TOKEN, WEBHOOK_SECRET]);
}
