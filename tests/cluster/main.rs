//! Every test that needs the Kubernetes API server, in one binary: the binary starts one
//! control plane (`test_support::cluster()`, about 11 s) and its tests share it, each in its
//! own namespace. One binary per topic would start one control plane each.
//!
//! A test here must not assume it is alone in the cluster: it works in the namespace that
//! `TestCluster::namespace` gives it, scopes the service and the simulator to it, and reads
//! cluster-scoped objects (CRDs, PostgresVersions) only in ways other tests cannot disturb
//! (see docs/testing.md, "Writing a cluster test").

mod api_outage;
mod approve_command;
mod bench;
mod change_control;
mod chart;
mod chart_namespaced;
mod chart_rbac;
mod chart_rbac_minimal;
mod crash_trials;
mod e2e_flow;
mod e2e_idle;
mod e2e_leader;
mod e2e_one_write;
mod fleet;
mod fleet_budget;
mod git_failures;
mod harness;
mod harness_auth;
mod health;
mod image;
mod invalid_manifest;
mod kubedb_gitops;
mod leader_election;
mod logs;
mod metrics_exported;
mod notify;
mod ownership;
mod plan;
mod plan_pr;
mod prune;
mod secrets_scan;
mod sim_ops;
mod sim_queue;
mod source_events;
mod status;
mod status_view;
mod webhook_standby;
