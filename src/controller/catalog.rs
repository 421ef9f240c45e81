//! The version catalog the planner checks against, built once per change of the
//! `PostgresVersion` cache instead of once per reconcile (each build copied every version
//! of the catalog; KubeDB ships dozens).

use std::sync::{Arc, Mutex};

use kube::runtime::reflector::Store;

use crate::models::PostgresVersion;
use crate::plan::Catalog;

#[derive(Clone)]
pub(crate) struct Catalogs {
    cache: Store<PostgresVersion>,
    built: Arc<Mutex<Built>>,
}

/// What was built from the cache.
#[derive(Default)]
enum Built {
    /// Nothing since the cache last changed.
    #[default]
    Stale,
    /// The catalog as the cache held it; none while it held no version.
    Fresh(Option<Arc<Catalog>>),
}

impl Catalogs {
    pub(crate) fn new(cache: Store<PostgresVersion>) -> Self {
        Self {
            cache,
            built: Arc::default(),
        }
    }

    /// The cache changed (told after the reflector applied the change).
    pub(crate) fn changed(&self) {
        *self.built.lock().expect("catalog") = Built::Stale;
    }

    /// The catalog as the cache holds it; none while the cache holds no version (the
    /// planner then skips the version checks).
    pub(crate) fn current(&self) -> Option<Arc<Catalog>> {
        let mut built = self.built.lock().expect("catalog");
        if let Built::Fresh(catalog) = &*built {
            return catalog.clone();
        }
        let versions = self.cache.state();
        let catalog = (!versions.is_empty())
            .then(|| Arc::new(Catalog::new(versions.iter().map(|v| (**v).clone()))));
        *built = Built::Fresh(catalog.clone());
        catalog
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector;
    use kube::runtime::watcher;

    use super::*;

    fn version(name: &str) -> PostgresVersion {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "catalog.kubedb.com/v1alpha1", "kind": "PostgresVersion",
            "metadata": {"name": name},
            "spec": {"version": name, "db": {"image": format!("postgres:{name}")}},
        }))
        .unwrap()
    }

    #[test]
    fn the_catalog_is_built_once_per_change_of_the_cache() {
        let (cache, mut writer) = reflector::store();
        let catalogs = Catalogs::new(cache);
        assert!(catalogs.current().is_none(), "no version yet");
        writer.apply_watcher_event(&watcher::Event::Apply(version("16.4")));
        assert!(catalogs.current().is_none(), "not told yet: as it was");
        catalogs.changed();
        let first = catalogs.current().expect("one version");
        assert!(
            Arc::ptr_eq(&first, &catalogs.current().unwrap()),
            "built once"
        );
        writer.apply_watcher_event(&watcher::Event::Apply(version("17.2")));
        catalogs.changed();
        let second = catalogs.current().unwrap();
        assert!(!Arc::ptr_eq(&first, &second), "built again after a change");
        assert!(second.get("17.2").is_some() && second.get("16.4").is_some());
    }
}
