//! Every object the planner emits fits KubeDB's CRD schemas with no unknown field: the
//! OpsRequests, the Provision object, and each Patch (and bookkeeping patch) merged into the
//! live object it patches. A 1.20 API server prunes unknown fields silently, so a misspelt or
//! misplaced field would be lost without an error; here it fails the test. Every plan the
//! unit tests make goes through [`assert_fits_crds`] (the `plan*` helpers call it), so the
//! whole corpus is checked.

use std::sync::OnceLock;

use serde_json::Value;

use super::{DatabasePlan, Step};
use crate::manifest::schema::{Schema, Violation, compile_crd_spec};
use crate::models::KubedbPostgres;
use crate::yaml::PathSegment;

fn postgres_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let crd = include_str!("../../../vendor/kubedb-crds/kubedb.com_postgreses.yaml");
        compile_crd_spec(crd, "v1").unwrap()
    })
}

fn ops_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let crd =
            include_str!("../../../vendor/kubedb-crds/ops.kubedb.com_postgresopsrequests.yaml");
        compile_crd_spec(crd, "v1alpha1").unwrap()
    })
}

fn violations(schema: &Schema, spec: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    schema.validate(spec, &[PathSegment::Key("spec".into())], &mut found);
    found
}

/// The problems a patch brings into the live spec: those of the patched spec that the live
/// spec did not have already (test fixtures spell some live values as the API server
/// would not, such as `cpu: 0.5`, and a patch that leaves them alone is not to blame).
fn introduced_by(patch: &Value, live: &KubedbPostgres) -> Vec<Violation> {
    let before = serde_json::to_value(live).unwrap();
    let mut after = before.clone();
    json_patch::merge(&mut after, patch);
    let known = violations(postgres_schema(), &before["spec"]);
    violations(postgres_schema(), &after["spec"])
        .into_iter()
        .filter(|v| !known.contains(v))
        .collect()
}

/// Asserts that an OpsRequest's spec fits the `ops.kubedb.com` CRD.
pub fn assert_fits_ops_crd(request: &crate::models::PostgresOpsRequest) {
    let found = violations(ops_schema(), &serde_json::json!(request.spec));
    assert_eq!(found, vec![], "{:#?}", request.spec);
}

/// Asserts that every step of `plan`, and its bookkeeping patch, fits the CRDs.
pub fn assert_fits_crds(plan: &DatabasePlan, live: Option<&KubedbPostgres>) {
    for step in &plan.steps {
        let found = match step {
            Step::Provision(object) => {
                violations(postgres_schema(), &serde_json::json!(object.spec))
            }
            Step::OpsRequest { request, .. } => {
                violations(ops_schema(), &serde_json::json!(request.spec))
            }
            Step::Patch(patch) => introduced_by(patch, live.expect("a Patch has a live object")),
        };
        assert_eq!(found, vec![], "{}/{}: {step:#?}", plan.namespace, plan.name);
    }
    if let (Some(patch), Some(live)) = (&plan.bookkeeping, live) {
        assert_eq!(introduced_by(patch, live), vec![], "bookkeeping {patch:#}");
    }
}

/// The checker itself catches what the API server would prune or refuse.
#[test]
fn the_strict_check_refuses_unknown_and_misplaced_fields() {
    let unknown = serde_json::json!({"version": "16.4", "replica": 3});
    assert_eq!(violations(postgres_schema(), &unknown).len(), 1);
    let misplaced = serde_json::json!({"type": "Restart", "databaseRef": {"name": "pg1"},
        "verticalScaling": {"postgres": {"resources": {"requests": {"cpu": "1"}}, "cpu": "1"}}});
    assert_eq!(
        violations(ops_schema(), &misplaced).len(),
        1,
        "{:?}",
        violations(ops_schema(), &misplaced)
    );
}

/// The shipped examples (`pg-gitops plan --manifests examples/manifests --live examples/live`)
/// emit only objects the CRDs accept, with a Provision and OpsRequests among them.
#[test]
fn the_examples_plan_objects_that_fit_the_crds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let options = crate::manifest::LoadOptions::default();
    let set = crate::manifest::load_dir(&root.join("manifests"), &options);
    let live = crate::live::read_files(&[root.join("live")], &options.default_namespace);
    assert_eq!((set.errors.len(), live.errors.len()), (0, 0));
    let report = super::plan_report(&set, &live);
    let steps: Vec<&Step> = report.databases.iter().flat_map(|d| &d.steps).collect();
    assert!(
        steps.iter().any(|s| matches!(s, Step::Provision(_))),
        "{steps:#?}"
    );
    assert!(
        steps.iter().any(|s| matches!(s, Step::OpsRequest { .. })),
        "{steps:#?}"
    );
}
