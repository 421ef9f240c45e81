//! Planning a fleet of 10,000 databases: parse and validate the manifests from disk, diff them
//! against live objects full of KubeDB defaults, and order the steps. A mix of changes: half
//! in sync, the rest split over scaling, volume, version, resources + configuration, restart
//! fields, and new databases.
//!
//! Run: `cargo bench --bench plan`. Figures go to BENCHMARKS.md.

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
                .insert((namespace, format!("db-{i:05}")), live(i));
        }
    }
    state
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let state = fleet(dir.path());
    let options = LoadOptions::default();
    let settings = PlanSettings::default();
    let set = load_dir(dir.path(), &options);
    assert_eq!(set.manifests.len(), DATABASES, "{:?}", set.errors.first());
    let report = plan_all(&set, &state, &settings, Some("bench"));
    let steps: usize = report.databases.iter().map(|d| d.steps.len()).sum();
    eprintln!("fleet: {DATABASES} databases, {steps} steps planned");

    let mut group = c.benchmark_group("plan_10k_databases");
    group.sample_size(10);
    group.bench_function("load_validate_and_plan", |b| {
        b.iter(|| {
            let set = load_dir(black_box(dir.path()), &options);
            black_box(plan_all(&set, &state, &settings, Some("bench")))
        });
    });
    group.bench_function("plan_only", |b| {
        b.iter(|| black_box(plan_all(&set, &state, &settings, Some("bench"))))
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
