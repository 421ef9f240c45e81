//! Webhook delivery → new snapshot available, measured end to end over real sockets: a
//! signed GitHub push is POSTed to the service's HTTP port, the source asks the Git server
//! (file:// or smart HTTP) for the ref, fetches, checks out and loads; the clock stops when
//! the snapshot appears on the watch channel. Prints median and p99; the figures in
//! BENCHMARKS.md come from:
//!
//!     PG_GITOPS_BENCH_RUNS=200 cargo bench --bench webhook_latency
//!
//! A bench with its own `main` (`harness = false`): `cargo bench` passes `--bench` and gets the
//! full measurement (20 runs per transport unless PG_GITOPS_BENCH_RUNS says otherwise);
//! `cargo test --all-targets` runs the same code as a smoke test of 3 runs per transport, so
//! its assertions keep guarding the path on every test run.
//!
//! A third series measures the same path over `file://` in a repository of 10,000 manifests
//! (200 under `cargo test`; PG_GITOPS_BENCH_FILES overrides), where each commit changes one
//! file: what a commit costs the source at fleet size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pg_gitops::config::SourceConfig;
use pg_gitops::manifest::LoadOptions;
use pg_gitops::server::{
    self, AppState, DeliveryLog, Provider, Readiness, WebhookSecrets, WebhookTarget,
};
use pg_gitops::source::{self, Secret, SourceHandle};
use test_support::git::http::HttpGitServer;
use test_support::git::repo::TestRepo;
use test_support::logs;
use test_support::webhook::deliver_over_tcp;

const WEBHOOK_SECRET: &str = "whsec-latency-4b2a-never-log-me";
const TOKEN: &str = "tok-latency-91fe-never-log-me";

/// The name under which the measurement lists and reports itself, as a libtest test would.
const NAME: &str = "webhook_to_snapshot_latency_over_file_and_smart_http";

/// Runs per transport: PG_GITOPS_BENCH_RUNS, else 20 under `cargo bench`, 3 under `cargo test`.
fn runs() -> usize {
    std::env::var("PG_GITOPS_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(if bench_mode() { 20 } else { 3 })
}

/// Manifests in the fleet-sized repository: PG_GITOPS_BENCH_FILES, else 10,000 under
/// `cargo bench`, 200 under `cargo test`.
fn fleet_files() -> usize {
    std::env::var("PG_GITOPS_BENCH_FILES")
        .ok()
        .and_then(|files| files.parse().ok())
        .unwrap_or(if bench_mode() { 10_000 } else { 200 })
}

/// Whether `cargo bench` started us (it passes `--bench`; `cargo test` does not).
fn bench_mode() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --all-targets -- --list` and filters reach this main too: answer like libtest.
    if args.iter().any(|arg| arg == "--list") {
        println!("{NAME}: test");
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    if !filters.is_empty() && !filters.iter().any(|filter| NAME.contains(filter.as_str())) {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(webhook_to_snapshot_latency_over_file_and_smart_http());
    println!("test {NAME} ... ok");
}

/// Serves the real router on a loopback port; returns its address.
async fn serve_webhooks(handle: &SourceHandle) -> std::net::SocketAddr {
    let secrets = WebhookSecrets::default().with(Provider::GitHub, Secret::new(WEBHOOK_SECRET));
    let router = server::router(AppState {
        secrets: Arc::new(secrets),
        target: WebhookTarget {
            reference: handle.reference.clone(),
            trigger: handle.trigger.clone(),
            relay: None,
        },
        deliveries: DeliveryLog::default(),
        readiness: Readiness::default(),
        liveness: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(
        listener,
        router,
        server::ConnectionLimits::default(),
        std::future::pending(),
    ));
    addr
}

async fn deliver(addr: std::net::SocketAddr, commit: &str) -> String {
    deliver_over_tcp(addr, Provider::GitHub, WEBHOOK_SECRET, commit).await
}

async fn measure(label: &str, repo: &TestRepo, config: SourceConfig) -> Vec<Duration> {
    let mut handle = source::start(&config, LoadOptions::default()).unwrap();
    let first = repo.head();
    handle.wait_for(|snapshot| snapshot.revision == first).await;
    let addr = serve_webhooks(&handle).await;
    let mut samples = Vec::new();
    for run in 0..runs() {
        let pushed = repo.commit("fleet/db.yaml", &format!("revision: {run}\n"), "bench");
        let started = Instant::now();
        let response = deliver(addr, &pushed).await;
        assert!(response.starts_with("HTTP/1.1 202"), "{response}");
        tokio::time::timeout(
            Duration::from_secs(20),
            handle.wait_for(|s| s.revision == pushed),
        )
        .await
        .expect("snapshot arrives");
        samples.push(started.elapsed());
    }
    samples.sort();
    let percentile =
        |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    eprintln!(
        "webhook->snapshot [{label}] runs={} median={:.1}ms p99={:.1}ms min={:.1}ms max={:.1}ms",
        samples.len(),
        percentile(0.5).as_secs_f64() * 1e3,
        percentile(0.99).as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
    );
    samples
}

/// One database's manifest, as a fleet's repository holds them.
fn database(index: usize) -> String {
    format!(
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: db-{index}\n  \
         namespace: ns-{}\nspec:\n  version: \"16.4\"\n  replicas: 3\n  storage:\n    \
         resources:\n      requests:\n        storage: 10Gi\n",
        index % 10
    )
}

/// Only the webhook may trigger a sync during the measurement.
fn base_config(url: String, work_dir: std::path::PathBuf) -> SourceConfig {
    test_support::git::source_config(url, work_dir, Duration::from_secs(20))
}

async fn webhook_to_snapshot_latency_over_file_and_smart_http() {
    logs::capture();
    let repo = TestRepo::new();
    let file = measure(
        "file://",
        &repo,
        base_config(repo.file_url(), repo.work_dir("file-clone")),
    )
    .await;

    let server = HttpGitServer::start(repo.temp.path().into(), "git", TOKEN, Duration::ZERO).await;
    let token_file = repo.temp.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let mut config = base_config(server.url(), repo.work_dir("http-clone"));
    config.auth.token_file = Some(token_file);
    let http = measure("smart HTTP", &repo, config).await;

    let fleet = TestRepo::new();
    let files = fleet_files();
    for index in 0..files {
        let dir = fleet.work.join(format!("fleet/ns-{}", index % 10));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("db-{index}.yaml")), database(index)).unwrap();
    }
    fleet.commit("fleet/db.yaml", "revision: fleet\n", "the fleet");
    let label = format!("file://, {files} manifests");
    let config = base_config(fleet.file_url(), fleet.work_dir("fleet-clone"));
    let at_fleet_size = measure(&label, &fleet, config).await;

    // A generous bound: this is a regression alarm, not the benchmark itself.
    for samples in [file, http, at_fleet_size] {
        assert!(
            samples[samples.len() - 1] < Duration::from_secs(5),
            "{samples:?}"
        );
    }
    logs::assert_no_secret_logged(&[WEBHOOK_SECRET, TOKEN]);
}
