//! Real Git servers for the source and webhook tests: bare repos on disk (`file://`), smart
//! HTTP (`git http-backend` behind an axum CGI bridge with basic auth) and `sshd` on loopback.
//! Plus a tracing capture so tests can prove no credential reaches a log line.

pub mod http;
pub mod repo;
pub mod ssh;

use std::time::{Duration, Instant};

/// Polls `condition` every 10 ms until it holds or `limit` passes.
pub async fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

/// A `git` source for `url` reading `fleet/` (where [`repo::TestRepo`] commits), cloned into
/// `work_dir`, that syncs only when triggered: the poll is an hour away and has no jitter, so
/// a test sees exactly the syncs it caused.
pub fn source_config(
    url: String,
    work_dir: std::path::PathBuf,
    timeout: Duration,
) -> pg_gitops::config::SourceConfig {
    use pg_gitops::config::{Seconds, SourceConfig, SourceKind};
    SourceConfig {
        kind: SourceKind::Git,
        url: Some(url),
        work_dir,
        path: "fleet".into(),
        poll_interval: Seconds(Duration::from_secs(3600)),
        poll_jitter: Seconds(Duration::ZERO),
        timeout: Seconds(timeout),
        ..SourceConfig::default()
    }
}
