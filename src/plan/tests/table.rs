//! One case per row of the field → step table, plus "KubeDB's defaults are not drift".

use serde_json::{Value, json};

use super::*;

struct Case {
    name: &'static str,
    /// (JSON pointer into the desired spec, new value; null removes)
    desired: Vec<(&'static str, Value)>,
    /// (JSON pointer into the live spec, new value; null removes)
    live: Vec<(&'static str, Value)>,
    steps: Vec<StepType>,
    /// (step index, JSON pointer into the OpsRequest spec or the patch, expected value)
    expect: Vec<(usize, &'static str, Value)>,
}

fn cases() -> Vec<Case> {
    use StepType::*;
    let resources = "/podTemplate/spec/containers/0/resources";
    vec![
        Case {
            name: "in sync despite KubeDB defaults and other spellings",
            desired: vec![],
            live: vec![],
            steps: vec![],
            expect: vec![],
        },
        Case {
            name: "replicas up",
            desired: vec![("/replicas", json!(5))],
            live: vec![],
            steps: vec![HorizontalScaling],
            expect: vec![(
                0,
                "/horizontalScaling",
                json!({"replicas": 5, "standbyMode": "Hot", "streamingMode": "Asynchronous"}),
            )],
        },
        Case {
            name: "replicas down keeps live modes",
            desired: vec![("/replicas", json!(1))],
            live: vec![
                ("/standbyMode", json!("Warm")),
                ("/streamingMode", json!("Synchronous")),
            ],
            steps: vec![HorizontalScaling],
            expect: vec![(
                0,
                "/horizontalScaling",
                json!({"replicas": 1, "standbyMode": "Warm", "streamingMode": "Synchronous"}),
            )],
        },
        Case {
            name: "storage grows",
            desired: vec![("/storage/resources/requests/storage", json!("20Gi"))],
            live: vec![],
            steps: vec![VolumeExpansion],
            expect: vec![(
                0,
                "/volumeExpansion",
                json!({"mode": "Online", "postgres": "20Gi"}),
            )],
        },
        Case {
            name: "storage in another spelling is equal",
            desired: vec![("/storage/resources/requests/storage", json!("10737418240"))],
            live: vec![],
            steps: vec![],
            expect: vec![],
        },
        Case {
            name: "postgres resources",
            desired: vec![(
                resources,
                json!({"requests": {"cpu": "1", "memory": "1Gi"}}),
            )],
            live: vec![],
            steps: vec![VerticalScaling],
            expect: vec![(
                0,
                "/verticalScaling/postgres/resources",
                json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}),
            )],
        },
        Case {
            name: "cpu as an integer equals millicores",
            desired: vec![(resources, json!({"requests": {"cpu": 1}}))],
            live: vec![(
                "/podTemplate/spec/containers/0/resources/requests/cpu",
                json!("1000m"),
            )],
            steps: vec![],
            expect: vec![],
        },
        Case {
            name: "coordinator resources",
            desired: vec![(
                "/podTemplate/spec/containers/1",
                json!({"name": "pg-coordinator", "resources": {"limits": {"memory": "512Mi"}}}),
            )],
            live: vec![],
            steps: vec![VerticalScaling],
            expect: vec![
                (
                    0,
                    "/verticalScaling/coordinator/resources/limits/memory",
                    json!("512Mi"),
                ),
                (0, "/verticalScaling/postgres", json!(null)),
            ],
        },
        Case {
            name: "exporter resources also restate postgres (KubeDB refuses exporter alone)",
            desired: vec![(
                "/monitor",
                json!({"agent": "prometheus.io/operator", "prometheus": {"exporter": {"resources": {"requests": {"cpu": "100m"}}}}}),
            )],
            live: vec![(
                "/monitor",
                json!({"agent": "prometheus.io/operator", "prometheus": {"exporter": {"port": 56790, "resources": {"requests": {"cpu": "50m"}}}}}),
            )],
            steps: vec![VerticalScaling],
            expect: vec![
                (
                    0,
                    "/verticalScaling/exporter/resources/requests/cpu",
                    json!("100m"),
                ),
                (
                    0,
                    "/verticalScaling/postgres/resources/limits/memory",
                    json!("1Gi"),
                ),
            ],
        },
        Case {
            name: "version",
            desired: vec![("/version", json!("17.2"))],
            live: vec![],
            steps: vec![UpdateVersion],
            expect: vec![(0, "/updateVersion", json!({"targetVersion": "17.2"}))],
        },
        Case {
            name: "config secret",
            desired: vec![("/configuration", json!({"secretName": "pg1-config-v2"}))],
            live: vec![],
            steps: vec![Reconfigure],
            expect: vec![(
                0,
                "/configuration",
                json!({"configSecret": {"name": "pg1-config-v2"}}),
            )],
        },
        Case {
            name: "legacy configSecret",
            desired: vec![("/configSecret", json!({"name": "legacy"}))],
            live: vec![],
            steps: vec![Reconfigure],
            expect: vec![(0, "/configuration/configSecret/name", json!("legacy"))],
        },
        Case {
            name: "legacy configSecret already migrated by KubeDB",
            desired: vec![("/configSecret", json!({"name": "legacy"}))],
            live: vec![("/configuration", json!({"secretName": "legacy"}))],
            steps: vec![],
            expect: vec![],
        },
        Case {
            name: "inline user.conf",
            desired: vec![(
                "/configuration",
                json!({"inline": {"user.conf": "max_connections = 300"}}),
            )],
            live: vec![],
            steps: vec![Reconfigure],
            expect: vec![(
                0,
                "/configuration",
                json!({"applyConfig": {"user.conf": "max_connections = 300"}}),
            )],
        },
        Case {
            name: "tuning",
            desired: vec![(
                "/configuration",
                json!({"tuning": {"profile": "oltp", "maxConnections": 400}}),
            )],
            live: vec![],
            steps: vec![Reconfigure],
            expect: vec![(
                0,
                "/configuration/tuning",
                json!({"profile": "oltp", "maxConnections": 400}),
            )],
        },
        Case {
            name: "auth secret",
            desired: vec![("/authSecret", json!({"name": "pg1-auth-v2"}))],
            live: vec![],
            steps: vec![RotateAuth],
            expect: vec![(
                0,
                "/authentication",
                json!({"secretRef": {"kind": "Secret", "name": "pg1-auth-v2"}}),
            )],
        },
        Case {
            name: "tls added with sslMode",
            desired: vec![
                (
                    "/tls",
                    json!({"issuerRef": {"apiGroup": "cert-manager.io", "kind": "Issuer", "name": "pg-ca"}}),
                ),
                ("/sslMode", json!("verify-full")),
            ],
            live: vec![],
            steps: vec![ReconfigureTLS],
            expect: vec![(
                0,
                "/tls",
                json!({"issuerRef": {"apiGroup": "cert-manager.io", "kind": "Issuer", "name": "pg-ca"}, "sslMode": "verify-full"}),
            )],
        },
        Case {
            name: "tls certificates changed",
            desired: vec![
                (
                    "/tls",
                    json!({"issuerRef": {"kind": "Issuer", "name": "pg-ca"}, "certificates": [{"alias": "server", "dnsNames": ["pg.example.com"]}]}),
                ),
                ("/sslMode", json!("require")),
            ],
            live: vec![
                (
                    "/tls",
                    json!({"issuerRef": {"kind": "Issuer", "name": "pg-ca"}, "certificates": [{"alias": "server", "secretName": "pg1-server-cert"}]}),
                ),
                ("/sslMode", json!("require")),
            ],
            steps: vec![ReconfigureTLS],
            expect: vec![
                (0, "/tls/certificates/0/dnsNames", json!(["pg.example.com"])),
                (0, "/tls/sslMode", json!("require")),
            ],
        },
        Case {
            name: "a restart field is patched in, then restarted",
            desired: vec![("/enforceFsGroup", json!(true))],
            live: vec![],
            steps: vec![Patch, Restart],
            expect: vec![
                (0, "/spec/enforceFsGroup", json!(true)),
                (1, "/restart", json!({})),
            ],
        },
        Case {
            name: "monitor added",
            desired: vec![("/monitor", json!({"agent": "prometheus.io/builtin"}))],
            live: vec![],
            steps: vec![Patch, Restart],
            expect: vec![(
                0,
                "/spec/monitor",
                json!({"agent": "prometheus.io/builtin"}),
            )],
        },
        Case {
            name: "standbyMode",
            desired: vec![("/standbyMode", json!("Warm"))],
            live: vec![],
            steps: vec![Patch, Restart],
            expect: vec![(0, "/spec/standbyMode", json!("Warm"))],
        },
        Case {
            name: "streamingMode",
            desired: vec![("/streamingMode", json!("Synchronous"))],
            live: vec![],
            steps: vec![Patch, Restart],
            expect: vec![],
        },
        Case {
            name: "replication",
            desired: vec![(
                "/replication",
                json!({"walLimitPolicy": "ReplicationSlot", "maxSlotWALKeepSize": -1}),
            )],
            live: vec![],
            steps: vec![Patch, Restart],
            expect: vec![],
        },
        Case {
            name: "leaderElection",
            desired: vec![("/leaderElection", json!({"electionTick": 20}))],
            live: vec![],
            steps: vec![Patch, Restart],
            expect: vec![(0, "/spec/leaderElection", json!({"electionTick": 20}))],
        },
        Case {
            name: "archiver",
            desired: vec![(
                "/archiver",
                json!({"ref": {"name": "arch", "namespace": "db"}}),
            )],
            live: vec![],
            steps: vec![Patch, Restart],
            expect: vec![],
        },
        Case {
            name: "remoteReplica",
            desired: vec![(
                "/remoteReplica",
                json!({"sourceRef": {"name": "src", "namespace": "other"}}),
            )],
            live: vec![],
            steps: vec![Patch, Restart],
            expect: vec![],
        },
        Case {
            name: "restart field already live is no drift",
            desired: vec![(
                "/leaderElection",
                json!({"maximumLagBeforeFailover": 67108864}),
            )],
            live: vec![],
            steps: vec![],
            expect: vec![],
        },
        Case {
            name: "deletionPolicy is a plain patch",
            desired: vec![("/deletionPolicy", json!("Halt"))],
            live: vec![],
            steps: vec![Patch],
            expect: vec![
                (0, "/spec/deletionPolicy", json!("Halt")),
                (
                    0,
                    "/metadata/annotations/gitops.kubedb.com~1restart-pending",
                    json!(null),
                ),
            ],
        },
        Case {
            name: "serviceTemplates are a plain patch",
            desired: vec![(
                "/serviceTemplates",
                json!([{"alias": "primary", "spec": {"type": "LoadBalancer"}}]),
            )],
            live: vec![],
            steps: vec![Patch],
            expect: vec![(
                0,
                "/spec/serviceTemplates/0/spec/type",
                json!("LoadBalancer"),
            )],
        },
        Case {
            name: "pod template fields keep live containers and resources",
            desired: vec![
                ("/podTemplate/spec/nodeSelector", json!({"disk": "ssd"})),
                (
                    "/podTemplate/spec/containers/0/env",
                    json!([{"name": "TZ", "value": "UTC"}]),
                ),
            ],
            live: vec![],
            steps: vec![Patch],
            expect: vec![
                (
                    0,
                    "/spec/podTemplate/spec/nodeSelector",
                    json!({"disk": "ssd"}),
                ),
                (
                    0,
                    "/spec/podTemplate/spec/containers/0/resources/limits/memory",
                    json!("1Gi"),
                ),
                (
                    0,
                    "/spec/podTemplate/spec/containers/0/env/0/name",
                    json!("TZ"),
                ),
                (
                    0,
                    "/spec/podTemplate/spec/containers/1/name",
                    json!("pg-coordinator"),
                ),
            ],
        },
        Case {
            name: "authSecret options other than the name are patched",
            desired: vec![(
                "/authSecret",
                json!({"name": "pg1-auth", "rotateAfter": "720h"}),
            )],
            live: vec![],
            steps: vec![Patch],
            expect: vec![(0, "/spec/authSecret", json!({"rotateAfter": "720h"}))],
        },
    ]
}

fn value_at<'a>(plan: &'a DatabasePlan, step: usize, pointer: &str) -> Option<&'a Value> {
    let step = &plan.steps[step];
    match (step.ops_request(), step.patch()) {
        (Some(request), _) => request.spec.get(pointer.split('/').nth(1)?).and_then(|v| {
            let rest: String = pointer
                .split('/')
                .skip(2)
                .map(|p| format!("/{p}"))
                .collect();
            if rest.is_empty() {
                Some(v)
            } else {
                v.pointer(&rest)
            }
        }),
        (None, Some(patch)) => patch.pointer(pointer),
        _ => None,
    }
}

