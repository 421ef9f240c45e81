use axum::Router;
use axum::routing::get;

use super::*;
use crate::status_view::{InvalidManifest, KubernetesStatus, OpsRequestStatus, SourceStatus};

fn report() -> StatusReport {
    StatusReport {
        source: SourceStatus {
            kind: "git".into(),
            url: Some("https://git.example.com/fleet.git".into()),
            reference: Some("branch main".into()),
            revision: Some("0123abcd".into()),
            last_fetch_time: Some("2026-12-03T07:00:00Z".into()),
            last_success_time: Some("2026-12-03T07:00:00Z".into()),
            last_fetch_error: None,
            invalid_manifests: vec![InvalidManifest {
                file: "fleet/broken.yaml".into(),
                line: 3,
                message: "mapping values are not allowed".into(),
            }],
        },
        kubernetes: KubernetesStatus::default(),
        databases: vec![DatabaseStatus {
            namespace: "db".into(),
            name: "pg1".into(),
            phase: Some("Ready".into()),
            change_request_status: Some("InProgress".into()),
            reason: Some("Progressing".into()),
            ops_request: Some(OpsRequestStatus {
                name: "pg1-restart-abc".into(),
                r#type: Some("Restart".into()),
                phase: "Progressing".into(),
                creation_time: None,
                age_seconds: Some(125),
            }),
            waiting_for: Some("pg1-restart-abc".into()),
            held: None,
            last_error: Some("x".repeat(200)),
        }],
    }
}

#[test]
fn the_table_has_the_header_then_aligned_rows() {
    let text = table(&report());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Source:   git https://git.example.com/fleet.git (branch main)"
    );
    assert_eq!(lines[1], "Revision: 0123abcd");
    assert!(
        lines[2].starts_with("Fetched:  2026-12-03T07:00:00Z"),
        "{text}"
    );
    assert_eq!(lines[3], "Error:    -");
    assert_eq!(lines[4], "Invalid:  1");
    assert_eq!(
        lines[5],
        "          fleet/broken.yaml:3: mapping values are not allowed"
    );
    assert_eq!(lines[6], "");
    assert!(
        lines[7].starts_with("NAMESPACE  NAME  PHASE  CHANGE      READY"),
        "{text}"
    );
    let row = lines[8];
    assert!(
        row.starts_with(
            "db         pg1   Ready  InProgress  Progressing  pg1-restart-abc (Progressing)  2m"
        ),
        "{text}"
    );
    // The error column is cut; the JSON keeps all of it.
    assert!(row.ends_with(&format!("{}…", "x".repeat(80))), "{row}");
    // Columns line up: each header starts where its cells start.
    let at = |line: &str, word: &str| line.find(word).unwrap();
    assert_eq!(at(lines[7], "OPSREQUEST"), at(row, "pg1-restart-abc"));
}

#[test]
fn no_database_says_so() {
    let mut report = report();
    report.databases.clear();
    report.source.kind = "cluster".into();
    let text = table(&report);
    assert!(text.ends_with("\nNo databases.\n"), "{text}");
    assert!(
        !text.contains("Fetched:"),
        "a cluster source fetches nothing: {text}"
    );
}

#[test]
fn ages_read_as_kubectl_shows_them() {
    assert_eq!(short_age(45), "45s");
    assert_eq!(short_age(125), "2m");
    assert_eq!(short_age(3 * 3600 + 5), "3h");
    assert_eq!(short_age(5 * 86400), "5d");
}

#[test]
fn a_wildcard_listen_address_is_reached_on_loopback() {
    assert_eq!(
        url_of("0.0.0.0:8080".parse().unwrap()),
        "http://127.0.0.1:8080"
    );
    assert_eq!(url_of("[::]:9000".parse().unwrap()), "http://[::1]:9000");
    assert_eq!(
        url_of("10.0.0.5:8080".parse().unwrap()),
        "http://10.0.0.5:8080"
    );
    assert_eq!(
        resolve_url(Some("http://svc:1".into()), None).unwrap(),
        "http://svc:1"
    );
}

#[tokio::test]
async fn an_unreachable_service_is_named_with_a_hint() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let error = fetch(&format!("http://{address}")).await.unwrap_err();
    assert!(
        matches!(error, StatusCommandError::Unreachable { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("is the service running"),
        "{error}"
    );
    let error = fetch("https://example.com").await.unwrap_err();
    assert!(matches!(error, StatusCommandError::Url { .. }), "{error}");
}

#[tokio::test]
async fn both_formats_read_a_served_report() {
    let body = serde_json::to_string(&report()).unwrap();
    let served = body.clone();
    let router = Router::new().route("/status", get(move || async move { served }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut out = Vec::new();
    let command = |format| StatusCommand {
        url: url.clone(),
        format,
        watch: false,
    };
    command(Format::Json).run(&mut out).await.unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), format!("{body}\n"));
    let mut out = Vec::new();
    command(Format::Table).run(&mut out).await.unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), table(&report()));
    // Another endpoint's answer is not taken for a report.
    let error = fetch(&format!("{url}/nothing")).await.unwrap_err();
    assert!(
        matches!(error, StatusCommandError::Refused { status: 404, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn watch_keeps_going_while_the_service_is_down() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let command = StatusCommand {
        url: format!("http://{address}"),
        format: Format::Table,
        watch: true,
    };
    let mut out = Vec::new();
    // Two rounds fit: one at once, one after WATCH_EVERY; watching never ends by itself.
    let watched =
        tokio::time::timeout(WATCH_EVERY + Duration::from_secs(1), command.run(&mut out)).await;
    assert!(watched.is_err(), "--watch returned: {watched:?}");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("\x1b[2J\x1b[H").count(), 2, "{text:?}");
    assert_eq!(
        text.matches("error: cannot reach pg-gitops").count(),
        2,
        "{text:?}"
    );
}

#[test]
fn an_outage_is_named_above_the_databases_it_made_stale() {
    let mut report = report();
    assert!(
        !table(&report).contains("Cluster:"),
        "nothing while reachable"
    );
    report.kubernetes = KubernetesStatus {
        reachable: false,
        unreachable_since: Some("2026-12-03T07:01:00Z".into()),
        error: Some("connection refused".into()),
    };
    let text = table(&report);
    assert!(
        text.contains(
            "Cluster:  unreachable since 2026-12-03T07:01:00Z (connection refused); databases as they were then\n"
        ),
        "{text}"
    );
}

#[test]
fn a_report_of_an_older_service_reads_as_reachable() {
    let mut json = serde_json::to_value(report()).unwrap();
    json.as_object_mut().unwrap().remove("kubernetes");
    let read: StatusReport = serde_json::from_value(json).unwrap();
    assert!(read.kubernetes.reachable);
}
