//! The deciding task: takes the events of the apply stage and the reconciler in order, asks
//! the [`Tracker`] what to tell, and hands each message to the queue of every target that
//! sends it. It never waits on a target: a full queue drops the message and counts it.

use tokio::sync::mpsc;
use tracing::warn;

use super::send::Route;
use super::tracker::{Message, Tracker};
use super::{DbKey, Event, NotifyResult, Observer, RECHECK, SeenMap};

/// One target's queue, as the deciding task fills it.
pub(super) struct Queue {
    pub(super) name: String,
    pub(super) provider: &'static str,
    pub(super) route: Route,
    pub(super) sender: mpsc::Sender<Message>,
}

/// Decides what to tell and hands each message to the queues of the targets that want it.
pub(super) async fn decide(
    mut events: mpsc::Receiver<Event>,
    seen: SeenMap,
    queues: Vec<Queue>,
    observe: Observer,
) {
    let latest = |key: &DbKey| {
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    };
    let mut tracker = Tracker::default();
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let messages = tokio::select! {
            event = events.recv() => match event {
                None => return,
                Some(Event::Applied(applied)) => tracker.applied(applied, &latest),
                Some(Event::Changed { key, seen, previous }) => {
                    tracker.changed(&key, &seen, previous, &latest)
                }
                Some(Event::Forget(key)) => {
                    tracker.forget(&key);
                    Vec::new()
                }
            },
            _ = recheck.tick(), if tracker.is_following() => tracker.recheck(&latest),
        };
        for message in messages {
            for queue in queues.iter().filter(|q| q.route.wants(&message)) {
                if queue.sender.try_send(message.clone()).is_err() {
                    observe(queue.provider, NotifyResult::Dropped);
                    warn!(target = %queue.name, "notification queue full; a message was dropped");
                }
            }
        }
    }
}
