//! What Flux and Argo CD see of a database (issue 11, items 1 and 2), on the statuses pg-gitops
//! wrote to the real API server. A plain client stands in for Argo CD / Flux (cluster mode:
//! it creates and edits the gitops object); the timeline's watch keeps every version of the
//! gitops object, and each one goes through kstatus' `Compute` (`test_support::kstatus`, what
//! Flux's `wait: true` and `healthChecks` run) and through the shipped Argo CD health check in
//! Lua 5.1 (`test_support::argocd`).
//!
//! `PG_GITOPS_HEALTH_RECORD=<dir>` writes the versions seen as YAML files into `<dir>`: that
//! is how `tests/offline/argocd_health/testdata` was recorded.

use std::time::Duration;

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use test_support::argocd::{Health, health};
use test_support::e2e::*;
use test_support::kinds::{self, databases_api, gitops_api};
use test_support::kstatus::{KStatus, compute};
use test_support::sim::{SimNamespace, revision_of};

const STEP: Duration = Duration::from_millis(400);
/// Long enough that pg-gitops certainly writes a status while KubeDB still provisions.
const PROVISIONING: Duration = Duration::from_millis(1500);

/// One version of the gitops object, and what kstatus and Argo CD make of it.
struct Seen {
    object: Value,
    kstatus: KStatus,
    kstatus_message: String,
    argo: Health,
}

/// Every version of gitops object `name` the timeline saw, up to and including `last`.
async fn versions(sim: &SimNamespace, name: &str, last: &Value) -> Vec<Seen> {
    sim.timeline
        .wait_for_version("GitopsPostgres", name, revision_of(last))
        .await;
    let seen: Vec<Seen> = sim
        .timeline
        .versions("GitopsPostgres", name)
        .into_iter()
        .map(|seen| {
            let computed = compute(&seen.object).expect("kstatus computes the status");
            Seen {
                kstatus: computed.status,
                kstatus_message: computed.message,
                argo: health(&seen.object),
                object: seen.object,
            }
        })
        .collect();
    if let Ok(dir) = std::env::var("PG_GITOPS_HEALTH_RECORD") {
        for (i, s) in seen.iter().enumerate() {
            let file = format!("{dir}/{name}-{i:02}-{}.yaml", s.argo.status);
            std::fs::write(file, pg_gitops::yaml::to_string(&s.object)).unwrap();
        }
    }
    seen
}

fn reconciling(object: &Value) -> Option<(String, String, String)> {
    condition(object, "Reconciling")
}

