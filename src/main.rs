//! `pg-gitops`: wiring only. Commands parse flags, load the config and hand off to the library
//! ([`pg_gitops::plan_command`] for `plan`, [`pg_gitops::run`] for `run`,
//! [`pg_gitops::status_command`] for `status`, [`pg_gitops::approve_command`] for `approve`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use pg_gitops::approve_command::{self, ApproveCommand};
use pg_gitops::config::LogFormat;
use pg_gitops::manifest::LoadOptions;
use pg_gitops::plan::PlanSettings;
use pg_gitops::plan_command::{self, Desired, PlanCommand};
use pg_gitops::status_command::{self, StatusCommand};

/// The plan allocates many small JSON values; mimalloc frees them far faster than glibc
/// (measured in BENCHMARKS.md). The `heap-profile` feature keeps the system allocator, for
/// heaptrack.
#[cfg(not(feature = "heap-profile"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pg-gitops",
    version,
    long_version = pg_gitops::build_info::LONG_VERSION,
    about = "GitOps reconciler for KubeDB PostgreSQL"
)]
struct Cli {
    /// Log lines as text or JSON (default: `[log] format` of the config, else text).
    #[arg(long, global = true, env = "PG_GITOPS_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
    /// A pull-request comment (GitHub or GitLab Markdown).
    Markdown,
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusOutput {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Show what would change: the diff of declared fields and the OpsRequests, in order.
    /// Exit code 0: nothing to do; 1: changes planned or in flight; 2: any error.
    Plan {
        /// Directory of gitops.kubedb.com Postgres manifests (searched recursively), or `-`
        /// for one multi-document YAML stream on standard input (`kustomize build | ...`).
        #[arg(long, required_unless_present = "repo", conflicts_with = "repo")]
        manifests: Option<PathBuf>,
        /// A local Git repository (bare or not) to read the manifests from, with --ref or
        /// --base/--head; nothing is checked out.
        #[arg(long, requires = "revision")]
        repo: Option<PathBuf>,
        /// The revision to plan (a branch, tag, SHA or any revspec, e.g. HEAD~1).
        #[arg(long = "ref", group = "revision", requires = "repo")]
        reference: Option<String>,
        /// Plan only the databases whose manifests the range --base..--head changed, as at
        /// --head.
        #[arg(long, group = "revision", requires_all = ["repo", "head"])]
        base: Option<String>,
        #[arg(long, requires = "base")]
        head: Option<String>,
        /// Subdirectory of the repository holding the manifests (as `source.path`).
        #[arg(long, default_value = ".", requires = "repo")]
        path: String,
        /// Files or directories with live kubedb.com Postgres, PostgresOpsRequest and
        /// PostgresVersion objects; without it they are read from the cluster.
        #[arg(long)]
        live: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
        /// Kubeconfig to read the cluster with (default: KUBECONFIG or in-cluster).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Namespace for manifests that declare none.
        #[arg(long, default_value = "default")]
        default_namespace: String,
        /// VolumeExpansion mode (Online or Offline) unless a database's annotation says otherwise.
        #[arg(long, default_value = "Online", value_parser = ["Online", "Offline"])]
        volume_expansion_mode: String,
    },
    /// Run the service: source, webhook server and reconciler.
    Run {
        /// Path to config.toml.
        #[arg(long, env = "PG_GITOPS_CONFIG", default_value = "config.toml")]
        config: PathBuf,
    },
    /// Show what a running service reports on GET /status: the source (revision, last fetch,
    /// invalid manifests), then per database its phase, change request, OpsRequest and error.
    Status {
        /// A header and one row per database, or the JSON of /status as the service sent it.
        #[arg(long, value_enum, default_value = "table")]
        output: StatusOutput,
        /// Re-read and re-print every few seconds until interrupted.
        #[arg(long)]
        watch: bool,
        /// The service's base URL (default: server.listen of the config, else
        /// http://127.0.0.1:8080).
        #[arg(long, env = "PG_GITOPS_URL")]
        url: Option<String>,
        /// Config whose server.listen gives the URL (default: ./config.toml when present).
        #[arg(long, env = "PG_GITOPS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Approve the step change control holds for a person (its token goes into the
    /// gitops.kubedb.com/approved annotation). Exit code 0: approved (now or before);
    /// 1: refused, or nothing awaits approval; 2: the object cannot be read or written.
    Approve {
        /// The gitops.kubedb.com Postgres, as NAMESPACE/NAME.
        #[arg(value_name = "NAMESPACE/NAME", value_parser = approve_command::parse_target)]
        target: (String, String),
        /// The token you reviewed (the last part of the OpsRequest's name in `pg-gitops plan`,
        /// or as the AwaitingApproval condition gives it): approved only if it is the step
        /// awaiting now, refused if the plan changed since.
        #[arg(long, value_name = "TOKEN")]
        step: Option<String>,
        /// Kubeconfig to use (default: KUBECONFIG or in-cluster).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    pg_gitops::memory::prefer_small_pages();
    match run_command().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", say_each_cause_once(&error));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each said once. Our errors, like kube's and std's, often put
/// their source in their own message as well as returning it as `source()`, so printing the
/// whole chain (`{:#}`) would repeat it; a cause already in the text is left out.
fn say_each_cause_once(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

async fn run_command() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Plan {
            manifests,
            repo,
            reference,
            base,
            head,
            path,
            live,
            output,
            kubeconfig,
            default_namespace,
            volume_expansion_mode,
        } => {
            init_logging(cli.log_format.unwrap_or_default());
            let desired = match (manifests, repo, reference, base.zip(head)) {
                (Some(dir), ..) if dir.as_os_str() == "-" => Desired::Stdin,
                (Some(dir), ..) => Desired::Dir(dir),
                (None, Some(repo), Some(reference), _) => Desired::Commit {
                    repo,
                    reference,
                    path,
                },
                (None, Some(repo), None, Some((base, head))) => Desired::Range {
                    repo,
                    base,
                    head,
                    path,
                },
                _ => unreachable!("clap requires --manifests, or --repo with a revision"),
            };
            let command = PlanCommand {
                desired,
                live,
                output: match output {
                    Output::Json => plan_command::Output::Json,
                    Output::Markdown => plan_command::Output::Markdown,
                    Output::Text => plan_command::Output::Text {
                        colour: std::io::stdout().is_terminal(),
                    },
                },
                kubeconfig,
                load: LoadOptions {
                    default_namespace,
                    ..LoadOptions::default()
                },
                settings: PlanSettings {
                    volume_expansion_mode,
                    ..PlanSettings::default()
                },
            };
            return Ok(ExitCode::from(command.run().await?));
        }
        Command::Run { config } => {
            let loaded = pg_gitops::config::Config::from_file(&config)
                .with_context(|| format!("loading {}", config.display()))?;
            init_logging(cli.log_format.unwrap_or(loaded.log.format));
            pg_gitops::run::run(loaded).await.context("pg-gitops run")?;
        }
        Command::Status {
            output,
            watch,
            url,
            config,
        } => {
            let command = StatusCommand {
                url: status_command::resolve_url(url, config.as_deref())?,
                format: match output {
                    StatusOutput::Table => status_command::Format::Table,
                    StatusOutput::Json => status_command::Format::Json,
                },
                watch,
            };
            command.run(&mut std::io::stdout().lock()).await?;
        }
        Command::Approve {
            target: (namespace, name),
            step,
            kubeconfig,
        } => {
            let command = ApproveCommand {
                namespace,
                name,
                step,
                kubeconfig,
            };
            let outcome = command.run().await?;
            match outcome.exit_code() {
                0 => println!("{outcome}"),
                _ => eprintln!("{outcome}"),
            }
            return Ok(ExitCode::from(outcome.exit_code()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs to stderr at `RUST_LOG`'s level (default info), as text or one JSON object per line.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}
