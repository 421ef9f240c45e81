use serde_json::{Value, json};

use super::*;
use crate::models::{OpsRequestType, PostgresOpsRequest};
use crate::plan::ErrorKind;

fn ops(kind: OpsRequestType, name: &str, spec: Value) -> Step {
    let mut request = PostgresOpsRequest::default();
    request.metadata.name = Some(name.into());
    request.spec = spec.as_object().cloned().unwrap_or_default();
    Step::OpsRequest {
        kind,
        request: Box::new(request),
    }
}

fn database(name: &str, steps: Vec<Step>) -> DatabasePlan {
    DatabasePlan {
        steps,
        before: json!({"version": "16.4", "replicas": 3}),
        after: json!({"version": "17.2", "replicas": 3}),
        ..DatabasePlan::new("shop".into(), name.into())
    }
}

fn error(file: &str, line: usize, message: &str) -> PlanError {
    PlanError {
        file: file.into(),
        line,
        message: message.into(),
        kind: ErrorKind::InvalidSpec,
    }
}

fn update(name: &str) -> Step {
    ops(
        OpsRequestType::UpdateVersion,
        &format!("{name}-versionupdate-abc123"),
        json!({"type": "UpdateVersion", "updateVersion": {"targetVersion": "17.2"}}),
    )
}

/// a scales, b updates its version, c expands its volume offline, d is in sync, e is broken.
fn fleet() -> PlanReport {
    let mut broken = database("e", vec![]);
    broken
        .errors
        .push(error("team|a/e.yaml", 7, "spec.replicas: `0` is below 1"));
    PlanReport {
        databases: vec![
            database(
                "a",
                vec![ops(
                    OpsRequestType::HorizontalScaling,
                    "a-horizontalscaling-x1",
                    json!({"horizontalScaling": {"replicas": 5}}),
                )],
            ),
            database("b", vec![update("b")]),
            database(
                "c",
                vec![ops(
                    OpsRequestType::VolumeExpansion,
                    "c-volumeexpansion-x2",
                    json!({"volumeExpansion": {"mode": "Offline", "postgres": "20Gi"}}),
                )],
            ),
            database("d", vec![]),
            broken,
        ],
        errors: vec![],
    }
}

fn context() -> PlanContext {
    PlanContext {
        label: "abc1234..def5678".into(),
        removed: vec![("shop".into(), "old".into())],
        untouched: 10,
    }
}

#[test]
fn the_summary_line_counts_what_changes_and_what_it_does() {
    let comment = markdown(&fleet(), &context(), COMMENT_LIMIT);
    let mut lines = comment.lines();
    assert_eq!(lines.next(), Some(MARKER));
    assert_eq!(
        lines.next(),
        Some(
            "**pg-gitops plan** for `abc1234..def5678`: 3 databases change, 3 OpsRequests \
             (1 restart pods, 1 take downtime, 2 irreversible), 1 error, 1 removed from Git, \
             11 unchanged"
        )
    );
}

#[test]
fn the_table_flags_each_changed_database_and_skips_those_in_sync() {
    let comment = markdown(&fleet(), &context(), COMMENT_LIMIT);
    assert!(
        comment.contains("| `shop/a` | HorizontalScaling |  |  |  |  |\n"),
        "{comment}"
    );
    assert!(
        comment.contains("| `shop/b` | UpdateVersion | yes |  | yes |  |\n"),
        "{comment}"
    );
    assert!(
        comment.contains("| `shop/c` | VolumeExpansion |  | yes | yes |  |\n"),
        "{comment}"
    );
    assert!(
        comment.contains("| `shop/e` |  |  |  |  | 1 error |\n"),
        "{comment}"
    );
    assert!(
        !comment.contains("shop/d"),
        "in sync: no row, no details\n{comment}"
    );
    assert!(comment.contains("- `shop/old`\n"), "{comment}");
}

#[test]
fn details_hold_the_diff_the_steps_and_errors_with_file_and_line() {
    let comment = markdown(&fleet(), &context(), COMMENT_LIMIT);
    assert!(
        comment.contains("<details open><summary><code>shop/b</code>: UpdateVersion</summary>")
    );
    assert!(
        comment.contains("```diff\n--- live (declared fields)\n+++ git\n"),
        "{comment}"
    );
    assert!(
        comment.contains("-version: '16.4'\n+version: '17.2'\n"),
        "{comment}"
    );
    assert!(
        comment
            .contains("**1. UpdateVersion b-versionupdate-abc123**: restarts pods, irreversible\n"),
        "{comment}"
    );
    assert!(comment.contains("targetVersion: '17.2'"), "{comment}");
    assert!(
        comment
            .contains("**1. VolumeExpansion c-volumeexpansion-x2**: takes downtime, irreversible")
    );
    // The file's `|` and the message's backticks are not markup.
    assert!(
        comment.contains("- `team|a/e.yaml:7`: spec.replicas: \\`0\\` is below 1\n"),
        "{comment}"
    );
    assert!(!comment.contains('\x1b'), "no colour");
}