/// The rules both tools must agree on, for every version that pg-gitops wrote a status on:
/// Current/Healthy only when the database matches Git and is Ready; Failed/Degraded exactly
/// when Stalled; everything else InProgress/Progressing (Suspended for Argo CD).
fn assert_agree(seen: &[Seen], sim: &SimNamespace, name: &str) {
    for s in seen.iter().filter(|s| !s.object["status"].is_null()) {
        let o = &s.object;
        let context = format!(
            "{:#}\nkstatus {:?}, Argo CD {:?}",
            o["status"], s.kstatus, s.argo
        );
        let suspended = condition(o, "Ready").is_some_and(|(_, reason, _)| reason == "Suspended");
        let expected_argo = match s.kstatus {
            KStatus::Current => "Healthy",
            KStatus::Failed => "Degraded",
            KStatus::InProgress if suspended => "Suspended",
            KStatus::InProgress => "Progressing",
            KStatus::Terminating => panic!("nothing is deleted here: {context}"),
        };
        assert_eq!(s.argo.status, expected_argo, "{context}");
        let observed = o.pointer("/status/observedGeneration");
        assert!(
            observed.is_some_and(Value::is_i64),
            "pg-gitops writes observedGeneration with every status: {context}"
        );
        if observed != o.pointer("/metadata/generation") {
            // A client's write of a new spec, before pg-gitops has seen it.
            assert_eq!(s.kstatus, KStatus::InProgress, "{context}");
            continue;
        }
        if s.kstatus == KStatus::InProgress && !suspended {
            // Said by Reconciling itself, not left to kstatus' fallback on a False Ready
            // (which kstatus' README calls a corner case, and older readers lack).
            assert_eq!(
                reconciling(o).map(|(status, _, _)| status).as_deref(),
                Some("True"),
                "{context}"
            );
        }
        if s.kstatus == KStatus::Current {
            let live = sim.timeline.database_at(name, revision_of(o));
            assert_eq!(phase_of(&live), "Ready", "Current before Ready: {context}");
            assert_eq!(phase_of(o), "Ready", "{context}");
            assert_eq!(change_request_status(o), "Current", "{context}");
        }
        if reconciling(o).is_some_and(|(status, _, message)| {
            status == "True" && message.starts_with("waiting for OpsRequest")
        }) {
            assert_eq!(s.kstatus, KStatus::InProgress, "{context}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_and_argo_cd_see_progress_until_the_database_is_ready_and_matches_git() {
    let sim = SimNamespace::start_with("health", STEP, PROVISIONING).await;
    ensure_versions(&sim.client).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let service = Service::start(base_config(&ns, "health"), client.clone());
    service.ready().await;

    // Flux or Argo CD applies a new manifest: what their first look finds has no status yet.
    let gitops = gitops_api(&client, &ns);
    let db = Db::new("orders");
    let created = gitops
        .create(
            &PostParams::default(),
            &kinds::object(&kinds::gitops_postgres(), db.object(&ns)),
        )
        .await
        .unwrap();
    let created = to_value(&created);
    let since_create = std::time::Instant::now();
    // kstatus' documented corner: no status and no conditions is Current. Only pg-gitops'
    // first status write (within one reconcile of the create) closes it; the README says so.
    assert_eq!(compute(&created).unwrap().status, KStatus::Current);
    assert_eq!(
        health(&created),
        Health {
            status: "Progressing".into(),
            message: "Waiting for pg-gitops to report a status".into()
        }
    );
    let first = wait_gitops(&client, &ns, "orders", "a status", |o| {
        !o["status"].is_null()
    })
    .await;
    // The window in which kstatus reads the new object as Current (for the README).
    eprintln!(
        "first status {:?} after the create: {:?}",
        since_create.elapsed(),
        reconciling(&first)
    );
    wait_current(&client, &ns, &db).await;

    // A new spec: the answer to the patch is the object with the new generation and the
    // status of the old one.
    let changed = db.five_changes();
    let patched = gitops
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": changed.spec()})),
        )
        .await
        .unwrap();
    let patched = to_value(&patched);
    if patched.pointer("/status/observedGeneration") == Some(&json!(1)) {
        let computed = compute(&patched).unwrap();
        assert_eq!(computed.status, KStatus::InProgress);
        assert_eq!(
            computed.reason.as_deref(),
            Some("LatestGenerationNotObserved")
        );
        assert_eq!(
            health(&patched).message,
            "Waiting for pg-gitops to observe generation 2 (the status is of generation 1)"
        );
    }
    let current = wait_current(&client, &ns, &changed).await;
    let done = compute(&current).unwrap();
    assert_eq!(
        (done.status, done.message.as_str()),
        (KStatus::Current, "Resource is Ready")
    );
    assert_eq!(
        health(&current),
        Health {
            status: "Healthy".into(),
            message: "the database matches Git and is Ready".into()
        }
    );

    // Suspended: Argo CD says so; kstatus reads the False Ready as InProgress.
    annotate(
        &gitops,
        "orders",
        json!({"gitops.kubedb.com/suspend": "true"}),
    )
    .await;
    let suspended = wait_gitops(&client, &ns, "orders", "Suspended", |o| {
        condition(o, "Ready").is_some_and(|(_, reason, _)| reason == "Suspended")
    })
    .await;
    assert_eq!(health(&suspended).status, "Suspended");
    assert_eq!(compute(&suspended).unwrap().status, KStatus::InProgress);

    let seen = versions(&sim, "orders", &suspended).await;
    assert_agree(&seen, &sim, "orders");
    // Each stage was seen: provisioning (matches Git, not Ready yet), an OpsRequest in
    // flight, then Current; none of them Current early.
    let provisioning = seen
        .iter()
        .find(|s| phase_of(&s.object) == "Provisioning")
        .expect("a status written while KubeDB provisions the database");
    assert_eq!(provisioning.kstatus, KStatus::InProgress);
    let message = "the database matches Git but its phase is Provisioning";
    assert_eq!(provisioning.kstatus_message, message);
    assert_eq!(provisioning.argo.status, "Progressing");
    assert_eq!(provisioning.argo.message, message);
    let in_flight: Vec<&Seen> = seen
        .iter()
        .filter(|s| {
            s.object
                .pointer("/status/gitops/gitOpsInfo/0/operations")
                .and_then(Value::as_array)
                .is_some_and(|ops| ops.iter().any(|o| o["status"] == "Progressing"))
        })
        .collect();
    assert!(
        !in_flight.is_empty(),
        "no status with an OpsRequest running"
    );
    for s in &in_flight {
        assert_eq!(s.kstatus, KStatus::InProgress);
        assert_eq!(s.argo.status, "Progressing");
        assert!(
            s.argo.message.starts_with("waiting for OpsRequest orders-"),
            "{}",
            s.argo.message
        );
    }
    let ready_at = seen
        .iter()
        .filter(|s| s.kstatus == KStatus::Current)
        .count();
    assert!(
        ready_at >= 2,
        "Current after provisioning and after the five steps"
    );
    service.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ops_request_is_failed_to_flux_and_degraded_to_argo_cd() {
    let sim = SimNamespace::start_with("health-fail", STEP, STEP).await;
    ensure_versions(&sim.client).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let service = Service::start(base_config(&ns, "health-fail"), client.clone());
    service.ready().await;
    let gitops = gitops_api(&client, &ns);
    let db = Db::new("ledger");
    gitops
        .create(
            &PostParams::default(),
            &kinds::object(&kinds::gitops_postgres(), db.object(&ns)),
        )
        .await
        .unwrap();
    wait_current(&client, &ns, &db).await;

    let failure = "resize of ledger-0 failed: device busy";
    annotate(
        &databases_api(&client, &ns),
        "ledger",
        json!({"sim.kubedb.com/fail": "VerticalScaling", "sim.kubedb.com/fail-message": failure}),
    )
    .await;
    let bigger = Db {
        cpu: "1".into(),
        ..db.clone()
    };
    gitops
        .patch(
            "ledger",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": bigger.spec()})),
        )
        .await
        .unwrap();
    let stalled = wait_gitops(&client, &ns, "ledger", "Stalled", |o| {
        condition(o, "Stalled").is_some_and(|(status, _, _)| status == "True")
    })
    .await;
    let (_, reason, message) = condition(&stalled, "Stalled").unwrap();
    assert!(message.contains(failure), "{message}");
    let computed = compute(&stalled).unwrap();
    assert_eq!(computed.status, KStatus::Failed);
    assert_eq!(computed.reason.as_deref(), Some("OpsRequestFailed"));
    assert_eq!(computed.message, message);
    assert_eq!(reason, "OpsRequestFailed");
    assert_eq!(
        health(&stalled),
        Health {
            status: "Degraded".into(),
            message: message.clone()
        }
    );

    // A person lifts the fault and asks for a retry: InProgress again, then Current.
    annotate(
        &databases_api(&client, &ns),
        "ledger",
        json!({"sim.kubedb.com/fail": null, "sim.kubedb.com/fail-message": null}),
    )
    .await;
    annotate(&gitops, "ledger", json!({"gitops.kubedb.com/retry": "1"})).await;
    let current = wait_current(&client, &ns, &bigger).await;
    assert_eq!(health(&current).status, "Healthy");
    let seen = versions(&sim, "ledger", &current).await;
    assert_agree(&seen, &sim, "ledger");
    let kinds: Vec<KStatus> = seen
        .iter()
        .filter(|s| !s.object["status"].is_null())
        .map(|s| s.kstatus)
        .collect();
    let failed_at = kinds.iter().position(|k| *k == KStatus::Failed).unwrap();
    assert!(
        kinds[failed_at..].contains(&KStatus::InProgress),
        "the retry runs: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&KStatus::Current));
    service.stop().await;
    sim.stop().await;
}
