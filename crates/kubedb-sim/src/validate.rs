//! KubeDB's validating webhook for PostgresOpsRequest (`docs/kubedb-api.md` §2.5), as a pure
//! function. KubeDB refuses such requests at admission; the simulator cannot (it is not a
//! webhook), so it ends them `Failed` with the refusal as the condition message.

use std::collections::BTreeMap;

use serde_json::Value;

use super::api::{BlockRule, OpsType, USER_CONF};
use super::json::{is_unset, str_at};
use super::versions::{VersionRefusal, check_update};
use kubedb_semantics::quantity::Quantity;

/// Why KubeDB would refuse an OpsRequest. The text is the `Failed` condition's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("database {0:?} (kubedb.com/v1 Postgres) not found in the request's namespace")]
    UnknownDatabase(String),
    #[error("spec.type {0:?} is not a PostgresOpsRequest type")]
    UnknownType(String),
    #[error("spec.{block} is required for spec.type {op_type}")]
    MissingBlock {
        op_type: OpsType,
        block: &'static str,
    },
    #[error("horizontalScaling must set exactly one of replicas and readReplicas")]
    ReplicasOrReadReplicas,
    #[error("horizontalScaling.replicas must be at least 1, got {0}")]
    TooFewReplicas(i64),
    #[error(
        "verticalScaling must set at least one of postgres, coordinator, arbiter or readReplicas (exporter alone is not enough)"
    )]
    NothingToScale,
    #[error("volumeExpansion must set postgres or arbiter")]
    NothingToExpand,
    #[error(
        "volumeExpansion.{field} ({requested}) must be strictly larger than the current size {current}"
    )]
    VolumeNotLarger {
        field: &'static str,
        requested: String,
        current: String,
    },
    #[error("volumeExpansion.{field}: {reason}")]
    VolumeUnreadable { field: &'static str, reason: String },
    #[error(
        "configuration must set at least one of removeCustomConfig, configSecret, applyConfig or tuning"
    )]
    NothingToReconfigure,
    #[error("configuration.applyConfig needs the key user.conf, got {0:?}")]
    ApplyConfigWithoutUserConf(Vec<String>),
    #[error(
        "verticalScaling.readReplicas names {0:?}, which is not in the database's spec.readReplicas"
    )]
    UnknownReadReplica(String),
    #[error("configuration.restart \"false\" cannot be combined with removeCustomConfig")]
    RemoveWithoutRestart,
    #[error("updateVersion.targetVersion is empty")]
    EmptyTargetVersion,
    #[error("target PostgresVersion {0:?} not found")]
    TargetVersionMissing(String),
    #[error("the database's current PostgresVersion {0:?} not found")]
    CurrentVersionMissing(String),
    #[error(transparent)]
    Version(#[from] VersionRefusal),
    #[error(
        "authentication.secretRef {secret:?} has username {new:?} but the current auth secret has {current:?}; the username cannot change"
    )]
    UsernameChange {
        secret: String,
        new: String,
        current: String,
    },
    #[error("StorageMigration needs spec.timeout and migration.storageClassName")]
    MigrationIncomplete,
    #[error("StorageMigration needs an explicit spec.storage.storageClassName on the database")]
    MigrationWithoutStorageClass,
}

/// What the webhook looks up in the cluster besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The `kubedb.com/v1` Postgres named by `spec.databaseRef.name`, if it exists.
    pub database: Option<&'a Value>,
    /// PostgresVersion objects by name.
    pub versions: &'a BTreeMap<String, Value>,
    /// Secrets in the request's namespace that exist, by name, with their `username` key.
    pub secret_usernames: &'a BTreeMap<String, Option<String>>,
}

