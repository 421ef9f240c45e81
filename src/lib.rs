//! pg-gitops: a GitOps reconciler for KubeDB PostgreSQL.
//!
//! Data flows one way (see `README.md`): a [`source`] produces a snapshot of manifests,
//! [`manifest`] parses and validates them, [`plan`] turns desired-vs-live into ordered steps
//! (pure, no I/O), and the reconciler executes the first step. [`models`] holds the typed
//! KubeDB API objects shared by every stage.
//!
//! Entry points: [`run::run`] (the service), [`plan_command::PlanCommand`] (the `plan` CLI),
//! [`approve_command::ApproveCommand`] (the `approve` CLI).
//! The other public modules are what the integration tests and benches drive directly; the
//! stages behind them (apply, controller, execute, live reads, metrics, rendering) are
//! crate-private so the compiler reports any of their code that nothing uses.

pub mod api_health;
pub(crate) mod apply;
pub mod approve_command;
pub(crate) mod backoff;
pub mod build_info;
pub mod config;
pub(crate) mod controller;
pub(crate) mod events;
pub(crate) mod execute;
#[doc(hidden)]
pub mod fuzzing;
pub mod gate;
pub mod leader;
pub(crate) mod live;
pub mod manifest;
pub mod memory;
pub(crate) mod metrics;
pub mod models;
pub mod notify;
pub(crate) mod ownership;
pub mod plan;
pub mod plan_command;
pub(crate) mod render;
pub mod run;
pub mod server;
pub mod source;
pub(crate) mod source_events;
pub mod status;
pub mod status_command;
pub mod status_view;
pub(crate) mod walk;
pub mod yaml;

/// Appears in the errors of [`run::run`] and [`plan_command::PlanCommand::run`].
pub use live::LiveError;
