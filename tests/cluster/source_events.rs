//! A failing source shows on the service's pod: `pg-gitops run` (the real binary, with the
//! `POD_NAME`/`POD_NAMESPACE` the chart sets) publishes a Warning Event `SourceFailed` naming
//! the error while the Git remote is gone, once and not per retry, and `SourceRecovered` when
//! the remote is back.

use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::e2e::*;

const POD: &str = "pg-gitops-7d9c-x2k4q";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_gets_one_warning_event_on_the_pod_and_a_recovery_event() {
    let sim = sim_namespace("source-events", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let fleet = Fleet::new(&ns, &[&Db::new("kept")]);
    let gone = fleet.repo.temp.path().join("moved-away.git");
    std::fs::rename(&fleet.repo.bare, &gone).unwrap();
    let config_file = fleet.repo.temp.path().join("config.toml");
    write_config(&fleet.config("source-events"), &config_file);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .args(["run", "--config"])
        .arg(&config_file)
        .env(
            "KUBECONFIG",
            test_support::cluster().await.kubeconfig_path(),
        )
        .env("POD_NAME", POD)
        .env("POD_NAMESPACE", &ns)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting pg-gitops");

    let reasons = |wanted: &'static str| {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            let reasons = event_reasons(&client, &ns, POD).await;
            if reasons.iter().any(|r| r == wanted) {
                Ok(reasons)
            } else {
                Err(format!("{reasons:?}"))
            }
        }
    };
    eventually("SourceFailed on the pod", || reasons("SourceFailed")).await;
    // The source retries at 1 s, 2 s, 4 s ...: still one event for the same error.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let notes = event_notes(&client, &ns, POD).await;
    assert_eq!(notes.len(), 1, "one event for one error: {notes:?}");
    assert!(notes[0].contains("repo.git"), "names the remote: {notes:?}");

    std::fs::rename(&gone, &fleet.repo.bare).unwrap();
    let reasons = eventually("SourceRecovered on the pod", || reasons("SourceRecovered")).await;
    assert_eq!(reasons, ["SourceFailed", "SourceRecovered"]);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
}
