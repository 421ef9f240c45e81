//! The service: source, webhook server, apply stage and reconciler in one process, with one
//! shutdown signal (SIGTERM or ctrl-c) for all of them.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use futures::StreamExt;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::apply::{self, ApplySettings};
use crate::config::{Config, SourceKind};
use crate::controller::{self, BrokenManifests, LeaderHooks, ReconcilerSettings};
use crate::leader::{self, LeaderError, LeaderRelay, LeaderSettings};
use crate::live::{self, LiveError};
use crate::manifest::LoadOptions;
use crate::metrics::{Metrics, metrics_handler};
use crate::notify::{Notifier, NotifyError};
use crate::server::{
    self, AppState, ConnectionLimits, DeliveryLog, Liveness, Readiness, ReadinessGates,
    ServerError, WebhookSecrets, WebhookTarget,
};
use crate::source::{self, FetchTrigger, Reference, SourceError};
use crate::source_events::{self, Pod};
use crate::status_view::{StatusSources, status_handler};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Leader(#[from] LeaderError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Cluster(#[from] LiveError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// A shutdown signal many tasks can wait on.
#[derive(Clone)]
struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    fn on(trigger: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        let (sender, receiver) = watch::channel(false);
        tokio::spawn(async move {
            trigger.await;
            let _ = sender.send(true);
        });
        Self(receiver)
    }

    async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Runs until SIGTERM or ctrl-c, with the cluster of `KUBECONFIG` (or in-cluster).
pub async fn run(config: Config) -> Result<(), RunError> {
    let client = live::client(None).await?;
    run_until(config, client, shutdown_signal()).await
}

/// Runs until `shutdown` resolves, with the given client. Tests run the whole service
/// in-process through this; `run` is this with the process signals.
pub async fn run_until(
    config: Config,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let load = LoadOptions::from_config(&config);
    let secrets = WebhookSecrets::load(&config.server.webhooks)?;
    let readiness = Readiness::default();
    let liveness = Liveness::default();
    let shutdown = Shutdown::on(shutdown);
    let metrics = Metrics::new();
    let notifier = Notifier::start(&config, {
        let metrics = metrics.clone();
        Arc::new(move |provider, result| metrics.record_notification(provider, result))
    })?;
    let leadership = leader::start(
        client.clone(),
        LeaderSettings::from_config(&config),
        shutdown.clone().wait(),
    )
    .await?;
    tokio::spawn(metrics.clone().follow_leadership(leadership.watch()));
    let leader = LeaderHooks {
        is_leader: {
            let leadership = leadership.clone();
            Arc::new(move || leadership.is_leader())
        },
        gained: leadership.gained().boxed(),
    };
    let source = match config.source.kind {
        SourceKind::Git | SourceKind::Dir => Some(source::start(&config.source, load)?),
        // Argo CD or Flux write the objects; there is nothing to fetch.
        SourceKind::Cluster => None,
    };
    let gates = ReadinessGates::new(readiness.clone(), if source.is_some() { 2 } else { 1 });
    let target = match &source {
        Some(handle) => WebhookTarget {
            reference: handle.reference.clone(),
            trigger: handle.trigger.clone(),
            relay: LeaderRelay::start(
                client.clone(),
                &LeaderSettings::from_config(&config),
                leadership.clone(),
                handle.trigger.clone(),
            ),
        },
        None => WebhookTarget {
            reference: Reference::Directory,
            trigger: FetchTrigger::new(),
            relay: None,
        },
    };
    if let Some(handle) = &source {
        liveness.watch("source", handle.task());
        if let Some(pod) = Pod::from_env() {
            tokio::spawn(source_events::announce(
                client.clone(),
                pod,
                config.reconcile.instance_name(),
                handle.stats.errors(),
            ));
        }
        metrics.observe_source(handle.stats.clone());
        tokio::spawn(metrics.clone().follow_snapshots(handle.snapshots.clone()));
    }
    let controller_gate = gates.clone();
    let (mut caches, cache_writers) = controller::caches();
    tokio::spawn(metrics.clone().follow_api(caches.api.subscribe()));
    if let Some(handle) = &source {
        caches.broken = BrokenManifests::follow(handle.snapshots.clone());
        let apply_gate = gates.clone();
        let apply = tokio::spawn(apply::run(
            client.clone(),
            handle.snapshots.clone(),
            (caches.gitops.clone(), caches.gitops_listed.clone()),
            ApplySettings {
                notify: notifier.clone(),
                ..ApplySettings::from_config(&config)
            },
            leader.is_leader.clone(),
            move || apply_gate.open("first snapshot"),
        ));
        liveness.watch("apply", &apply);
    }
    let status = StatusSources::new(&config.source, source.as_ref(), caches.clone());
    let controller = tokio::spawn(controller::run(
        client,
        ReconcilerSettings {
            notify: notifier,
            ..ReconcilerSettings::from_config(&config)
        },
        leader,
        metrics.clone(),
        (caches, cache_writers),
        shutdown.clone().wait(),
        move || controller_gate.open("caches filled"),
    ));
    liveness.watch("controller", &controller);
    let state = AppState {
        secrets: Arc::new(secrets),
        target,
        deliveries: {
            let metrics = metrics.clone();
            DeliveryLog::observed_by(move |receiver, result| {
                metrics.record_webhook_delivery(receiver, result)
            })
        },
        readiness,
        liveness,
    };
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.server.listen,
            source,
        })?;
    info!(listen = %config.server.listen, source = ?config.source.kind, "pg-gitops running");
    let router = server::router(state).merge(
        Router::new()
            .route("/metrics", get(metrics_handler))
            .with_state(metrics)
            .merge(
                Router::new()
                    .route("/status", get(status_handler))
                    .with_state(status),
            ),
    );
    server::serve(
        listener,
        router,
        ConnectionLimits::from_config(&config.server),
        shutdown.clone().wait(),
    )
    .await;
    info!("shutting down");
    if let Err(error) = controller.await {
        warn!(%error, "the controller task ended abnormally");
    }
    // Release the Lease before exiting so a standby takes over at once.
    leadership.stopped().await;
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
