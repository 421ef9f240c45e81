//! A benchmark, not a check: measurements for BENCHMARKS.md (issue 5), on the real API server with kubedb-sim
//! in-process (OpsRequest step 200 ms) and the whole service in-process:
//!
//! - webhook push → first OpsRequest created: a commit is pushed to a bare repo (file://), a
//!   signed generic webhook is POSTed to the service's HTTP port; the clock stops when a watch
//!   on PostgresOpsRequests delivers the new request (source fetch + load, sync stage apply,
//!   controller wake-up, plan, create, watch delivery);
//! - one OpsRequest Successful → the next one created: both instants are when the same watch
//!   delivers the event (Successful of the VolumeExpansion, creation of the VerticalScaling).
//!
//! Each run pushes a commit that grows the disk and the memory (VolumeExpansion, then
//! VerticalScaling). Prints median and p99; the figures in BENCHMARKS.md come from:
//!
//!     PG_GITOPS_BENCH_RUNS=100 cargo test --release --test cluster bench:: -- --nocapture
//!
//! It stays a test of the cluster binary (8 runs by default, with generous bounds as a
//! regression alarm) rather than a `benches/` target: a bench binary would start a second
//! control plane on every `cargo test --all-targets`. Run alone for figures: beside the other
//! cluster tests the machine is busy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::watcher;
use pg_gitops::config::Seconds;
use pg_gitops::server::Provider;
use test_support::e2e::*;
use test_support::kinds::ops_api;
use test_support::webhook::deliver_over_tcp;

const SECRET: &str = "whsec-e2e-bench-2f1c";

fn runs() -> usize {
    std::env::var("PG_GITOPS_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(8)
}

/// (when the watch delivered it, name, phase) of every OpsRequest version.
type Seen = Arc<Mutex<Vec<(Instant, String, String)>>>;

async fn deliver(addr: std::net::SocketAddr, commit: &str) -> String {
    deliver_over_tcp(addr, Provider::Generic, SECRET, commit).await
}

async fn first_seen(
    seen: &Seen,
    what: &str,
    find: impl Fn(&[(Instant, String, String)]) -> Option<Instant>,
) -> Instant {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(at) = find(&seen.lock().unwrap()) {
            return at;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn summary(label: &str, samples: &mut [Duration]) -> String {
    samples.sort();
    let percentile =
        |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "{label}: runs={} median={:.1}ms p99={:.1}ms min={:.1}ms max={:.1}ms",
        samples.len(),
        ms(percentile(0.5)),
        ms(percentile(0.99)),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_to_first_ops_request_and_successful_to_next_ops_request() {
    let sim = sim_namespace("e2e-bench", Duration::from_millis(200)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let db = Db::new("bench");
    let fleet = Fleet::new(&ns, &[&db]);
    let secret_file = fleet.repo.temp.path().join("webhook-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let mut config = fleet.config("e2e-bench");
    // Only the webhook may trigger a fetch during the measurement.
    config.source.poll_interval = Seconds(Duration::from_secs(3600));
    config.server.webhooks.generic_secret_file = Some(secret_file);
    let service = Service::start(config, client.clone());
    service.ready().await;
    wait_current(&client, &ns, &db).await;

    let seen: Seen = Arc::default();
    let log = seen.clone();
    let stream = watcher(ops_api(&client, &ns), watcher::Config::default());
    let watch = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = event {
                let value = to_value(&o);
                log.lock()
                    .unwrap()
                    .push((Instant::now(), name_of(&value), phase_of(&value)));
            }
        }
    });

    let mut to_first = Vec::new();
    let mut to_next = Vec::new();
    let mut current = db.clone();
    for run in 0..runs() {
        let next = Db {
            storage: format!("{}Gi", 2 + run),
            memory: format!("{}Mi", 512 + 64 * (run + 1)),
            ..current.clone()
        };
        let known: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, n, _)| n.clone())
            .collect();
        let pushed = fleet.push(&[&next], "grow");
        let started = Instant::now();
        let response = deliver(service.listen, &pushed).await;
        assert!(response.starts_with("HTTP/1.1 202"), "{response}");
        let first = first_seen(&seen, "the first OpsRequest", |s| {
            s.iter()
                .find(|(_, n, _)| !known.contains(n))
                .map(|(at, _, _)| *at)
        })
        .await;
        to_first.push(first - started);
        let first_name = seen
            .lock()
            .unwrap()
            .iter()
            .find(|(_, n, _)| !known.contains(n))
            .unwrap()
            .1
            .clone();
        let succeeded = first_seen(&seen, "Successful", |s| {
            s.iter()
                .find(|(_, n, p)| *n == first_name && p == "Successful")
                .map(|(at, _, _)| *at)
        })
        .await;
        let created = first_seen(&seen, "the second OpsRequest", |s| {
            s.iter()
                .find(|(_, n, _)| !known.contains(n) && *n != first_name)
                .map(|(at, _, _)| *at)
        })
        .await;
        assert!(
            created > succeeded,
            "the next request came before the first succeeded"
        );
        to_next.push(created - succeeded);
        wait_current(&client, &ns, &next).await;
        let ops = ops_of(&client, &ns, "bench").await;
        // In the order the watch delivered their creation.
        let mut order: Vec<String> = Vec::new();
        for (_, name, _) in seen.lock().unwrap().iter() {
            if !known.contains(name) && !order.contains(name) {
                order.push(name.clone());
            }
        }
        let kinds: Vec<String> = order
            .iter()
            .map(|name| type_of(ops.iter().find(|o| name_of(o) == *name).unwrap()))
            .collect();
        assert_eq!(kinds, ["VolumeExpansion", "VerticalScaling"]);
        current = next;
    }
    watch.abort();
    let first = summary("webhook push -> first OpsRequest created", &mut to_first);
    let next = summary(
        "OpsRequest Successful -> next OpsRequest created",
        &mut to_next,
    );
    eprintln!("{first}\n{next}");
    // Regression alarms, not the benchmark: seconds would mean polling instead of watching.
    assert!(
        to_first.iter().all(|d| *d < Duration::from_secs(5)),
        "{first}"
    );
    assert!(
        to_next.iter().all(|d| *d < Duration::from_secs(3)),
        "{next}"
    );
    service.stop().await;
    sim.stop().await;
}
