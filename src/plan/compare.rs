//! Declared-field comparison: the live object is full of KubeDB's defaults, so only what the
//! desired spec declares is compared. Quantities compare by value, lists of named things
//! match by name, and absent equals empty where the API treats them alike.

use serde_json::{Map, Value};

use kubedb_semantics::quantity::json_quantities_equal;

/// Keys whose entries are matched by name inside lists (containers, volumes, env, ...);
/// `alias` for serviceTemplates and certificates.
const LIST_MATCH_KEYS: [&str; 2] = ["name", "alias"];

/// Map keys whose values are resource quantities.
const QUANTITY_PARENTS: [&str; 3] = ["requests", "limits", "capacity"];

/// True when every field declared in `desired` has the same value in `live`.
pub fn covers(desired: &Value, live: Option<&Value>) -> bool {
    covers_in(desired, live, None, false)
}

/// `key` is the field holding this value; `in_quantity_map` says the enclosing map is a
/// `requests`/`limits` map, whose values are quantities.
fn covers_in(
    desired: &Value,
    live: Option<&Value>,
    key: Option<&str>,
    in_quantity_map: bool,
) -> bool {
    let Some(live) = live.filter(|v| !v.is_null()) else {
        return is_empty(desired);
    };
    match (desired, live) {
        (Value::Object(want), Value::Object(have)) => {
            let children_are_quantities = key.is_some_and(|k| QUANTITY_PARENTS.contains(&k));
            want.iter()
                .all(|(k, v)| covers_in(v, have.get(k), Some(k), children_are_quantities))
        }
        (Value::Array(want), Value::Array(have)) => match list_match_key(want) {
            Some(match_key) => want.iter().all(|item| {
                covers_in(
                    item,
                    find_by(have, match_key, &item[match_key]),
                    None,
                    false,
                )
            }),
            None => {
                want.len() == have.len()
                    && want
                        .iter()
                        .zip(have)
                        .all(|(w, h)| covers_in(w, Some(h), None, false))
            }
        },
        (Value::Null, _) => true,
        // `storage` sizes are quantities too (PVC specs, VolumeExpansion).
        (want, have) if in_quantity_map || key == Some("storage") => {
            json_quantities_equal(want, have)
        }
        (want, have) => want == have,
    }
}

/// The key by which a list's items are matched, when every item carries it.
pub fn list_match_key(items: &[Value]) -> Option<&'static str> {
    if items.is_empty() {
        return None;
    }
    LIST_MATCH_KEYS.into_iter().find(|key| {
        items
            .iter()
            .all(|item| item.get(key).is_some_and(Value::is_string))
    })
}

/// The item of `items` whose `key` equals `value`.
pub fn find_by<'a>(items: &'a [Value], key: &str, value: &Value) -> Option<&'a Value> {
    items.iter().find(|item| item.get(key) == Some(value))
}

/// Null, `""`, `{}`, `[]` and `false` mean "not set" to KubeDB's API.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
        Value::Number(_) => false,
    }
}

/// The live values at the paths `desired` declares: what the user would see as "before".
/// Lists of named items keep the desired order and only the declared items; a live value
/// equal to the desired one (`1024Mi` for `1Gi`) shows in the desired spelling, so the diff
/// only shows real changes.
pub fn project(desired: &Value, live: Option<&Value>) -> Value {
    project_in(desired, live, None, false)
}

fn project_in(
    desired: &Value,
    live: Option<&Value>,
    key: Option<&str>,
    in_quantity_map: bool,
) -> Value {
    let Some(live) = live.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match (desired, live) {
        (Value::Object(want), Value::Object(have)) => {
            let children_are_quantities = key.is_some_and(|k| QUANTITY_PARENTS.contains(&k));
            let mut out = Map::new();
            for (k, value) in want {
                let projected = project_in(value, have.get(k), Some(k), children_are_quantities);
                if !projected.is_null() {
                    out.insert(k.clone(), projected);
                }
            }
            Value::Object(out)
        }
        (Value::Array(want), Value::Array(have)) => match list_match_key(want) {
            Some(match_key) => Value::Array(
                want.iter()
                    .filter_map(|item| {
                        find_by(have, match_key, &item[match_key])
                            .map(|found| project_in(item, Some(found), None, false))
                    })
                    .collect(),
            ),
            None => live.clone(),
        },
        _ if covers_in(desired, Some(live), key, in_quantity_map) => desired.clone(),
        _ => live.clone(),
    }
}

