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
    let stream =
        reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
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
