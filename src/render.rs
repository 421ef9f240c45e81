//! Human and machine output of a plan. Pure: strings in, strings out; the caller decides
//! whether the terminal gets colour. [`markdown`] is the pull-request comment.

mod markdown;

use std::fmt::Write;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::plan::{DatabasePlan, PlanReport, Step};
use crate::yaml;

pub use markdown::{COMMENT_LIMIT, PlanContext, markdown};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// The JSON contract: `{"databases":[...],"errors":[...]}`, pretty-printed.
pub fn json(report: &PlanReport) -> String {
    serde_json::to_string_pretty(report).expect("a plan report serialises") + "\n"
}

/// Per database: a unified diff of the declared fields, then the numbered steps with the YAML
/// of each OpsRequest or patch.
pub fn text(report: &PlanReport, colour: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    for database in &report.databases {
        render_database(&mut out, database, &paint);
    }
    for error in &report.errors {
        let _ = writeln!(
            out,
            "{} {}:{}: {}",
            paint(RED, "error:"),
            error.file,
            error.line,
            error.message
        );
    }
    let count =
        |f: &dyn Fn(&DatabasePlan) -> bool| report.databases.iter().filter(|d| f(d)).count();
    let _ = writeln!(
        out,
        "{} databases: {} with changes, {} waiting, {} in sync, {} with errors",
        report.databases.len(),
        count(&|d| d.errors.is_empty() && !d.steps.is_empty()),
        count(&|d| d.errors.is_empty() && d.is_waiting()),
        count(&|d| d.errors.is_empty() && !d.is_waiting() && d.steps.is_empty()),
        count(&|d| !d.errors.is_empty()),
    );
    out
}

fn render_database(
    out: &mut String,
    database: &DatabasePlan,
    paint: &dyn Fn(&str, &str) -> String,
) {
    let state = if !database.errors.is_empty() {
        paint(RED, "cannot be planned")
    } else if let Some(name) = &database.waiting_for {
        paint(YELLOW, &format!("waiting for {name}"))
    } else if database.steps.is_empty() && database.waiting_reason.is_some() {
        paint(YELLOW, "waiting")
    } else if database.steps.is_empty() {
        paint(GREEN, "in sync")
    } else {
        format!("{} step(s)", database.steps.len())
    };
    let _ = writeln!(
        out,
        "{} {state}",
        paint(BOLD, &format!("{}/{}", database.namespace, database.name))
    );
    for error in &database.errors {
        let _ = writeln!(
            out,
            "  {} {}:{}: {}",
            paint(RED, "error:"),
            error.file,
            error.line,
            error.message
        );
    }
    for note in &database.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    if let Some(reason) = &database.waiting_reason {
        let _ = writeln!(out, "  {} {reason}", paint(YELLOW, "waiting:"));
    }
    // The diff shows what is owed even while its steps are withheld.
    let owed = !database.steps.is_empty() || database.waiting_reason.is_some();
    if database.errors.is_empty() && owed {
        render_diff(out, "  ", &database.before, &database.after, paint);
        for (index, step) in database.steps.iter().enumerate() {
            render_step(out, index + 1, step);
        }
    }
    out.push('\n');
}

/// A unified diff of the declared fields, each line after `indent`; nothing when they agree.
fn render_diff(
    out: &mut String,
    indent: &str,
    before: &Value,
    after: &Value,
    paint: &dyn Fn(&str, &str) -> String,
) {
    let as_yaml = |v: &Value| {
        if v.is_null() {
            String::new()
        } else {
            yaml::to_string(v)
        }
    };
    let (old, new) = (as_yaml(before), as_yaml(after));
    if old == new {
        return;
    }
    let diff = TextDiff::from_lines(&old, &new);
    let _ = writeln!(out, "{indent}{}", paint(BOLD, "--- live (declared fields)"));
    let _ = writeln!(out, "{indent}{}", paint(BOLD, "+++ git"));
    for group in diff.grouped_ops(3) {
        let (first, last) = (&group[0], &group[group.len() - 1]);
        let header = format!(
            "@@ -{},{} +{},{} @@",
            first.old_range().start + 1,
            last.old_range().end - first.old_range().start,
            first.new_range().start + 1,
            last.new_range().end - first.new_range().start
        );
        let _ = writeln!(out, "{indent}{}", paint(CYAN, &header));
        for op in &group {
            for change in diff.iter_changes(op) {
                let line = change.value().trim_end_matches('\n');
                let _ = match change.tag() {
                    ChangeTag::Delete => {
                        writeln!(out, "{indent}{}", paint(RED, &format!("-{line}")))
                    }
                    ChangeTag::Insert => {
                        writeln!(out, "{indent}{}", paint(GREEN, &format!("+{line}")))
                    }
                    ChangeTag::Equal => writeln!(out, "{indent} {line}"),
                };
            }
        }
    }
}

fn render_step(out: &mut String, number: usize, step: &Step) {
    let (title, body) = describe_step(step);
    let _ = writeln!(out, "  {number}. {title}");
    for line in yaml::to_string(&body).lines() {
        let _ = writeln!(out, "       {line}");
    }
}

/// A step's title (its type, and the OpsRequest's name) and the object it writes.
fn describe_step(step: &Step) -> (String, Value) {
    match step {
        Step::OpsRequest { kind, request } => (
            format!("{kind} {}", request.metadata.name.as_deref().unwrap_or("")),
            serde_json::to_value(request).unwrap_or(Value::Null),
        ),
        Step::Provision(object) => (
            "Provision (create the kubedb.com Postgres)".into(),
            serde_json::to_value(object).unwrap_or(Value::Null),
        ),
        Step::Patch(patch)
            if patch.get("spec").is_none()
                && patch["metadata"].get("labels").is_none()
                && only_records(patch) =>
        {
            (
                "Patch (bookkeeping only: records what is applied; the database does not change)"
                    .into(),
                patch.clone(),
            )
        }
        Step::Patch(patch) => (
            "Patch (merge patch of the kubedb.com Postgres)".into(),
            patch.clone(),
        ),
    }
}

/// Whether a patch touches only pg-gitops' own annotations.
fn only_records(patch: &Value) -> bool {
    patch["metadata"]["annotations"]
        .as_object()
        .is_some_and(|a| a.keys().all(|k| k.starts_with("gitops.kubedb.com/")))
}

#[cfg(test)]
mod tests;
