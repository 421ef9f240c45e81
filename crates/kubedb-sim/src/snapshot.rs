//! What a pass looks at: the reflector caches overlaid with our own newer writes, plus direct
//! reads for what a decision needs but the caches may not hold yet.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use serde_json::Value;

use super::api::{OpsType, postgres_version_resource};
use super::decide::{Snapshot, TargetKind};
use super::json::str_at;
use super::runtime::{ObjectKey, Sim};
use super::validate::current_auth_secret;

impl Sim {
    /// The caches, overlaid with our own newer writes, plus direct reads for what a decision
    /// needs but the caches may not hold yet (a database created a moment before its
    /// OpsRequest, a catalog entry, the secrets of a RotateAuth).
    pub(super) async fn snapshot(&mut self) -> Snapshot {
        let mut fresh = HashMap::new();
        let [databases, ops_requests, versions] = &self.stores;
        for (kind, store) in [
            (TargetKind::Database, databases),
            (TargetKind::OpsRequest, ops_requests),
        ] {
            for object in store.state() {
                let value = serde_json::to_value(object.as_ref()).unwrap_or_default();
                let key = key_of(kind, &value);
                let newest = newest_of(value, self.latest.get(&key));
                fresh.insert(key, newest);
            }
        }
        self.latest = fresh;
        let mut snapshot = Snapshot::default();
        for version in versions.state() {
            let value = serde_json::to_value(version.as_ref()).unwrap_or_default();
            let name = str_at(&value, "/metadata/name")
                .unwrap_or_default()
                .to_string();
            snapshot.versions.insert(name, value);
        }
        self.fill_missing(&mut snapshot).await;
        for ((kind, _, _), object) in &self.latest {
            match kind {
                TargetKind::Database => snapshot.databases.push(object.clone()),
                TargetKind::OpsRequest => snapshot.ops_requests.push(object.clone()),
            }
        }
        snapshot
    }

    async fn fill_missing(&mut self, snapshot: &mut Snapshot) {
        let open: Vec<Value> = self
            .latest
            .iter()
            .filter(|((kind, _, _), ops)| {
                *kind == TargetKind::OpsRequest
                    && matches!(
                        str_at(ops, "/status/phase").unwrap_or_default(),
                        "" | "Pending"
                    )
            })
            .map(|(_, ops)| ops.clone())
            .collect();
        // The catalog of a database that is about to be defaulted (the PostgresVersion may have
        // been created a moment before it, ahead of the version watch); later passes need it no
        // more, so an absent catalog object is not fetched again and again.
        let mut wanted_versions: BTreeSet<String> = self
            .latest
            .iter()
            .filter(|((kind, _, _), db)| {
                *kind == TargetKind::Database && db.pointer("/status/phase").is_none()
            })
            .filter_map(|(_, db)| str_at(db, "/spec/version").map(str::to_string))
            .collect();
        for ops in &open {
            let namespace = str_at(ops, "/metadata/namespace")
                .unwrap_or_default()
                .to_string();
            let db_name = str_at(ops, "/spec/databaseRef/name")
                .unwrap_or_default()
                .to_string();
            let key = (TargetKind::Database, namespace.clone(), db_name.clone());
            if !self.latest.contains_key(&key) && !db_name.is_empty() {
                let api = self.api(TargetKind::Database, &namespace);
                if let Ok(Some(found)) = api.get_opt(&db_name).await {
                    let value = serde_json::to_value(&found).unwrap_or_default();
                    self.latest.insert(key.clone(), value);
                }
            }
            if let Some(target) = str_at(ops, "/spec/updateVersion/targetVersion") {
                wanted_versions.insert(target.to_string());
            }
            if let Some(database) = self.latest.get(&key) {
                wanted_versions.extend(str_at(database, "/spec/version").map(str::to_string));
                if str_at(ops, "/spec/type") == Some(OpsType::RotateAuth.as_str()) {
                    let current = current_auth_secret(database);
                    let new =
                        str_at(ops, "/spec/authentication/secretRef/name").map(str::to_string);
                    for name in [Some(current), new].into_iter().flatten() {
                        let username = self.secret_username(&namespace, &name).await;
                        if let Some(username) = username {
                            snapshot
                                .secret_usernames
                                .entry(namespace.clone())
                                .or_default()
                                .insert(name, username);
                        }
                    }
                }
            }
        }
        let catalog =
            Api::<DynamicObject>::all_with(self.client.clone(), &postgres_version_resource());
        for name in wanted_versions {
            if snapshot.versions.contains_key(&name) || name.is_empty() {
                continue;
            }
            if let Ok(Some(found)) = catalog.get_opt(&name).await {
                snapshot
                    .versions
                    .insert(name, serde_json::to_value(&found).unwrap_or_default());
            }
        }
    }

    /// `Some(username)` when the secret exists (the username itself may be absent).
    async fn secret_username(&self, namespace: &str, name: &str) -> Option<Option<String>> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        match secrets.get_opt(name).await {
            Ok(found) => found.map(|secret| {
                let from_data = secret.data.as_ref().and_then(|data| data.get("username"));
                from_data
                    .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned())
                    .or_else(|| {
                        secret
                            .string_data
                            .as_ref()
                            .and_then(|data| data.get("username").cloned())
                    })
            }),
            Err(error) => {
                tracing::warn!(%namespace, %name, %error, "kubedb-sim: cannot read secret");
                None
            }
        }
    }
}

fn key_of(kind: TargetKind, object: &Value) -> ObjectKey {
    let field = |pointer| str_at(object, pointer).unwrap_or_default().to_string();
    (kind, field("/metadata/namespace"), field("/metadata/name"))
}

/// The cached object, or the one our own write returned if that is newer (the watch has not
/// delivered our write yet).
fn newest_of(cached: Value, ours: Option<&Value>) -> Value {
    match ours {
        Some(ours) if resource_version(ours) > resource_version(&cached) => ours.clone(),
        _ => cached,
    }
}

/// resourceVersion as a number: opaque by contract, but etcd's revision in practice; an
/// unparsable one sorts lowest so the cache wins.
fn resource_version(object: &Value) -> u64 {
    str_at(object, "/metadata/resourceVersion")
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
