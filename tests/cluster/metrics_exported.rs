//! The chart's alert rules and the Grafana dashboard name only metrics the running service
//! exports: the service runs in-process against the test API server with a Git source, one
//! database, a webhook delivery and a broken manifest, and every `pg_gitops_*` name in the
//! dashboard's queries and in the rendered PrometheusRule must be a sample name on its
//! `/metrics` (so a renamed or never-set metric fails here). The values the alerts read are
//! checked too: the leader, the last successful sync, the invalid manifests, the build info.

use std::collections::BTreeSet;
use std::time::Duration;

use pg_gitops::server::Provider;
use serde_json::{Value, json};
use test_support::e2e::*;
use test_support::repo_root;
use test_support::webhook::deliver_over_tcp;

const SECRET: &str = "metrics-secret";

/// The sample names on /metrics (`pg_gitops_reconcile_total`, `..._bucket`, ...) and the body.
async fn scrape(service: &Service) -> (BTreeSet<String>, String) {
    let response = http_get(service.listen, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    let names = body
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            line.split(['{', ' '])
                .next()
                .expect("a sample line starts with its name")
                .to_owned()
        })
        .collect();
    (names, body)
}

/// The value of the sample line `series` (name plus labels, exactly as exposed).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

/// Every `pg_gitops_*` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("pg_gitops_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// (where, expression) of every query of the dashboard, panels in rows included.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = repo_root().join("charts/pg-gitops/dashboards/pg-gitops.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("dashboard JSON");
    let mut queries = Vec::new();
    fn walk(panels: &Value, queries: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().expect("every target has an expr");
                queries.push((format!("panel {:?}", panel["title"]), expr.to_owned()));
            }
            walk(&panel["panels"], queries);
        }
    }
    walk(&dashboard["panels"], &mut queries);
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            queries.push((format!("variable {:?}", variable["name"]), query.to_owned()));
        }
    }
    queries
}

