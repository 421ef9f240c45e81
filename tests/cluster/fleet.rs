//! Fleet benchmark (issue 12): N databases in 10 namespaces from one Git repository, on the real
//! API server with kubedb-sim, the service as people run it (the `pg-gitops` binary,
//! `pg-gitops run --config FILE`, in its own process, so /proc gives its own memory).
//!
//! A measurement with regression alarms, not a timing test. It needs the whole cluster: the
//! service and the simulator serve every namespace, so it starts a control plane of its own
//! ([`test_support::OwnCluster`], about 11 s) with the API server's audit log on; the service
//! sends the User-Agent `pg-gitops/<version>`, so its writes are counted from that log, by
//! reason, and the simulator's are not.
//!
//! What it records (the table it prints):
//! - start until every database is Ready: from spawning the binary until every gitops object
//!   is Current (Ready=True, phase Ready, status of its generation), as a watch delivers them;
//!   kubedb-sim provisions in 100 ms, OpsRequest steps take 200 ms;
//! - the service's writes for a one-file commit (one database's replicas) until a watch sees
//!   that database Current again, by reason (gitops apply, OpsRequest create, status, Event,
//!   record patch), and the trailing writes until it is quiet for 3 s;
//! - the service's writes during an idle window (60 s; 10 s in the short run), with the
//!   safety-net resync at half the window, so every database is recomputed meanwhile
//!   (checked on /metrics);
//! - webhook → OpsRequest for one changed database, median and p99: a commit changes one
//!   more database's replicas, a signed generic webhook is POSTed, the clock stops when a watch
//!   delivers that database's new OpsRequest (Git polls once an hour: only the webhook fetches);
//!   the next commit waits until that database is Current again. Also by the API server's
//!   clock: from the delivery until the audit log's time of the create's answer, which leaves
//!   out how fast a watch brings the new object to the test;
//! - the service's VmRSS and VmHWM (/proc/PID/status) after convergence and at the end.
//!
//! In `scripts/test` it is a short run: 1,000 databases, 10 s idle, 20 commits. The bench:
//!
//!     PG_GITOPS_FLEET=10000 cargo test --release --test cluster fleet:: -- --nocapture
//!
//! (idle 60 s; `PG_GITOPS_BENCH_RUNS` commits, default 20). Run it alone: the figures in
//! BENCHMARKS.md come from it.
//!
//! The service's heap, with heaptrack: build with the system allocator (heaptrack hooks
//! malloc; mimalloc bypasses it) and name an output file,
//!
//!     PG_GITOPS_FLEET=1000 PG_GITOPS_FLEET_HEAPTRACK=/tmp/fleet-heap \
//!         cargo test --release --features heap-profile --test cluster fleet:: -- --nocapture
//!     heaptrack_print -f /tmp/fleet-heap.zst
//!
//! The binary then runs with heaptrack's preload library, writing to a FIFO that
//! `heaptrack_interpret` reads (what the `heaptrack` script does, but keeping the binary's own
//! PID for /proc). Its RSS figures are then glibc's, not the release binary's.
//!
//! `PG_GITOPS_FLEET_LOG=FILE` keeps the service's log: each snapshot's `new snapshot` line says
//! how long fetching took (`fetch_ms`) and how long loading (`load_ms`), each `applied` line how long
//! the comparison with the cluster took.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, ObjectMeta, PostParams};
use kube::runtime::watcher;
use kubedb_sim::SimConfig;
use pg_gitops::config::{Config, Seconds, SourceKind};
use pg_gitops::server::Provider;
use serde_json::Value;
use test_support::OwnCluster;
use test_support::audit::{AuditLog, Entry, by_reason};
use test_support::e2e::{Db, ensure_versions, is_current, reconciles, to_value, write_config};
use test_support::git::repo::TestRepo;
use test_support::kinds;
use test_support::webhook::deliver_over_tcp;

const SECRET: &str = "whsec-fleet-bench-7d3a";
const NAMESPACES: usize = 10;

