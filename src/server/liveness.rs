//! `/healthz`: alive while every stage task (source, apply, controller) still runs. The stages
//! loop until shutdown; one that has returned or panicked will never work again, so the
//! kubelet should restart the pod rather than keep a process that only answers HTTP.

use std::sync::{Arc, Mutex};

use tokio::task::{AbortHandle, JoinHandle};

/// The stage tasks `/healthz` watches. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Liveness(Arc<Mutex<Vec<(&'static str, AbortHandle)>>>);

impl Liveness {
    /// Watches `task` under `stage` (a name for the answer and the log).
    pub fn watch<T>(&self, stage: &'static str, task: &JoinHandle<T>) {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push((stage, task.abort_handle()));
    }

    /// The first stage whose task has ended, if any.
    pub fn stopped_stage(&self) -> Option<&'static str> {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .iter()
            .find(|(_, task)| task.is_finished())
            .map(|(stage, _)| *stage)
    }
}

#[cfg(test)]
mod tests;
