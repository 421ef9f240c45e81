//! `kubedb-sim`: plays KubeDB's provisioner and ops-manager against a real API server that has
//! KubeDB's CRDs but no KubeDB. Flags only; the behaviour lives in `kubedb_sim`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kubedb_sim::{SimConfig, parse_duration, run};

/// Simulates KubeDB for PostgreSQL: defaults and provisions `kubedb.com/v1` Postgres objects
/// and executes PostgresOpsRequests one at a time per database.
///
/// Fail requests on purpose by annotating a `kubedb.com` Postgres with
/// `sim.kubedb.com/fail: "VolumeExpansion,Restart"` (or `"*"`), and optionally
/// `sim.kubedb.com/fail-message: "..."`.
#[derive(Parser)]
#[command(name = "kubedb-sim", version)]
struct Args {
    /// Kubeconfig file to use; without it the usual discovery applies ($KUBECONFIG, which may
    /// list several files, then ~/.kube/config, then the in-cluster service account).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long)]
    context: Option<String>,
    /// Serve only this namespace (default: all namespaces).
    #[arg(long, short = 'n', env = "KUBEDB_SIM_NAMESPACE")]
    namespace: Option<String>,
    /// How long each OpsRequest stays Progressing (200ms, 2s, 1m).
    #[arg(long, env = "KUBEDB_SIM_STEP_DURATION", default_value = "2s", value_parser = parse_duration)]
    step_duration: Duration,
    /// How long a new database stays Provisioning (default: the step duration).
    #[arg(long, env = "KUBEDB_SIM_PROVISIONING_DURATION", value_parser = parse_duration)]
    provisioning_duration: Option<Duration>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let client = client(&args).await?;
    let mut config = SimConfig::new(args.step_duration);
    config.namespace = args.namespace;
    config.provisioning_duration = args.provisioning_duration.unwrap_or(args.step_duration);
    run(client, config, shutdown_signal()).await?;
    Ok(())
}

async fn client(args: &Args) -> anyhow::Result<kube::Client> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if args.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("kubedb-sim: shutting down");
}
