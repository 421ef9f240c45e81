//! The `pg-gitops` binary as a child process, for tests that kill it or outlive an outage
//! with it (an in-process [`super::Service`] cannot be killed with SIGKILL).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `pg-gitops run --config FILE` with `KUBECONFIG` set.
pub struct ServiceProcess {
    child: Child,
}

impl ServiceProcess {
    /// Starts `binary` (the test's `env!("CARGO_BIN_EXE_pg-gitops")`); its log goes to `log`
    /// (appended) or nowhere.
    pub fn start(binary: &str, config: &Path, kubeconfig: &Path, log: Option<&PathBuf>) -> Self {
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("opening the service's log file"),
            ),
            None => Stdio::null(),
        };
        let child = Command::new(binary)
            .args(["run", "--config"])
            .arg(config)
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("starting pg-gitops");
        Self { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running (it never exits by itself).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no shutdown, no Lease release, as a crash or an OOM kill ends it.
    pub fn kill_9(mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