#[test]
fn table_cells_escape_pipes_and_code_spans_hold_backticks() {
    let mut report = fleet();
    report.databases[0].namespace = "a|b".into();
    let comment = markdown(&report, &context(), COMMENT_LIMIT);
    assert!(
        comment.contains("| `a\\|b/a` | HorizontalScaling |"),
        "{comment}"
    );
    assert_eq!(code("a`b"), "``a`b``");
    assert_eq!(code("`a"), "`` `a ``");
    assert_eq!(fenced("yaml", "x: ```\n"), "````yaml\nx: ```\n````\n");
}

fn fleet_of(total: usize, changed: usize) -> PlanReport {
    let databases = (0..total)
        .map(|i| {
            let name = format!("db-{i:04}");
            let steps = if i < changed {
                vec![update(&name)]
            } else {
                vec![]
            };
            database(&name, steps)
        })
        .collect();
    PlanReport {
        databases,
        errors: vec![],
    }
}

/// The comment for `total` databases of which `changed` update their version, which must fit
/// in one comment, and its count of table rows.
fn comment_for(total: usize, changed: usize) -> (String, usize) {
    let comment = markdown(
        &fleet_of(total, changed),
        &PlanContext::default(),
        COMMENT_LIMIT,
    );
    assert!(comment.len() <= COMMENT_LIMIT, "{}", comment.len());
    let rows = (comment.lines())
        .filter(|l| l.starts_with("| `shop/db-"))
        .count();
    (comment, rows)
}

#[test]
fn a_thousand_databases_keep_the_table_and_drop_details_past_the_limit() {
    let (comment, rows) = comment_for(1000, 400);
    assert!(
        comment.contains("400 databases change, 400 OpsRequests"),
        "{comment}"
    );
    assert!(comment.contains(", 600 unchanged"));
    assert_eq!(rows, 400, "every changed database has its row");
    let shown = comment.matches("<details>").count();
    assert!(shown > 0 && shown < 400, "{shown}");
    assert!(
        !comment.contains("<details open>"),
        "more than 20 rows: folded"
    );
    assert!(
        comment.ends_with(&format!(
            "\n_details of {} databases left out; run `pg-gitops plan` locally_\n",
            400 - shown
        )),
        "{}",
        &comment[comment.len() - 200..]
    );
}

#[test]
fn a_thousand_changed_databases_fit_in_the_table_without_details() {
    let (comment, rows) = comment_for(1000, 1000);
    assert_eq!(rows, 1000);
    let shown = comment.matches("<details>").count();
    assert!(
        comment.contains(&format!("details of {} databases left out", 1000 - shown)),
        "{shown}"
    );
}

#[test]
fn a_table_too_long_for_one_comment_says_how_many_rows_it_left_out() {
    let (comment, rows) = comment_for(3000, 3000);
    assert!(rows > 100 && rows < 3000, "{rows}");
    assert!(
        comment.contains(&format!(
            "_{} more databases not in the table: the comment would be too long_",
            3000 - rows
        )),
        "{comment}"
    );
    assert!(comment.contains("details of 3000 databases left out"));
}

/// A RotateAuth planned from a real manifest and live object names the Secret, and nothing
/// else of it: the plan never holds secret data, and the comment adds none.
#[test]
fn an_auth_secret_reference_prints_as_a_name_only() {
    let set = crate::manifest::load_stream(
        std::path::Path::new("<stdin>"),
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: orders\n  \
         namespace: shop\nspec:\n  version: \"16.4\"\n  authSecret:\n    name: orders-auth-v2\n",
        &crate::manifest::LoadOptions::default(),
    );
    let live: crate::models::KubedbPostgres = serde_json::from_value(json!({
        "apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {"version": "16.4", "replicas": 1,
                 "authSecret": {"name": "orders-auth", "kind": "Secret", "apiGroup": ""}},
        "status": {"phase": "Ready"}
    }))
    .unwrap();
    let state = crate::plan::LiveState {
        databases: [(("shop".into(), "orders".into()), live.into())].into(),
        ..Default::default()
    };
    let settings = crate::plan::PlanSettings {
        describe: true,
        ..Default::default()
    };
    let report = crate::plan::plan_all(&set, &state, &settings, None);
    let comment = markdown(&report, &PlanContext::default(), COMMENT_LIMIT);
    assert!(comment.contains("RotateAuth"), "{comment}");
    assert!(comment.contains("+  name: orders-auth-v2"), "{comment}");
    assert!(comment.contains("name: orders-auth-v2"), "{comment}");
    assert!(
        comment.contains("    secretRef:\n      kind: Secret\n      name: orders-auth-v2\n```"),
        "{comment}"
    );
    for secret_field in ["password", "stringData", "\ndata:", " data:", "username"] {
        assert!(!comment.contains(secret_field), "{secret_field}\n{comment}");
    }
}
