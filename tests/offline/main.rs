//! The integration tests that need no Kubernetes API server, in one binary: Git sources over
//! file://, smart HTTP and SSH, the directory source, webhook deliveries, config checks.
//!
//! They share one process, so one tracing capture (`test_support::logs`): a secret asserted
//! absent from the log is absent from every test's log lines.

mod alert_rules;
mod argocd_health;
mod chart_namespaced;
mod chart_render;
mod config_keys;
mod dir_source;
mod fuzz_corpus;
mod git_file;
mod git_http;
mod git_ssh;
mod hostile_repos;
mod notify;
mod plan_git;
mod plan_live;
mod server_limits;
mod snapshots;
mod version;
mod webhook_burst;
mod webhook_flood;
mod webhook_providers;
