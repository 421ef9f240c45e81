//! What the plan produces is accepted by the real API server with KubeDB's CRDs: every
//! OpsRequest type (and the removal and rotation variants) is created and read back with
//! nothing pruned; the Provision object is created and a Patch step applies.

use std::path::Path;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams, PostParams};
use pg_gitops::manifest::{LoadOptions, ManifestSet, load_text};
use pg_gitops::models::{KubedbPostgres, PostgresOpsRequest};
use pg_gitops::plan::compare::covers;
use pg_gitops::plan::{DatabasePlan, PlanSettings, StepType, plan_database};
use serde_json::{Value, json};

const LIVE: &str = r#"{
  "apiVersion": "kubedb.com/v1", "kind": "Postgres",
  "metadata": {"name": "pg1", "annotations": {"gitops.kubedb.com/last-applied":
    "{\"spec\":{\"version\":\"16.4\",\"configuration\":{\"secretName\":\"cfg\"},\"tls\":{\"issuerRef\":{\"kind\":\"Issuer\",\"name\":\"ca\"}},\"sslMode\":\"require\"}}"}},
  "spec": {
    "version": "16.4", "replicas": 3, "standbyMode": "Hot", "storageType": "Durable", "deletionPolicy": "WipeOut",
    "storage": {"storageClassName": "standard", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    "authSecret": {"name": "pg1-auth", "kind": "Secret"},
    "configuration": {"secretName": "cfg"},
    "tls": {"issuerRef": {"kind": "Issuer", "name": "ca"}},
    "sslMode": "require",
    "monitor": {"agent": "prometheus.io/operator", "prometheus": {"exporter": {"resources": {"requests": {"cpu": "50m"}}}}},
    "podTemplate": {"spec": {"containers": [
      {"name": "postgres", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
      {"name": "pg-coordinator", "resources": {"requests": {"cpu": "200m"}}}]}}
  }
}"#;

fn live(namespace: &str) -> KubedbPostgres {
    let mut live: KubedbPostgres = serde_json::from_str(LIVE).unwrap();
    live.metadata.namespace = Some(namespace.into());
    live
}

/// Plans `spec` (merged over the live spec's essentials) for database pg1.
fn plan(namespace: &str, spec: Value, annotations: Value) -> DatabasePlan {
    let document = json!({"apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
        "metadata": {"name": "pg1", "namespace": namespace, "annotations": annotations}, "spec": spec});
    let mut set = ManifestSet::default();
    load_text(
        Path::new("pg1.yaml"),
        Arc::from(pg_gitops::yaml::to_string(&document)),
        &LoadOptions::default(),
        &mut set,
    );
    assert_eq!(set.errors, vec![]);
    plan_database(
        &set.manifests[0],
        Some(&live(namespace)),
        &[],
        None,
        &PlanSettings::default(),
        Some("abc123"),
    )
}

#[tokio::test]
async fn every_planned_ops_request_is_accepted_unpruned() {
    let cluster = test_support::cluster().await;
    let namespace = cluster.namespace("plan").await;
    let api: Api<PostgresOpsRequest> = Api::namespaced(cluster.client(), &namespace);
    let tls = json!({"issuerRef": {"kind": "Issuer", "name": "ca"}});
    let everything = json!({
        "version": "17.2", "replicas": 5, "storage": {"resources": {"requests": {"storage": "20Gi"}}},
        "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": {"requests": {"cpu": "2"}}},
                                                {"name": "pg-coordinator", "resources": {"requests": {"cpu": "300m"}}}]}},
        "monitor": {"agent": "prometheus.io/operator", "prometheus": {"exporter": {"resources": {"requests": {"cpu": "100m"}}}}},
        "configuration": {"secretName": "cfg-v2", "inline": {"user.conf": "max_connections = 300"}, "tuning": {"profile": "oltp"}},
        "authSecret": {"name": "pg1-auth-v2"},
        "tls": {"issuerRef": {"kind": "ClusterIssuer", "name": "ca2"}, "certificates": [{"alias": "server", "dnsNames": ["pg1.example"]}]},
        "sslMode": "verify-full",
        "enforceFsGroup": true
    });
    let variants = [
        (everything, json!({})),
        // Removing configuration and TLS, scaling down.
        (
            json!({"version": "16.4", "replicas": 1, "sslMode": "disable"}),
            json!({}),
        ),
        // A certificate rotation on request.
        (
            json!({"version": "16.4", "tls": tls, "sslMode": "require"}),
            json!({"gitops.kubedb.com/rotate-certificates": "now"}),
        ),
    ];
    let mut created = std::collections::BTreeSet::new();
    let mut names = std::collections::BTreeSet::new();
    for (spec, annotations) in variants {
        let plan = plan(&namespace, spec, annotations);
        assert_eq!(plan.errors, vec![]);
        for step in plan.steps.iter().filter_map(|s| s.ops_request()) {
            // Two variants may plan the same intent, which has the same name by design.
            if !names.insert(step.metadata.name.clone().unwrap()) {
                continue;
            }
            let made = api
                .create(&PostParams::default(), step)
                .await
                .unwrap_or_else(|e| panic!("{e}: {:#?}", step.spec));
            // The server adds CRD defaults (apply, maxRetries); everything we sent must survive.
            assert!(
                covers(&json!(step.spec), Some(&json!(made.spec))),
                "the API server pruned part of {:#?}\ngot {:#?}",
                step.spec,
                made.spec
            );
            assert_eq!(made.metadata.labels, step.metadata.labels);
            let block = pg_gitops::plan::block_key(
                serde_json::from_value(step.spec["type"].clone()).unwrap(),
            );
            created.insert(format!(
                "{}:{}",
                step.spec["type"].as_str().unwrap(),
                made.spec[block]
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(","))
                    .unwrap_or_default()
            ));
        }
    }
    for kind in [
        "HorizontalScaling",
        "VolumeExpansion",
        "VerticalScaling",
        "UpdateVersion",
        "Reconfigure",
        "ReconfigureTLS",
        "RotateAuth",
        "Restart",
    ] {
        assert!(
            created.iter().any(|c| c.starts_with(&format!("{kind}:"))),
            "{kind} missing from {created:?}"
        );
    }
    for variant in [
        "Reconfigure:removeCustomConfig",
        "ReconfigureTLS:remove",
        "ReconfigureTLS:rotateCertificates",
    ] {
        assert!(
            created
                .iter()
                .any(|c| c.starts_with(variant.split(':').next().unwrap())
                    && c.contains(variant.split(':').nth(1).unwrap())),
            "{variant} missing from {created:?}"
        );
    }
}

