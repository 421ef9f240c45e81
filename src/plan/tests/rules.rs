//! Issue 9: the planner rules the README was silent on (nested removals, removed TLS modes,
//! arbiter and read-replica resources, synchronous replication, the restart order).

use serde_json::json;

use super::*;

/// The merge patch of the step at `index` (one place to change when `Step` changes shape).
fn patch_of(plan: &DatabasePlan, index: usize) -> Value {
    plan.steps[index]
        .patch()
        .cloned()
        .expect("a step carrying a patch")
}

/// The OpsRequest spec of the step at `index`.
fn request_of(plan: &DatabasePlan, index: usize) -> Value {
    ops_spec(plan, index)
}

/// The OpsRequest of the step at `index`.
fn request_object(plan: &DatabasePlan, index: usize) -> &PostgresOpsRequest {
    plan.steps[index].ops_request().expect("an OpsRequest step")
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

#[test]
fn a_key_removed_inside_a_restart_field_is_nulled_then_restarted() {
    use StepType::*;
    // Values other than the gitops CRD's defaults, which would not count as declared.
    let election = json!({"electionTick": 20});
    let desired = set(desired_spec(), "/leaderElection", election.clone());
    let recorded = set(
        desired_spec(),
        "/leaderElection",
        json!({"electionTick": 20, "period": "100ms"}),
    );
    let live_spec = set(
        set(live_spec(), "/leaderElection/period", json!("100ms")),
        "/leaderElection/electionTick",
        json!(20),
    );
    let plan = plan(
        &manifest(desired),
        Some(&live_recorded(live_spec, recorded)),
    );
    assert_eq!(plan.errors, vec![]);
    assert_eq!(types(&plan), vec![Patch, Restart]);
    let patch = patch_of(&plan, 0);
    // Exactly the removed key: KubeDB's other defaults (heartbeatTick, ...) stay.
    assert_eq!(
        patch["spec"]["leaderElection"],
        json!({"period": null}),
        "{patch:#}"
    );
    // The diff shows the key going away (before: live value; after: absent).
    assert_eq!(
        plan.before["leaderElection"],
        json!({"electionTick": 20, "period": "100ms"})
    );
    assert_eq!(plan.after["leaderElection"], election);
}

#[test]
fn a_key_removed_inside_the_pod_template_is_nulled_by_a_plain_patch() {
    use StepType::*;
    let recorded = set(
        desired_spec(),
        "/podTemplate/spec/nodeSelector",
        json!({"disk": "ssd"}),
    );
    let live_spec = set(
        live_spec(),
        "/podTemplate/spec/nodeSelector",
        json!({"disk": "ssd"}),
    );
    let plan = plan(
        &manifest(desired_spec()),
        Some(&live_recorded(live_spec, recorded)),
    );
    assert_eq!(plan.errors, vec![]);
    assert_eq!(types(&plan), vec![Patch]);
    let patch = patch_of(&plan, 0);
    assert_eq!(
        patch["spec"],
        json!({"podTemplate": {"spec": {"nodeSelector": null}}}),
        "{patch:#}"
    );
}

#[test]
fn nested_removals_that_change_nothing_are_no_step() {
    // The exporter's resources stay live when they leave Git, inside a declared `monitor` as
    // container resources do at the top.
    let declared = json!({"prometheus": {"exporter": {"port": 9187}}});
    let full = json!({"prometheus": {"exporter": {"port": 9187, "resources": {"requests": {"cpu": "100m"}}}}});
    let plan = plan(
        &manifest(set(desired_spec(), "/monitor", declared)),
        Some(&live_recorded(
            set(live_spec(), "/monitor", full.clone()),
            set(desired_spec(), "/monitor", full),
        )),
    );
    assert_eq!(plan.errors, vec![]);
    assert_eq!(types(&plan), vec![], "{:#?}", plan.steps);
}

#[test]
fn an_item_removed_from_a_named_list_replaces_the_list() {
    use StepType::*;
    let primary = json!({"alias": "primary", "spec": {"type": "LoadBalancer"}});
    let standby = json!({"alias": "standby", "spec": {"type": "NodePort"}});
    let desired = set(
        desired_spec(),
        "/serviceTemplates",
        json!([primary.clone()]),
    );
    let recorded = set(
        desired_spec(),
        "/serviceTemplates",
        json!([primary.clone(), standby.clone()]),
    );
    let live_spec = set(
        live_spec(),
        "/serviceTemplates",
        json!([primary.clone(), standby]),
    );
    let plan = plan(
        &manifest(desired),
        Some(&live_recorded(live_spec, recorded)),
    );
    assert_eq!(plan.errors, vec![]);
    assert_eq!(types(&plan), vec![Patch]);
    assert_eq!(
        patch_of(&plan, 0)["spec"]["serviceTemplates"],
        json!([primary])
    );
}

#[test]
fn a_certificate_removed_from_tls_is_a_reconfigure_tls_with_the_new_list() {
    use StepType::*;
    let issuer = json!({"kind": "Issuer", "name": "pg-ca"});
    let server = json!({"alias": "server", "subject": {"organizations": ["acme"]}});
    let client = json!({"alias": "client", "subject": {"organizations": ["acme"]}});
    let tls = |certificates: Value| json!({"issuerRef": issuer, "certificates": certificates});
    let desired = set(
        set(desired_spec(), "/tls", tls(json!([server.clone()]))),
        "/sslMode",
        json!("verify-full"),
    );
    let recorded = set(
        desired.clone(),
        "/tls",
        tls(json!([server.clone(), client.clone()])),
    );
    let live_spec = set(
        set(
            live_spec(),
            "/tls",
            tls(json!([
                set(server.clone(), "/secretName", json!("pg1-server-cert")),
                set(client, "/secretName", json!("pg1-client-cert")),
            ])),
        ),
        "/sslMode",
        json!("verify-full"),
    );
    let plan = plan(
        &manifest(desired),
        Some(&live_recorded(live_spec, recorded)),
    );
    assert_eq!(plan.errors, vec![]);
    assert_eq!(types(&plan), vec![ReconfigureTLS]);
    let request = request_of(&plan, 0);
    assert_eq!(
        request["tls"]["certificates"],
        json!([server]),
        "{request:#}"
    );
    assert_eq!(request["tls"]["issuerRef"], issuer);
    assert_fits_ops_schema(request_object(&plan, 0));
}

/// A live database with an arbiter and one read replica group `ro`, as KubeDB leaves them.
fn live_with_arbiter_and_read_replica() -> Value {
    let limited =
        json!({"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}});
    set(
        set(
            live_spec(),
            "/arbiter",
            json!({"resources": limited.clone()}),
        ),
        "/readReplicas",
        json!([{"name": "ro", "replicas": 1, "resources": limited,
                "podPlacementPolicy": {"name": "default"}}]),
    )
}

#[test]
fn arbiter_and_read_replica_resources_are_vertical_scaling() {
    use StepType::*;
    let desired = set(
        set(
            desired_spec(),
            "/arbiter",
            json!({"resources": {"requests": {"cpu": "200m"}}}),
        ),
        "/readReplicas",
        json!([{"name": "ro", "replicas": 1, "resources": {"requests": {"cpu": "300m"}}}]),
    );
    let plan = plan(
        &manifest(desired.clone()),
        Some(&live_recorded(
            live_with_arbiter_and_read_replica(),
            desired,
        )),
    );
    assert_eq!(plan.errors, vec![]);
    // No Patch: KubeDB resizes these pods only through a VerticalScaling.
    assert_eq!(types(&plan), vec![VerticalScaling], "{:#?}", plan.steps);
    let block = &request_of(&plan, 0)["verticalScaling"];
    assert_eq!(
        block["arbiter"],
        json!({"resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}})
    );
    assert_eq!(
        block["readReplicas"],
        json!([{"name": "ro", "postgres": {"resources":
            {"requests": {"cpu": "300m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}}}])
    );
    assert_fits_ops_schema(request_object(&plan, 0));
}

#[test]
fn arbiter_and_read_replica_requests_stay_within_their_limits() {
    let desired = set(
        set(
            desired_spec(),
            "/arbiter",
            json!({"resources": {"requests": {"memory": "1Gi"}}}),
        ),
        "/readReplicas",
        json!([{"name": "ro", "resources": {"requests": {"memory": "1Gi"}}}]),
    );
    let plan = plan(
        &manifest(desired),
        Some(&live(live_with_arbiter_and_read_replica())),
    );
    let messages: Vec<&str> = plan.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0]
            .contains("requests.memory 1Gi of the arbiter is above its live limits.memory 256Mi"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("of read replica ro"),
        "{}",
        messages[1]
    );
    assert_eq!(types(&plan), vec![]);
}

#[test]
fn read_replica_count_changes_are_an_error_naming_the_ops_request_to_use() {
    let desired = set(
        desired_spec(),
        "/readReplicas",
        json!([{"name": "ro", "replicas": 3}, {"name": "reports", "replicas": 1}]),
    );
    let plan = plan(
        &manifest(desired),
        Some(&live(live_with_arbiter_and_read_replica())),
    );
    let messages: Vec<&str> = plan.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].contains("readReplicas ro: replicas 1 → 3"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("readReplicas reports"),
        "{}",
        messages[1]
    );
    for message in messages {
        assert!(message.contains("HorizontalScaling"), "{message}");
    }
    assert_eq!(types(&plan), vec![]);
}