/// (alert, expression) of every rule the chart renders with `prometheusRule.enabled`.
fn alert_queries() -> Vec<(String, String)> {
    let rendered = test_support::chart::render(
        &json!({ "prometheusRule": { "enabled": true } }),
        "pg-gitops",
        "ops",
    );
    let rule = rendered.one("PrometheusRule");
    rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_array().unwrap().clone())
        .map(|rule| {
            (
                format!("alert {}", rule["alert"]),
                rule["expr"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_name_only_metrics_the_service_exports() {
    let sim = sim_namespace("metrics", Duration::from_millis(200)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let db = Db::new("shown");
    let fleet = Fleet::new(&ns, &[&db]);
    let secret_file = fleet.repo.temp.path().join("webhook-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let mut config = fleet.config("metrics");
    config.server.webhooks.generic_secret_file = Some(secret_file);
    let service = Service::start(config, client.clone());
    service.ready().await;
    wait_current(&client, &ns, &db).await;

    // A broken manifest next to the good one, announced by a webhook.
    let broken = fleet.repo.commit(
        "fleet/broken.yaml",
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata: [unclosed\n",
        "a broken manifest",
    );
    let response = deliver_over_tcp(service.listen, Provider::Generic, SECRET, &broken).await;
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    let revision = format!(r#"pg_gitops_snapshot_revision{{revision="{broken}"}}"#);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (names, body) = loop {
        let (names, body) = scrape(&service).await;
        if sample(&body, "pg_gitops_invalid_manifests") == Some(1.0)
            && sample(&body, &revision) == Some(1.0)
        {
            break (names, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the broken manifest never showed on /metrics:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The values the alerts and the dashboard read.
    assert_eq!(sample(&body, "pg_gitops_leader"), Some(1.0), "{body}");
    assert_eq!(
        sample(&body, r#"pg_gitops_databases{state="in_sync"}"#),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, r#"pg_gitops_databases{state="stalled"}"#),
        Some(0.0)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last_sync = sample(&body, "pg_gitops_git_last_success_timestamp_seconds").unwrap();
    assert!(
        (now - 120.0..=now + 1.0).contains(&last_sync),
        "last successful sync at {last_sync}, now {now}"
    );
    assert!(sample(&body, r#"pg_gitops_git_fetch_total{result="ok"}"#).unwrap() >= 2.0);
    assert_eq!(
        sample(
            &body,
            r#"pg_gitops_webhook_deliveries_total{provider="generic",result="triggered"}"#
        ),
        Some(1.0),
        "{body}"
    );
    let build = format!(
        r#"pg_gitops_build_info{{version="{}",commit="{}"}}"#,
        pg_gitops::build_info::VERSION,
        pg_gitops::build_info::COMMIT
    );
    assert_eq!(sample(&body, &build), Some(1.0), "{body}");

    // Every metric a query names is on /metrics.
    let mut missing = Vec::new();
    let mut checked = BTreeSet::new();
    for (source, expr) in dashboard_queries().into_iter().chain(alert_queries()) {
        let used = metric_names(&expr);
        assert!(
            !used.is_empty(),
            "{source} names no pg_gitops metric: {expr}"
        );
        for name in used {
            if !names.contains(&name) {
                missing.push(format!("{source}: {name}"));
            }
            checked.insert(name);
        }
    }
    assert!(
        missing.is_empty(),
        "queries name metrics /metrics does not have: {missing:#?}\nexported: {names:#?}"
    );
    // The dashboard and the alerts between them cover every family the service has.
    for family in [
        "pg_gitops_reconcile_total",
        "pg_gitops_reconcile_duration_seconds_bucket",
        "pg_gitops_steps_executed_total",
        "pg_gitops_ops_requests_created_total",
        "pg_gitops_databases",
        "pg_gitops_leader",
        "pg_gitops_git_fetch_total",
        "pg_gitops_git_last_success_timestamp_seconds",
        "pg_gitops_invalid_manifests",
        "pg_gitops_webhook_deliveries_total",
        "pg_gitops_snapshot_revision",
        "pg_gitops_build_info",
    ] {
        assert!(checked.contains(family), "no query shows {family}");
    }

    service.stop().await;
    sim.stop().await;
}

/// The `databases{state}` gauge and `database_info` forget a deleted database: the gauge
/// counted it forever before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_databases_gauge_forgets_a_deleted_database() {
    use kube::api::{Api, DeleteParams, PostParams};
    use pg_gitops::models::GitopsPostgres;

    let sim = sim_namespace("gauge-forgets", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let service = Service::start(base_config(&ns, "gauge-forgets"), client.clone());
    service.ready().await;
    let api: Api<GitopsPostgres> = Api::namespaced(client.clone(), &ns);
    let db = Db::new("brief");
    let object: GitopsPostgres = serde_json::from_value(db.object(&ns)).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();

    let counted = |body: &str| {
        ["in_sync", "progressing", "stalled", "suspended"]
            .iter()
            .filter_map(|state| sample(body, &format!(r#"pg_gitops_databases{{state="{state}"}}"#)))
            .sum::<f64>()
    };
    let wait_for = |want: f64| {
        let service = &service;
        async move {
            let deadline = tokio::time::Instant::now() + PATIENCE;
            loop {
                let (_, body) = scrape(service).await;
                if counted(&body) == want {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the gauge never counted {want} databases:\n{body}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait_for(1.0).await;
    let info = |body: &str| {
        body.lines()
            .filter(|line| line.starts_with("pg_gitops_database_info{"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (_, body) = scrape(&service).await;
    let series = info(&body);
    assert_eq!(series.len(), 1, "one info series per database: {series:?}");
    assert!(
        series[0].contains(&format!(r#"namespace="{ns}""#))
            && series[0].contains(r#"name="brief""#),
        "{series:?}"
    );
    api.delete("brief", &DeleteParams::default()).await.unwrap();
    wait_for(0.0).await;
    let (_, body) = scrape(&service).await;
    assert_eq!(
        info(&body),
        Vec::<String>::new(),
        "the deleted database's series is gone"
    );
    service.stop().await;
}
