use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use tower::ServiceExt;

use tokio::sync::watch;

use super::*;
use crate::api_health::ApiHealth;
use crate::server::{DeliveryLog, Provider};
use crate::source::Snapshot;

/// The value of the one sample line that starts with `series ` (name plus labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("sample value is a number"))
}

#[test]
fn every_family_is_exposed_with_its_type_before_anything_is_recorded() {
    let text = Metrics::new().encode();
    for (family, kind) in [
        ("pg_gitops_reconcile", "counter"),
        ("pg_gitops_reconcile_duration_seconds", "histogram"),
        ("pg_gitops_steps_executed", "counter"),
        ("pg_gitops_ops_requests_created", "counter"),
        ("pg_gitops_databases", "gauge"),
        ("pg_gitops_leader", "gauge"),
        ("pg_gitops_git_fetch", "counter"),
        ("pg_gitops_git_last_success_timestamp_seconds", "gauge"),
        ("pg_gitops_invalid_manifests", "gauge"),
        ("pg_gitops_build_info", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "missing `# TYPE {family} {kind}` in:\n{text}"
        );
    }
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    let build = format!(
        r#"pg_gitops_build_info{{version="{}",commit="{}"}}"#,
        crate::build_info::VERSION,
        crate::build_info::COMMIT
    );
    assert_eq!(sample(&text, &build), Some(1.0), "{text}");
    // Known label sets start at zero rather than being absent.
    assert_eq!(
        sample(&text, r#"pg_gitops_reconcile_total{result="error"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"pg_gitops_steps_executed_total{type="ReconfigureTLS"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"pg_gitops_ops_requests_created_total{type="UpdateVersion"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"pg_gitops_databases{state="stalled"}"#),
        Some(0.0)
    );
    assert_eq!(sample(&text, "pg_gitops_leader"), Some(0.0));
}

#[test]
fn families_without_known_label_sets_appear_once_recorded() {
    let metrics = Metrics::new();
    // The encoder leaves out families with no series; these have no fixed label sets.
    let text = metrics.encode();
    assert!(!text.contains("pg_gitops_webhook_deliveries"), "{text}");
    assert!(!text.contains("pg_gitops_snapshot_revision"), "{text}");

    metrics.record_webhook_delivery(Provider::Gitea.name(), DeliveryResult::Ping);
    metrics.set_snapshot_revision("0123abc");
    let text = metrics.encode();
    assert!(
        text.contains("# TYPE pg_gitops_webhook_deliveries counter\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE pg_gitops_snapshot_revision gauge\n"),
        "{text}"
    );
}

#[test]
fn counters_count_per_label() {
    let metrics = Metrics::new();
    let clone = metrics.clone();
    metrics.record_reconcile(Outcome::Ok, Duration::from_millis(30));
    clone.record_reconcile(Outcome::Ok, Duration::from_millis(70));
    metrics.record_reconcile(Outcome::Error, Duration::from_secs(2));
    metrics.record_step_executed(StepType::Provision);
    metrics.record_step_executed(StepType::HorizontalScaling);
    metrics.record_step_executed(StepType::HorizontalScaling);
    metrics.record_ops_request_created(OpsRequestType::RotateAuth);
    let source = Arc::new(SourceStats::default());
    source.errors.store(1, Ordering::Relaxed);
    metrics.observe_source(source);
    let deliveries = {
        let metrics = metrics.clone();
        DeliveryLog::observed_by(move |receiver, result| {
            metrics.record_webhook_delivery(receiver, result)
        })
    };
    deliveries.record("github", DeliveryResult::Triggered, "push", None, None);
    deliveries.record("github", DeliveryResult::Triggered, "push", None, None);
    deliveries.record(
        "gitlab",
        DeliveryResult::Unauthorized,
        "bad token",
        None,
        None,
    );

    let text = metrics.encode();
    let expected = [
        (r#"pg_gitops_reconcile_total{result="ok"}"#, 2.0),
        (r#"pg_gitops_reconcile_total{result="error"}"#, 1.0),
        ("pg_gitops_reconcile_duration_seconds_count", 3.0),
        ("pg_gitops_reconcile_duration_seconds_sum", 2.1),
        (
            r#"pg_gitops_reconcile_duration_seconds_bucket{le="0.04"}"#,
            1.0,
        ),
        (
            r#"pg_gitops_reconcile_duration_seconds_bucket{le="0.08"}"#,
            2.0,
        ),
        (
            r#"pg_gitops_reconcile_duration_seconds_bucket{le="+Inf"}"#,
            3.0,
        ),
        (r#"pg_gitops_steps_executed_total{type="Provision"}"#, 1.0),
        (
            r#"pg_gitops_steps_executed_total{type="HorizontalScaling"}"#,
            2.0,
        ),
        (r#"pg_gitops_steps_executed_total{type="Patch"}"#, 0.0),
        (
            r#"pg_gitops_ops_requests_created_total{type="RotateAuth"}"#,
            1.0,
        ),
        (r#"pg_gitops_git_fetch_total{result="error"}"#, 1.0),
        (r#"pg_gitops_git_fetch_total{result="ok"}"#, 0.0),
        (
            r#"pg_gitops_webhook_deliveries_total{provider="github",result="triggered"}"#,
            2.0,
        ),
        (
            r#"pg_gitops_webhook_deliveries_total{provider="gitlab",result="unauthorized"}"#,
            1.0,
        ),
    ];
    for (series, value) in expected {
        let found = sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(
            (found - value).abs() < 1e-9,
            "{series} = {found}, expected {value}"
        );
    }
}

#[test]
fn gauges_hold_the_last_value_and_the_revision_series_is_replaced() {
    let metrics = Metrics::new();
    metrics.set_databases(Standing::Current, 5);
    metrics.set_databases(Standing::Current, 3);
    metrics.set_databases(Standing::Suspended, 1);
    metrics.set_leader(true);
    metrics.set_snapshot_revision("aaaa111");
    metrics.set_snapshot_revision("bbbb222");

    let text = metrics.encode();
    assert_eq!(
        sample(&text, r#"pg_gitops_databases{state="in_sync"}"#),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, r#"pg_gitops_databases{state="suspended"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"pg_gitops_databases{state="progressing"}"#),
        Some(0.0)
    );
    assert_eq!(sample(&text, "pg_gitops_leader"), Some(1.0));
    assert_eq!(
        sample(&text, r#"pg_gitops_snapshot_revision{revision="bbbb222"}"#),
        Some(1.0)
    );
    assert!(
        !text.contains("aaaa111"),
        "old revision still exposed:\n{text}"
    );

    metrics.set_leader(false);
    assert_eq!(sample(&metrics.encode(), "pg_gitops_leader"), Some(0.0));
}

#[tokio::test]
async fn handler_serves_openmetrics_text() {
    let metrics = Metrics::new();
    metrics.record_ops_request_created(OpsRequestType::Restart);
    let router = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(metrics.clone());

    let response = router
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(text, metrics.encode());
    assert_eq!(
        sample(
            &text,
            r#"pg_gitops_ops_requests_created_total{type="Restart"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn the_revision_follows_the_snapshots_the_source_publishes() {
    let metrics = Metrics::new();
    let snapshot = |revision: &str| {
        Some(Arc::new(Snapshot {
            revision: revision.into(),
            manifests: Default::default(),
        }))
    };
    let (sender, receiver) = watch::channel(snapshot("aaaa111"));
    let follower = tokio::spawn(metrics.clone().follow_snapshots(receiver));
    let revision_is = |revision: &str| {
        let series = format!(r#"pg_gitops_snapshot_revision{{revision="{revision}"}}"#);
        sample(&metrics.encode(), &series) == Some(1.0)
    };
    for _ in 0..100 {
        if revision_is("aaaa111") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(revision_is("aaaa111"), "{}", metrics.encode());

    sender.send_replace(snapshot("bbbb222"));
    for _ in 0..100 {
        if revision_is("bbbb222") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(revision_is("bbbb222"), "{}", metrics.encode());
    assert!(!revision_is("aaaa111"));
    drop(sender);
    follower.await.unwrap();
}

#[test]
fn the_last_success_timestamp_is_read_from_the_source_at_scrape_time() {
    let metrics = Metrics::new();
    let source = Arc::new(SourceStats::default());
    metrics.observe_source(source.clone());
    let text = metrics.encode();
    assert_eq!(
        sample(&text, "pg_gitops_git_last_success_timestamp_seconds"),
        Some(0.0)
    );
    source.record_sync(Some("fetch failed".into()), Duration::from_millis(1500));
    assert_eq!(
        sample(
            &metrics.encode(),
            "pg_gitops_git_last_success_timestamp_seconds"
        ),
        Some(0.0),
        "an error is no success"
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    source.record_sync(None, Duration::from_millis(20));
    let at = sample(
        &metrics.encode(),
        "pg_gitops_git_last_success_timestamp_seconds",
    )
    .unwrap();
    assert!(
        at >= before.floor() && at <= before + 5.0,
        "{at} vs {before}"
    );
    let text = metrics.encode();
    assert_eq!(
        sample(&text, "pg_gitops_git_fetch_duration_seconds_count"),
        Some(2.0),
        "both syncs timed, the failed one too:\n{text}"
    );
    let sum = sample(&text, "pg_gitops_git_fetch_duration_seconds_sum").unwrap();
    assert!((sum - 1.52).abs() < 1e-9, "{sum}");
}

#[tokio::test]
async fn invalid_manifests_follow_the_snapshot_in_use() {
    let metrics = Metrics::new();
    let snapshot = |revision: &str, broken: usize| {
        let mut manifests = crate::manifest::ManifestSet::default();
        for line in 0..broken {
            manifests.errors.push(crate::manifest::ManifestError {
                file: "broken.yaml".into(),
                line,
                message: "invalid YAML".into(),
                database: None,
            });
        }
        Some(Arc::new(Snapshot {
            revision: revision.into(),
            manifests,
        }))
    };
    let invalid = || sample(&metrics.encode(), "pg_gitops_invalid_manifests");
    assert_eq!(invalid(), Some(0.0));
    let (sender, receiver) = watch::channel(snapshot("aaaa111", 2));
    let follower = tokio::spawn(metrics.clone().follow_snapshots(receiver));
    for expected in [2.0, 0.0] {
        if expected == 0.0 {
            sender.send_replace(snapshot("bbbb222", 0));
        }
        for _ in 0..100 {
            if invalid() == Some(expected) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(invalid(), Some(expected), "{}", metrics.encode());
    }
    drop(sender);
    follower.await.unwrap();
}

#[tokio::test]
async fn the_api_gauge_follows_an_outage() {
    let metrics = Metrics::new();
    let health = ApiHealth::new();
    tokio::spawn(metrics.clone().follow_api(health.subscribe()));
    let gauge = |metrics: &Metrics| sample(&metrics.encode(), "pg_gitops_kubernetes_api_reachable");
    let settles = |want: f64| {
        let metrics = metrics.clone();
        async move {
            for _ in 0..100 {
                if gauge(&metrics) == Some(want) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the gauge stays at {:?}, not {want}", gauge(&metrics));
        }
    };
    settles(1.0).await;
    health.failed(&"connection refused");
    settles(0.0).await;
    health.answered();
    settles(1.0).await;
}
