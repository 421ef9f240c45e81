//! The pull-request plan against the real API server (issue 14, part 1): the command line of
//! `examples/ci`, run in a real Git repository, reads the live databases and the version
//! catalog from the cluster (no `--live` files) and writes the markdown comment. The
//! databases are made Ready by kubedb-sim, standing in for KubeDB's operator.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use test_support::e2e::{Db, ensure_versions};
use test_support::git::repo::git;
use test_support::sim::SimNamespace;

fn commit(work: &Path, dbs: &[&Db], ns: &str, message: &str) -> String {
    for db in dbs {
        std::fs::write(
            work.join("fleet").join(format!("{}.yaml", db.name)),
            db.yaml(ns),
        )
        .unwrap();
    }
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", message]);
    git(work, &["rev-parse", "HEAD"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_is_planned_against_the_live_cluster_as_a_markdown_comment() {
    let sim = SimNamespace::start("plan-pr", Duration::from_millis(200)).await;
    ensure_versions(&sim.client).await;
    let ns = sim.namespace.clone();
    let dbs: Vec<Db> = ["billing", "orders", "analytics", "users"]
        .iter()
        .map(|name| Db::new(name))
        .collect();
    for db in &dbs {
        sim.ready_database(&db.name, db.spec()).await;
    }
    let temp = tempfile::tempdir().unwrap();
    let work = temp.path().to_path_buf();
    std::fs::create_dir_all(work.join("fleet")).unwrap();
    git(&work, &["init", "-q"]);
    let refs: Vec<&Db> = dbs.iter().collect();
    let base = commit(&work, &refs, &ns, "four databases");
    // The pull request: billing to 17.2, two more replicas for orders, analytics' disk grown
    // offline; users untouched.
    let billing = Db {
        version: "17.2".into(),
        ..dbs[0].clone()
    };
    let orders = Db {
        replicas: 5,
        ..dbs[1].clone()
    };
    let analytics = Db {
        storage: "5Gi".into(),
        annotations: serde_json::json!({"gitops.kubedb.com/volume-expansion-mode": "Offline"}),
        ..dbs[2].clone()
    };
    let head = commit(
        &work,
        &[&billing, &orders, &analytics],
        &ns,
        "the pull request",
    );

    let binary = PathBuf::from(env!("CARGO_BIN_EXE_pg-gitops"));
    let kubeconfig = test_support::cluster()
        .await
        .kubeconfig_path()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let command = test_support::ci_example_command("github-actions.yaml");
    let output = tokio::task::spawn_blocking({
        let work = work.clone();
        move || {
            Command::new("sh")
                .arg("-c")
                .arg(format!("code=0\n{command}\nexit $code"))
                .current_dir(&work)
                .env("PATH", path)
                .env("BASE", &base)
                .env("HEAD", &head)
                .env_remove("LIVE")
                .env("KUBECONFIG", kubeconfig)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let comment = std::fs::read_to_string(work.join("plan.md")).unwrap();
    eprintln!("{comment}");
    assert_eq!(
        output.status.code(),
        Some(1),
        "changes planned: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = comment.lines().nth(1).unwrap();
    assert!(
        summary.contains("3 databases change, 3 OpsRequests (1 restart pods, 1 take downtime, 2 irreversible), 0 errors"),
        "{summary}"
    );
    let row = |name: &str| {
        comment
            .lines()
            .find(|line| line.starts_with(&format!("| `{ns}/{name}`")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{comment}"))
            .to_string()
    };
    assert!(
        row("billing").contains("| UpdateVersion | yes |  | yes |"),
        "{}",
        row("billing")
    );
    assert!(
        row("orders").contains("| HorizontalScaling |  |  |  |"),
        "{}",
        row("orders")
    );
    assert!(
        row("analytics").contains("| VolumeExpansion |  | yes | yes |"),
        "{}",
        row("analytics")
    );
    assert!(
        !comment.contains(&format!("`{ns}/users`")),
        "users is unchanged"
    );
    sim.stop().await;
}
