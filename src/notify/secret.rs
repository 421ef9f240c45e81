//! The secrets of the notification targets (tokens, webhook URLs, HMAC keys), read from files
//! with the same rules as the webhook receivers' secrets (`src/server/secrets.rs`): trailing
//! newlines dropped, an empty file refused, a changed file read again at the next send (a
//! rotated Kubernetes Secret reaches the pod within about a minute), a file that changes into
//! something unusable keeps the previous value. Errors name the config key and the path,
//! never the value.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use tracing::{info, warn};

use super::NotifyError;
use crate::source::Secret;

#[derive(Debug)]
pub(crate) struct FileSecret {
    /// The config key, e.g. `notify.webhook[0].url_file`.
    key: String,
    path: PathBuf,
    read: Mutex<(Option<(SystemTime, u64)>, Secret)>,
}

impl FileSecret {
    /// Reads the file now: a missing, unreadable or empty file, or a directory, stops the
    /// service at start with the key's name.
    pub(crate) fn load(key: String, path: &Path) -> Result<Self, NotifyError> {
        let secret = read(&key, path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Not refused: Kubernetes mounts Secrets 0644 unless told otherwise, and the
            // container usually has one user. Said once, so an operator can tighten it.
            if let Ok(metadata) = std::fs::metadata(path)
                && metadata.permissions().mode() & 0o004 != 0
            {
                warn!(%key, path = %path.display(), "secret file is readable by every user; mount it with defaultMode 0400");
            }
        }
        Ok(Self {
            key,
            path: path.to_owned(),
            read: Mutex::new((version(path), secret)),
        })
    }

    /// The value, read again first if the file changed since it was last looked at.
    pub(crate) fn current(&self) -> Secret {
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let now = version(&self.path);
        if now != read.0 {
            read.0 = now;
            match self::read(&self.key, &self.path) {
                Ok(secret) => {
                    if secret != read.1 {
                        info!(key = %self.key, "secret file changed; using the new value");
                    }
                    read.1 = secret;
                }
                Err(error) => {
                    warn!(%error, "secret file changed but cannot be used; keeping the previous value")
                }
            }
        }
        read.1.clone()
    }
}

fn version(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

fn read(key: &str, path: &Path) -> Result<Secret, NotifyError> {
    let problem = |problem: String| NotifyError::SecretFile {
        key: key.to_string(),
        path: path.to_owned(),
        problem,
    };
    let metadata = std::fs::metadata(path).map_err(|e| problem(e.to_string()))?;
    if metadata.is_dir() {
        return Err(problem("is a directory, not a file".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.trim().is_empty() {
        return Err(problem("is empty".into()));
    }
    Ok(Secret::new(value))
}
