//! The plan as a pull-request comment: a one-line summary, a table of the databases that
//! change or cannot be planned, and per database a folded block with the declared diff, the
//! OpsRequests in order and the errors. What a step does to a running database comes from
//! [`Step::disruption`] and [`Step::is_irreversible`], the classification approvals and
//! maintenance windows use too.
//!
//! GitHub refuses a comment over 65,536 characters, so the comment stays under
//! [`COMMENT_LIMIT`]: the table comes first, then details while they fit, and a last line
//! says what was left out.

use std::fmt::Write;

use super::{describe_step, render_diff};
use crate::plan::{DatabasePlan, Disruption, PlanError, PlanReport, Step};
use crate::yaml;

/// The most a comment may hold, with room to spare under GitHub's 65,536.
pub const COMMENT_LIMIT: usize = 60_000;

/// Room kept for the lines that say what was left out.
const FOOTER_ROOM: usize = 400;

/// Above this many rows the details start folded, so the table stays readable.
const OPEN_DETAILS_UP_TO: usize = 20;

/// The first line of every comment, for CI scripts that edit their comment in place.
const MARKER: &str = "<!-- pg-gitops plan -->";

/// What the comment says beside the report.
#[derive(Debug, Clone, Default)]
pub struct PlanContext {
    /// What was planned: `abc1234..def5678`, a commit, a directory or `<stdin>`.
    pub label: String,
    /// Databases (namespace, name) whose manifest the range removed: shown, never planned.
    pub removed: Vec<(String, String)>,
    /// Databases of the tree that the range did not change, so were not planned.
    pub untouched: usize,
}

/// The comment, at most `limit` characters (use [`COMMENT_LIMIT`]).
pub fn markdown(report: &PlanReport, context: &PlanContext, limit: usize) -> String {
    let rows: Vec<&DatabasePlan> = (report.databases.iter())
        .filter(|database| shows(database))
        .collect();
    let mut out = Budget::new(limit.saturating_sub(FOOTER_ROOM));
    out.always(&format!("{MARKER}\n{}\n", summary(report, context)));
    if !rows.is_empty() {
        out.always(
            "\n| database | steps | restarts pods | downtime | irreversible | errors |\n\
             | --- | --- | --- | --- | --- | --- |\n",
        );
        let left_out = rows.iter().filter(|d| !out.push(&row(d))).count();
        if left_out > 0 {
            out.always(&format!(
                "\n_{left_out} more {} not in the table: the comment would be too long_\n",
                databases(left_out)
            ));
        }
    }
    if !report.errors.is_empty() {
        out.always("\n**Errors that name no database**\n\n");
        let left_out = report.errors.iter().filter(|e| !out.push(&item(e))).count();
        if left_out > 0 {
            out.always(&format!("- _{left_out} more left out_\n"));
        }
    }
    if !context.removed.is_empty() {
        out.always(
            "\n**Removed from Git** (not planned: pg-gitops never deletes a database; \
             `reconcile.prune` deletes only the gitops object):\n\n",
        );
        let left_out = (context.removed.iter())
            .filter(|(namespace, name)| !out.push(&format!("- {}\n", code(&key(namespace, name)))))
            .count();
        if left_out > 0 {
            out.always(&format!("- _{left_out} more left out_\n"));
        }
    }
    let open = rows.len() <= OPEN_DETAILS_UP_TO;
    let left_out = (rows.iter())
        .filter(|database| !out.push(&details(database, open)))
        .count();
    if left_out > 0 {
        out.always(&format!(
            "\n_details of {left_out} {} left out; run `pg-gitops plan` locally_\n",
            databases(left_out)
        ));
    }
    out.text
}

/// Text that stops taking optional parts once they would pass its limit; what must be said
/// (the summary, the lines about what was left out) is always taken.
struct Budget {
    text: String,
    limit: usize,
    full: bool,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Self {
            text: String::new(),
            limit,
            full: false,
        }
    }

    fn always(&mut self, part: &str) {
        self.text.push_str(part);
    }

    /// Takes `part` if it fits; once one does not, none after it is taken, so what is shown
    /// is a prefix of the list and the count left out is exact.
    fn push(&mut self, part: &str) -> bool {
        if self.full || self.text.len() + part.len() > self.limit {
            self.full = true;
            return false;
        }
        self.text.push_str(part);
        true
    }
}

/// Whether a database has something for a reviewer: steps, a wait or errors.
fn shows(database: &DatabasePlan) -> bool {
    !database.steps.is_empty() || database.is_waiting() || !database.errors.is_empty()
}

