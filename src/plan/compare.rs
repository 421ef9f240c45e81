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
pub(crate) fn list_match_key(items: &[Value]) -> Option<&'static str> {
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
pub(crate) fn find_by<'a>(items: &'a [Value], key: &str, value: &Value) -> Option<&'a Value> {
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
pub(crate) fn canonical(value: &Value) -> String {
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
mod tests;
