//! What a successful PostgresOpsRequest changes in the `kubedb.com/v1` Postgres spec — the
//! ops-manager's last step, "update the database object to the new value" (`docs/kubedb-api.md` §3).
//!
//! Only the spec is touched; the caller writes it and then re-runs the defaulter, as KubeDB's
//! mutating webhook would on that write (for example an arbiter appears when the replica count
//! becomes even).

use serde_json::{Value, json};

use super::api::{COORDINATOR_CONTAINER, OpsType, POSTGRES_CONTAINER, USER_CONF};
use super::json::{is_unset, named_item, object_entry, set, str_at};

/// A request that passed validation but cannot be applied (should not happen; reported as the
/// request's failure rather than a crash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EffectError {
    #[error("spec.type {0:?} is not a PostgresOpsRequest type")]
    UnknownType(String),
    #[error("spec.{0} is missing")]
    MissingField(&'static str),
}

/// The database spec after `ops_spec` (the request's `spec`) succeeded on `db_spec`.
pub fn apply_ops_to_spec(ops_spec: &Value, db_spec: &Value) -> Result<Value, EffectError> {
    let type_name = str_at(ops_spec, "/type").unwrap_or_default();
    let op_type =
        OpsType::parse(type_name).ok_or_else(|| EffectError::UnknownType(type_name.into()))?;
    let mut spec = if db_spec.is_object() {
        db_spec.clone()
    } else {
        json!({})
    };
    let (block_name, _) = op_type.block();
    let block = ops_spec.get(block_name).unwrap_or(&Value::Null);
    match op_type {
        OpsType::UpdateVersion => {
            let target = str_at(block, "/targetVersion")
                .ok_or(EffectError::MissingField("updateVersion.targetVersion"))?;
            set(&mut spec, "version", json!(target));
        }
        OpsType::HorizontalScaling => apply_horizontal(block, &mut spec),
        OpsType::VerticalScaling => apply_vertical(block, &mut spec),
        OpsType::VolumeExpansion => {
            if let Some(size) = present(block.get("postgres")) {
                let requests = object_entry(
                    object_entry(object_entry(&mut spec, "storage"), "resources"),
                    "requests",
                );
                set(requests, "storage", size.clone());
            }
            if let Some(size) = present(block.get("arbiter")) {
                let requests = object_entry(
                    object_entry(object_entry(&mut spec, "arbiter"), "resources"),
                    "requests",
                );
                set(requests, "storage", size.clone());
            }
        }
        OpsType::Reconfigure => apply_reconfigure(block, &mut spec),
        OpsType::RotateAuth => {
            // Without a secretRef KubeDB rotates the password inside the same secret.
            if let Some(reference) = present(block.get("secretRef")) {
                let auth = object_entry(&mut spec, "authSecret");
                for key in ["name", "kind", "apiGroup"] {
                    if let Some(value) = present(reference.get(key)) {
                        set(auth, key, value.clone());
                    }
                }
            }
        }
        OpsType::ReconfigureTLS => apply_tls(block, &mut spec),
        OpsType::StorageMigration => {
            let class = present(block.get("storageClassName"))
                .ok_or(EffectError::MissingField("migration.storageClassName"))?;
            set(
                object_entry(&mut spec, "storage"),
                "storageClassName",
                class.clone(),
            );
        }
        OpsType::Restart
        | OpsType::ReconnectStandby
        | OpsType::ForceFailOver
        | OpsType::SetRaftKeyPair => {}
    }
    Ok(spec)
}

fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|value| !value.is_null())
}

fn apply_horizontal(block: &Value, spec: &mut Value) {
    for key in ["replicas", "standbyMode", "streamingMode"] {
        if let Some(value) = present(block.get(key)) {
            set(spec, key, value.clone());
        }
    }
    let Some(changes) = block.get("readReplicas").and_then(Value::as_array) else {
        return;
    };
    let list = object_entry_list(spec, "readReplicas");
    for change in changes {
        let Some(name) = str_at(change, "/name") else {
            continue;
        };
        let items = list.as_array_mut().expect("readReplicas is a list");
        if change.get("remove").and_then(Value::as_bool) == Some(true) {
            items.retain(|item| str_at(item, "/name") != Some(name));
            continue;
        }
        let mut wanted = change.clone();
        wanted.as_object_mut().map(|map| map.remove("remove"));
        let item = named_item(list, name);
        for (key, value) in wanted.as_object().into_iter().flatten() {
            set(item, key, value.clone());
        }
    }
    if list.as_array().is_some_and(Vec::is_empty) {
        spec.as_object_mut().map(|map| map.remove("readReplicas"));
    }
}

