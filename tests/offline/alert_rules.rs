//! The chart's PrometheusRule (`prometheusRule.enabled`) checked with Prometheus' own
//! `promtool` (Debian's `prometheus` package, from `scripts/apt-packages`): the rule groups
//! are taken from the chart as Helm renders it, `promtool check rules` accepts them, and
//! `promtool test rules` replays input series for each alert and compares the alerts that fire
//! (labels and annotations) with what is expected, including the cases that must stay quiet.
//! A deliberately wrong expectation must make promtool fail, so the check can fail.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use test_support::chart::render;

const RELEASE: &str = "pg-gitops";
const NAMESPACE: &str = "ops";

/// The rendered PrometheusRule's rules, by alert name.
fn rendered_rules(values: &Value) -> Value {
    let r = render(values, RELEASE, NAMESPACE);
    let rule = r.one("PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    rule["spec"].clone()
}

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running promtool: {e} (install Debian's `prometheus` package; scripts/test \
                 installs it from scripts/apt-packages)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The annotations of alert `name` with `$value` and `$labels.<key>` filled in as Prometheus
/// renders them, so the test compares the real text.
fn annotations(spec: &Value, name: &str, value: &str, labels: &[(&str, &str)]) -> Value {
    let rule = spec["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == name)
        .unwrap_or_else(|| panic!("no alert {name} in {spec:#}"));
    let mut out = serde_json::Map::new();
    for (key, text) in rule["annotations"].as_object().unwrap() {
        let mut text = text.as_str().unwrap().replace("{{ $value }}", value);
        for (label, v) in labels {
            text = text.replace(&format!("{{{{ $labels.{label} }}}}"), v);
        }
        assert!(
            !text.contains("{{"),
            "{name}.{key}: unfilled template: {text}"
        );
        out.insert(key.clone(), Value::String(text));
    }
    Value::Object(out)
}

fn series(name: &str, extra: &str, pod: &str, values: &str) -> Value {
    let sep = if extra.is_empty() { "" } else { "," };
    json!({
        "series": format!(
            r#"{name}{{{extra}{sep}job="{RELEASE}",namespace="{NAMESPACE}",instance="{pod}:8080",pod="{pod}"}}"#
        ),
        "values": values,
    })
}

/// The unit tests: for every alert, input series, a time it must not fire yet (or at all) and a
/// time it fires with exactly these labels and annotations.
fn unit_tests(spec: &Value) -> Value {
    let base = json!({"job": RELEASE, "namespace": NAMESPACE});
    let with = |extra: Value| {
        let mut labels = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            labels[k] = v.clone();
        }
        labels
    };
    json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                // Two replicas both count the Stalled database; one alert, after `for: 5m`.
                "interval": "1m",
                "input_series": [
                    series("pg_gitops_databases", r#"state="stalled""#, "a", "0 0 1x20"),
                    series("pg_gitops_databases", r#"state="stalled""#, "b", "0 0 1x20"),
                    series("pg_gitops_databases", r#"state="in_sync""#, "a", "3x22"),
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "PgGitopsDatabaseStalled", "exp_alerts": []},
                    {"eval_time": "10m", "alertname": "PgGitopsDatabaseStalled", "exp_alerts": [{
                        "exp_labels": with(json!({"severity": "warning", "state": "stalled"})),
                        "exp_annotations": annotations(spec, "PgGitopsDatabaseStalled", "1", &[("namespace", NAMESPACE)]),
                    }]},
                ],
            },
            {
                // Pod a syncs every minute until 10m, then every sync fails. Pod b runs with
                // source.kind = "cluster": no syncs at all, which is no alert.
                "interval": "1m",
                "input_series": [
                    series("pg_gitops_git_fetch_total", r#"result="ok""#, "a", "0+1x10 10x20"),
                    series("pg_gitops_git_fetch_total", r#"result="error""#, "a", "0x10 1+1x20"),
                    series("pg_gitops_git_fetch_total", r#"result="ok""#, "b", "0x30"),
                    series("pg_gitops_git_fetch_total", r#"result="error""#, "b", "0x30"),
                ],
                "alert_rule_test": [
                    {"eval_time": "9m", "alertname": "PgGitopsSourceNotSyncing", "exp_alerts": []},
                    {"eval_time": "13m", "alertname": "PgGitopsSourceNotSyncing", "exp_alerts": []},
                    {"eval_time": "20m", "alertname": "PgGitopsSourceNotSyncing", "exp_alerts": [{
                        "exp_labels": with(json!({"severity": "warning", "instance": "a:8080", "pod": "a"})),
                        "exp_annotations": annotations(spec, "PgGitopsSourceNotSyncing", "", &[("pod", "a")]),
                    }]},
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    series("pg_gitops_invalid_manifests", "", "a", "0 0 2x20"),
                ],
                "alert_rule_test": [
                    {"eval_time": "8m", "alertname": "PgGitopsInvalidManifests", "exp_alerts": []},
                    {"eval_time": "15m", "alertname": "PgGitopsInvalidManifests", "exp_alerts": [{
                        "exp_labels": with(json!({"severity": "warning"})),
                        "exp_annotations": annotations(spec, "PgGitopsInvalidManifests", "2", &[]),
                    }]},
                ],
            },
            {
                // a leads until 5m, then neither replica does.
                "interval": "1m",
                "input_series": [
                    series("pg_gitops_leader", "", "a", "1x5 0x20"),
                    series("pg_gitops_leader", "", "b", "0x25"),
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "PgGitopsNoLeader", "exp_alerts": []},
                    {"eval_time": "9m", "alertname": "PgGitopsNoLeader", "exp_alerts": []},
                    {"eval_time": "15m", "alertname": "PgGitopsNoLeader", "exp_alerts": [{
                        "exp_labels": with(json!({"severity": "critical"})),
                        "exp_annotations": annotations(spec, "PgGitopsNoLeader", "", &[]),
                    }]},
                ],
            },
            {
                // No pod exposes the metric at all: no leader either.
                "interval": "1m",
                "input_series": [
                    series("pg_gitops_reconcile_total", r#"result="ok""#, "a", "0x10"),
                ],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "PgGitopsNoLeader", "exp_alerts": [{
                        "exp_labels": with(json!({"severity": "critical"})),
                        "exp_annotations": annotations(spec, "PgGitopsNoLeader", "", &[]),
                    }]},
                ],
            },
            {
                // Pod a fails 2 reconciles a minute for 40 minutes; pod b had a burst of 10
                // errors and then none.
                "interval": "1m",
                "input_series": [
                    series("pg_gitops_reconcile_total", r#"result="error""#, "a", "0+2x40"),
                    series("pg_gitops_reconcile_total", r#"result="error""#, "b", "0+1x10 10x30"),
                ],
                "alert_rule_test": [
                    {"eval_time": "12m", "alertname": "PgGitopsReconcileErrors", "exp_alerts": []},
                    {"eval_time": "35m", "alertname": "PgGitopsReconcileErrors", "exp_alerts": [{
                        "exp_labels": with(json!({"severity": "warning", "result": "error"})),
                        "exp_annotations": annotations(spec, "PgGitopsReconcileErrors", "30", &[]),
                    }]},
                ],
            },
            {
                // Pod a loses the API for 5 minutes (a 1-minute blip before that is no
                // alert); pod b never does.
                "interval": "1m",
                "input_series": [
                    series("pg_gitops_kubernetes_api_reachable", "", "a", "1x3 0 1x3 0x5 1x5"),
                    series("pg_gitops_kubernetes_api_reachable", "", "b", "1x20"),
                ],
                "alert_rule_test": [
                    {"eval_time": "6m", "alertname": "PgGitopsKubernetesApiUnreachable", "exp_alerts": []},
                    {"eval_time": "9m", "alertname": "PgGitopsKubernetesApiUnreachable", "exp_alerts": []},
                    {"eval_time": "11m", "alertname": "PgGitopsKubernetesApiUnreachable", "exp_alerts": [{
                        "exp_labels": with(json!({
                            "severity": "critical",
                            "instance": "a:8080",
                            "pod": "a",
                        })),
                        "exp_annotations": annotations(
                            spec,
                            "PgGitopsKubernetesApiUnreachable",
                            "0",
                            &[("pod", "a")],
                        ),
                    }]},
                    {"eval_time": "15m", "alertname": "PgGitopsKubernetesApiUnreachable", "exp_alerts": []},
                ],
            },
        ],
    })
}

#[test]
fn promtool_accepts_the_rules_and_each_alert_fires_exactly_when_expected() {
    let spec = rendered_rules(&json!({ "prometheusRule": { "enabled": true } }));
    let alerts: Vec<&str> = spec["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    assert_eq!(
        alerts,
        [
            "PgGitopsDatabaseStalled",
            "PgGitopsSourceNotSyncing",
            "PgGitopsInvalidManifests",
            "PgGitopsNoLeader",
            "PgGitopsReconcileErrors",
            "PgGitopsKubernetesApiUnreachable"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    // JSON is YAML: promtool reads both files as written.
    std::fs::write(dir.path().join("rules.yaml"), spec.to_string()).unwrap();
    let (ok, out) = promtool(&["check", "rules", "rules.yaml"], dir.path());
    assert!(ok, "promtool check rules failed:\n{out}");
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}");

    let tests = unit_tests(&spec);
    std::fs::write(dir.path().join("tests.yaml"), tests.to_string()).unwrap();
    let (ok, out) = promtool(&["test", "rules", "tests.yaml"], dir.path());
    assert!(ok, "promtool test rules failed:\n{out}");

    // A wrong expectation (the Stalled alert expected while it cannot fire yet) fails.
    let mut broken = tests.clone();
    broken["tests"][0]["alert_rule_test"][0]["exp_alerts"] =
        broken["tests"][0]["alert_rule_test"][1]["exp_alerts"].clone();
    std::fs::write(dir.path().join("broken.yaml"), broken.to_string()).unwrap();
    let (ok, out) = promtool(&["test", "rules", "broken.yaml"], dir.path());
    assert!(!ok, "promtool passed a wrong expectation:\n{out}");
    assert!(out.contains("PgGitopsDatabaseStalled"), "{out}");
}

#[test]
fn the_source_window_follows_the_poll_interval_or_the_override() {
    let window = |values: Value| {
        let spec = rendered_rules(&values);
        let rule = spec["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["alert"] == "PgGitopsSourceNotSyncing")
            .unwrap()
            .clone();
        rule["expr"].as_str().unwrap().to_owned()
    };
    let on = |extra: Value| {
        let mut values = json!({ "prometheusRule": { "enabled": true } });
        for (k, v) in extra.as_object().unwrap() {
            if k == "prometheusRule" {
                for (k2, v2) in v.as_object().unwrap() {
                    values["prometheusRule"][k2] = v2.clone();
                }
            } else {
                values[k] = v.clone();
            }
        }
        values
    };
    // Default: 5 polls of the service's default 60 s.
    assert!(window(on(json!({}))).contains("[300s]"));
    assert!(
        window(on(
            json!({ "config": { "source": { "poll_interval": "2m" } } })
        ))
        .contains("[600s]")
    );
    assert!(
        window(on(
            json!({ "config": { "source": { "poll_interval": 30 } }, "prometheusRule": { "sourceStalePolls": 4 } })
        ))
        .contains("[120s]")
    );
    assert!(
        window(on(
            json!({ "prometheusRule": { "sourceStaleAfter": "1h" } })
        ))
        .contains("[1h]")
    );
    // A poll interval Helm cannot read asks for the override instead of guessing.
    let message = test_support::chart::render_error(&on(
        json!({ "config": { "source": { "poll_interval": "1m 30s" } } }),
    ));
    assert!(
        message.contains("set prometheusRule.sourceStaleAfter"),
        "{message}"
    );
    // Off by default.
    let r = render(&json!({}), RELEASE, NAMESPACE);
    assert!(!r.kinds().contains(&"PrometheusRule".to_owned()));
}