/// How the run is sized: `PG_GITOPS_FLEET` databases (the bench) or the short run.
struct Size {
    databases: usize,
    idle: Duration,
    runs: usize,
    bench: bool,
}

impl Size {
    fn from_env() -> Self {
        let fleet = std::env::var("PG_GITOPS_FLEET")
            .ok()
            .and_then(|n| n.parse::<usize>().ok());
        let runs = std::env::var("PG_GITOPS_BENCH_RUNS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(20);
        match fleet {
            Some(databases) => Self {
                databases: databases.max(NAMESPACES),
                idle: Duration::from_secs(60),
                runs,
                bench: true,
            },
            None => Self {
                databases: 1_000,
                idle: Duration::from_secs(10),
                runs: 20,
                bench: false,
            },
        }
    }

    /// Patience for any one wait: 5 min in the short run (an alarm, not a goal: the figures
    /// are what the table prints); in the bench, 10 min per 1,000 databases, so a slow
    /// service still gets its figures printed.
    fn patience(&self) -> Duration {
        if self.bench {
            Duration::from_secs(600 * self.databases.div_ceil(1_000) as u64)
        } else {
            Duration::from_secs(300)
        }
    }
}

fn namespace_of(i: usize) -> String {
    format!("fleet-{:02}", i % NAMESPACES)
}

fn file_of(i: usize, db: &Db) -> String {
    format!("fleet/{}/{}.yaml", namespace_of(i), db.name)
}

/// Per gitops object (`ns/name`): whether it is Current, and its declared replicas.
#[derive(Default)]
struct Fleet {
    objects: HashMap<String, (bool, Option<u64>)>,
}

impl Fleet {
    fn current(&self) -> usize {
        self.objects
            .values()
            .filter(|(current, _)| *current)
            .count()
    }

    fn is_current_with(&self, key: &str, replicas: u64) -> bool {
        self.objects.get(key) == Some(&(true, Some(replicas)))
    }
}

/// (when the watch delivered it, `ns/database`) of every new OpsRequest.
type OpsSeen = Arc<Mutex<Vec<(Instant, String)>>>;

/// Watches every gitops object and every OpsRequest of the cluster (until the tasks are
/// aborted: an open watch holds up the API server's shutdown).
fn watch(
    client: &kube::Client,
    fleet: Arc<Mutex<Fleet>>,
    ops: OpsSeen,
) -> [tokio::task::JoinHandle<()>; 2] {
    let gitops: Api<DynamicObject> = Api::all_with(client.clone(), &kinds::gitops_postgres());
    let objects = tokio::spawn(async move {
        let stream = watcher(gitops, watcher::Config::default());
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = event {
                let value = to_value(&o);
                let key = format!(
                    "{}/{}",
                    value["metadata"]["namespace"].as_str().unwrap_or(""),
                    value["metadata"]["name"].as_str().unwrap_or("")
                );
                let replicas = value.pointer("/spec/replicas").and_then(Value::as_u64);
                fleet
                    .lock()
                    .unwrap()
                    .objects
                    .insert(key, (is_current(&value), replicas));
            }
        }
    });
    let requests: Api<DynamicObject> = Api::all_with(client.clone(), &kinds::ops_request());
    let created = tokio::spawn(async move {
        let mut known = std::collections::HashSet::new();
        let stream = watcher(requests, watcher::Config::default());
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = event {
                let at = Instant::now();
                let value = to_value(&o);
                let ns = value["metadata"]["namespace"].as_str().unwrap_or("");
                let name = value["metadata"]["name"].as_str().unwrap_or("");
                if known.insert(format!("{ns}/{name}")) {
                    let db = value
                        .pointer("/spec/databaseRef/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    ops.lock().unwrap().push((at, format!("{ns}/{db}")));
                }
            }
        }
    });
    [objects, created]
}

