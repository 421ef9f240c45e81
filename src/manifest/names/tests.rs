use std::path::Path;
use std::sync::Arc;

use crate::manifest::{LoadOptions, ManifestError, ManifestSet, load_text};

/// Loads one manifest whose metadata block is `metadata` (indented by two), returning its
/// errors.
fn errors(metadata: &str) -> Vec<ManifestError> {
    let text = format!(
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: pg1\n{metadata}spec:\n  version: \"16.4\"\n"
    );
    let mut set = ManifestSet::default();
    load_text(
        Path::new("pg1.yaml"),
        Arc::from(text),
        &LoadOptions::default(),
        &mut set,
    );
    set.errors
}

#[test]
fn invalid_namespaces_are_errors_at_their_line() {
    for namespace in [
        "Shop",
        "shop_1",
        "-shop",
        "shop-",
        &"a".repeat(64),
        "shop.eu",
    ] {
        let errors = errors(&format!("  namespace: \"{namespace}\"\n"));
        assert_eq!(errors.len(), 1, "{namespace:?}: {errors:?}");
        assert_eq!(errors[0].line, 5, "{namespace:?}");
        assert!(
            errors[0].message.starts_with("metadata.namespace: ")
                && errors[0].message.contains("not a valid namespace name"),
            "{}",
            errors[0].message
        );
        assert_eq!(
            errors[0].database,
            Some((namespace.to_string(), "pg1".into()))
        );
    }
    assert_eq!(errors("  namespace: shop-1\n"), vec![]);
    assert_eq!(
        errors(&format!("  namespace: {}\n", "a".repeat(63))),
        vec![]
    );
}

#[test]
fn an_invalid_default_namespace_is_an_error_too() {
    let mut set = ManifestSet::default();
    load_text(
        Path::new("pg1.yaml"),
        Arc::from(
            "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: pg1\nspec:\n  version: \"16.4\"\n",
        ),
        &LoadOptions {
            default_namespace: "Not_A_Namespace".into(),
            ..LoadOptions::default()
        },
        &mut set,
    );
    assert_eq!(set.errors.len(), 1, "{:?}", set.errors);
    assert!(
        set.errors[0].message.contains("(the default)"),
        "{}",
        set.errors[0].message
    );
}

#[test]
fn invalid_label_keys_and_values_are_errors_at_their_line() {
    let long = "a".repeat(64);
    let long_prefix = format!("{}.example/app", "a".repeat(250));
    let bad = [
        ("team", "-a"),
        ("team", "a b"),
        ("team", "a/b"),
        ("team", long.as_str()),
        ("Example.com/team", "a"),
        ("example.com/", "a"),
        ("a/b/c", "a"),
        (long.as_str(), "a"),
        (long_prefix.as_str(), "a"),
        ("_team", "a"),
    ];
    for (key, value) in bad {
        let errors = errors(&format!("  labels:\n    \"{key}\": \"{value}\"\n"));
        assert_eq!(errors.len(), 1, "{key:?}: {value:?}: {errors:?}");
        assert_eq!(errors[0].line, 6, "{key:?}: {value:?}");
        assert!(
            errors[0]
                .message
                .starts_with(&format!("metadata.labels.{key}: label ")),
            "{}",
            errors[0].message
        );
    }
    let numeric = errors("  labels:\n    tier: 1\n");
    assert_eq!(numeric.len(), 1, "{numeric:?}");
    assert!(
        numeric[0].message.contains("must be a string"),
        "{numeric:?}"
    );
    let good = "  labels:\n    team: a.b_c-D9\n    example.com/tier: \"\"\n    app.kubernetes.io/part-of: shop\n";
    assert_eq!(errors(good), vec![]);
}

#[test]
fn invalid_annotation_keys_are_errors_but_any_value_is_fine() {
    let errors_found = errors("  annotations:\n    \"bad key\": x\n");
    assert_eq!(errors_found.len(), 1, "{errors_found:?}");
    assert_eq!(errors_found[0].line, 6);
    let good = "  annotations:\n    Example.com/Note: \"any value, with spaces / and more than sixty-three characters in all of it\"\n";
    assert_eq!(errors(good), vec![]);
}
