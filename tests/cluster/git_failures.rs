//! The Git remote fails (issue 13): credentials revoked, the branch deleted, the repository
//! gone, history rewritten by a force push. While it fails, the last good snapshot stays in
//! force (its revision in `/status`), nothing is pruned although pruning is on, and
//! `/status` and `/metrics` say what is wrong; when the remote is back, the source recovers
//! by itself, without a restart.

use std::time::Duration;

use pg_gitops::config::Seconds;
use test_support::e2e::*;
use test_support::git::http::HttpGitServer;
use test_support::git::repo::git;
use test_support::kinds::gitops_api;

const TOKEN: &str = "tok-failures-77a1";

/// The `source` block of `/status`.
async fn source_status(service: &Service) -> serde_json::Value {
    let answer = http_get(service.listen, "/status").await;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(body)
        .map_or(serde_json::Value::Null, |s| s["source"].clone())
}

/// Waits until `/status` reports a fetch error containing `class`, then checks that the
/// revision in force is `revision` and both databases are still there.
async fn failing(service: &Service, class: &str, revision: &str, client: &kube::Client, ns: &str) {
    let status = eventually(&format!("a fetch error '{class}' on /status"), || async {
        let source = source_status(service).await;
        let error = source["lastFetchError"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if error.contains(class) {
            Ok(source)
        } else {
            Err(source.to_string())
        }
    })
    .await;
    assert_eq!(
        status["revision"], revision,
        "the last good snapshot stays: {status}"
    );
    let metrics = http_get(service.listen, "/metrics").await;
    assert!(
        metrics.contains("pg_gitops_git_fetch_total{result=\"error\"}"),
        "{metrics}"
    );
    for name in ["one", "two"] {
        let object = gitops_api(client, ns).get_opt(name).await.unwrap();
        assert!(
            object.is_some(),
            "{name} pruned while the source failed ({class})"
        );
    }
}

/// Waits until the source has synced `revision` without an error.
async fn recovered(service: &Service, revision: &str) {
    eventually(&format!("recovered at {revision}"), || async {
        let source = source_status(service).await;
        let clean = source["lastFetchError"].is_null();
        if clean && source["revision"] == revision {
            Ok(())
        } else {
            Err(source.to_string())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_good_snapshot_holds_through_remote_failures_and_the_source_recovers() {
    let sim = sim_namespace("git-failures", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let (one, two) = (Db::new("one"), Db::new("two"));
    let fleet = Fleet::new(&ns, &[&one, &two]);
    let server =
        HttpGitServer::start(fleet.repo.temp.path().into(), "git", TOKEN, Duration::ZERO).await;
    let token_file = fleet.repo.temp.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let mut config = fleet.config("git-failures");
    config.source.url = Some(server.url());
    config.source.auth.token_file = Some(token_file.clone());
    config.source.poll_interval = Seconds(Duration::from_secs(1));
    config.reconcile.prune = true;
    let service = Service::start(config, client.clone());
    service.ready().await;
    wait_current(&client, &ns, &one).await;
    wait_current(&client, &ns, &two).await;
    let good = fleet.repo.head();
    recovered(&service, &good).await;

    // Credentials revoked.
    std::fs::write(&token_file, "revoked").unwrap();
    failing(&service, "authentication refused", &good, &client, &ns).await;
    std::fs::write(&token_file, TOKEN).unwrap();
    recovered(&service, &good).await;

    // The branch deleted on the remote.
    git(&fleet.repo.bare, &["update-ref", "-d", "refs/heads/main"]);
    failing(&service, "main", &good, &client, &ns).await;
    git(&fleet.repo.bare, &["update-ref", "refs/heads/main", &good]);
    recovered(&service, &good).await;

    // The repository gone.
    let gone = fleet.repo.temp.path().join("moved-away.git");
    std::fs::rename(&fleet.repo.bare, &gone).unwrap();
    failing(&service, "repo.git", &good, &client, &ns).await;
    std::fs::rename(&gone, &fleet.repo.bare).unwrap();
    recovered(&service, &good).await;

    // History rewritten: the tip replaced by another commit on the tip's parent, force-pushed;
    // the source follows it.
    let scaled = Db {
        replicas: 2,
        ..two.clone()
    };
    git(&fleet.repo.work, &["reset", "-q", "--hard", "HEAD~1"]);
    let _ = std::fs::remove_file(fleet.repo.work.join("fleet/db.yaml"));
    std::fs::write(fleet.repo.work.join("fleet/one.yaml"), one.yaml(&ns)).unwrap();
    std::fs::write(fleet.repo.work.join("fleet/two.yaml"), scaled.yaml(&ns)).unwrap();
    git(&fleet.repo.work, &["add", "-A"]);
    git(&fleet.repo.work, &["commit", "-q", "-m", "rewritten"]);
    git(
        &fleet.repo.work,
        &["push", "-q", "--force", "origin", "HEAD:refs/heads/main"],
    );
    let rewritten = fleet.repo.head();
    recovered(&service, &rewritten).await;
    wait_current(&client, &ns, &scaled).await;
    assert!(
        gitops_api(&client, &ns)
            .get_opt("one")
            .await
            .unwrap()
            .is_some()
    );
    service.stop().await;
    sim.stop().await;
}
