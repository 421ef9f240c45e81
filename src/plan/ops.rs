//! Building PostgresOpsRequests and their deterministic names.
//!
//! A name is `<db>-<suffix>-<6 chars>` where the 6 chars come from a hash of the database,
//! the gitops object's generation, the type, the canonical step spec and the retry token.
//! The same intent always gets the same name, so a create that answers AlreadyExists means
//! "already made", never a duplicate; a new generation or retry token gets a new name.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::compare::canonical;
use crate::models::{
    DATABASE_LABEL, GENERATION_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, ObjectMeta,
    OpsRequestType, PostgresOpsRequest, REVISION_ANNOTATION,
};

/// Kubernetes names (and KubeDB's derived pod names) must fit in 63 characters.
const MAX_NAME: usize = 63;
const HASH_CHARS: usize = 6;

/// Who a step is for and what makes its name unique.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub namespace: &'a str,
    pub database: &'a str,
    /// `metadata.generation` of the gitops object (0 when planning from files).
    pub generation: i64,
    /// Value of `gitops.kubedb.com/retry` on the gitops object.
    pub retry: &'a str,
    /// Git revision, recorded as an annotation.
    pub revision: Option<&'a str>,
}

/// The spec key of each type's block.
pub fn block_key(kind: OpsRequestType) -> &'static str {
    match kind {
        OpsRequestType::HorizontalScaling => "horizontalScaling",
        OpsRequestType::VolumeExpansion => "volumeExpansion",
        OpsRequestType::VerticalScaling => "verticalScaling",
        OpsRequestType::UpdateVersion => "updateVersion",
        OpsRequestType::Reconfigure => "configuration",
        OpsRequestType::ReconfigureTLS => "tls",
        OpsRequestType::RotateAuth => "authentication",
        OpsRequestType::Restart => "restart",
    }
}

/// The OpsRequest for one step. `uniqueness` is hashed into the name next to the block; it
/// carries what the block alone cannot tell apart (the pending-restart token, say).
pub fn build(
    id: &Identity<'_>,
    kind: OpsRequestType,
    block: Value,
    uniqueness: &str,
) -> PostgresOpsRequest {
    let mut spec = Map::new();
    spec.insert("type".into(), json!(kind.as_str()));
    spec.insert("databaseRef".into(), json!({"name": id.database}));
    let hash_input = format!("{}\n{uniqueness}", canonical(&block));
    spec.insert(block_key(kind).into(), block);
    let labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (DATABASE_LABEL.to_string(), id.database.to_string()),
    ]);
    let mut annotations =
        BTreeMap::from([(GENERATION_ANNOTATION.to_string(), id.generation.to_string())]);
    if let Some(revision) = id.revision {
        annotations.insert(REVISION_ANNOTATION.to_string(), revision.to_string());
    }
    PostgresOpsRequest {
        api_version: "ops.kubedb.com/v1alpha1".into(),
        kind: "PostgresOpsRequest".into(),
        metadata: ObjectMeta {
            name: Some(name(id, kind, &hash_input)),
            namespace: Some(id.namespace.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec,
        ..PostgresOpsRequest::default()
    }
}

/// `<db>-<suffix>-<hash>`, with the database part shortened to keep within 63 characters.
pub fn name(id: &Identity<'_>, kind: OpsRequestType, canonical_step: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [
        format!("{}/{}", id.namespace, id.database),
        id.generation.to_string(),
        kind.as_str().to_string(),
        canonical_step.to_string(),
        id.retry.to_string(),
    ] {
        // Length-prefixed so ("ab","c") and ("a","bc") never hash alike.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let suffix = kind.name_suffix();
    let room = MAX_NAME - suffix.len() - HASH_CHARS - 2;
    let database = if id.database.len() > room {
        id.database[..room].trim_end_matches('-')
    } else {
        id.database
    };
    format!("{database}-{suffix}-{}", base36(&digest, HASH_CHARS))
}

/// The first `count` base-36 digits of a digest.
fn base36(digest: &[u8], count: usize) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut value = u64::from_be_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"));
    (0..count)
        .map(|_| {
            let digit = ALPHABET[(value % 36) as usize] as char;
            value /= 36;
            digit
        })
        .collect()
}

/// A short stable token for a value (pending restarts, rotation requests).
pub fn token(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    base36(&hasher.finalize(), 10)
}

#[cfg(test)]
mod tests;
