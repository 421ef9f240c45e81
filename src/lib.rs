//! pg-gitops: a GitOps reconciler for KubeDB PostgreSQL.
//!
//! Data flows one way (see `README.md`): a [`source`] produces a snapshot of manifests,
//! [`manifest`] parses and validates them, [`plan`] turns desired-vs-live into ordered steps
//! (pure, no I/O), and the reconciler executes the first step. [`models`] holds the typed
//! KubeDB API objects shared by every stage.

pub mod apply;
pub mod config;
pub mod controller;
pub mod execute;
pub mod leader;
pub mod live;
pub mod manifest;
pub mod metrics;
pub mod models;
pub mod plan;
pub mod quantity;
pub mod render;
pub mod run;
pub mod server;
pub mod sim;
pub mod source;
pub mod status;
mod walk;
pub mod yaml;
