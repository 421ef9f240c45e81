//! Removals inside a declared object: a key Git declared before (the last-applied record)
//! and no longer declares, while the object holding it stays declared.
//!
//! Only keys the record names are removed, never keys KubeDB defaulted into the live object:
//! the record is the only proof that pg-gitops put a value there. Objects are walked key by
//! key; a list is replaced whole (a merge patch cannot remove one item of it), so an item
//! that left a list of named items (by `name` or `alias`) makes the whole declared list be
//! sent again.

use serde_json::{Map, Value};

use super::compare::{covers, find_by, is_empty, list_match_key};

/// Paths whose removal changes nothing, as at the top level (`KEPT_WHEN_REMOVED`): resources
/// (VerticalScaling's, never reset by an absence) and the containers holding them.
const KEPT: [&[&str]; 3] = [
    &["podTemplate", "spec", "containers"],
    &["monitor", "prometheus", "exporter", "resources"],
    &["arbiter", "resources"],
];

/// Top-level fields whose insides are never removed: KubeDB refuses to change `init` once
/// the database is initialised, so such a patch would fail and block the database; a read
/// replica group is removed only by a HorizontalScaling (`members`).
const NOT_WALKED: [&str; 2] = ["init", "readReplicas"];

/// What removing keys inside one declared field takes.
#[derive(Debug, Default, PartialEq)]
pub struct Nested {
    /// A merge patch fragment for the field: `null` at each removed key.
    pub nulls: Map<String, Value>,
    /// An item left a list: the declared field must be sent whole, replacing the list.
    pub resend: bool,
}

impl Nested {
    pub fn is_empty(&self) -> bool {
        self.nulls.is_empty() && !self.resend
    }
}

/// The removals inside the declared field `key`.
pub fn nested(
    key: &str,
    declared: &Value,
    recorded: Option<&Value>,
    live: Option<&Value>,
) -> Nested {
    let mut out = Nested::default();
    if NOT_WALKED.contains(&key) {
        return out;
    }
    if let (Some(recorded), Some(live)) = (recorded, live) {
        let mut path = vec![key];
        if let Some(nulls) = walk(&mut path, declared, recorded, live, &mut out.resend) {
            out.nulls = nulls;
        }
    }
    out
}

/// True when an item with a match key (`name`, `alias`) that the record lists is gone from
/// the declared list but still live as it was declared. "As declared", not "present": KubeDB
/// re-adds some items with its defaults (a TLS certificate per alias), and those are no
/// longer ours to remove.
pub fn item_removed(declared: &Value, recorded: Option<&Value>, live: Option<&Value>) -> bool {
    let (Some(Value::Array(recorded)), Some(Value::Array(live))) = (recorded, live) else {
        return false;
    };
    let Some(key) = list_match_key(recorded) else {
        return false;
    };
    let declared = declared.as_array().map_or(&[][..], Vec::as_slice);
    recorded.iter().any(|item| {
        find_by(declared, key, &item[key]).is_none()
            && find_by(live, key, &item[key]).is_some_and(|l| covers(item, Some(l)))
    })
}

fn walk<'a>(
    path: &mut Vec<&'a str>,
    declared: &Value,
    recorded: &'a Value,
    live: &Value,
    resend: &mut bool,
) -> Option<Map<String, Value>> {
    if KEPT.iter().any(|kept| kept == path) {
        return None;
    }
    match (declared, recorded) {
        (Value::Object(declared), Value::Object(recorded)) => {
            let mut nulls = Map::new();
            for (key, was) in recorded {
                let now = live.get(key).filter(|v| !is_empty(v));
                path.push(key);
                match declared.get(key) {
                    None if now.is_some() && !KEPT.iter().any(|kept| kept == path) => {
                        nulls.insert(key.clone(), Value::Null);
                    }
                    Some(wanted) => {
                        if let Some(inner) = now.and_then(|l| walk(path, wanted, was, l, resend)) {
                            nulls.insert(key.clone(), Value::Object(inner));
                        }
                    }
                    None => {}
                }
                path.pop();
            }
            (!nulls.is_empty()).then_some(nulls)
        }
        (Value::Array(_), _) => {
            *resend |= item_removed(declared, Some(recorded), Some(live));
            None
        }
        _ => None,
    }
}

/// The live values at the keys `nulls` removes: what the diff shows as going away.
pub fn live_at(nulls: &Map<String, Value>, live: &Value) -> Map<String, Value> {
    let mut found = Map::new();
    for (key, removed) in nulls {
        let Some(value) = live.get(key) else { continue };
        match removed {
            Value::Object(inner) => {
                found.insert(key.clone(), Value::Object(live_at(inner, value)));
            }
            _ => {
                found.insert(key.clone(), value.clone());
            }
        }
    }
    found
}

/// Lays the `null`s of `nulls` into a patch value (the declared field, or `{}`).
pub fn overlay(target: &mut Value, nulls: &Map<String, Value>) {
    if nulls.is_empty() {
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return;
    };
    for (key, value) in nulls {
        match value {
            Value::Object(inner) => overlay(map.entry(key.clone()).or_insert(Value::Null), inner),
            other => {
                map.insert(key.clone(), other.clone());
            }
        }
    }
}
