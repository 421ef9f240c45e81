//! Notifications without a cluster: the notifier is driven as the apply stage and the
//! reconciler drive it, and `test_support::forge::StandIn`, a local HTTP server, **stands in
//! for the forge** (GitHub, GitLab, Gitea) and for the alert receivers (generic webhook,
//! Slack). Each test checks the requests against the forge's real API: method, path, auth
//! header and JSON body.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pg_gitops::config::{
    AlertFormat, AlertOn, AlertWebhookConfig, CommitStatusConfig, Config, Forge, Seconds,
};
use pg_gitops::notify::{
    Applied, DbState, Notifier, NotifyError, NotifyResult, Observation, Observer, Seen,
};
use pg_gitops::server::signature::sign_sha256;
use serde_json::json;
use test_support::forge::{Answer, Recorded, StandIn};
use test_support::logs;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const PATIENCE: Duration = Duration::from_secs(10);

type Outcomes = Arc<Mutex<Vec<(&'static str, NotifyResult)>>>;

fn counting() -> (Observer, Outcomes) {
    let outcomes = Outcomes::default();
    let log = outcomes.clone();
    (
        Arc::new(move |provider, result| log.lock().unwrap().push((provider, result))),
        outcomes,
    )
}

fn count(outcomes: &Outcomes, provider: &str, result: NotifyResult) -> usize {
    let outcomes = outcomes.lock().unwrap();
    outcomes
        .iter()
        .filter(|(p, r)| *p == provider && *r == result)
        .count()
}

fn secret(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path
}

fn config() -> Config {
    let mut config = Config::default();
    config.source.url = Some("https://github.com/acme/fleet.git".into());
    config.reconcile.instance = Some("pg-gitops-0".into());
    config.notify.retry_delay = Seconds(Duration::from_millis(100));
    config
}

fn forge(
    provider: Forge,
    token_file: PathBuf,
    api_url: String,
    repository: &str,
) -> CommitStatusConfig {
    CommitStatusConfig {
        provider,
        token_file,
        api_url: Some(api_url),
        repository: Some(repository.into()),
        context: "pg-gitops".into(),
    }
}

fn webhook(format: AlertFormat, url_file: PathBuf, on: &[AlertOn]) -> AlertWebhookConfig {
    AlertWebhookConfig {
        format,
        url_file,
        hmac_key_file: None,
        on: on.to_vec(),
    }
}

fn observation(name: &str, revision: &str, state: DbState) -> Observation {
    let stalled = state == DbState::Stalled;
    Observation {
        key: ("shop".into(), name.into()),
        seen: Seen {
            revision: Some(revision.into()),
            state,
            reason: stalled.then(|| "OpsRequestFailed".into()),
            detail: stalled.then(|| "orders-verticalscaling-abc failed: device busy".into()),
        },
        persisted: None,
    }
}

/// What the apply stage and the reconciler report for one commit that changes `orders`,
/// which then becomes Current.
fn commit_applied_and_current(notifier: &Notifier, revision: &str) {
    notifier.applied(Applied {
        revision: revision.into(),
        changed: vec![("shop".into(), "orders".into())],
        invalid: Vec::new(),
        complete: true,
    });
    notifier.observe(observation("orders", revision, DbState::Progressing));
    notifier.observe(observation("orders", revision, DbState::Current));
}

#[tokio::test]
async fn each_forge_gets_pending_then_success_through_its_own_api() {
    let temp = tempfile::tempdir().unwrap();
    // (forge, API root under the stand-in, repository, the path the forge documents,
    //  auth header, its value, the key of the check's name, the success state)
    let cases = [
        (
            Forge::GitHub,
            "",
            "acme/fleet",
            format!("/repos/acme/fleet/statuses/{SHA}"),
            "authorization",
            "Bearer gh-token",
            "context",
        ),
        (
            Forge::GitLab,
            "/api/v4",
            "acme/platform/fleet",
            format!("/api/v4/projects/acme%2Fplatform%2Ffleet/statuses/{SHA}"),
            "private-token",
            "gl-token",
            "name",
        ),
        (
            Forge::Gitea,
            "/api/v1",
            "acme/fleet",
            format!("/api/v1/repos/acme/fleet/statuses/{SHA}"),
            "authorization",
            "token gitea-token",
            "context",
        ),
    ];
    for (provider, root, repository, path, auth, auth_value, name_key) in cases {
        let stand_in = StandIn::start(Answer::Created).await;
        let token = auth_value.rsplit(' ').next().unwrap();
        let mut config = config();
        config.notify.commit_status = vec![forge(
            provider,
            secret(temp.path(), provider.name(), token),
            stand_in.url(root),
            repository,
        )];
        let (observer, outcomes) = counting();
        let notifier = Notifier::start(&config, observer).unwrap();
        commit_applied_and_current(&notifier, SHA);
        let requests = stand_in
            .wait_until("pending and success", PATIENCE, |r| r.len() >= 2)
            .await;
        let states: Vec<_> = requests.iter().map(|r| r.json()["state"].clone()).collect();
        assert_eq!(states, [json!("pending"), json!("success")], "{provider:?}");
        for request in &requests {
            assert_eq!(request.method, "POST", "{provider:?}");
            assert_eq!(request.path, path, "{provider:?}");
            assert_eq!(request.header(auth), Some(auth_value), "{provider:?}");
            assert_eq!(
                request.header("content-type"),
                Some("application/json"),
                "{provider:?}"
            );
            let body = request.json();
            assert_eq!(body[name_key], "pg-gitops", "{provider:?}: {body}");
            assert!(
                body["description"]
                    .as_str()
                    .unwrap()
                    .contains("shop/orders"),
                "the description names the database changed: {body}"
            );
        }
        if provider == Forge::GitHub {
            let first = &requests[0];
            assert_eq!(first.header("accept"), Some("application/vnd.github+json"));
            assert!(first.header("user-agent").is_some(), "GitHub needs one");
        }
        assert_eq!(count(&outcomes, provider.name(), NotifyResult::Sent), 2);
    }
}

#[tokio::test]
async fn a_forge_that_fails_twice_is_retried_with_a_growing_delay() {
    let temp = tempfile::tempdir().unwrap();
    let stand_in = StandIn::start(Answer::FailFirst(2)).await;
    let mut config = config();
    config.notify.commit_status = vec![forge(
        Forge::GitHub,
        secret(temp.path(), "token", "gh-token"),
        stand_in.url(""),
        "acme/fleet",
    )];
    let (observer, outcomes) = counting();
    let notifier = Notifier::start(&config, observer).unwrap();
    commit_applied_and_current(&notifier, SHA);
    let requests = stand_in
        .wait_until("three tries of pending, then success", PATIENCE, |r| {
            r.len() >= 4
        })
        .await;
    let states: Vec<_> = requests.iter().map(|r| r.json()["state"].clone()).collect();
    assert_eq!(
        states,
        [
            json!("pending"),
            json!("pending"),
            json!("pending"),
            json!("success")
        ],
        "the success waits for the pending before it, in order"
    );
    let first_wait = requests[1].at - requests[0].at;
    let second_wait = requests[2].at - requests[1].at;
    assert!(first_wait >= Duration::from_millis(100), "{first_wait:?}");
    assert!(
        second_wait >= Duration::from_millis(200),
        "doubled: {second_wait:?}"
    );
    // The stand-in sees a request before the notifier has read its answer and counted the
    // outcome: wait for the counts to settle (within the patience) before asserting them.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while count(&outcomes, "github", NotifyResult::Sent) < 2
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(count(&outcomes, "github", NotifyResult::Retried), 2);
    assert_eq!(count(&outcomes, "github", NotifyResult::Sent), 2);
}

#[tokio::test]
async fn a_refused_token_is_not_retried_and_never_logged() {
    logs::capture();
    let temp = tempfile::tempdir().unwrap();
    let stand_in = StandIn::start(Answer::Always(401)).await;
    let token = "glpat-notify-offline-secret-4f1c";
    let hook_path = "/services/T000/B000/notify-offline-hook-secret-9d2e";
    let receiver = StandIn::start(Answer::Always(500)).await;
    let mut config = config();
    config.notify.max_attempts = 2;
    config.notify.commit_status = vec![forge(
        Forge::GitLab,
        secret(temp.path(), "token", token),
        stand_in.url("/api/v4"),
        "acme/fleet",
    )];
    config.notify.webhook = vec![webhook(
        AlertFormat::Slack,
        secret(temp.path(), "slack", &receiver.url(hook_path)),
        &[AlertOn::Stalled],
    )];
    let (observer, outcomes) = counting();
    let notifier = Notifier::start(&config, observer).unwrap();
    notifier.applied(Applied {
        revision: SHA.into(),
        changed: vec![("shop".into(), "orders".into())],
        invalid: Vec::new(),
        complete: true,
    });
    notifier.observe(observation("orders", SHA, DbState::Stalled));
    let deadline = Instant::now() + PATIENCE;
    while count(&outcomes, "gitlab", NotifyResult::Failed) < 2
        || count(&outcomes, "slack", NotifyResult::Failed) < 1
    {
        assert!(Instant::now() < deadline, "{:?}", outcomes.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // pending and failure, each tried once: a 401 will not change by retrying.
    assert_eq!(stand_in.requests().len(), 2);
    assert_eq!(count(&outcomes, "gitlab", NotifyResult::Retried), 0);
    // The 500s of the Slack stand-in are retried up to max_attempts.
    assert_eq!(receiver.requests().len(), 2);
    assert!(logs::captured().contains("notification not delivered"));
    logs::assert_no_secret_logged(&[token, hook_path]);
}

#[tokio::test]
async fn alerts_reach_a_signed_generic_webhook_and_slack() {
    let temp = tempfile::tempdir().unwrap();
    let generic = StandIn::start(Answer::Created).await;
    let slack = StandIn::start(Answer::Created).await;
    let mut config = config();
    let mut signed = webhook(
        AlertFormat::Generic,
        secret(temp.path(), "generic", &generic.url("/alerts")),
        &[AlertOn::Stalled, AlertOn::Current],
    );
    signed.hmac_key_file = Some(secret(temp.path(), "hmac", "hmac-key"));
    config.notify.webhook = vec![
        signed,
        webhook(
            AlertFormat::Slack,
            secret(temp.path(), "slack", &slack.url("/services/T/B/X")),
            &[AlertOn::Stalled],
        ),
    ];
    let (observer, _) = counting();
    let notifier = Notifier::start(&config, observer).unwrap();
    // Current first (as the status said before): nothing changed, nothing told.
    notifier.observe(Observation {
        persisted: Some(DbState::Current),
        ..observation("orders", SHA, DbState::Current)
    });
    notifier.observe(observation("orders", SHA, DbState::Progressing));
    notifier.observe(observation("orders", SHA, DbState::Stalled));
    notifier.observe(observation("orders", SHA, DbState::Stalled));
    notifier.observe(observation("orders", SHA, DbState::Progressing));
    notifier.observe(observation("orders", SHA, DbState::Current));

    let requests = generic
        .wait_until("Stalled and Current", PATIENCE, |r| r.len() >= 2)
        .await;
    let check = |request: &Recorded| {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/alerts");
        assert_eq!(
            request.header("x-signature"),
            Some(sign_sha256(b"hmac-key", &request.body).as_str()),
            "the receiver can verify the body"
        );
    };
    requests.iter().for_each(check);
    let stalled = requests[0].json();
    assert_eq!(
        stalled["involvedObject"],
        json!({"apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
               "namespace": "shop", "name": "orders"})
    );
    assert_eq!(stalled["severity"], "error");
    assert_eq!(stalled["state"], "Stalled");
    assert_eq!(stalled["reason"], "OpsRequestFailed");
    assert_eq!(stalled["revision"], SHA);
    assert_eq!(stalled["reportingInstance"], "pg-gitops-0");
    assert!(stalled["message"].as_str().unwrap().contains("device busy"));
    let current = requests[1].json();
    assert_eq!(
        (current["state"].as_str(), current["severity"].as_str()),
        (Some("Current"), Some("info"))
    );

    let to_slack = slack
        .wait_until("the Stalled alert", PATIENCE, |r| !r.is_empty())
        .await;
    let text = to_slack[0].json()["text"].as_str().unwrap().to_string();
    assert!(text.contains("shop/orders is Stalled"), "{text}");
    assert!(text.contains("device busy"), "{text}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        generic.requests().len(),
        2,
        "the repeated Stalled was told once"
    );
    assert_eq!(slack.requests().len(), 1, "slack wants Stalled only");
}

#[tokio::test]
async fn a_forge_that_never_answers_blocks_no_caller_and_no_other_target() {
    let temp = tempfile::tempdir().unwrap();
    let hanging = StandIn::start(Answer::Hang).await;
    let receiver = StandIn::start(Answer::Created).await;
    let mut config = config();
    config.notify.timeout = Seconds(Duration::from_secs(60));
    config.notify.queue_capacity = 2;
    config.notify.commit_status = vec![forge(
        Forge::GitHub,
        secret(temp.path(), "token", "t"),
        hanging.url(""),
        "acme/fleet",
    )];
    config.notify.webhook = vec![webhook(
        AlertFormat::Generic,
        secret(temp.path(), "url", &receiver.url("/alerts")),
        &[AlertOn::Stalled],
    )];
    let (observer, outcomes) = counting();
    let notifier = Notifier::start(&config, observer).unwrap();
    // 200 commits, each changing one database that then stalls: as fast as a reconcile loop.
    let started = Instant::now();
    for i in 0..200u32 {
        let revision = format!("{i:040x}");
        let name = format!("db-{i}");
        notifier.applied(Applied {
            revision: revision.clone(),
            changed: vec![("shop".into(), name.clone())],
            invalid: Vec::new(),
            complete: true,
        });
        notifier.observe(observation(&name, &revision, DbState::Progressing));
        notifier.observe(observation(&name, &revision, DbState::Stalled));
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "the callers waited {took:?}"
    );
    // The healthy receiver gets its alerts while the forge hangs on its first request.
    receiver
        .wait_until("alerts despite the hanging forge", PATIENCE, |r| {
            r.len() >= 2
        })
        .await;
    let deadline = Instant::now() + PATIENCE;
    while count(&outcomes, "github", NotifyResult::Dropped) == 0 {
        assert!(Instant::now() < deadline, "a full queue drops and counts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hanging.requests().len(), 1, "one request, still waiting");
}

#[tokio::test]
async fn secret_files_are_checked_at_start_naming_the_key_never_the_value() {
    let temp = tempfile::tempdir().unwrap();
    let start = |config: &Config| {
        let (observer, _) = counting();
        Notifier::start(config, observer).map(|_| ()).unwrap_err()
    };
    let mut config = config();
    config.notify.commit_status = vec![forge(
        Forge::GitHub,
        temp.path().join("missing"),
        "https://api.github.com".into(),
        "acme/fleet",
    )];
    let error = start(&config).to_string();
    assert!(
        error.starts_with("notify.commit_status[0].token_file: "),
        "{error}"
    );
    assert!(
        error.contains("missing") && error.contains("No such file"),
        "{error}"
    );

    config.notify.commit_status[0].token_file = secret(temp.path(), "empty", "");
    assert!(start(&config).to_string().ends_with("is empty"));
    config.notify.commit_status[0].token_file = temp.path().to_path_buf();
    assert!(
        start(&config)
            .to_string()
            .ends_with("is a directory, not a file")
    );

    config.notify.commit_status.clear();
    config.notify.webhook = vec![webhook(
        AlertFormat::Slack,
        secret(
            temp.path(),
            "url",
            "hooks.slack.com/services/T/B/notify-value-7a",
        ),
        &[AlertOn::Stalled],
    )];
    let error = start(&config);
    assert!(matches!(error, NotifyError::Config(_)));
    let error = error.to_string();
    assert!(error.starts_with("notify.webhook[0].url_file: "), "{error}");
    assert!(!error.contains("notify-value-7a"), "{error}");
}