/// Accepts the request (returning its type) or says why KubeDB would refuse it.
pub fn validate_ops_request(ops: &Value, facts: &Facts<'_>) -> Result<OpsType, Refusal> {
    let spec = &ops["spec"];
    let type_name = str_at(spec, "/type").unwrap_or_default();
    let op_type =
        OpsType::parse(type_name).ok_or_else(|| Refusal::UnknownType(type_name.to_string()))?;
    let Some(database) = facts.database else {
        let name = str_at(spec, "/databaseRef/name").unwrap_or_default();
        return Err(Refusal::UnknownDatabase(name.to_string()));
    };
    let (block_name, rule) = op_type.block();
    let block = spec.get(block_name).filter(|block| !block.is_null());
    if rule == BlockRule::Required && block.is_none() {
        return Err(Refusal::MissingBlock {
            op_type,
            block: block_name,
        });
    }
    let block = block.unwrap_or(&Value::Null);
    let db_spec = &database["spec"];
    match op_type {
        OpsType::HorizontalScaling => check_horizontal(block)?,
        OpsType::VerticalScaling => {
            let has_target = ["postgres", "coordinator", "arbiter", "readReplicas"]
                .iter()
                .any(|key| !is_unset(block.get(*key)));
            if !has_target {
                return Err(Refusal::NothingToScale);
            }
            for wanted in block["readReplicas"].as_array().into_iter().flatten() {
                let name = str_at(wanted, "/name").unwrap_or_default();
                let exists = db_spec["readReplicas"].as_array().is_some_and(|items| {
                    items.iter().any(|item| str_at(item, "/name") == Some(name))
                });
                if !exists {
                    return Err(Refusal::UnknownReadReplica(name.to_string()));
                }
            }
        }
        OpsType::VolumeExpansion => check_volume(block, db_spec)?,
        OpsType::Reconfigure => check_reconfigure(block)?,
        OpsType::UpdateVersion => check_version(block, db_spec, facts.versions)?,
        OpsType::RotateAuth => check_rotate_auth(block, database, facts.secret_usernames)?,
        OpsType::StorageMigration => {
            if is_unset(spec.get("timeout")) || is_unset(block.get("storageClassName")) {
                return Err(Refusal::MigrationIncomplete);
            }
            if is_unset(db_spec.pointer("/storage/storageClassName")) {
                return Err(Refusal::MigrationWithoutStorageClass);
            }
        }
        OpsType::Restart
        | OpsType::ReconfigureTLS
        | OpsType::ReconnectStandby
        | OpsType::ForceFailOver
        | OpsType::SetRaftKeyPair => {}
    }
    Ok(op_type)
}

fn check_horizontal(block: &Value) -> Result<(), Refusal> {
    let replicas = block.get("replicas").filter(|value| !value.is_null());
    let read_replicas = !is_unset(block.get("readReplicas"));
    match (replicas, read_replicas) {
        (Some(replicas), false) => {
            let count = replicas.as_i64().unwrap_or(0);
            if count < 1 {
                return Err(Refusal::TooFewReplicas(count));
            }
            Ok(())
        }
        (None, true) => {
            for read_replica in block["readReplicas"].as_array().into_iter().flatten() {
                match read_replica.get("replicas").and_then(Value::as_i64) {
                    Some(count) if count < 1 => return Err(Refusal::TooFewReplicas(count)),
                    _ => {}
                }
            }
            Ok(())
        }
        _ => Err(Refusal::ReplicasOrReadReplicas),
    }
}