#[test]
fn every_row_of_the_field_to_step_table() {
    for case in cases() {
        let (desired, live_spec) = mutated(&case.desired, &case.live);
        // A record equal to the desired spec: "in sync" then means no write at all.
        let live = live_recorded(live_spec, desired.clone());
        let plan = plan(&manifest(desired), Some(&live));
        assert_eq!(plan.errors, vec![], "{}", case.name);
        assert_eq!(types(&plan), case.steps, "{}: {:#?}", case.name, plan.steps);
        for (step, pointer, expected) in &case.expect {
            let found = value_at(&plan, *step, pointer);
            if expected.is_null() {
                assert!(
                    found.is_none(),
                    "{}: {pointer} should be absent, found {found:?}",
                    case.name
                );
            } else {
                assert_eq!(
                    found,
                    Some(expected),
                    "{}: {pointer} in {:#?}",
                    case.name,
                    plan.steps[*step]
                );
            }
        }
    }
}

/// Every OpsRequest the plan produces fits the real `ops.kubedb.com` CRD schema.
#[test]
fn every_ops_request_fits_the_ops_crd_schema() {
    let mut checked = std::collections::BTreeSet::new();
    for case in cases() {
        let (desired, live_spec) = mutated(&case.desired, &case.live);
        let plan = plan(&manifest(desired), Some(&live(live_spec)));
        for step in &plan.steps {
            if let Some(request) = step.ops_request() {
                assert_fits_ops_schema(request);
                checked.insert(request.spec["type"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(
        checked.len(),
        8,
        "all eight types were produced and checked: {checked:?}"
    );
}
