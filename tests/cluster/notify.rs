//! Notifications end to end (issue 11, item 6): the whole service on the real API server with
//! `kubedb-sim`, a real Git repository, and `test_support::forge::StandIn`, a local HTTP
//! server that **stands in for the forge** (GitHub's commit status API) and for a generic
//! alert webhook. A pushed change ends Current: the forge receives `pending`, then `success`,
//! for that commit SHA. A pushed change whose OpsRequest fails: `failure` naming the database,
//! and a signed Stalled alert.
//!
//!     cargo test --test cluster notify

use std::time::Duration;

use pg_gitops::config::{
    AlertFormat, AlertOn, AlertWebhookConfig, CommitStatusConfig, Forge, Seconds,
};
use pg_gitops::server::signature::sign_sha256;
use serde_json::{Value, json};
use test_support::e2e::*;
use test_support::forge::{Answer, Recorded, StandIn};
use test_support::kinds::databases_api;

const STEP: Duration = Duration::from_millis(300);

/// The commit status states the forge received for `sha`, in order.
fn states(requests: &[Recorded], sha: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path == format!("/repos/acme/fleet/statuses/{sha}"))
        .map(|r| r.json()["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn alerts_for(requests: &[Recorded], sha: &str, state: &str) -> Vec<Value> {
    requests
        .iter()
        .map(Recorded::json)
        .filter(|a| a["revision"] == sha && a["state"] == state)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forge_gets_pending_then_success_or_failure_per_commit_and_alerts_follow() {
    let sim = sim_namespace("e2e-notify", STEP).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let forge = StandIn::start(Answer::Created).await;
    let receiver = StandIn::start(Answer::Created).await;
    let secrets = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &str| {
        let path = secrets.path().join(name);
        std::fs::write(&path, value).unwrap();
        path
    };
    let orders = Db::new("orders");
    let fleet = Fleet::new(&ns, &[&orders]);
    let mut config = fleet.config("e2e-notify");
    config.notify.retry_delay = Seconds(Duration::from_millis(100));
    config.notify.commit_status = vec![CommitStatusConfig {
        provider: Forge::GitHub,
        token_file: write("github-token", "gh-e2e-token"),
        // The repository is a local bare one (file://): where the forge is, is said here.
        api_url: Some(forge.url("")),
        repository: Some("acme/fleet".into()),
        context: "pg-gitops".into(),
    }];
    config.notify.webhook = vec![AlertWebhookConfig {
        format: AlertFormat::Generic,
        url_file: write("webhook-url", &receiver.url("/alerts")),
        hmac_key_file: Some(write("webhook-key", "e2e-hmac-key")),
        on: vec![AlertOn::Stalled, AlertOn::Current],
    }];
    let service = Service::start(config, client.clone());
    service.ready().await;
    wait_current(&client, &ns, &orders).await;

    // A pushed change (one VerticalScaling) that ends Current.
    let resized = Db {
        cpu: "1".into(),
        memory: "1Gi".into(),
        ..orders.clone()
    };
    let pushed = fleet.push(&[&resized], "resize orders");
    wait_current(&client, &ns, &resized).await;
    let requests = forge
        .wait_until(
            "pending then success for the pushed commit",
            PATIENCE,
            |r| states(r, &pushed).len() >= 2,
        )
        .await;
    assert_eq!(states(&requests, &pushed), ["pending", "success"]);
    for request in requests
        .iter()
        .filter(|r| r.path.ends_with(pushed.as_str()))
    {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("authorization"), Some("Bearer gh-e2e-token"));
        assert_eq!(request.json()["context"], "pg-gitops");
        let description = request.json()["description"].as_str().unwrap().to_string();
        assert!(
            description.contains(&format!("{ns}/orders")),
            "names the database changed: {description}"
        );
    }
    let current = receiver
        .wait_until("a Current alert for the pushed commit", PATIENCE, |r| {
            !alerts_for(r, &pushed, "Current").is_empty()
        })
        .await;
    assert_eq!(alerts_for(&current, &pushed, "Current").len(), 1);

    // A pushed change whose OpsRequest fails.
    let message = "resize of orders-0 failed: device busy";
    annotate(
        &databases_api(&client, &ns),
        "orders",
        json!({"sim.kubedb.com/fail": "VerticalScaling", "sim.kubedb.com/fail-message": message}),
    )
    .await;
    let again = Db {
        cpu: "2".into(),
        memory: "2Gi".into(),
        ..orders.clone()
    };
    let failing = fleet.push(&[&again], "resize orders again");
    let requests = forge
        .wait_until(
            "pending then failure for the failing commit",
            PATIENCE,
            |r| states(r, &failing).len() >= 2,
        )
        .await;
    assert_eq!(states(&requests, &failing), ["pending", "failure"]);
    let failure = requests
        .iter()
        .rev()
        .find(|r| r.path.ends_with(failing.as_str()))
        .unwrap()
        .json();
    let description = failure["description"].as_str().unwrap();
    assert!(
        description.contains(&format!("{ns}/orders Stalled (OpsRequestFailed)")),
        "{description}"
    );
    let alerts = receiver
        .wait_until("a Stalled alert for the failing commit", PATIENCE, |r| {
            !alerts_for(r, &failing, "Stalled").is_empty()
        })
        .await;
    let stalled = &alerts_for(&alerts, &failing, "Stalled")[0];
    assert_eq!(stalled["reason"], "OpsRequestFailed");
    assert_eq!(stalled["involvedObject"]["namespace"], ns.as_str());
    assert_eq!(stalled["involvedObject"]["name"], "orders");
    assert!(
        stalled["message"].as_str().unwrap().contains(message),
        "{stalled}"
    );
    for alert in &alerts {
        assert_eq!(
            alert.header("x-signature"),
            Some(sign_sha256(b"e2e-hmac-key", &alert.body).as_str())
        );
    }
    // Told once each: statuses per commit, alerts per (database, revision, state).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(states(&forge.requests(), &failing), ["pending", "failure"]);
    assert_eq!(
        alerts_for(&receiver.requests(), &failing, "Stalled").len(),
        1
    );
    let metrics = http_get(service.listen, "/metrics").await;
    assert!(
        metrics.contains("pg_gitops_notifications_total{provider=\"github\",result=\"sent\"}"),
        "{metrics}"
    );
    service.stop().await;
    sim.stop().await;
}
