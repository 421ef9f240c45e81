//! The API server's rules for names, label keys and values and annotation keys. A manifest
//! that breaks them would be planned, then refused at apply time (or, with the sync stage,
//! never applied at all), so `plan` reports them at the field like any other manifest error.

use serde_json::{Map, Value};

use super::Violation;
use crate::yaml::PathSegment;

/// Checks `metadata.namespace` (the one the document ends up in), `metadata.labels` and the
/// keys of `metadata.annotations`.
pub(super) fn check_metadata(
    metadata: &Map<String, Value>,
    namespace: &str,
    out: &mut Vec<Violation>,
) {
    let at = |keys: &[&str]| -> Vec<PathSegment> {
        keys.iter()
            .map(|k| PathSegment::Key((*k).to_string()))
            .collect()
    };
    if !is_dns_label(namespace) {
        let declared = metadata.get("namespace").and_then(Value::as_str).is_some();
        out.push(Violation {
            path: if declared {
                at(&["metadata", "namespace"])
            } else {
                at(&["metadata"])
            },
            message: format!(
                "namespace {namespace:?}{} is not a valid namespace name (lower-case letters, \
                 digits and '-', starting and ending with a letter or digit, at most 63)",
                if declared { "" } else { " (the default)" }
            ),
        });
    }
    if let Some(labels) = metadata.get("labels").and_then(Value::as_object) {
        for (key, value) in labels {
            let path = at(&["metadata", "labels", key]);
            if let Some(problem) = qualified_name_problem(key) {
                out.push(Violation {
                    path: path.clone(),
                    message: format!("label key {key:?} {problem}"),
                });
            }
            match value {
                Value::String(text) => {
                    if let Some(problem) = label_value_problem(text) {
                        out.push(Violation {
                            path,
                            message: format!("label value {text:?} {problem}"),
                        });
                    }
                }
                // The API server reads labels as strings only; `true` or `1` must be quoted.
                Value::Null => {}
                other => out.push(Violation {
                    path,
                    message: format!("label value {other} must be a string (quote it)"),
                }),
            }
        }
    }
    if let Some(annotations) = metadata.get("annotations").and_then(Value::as_object) {
        for key in annotations.keys() {
            // The API server checks annotation keys lower-cased, with the label key rule.
            if let Some(problem) = qualified_name_problem(&key.to_lowercase()) {
                out.push(Violation {
                    path: at(&["metadata", "annotations", key]),
                    message: format!("annotation key {key:?} {problem}"),
                });
            }
        }
    }
}

/// RFC 1123 label: namespaces, and KubeDB's names (and the OpsRequest names derived from them).
pub(super) fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 in all.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Kubernetes' qualified name (label and annotation keys): `[prefix/]name`, the prefix a DNS
/// subdomain of at most 253, the name at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
fn qualified_name_problem(key: &str) -> Option<&'static str> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if prefix.is_some_and(|p| !is_dns_subdomain(p)) {
        return Some(
            "has an invalid prefix (a DNS subdomain: lower-case letters, digits, '-' and '.', \
             at most 253)",
        );
    }
    if name.is_empty() || label_value_problem(name).is_some() || name.contains('/') {
        return Some(
            "is not a valid key (at most 63 of letters, digits, '-', '_' and '.', starting and \
             ending with a letter or digit, after an optional 'prefix/')",
        );
    }
    None
}

/// A label value: empty, or at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
fn label_value_problem(value: &str) -> Option<&'static str> {
    let ok = value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && value
            .bytes()
            .next()
            .is_none_or(|b| b.is_ascii_alphanumeric())
        && value
            .bytes()
            .last()
            .is_none_or(|b| b.is_ascii_alphanumeric());
    (!ok).then_some(
        "is not valid (at most 63 of letters, digits, '-', '_' and '.', starting and ending with \
         a letter or digit)",
    )
}

#[cfg(test)]
mod tests;
