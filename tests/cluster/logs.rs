//! `pg-gitops --log-format json run`: every log line of the real service is one JSON object
//! (what a log pipeline such as Loki or Elasticsearch ingests), from start to shutdown.

use std::process::{Command, Stdio};
use std::time::Duration;

use pg_gitops::config::{Config, SourceKind};
use test_support::e2e::write_config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    let cluster = test_support::cluster().await;
    let namespace = cluster.namespace("json-logs").await;
    let temp = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.source.kind = SourceKind::Cluster;
    config.reconcile.namespace = Some(namespace.clone());
    config.leader_election.lease_namespace = namespace;
    config.server.listen = test_support::free_port();
    let config_file = temp.path().join("config.toml");
    write_config(&config, &config_file);
    let log = temp.path().join("pg-gitops.log");

    let mut child = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(&config_file)
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting pg-gitops");
    let mut running = false;
    for _ in 0..300 {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("pg-gitops running")
        {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGTERM: the shutdown lines are logged too.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let exited = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(running, "the service did not start; its log:\n{text}");
    assert!(exited.unwrap().success(), "{text}");

    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "{text}");
    for line in lines {
        let object: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        assert!(object["level"].is_string(), "{line}");
        assert!(object["fields"].is_object(), "{line}");
        assert!(object["timestamp"].is_string(), "{line}");
    }
    assert!(text.contains("\"message\":\"shutting down\""), "{text}");
}
