//! Kubernetes Events, one way for every stage: the reporting controller is `pg-gitops` and
//! the instance this replica, notes are cut to the API's 1 kB, and a failure to publish is
//! logged, never returned: an event is a courtesy, and what it tells is also logged, counted
//! and in the status.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

/// The recorder of this replica.
pub(crate) fn recorder(client: Client, instance: &str) -> Recorder {
    Recorder::new(
        client,
        Reporter {
            controller: "pg-gitops".into(),
            instance: Some(instance.to_owned()),
        },
    )
}

/// What one Event says.
pub(crate) struct Notice<'a> {
    pub type_: EventType,
    pub reason: &'a str,
    pub action: &'a str,
    pub note: &'a str,
    pub secondary: Option<ObjectReference>,
}

/// Publishes `notice` about `regarding`.
pub(crate) async fn publish(recorder: &Recorder, notice: Notice<'_>, regarding: &ObjectReference) {
    let event = Event {
        type_: notice.type_,
        reason: notice.reason.into(),
        note: Some(notice.note.chars().take(1000).collect()),
        action: notice.action.into(),
        secondary: notice.secondary,
    };
    if let Err(error) = recorder.publish(&event, regarding).await {
        warn!(%error, reason = notice.reason, "could not publish an event");
    }
}
