//! Reflectors whose events wake the simulator's loop.

use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::Notify;

/// A reflector whose events wake the loop; the stream is driven by its own task.
pub(super) fn reflect(
    api: Api<DynamicObject>,
    resource: ApiResource,
    changed: &Arc<Notify>,
) -> (Store<DynamicObject>, tokio::task::JoinHandle<()>) {
    let writer = Writer::new(resource.clone());
    let store = writer.as_reader();
    let changed = Arc::clone(changed);
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .backoff(retry_within_seconds());
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                Err(error) => {
                    tracing::warn!(kind = %resource.kind, %error, "kubedb-sim: watch error")
                }
            }
        }
    });
    (store, task)
}

pub(super) struct AbortOnDrop<'a>(pub(super) &'a [tokio::task::JoinHandle<()>]);

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        for task in self.0 {
            task.abort();
        }
    }
}

/// Retries of a failed watch: from half a second up to 2 s plus jitter (kube-runtime's default, like
/// client-go's, grows to 30 s). KubeDB's operator backs off like client-go; the simulator
/// retries sooner so that, after an API-server outage, how long the tests wait for KubeDB's
/// stand-in does not hide how long pg-gitops took.
fn retry_within_seconds() -> kube::runtime::watcher::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(500))
        .with_max_delay(std::time::Duration::from_secs(2))
        .with_jitter()
        .without_max_times()
        .into()
}
