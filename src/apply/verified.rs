//! What the last pass of the apply stage found already in place, so the next pass does not
//! build, hash and compare again what neither side changed. At 1,000 databases that
//! comparison (an apply configuration serialised and hashed, the cached object serialised and
//! walked) was most of the time from a webhook to the one changed database's OpsRequest.
//!
//! A manifest is the same when the new snapshot shares it with the last one (an unchanged
//! file keeps its `Arc`); an object is the same when its `resourceVersion` is, which every
//! change to it (a hand edit, another owner's label, a status write) moves.

use std::collections::HashMap;
use std::sync::Arc;

use crate::manifest::Manifest;
use crate::models::GitopsPostgres;

/// One database found holding its manifest: which loaded manifest, at which version of the
/// object.
#[derive(Debug)]
struct Held {
    manifest: Arc<Manifest>,
    resource_version: String,
}

/// The databases whose object was found holding their manifest in the last pass; only those
/// of the last pass are kept, so a removed manifest leaves no entry behind.
#[derive(Debug, Default)]
pub(crate) struct Verified {
    held: HashMap<(String, String), Held>,
}

impl Verified {
    /// Whether the last pass found `live` (at this very version) holding this very manifest.
    pub(crate) fn still_holds(
        &self,
        key: &(String, String),
        manifest: &Arc<Manifest>,
        live: Option<&GitopsPostgres>,
    ) -> bool {
        let (Some(held), Some(version)) = (
            self.held.get(key),
            live.and_then(|live| live.metadata.resource_version.as_deref()),
        ) else {
            return false;
        };
        Arc::ptr_eq(&held.manifest, manifest) && held.resource_version == version
    }

    /// Records that `live` holds `manifest`. An object without a version (never the case
    /// for one read from the API server) is not recorded.
    pub(crate) fn record(
        &mut self,
        key: (String, String),
        manifest: &Arc<Manifest>,
        live: Option<&GitopsPostgres>,
    ) {
        if let Some(version) = live.and_then(|live| live.metadata.resource_version.clone()) {
            let manifest = Arc::clone(manifest);
            self.held.insert(
                key,
                Held {
                    manifest,
                    resource_version: version,
                },
            );
        }
    }
}