fn object_entry_list<'a>(parent: &'a mut Value, key: &str) -> &'a mut Value {
    let map = parent.as_object_mut().expect("spec is an object");
    let slot = map.entry(key.to_string()).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot
}

/// Each of `requests`/`limits` given in the request replaces that map of the container;
/// one the request leaves out is kept.
fn merge_resources(target: &mut Value, wanted: Option<&Value>) {
    let Some(wanted) = wanted.filter(|wanted| !is_unset(Some(wanted))) else {
        return;
    };
    let resources = object_entry(target, "resources");
    for key in ["requests", "limits", "claims"] {
        if let Some(value) = present(wanted.get(key)) {
            set(resources, key, value.clone());
        }
    }
}

fn apply_vertical(block: &Value, spec: &mut Value) {
    let containers = [
        ("/postgres/resources", POSTGRES_CONTAINER),
        ("/coordinator/resources", COORDINATOR_CONTAINER),
    ];
    for (pointer, container_name) in containers {
        if let Some(wanted) = block.pointer(pointer) {
            let pod_spec = object_entry(object_entry(spec, "podTemplate"), "spec");
            let container = named_item(object_entry_list(pod_spec, "containers"), container_name);
            merge_resources(container, Some(wanted));
        }
    }
    if let Some(wanted) = block.pointer("/exporter/resources") {
        let exporter = object_entry(
            object_entry(object_entry(spec, "monitor"), "prometheus"),
            "exporter",
        );
        merge_resources(exporter, Some(wanted));
    }
    if let Some(wanted) = block.pointer("/arbiter/resources") {
        merge_resources(object_entry(spec, "arbiter"), Some(wanted));
    }
    // Read replicas keep their resources on their own entry in spec.readReplicas.
    for change in block["readReplicas"].as_array().into_iter().flatten() {
        let (Some(name), Some(wanted)) = (
            str_at(change, "/name"),
            change.pointer("/postgres/resources"),
        ) else {
            continue;
        };
        let replica = named_item(object_entry_list(spec, "readReplicas"), name);
        merge_resources(replica, Some(wanted));
    }
}

fn apply_reconfigure(block: &Value, spec: &mut Value) {
    if block.get("removeCustomConfig").and_then(Value::as_bool) == Some(true) {
        let map = spec.as_object_mut().expect("spec is an object");
        map.remove("configuration");
        map.remove("configSecret");
    }
    let has_new_config = ["configSecret", "applyConfig", "tuning"]
        .iter()
        .any(|key| !is_unset(block.get(*key)));
    if !has_new_config {
        return;
    }
    let configuration = object_entry(spec, "configuration");
    if let Some(name) = str_at(block, "/configSecret/name").filter(|name| !name.is_empty()) {
        set(configuration, "secretName", json!(name));
    }
    // Only user.conf reaches the database (the webhook ignores an applyConfig without it).
    if let Some(user_conf) = block.pointer(&format!("/applyConfig/{USER_CONF}")) {
        set(configuration, "inline", json!({USER_CONF: user_conf}));
    }
    if let Some(tuning) = present(block.get("tuning")) {
        set(configuration, "tuning", tuning.clone());
    }
    // The legacy field would shadow the new one on the next defaulting pass.
    spec.as_object_mut().map(|map| map.remove("configSecret"));
}

fn apply_tls(block: &Value, spec: &mut Value) {
    if block.get("remove").and_then(Value::as_bool) == Some(true) {
        spec.as_object_mut().map(|map| map.remove("tls"));
        set(spec, "sslMode", json!("disable"));
        // Certificate authentication cannot work without TLS (database webhook rule, §1.3).
        if str_at(spec, "/clientAuthMode") == Some("cert") {
            set(spec, "clientAuthMode", json!("md5"));
        }
        return;
    }
    let tls = object_entry(spec, "tls");
    for key in ["issuerRef", "certificates"] {
        if let Some(value) = present(block.get(key)) {
            set(tls, key, value.clone());
        }
    }
    match str_at(block, "/sslMode") {
        Some(mode) => set(spec, "sslMode", json!(mode)),
        // TLS on with sslMode disable is refused by KubeDB; it switches to verify-full.
        None if matches!(str_at(spec, "/sslMode"), None | Some("disable")) => {
            set(spec, "sslMode", json!("verify-full"))
        }
        None => {}
    }
    if let Some(mode) = str_at(block, "/clientAuthMode") {
        set(spec, "clientAuthMode", json!(mode));
    }
}

#[cfg(test)]
mod tests;
