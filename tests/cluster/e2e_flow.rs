//! End to end (issue 5, "What it must show"): the whole service in-process (`run_until`) or as
//! the `pg-gitops` binary, on the real API server, with `kubedb-sim` in-process and a real Git
//! repository pushed to with the `git` CLI. Each test has its own namespace, simulator and
//! repository; the service is scoped to the namespace.
//!
//!     cargo test --test e2e_flow

mod safety;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use test_support::e2e::*;
use test_support::kinds;
use test_support::kinds::{databases_api, gitops_api};

/// How long a simulated OpsRequest stays Progressing in these tests.
const STEP: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_manifest_creates_the_database_and_status_says_current() {
    let sim = sim_namespace("e2e-new", STEP).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let alpha = Db::new("alpha");
    let fleet = Fleet::new(&ns, &[&alpha]);
    let service = Service::start(fleet.config("e2e-new"), client.clone());
    service.ready().await;

    let status = wait_current(&client, &ns, &alpha).await;
    assert_eq!(
        status["metadata"]["annotations"]["gitops.kubedb.com/revision"],
        json!(fleet.repo.head()),
        "the sync stage records the Git revision"
    );

    // A manifest pushed while the service runs: the database is created and becomes Ready.
    let beta = Db::new("beta");
    let pushed = fleet.push(&[&alpha, &beta], "add beta");
    let status = wait_current(&client, &ns, &beta).await;
    assert_eq!(
        status["metadata"]["annotations"]["gitops.kubedb.com/revision"],
        json!(pushed)
    );
    assert_eq!(condition(&status, "Ready").unwrap().0, "True", "{status:#}");
    assert_eq!(condition(&status, "Reconciling").unwrap().0, "False");
    assert_eq!(condition(&status, "Stalled").unwrap().0, "False");
    assert_eq!(change_request_status(&status), "Current");
    assert_eq!(phase_of(&status), "Ready");
    for db in [&alpha, &beta] {
        let live = to_value(&databases_api(&client, &ns).get(&db.name).await.unwrap());
        assert_eq!(phase_of(&live), "Ready", "{live:#}");
        db.assert_live_matches(&live);
        assert!(
            live["metadata"]["annotations"]["gitops.kubedb.com/last-applied"].is_string(),
            "the last-applied record is written at Provision: {live:#}"
        );
        assert!(
            ops_of(&client, &ns, &db.name).await.is_empty(),
            "a new database needs no OpsRequest"
        );
        let reasons = event_reasons(&client, &ns, &db.name).await;
        assert!(reasons.contains(&"Provisioned".to_string()), "{reasons:?}");
    }
    service.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_commit_with_five_changes_makes_five_ops_requests_one_after_another() {
    let sim = sim_namespace("e2e-five", STEP).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let orders = Db::new("orders");
    let fleet = Fleet::new(&ns, &[&orders]);
    let service = Service::start(fleet.config("e2e-five"), client.clone());
    service.ready().await;
    wait_current(&client, &ns, &orders).await;

    let changed = orders.five_changes();
    let pushed = fleet.push(
        &[&changed],
        "orders: fewer replicas, more disk and memory, 17.2, new config",
    );
    let status = wait_current(&client, &ns, &changed).await;

    let ops = ops_of(&client, &ns, "orders").await;
    assert_eq!(ops.len(), 5, "exactly five OpsRequests: {ops:#?}");
    let names = assert_one_after_another(&sim.timeline, &ops, &FIVE_STEPS).await;
    for o in &ops {
        assert_eq!(phase_of(o), "Successful", "{o:#}");
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            json!("pg-gitops")
        );
        assert_eq!(
            o["metadata"]["labels"]["gitops.kubedb.com/database"],
            json!("orders")
        );
        assert_eq!(
            o["metadata"]["annotations"]["gitops.kubedb.com/revision"],
            json!(pushed)
        );
    }
    let live = to_value(&databases_api(&client, &ns).get("orders").await.unwrap());
    changed.assert_live_matches(&live);
    // Nothing more: a few seconds later there are still exactly these five.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let again: BTreeSet<String> = ops_of(&client, &ns, "orders")
        .await
        .iter()
        .map(name_of)
        .collect();
    assert_eq!(again, names.iter().cloned().collect::<BTreeSet<_>>());
    assert!(is_current(&to_value(
        &gitops_api(&client, &ns).get("orders").await.unwrap()
    )));
    // An Event for every step, naming its OpsRequest.
    let notes = event_notes(&client, &ns, "orders").await;
    for name in &names {
        assert!(
            notes.iter().any(|note| note.contains(name.as_str())),
            "no Event names {name}; the Events say: {notes:#?}"
        );
    }
    // The status lists the OpsRequests of this generation in the order they were created.
    let reported: Vec<_> = status["status"]["gitops"]["gitOpsInfo"][0]["operations"]
        .as_array()
        .expect("the operations of this generation")
        .iter()
        .map(|o| (o["name"].as_str().unwrap().to_string(), o["status"].clone()))
        .collect();
    assert_eq!(
        reported,
        names
            .iter()
            .map(|n| (n.clone(), json!("Successful")))
            .collect::<Vec<_>>(),
        "status lists the five OpsRequests in the order they were created"
    );

    service.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ops_request_stalls_its_database_only_and_the_retry_annotation_retries() {
    let sim = sim_namespace("e2e-fail", STEP).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let flaky = Db::new("flaky");
    let steady = Db::new("steady");
    let fleet = Fleet::new(&ns, &[&flaky, &steady]);
    let mut config = fleet.config("e2e-fail");
    // Resyncs every second: the stalled database is recomputed again and again below.
    config.reconcile.resync_interval = pg_gitops::config::Seconds(Duration::from_secs(1));
    let service = Service::start(config, client.clone());
    service.ready().await;
    wait_current(&client, &ns, &flaky).await;
    wait_current(&client, &ns, &steady).await;

    let message = "resize of flaky-0 failed: device busy";
    annotate(
        &databases_api(&client, &ns),
        "flaky",
        json!({"sim.kubedb.com/fail": "VerticalScaling", "sim.kubedb.com/fail-message": message}),
    )
    .await;
    // flaky: VolumeExpansion, VerticalScaling (fails), then UpdateVersion would follow.
    let flaky2 = Db {
        storage: "2Gi".into(),
        cpu: "1".into(),
        memory: "1Gi".into(),
        version: "17.2".into(),
        ..flaky.clone()
    };
    let steady2 = steady.five_changes();
    fleet.push(&[&flaky2, &steady2], "both databases change");

    let stalled = wait_gitops(&client, &ns, "flaky", "Stalled", |o| {
        spec_declares(&o["spec"], &flaky2.spec())
            && condition(o, "Stalled").is_some_and(|(status, _, _)| status == "True")
    })
    .await;
    let (_, reason, stalled_message) = condition(&stalled, "Stalled").unwrap();
    assert!(stalled_message.contains(message), "{stalled_message}");
    assert_eq!(reason, "OpsRequestFailed");
    assert_eq!(condition(&stalled, "Ready").unwrap().0, "False");
    assert_eq!(change_request_status(&stalled), "Failed");
    let failed_ops = in_creation_order(&sim.timeline, &ops_of(&client, &ns, "flaky").await).await;
    let kinds: Vec<_> = failed_ops
        .iter()
        .map(|o| (type_of(o), phase_of(o)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("VolumeExpansion".to_string(), "Successful".to_string()),
            ("VerticalScaling".to_string(), "Failed".to_string())
        ],
        "flaky stops at the failed request"
    );
    let failed_name = name_of(&failed_ops[1]);
    assert!(stalled_message.contains(&failed_name), "{stalled_message}");
    let notes = eventually("a Stalled event", || async {
        let notes = event_notes(&client, &ns, "flaky").await;
        if notes.iter().any(|n| n.contains(message)) {
            Ok(notes)
        } else {
            Err(format!("{notes:#?}"))
        }
    })
    .await;
    assert!(
        event_reasons(&client, &ns, "flaky")
            .await
            .contains(&"Stalled".to_string()),
        "{notes:#?}"
    );

    // The other database carries on through all five of its steps meanwhile.
    wait_current(&client, &ns, &steady2).await;
    let steady_ops = ops_of(&client, &ns, "steady").await;
    assert_one_after_another(&sim.timeline, &steady_ops, &FIVE_STEPS).await;
    assert_eq!(
        ops_of(&client, &ns, "flaky").await.len(),
        2,
        "no further OpsRequest for the stalled database"
    );
    // Ten seconds of resyncs recompute it about ten times: still exactly one OpsRequest per
    // intent (no hot loop), and the metrics say it is stalled. The long run (issue 13: ten
    // minutes of resyncs) is `PG_GITOPS_STALLED_SECONDS=600`.
    let window: u64 = std::env::var("PG_GITOPS_STALLED_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let before = reconciles(service.listen).await;
    tokio::time::sleep(Duration::from_secs(window)).await;
    let after = reconciles(service.listen).await;
    let metrics = http_get(service.listen, "/metrics").await;
    eprintln!(
        "a stalled database: {} reconciles in {window} s, OpsRequests of it: {}",
        after - before,
        ops_of(&client, &ns, "flaky").await.len()
    );
    assert!(
        after - before >= window as f64,
        "resyncs ran: {before} -> {after}"
    );
    assert_eq!(ops_of(&client, &ns, "flaky").await.len(), 2, "no hot loop");
    assert!(
        metrics.contains("pg_gitops_databases{state=\"stalled\"} 1"),
        "{metrics}"
    );

    // Lifting the fault alone does not retry: the failed request is not re-created.
    annotate(
        &databases_api(&client, &ns),
        "flaky",
        json!({"sim.kubedb.com/fail": null, "sim.kubedb.com/fail-message": null}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ops_of(&client, &ns, "flaky").await.len(), 2);
    let still = to_value(&gitops_api(&client, &ns).get("flaky").await.unwrap());
    assert_eq!(condition(&still, "Stalled").unwrap().0, "True", "{still:#}");

    // Bumping the retry annotation retries: a new VerticalScaling, then UpdateVersion.
    annotate(
        &gitops_api(&client, &ns),
        "flaky",
        json!({"gitops.kubedb.com/retry": "1"}),
    )
    .await;
    wait_current(&client, &ns, &flaky2).await;
    let ops = ops_of(&client, &ns, "flaky").await;
    let created = in_creation_order(&sim.timeline, &ops).await;
    let kinds: Vec<_> = created.iter().map(|o| (type_of(o), phase_of(o))).collect();
    assert_eq!(
        kinds,
        [
            ("VolumeExpansion".to_string(), "Successful".to_string()),
            ("VerticalScaling".to_string(), "Failed".to_string()),
            ("VerticalScaling".to_string(), "Successful".to_string()),
            ("UpdateVersion".to_string(), "Successful".to_string()),
        ]
    );
    let names: BTreeSet<String> = ops.iter().map(name_of).collect();
    assert_eq!(names.len(), 4, "the retry has a new name: {names:?}");
    flaky2.assert_live_matches(&to_value(
        &databases_api(&client, &ns).get("flaky").await.unwrap(),
    ));
    service.stop().await;
    sim.stop().await;
}

/// The `pg-gitops` binary as a child process; killed with SIGKILL when dropped.
struct Binary(Child);

impl Binary {
    /// SIGKILL: no shutdown, no lease release, nothing flushed.
    fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(addr: std::net::SocketAddr, log: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !http_get(addr, "/readyz").await.starts_with("HTTP/1.1 200") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pg-gitops is not ready; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_killed_mid_sequence_continues_after_a_restart_without_duplicates() {
    let cluster = test_support::cluster().await;
    let sim = sim_namespace("e2e-kill", Duration::from_millis(1500)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let db = Db::new("ledger");
    let fleet = Fleet::new(&ns, &[&db]);
    let config = fleet.config("e2e-kill");
    let config_file = fleet.repo.temp.path().join("config.toml");
    let log = fleet.repo.temp.path().join("pg-gitops.log");
    write_config(&config, &config_file);
    let kubeconfig = cluster.kubeconfig_path().to_path_buf();
    let start = || {
        // The child reads the cluster from KUBECONFIG.
        let child = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
            .args(["run", "--config"])
            .arg(&config_file)
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(open_append(&log))
            .stderr(open_append(&log))
            .spawn()
            .expect("starting pg-gitops");
        Binary(child)
    };

    let mut first = start();
    wait_ready(config.server.listen, &log).await;
    wait_current(&client, &ns, &db).await;
    let changed = db.five_changes();
    fleet.push(&[&changed], "five changes");
    // Kill it as soon as the second OpsRequest exists (the first has just succeeded).
    eventually("a second OpsRequest", || async {
        let ops = ops_of(&client, &ns, "ledger").await;
        if ops.len() >= 2 {
            Ok(())
        } else {
            Err(format!("{} OpsRequests", ops.len()))
        }
    })
    .await;
    first.kill();
    let at_kill = ops_of(&client, &ns, "ledger").await;
    assert!(
        at_kill.len() < 5,
        "the kill landed after the sequence: {at_kill:#?}"
    );
    // While nothing runs the open request completes; nothing new appears.
    let at_kill = in_creation_order(&sim.timeline, &at_kill).await;
    let open = name_of(at_kill.last().unwrap());
    wait_ops_finished(&client, &ns, &open).await;
    assert_eq!(ops_of(&client, &ns, "ledger").await.len(), at_kill.len());

    let second = start();
    wait_ready(config.server.listen, &log).await;
    wait_current(&client, &ns, &changed).await;
    let ops = ops_of(&client, &ns, "ledger").await;
    let names: BTreeSet<String> = ops.iter().map(name_of).collect();
    assert_eq!(
        ops.len(),
        5,
        "exactly five OpsRequests across the restart: {names:?}"
    );
    assert_eq!(names.len(), 5, "every name is unique");
    for o in &at_kill {
        assert!(
            names.contains(&name_of(o)),
            "the requests made before the kill are kept"
        );
    }
    assert_one_after_another(&sim.timeline, &ops, &FIVE_STEPS).await;
    changed.assert_live_matches(&to_value(
        &databases_api(&client, &ns).get("ledger").await.unwrap(),
    ));
    drop(second);
    sim.stop().await;
}

fn open_append(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_reconciles_objects_created_by_a_plain_client() {
    let sim = sim_namespace("e2e-cluster", STEP).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let service = Service::start(base_config(&ns, "e2e-cluster"), client.clone());
    service.ready().await;

    // kubectl / Argo CD / Flux stand-in: a plain client creates and edits the gitops object.
    let gitops = gitops_api(&client, &ns);
    let db = Db::new("catalog");
    gitops
        .create(
            &PostParams::default(),
            &kinds::object(&kinds::gitops_postgres(), db.object(&ns)),
        )
        .await
        .unwrap();
    wait_current(&client, &ns, &db).await;
    db.assert_live_matches(&to_value(
        &databases_api(&client, &ns).get("catalog").await.unwrap(),
    ));

    let changed = db.five_changes();
    gitops
        .patch(
            "catalog",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": changed.spec()})),
        )
        .await
        .unwrap();
    wait_current(&client, &ns, &changed).await;
    let ops = ops_of(&client, &ns, "catalog").await;
    assert_eq!(ops.len(), 5, "{ops:#?}");
    let names = assert_one_after_another(&sim.timeline, &ops, &FIVE_STEPS).await;
    changed.assert_live_matches(&to_value(
        &databases_api(&client, &ns).get("catalog").await.unwrap(),
    ));
    let object = to_value(&gitops.get("catalog").await.unwrap());
    assert!(
        object["metadata"]["annotations"]["gitops.kubedb.com/revision"].is_null(),
        "no sync stage runs in cluster mode: {object:#}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again: BTreeSet<String> = ops_of(&client, &ns, "catalog")
        .await
        .iter()
        .map(name_of)
        .collect();
    assert_eq!(again, names.into_iter().collect::<BTreeSet<_>>());
    service.stop().await;
    sim.stop().await;
}