async fn wait_until(what: &str, patience: Duration, mut done: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + patience;
    loop {
        if done() {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `command` under heaptrack's preload library; `heaptrack_interpret` writes the profile
/// to `<output>.zst` (read it with `heaptrack_print -f`).
fn heaptrack(command: &mut Command, output: &str) -> std::process::Child {
    const LIBRARY: &str = "/usr/lib/heaptrack";
    let fifo = format!("{output}.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success(), "mkfifo {fifo}");
    let interpreter = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{LIBRARY}/libexec/heaptrack_interpret < '{fifo}' | zstd -q -c > '{output}.zst'; rm -f '{fifo}'"
        ))
        .spawn()
        .expect("starting heaptrack_interpret");
    command
        .env("LD_PRELOAD", format!("{LIBRARY}/libheaptrack_preload.so"))
        .env("DUMP_HEAPTRACK_OUTPUT", &fifo);
    interpreter
}

/// The `pg-gitops` binary, killed if the test ends without stopping it.
/// With heaptrack, the second child is its interpreter, which ends after the binary.
struct Binary(Option<std::process::Child>, Option<std::process::Child>);

impl Binary {
    fn start(config_file: &Path, kubeconfig: &Path, log: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pg-gitops"));
        let interpreter = std::env::var("PG_GITOPS_FLEET_HEAPTRACK")
            .ok()
            .map(|output| heaptrack(&mut command, &output));
        let child = command
            .args(["run", "--config"])
            .arg(config_file)
            .env("KUBECONFIG", kubeconfig)
            // Info lines only when the log is kept: at fleet size they cost the service time.
            .env(
                "RUST_LOG",
                match std::env::var_os("PG_GITOPS_FLEET_LOG") {
                    Some(_) => "info",
                    None => "warn",
                },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("starting pg-gitops");
        Self(Some(child), interpreter)
    }

    fn pid(&self) -> u32 {
        self.0.as_ref().expect("the service runs").id()
    }

    /// (VmRSS, VmHWM) in KiB, from /proc/PID/status.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the service is running");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {status}"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGTERM (a clean shutdown), then waits for the exit.
    async fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("the service runs");
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let status = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::task::spawn_blocking(move || child.wait()),
        )
        .await
        .expect("the service stops within 30 s of SIGTERM")
        .unwrap()
        .unwrap();
        if let Some(mut interpreter) = self.1.take() {
            // The profile is complete once heaptrack's interpreter has read to the end.
            let _ = tokio::task::spawn_blocking(move || interpreter.wait()).await;
        }
        status
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        for mut child in [self.0.take(), self.1.take()].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn reasons(entries: &[Entry]) -> String {
    let counts: BTreeMap<String, usize> = by_reason(entries);
    counts
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// The simulator on a thread and runtime of its own, as KubeDB runs in a process of its own.
/// Each of its passes walks the whole fleet; on the test's runtime, at 10,000 databases, those
/// passes held back the watch that stops the test's webhook → OpsRequest clock by 90–180 ms in
/// about half the commits (the service's log and the API server's audit log showed the
/// OpsRequest created long before).
struct SimThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), kubedb_sim::RunError>>>,
}

impl SimThread {
    fn start(config: kube::Config, sim: SimConfig) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("the simulator's runtime");
            runtime.block_on(async move {
                let client = kube::Client::try_from(config).expect("the simulator's client");
                kubedb_sim::run(client, sim, async move {
                    let _ = stopped.await;
                })
                .await
            })
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    async fn stop(mut self) -> Result<(), kubedb_sim::RunError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let thread = self.thread.take().expect("the simulator runs");
        tokio::task::spawn_blocking(move || thread.join().expect("the simulator did not panic"))
            .await
            .unwrap()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_converges_and_a_one_file_commit_writes_only_its_database() {
    let size = Size::from_env();
    let n = size.databases;
    let patience = size.patience();
    let cluster = OwnCluster::start("fleet").await;
    let client = cluster.client();
    ensure_versions(&client).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for i in 0..NAMESPACES {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(namespace_of(i)),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let mut sim_config = SimConfig::new(Duration::from_millis(200));
    sim_config.provisioning_duration = Duration::from_millis(100);
    let sim = SimThread::start(cluster.config(), sim_config);

    // One commit with every manifest: fleet/<namespace>/<name>.yaml.
    let repo = TestRepo::new();
    std::fs::remove_file(repo.work.join("fleet/db.yaml")).unwrap();
    let dbs: Vec<Db> = (0..n).map(|i| Db::new(&format!("db{i:05}"))).collect();
    for (i, db) in dbs.iter().enumerate().skip(1) {
        let path = repo.work.join(file_of(i, db));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, db.yaml(&namespace_of(i))).unwrap();
    }
    repo.commit(
        &file_of(0, &dbs[0]),
        &dbs[0].yaml(&namespace_of(0)),
        "the fleet",
    );

    let fleet = Arc::new(Mutex::new(Fleet::default()));
    let ops: OpsSeen = Arc::default();
    let watches = watch(&client, fleet.clone(), ops.clone());

    let secret_file = repo.temp.path().join("webhook-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let mut config = Config::default();
    config.source.kind = SourceKind::Git;
    config.source.url = Some(repo.file_url());
    config.source.path = "fleet".into();
    config.source.work_dir = repo.work_dir("clone");
    // Only the webhook fetches.
    config.source.poll_interval = Seconds(Duration::from_secs(3600));
    config.source.poll_jitter = Seconds(Duration::ZERO);
    config.source.timeout = Seconds(Duration::from_secs(120));
    config.server.listen = test_support::free_port();
    config.server.webhooks.generic_secret_file = Some(secret_file);
    config.reconcile.instance = Some("fleet-bench".into());
    config.reconcile.resync_interval = Seconds(size.idle / 2);
    // `reconcile.concurrency` for a run that compares settings (default: the service's).
    if let Some(concurrency) = std::env::var("PG_GITOPS_FLEET_CONCURRENCY")
        .ok()
        .and_then(|text| text.parse().ok())
    {
        config.reconcile.concurrency = concurrency;
    }
    let config_file = repo.temp.path().join("config.toml");
    write_config(&config, &config_file);
    let listen = config.server.listen;

    let mut audit = AuditLog::from_end(cluster.audit_log());
    let started = Instant::now();
    let started_at = jiff::Timestamp::now();
    let service = Binary::start(
        &config_file,
        &cluster.kubeconfig_path(),
        &repo.temp.path().join("pg-gitops.log"),
    );

    if size.bench {
        // For a profiler to attach (`perf record -g -p PID`, `heaptrack -p PID`).
        eprintln!("fleet: {n} databases, pg-gitops pid {}", service.pid());
    }

    // 1. Start until every database is Ready (Current).
    let mut next_report = Instant::now() + Duration::from_secs(10);
    let ready_at = wait_until("every database Current", patience, || {
        let current = fleet.lock().unwrap().current();
        if size.bench && Instant::now() > next_report {
            eprintln!(
                "fleet: {current}/{n} Current after {:.0} s",
                started.elapsed().as_secs_f64()
            );
            next_report += Duration::from_secs(10);
        }
        current == n
    })
    .await;
    let to_ready = ready_at - started;
    let converge = audit
        .pg_gitops_until_quiet(Duration::from_secs(3), patience)
        .await;
    let (rss_converged, _) = service.memory();
    // pg-gitops' share of the start: when the API server received its last create of a
    // database (the rest is KubeDB's, here the simulator's, provisioning and reporting Ready).
    let provisioned_by = converge
        .iter()
        .filter(|e| e.reason() == "provision")
        .filter_map(|e| {
            e.request_received_timestamp
                .as_deref()?
                .parse::<jiff::Timestamp>()
                .ok()
        })
        .max()
        .map(|last| {
            (last - started_at)
                .total(jiff::Unit::Second)
                .unwrap_or(f64::NAN)
        });

    // 2. Idle: nothing changes; the resync recomputes every database meanwhile.
    let reconciles_before = reconciles(listen).await;
    tokio::time::sleep(size.idle).await;
    let idle_writes = audit.pg_gitops_writes();
    let idle_reconciles = reconciles(listen).await - reconciles_before;

    // 3. A one-file commit: one database's replicas.
    let changed_index = n / 2;
    let changed_key = format!(
        "{}/{}",
        namespace_of(changed_index),
        dbs[changed_index].name
    );
    let mut changed = dbs[changed_index].clone();
    changed.replicas = 4;
    let commit = repo.commit(
        &file_of(changed_index, &changed),
        &changed.yaml(&namespace_of(changed_index)),
        "one database: four replicas",
    );
    let response = deliver_over_tcp(listen, Provider::Generic, SECRET, &commit).await;
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    wait_until("the changed database Current again", patience, || {
        fleet.lock().unwrap().is_current_with(&changed_key, 4)
    })
    .await;
    let one_file = audit.pg_gitops_writes();
    let trailing = audit
        .pg_gitops_until_quiet(Duration::from_secs(3), patience)
        .await;

    // 4. Webhook → OpsRequest, one more database changed per commit.
    let (mut latencies, mut created_latencies) = (Vec::new(), Vec::new());
    for run in 0..size.runs {
        let i = (changed_index + 1 + run) % n;
        let key = format!("{}/{}", namespace_of(i), dbs[i].name);
        let mut db = dbs[i].clone();
        db.replicas = 4;
        let commit = repo.commit(
            &file_of(i, &db),
            &db.yaml(&namespace_of(i)),
            &format!("{}: four replicas", db.name),
        );
        let (clock, wall) = (Instant::now(), std::time::SystemTime::now());
        let response = deliver_over_tcp(listen, Provider::Generic, SECRET, &commit).await;
        assert!(response.starts_with("HTTP/1.1 202"), "{response}");
        let answered = clock.elapsed();
        let created = wait_until("the OpsRequest of the changed database", patience, || {
            ops.lock().unwrap().iter().any(|(_, of)| *of == key)
        })
        .await;
        let seen = ops
            .lock()
            .unwrap()
            .iter()
            .find(|(_, of)| *of == key)
            .map(|(at, _)| *at)
            .unwrap_or(created);
        latencies.push(seen - clock);
        wait_until("the changed database Current again", patience, || {
            fleet.lock().unwrap().is_current_with(&key, 4)
        })
        .await;
        // The API server's own clock: when it answered the service's create.
        let created_at = audit
            .pg_gitops_writes()
            .iter()
            .filter(|e| {
                e.reason() == "OpsRequest create" && e.object_ref.name.starts_with(&db.name)
            })
            .find_map(|e| {
                e.stage_timestamp
                    .as_deref()?
                    .parse::<jiff::Timestamp>()
                    .ok()
            })
            .expect("the audit log holds the OpsRequest's create");
        let wall = jiff::Timestamp::try_from(wall).unwrap();
        let created_after = Duration::try_from(created_at - wall).unwrap_or_default();
        created_latencies.push(created_after);
        if size.bench {
            // To lay beside the service's log (`PG_GITOPS_FLEET_LOG`): where the time went.
            eprintln!(
                "commit {run} ({key}, {}): delivered at {wall:.3}, 202 after {}, OpsRequest created after {} (API server's audit clock), seen after {}",
                &commit[..8],
                ms(answered),
                ms(created_after),
                ms(seen - clock),
            );
        }
    }
    let (rss_end, hwm_end) = service.memory();

    let mut sorted = latencies.clone();
    sorted.sort();
    created_latencies.sort();
    let one_file_list: Vec<String> = one_file.iter().map(Entry::describe).collect();
    let trailing_list: Vec<String> = trailing.iter().map(Entry::describe).collect();
    let idle_list: Vec<String> = idle_writes.iter().map(Entry::describe).collect();
    eprintln!(
        "\nfleet: {n} databases in {NAMESPACES} namespaces, pg-gitops pid {} ({} build)\n\
         | measure | value |\n|---|---|\n\
         | start until every database is Ready (Current) | {:.1} s |\n\
         | start until pg-gitops' last create of a database reached the API server | {:.1} s |\n\
         | writes to converge (until quiet 3 s) | {} ({}) |\n\
         | service RSS after convergence | {} |\n\
         | writes in {} idle seconds (resync every {:?}: {} reconciles) | {} |\n\
         | writes for a one-file commit, until that database is Current again | {} ({}) |\n\
         | then, until quiet 3 s | {} |\n\
         | webhook → OpsRequest, {} commits | p50 {}, p99 {}, min {}, max {} |\n\
         | webhook → OpsRequest created (API server's audit clock) | p50 {}, p99 {}, min {}, max {} |\n\
         | service RSS / VmHWM at the end | {} / {} |\n\
         one-file commit writes: {one_file_list:#?}\ntrailing: {trailing_list:#?}",
        service.pid(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        to_ready.as_secs_f64(),
        provisioned_by.unwrap_or(f64::NAN),
        converge.len(),
        reasons(&converge),
        mib(rss_converged),
        size.idle.as_secs(),
        size.idle / 2,
        idle_reconciles,
        idle_writes.len(),
        one_file.len(),
        reasons(&one_file),
        trailing.len(),
        sorted.len(),
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99)),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1]),
        ms(percentile(&created_latencies, 0.5)),
        ms(percentile(&created_latencies, 0.99)),
        ms(created_latencies[0]),
        ms(created_latencies[created_latencies.len() - 1]),
        mib(rss_end),
        mib(hwm_end),
    );

    let status = service.stop().await;
    sim.stop().await.expect("the simulator ran until stopped");
    for task in watches {
        task.abort();
    }
    cluster.stop().await;

    // Behaviour: idle means no write at all, also while every database is recomputed.
    assert!(idle_writes.is_empty(), "writes while idle: {idle_list:#?}");
    assert!(
        idle_reconciles >= n as f64,
        "the resync recomputed every database while idle ({idle_reconciles} reconciles)"
    );
    // Behaviour: a one-file commit writes only about that database, its gitops object once.
    let mut all = one_file.clone();
    all.extend(trailing.iter().cloned());
    let (changed_ns, changed_name) = changed_key.split_once('/').unwrap();
    for write in &all {
        assert!(
            write.object_ref.namespace == changed_ns
                && write.object_ref.name.starts_with(changed_name),
            "a write about another database: {}",
            write.describe()
        );
    }
    assert_eq!(
        all.iter().filter(|w| w.reason() == "gitops apply").count(),
        1,
        "{one_file_list:#?} {trailing_list:#?}"
    );
    // Behaviour: each database provisioned once (no create on a cache that lags behind the
    // first one, answered AlreadyExists).
    assert_eq!(
        converge
            .iter()
            .filter(|w| w.reason() == "provision")
            .count(),
        n,
        "{}",
        reasons(&converge)
    );
    // Regression alarms, not goals: generous bounds.
    assert!(all.len() <= 30, "{one_file_list:#?} {trailing_list:#?}");
    assert!(
        latencies.iter().all(|d| *d < Duration::from_secs(20)),
        "{latencies:?}"
    );
    assert!(
        hwm_end < 1024 * 1024 * n.div_ceil(1_000) as u64,
        "VmHWM {}",
        mib(hwm_end)
    );
    assert!(status.success(), "the service exited with {status}");
    // The service's log, for where a commit's time went (`fetch_ms`, `load_ms`,
    // `compare_ms` of each snapshot).
    if let Ok(keep) = std::env::var("PG_GITOPS_FLEET_LOG") {
        std::fs::copy(repo.temp.path().join("pg-gitops.log"), keep).expect("the service's log");
    }
}
