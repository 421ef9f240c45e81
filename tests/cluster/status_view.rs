//! `GET /status` and `pg-gitops status` against a real run: the service runs in-process with
//! a Git source holding one good database and one broken manifest, and a change that needs an
//! OpsRequest; the endpoint and the command (the built binary, in both formats) must show the
//! revision in use, the broken file, and the database with its phase, change request status
//! and last OpsRequest; then, with the remote gone, the fetch error next to the same revision.

use std::process::{Command, Output};
use std::time::Duration;

use pg_gitops::status_view::StatusReport;
use test_support::e2e::*;

const BROKEN: &str = "fleet/broken.yaml";

/// `/status`, parsed.
async fn status(service: &Service) -> StatusReport {
    status_report(service.listen).await
}

/// `pg-gitops status` with `args`, run as a user would.
async fn command(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
            .arg("status")
            .args(&args)
            // Only --url counts here, not a config of the environment.
            .env_remove("PG_GITOPS_CONFIG")
            .env_remove("PG_GITOPS_URL")
            .current_dir(std::env::temp_dir())
            .output()
            .expect("running pg-gitops status")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_endpoint_and_command_show_the_source_and_each_database() {
    let sim = sim_namespace("status-view", Duration::from_millis(200)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let db = Db::new("shown");
    let fleet = Fleet::new(&ns, &[&db]);
    fleet.repo.commit(
        BROKEN,
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata: [unclosed\n",
        "a broken manifest",
    );
    let service = Service::start(fleet.config("status-view"), client.clone());
    service.ready().await;
    wait_current(&client, &ns, &db).await;

    // A change that takes one OpsRequest, so the row has one to show.
    let changed = Db {
        cpu: "1".into(),
        ..db.clone()
    };
    let revision = fleet.push(&[&changed], "more cpu");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let report = loop {
        let report = status(&service).await;
        let row = report.databases.iter().find(|d| d.name == "shown");
        let done = row.is_some_and(|row| {
            row.change_request_status.as_deref() == Some("Current")
                && row
                    .ops_request
                    .as_ref()
                    .is_some_and(|ops| ops.phase == "Successful")
        });
        if done && report.source.revision.as_deref() == Some(revision.as_str()) {
            break report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/status never showed the change done at {revision}: {report:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The endpoint: header and row.
    let source = &report.source;
    assert_eq!(source.kind, "git");
    assert_eq!(source.reference.as_deref(), Some("branch main"));
    assert!(source.last_fetch_time.is_some(), "{source:?}");
    assert_eq!(source.last_fetch_error, None);
    assert_eq!(source.invalid_manifests.len(), 1, "{source:?}");
    assert_eq!(source.invalid_manifests[0].file, BROKEN);
    assert_eq!(report.databases.len(), 1, "{report:#?}");
    let row = &report.databases[0];
    assert_eq!(
        (row.namespace.as_str(), row.name.as_str()),
        (ns.as_str(), "shown")
    );
    assert_eq!(row.phase.as_deref(), Some("Ready"));
    assert_eq!(row.reason.as_deref(), Some("Current"));
    assert_eq!(row.waiting_for, None);
    assert_eq!(row.last_error, None);
    let ops = row.ops_request.as_ref().unwrap();
    assert_eq!(ops.r#type.as_deref(), Some("VerticalScaling"), "{ops:?}");
    assert!(
        ops.creation_time.is_some() && ops.age_seconds.is_some(),
        "{ops:?}"
    );

    // The command, as JSON: the same report.
    let url = format!("http://{}", service.listen);
    let json = command(&["--url", &url, "--output", "json"]).await;
    assert!(json.status.success(), "{json:?}");
    let printed: StatusReport = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(printed.source.revision.as_deref(), Some(revision.as_str()));
    assert_eq!(printed.source.invalid_manifests[0].file, BROKEN);
    assert_eq!(printed.databases[0].name, "shown");

    // The command, as a table: header lines, then the row.
    let table = command(&["--url", &url]).await;
    assert!(table.status.success(), "{table:?}");
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains(&format!("Revision: {revision}")), "{text}");
    assert!(text.contains("Invalid:  1"), "{text}");
    assert!(text.contains(&format!("          {BROKEN}:")), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("NAMESPACE"))
        .unwrap();
    let cells: Vec<&str> = lines[header + 1].split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        [ns.as_str(), "shown", "Ready", "Current", "Current"],
        "{text}"
    );
    assert_eq!(cells[5], ops.name, "{text}");
    assert_eq!(cells[6], "(Successful)", "{text}");

    // The remote gone: the fetch error shows, the snapshot in use stays.
    std::fs::rename(&fleet.repo.bare, fleet.repo.temp.path().join("moved.git")).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let failing = loop {
        let report = status(&service).await;
        if report.source.last_fetch_error.is_some() {
            break report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/status never showed the failed fetch: {report:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failing.source.revision.as_deref(), Some(revision.as_str()));
    let row = &failing.databases[0];
    assert_eq!(row.name, "shown");
    assert_eq!(row.change_request_status.as_deref(), Some("Current"));
    let table = command(&["--url", &url]).await;
    let text = String::from_utf8(table.stdout).unwrap();
    let error_line = text.lines().find(|l| l.starts_with("Error:")).unwrap();
    assert_ne!(error_line, "Error:    -", "{text}");

    service.stop().await;

    // Nothing listens any more: a clear error and exit code 2.
    let down = command(&["--url", &url]).await;
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert_eq!(down.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach pg-gitops at {url}")),
        "{stderr}"
    );
    sim.stop().await;
}
