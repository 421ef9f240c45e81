//! The planner converges. Over generated pairs of what Git declares and what is live: plan,
//! carry out the first step the way KubeDB does (a Patch merged and re-defaulted, as KubeDB's
//! mutating webhook does on every write; an OpsRequest's effect from the simulator's effect
//! logic, then Successful), and plan again, as the service does. The plan must become empty
//! within the number of steps the first plan showed (arbiter resources included), be the same every time it is made from
//! the same inputs, fit the CRDs, use only valid OpsRequest names, and never leave a request
//! above its limit.

use kubedb_semantics::quantity::compare_json_quantities;
use kubedb_sim::defaults::{VersionFacts, default_postgres_spec};
use kubedb_sim::effects::apply_ops_to_spec;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use std::cmp::Ordering;

use super::*;

/// What a generated manifest declares.
#[derive(Debug, Clone)]
struct Declared {
    version: &'static str,
    replicas: i64,
    storage: &'static str,
    cpu: &'static str,
    memory: &'static str,
    /// The memory limit as an index above the request (`None`: no limit declared).
    memory_limit: Option<&'static str>,
    standby_mode: Option<&'static str>,
    election_period: Option<&'static str>,
    deletion_policy: &'static str,
    user_conf: Option<&'static str>,
    auth_secret: Option<&'static str>,
    /// The arbiter's memory request (its limit is the same).
    arbiter_memory: Option<&'static str>,
}

impl Declared {
    fn spec(&self) -> Value {
        let mut resources = json!({"requests": {"cpu": self.cpu, "memory": self.memory}});
        if let Some(limit) = self.memory_limit {
            resources["limits"] = json!({"memory": limit});
        }
        let mut spec = json!({
            "version": self.version,
            "replicas": self.replicas,
            "storage": {"storageClassName": "standard",
                        "resources": {"requests": {"storage": self.storage}}},
            "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": resources}]}},
            "deletionPolicy": self.deletion_policy,
        });
        let map = spec.as_object_mut().unwrap();
        if let Some(mode) = self.standby_mode {
            map.insert("standbyMode".into(), json!(mode));
        }
        if let Some(period) = self.election_period {
            map.insert("leaderElection".into(), json!({"period": period}));
        }
        if let Some(conf) = self.user_conf {
            map.insert(
                "configuration".into(),
                json!({"inline": {"user.conf": conf}}),
            );
        }
        if let Some(memory) = self.arbiter_memory {
            map.insert(
                "arbiter".into(),
                json!({"resources": {"requests": {"memory": memory}, "limits": {"memory": memory}}}),
            );
        }
        if let Some(name) = self.auth_secret {
            map.insert("authSecret".into(), json!({"name": name}));
        }
        spec
    }
}

const MEMORY: [&str; 4] = ["512Mi", "1Gi", "1536Mi", "2Gi"];

fn declared() -> impl Strategy<Value = Declared> {
    let memory = (0..MEMORY.len(), prop::option::of(0..MEMORY.len()));
    (
        (
            prop::sample::select(vec!["16.4", "17.2"]),
            1..=5i64,
            prop::sample::select(vec!["10Gi", "10240Mi", "20Gi"]),
            prop::sample::select(vec!["250m", "500m", "0.5", "1"]),
            memory,
        ),
        (
            prop::option::of(prop::sample::select(vec!["Hot", "Warm"])),
            prop::option::of(prop::sample::select(vec!["300ms", "1s"])),
            prop::sample::select(vec!["WipeOut", "Delete", "Halt"]),
            prop::option::of(prop::sample::select(vec!["max_connections=200"])),
            prop::option::of(prop::sample::select(vec!["pg-auth", "pg-auth-2"])),
            prop::option::of(prop::sample::select(vec!["256Mi", "512Mi"])),
        ),
    )
        .prop_map(
            |((version, replicas, storage, cpu, (memory, limit)), rest)| Declared {
                version,
                replicas,
                storage,
                cpu,
                memory: MEMORY[memory],
                // A declared limit is never below its own request (that is the user's error).
                memory_limit: limit.map(|l| MEMORY[l.max(memory)]),
                standby_mode: rest.0,
                election_period: rest.1,
                deletion_policy: rest.2,
                user_conf: rest.3,
                auth_secret: rest.4,
                arbiter_memory: rest.5,
            },
        )
}

/// A database name: short, or long enough that the OpsRequest names must shorten it.
fn database_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z][a-z0-9]{0,8}", "[a-z][a-z0-9-]{40,60}[a-z0-9]"]
}

fn manifest_named(name: &str, spec: Value) -> Manifest {
    manifest_with(spec, json!({"name": name, "generation": 1}))
}

/// KubeDB's mutating webhook on a write of `object`.
fn defaulted(mut object: Value) -> KubedbPostgres {
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    let version = object["spec"]["version"].as_str().unwrap_or("").to_string();
    object["spec"] =
        default_postgres_spec(&name, &object["spec"], &VersionFacts::new(&version, None));
    object["status"] = json!({"phase": "Ready"});
    serde_json::from_value(object).unwrap()
}

