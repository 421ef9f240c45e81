//! The `pg-gitops plan` command: load the desired state (a directory, standard input, a Git
//! commit or range), read live objects (from files or the cluster), plan every database and
//! print the report. The binary only parses flags and hands them here, so the command is the
//! same code path as the planner the service runs.

mod desired;

use std::path::PathBuf;

use crate::live::{self, LiveError};
use crate::manifest::LoadOptions;
use crate::plan::{self, PlanSettings};
use crate::render;

pub use desired::{Desired, STDIN};

/// How the report is printed.
#[derive(Debug, Clone, Copy)]
pub enum Output {
    Text {
        colour: bool,
    },
    Json,
    /// A pull-request comment.
    Markdown,
}

/// The flags of `pg-gitops plan`.
#[derive(Debug, Clone)]
pub struct PlanCommand {
    /// Where the manifests come from.
    pub desired: Desired,
    /// Files or directories of live objects; empty reads them from the cluster.
    pub live: Vec<PathBuf>,
    pub output: Output,
    /// Kubeconfig to read the cluster with (default: KUBECONFIG or in-cluster).
    pub kubeconfig: Option<PathBuf>,
    pub load: LoadOptions,
    pub settings: PlanSettings,
}

/// Why `plan` could not produce a report at all. A broken manifest is not one of these: it
/// is an entry of the report.
#[derive(Debug, thiserror::Error)]
pub enum PlanCommandError {
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error("cannot read the manifests from standard input")]
    Stdin(#[source] std::io::Error),
    #[error("cannot open the Git repository {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("cannot resolve `{reference}` to a commit of {}", repo.display())]
    Revision {
        repo: PathBuf,
        reference: String,
        #[source]
        source: git2::Error,
    },
    #[error("cannot diff the trees of {base} and {head}")]
    Diff {
        base: String,
        head: String,
        #[source]
        source: git2::Error,
    },
    #[error("--path {0:?} must stay inside the repository")]
    PathOutside(String),
}

impl PlanCommand {
    /// Prints notices to stderr and the report to stdout; returns the exit code (0: nothing
    /// to do, 1: changes planned or in flight, 2: any error in the report).
    pub async fn run(&self) -> Result<u8, PlanCommandError> {
        let desired = self.desired.load(&self.load, std::io::stdin().lock())?;
        for notice in &desired.set.notices {
            eprintln!(
                "notice: {}:{}: {}",
                notice.file.display(),
                notice.line,
                notice.message
            );
        }
        for (namespace, name) in &desired.context.removed {
            eprintln!(
                "notice: {namespace}/{name}: removed from Git; not planned (pg-gitops never \
                 deletes a database)"
            );
        }
        let state = if self.live.is_empty() {
            let client = live::client(self.kubeconfig.as_deref()).await?;
            live::read_cluster(client).await?
        } else {
            live::read_files(&self.live, &self.load.default_namespace)
        };
        // Only the text and markdown outputs show the diff.
        let settings = PlanSettings {
            describe: !matches!(self.output, Output::Json),
            ..self.settings.clone()
        };
        let report = plan::plan_all(&desired.set, &state, &settings, desired.revision.as_deref());
        match self.output {
            Output::Json => print!("{}", render::json(&report)),
            Output::Text { colour } => print!("{}", render::text(&report, colour)),
            Output::Markdown => print!(
                "{}",
                render::markdown(&report, &desired.context, render::COMMENT_LIMIT)
            ),
        }
        Ok(u8::try_from(report.exit_code()).unwrap_or(2))
    }
}

#[cfg(test)]
mod tests;