fn check_volume(block: &Value, db_spec: &Value) -> Result<(), Refusal> {
    let targets = [
        ("postgres", "/storage/resources/requests/storage"),
        ("arbiter", "/arbiter/resources/requests/storage"),
    ];
    if targets.iter().all(|(field, _)| is_unset(block.get(*field))) {
        return Err(Refusal::NothingToExpand);
    }
    for (field, current_pointer) in targets {
        let Some(requested) = block.get(field).filter(|value| !value.is_null()) else {
            continue;
        };
        let unreadable = |reason: String| Refusal::VolumeUnreadable { field, reason };
        let requested_size =
            Quantity::from_json(requested).map_err(|error| unreadable(error.to_string()))?;
        let current = db_spec.pointer(current_pointer).ok_or_else(|| {
            unreadable(format!(
                "the database has no spec{}",
                current_pointer.replace('/', ".")
            ))
        })?;
        let current_size =
            Quantity::from_json(current).map_err(|error| unreadable(error.to_string()))?;
        if requested_size <= current_size {
            return Err(Refusal::VolumeNotLarger {
                field,
                requested: quantity_text(requested),
                current: quantity_text(current),
            });
        }
    }
    Ok(())
}

fn quantity_text(value: &Value) -> String {
    value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string())
}

fn check_reconfigure(block: &Value) -> Result<(), Refusal> {
    let remove = block.get("removeCustomConfig").and_then(Value::as_bool) == Some(true);
    // Like KubeDB, applyConfig only counts when it carries user.conf.
    let apply_config = block.get("applyConfig").and_then(Value::as_object);
    let has_user_conf = apply_config.is_some_and(|apply| apply.contains_key(USER_CONF));
    let has_change = remove
        || has_user_conf
        || ["configSecret", "tuning"]
            .iter()
            .any(|key| !is_unset(block.get(*key)));
    if !has_change {
        return Err(match apply_config.filter(|apply| !apply.is_empty()) {
            Some(apply) => Refusal::ApplyConfigWithoutUserConf(apply.keys().cloned().collect()),
            None => Refusal::NothingToReconfigure,
        });
    }
    if remove && str_at(block, "/restart") == Some("false") {
        return Err(Refusal::RemoveWithoutRestart);
    }
    Ok(())
}

fn check_version(
    block: &Value,
    db_spec: &Value,
    versions: &BTreeMap<String, Value>,
) -> Result<(), Refusal> {
    let target_name = str_at(block, "/targetVersion").unwrap_or_default();
    if target_name.is_empty() {
        return Err(Refusal::EmptyTargetVersion);
    }
    let target = versions
        .get(target_name)
        .ok_or_else(|| Refusal::TargetVersionMissing(target_name.to_string()))?;
    let current_name = str_at(db_spec, "/version").unwrap_or_default();
    let current = versions
        .get(current_name)
        .ok_or_else(|| Refusal::CurrentVersionMissing(current_name.to_string()))?;
    check_update(current, target)?;
    Ok(())
}

/// The username in a RotateAuth target secret must match the current one. Only checked when
/// both secrets exist: the simulator does not insist on the secret itself (KubeDB does), so a
/// CI flow can rotate to a name it never created.
fn check_rotate_auth(
    block: &Value,
    database: &Value,
    secret_usernames: &BTreeMap<String, Option<String>>,
) -> Result<(), Refusal> {
    let Some(new_secret) = str_at(block, "/secretRef/name").filter(|name| !name.is_empty()) else {
        return Ok(());
    };
    let virtual_secret =
        str_at(block, "/secretRef/apiGroup").is_some_and(|group| !group.is_empty());
    if virtual_secret {
        return Ok(());
    }
    let current_secret = current_auth_secret(database);
    let new_username = secret_usernames.get(new_secret).cloned().flatten();
    let current_username = secret_usernames.get(&current_secret).cloned().flatten();
    if let (Some(new), Some(current)) = (new_username, current_username)
        && new != current
    {
        return Err(Refusal::UsernameChange {
            secret: new_secret.to_string(),
            new,
            current,
        });
    }
    Ok(())
}

/// The auth secret the database uses now: `spec.authSecret.name`, else KubeDB's `<db>-auth`.
pub fn current_auth_secret(database: &Value) -> String {
    str_at(database, "/spec/authSecret/name")
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{}-auth",
                str_at(database, "/metadata/name").unwrap_or_default()
            )
        })
}

#[cfg(test)]
mod tests;
