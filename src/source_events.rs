//! Events about the source, on the service's own pod: a sync that fails (fetch, auth, host
//! key, a branch gone) and its recovery, once per change of the error, so `kubectl describe
//! pod` and event exporters show what the logs say. The last good snapshot stays in force
//! meanwhile. Outside a pod (no `POD_NAME`/`POD_NAMESPACE`, which the chart sets from the
//! downward API) there is nothing to attach them to; the logs, `/status` and
//! `pg_gitops_git_fetch_total{result="error"}` still tell.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::EventType;
use tokio::sync::watch;

use crate::events::{self, Notice};

/// The pod this replica runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
}

impl Pod {
    /// From the downward-API variables the chart sets; none when either is missing.
    pub fn from_env() -> Option<Self> {
        let read = |key| std::env::var(key).ok().filter(|value| !value.is_empty());
        Some(Self {
            namespace: read("POD_NAMESPACE")?,
            name: read("POD_NAME")?,
        })
    }

    fn reference(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            namespace: Some(self.namespace.clone()),
            name: Some(self.name.clone()),
            ..ObjectReference::default()
        }
    }
}

/// Publishes `SourceFailed` (Warning) for each new error of the source and `SourceRecovered`
/// (Normal) when a sync succeeds after one, until the source is dropped.
pub async fn announce(
    client: Client,
    pod: Pod,
    instance: String,
    mut errors: watch::Receiver<Option<String>>,
) {
    let recorder = events::recorder(client, &instance);
    let regarding = pod.reference();
    let mut failing = false;
    while errors.changed().await.is_ok() {
        let error = errors.borrow_and_update().clone();
        let (type_, reason, note) = match (&error, failing) {
            (Some(error), _) => (EventType::Warning, "SourceFailed", error.clone()),
            (None, true) => (
                EventType::Normal,
                "SourceRecovered",
                "the source syncs again".to_owned(),
            ),
            (None, false) => continue,
        };
        failing = error.is_some();
        let notice = Notice {
            type_,
            reason,
            action: "Sync",
            note: &note,
            secondary: None,
        };
        events::publish(&recorder, notice, &regarding).await;
    }
}
