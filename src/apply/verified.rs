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

use kube::runtime::reflector::ObjectRef;

use crate::manifest::Manifest;
use crate::models::CachedGitops;

/// One database found holding its manifest: which loaded manifest, its object's key, and at
/// which version of the object.
#[derive(Debug)]
pub(crate) struct Held {
    manifest: Arc<Manifest>,
    object: ObjectRef<CachedGitops>,
    resource_version: String,
}

impl Held {
    /// The key of the manifest's object in the cache.
    pub(crate) fn object(&self) -> &ObjectRef<CachedGitops> {
        &self.object
    }

    /// Whether `live` is still the very version found holding the manifest.
    pub(crate) fn still_holds(&self, live: Option<&CachedGitops>) -> bool {
        live.and_then(|live| live.metadata.resource_version.as_deref())
            == Some(self.resource_version.as_str())
    }
}

/// The databases whose object was found holding their manifest in the last pass; only those
/// of the last pass are kept, so a removed manifest leaves no entry behind.
///
/// Entries are found by the manifest's address: a pass over 10,000 unchanged manifests then
/// builds no key and copies nothing (built per manifest, keys and copies took 37 ms a pass at
/// 10,000). Each entry holds its `Arc`, so no other manifest can take that address while it is
/// here.
#[derive(Debug, Default)]
pub(crate) struct Verified {
    held: HashMap<usize, Held>,
}

fn address(manifest: &Arc<Manifest>) -> usize {
    Arc::as_ptr(manifest) as usize
}

impl Verified {
    /// The last pass's entry of this very loaded manifest, if it had one.
    pub(crate) fn take(&mut self, manifest: &Arc<Manifest>) -> Option<Held> {
        self.held.remove(&address(manifest))
    }

    /// Keeps an entry found still holding.
    pub(crate) fn keep(&mut self, held: Held) {
        self.held.insert(address(&held.manifest), held);
    }

    /// Records that `live`, the object at `object`, holds `manifest`. An object without a
    /// version (never the case for one read from the API server) is not recorded.
    pub(crate) fn record(
        &mut self,
        manifest: &Arc<Manifest>,
        object: ObjectRef<CachedGitops>,
        live: Option<&CachedGitops>,
    ) {
        if let Some(version) = live.and_then(|live| live.metadata.resource_version.clone()) {
            self.keep(Held {
                manifest: Arc::clone(manifest),
                object,
                resource_version: version,
            });
        }
    }
}
