//! Numbers as YAML gives them: `1e9` unquoted is a float to a YAML parser, and kubectl sends it
//! as one; the API server takes a float with a whole value where the schema wants an integer or
//! a quantity. The planner takes the same input, compares it by value and plans with it.

use serde_json::json;

use super::*;

/// Loads `spec` (YAML text indented by two) for `db/pg1`, returning the manifest or the errors.
fn load(spec: &str) -> Result<Manifest, Vec<String>> {
    let text = format!(
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: pg1\n  namespace: db\nspec:\n{spec}"
    );
    let mut set = ManifestSet::default();
    load_text(
        Path::new("dbs/pg1.yaml"),
        Arc::from(text),
        &LoadOptions::default(),
        &mut set,
    );
    if set.errors.is_empty() {
        Ok(std::sync::Arc::unwrap_or_clone(set.manifests.remove(0)))
    } else {
        Err(set.errors.iter().map(ToString::to_string).collect())
    }
}

const SPEC: &str = "  version: \"16.4\"
  replicas: 3e0
  deletionPolicy: WipeOut
  storage:
    resources:
      requests:
        storage: 2e10
  podTemplate:
    spec:
      containers:
      - name: postgres
        resources:
          requests:
            cpu: 500m
            memory: 1.5e9
          limits:
            memory: 2E9
";

#[test]
fn unquoted_exponent_quantities_are_accepted_and_compared_by_value() {
    let manifest = load(SPEC).unwrap_or_else(|errors| panic!("{errors:?}"));
    let in_sync = live(set(
        set(
            set(
                live_spec(),
                "/storage/resources/requests/storage",
                json!("20G"),
            ),
            "/podTemplate/spec/containers/0/resources/requests/memory",
            json!("1500M"),
        ),
        "/podTemplate/spec/containers/0/resources/limits/memory",
        json!(2_000_000_000),
    ));
    let planned = plan(&manifest, Some(&in_sync));
    assert_eq!(planned.errors, vec![]);
    assert_eq!(types(&planned), vec![], "equal by value: nothing to do");

    let smaller = live(live_spec());
    let planned = plan(&manifest, Some(&smaller));
    assert_eq!(planned.errors, vec![]);
    assert_eq!(
        types(&planned),
        vec![StepType::VolumeExpansion, StepType::VerticalScaling]
    );
    assert_eq!(
        ops_spec(&planned, 0)["volumeExpansion"]["postgres"],
        json!(20_000_000_000_u64)
    );
    let resources = &ops_spec(&planned, 1)["verticalScaling"]["postgres"]["resources"];
    assert_eq!(resources["requests"]["memory"], json!(1_500_000_000));
    assert_eq!(resources["limits"]["memory"], json!(2_000_000_000));
    for index in 0..2 {
        assert_fits_ops_schema(planned.steps[index].ops_request().unwrap());
    }
}

/// The API server refuses a fraction where the schema wants an integer or a quantity (as a
/// string it is fine): the error says to quote it.
#[test]
fn unquoted_fractions_are_refused_with_a_hint_to_quote() {
    let errors = load(&SPEC.replace("cpu: 500m", "cpu: 0.5")).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("dbs/pg1.yaml:20: spec.podTemplate")
            && errors[0].contains("quote it"),
        "{errors:?}"
    );
    let errors = load(&SPEC.replace("replicas: 3e0", "replicas: 2.5")).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
}