/// What KubeDB leaves after pg-gitops applied `declared` earlier (with its record, or none).
fn live_from(name: &str, declared: &Declared, recorded: bool) -> KubedbPostgres {
    let spec = declared.spec();
    let annotations = if recorded {
        json!({crate::models::LAST_APPLIED_ANNOTATION: json!({"spec": spec}).to_string()})
    } else {
        json!({})
    };
    defaulted(json!({"apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": {"name": name, "namespace": "db", "annotations": annotations}, "spec": spec}))
}

fn assert_valid_name(name: &str) {
    let dns_label = name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    assert!(dns_label, "invalid OpsRequest name {name:?}");
}

/// No container (nor the arbiter) of `live` has a request above its limit.
fn assert_requests_within_limits(live: &KubedbPostgres) {
    let spec = serde_json::to_value(&live.spec).unwrap();
    let containers = spec
        .pointer("/podTemplate/spec/containers")
        .and_then(Value::as_array);
    let arbiter = spec.get("arbiter").into_iter();
    for resources in containers
        .into_iter()
        .flatten()
        .chain(arbiter)
        .map(|c| &c["resources"])
    {
        for (resource, limit) in resources["limits"].as_object().into_iter().flatten() {
            if let Some(request) = resources["requests"].get(resource) {
                assert_ne!(
                    compare_json_quantities(request, limit),
                    Some(Ordering::Greater),
                    "{resource}: request {request} above limit {limit} in {spec:#}"
                );
            }
        }
    }
}

fn plan_now(
    manifest: &Manifest,
    live: Option<&KubedbPostgres>,
    ops: &[PostgresOpsRequest],
) -> DatabasePlan {
    let ops: Vec<&PostgresOpsRequest> = ops.iter().collect();
    let (catalog, settings) = (catalog(), PlanSettings::default());
    let make = || {
        plan_database(
            manifest,
            live,
            &ops,
            Some(&catalog),
            &settings,
            Some("rev1"),
        )
    };
    let plan = make();
    assert_eq!(plan, make(), "the same inputs must give the same plan");
    strict::assert_fits_crds(&plan, live);
    plan
}

/// Carries out `step` on `live` as KubeDB would; an OpsRequest ends Successful.
fn carry_out(
    step: &Step,
    live: Option<&KubedbPostgres>,
    ops: &mut Vec<PostgresOpsRequest>,
) -> KubedbPostgres {
    let mut object = live.map(|l| serde_json::to_value(l).unwrap());
    match step {
        Step::Provision(created) => object = Some(serde_json::to_value(created).unwrap()),
        Step::Patch(patch) => json_patch::merge(object.as_mut().unwrap(), patch),
        Step::OpsRequest { request, .. } => {
            assert_valid_name(request.metadata.name.as_deref().unwrap());
            let object = object.as_mut().unwrap();
            object["spec"] = apply_ops_to_spec(&json!(request.spec), &object["spec"]).unwrap();
            let mut done = (**request).clone();
            done.status = serde_json::from_value(json!({"phase": "Successful"})).unwrap();
            ops.push(done);
        }
    }
    defaulted(object.unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn plans_converge_within_their_steps(
        name in database_name(),
        wanted in declared(),
        before in declared(),
        existing in prop::sample::select(vec!["none", "recorded", "unrecorded"]),
    ) {
        let manifest = manifest_named(&name, wanted.spec());
        let mut live = (existing != "none").then(|| live_from(&name, &before, existing == "recorded"));
        let mut ops = Vec::new();
        let first = plan_now(&manifest, live.as_ref(), &ops);
        // Refusals (a downgrade, a shrink, ...) are the checks' business, tested elsewhere.
        prop_assume!(first.errors.is_empty());
        let budget = first.steps.len();
        let mut executed = 0;
        loop {
            let plan = plan_now(&manifest, live.as_ref(), &ops);
            prop_assert_eq!(&plan.errors, &vec![], "after {} step(s)", executed);
            let Some(step) = plan.steps.first() else {
                if let Some(bookkeeping) = &plan.bookkeeping {
                    let mut object = serde_json::to_value(live.as_ref().unwrap()).unwrap();
                    json_patch::merge(&mut object, bookkeeping);
                    live = Some(defaulted(object));
                    let settled = plan_now(&manifest, live.as_ref(), &ops);
                    prop_assert!(settled.steps.is_empty() && settled.bookkeeping.is_none(),
                        "bookkeeping must settle: {:#?}", settled);
                }
                break;
            };
            executed += 1;
            prop_assert!(executed <= budget,
                "more steps than the first plan showed ({budget}): {:#?}", plan.steps);
            let next = carry_out(step, live.as_ref(), &mut ops);
            assert_requests_within_limits(&next);
            live = Some(next);
        }
    }
}
