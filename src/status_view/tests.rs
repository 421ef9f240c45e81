use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::config::SourceConfig;

fn object(name: &str, status: serde_json::Value) -> Arc<CachedGitops> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "db"},
            "spec": {"version": "16.4"},
            "status": status,
        }))
        .unwrap(),
    )
}

fn ops(name: &str, database: &str, phase: &str, created: &str) -> Arc<PostgresOpsRequest> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "db", "creationTimestamp": created},
            "spec": {"type": "Restart", "databaseRef": {"name": database}},
            "status": {"phase": phase},
        }))
        .unwrap(),
    )
}

fn now() -> Timestamp {
    "2026-12-03T07:00:00Z".parse().unwrap()
}

#[test]
fn a_database_waiting_for_an_open_request_shows_it_with_its_age() {
    let objects = [object(
        "pg1",
        json!({
            "phase": "Ready",
            "conditions": [{"type": "Ready", "status": "False", "reason": "Progressing"}],
            "gitops": {"gitOpsInfo": [{"observedGeneration": 2, "changeRequestStatus": "InProgress"}]},
        }),
    )];
    let requests = [
        ops("pg1-old", "pg1", "Successful", "2026-12-03T06:00:00Z"),
        ops("pg1-now", "pg1", "Progressing", "2026-12-03T06:58:00Z"),
        ops("other-now", "other", "Progressing", "2026-12-03T06:59:00Z"),
    ];
    let rows = databases(&objects, &requests, now());
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!((row.namespace.as_str(), row.name.as_str()), ("db", "pg1"));
    assert_eq!(row.phase.as_deref(), Some("Ready"));
    assert_eq!(row.change_request_status.as_deref(), Some("InProgress"));
    assert_eq!(row.reason.as_deref(), Some("Progressing"));
    assert_eq!(row.waiting_for.as_deref(), Some("pg1-now"));
    let current = row.ops_request.as_ref().unwrap();
    assert_eq!(current.name, "pg1-now");
    assert_eq!(current.r#type.as_deref(), Some("Restart"));
    assert_eq!(current.phase, "Progressing");
    assert_eq!(current.age_seconds, Some(120));
    assert_eq!(row.last_error, None);
}

#[test]
fn without_an_open_request_the_latest_shows_and_a_stall_is_the_last_error() {
    let objects = [
        object(
            "pg2",
            json!({
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "OpsRequestFailed"},
                    {"type": "Stalled", "status": "True", "message": "pg2-b ended Failed"},
                ],
                "gitops": {"gitOpsInfo": [{"changeRequestStatus": "Failed"}]},
            }),
        ),
        object("a-first", json!({})),
    ];
    let requests = [
        ops("pg2-a", "pg2", "Successful", "2026-12-03T05:00:00Z"),
        ops("pg2-b", "pg2", "Failed", "2026-12-03T06:00:00Z"),
    ];
    let rows = databases(&objects, &requests, now());
    assert_eq!(rows[0].name, "a-first", "rows are sorted");
    assert_eq!(rows[0].ops_request, None);
    assert_eq!(rows[0].change_request_status, None);
    let row = &rows[1];
    assert_eq!(row.waiting_for, None);
    assert_eq!(row.ops_request.as_ref().unwrap().name, "pg2-b");
    assert_eq!(row.ops_request.as_ref().unwrap().phase, "Failed");
    assert_eq!(row.last_error.as_deref(), Some("pg2-b ended Failed"));
    assert_eq!(row.change_request_status.as_deref(), Some("Failed"));
}

#[test]
fn a_stalled_condition_that_is_false_is_no_error() {
    let objects = [object(
        "pg3",
        json!({"conditions": [{"type": "Stalled", "status": "False", "message": "old"}]}),
    )];
    assert_eq!(databases(&objects, &[], now())[0].last_error, None);
}

#[test]
fn the_source_header_never_shows_a_credential() {
    let config = SourceConfig {
        url: Some("https://bot:s3cret@git.example.com/fleet.git".into()),
        ..SourceConfig::default()
    };
    let (caches, _writers) = crate::controller::caches();
    let report = StatusSources::new(&config, None, caches).report(now());
    assert_eq!(report.source.kind, "git");
    assert_eq!(
        report.source.url.as_deref(),
        Some("https://git.example.com/fleet.git")
    );
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(report.databases.is_empty());
    // No snapshot yet: no revision, no sync time.
    assert_eq!(report.source.revision, None);
    assert_eq!(report.source.last_fetch_time, None);
}

#[test]
fn the_report_reads_back_as_the_cli_parses_it() {
    let (caches, _writers) = crate::controller::caches();
    let report = StatusSources::new(&SourceConfig::default(), None, caches).report(now());
    let text = serde_json::to_string(&report).unwrap();
    let back: StatusReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
}

#[test]
fn invalid_manifests_are_named_from_the_repository_root() {
    let (caches, _writers) = crate::controller::caches();
    let named = |path: &str| {
        let config = SourceConfig {
            path: path.into(),
            ..SourceConfig::default()
        };
        StatusSources::new(&config, None, caches.clone())
            .path
            .join("broken.yaml")
            .display()
            .to_string()
    };
    assert_eq!(named("fleet"), "fleet/broken.yaml");
    assert_eq!(named("."), "broken.yaml");
    assert_eq!(named("./envs/prod"), "envs/prod/broken.yaml");
}
