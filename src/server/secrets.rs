//! Webhook secrets per receiver, read from their files and read again when a file changes:
//! a rotated Kubernetes Secret reaches its mounted file within about a minute (the kubelet
//! swaps a symlink), and the service takes the new value at the next delivery, without a
//! restart. A file that changes into something unreadable or empty keeps the previous secret
//! and says so in the log (never the value).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::{info, warn};

use super::{Provider, ServerError};
use crate::config::WebhookSecretsConfig;
use crate::source::Secret;

/// Webhook secrets per receiver; a receiver without one is not mounted.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    github: Option<Arc<FileSecret>>,
    gitlab: Option<Arc<FileSecret>>,
    gitea: Option<Arc<FileSecret>>,
    bitbucket: Option<Arc<FileSecret>>,
    generic: Option<Arc<FileSecret>>,
}

impl WebhookSecrets {
    /// Reads every configured secret file (trailing newlines dropped).
    pub fn load(config: &WebhookSecretsConfig) -> Result<Self, ServerError> {
        let read = |receiver: &'static str, path: &Option<PathBuf>| match path {
            Some(path) => FileSecret::load(receiver, path).map(|s| Some(Arc::new(s))),
            None => Ok(None),
        };
        Ok(WebhookSecrets {
            github: read("github", &config.github_secret_file)?,
            gitlab: read("gitlab", &config.gitlab_token_file)?,
            gitea: read("gitea", &config.gitea_secret_file)?,
            bitbucket: read("bitbucket", &config.bitbucket_secret_file)?,
            generic: read("generic", &config.generic_secret_file)?,
        })
    }

    /// Sets one receiver's secret (for callers that do not use files, such as tests).
    pub fn with(mut self, provider: Provider, secret: Secret) -> Self {
        *self.slot(provider) = Some(Arc::new(FileSecret::fixed(provider.name(), secret)));
        self
    }

    /// The receiver's secret as its file holds it now.
    pub fn get(&self, provider: Provider) -> Option<Secret> {
        let slot = match provider {
            Provider::GitHub => &self.github,
            Provider::GitLab => &self.gitlab,
            Provider::Gitea => &self.gitea,
            Provider::Bitbucket => &self.bitbucket,
            Provider::Generic => &self.generic,
        };
        slot.as_ref().map(|secret| secret.current())
    }

    fn slot(&mut self, provider: Provider) -> &mut Option<Arc<FileSecret>> {
        match provider {
            Provider::GitHub => &mut self.github,
            Provider::GitLab => &mut self.gitlab,
            Provider::Gitea => &mut self.gitea,
            Provider::Bitbucket => &mut self.bitbucket,
            Provider::Generic => &mut self.generic,
        }
    }
}

/// One receiver's secret and the version of its file it was read from.
#[derive(Debug)]
struct FileSecret {
    receiver: &'static str,
    /// None for a secret given in code.
    path: Option<PathBuf>,
    read: Mutex<Read>,
}

#[derive(Debug)]
struct Read {
    secret: Secret,
    /// Modification time and length of the file when last looked at: a change means re-read.
    version: Option<(SystemTime, u64)>,
}

impl FileSecret {
    fn load(receiver: &'static str, path: &Path) -> Result<Self, ServerError> {
        let version = file_version(path);
        Ok(Self {
            receiver,
            path: Some(path.to_owned()),
            read: Mutex::new(Read {
                secret: read_secret(receiver, path)?,
                version,
            }),
        })
    }

    fn fixed(receiver: &'static str, secret: Secret) -> Self {
        Self {
            receiver,
            path: None,
            read: Mutex::new(Read {
                secret,
                version: None,
            }),
        }
    }

    /// The secret, re-read first if the file changed since it was last looked at (one
    /// `stat` per delivery).
    fn current(&self) -> Secret {
        let mut read = self
            .read
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(path) = &self.path {
            let version = file_version(path);
            if version != read.version {
                read.version = version;
                match read_secret(self.receiver, path) {
                    Ok(secret) => {
                        if secret != read.secret {
                            info!(
                                receiver = self.receiver,
                                "webhook secret file changed; using the new secret"
                            );
                        }
                        read.secret = secret;
                    }
                    Err(error) => warn!(
                        receiver = self.receiver,
                        %error,
                        "webhook secret file changed but cannot be used; keeping the previous secret"
                    ),
                }
            }
        }
        read.secret.clone()
    }
}

fn file_version(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

fn read_secret(receiver: &'static str, path: &Path) -> Result<Secret, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|error| ServerError::SecretFile {
        receiver,
        path: path.display().to_string(),
        detail: error.to_string(),
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        // An empty HMAC key would let anyone who guesses it sign requests.
        return Err(ServerError::EmptySecret {
            receiver,
            path: path.display().to_string(),
        });
    }
    Ok(Secret::new(value))
}