#[tokio::test]
async fn provision_and_patch_steps_apply_on_the_api_server() {
    let cluster = test_support::cluster().await;
    let namespace = cluster.namespace("provision").await;
    let databases: Api<KubedbPostgres> = Api::namespaced(cluster.client(), &namespace);
    let spec = json!({"version": "16.4", "replicas": 3, "storage": {"resources": {"requests": {"storage": "10Gi"}}},
        "monitor": {"agent": "prometheus.io/builtin"}, "deletionPolicy": "WipeOut"});
    let document = json!({"apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres", "metadata": {"name": "fresh", "namespace": namespace}, "spec": spec});
    let mut set = ManifestSet::default();
    load_text(
        Path::new("fresh.yaml"),
        Arc::from(pg_gitops::yaml::to_string(&document)),
        &LoadOptions::default(),
        &mut set,
    );
    let manifest = &set.manifests[0];
    let provision = plan_database(manifest, None, &[], None, &PlanSettings::default(), None);
    assert_eq!(provision.steps[0].step_type(), StepType::Provision);
    let object: KubedbPostgres = provision.steps[0].provision().unwrap().clone();
    let created = databases
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    assert!(
        covers(&spec, Some(&json!(created.spec))),
        "the API server pruned part of the declared spec: {:#?}",
        created.spec
    );

    // Git drops the monitor and changes the deletion policy: one merge patch, then a Restart.
    let changed = json!({"version": "16.4", "replicas": 3, "storage": {"resources": {"requests": {"storage": "10Gi"}}}, "deletionPolicy": "Halt"});
    let document = json!({"apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres", "metadata": {"name": "fresh", "namespace": namespace}, "spec": changed});
    let mut set = ManifestSet::default();
    load_text(
        Path::new("fresh.yaml"),
        Arc::from(pg_gitops::yaml::to_string(&document)),
        &LoadOptions::default(),
        &mut set,
    );
    let plan = plan_database(
        &set.manifests[0],
        Some(&created),
        &[],
        None,
        &PlanSettings::default(),
        None,
    );
    let types: Vec<StepType> = plan.steps.iter().map(|s| s.step_type()).collect();
    assert_eq!(types, vec![StepType::Patch, StepType::Restart]);
    let patched = databases
        .patch(
            "fresh",
            &PatchParams::default(),
            &Patch::Merge(plan.steps[0].patch().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.spec.other.get("monitor"),
        None,
        "the removed field is gone"
    );
    assert_eq!(patched.spec.other["deletionPolicy"], "Halt");
    assert!(
        patched.restart_pending().is_some(),
        "the owed Restart is recorded on the object"
    );
    // Recomputed from the patched object: only the Restart remains.
    let after = plan_database(
        &set.manifests[0],
        Some(&patched),
        &[],
        None,
        &PlanSettings::default(),
        None,
    );
    assert_eq!(
        after
            .steps
            .iter()
            .map(|s| s.step_type())
            .collect::<Vec<_>>(),
        vec![StepType::Restart]
    );
}
