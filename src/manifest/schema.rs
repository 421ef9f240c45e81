//! Validation of gitops manifests against KubeDB's published CRD schema (vendored under
//! `vendor/kubedb-crds/`). The API server would prune unknown fields silently, so a typo such
//! as `spec.replica` has to be caught here, with the path and a did-you-mean.
//!
//! The OpenAPI v3 subset Kubernetes structural schemas use is compiled once into a tree of
//! [`Schema`] nodes; validation walks a JSON value against it and collects every problem.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::yaml::{self, PathSegment, YamlError};

const GITOPS_CRD: &str = include_str!("../../vendor/kubedb-crds/gitops.kubedb.com_postgreses.yaml");

/// Errors from compiling a CRD schema (only for a broken vendored file).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("CRD file is not valid YAML: {0}")]
    Yaml(#[from] YamlError),
    #[error("CRD has no openAPIV3Schema for version {0}")]
    Missing(String),
    #[error("CRD schema pattern {pattern:?} does not compile: {source}")]
    Pattern {
        pattern: String,
        source: regex::Error,
    },
}

/// One problem found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: Vec<PathSegment>,
    pub message: String,
}

#[derive(Debug, Default)]
enum Kind {
    #[default]
    Any,
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    IntOrString,
}

/// A compiled schema node.
#[derive(Debug, Default)]
pub struct Schema {
    kind: Kind,
    properties: BTreeMap<String, Schema>,
    additional: Option<Box<Schema>>,
    items: Option<Box<Schema>>,
    /// Required properties that have no default (the API server fills defaulted ones).
    required: Vec<String>,
    enumeration: Option<Vec<Value>>,
    pattern: Option<Regex>,
    preserve_unknown: bool,
    /// Objects with neither properties nor additionalProperties accept any key.
    open: bool,
    /// The value the API server fills in when the field is absent.
    default: Option<Value>,
}

