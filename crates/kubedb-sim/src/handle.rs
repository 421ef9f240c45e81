//! [`spawn`]: the simulator as a background task of the caller's tokio runtime, for tests.

use kube::Client;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::SimConfig;
use super::runtime::{RunError, run};

/// A simulator running on the current tokio runtime. Dropping the handle asks it to stop;
/// [`SimHandle::stop`] also waits until it has.
pub struct SimHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), RunError>>>,
}

/// Starts [`run`] on the current tokio runtime (call it inside that runtime, e.g. in a
/// `#[tokio::test]`, with a client made on it).
pub fn spawn(client: Client, config: SimConfig) -> SimHandle {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(client, config, async move {
        // A dropped sender means the same as a sent stop.
        let _ = stopped.await;
    }));
    SimHandle {
        stop: Some(stop),
        task: Some(task),
    }
}

impl SimHandle {
    /// Stops the simulator and waits for it; returns why it stopped early, if it did.
    pub async fn stop(mut self) -> Result<(), RunError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .unwrap_or_else(|join| Err(RunError::Task(join.to_string()))),
            None => Ok(()),
        }
    }

    /// Whether the simulator has stopped on its own (it only does on an error).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