/// Canonical JSON: keys sorted at every level, so equal values hash equally.
pub fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_declared_fields_are_compared() {
        let desired =
            json!({"replicas": 3, "storage": {"resources": {"requests": {"storage": "10Gi"}}}});
        let live = json!({"replicas": 3, "standbyMode": "Hot", "storage": {"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10240Mi"}}}});
        assert!(covers(&desired, Some(&live)));
        assert!(!covers(&json!({"replicas": 5}), Some(&live)));
    }

    #[test]
    fn quantities_compare_by_value_only_where_they_are_quantities() {
        let live = json!({"requests": {"cpu": "500m", "memory": "1Gi"}});
        assert!(covers(
            &json!({"requests": {"cpu": 0.5, "memory": "1024Mi"}}),
            Some(&live)
        ));
        assert!(!covers(&json!({"requests": {"cpu": "1"}}), Some(&live)));
        // A version string is not a quantity: "16.4" and "16.40" differ.
        assert!(!covers(
            &json!({"version": "16.40"}),
            Some(&json!({"version": "16.4"}))
        ));
    }

    #[test]
    fn named_lists_match_by_name_and_ignore_extra_live_items() {
        let live = json!([{"name": "pg-coordinator", "resources": {}}, {"name": "postgres", "image": "x"}]);
        assert!(covers(
            &json!([{"name": "postgres", "image": "x"}]),
            Some(&live)
        ));
        assert!(!covers(
            &json!([{"name": "postgres", "image": "y"}]),
            Some(&live)
        ));
        assert!(!covers(&json!([{"name": "exporter"}]), Some(&live)));
    }

    #[test]
    fn plain_lists_compare_whole() {
        assert!(covers(&json!(["a", "b"]), Some(&json!(["a", "b"]))));
        assert!(!covers(&json!(["a"]), Some(&json!(["a", "b"]))));
    }

    #[test]
    fn absent_and_empty_are_alike() {
        assert!(covers(&json!({"labels": {}}), Some(&json!({}))));
        assert!(covers(&json!({"enforceFsGroup": false}), Some(&json!({}))));
        assert!(!covers(&json!({"enforceFsGroup": true}), Some(&json!({}))));
        assert!(covers(&json!({}), None));
    }

    #[test]
    fn projection_shows_live_values_at_declared_paths() {
        let desired = json!({"replicas": 5, "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": {"requests": {"cpu": "1"}}}]}}});
        let live = json!({"replicas": 3, "deletionPolicy": "Delete", "podTemplate": {"spec": {"serviceAccountName": "pg", "containers": [
            {"name": "pg-coordinator"}, {"name": "postgres", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}});
        assert_eq!(
            project(&desired, Some(&live)),
            json!({"replicas": 3, "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": {"requests": {"cpu": "500m"}}}]}}})
        );
        // Equal values show in the desired spelling; a version is not a quantity.
        assert_eq!(
            project(
                &json!({"storage": "1Gi", "version": "16.40"}),
                Some(&json!({"storage": "1024Mi", "version": "16.4"}))
            ),
            json!({"storage": "1Gi", "version": "16.4"})
        );
    }

    #[test]
    fn canonical_sorts_keys() {
        assert_eq!(
            canonical(&json!({"b": 1, "a": {"d": 2, "c": 3}})),
            r#"{"a":{"c":3,"d":2},"b":1}"#
        );
    }
}
