//! Issue 9: the planner rules the README was silent on (nested removals, removed TLS modes,
//! arbiter and read-replica resources, synchronous replication, the restart order).

use serde_json::json;

use super::*;

/// The merge patch of the step at `index` (one place to change when `Step` changes shape).
fn patch_of(plan: &DatabasePlan, index: usize) -> Value {
    plan.steps[index]
        .patch
        .clone()
        .expect("a step carrying a patch")
}

/// The OpsRequest spec of the step at `index`.
fn request_of(plan: &DatabasePlan, index: usize) -> Value {
    ops_spec(plan, index)
}

#[test]
fn synchronous_replication_config_is_a_restart_field() {
    use StepType::*;
    let config = json!({"mode": "Any", "numSyncReplicas": 1, "commitLevel": "RemoteApply"});
    let desired = set(
        set(desired_spec(), "/streamingMode", json!("Synchronous")),
        "/synchronousReplicationConfig",
        config.clone(),
    );
    let live_spec = set(live_spec(), "/streamingMode", json!("Synchronous"));
    let plan = plan(&manifest(desired.clone()), Some(&live(live_spec)));
    assert_eq!(plan.errors, vec![]);
    // Exactly these two, in this order: the field is written first, then one Restart.
    assert_eq!(types(&plan), vec![Patch, Restart]);
    assert_eq!(
        patch_of(&plan, 0).pointer("/spec/synchronousReplicationConfig"),
        Some(&config)
    );
    assert_eq!(request_of(&plan, 1)["type"], "Restart");
}

#[test]
fn removing_ssl_mode_or_client_auth_mode_keeps_the_live_value() {
    let tls = json!({"issuerRef": {"kind": "Issuer", "name": "pg-ca"}});
    let desired = set(desired_spec(), "/tls", tls.clone());
    let recorded = set(
        set(desired.clone(), "/sslMode", json!("require")),
        "/clientAuthMode",
        json!("scram"),
    );
    let live_spec = set(
        set(set(live_spec(), "/tls", tls), "/sslMode", json!("require")),
        "/clientAuthMode",
        json!("scram"),
    );
    let plan = plan(
        &manifest(desired),
        Some(&live_recorded(live_spec, recorded)),
    );
    assert_eq!(plan.errors, vec![]);
    // No ReconfigureTLS back to a default, and the diff shows no removal that will not happen.
    assert_eq!(types(&plan), vec![]);
    assert_eq!(plan.before.get("sslMode"), None, "{}", plan.before);
    assert_eq!(plan.before.get("clientAuthMode"), None, "{}", plan.before);
    assert!(plan.bookkeeping.is_some(), "the record still moves forward");
}