fn summary(report: &PlanReport, context: &PlanContext) -> String {
    let changing = (report.databases.iter())
        .filter(|d| d.errors.is_empty() && (!d.steps.is_empty() || d.is_waiting()))
        .count();
    let unchanged = (report.databases.iter()).filter(|d| !shows(d)).count() + context.untouched;
    let new = (report.databases.iter())
        .filter(|d| d.errors.is_empty() && d.steps.iter().any(|s| s.provision().is_some()))
        .count();
    let steps: Vec<&Step> = (report.databases.iter())
        .filter(|d| d.errors.is_empty())
        .flat_map(|d| &d.steps)
        .collect();
    let ops = steps.iter().filter(|s| s.ops_request().is_some()).count();
    let count = |disruption| {
        steps
            .iter()
            .filter(|s| s.disruption() == disruption)
            .count()
    };
    let irreversible = steps.iter().filter(|s| s.is_irreversible()).count();
    let errors = report.errors.len()
        + report
            .databases
            .iter()
            .map(|d| d.errors.len())
            .sum::<usize>();
    let what = if context.label.is_empty() {
        String::new()
    } else {
        format!(" for {}", code(&context.label))
    };
    let mut line = format!(
        "**pg-gitops plan**{what}: {changing} {} {}",
        databases(changing),
        if changing == 1 { "changes" } else { "change" },
    );
    if new > 0 {
        let _ = write!(line, " ({new} new)");
    }
    let _ = write!(line, ", {ops} {}", plural(ops, "OpsRequest", "OpsRequests"));
    let impact: Vec<String> = [
        (count(Disruption::RollingRestart), "restart pods"),
        (count(Disruption::Downtime), "take downtime"),
        (irreversible, "irreversible"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !impact.is_empty() {
        let _ = write!(line, " ({})", impact.join(", "));
    }
    let _ = write!(line, ", {errors} {}", plural(errors, "error", "errors"));
    if !context.removed.is_empty() {
        let _ = write!(line, ", {} removed from Git", context.removed.len());
    }
    let _ = write!(line, ", {unchanged} unchanged");
    line
}

fn row(database: &DatabasePlan) -> String {
    let steps = if let Some(name) = &database.waiting_for {
        format!("waiting for {}", code(name))
    } else if database.steps.is_empty() && database.is_waiting() {
        "waiting".into()
    } else {
        step_types(&database.steps)
    };
    let flag = |on: bool| if on { "yes" } else { "" };
    let steps_of = |f: &dyn Fn(&Step) -> bool| database.steps.iter().any(f);
    let errors = match database.errors.len() {
        0 => String::new(),
        n => format!("{n} {}", plural(n, "error", "errors")),
    };
    format!(
        "| {} | {} | {} | {} | {} | {} |\n",
        cell(&code(&key(&database.namespace, &database.name))),
        cell(&steps),
        flag(steps_of(&|s| s.disruption() == Disruption::RollingRestart)),
        flag(steps_of(&|s| s.disruption() == Disruption::Downtime)),
        flag(steps_of(&Step::is_irreversible)),
        errors,
    )
}

fn step_types(steps: &[Step]) -> String {
    let types: Vec<String> = steps
        .iter()
        .map(|step| format!("{:?}", step.step_type()))
        .collect();
    types.join(" → ")
}

/// One database's folded block: errors, notes, the declared diff, then each step with what
/// it does to the running database and the YAML of what it writes.
fn details(database: &DatabasePlan, open: bool) -> String {
    let mut out = String::new();
    let what = if database.errors.is_empty() {
        step_types(&database.steps)
    } else {
        "cannot be planned".into()
    };
    let _ = write!(
        out,
        "\n<details{}><summary><code>{}</code>: {}</summary>\n\n",
        if open { " open" } else { "" },
        html(&key(&database.namespace, &database.name)),
        html(&what),
    );
    for error in &database.errors {
        out.push_str(&item(error));
    }
    for note in &database.notes {
        let _ = writeln!(out, "- note: {}", inline(note));
    }
    if let Some(reason) = &database.waiting_reason {
        let _ = writeln!(out, "- waiting: {}", inline(reason));
    }
    if let Some(name) = &database.waiting_for {
        let _ = writeln!(out, "- waiting for the open OpsRequest {}", code(name));
    }
    if database.errors.is_empty() {
        let mut diff = String::new();
        render_diff(&mut diff, "", &database.before, &database.after, &|_, t| {
            t.to_string()
        });
        if !diff.is_empty() {
            if !out.ends_with("\n\n") {
                out.push('\n');
            }
            out.push_str(&fenced("diff", &diff));
        }
        for (index, step) in database.steps.iter().enumerate() {
            let (title, body) = describe_step(step);
            let _ = write!(out, "\n**{}. {}**", index + 1, inline(&title));
            let effects = effects(step);
            if !effects.is_empty() {
                let _ = write!(out, ": {}", effects.join(", "));
            }
            out.push_str("\n\n");
            out.push_str(&fenced("yaml", &yaml::to_string(&body)));
        }
    }
    out.push_str("\n</details>\n");
    out
}

/// What a step does to the running database, in a reviewer's words.
fn effects(step: &Step) -> Vec<&'static str> {
    let mut effects = Vec::new();
    match step.disruption() {
        Disruption::None => {}
        Disruption::RollingRestart => effects.push("restarts pods"),
        Disruption::Downtime => effects.push("takes downtime"),
    }
    if step.is_irreversible() {
        effects.push("irreversible");
    }
    effects
}

/// An error as a list item, `file:line: message`.
fn item(error: &PlanError) -> String {
    format!(
        "- {}: {}\n",
        code(&format!("{}:{}", error.file, error.line)),
        inline(&error.message)
    )
}

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn databases(n: usize) -> &'static str {
    plural(n, "database", "databases")
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// A code span that holds any text: delimited by more backticks than any run inside it.
fn code(text: &str) -> String {
    let text = text.replace('\n', " ");
    let fence = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A fenced block that no line of `body` can close early.
fn fenced(language: &str, body: &str) -> String {
    let fence = "`".repeat(longest_run(body, '`').max(2) + 1);
    let newline = if body.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{language}\n{body}{newline}{fence}\n")
}

fn longest_run(text: &str, of: char) -> usize {
    let (mut longest, mut current) = (0, 0);
    for c in text.chars() {
        current = if c == of { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    longest
}

/// A table cell: a `|`, even in a code span, would end the cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Running text that Markdown must not read as markup, on one line.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Text inside HTML (`<summary>`).
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests;