impl Schema {
    fn compile(node: &Value) -> Result<Self, SchemaError> {
        let preserve_unknown = node["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
        let kind = if node["x-kubernetes-int-or-string"] == Value::Bool(true) {
            Kind::IntOrString
        } else {
            match node["type"].as_str() {
                Some("object") => Kind::Object,
                Some("array") => Kind::Array,
                Some("string") => Kind::String,
                Some("integer") => Kind::Integer,
                Some("number") => Kind::Number,
                Some("boolean") => Kind::Boolean,
                _ => Kind::Any,
            }
        };
        let mut properties = BTreeMap::new();
        if let Some(map) = node["properties"].as_object() {
            for (name, child) in map {
                properties.insert(name.clone(), Self::compile(child)?);
            }
        }
        let additional = match &node["additionalProperties"] {
            Value::Object(_) => Some(Box::new(Self::compile(&node["additionalProperties"])?)),
            Value::Bool(true) => Some(Box::default()),
            _ => None,
        };
        let items = match &node["items"] {
            Value::Object(_) => Some(Box::new(Self::compile(&node["items"])?)),
            _ => None,
        };
        let required = node["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|name| node["properties"][name].get("default").is_none())
            .map(str::to_string)
            .collect();
        let pattern = match node["pattern"].as_str() {
            Some(pattern) => Some(Regex::new(pattern).map_err(|source| SchemaError::Pattern {
                pattern: pattern.to_string(),
                source,
            })?),
            None => None,
        };
        let open = matches!(kind, Kind::Object | Kind::Any)
            && properties.is_empty()
            && additional.is_none();
        Ok(Self {
            kind,
            properties,
            additional,
            items,
            required,
            enumeration: node["enum"].as_array().cloned(),
            pattern,
            preserve_unknown,
            open,
            default: node.get("default").cloned(),
        })
    }

    /// Removes every field whose value equals its schema default, recursively. Applied to
    /// manifests from Git and to objects read back from the cluster alike, so the API
    /// server's defaulting never looks like something the user declared (or removed).
    pub fn strip_defaults(&self, value: &mut Value) {
        match value {
            Value::Object(map) => map.retain(|key, child| {
                let Some(schema) = self.properties.get(key).or(self.additional.as_deref()) else {
                    return true;
                };
                if schema.default.as_ref() == Some(child) {
                    return false;
                }
                schema.strip_defaults(child);
                true
            }),
            Value::Array(items) => {
                if let Some(schema) = &self.items {
                    items
                        .iter_mut()
                        .for_each(|item| schema.strip_defaults(item));
                }
            }
            _ => {}
        }
    }

    /// Turns floats with a whole value into integers where the schema wants an integer (or
    /// an integer or a string, as quantities): YAML reads an unquoted `1e9` as a float, the
    /// API server accepts it there, and the typed model and the OpsRequests want the integer.
    /// One past the integer range stays as it is (a float compares by value as a quantity).
    pub fn normalize_numbers(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if let Some(schema) = self.properties.get(key).or(self.additional.as_deref()) {
                        schema.normalize_numbers(child);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(schema) = &self.items {
                    items
                        .iter_mut()
                        .for_each(|item| schema.normalize_numbers(item));
                }
            }
            Value::Number(number) if matches!(self.kind, Kind::Integer | Kind::IntOrString) => {
                if let Some(whole) = number.as_f64().and_then(whole_integer) {
                    *value = whole;
                }
            }
            _ => {}
        }
    }

    /// Validates `value`, pushing every problem found under `path`.
    pub fn validate(&self, value: &Value, path: &[PathSegment], out: &mut Vec<Violation>) {
        let mut borrowed: Vec<Segment<'_>> = path
            .iter()
            .map(|segment| match segment {
                PathSegment::Key(key) => Segment::Key(key),
                PathSegment::Index(index) => Segment::Index(*index),
            })
            .collect();
        self.walk(value, &mut borrowed, out);
    }

    /// The walk proper: the path is borrowed from the document and made owned only for a
    /// violation, so a valid manifest allocates nothing per field.
    fn walk<'v>(&self, value: &'v Value, path: &mut Vec<Segment<'v>>, out: &mut Vec<Violation>) {
        if value.is_null() {
            // Explicit nulls are dropped by the API server, as if the field were absent.
            return;
        }
        if let Some(expected) = self.type_mismatch(value) {
            out.push(Violation {
                path: owned(path),
                message: format!("expected {expected}, found {}", describe(value)),
            });
            return;
        }
        if let Some(allowed) = &self.enumeration
            && !allowed.contains(value)
        {
            let choices: Vec<String> = allowed.iter().map(Value::to_string).collect();
            out.push(Violation {
                path: owned(path),
                message: format!("{value} is not one of {}", choices.join(", ")),
            });
        }
        if let (Some(pattern), Some(text)) = (&self.pattern, value.as_str())
            && !pattern.is_match(text)
        {
            out.push(Violation {
                path: owned(path),
                message: format!("{text:?} does not match the pattern {}", pattern.as_str()),
            });
        }
        match value {
            Value::Object(map) => self.validate_object(map, path, out),
            Value::Array(items) => {
                if let Some(schema) = &self.items {
                    for (index, item) in items.iter().enumerate() {
                        path.push(Segment::Index(index));
                        schema.walk(item, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    fn validate_object<'v>(
        &self,
        map: &'v serde_json::Map<String, Value>,
        path: &mut Vec<Segment<'v>>,
        out: &mut Vec<Violation>,
    ) {
        for (key, child) in map {
            path.push(Segment::Key(key));
            if let Some(schema) = self.properties.get(key) {
                schema.walk(child, path, out);
            } else if let Some(schema) = &self.additional {
                schema.walk(child, path, out);
            } else if !(self.preserve_unknown || self.open) {
                out.push(Violation {
                    path: owned(path),
                    message: unknown_field_message(key, self.properties.keys()),
                });
            }
            path.pop();
        }
        for name in &self.required {
            if !map.contains_key(name) {
                let mut missing = owned(path);
                missing.push(PathSegment::Key(name.clone()));
                out.push(Violation {
                    path: missing,
                    message: "required field is missing".to_string(),
                });
            }
        }
    }

    fn type_mismatch(&self, value: &Value) -> Option<&'static str> {
        let ok = match self.kind {
            Kind::Any => true,
            Kind::Object => value.is_object(),
            Kind::Array => value.is_array(),
            Kind::String => value.is_string(),
            Kind::Integer => is_integer(value),
            Kind::Number => value.is_number(),
            Kind::Boolean => value.is_boolean(),
            Kind::IntOrString => value.is_string() || is_integer(value),
        };
        if ok {
            return None;
        }
        Some(match self.kind {
            Kind::Object => "a mapping",
            Kind::Array => "a list",
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::Number => "a number",
            Kind::Boolean => "true or false",
            Kind::IntOrString if value.is_number() => {
                "an integer or a string (quote it, as in \"0.5\", to give a fraction)"
            }
            Kind::IntOrString => "an integer or a string",
            Kind::Any => "anything",
        })
    }
}

/// An integer, or a float with a whole value (what the API server takes as an integer).
fn is_integer(value: &Value) -> bool {
    value.is_i64()
        || value.is_u64()
        || value
            .as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// The integer a whole float stands for, when it is one and fits.
fn whole_integer(float: f64) -> Option<Value> {
    if !float.is_finite() || float.fract() != 0.0 {
        return None;
    }
    // Bounds as floats: i64::MIN is exact, u64::MAX rounds up to 2^64, hence the `<`.
    if float >= 0.0 && float < u64::MAX as f64 {
        Some(Value::from(float as u64))
    } else if float < 0.0 && float >= i64::MIN as f64 {
        Some(Value::from(float as i64))
    } else {
        None
    }
}

/// A path segment borrowed from the document being validated.
#[derive(Clone, Copy)]
enum Segment<'v> {
    Key(&'v str),
    Index(usize),
}

fn owned(path: &[Segment<'_>]) -> Vec<PathSegment> {
    path.iter()
        .map(|segment| match segment {
            Segment::Key(key) => PathSegment::Key((*key).to_string()),
            Segment::Index(index) => PathSegment::Index(*index),
        })
        .collect()
}

fn describe(value: &Value) -> String {
    match value {
        Value::Object(_) => "a mapping".into(),
        Value::Array(_) => "a list".into(),
        Value::String(s) => format!("the string {s:?}"),
        other => other.to_string(),
    }
}

/// "unknown field" plus the closest known sibling when one is near enough to be a typo.
fn unknown_field_message<'a>(key: &str, known: impl Iterator<Item = &'a String>) -> String {
    let best = known
        .map(|candidate| {
            (
                edit_distance(&key.to_lowercase(), &candidate.to_lowercase()),
                candidate,
            )
        })
        .min();
    match best {
        Some((distance, candidate)) if distance <= (key.len().max(3) / 3).max(1) => {
            format!(
                "unknown field (the API server would silently drop it); did you mean `{candidate}`?"
            )
        }
        _ => "unknown field (the API server would silently drop it)".to_string(),
    }
}

/// Levenshtein distance, for did-you-mean suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// The compiled `spec` schema of `gitops.kubedb.com/v1alpha1` Postgres.
pub fn gitops_spec_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        compile_crd_spec(GITOPS_CRD, "v1alpha1").expect("the vendored gitops CRD compiles")
    })
}

/// Compiles the `spec` schema of one version of a CRD.
pub fn compile_crd_spec(crd_yaml: &str, version: &str) -> Result<Schema, SchemaError> {
    let crd: Value = yaml::parse_value(crd_yaml)?;
    let versions = crd["spec"]["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let schema = versions
        .iter()
        .find(|v| v["name"] == version)
        .map(|v| &v["schema"]["openAPIV3Schema"]["properties"]["spec"])
        .filter(|s| !s.is_null())
        .ok_or_else(|| SchemaError::Missing(version.to_string()))?;
    Schema::compile(schema)
}

#[cfg(test)]
mod tests;
