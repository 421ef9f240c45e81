//! Change control on the real API server, with kubedb-sim standing in for KubeDB's operator:
//! approvals, maintenance windows and the fleet budget (issue 14, parts 2 to 4). The service
//! runs in cluster mode; a plain client plays Argo CD / Flux and edits the gitops objects.

use std::time::Duration;

use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};
use test_support::e2e::*;
use test_support::kinds::gitops_api;
use test_support::sim::SimNamespace;

const STEP: Duration = Duration::from_millis(300);

/// The types of database `orders`' OpsRequests.
async fn types(sim: &SimNamespace) -> Vec<String> {
    ops_of(&sim.client, &sim.namespace, "orders")
        .await
        .iter()
        .map(type_of)
        .collect()
}

fn held_by(object: &Value, reason: &str) -> bool {
    condition(object, "Reconciling")
        .is_some_and(|(status, why, _)| status == "True" && why == reason)
        && object.pointer("/status/observedGeneration") == object.pointer("/metadata/generation")
}

/// The token in the gitops object's `AwaitingApproval` condition.
fn token_of(object: &Value) -> String {
    let (status, _, message) = condition(object, "AwaitingApproval").expect("AwaitingApproval");
    assert_eq!(status, "True");
    message
        .split("--step ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token in {message:?}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_version_waits_for_the_approval_of_its_own_token() {
    let sim = SimNamespace::start("approval", STEP).await;
    ensure_versions(&sim.client).await;
    let mut config = base_config(&sim.namespace, "approval");
    config.approval.required = pg_gitops::gate::ApprovalPolicy::parse(["UpdateVersion"]).unwrap();
    let service = Service::start(config, sim.client.clone());
    service.ready().await;
    let db = Db::new("orders");
    create_gitops(&sim.client, &sim.namespace, &db, json!({})).await;
    wait_current(&sim.client, &sim.namespace, &db).await;

    // A version bump: held, with a token, and no OpsRequest made.
    let bumped = Db {
        version: "17.2".into(),
        ..db.clone()
    };
    set_spec(&sim.client, &sim.namespace, &bumped).await;
    let held = wait_gitops(
        &sim.client,
        &sim.namespace,
        "orders",
        "awaiting approval",
        |o| held_by(o, "AwaitingApproval"),
    )
    .await;
    let first_token = token_of(&held);
    let operation = &held["status"]["gitops"]["gitOpsInfo"][0]["operations"][0];
    assert_eq!(operation["status"], "AwaitingApproval", "{held:#}");
    assert!(
        operation["name"].as_str().unwrap().ends_with(&first_token),
        "{held:#}"
    );
    let report = status_report(service.listen).await;
    let row = report
        .databases
        .iter()
        .find(|d| d.name == "orders")
        .unwrap();
    assert_eq!(row.waiting_for.as_deref(), Some("approval"));
    assert!(row.held.as_deref().unwrap().contains(&first_token));
    let gauge = metric(
        service.listen,
        "pg_gitops_databases_held{reason=\"approval\"}",
    )
    .await;
    assert_eq!(gauge, 1.0);
    let events = events_about(&sim.client, &sim.namespace, "orders").await;
    assert!(
        events
            .iter()
            .any(|(reason, _, note)| reason == "AwaitingApproval" && note.contains(&first_token)),
        "{events:?}"
    );

    // A new commit before anyone approved: the token changes (the gitops object's generation
    // is in the OpsRequest's name), so an approval of the intent a reviewer saw earlier never
    // approves this one.
    let changed_again = Db {
        replicas: 2,
        ..bumped.clone()
    };
    set_spec(&sim.client, &sim.namespace, &changed_again).await;
    // The replicas change needs no approval and runs; the version bump waits again.
    let held_again = wait_gitops(
        &sim.client,
        &sim.namespace,
        "orders",
        "awaiting approval again",
        |o| held_by(o, "AwaitingApproval") && token_of(o) != first_token,
    )
    .await;
    let second_token = token_of(&held_again);
    annotate(
        &gitops_api(&sim.client, &sim.namespace),
        "orders",
        json!({"gitops.kubedb.com/approved": first_token}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = wait_gitops(&sim.client, &sim.namespace, "orders", "still held", |o| {
        held_by(o, "AwaitingApproval")
    })
    .await;
    assert_eq!(token_of(&still), second_token);
    assert!(
        types(&sim).await.iter().all(|kind| kind != "UpdateVersion"),
        "no UpdateVersion before its approval: {:?}",
        types(&sim).await
    );

    // Approved: it runs and the database matches Git.
    annotate(
        &gitops_api(&sim.client, &sim.namespace),
        "orders",
        json!({"gitops.kubedb.com/approved": format!("{first_token},{second_token}")}),
    )
    .await;
    let current = wait_current(&sim.client, &sim.namespace, &changed_again).await;
    assert!(
        condition(&current, "AwaitingApproval").is_none(),
        "{current:#}"
    );
    let updates: Vec<String> = ops_of(&sim.client, &sim.namespace, "orders")
        .await
        .iter()
        .filter(|o| type_of(o) == "UpdateVersion")
        .map(name_of)
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert!(updates[0].ends_with(&second_token), "{updates:?}");
    let gauge = metric(
        service.listen,
        "pg_gitops_databases_held{reason=\"approval\"}",
    )
    .await;
    assert_eq!(gauge, 0.0);
    service.stop().await;
    sim.stop().await;
}

/// `DAY HH:MM-HH:MM UTC` two days from now: certainly closed now, opening at a known instant.
fn closed_window() -> (String, Timestamp) {
    let opens = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(2.days())
        .unwrap();
    let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        [opens.weekday().to_monday_zero_offset() as usize];
    let at = opens.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    (format!("{day} 00:00-01:00 UTC"), at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_the_pods_waits_for_the_maintenance_window_and_a_new_replica_does_not() {
    let sim = SimNamespace::start("window", STEP).await;
    ensure_versions(&sim.client).await;
    let (window, opens) = closed_window();
    let mut config = base_config(&sim.namespace, "window");
    config.maintenance.windows = vec![pg_gitops::config::WindowRule {
        selector: pg_gitops::config::LabelSelector {
            text: "env=production".into(),
            selector: pg_gitops::gate::parse_selector("env=production").unwrap(),
        },
        schedule: pg_gitops::gate::Schedule::parse(&window).unwrap(),
    }];
    let service = Service::start(config, sim.client.clone());
    service.ready().await;
    let db = Db::new("orders");
    create_gitops(
        &sim.client,
        &sim.namespace,
        &db,
        json!({"env": "production"}),
    )
    .await;
    wait_current(&sim.client, &sim.namespace, &db).await;

    // One more replica disturbs no client: it runs outside the window.
    let scaled = Db {
        replicas: 4,
        ..db.clone()
    };
    set_spec(&sim.client, &sim.namespace, &scaled).await;
    wait_current(&sim.client, &sim.namespace, &scaled).await;

    // More CPU restarts the pods: it waits, and the status says when the window opens.
    let bigger = Db {
        cpu: "1".into(),
        ..scaled.clone()
    };
    set_spec(&sim.client, &sim.namespace, &bigger).await;
    let held = wait_gitops(
        &sim.client,
        &sim.namespace,
        "orders",
        "outside the window",
        |o| held_by(o, "OutsideMaintenanceWindow"),
    )
    .await;
    let (_, _, message) = condition(&held, "Ready").unwrap();
    assert!(
        message.contains(&format!("the next opens at {opens}")) && message.contains(&window),
        "{message}"
    );
    let row = status_report(service.listen)
        .await
        .databases
        .into_iter()
        .find(|d| d.name == "orders")
        .unwrap();
    assert_eq!(row.waiting_for.as_deref(), Some("maintenance window"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        types(&sim)
            .await
            .iter()
            .all(|kind| kind != "VerticalScaling"),
        "no VerticalScaling outside the window"
    );
    let events = events_about(&sim.client, &sim.namespace, "orders").await;
    assert!(
        events
            .iter()
            .any(|(reason, _, _)| reason == "OutsideMaintenanceWindow"),
        "{events:?}"
    );

    // The database's own window (the annotation replaces the config's) is open now.
    annotate(
        &gitops_api(&sim.client, &sim.namespace),
        "orders",
        json!({"gitops.kubedb.com/maintenance-window": "daily 00:00-24:00 UTC"}),
    )
    .await;
    wait_current(&sim.client, &sim.namespace, &bigger).await;
    assert!(
        types(&sim)
            .await
            .iter()
            .any(|kind| kind == "VerticalScaling")
    );
    service.stop().await;
    sim.stop().await;
}
