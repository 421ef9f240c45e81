//! The shared harness of pg-gitops' integration tests, one module per topic:
//!
//! - [`kstatus`]: kstatus' `Compute` (what Flux waits on), ported from its Go source.
//! - [`argocd`]: the Argo CD health check run in a real Lua 5.1, as Argo CD runs it.
//! - [`cluster`]: the real Kubernetes API server of the test run ([`cluster()`]), started once
//!   per test binary by `scripts/control-plane up` (or the cluster of
//!   `PG_GITOPS_TEST_KUBECONFIG`), with a fresh namespace per test.
//! - [`audit`]: the audit log of a test's own control plane ([`cluster::OwnCluster`]): the
//!   writes pg-gitops sent, by reason.
//! - [`kinds`]: the KubeDB kinds as `ApiResource`s and namespaced `Api`s.
//! - [`sim`]: `kubedb-sim` in-process on a fresh namespace, with a timeline of its writes.
//! - [`e2e`]: the whole service (`run_until` or the binary) against a real Git repository.
//! - [`leader`]: leader-election replicas, a leadership sampler and Lease RBAC.
//! - [`chart`]: the Helm chart rendered through `scripts/render-chart.py`.
//! - [`git`]: real Git servers (bare repos, smart HTTP, sshd).
//! - [`webhook`]: webhook deliveries as each provider sends them.
//! - [`forge`]: a stand-in for the forges' commit status APIs and alert receivers.
//! - [`logs`]: a tracing capture, to prove no credential reaches a log line.
//!
//! A library crate rather than `mod support;` copied into each test binary: each helper exists
//! once, and the dead-code lint sees them (a `pub` item here is used by some test).

pub mod argocd;
pub mod audit;
pub mod chart;
pub mod cluster;
pub mod e2e;
pub mod forge;
pub mod git;
pub mod kinds;
pub mod kstatus;
pub mod leader;
pub mod logs;
pub mod metadata;
pub mod sim;
pub mod webhook;

pub use cluster::{OwnCluster, TestCluster, cluster};

/// The pg-gitops checkout (this crate lives in its `crates/test-support`): the tests run its
/// scripts and read its `vendor/`, `charts/` and `examples/`.
pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The one `pg-gitops plan` line of the CI example `file` (`examples/ci/`), as its shell
/// runs it, so that the tests run exactly what the examples tell users to run.
pub fn ci_example_command(file: &str) -> String {
    let path = repo_root().join("examples/ci").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<&str> = (text.lines())
        .map(|line| line.trim().trim_start_matches("- "))
        .filter(|line| line.starts_with("pg-gitops plan "))
        .collect();
    assert_eq!(lines.len(), 1, "one plan command in {file}: {lines:?}");
    lines[0].to_string()
}

/// A loopback address with a port that was free a moment ago (the listener that found it is
/// closed again, so the caller can bind it, or rely on nothing listening there).
pub fn free_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener
        .local_addr()
        .expect("a bound listener has an address")
}
