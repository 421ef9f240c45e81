//! The `pg-gitops plan` command: load manifests, read live objects (from files or the
//! cluster), plan every database and print the report. The binary only parses flags and
//! hands them here, so the command is the same code path as the planner the service runs.

use std::path::PathBuf;

use crate::live::{self, LiveError};
use crate::manifest::{self, LoadOptions};
use crate::plan::{self, PlanSettings};
use crate::render;

/// How the report is printed.
#[derive(Debug, Clone, Copy)]
pub enum Output {
    Text { colour: bool },
    Json,
}

/// The flags of `pg-gitops plan`.
#[derive(Debug, Clone)]
pub struct PlanCommand {
    /// Directory of gitops.kubedb.com Postgres manifests (searched recursively).
    pub manifests: PathBuf,
    /// Files or directories of live objects; empty reads them from the cluster.
    pub live: Vec<PathBuf>,
    pub output: Output,
    /// Kubeconfig to read the cluster with (default: KUBECONFIG or in-cluster).
    pub kubeconfig: Option<PathBuf>,
    pub load: LoadOptions,
    pub settings: PlanSettings,
}

impl PlanCommand {
    /// Prints notices to stderr and the report to stdout; returns the exit code (0: nothing
    /// to do, 1: changes planned or in flight, 2: any error in the report).
    pub async fn run(&self) -> Result<u8, LiveError> {
        let set = manifest::load_dir(&self.manifests, &self.load);
        for notice in &set.notices {
            eprintln!(
                "notice: {}:{}: {}",
                notice.file.display(),
                notice.line,
                notice.message
            );
        }
        let state = if self.live.is_empty() {
            let client = live::client(self.kubeconfig.as_deref()).await?;
            live::read_cluster(client).await?
        } else {
            live::read_files(&self.live, &self.load.default_namespace)
        };
        // Only the text output shows the diff.
        let settings = PlanSettings {
            describe: matches!(self.output, Output::Text { .. }),
            ..self.settings.clone()
        };
        let report = plan::plan_all(&set, &state, &settings, None);
        match self.output {
            Output::Json => print!("{}", render::json(&report)),
            Output::Text { colour } => print!("{}", render::text(&report, colour)),
        }
        Ok(u8::try_from(report.exit_code()).unwrap_or(2))
    }
}
