//! Kubernetes Events, one way for every stage: the reporting controller is `pg-gitops` and
//! the instance this replica, notes are cut to the API's 1 kB, and a failure to publish is
//! logged, never returned: an event is a courtesy, and what it tells is also logged, counted
//! and in the status.

use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

/// Events one kube `Recorder` publishes before a fresh one takes its place.
///
/// kube's `Recorder` keeps every Event it sent for six minutes, to fold a repeat into a series,
/// and scans all of them on every publish. At a fleet's start that is an Event per database,
/// held and scanned per publish: tens of megabytes, and quadratic work, at 10,000 databases.
/// client-go bounds the same cache (an LRU of 4,096 entries); this bounds it by starting over,
/// so a repeat just after a turn is a new Event instead of a series count.
const EVENTS_PER_RECORDER: usize = 1024;

/// The Event recorder of one stage of this replica.
pub(crate) struct EventRecorder {
    client: Client,
    reporter: Reporter,
    current: Mutex<Turns<Recorder>>,
}

/// The recorder to publish with, and how many Events it has published.
struct Turns<R> {
    recorder: R,
    published: usize,
}

impl<R: Clone> Turns<R> {
    /// The recorder for the next Event: a fresh one from `fresh` once this one published
    /// `limit`.
    fn next(&mut self, limit: usize, fresh: impl FnOnce() -> R) -> R {
        if self.published >= limit {
            *self = Turns {
                recorder: fresh(),
                published: 0,
            };
        }
        self.published += 1;
        self.recorder.clone()
    }
}

/// The recorder of this replica.
pub(crate) fn recorder(client: Client, instance: &str) -> EventRecorder {
    let reporter = Reporter {
        controller: "pg-gitops".into(),
        instance: Some(instance.to_owned()),
    };
    let recorder = Recorder::new(client.clone(), reporter.clone());
    EventRecorder {
        client,
        reporter,
        current: Mutex::new(Turns {
            recorder,
            published: 0,
        }),
    }
}

impl EventRecorder {
    fn next(&self) -> Recorder {
        let mut current = (self.current.lock()).unwrap_or_else(|poison| poison.into_inner());
        current.next(EVENTS_PER_RECORDER, || {
            Recorder::new(self.client.clone(), self.reporter.clone())
        })
    }
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
pub(crate) async fn publish(
    recorder: &EventRecorder,
    notice: Notice<'_>,
    regarding: &ObjectReference,
) {
    let event = Event {
        type_: notice.type_,
        reason: notice.reason.into(),
        note: Some(notice.note.chars().take(1000).collect()),
        action: notice.action.into(),
        secondary: notice.secondary,
    };
    if let Err(error) = recorder.next().publish(&event, regarding).await {
        warn!(%error, reason = notice.reason, "could not publish an event");
    }
}

#[cfg(test)]
mod tests {
    use super::Turns;

    /// A recorder publishes `limit` Events, then a fresh one takes over (its cache of sent
    /// Events starts empty).
    #[test]
    fn a_recorder_is_replaced_after_its_limit() {
        let mut made = 1;
        let mut turns = Turns {
            recorder: made,
            published: 0,
        };
        let used: Vec<u32> = (0..7)
            .map(|_| {
                turns.next(3, || {
                    made += 1;
                    made
                })
            })
            .collect();
        assert_eq!(used, [1, 1, 1, 2, 2, 2, 3]);
    }
}
