//! `pg-gitops`: wiring only. Commands parse flags, load the config and hand off to the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pg-gitops",
    version,
    about = "GitOps reconciler for KubeDB PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: source, webhook server and reconciler.
    Run {
        /// Path to config.toml.
        #[arg(long, env = "PG_GITOPS_CONFIG", default_value = "config.toml")]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Run { config } => {
            let loaded = pg_gitops::config::Config::from_file(&config)
                .with_context(|| format!("loading {}", config.display()))?;
            pg_gitops::run::run(loaded).await.context("pg-gitops run")?;
        }
    }
    Ok(())
}
