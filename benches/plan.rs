//! Planning a fleet of 10,000 databases: parse and validate the manifests from disk, diff them
//! against live objects full of KubeDB defaults, and order the steps. A mix of changes: half
//! in sync, the rest split over scaling, volume, version, resources + configuration, restart
//! fields, and new databases.
//!
//! Run: `cargo bench --bench plan`. Figures go to BENCHMARKS.md. Under `cargo bench` it also
//! runs the `pg-gitops plan` command itself on the same fleet (live objects from files) and
//! prints its peak RSS: what planning 10,000 databases costs the one who runs it.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use pg_gitops::manifest::{LoadOptions, load_dir};
use pg_gitops::models::KubedbPostgres;
use pg_gitops::plan::{LiveState, PlanSettings, plan_all};
use serde_json::{Value, json};

/// The same allocator as the `pg-gitops` binary, so the figures are what the service sees.
#[cfg(not(feature = "heap-profile"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DATABASES: usize = 10_000;

fn desired(i: usize) -> Value {
    let mut spec = json!({
        "version": "16.4",
        "replicas": 3,
        "storage": {"storageClassName": "standard", "resources": {"requests": {"storage": "10Gi"}}},
        "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}},
        "deletionPolicy": "WipeOut"
    });
    match i % 10 {
        5 => spec["replicas"] = json!(5),
        6 => spec["storage"]["resources"]["requests"]["storage"] = json!("20Gi"),
        7 => spec["version"] = json!("17.2"),
        8 => {
            spec["podTemplate"]["spec"]["containers"][0]["resources"] =
                json!({"requests": {"cpu": "2", "memory": "4Gi"}});
            spec["configuration"] = json!({"secretName": format!("db-{i}-config")});
        }
        9 => spec["monitor"] = json!({"agent": "prometheus.io/builtin"}),
        _ => {}
    }
    spec
}

fn live(i: usize) -> KubedbPostgres {
    serde_json::from_value(json!({
        "apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": {"name": format!("db-{i:05}"), "namespace": format!("ns-{}", i % 50)},
        "spec": {
            "version": "16.4", "replicas": 3, "standbyMode": "Hot", "storageType": "Durable", "deletionPolicy": "WipeOut",
            "storage": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard", "resources": {"requests": {"storage": "10240Mi"}}},
            "authSecret": {"name": format!("db-{i:05}-auth"), "kind": "Secret"},
            "leaderElection": {"electionTick": 10, "heartbeatTick": 1, "period": "300ms"},
            "replication": {"walLimitPolicy": "WALKeepSize", "walKeepSize": 1536},
            "sslMode": "disable", "clientAuthMode": "md5",
            "podTemplate": {"spec": {"serviceAccountName": format!("db-{i:05}"), "containers": [
                {"name": "postgres", "resources": {"requests": {"cpu": "500m", "memory": "1024Mi"}, "limits": {"memory": "1Gi"}}},
                {"name": "pg-coordinator", "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}}}]}}
        },
        "status": {"phase": "Ready"}
    }))
    .expect("a valid live object")
}

/// Writes the manifests (one file per database, as fleets usually keep them) and builds the
/// live state; every 20th database does not exist yet and gets a Provision step.
fn fleet(dir: &Path) -> LiveState {
    let mut state = LiveState::default();
    for i in 0..DATABASES {
        let namespace = format!("ns-{}", i % 50);
        let document = json!({"apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
            "metadata": {"name": format!("db-{i:05}"), "namespace": namespace}, "spec": desired(i)});
        let folder = dir.join(&namespace);
        std::fs::create_dir_all(&folder).expect("a temp dir");
        std::fs::write(
            folder.join(format!("db-{i:05}.yaml")),
            pg_gitops::yaml::to_string(&document),
        )
        .expect("write");
        if i % 20 != 19 {
            state
                .databases
                .insert((namespace, format!("db-{i:05}")), live(i).into());
        }
    }
    state
}

/// Runs `pg-gitops plan` on the fleet, the live objects read from one file per database, and
/// returns its peak RSS in KiB (the kernel's `ru_maxrss` of the waited-for child).
fn peak_rss_of_the_plan_command(manifests: &Path, state: &LiveState) -> i64 {
    let live = tempfile::tempdir().expect("a temp dir");
    for ((namespace, name), database) in &state.databases {
        let value = serde_json::to_value(database.expand().expect("a bench object reads back"))
            .expect("a live object serialises");
        std::fs::write(
            live.path().join(format!("{namespace}-{name}.yaml")),
            pg_gitops::yaml::to_string(&value),
        )
        .expect("write");
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .arg("plan")
        .arg("--manifests")
        .arg(manifests)
        .arg("--live")
        .arg(live.path())
        .output()
        .expect("pg-gitops plan runs");
    // 1: changes planned; 2: some databases with errors, as this fleet has (every tenth asks for
    // more memory than its live limit). Anything else is a failure of the command.
    assert!(
        matches!(output.status.code(), Some(1 | 2)),
        "pg-gitops plan: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        (String::from_utf8_lossy(&output.stdout).lines())
            .filter(|line| line.contains("error"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    usage.ru_maxrss
}

fn bench(c: &mut Criterion) {
    // As the binary does (src/memory.rs), so the RSS below is comparable.
    pg_gitops::memory::prefer_small_pages();
    let dir = tempfile::tempdir().expect("a temp dir");
    let state = fleet(dir.path());
    let options = LoadOptions::default();
    let settings = PlanSettings::default();
    let set = load_dir(dir.path(), &options);
    assert_eq!(set.manifests.len(), DATABASES, "{:?}", set.errors.first());
    let steps: usize = (plan_all(&set, &state, &settings, Some("bench"))
        .databases
        .iter())
    .map(|d| d.steps.len())
    .sum();
    eprintln!("fleet: {DATABASES} databases, {steps} steps planned");
    // Only when measuring: `cargo test --all-targets` runs this bench once, in a debug build.
    if std::env::args().any(|arg| arg == "--bench") {
        let peak = peak_rss_of_the_plan_command(dir.path(), &state);
        eprintln!("pg-gitops plan on this fleet: peak RSS {} MiB", peak / 1024);
    }

    let mut group = c.benchmark_group("plan_10k_databases");
    group.sample_size(10);
    group.bench_function("plan_only", |b| {
        b.iter(|| black_box(plan_all(&set, &state, &settings, Some("bench"))))
    });
    // One loaded fleet at a time, as in `pg-gitops plan`: the peak RSS below is then that of
    // one load and one plan, not of two fleets side by side.
    drop(set);
    group.bench_function("load_validate_and_plan", |b| {
        b.iter(|| {
            let set = load_dir(black_box(dir.path()), &options);
            black_box(plan_all(&set, &state, &settings, Some("bench")))
        });
    });
    group.finish();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status
            .lines()
            .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
        {
            eprintln!("{line}");
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
