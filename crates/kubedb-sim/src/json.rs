//! Small helpers for editing `serde_json::Value` trees the way KubeDB's Go code edits structs:
//! create a parent object when it is missing, fill a field only when it is absent.

use serde_json::{Map, Value};

/// The object under `key`, created (or replaced, if it holds a non-object such as `null`) when
/// needed. `parent` must be an object; a non-object parent is turned into an empty one first.
pub fn object_entry<'a>(parent: &'a mut Value, key: &str) -> &'a mut Value {
    let map = as_object(parent);
    let slot = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot
}

/// Sets `key` only when it is absent or `null`: a defaulter never overrides what the user wrote.
pub fn fill(parent: &mut Value, key: &str, value: Value) {
    let map = as_object(parent);
    match map.get(key) {
        Some(existing) if !existing.is_null() => {}
        _ => {
            map.insert(key.to_string(), value);
        }
    }
}

/// Sets `key`, replacing whatever was there.
pub fn set(parent: &mut Value, key: &str, value: Value) {
    as_object(parent).insert(key.to_string(), value);
}

/// Whether `value` is absent, `null`, or an empty object/array/string (Go's zero value).
pub fn is_unset(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Object(map)) => map.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::String(text)) => text.is_empty(),
        Some(_) => false,
    }
}

/// The string at a JSON pointer, if there is one.
pub fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// The container (or init container) named `name` in a list, appended when missing.
pub fn named_item<'a>(list: &'a mut Value, name: &str) -> &'a mut Value {
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let items = list.as_array_mut().expect("just made an array");
    let position = items
        .iter()
        .position(|item| item.get("name").and_then(Value::as_str) == Some(name));
    let index = match position {
        Some(index) => index,
        None => {
            let mut item = Map::new();
            item.insert("name".into(), Value::String(name.into()));
            items.push(Value::Object(item));
            items.len() - 1
        }
    };
    &mut items[index]
}

/// A JSON merge patch (RFC 7386) that turns `old` into `new`; `None` when they are equal.
/// Arrays are replaced whole, which is also how the API server merges them for custom
/// resources.
pub fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(old_map), Value::Object(new_map)) => {
            let mut patch = Map::new();
            for (key, new_value) in new_map {
                match old_map.get(key) {
                    Some(old_value) => {
                        if let Some(child) = merge_patch(old_value, new_value) {
                            patch.insert(key.clone(), child);
                        }
                    }
                    None => {
                        patch.insert(key.clone(), new_value.clone());
                    }
                }
            }
            for key in old_map.keys() {
                if !new_map.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ if old == new => None,
        _ => Some(new.clone()),
    }
}

fn as_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    value.as_object_mut().expect("just made an object")
}

#[cfg(test)]
mod tests;
