//! The service: source, webhook server and (later) the reconciler in one process.

use std::sync::Arc;

use tracing::info;

use crate::config::{Config, SourceKind};
use crate::manifest::LoadOptions;
use crate::server::{
    self, AppState, DeliveryLog, Readiness, ServerError, WebhookSecrets, WebhookTarget,
};
use crate::source::{self, FetchTrigger, Reference, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// Runs until SIGTERM or ctrl-c.
pub async fn run(config: Config) -> Result<(), RunError> {
    let load = LoadOptions {
        default_namespace: config.plan.default_namespace.clone(),
    };
    let secrets = WebhookSecrets::load(&config.server.webhooks)?;
    let readiness = Readiness::default();
    let source = match config.source.kind {
        SourceKind::Git | SourceKind::Dir => Some(source::start(&config.source, load)?),
        // Argo CD or Flux write the objects; there is nothing to fetch.
        SourceKind::Cluster => {
            readiness.set_ready();
            None
        }
    };
    let target = match &source {
        Some(handle) => WebhookTarget {
            reference: handle.reference.clone(),
            trigger: handle.trigger.clone(),
        },
        None => WebhookTarget {
            reference: Reference::Directory,
            trigger: FetchTrigger::new(),
        },
    };
    if let Some(handle) = &source {
        let mut snapshots = handle.snapshots.clone();
        let readiness = readiness.clone();
        tokio::spawn(async move {
            if snapshots.wait_for(Option::is_some).await.is_ok() {
                readiness.set_ready();
            }
        });
    }
    let state = AppState {
        secrets: Arc::new(secrets),
        target,
        deliveries: DeliveryLog::default(),
        readiness,
    };
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.server.listen,
            source,
        })?;
    info!(listen = %config.server.listen, source = ?config.source.kind, "pg-gitops running");
    server::serve(listener, server::router(state), shutdown_signal()).await?;
    info!("shutting down");
    drop(source);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
