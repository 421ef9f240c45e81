use serde_json::json;

use super::*;

fn violations(spec: Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    gitops_spec_schema().validate(&spec, &[PathSegment::Key("spec".into())], &mut out);
    out.into_iter()
        .map(|v| (crate::yaml::display_path(&v.path), v.message))
        .collect()
}

#[test]
fn a_valid_spec_passes() {
    let spec = json!({
        "version": "16.4", "replicas": 3, "storageType": "Durable",
        "storage": {"resources": {"requests": {"storage": "10Gi"}}},
        "podTemplate": {"spec": {"containers": [{"name": "postgres",
            "resources": {"requests": {"cpu": "500m", "memory": 1073741824}}}]}},
        "configuration": {"inline": {"user.conf": "max_connections = 200"}},
        "deletionPolicy": "WipeOut",
        "authSecret": {"name": "pg-auth"}
    });
    assert_eq!(violations(spec), vec![]);
}

#[test]
fn a_typo_names_the_field_and_suggests() {
    let found = violations(json!({"version": "16.4", "replica": 5}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "spec.replica");
    assert!(
        found[0].1.contains("did you mean `replicas`"),
        "{}",
        found[0].1
    );
}

#[test]
fn far_off_names_get_no_suggestion() {
    let found = violations(json!({"version": "16.4", "flavour": "x"}));
    assert_eq!(found[0].0, "spec.flavour");
    assert!(!found[0].1.contains("did you mean"), "{}", found[0].1);
}

#[test]
fn wrong_types_enums_patterns_and_required_fields() {
    let found = violations(json!({
        "replicas": "three",
        "deletionPolicy": "Destroy",
        "storage": {"resources": {"requests": {"storage": "ten gigs"}}}
    }));
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.contains(&"spec.replicas"), "{found:?}");
    assert!(paths.contains(&"spec.deletionPolicy"), "{found:?}");
    assert!(
        paths.contains(&"spec.storage.resources.requests.storage"),
        "{found:?}"
    );
    assert!(
        paths.contains(&"spec.version"),
        "missing version must be reported: {found:?}"
    );
}

#[test]
fn nested_typos_in_containers_are_found() {
    let found = violations(
        json!({"version": "16", "podTemplate": {"spec": {"containers": [
        {"name": "postgres", "resource": {}}]}}}),
    );
    assert_eq!(found[0].0, "spec.podTemplate.spec.containers[0].resource");
    assert!(found[0].1.contains("`resources`"));
}

#[test]
fn defaulted_required_fields_may_be_omitted() {
    // authSecret.kind is required but defaulted to Secret by the API server.
    assert_eq!(
        violations(json!({"version": "16", "authSecret": {"name": "a"}})),
        vec![]
    );
}

#[test]
fn schema_defaults_are_stripped_and_the_rest_kept() {
    let mut spec = json!({
        "version": "16",
        "healthChecker": {"failureThreshold": 1, "periodSeconds": 10, "timeoutSeconds": 10},
        "allowedSchemas": {"namespaces": {"from": "Same"}},
        "leaderElection": {"electionTick": 20, "heartbeatTick": 1, "period": "100ms"},
        "authSecret": {"name": "a", "kind": "Secret"}
    });
    gitops_spec_schema().strip_defaults(&mut spec);
    assert_eq!(
        spec,
        json!({"version": "16", "leaderElection": {"electionTick": 20}, "authSecret": {"name": "a"}})
    );
}

#[test]
fn edit_distance_basics() {
    assert_eq!(edit_distance("replica", "replicas"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("storageClass", "storageClassName"), 4);
}
