//! `[notify]`: commit statuses written back to the forge and alerts to webhooks (see
//! `src/notify.rs`). Only shapes and what follows from the rest of the config are checked
//! here (pure); the secret files are read, and checked, when the service starts.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Seconds, SourceConfig, SourceKind};
use crate::source::redact::parse_url;

/// `[notify]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Messages waiting per target; more are dropped and counted.
    pub queue_capacity: usize,
    /// Attempts per message, the first included.
    pub max_attempts: u32,
    /// The first retry delay, doubled per attempt up to [`MAX_RETRY_DELAY`].
    pub retry_delay: Seconds,
    /// Limit for one request.
    pub timeout: Seconds,
    pub commit_status: Vec<CommitStatusConfig>,
    pub webhook: Vec<AlertWebhookConfig>,
}

/// The longest wait between two attempts of one message.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 256,
            // Flux's notification-controller retries four times; so do we after the first try.
            max_attempts: 5,
            retry_delay: Seconds(Duration::from_secs(2)),
            timeout: Seconds(Duration::from_secs(10)),
            commit_status: Vec::new(),
            webhook: Vec::new(),
        }
    }
}

/// The forges whose commit status API pg-gitops writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    #[serde(rename = "github")]
    GitHub,
    #[serde(rename = "gitlab")]
    GitLab,
    /// Gitea and Forgejo (a fork that keeps Gitea's API).
    #[serde(alias = "forgejo")]
    Gitea,
}

impl Forge {
    pub fn name(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
            Forge::Gitea => "gitea",
        }
    }
}

/// `[[notify.commit_status]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitStatusConfig {
    pub provider: Forge,
    /// A token allowed to write commit statuses.
    pub token_file: PathBuf,
    /// The API root; derived from `source.url` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// `owner/repo` (GitLab: the project path or its numeric ID); from `source.url` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The status' `context` (GitLab: `name`): one check per context on the commit.
    #[serde(default = "default_context")]
    pub context: String,
}

fn default_context() -> String {
    "pg-gitops".into()
}

/// What a commit status target writes to, resolved from its config and `source.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeRepository {
    /// The API root without a trailing slash, e.g. `https://api.github.com`.
    pub api_url: String,
    /// `owner/repo`, or a GitLab project path or ID.
    pub repository: String,
}

impl CommitStatusConfig {
    /// The API root and repository, as set or as derived from the source URL: GitHub's
    /// `https://api.github.com` for github.com and `https://<host>/api/v3` for GitHub
    /// Enterprise, `https://<host>/api/v4` for GitLab, `https://<host>/api/v1` for Gitea.
    pub fn resolve(&self, source_url: &str) -> Result<ForgeRepository, String> {
        let (host, path) = host_and_path(source_url);
        let repository = match (&self.repository, path) {
            (Some(repository), _) => repository.trim_matches('/').to_string(),
            (None, Some(path)) => path,
            (None, None) => {
                return Err(
                    "repository: cannot be derived from source.url; set it (\"owner/repo\")".into(),
                );
            }
        };
        let parts = repository.split('/').filter(|p| !p.is_empty()).count();
        let shape_ok = match self.provider {
            // GitLab nests groups (`group/subgroup/project`) or takes a numeric ID.
            Forge::GitLab => !repository.is_empty(),
            Forge::GitHub | Forge::Gitea => parts == 2 && !repository.contains("//"),
        };
        if !shape_ok {
            return Err(format!(
                "repository: `{repository}` is not \"owner/repo\" for {}",
                self.provider.name()
            ));
        }
        let api_url = match (&self.api_url, host) {
            (Some(url), _) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err("api_url: must start with https:// or http://".into());
                }
                url.trim_end_matches('/').to_string()
            }
            (None, Some(host)) => match self.provider {
                Forge::GitHub if host == "https://github.com" => "https://api.github.com".into(),
                Forge::GitHub => format!("{host}/api/v3"),
                Forge::GitLab => format!("{host}/api/v4"),
                Forge::Gitea => format!("{host}/api/v1"),
            },
            (None, None) => {
                return Err("api_url: cannot be derived from source.url; set it".into());
            }
        };
        Ok(ForgeRepository {
            api_url,
            repository,
        })
    }
}

/// The web root of a forge (`https://host[:port]`) and the repository path (`owner/repo`,
/// `.git` dropped) of a clone URL; neither for `file://` or a local path.
fn host_and_path(url: &str) -> (Option<String>, Option<String>) {
    let parsed = parse_url(url);
    if parsed.host.is_empty() || parsed.scheme.as_deref() == Some("file") {
        return (None, None);
    }
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, path)| path),
        // scp-like `user@host:owner/repo.git`
        None => url.split_once(':').map(|(_, path)| path),
    };
    let path = path
        .map(|p| p.trim_matches('/').trim_end_matches(".git").to_string())
        .filter(|p| !p.is_empty());
    // The web root keeps the port only for http(s): an SSH port is not the API's.
    let host = match parsed.scheme.as_deref() {
        Some(scheme @ ("http" | "https")) => match parsed.port {
            Some(port) => format!("{scheme}://{}:{port}", parsed.host),
            None => format!("{scheme}://{}", parsed.host),
        },
        _ => format!("https://{}", parsed.host),
    };
    (Some(host), path)
}

/// How an alert is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertFormat {
    /// A JSON event (Flux's generic provider shape), signed when `hmac_key_file` is set.
    Generic,
    /// A Slack incoming webhook (`{"text": ...}`); Mattermost and others accept it too.
    Slack,
}

/// Which changes of a database raise an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertOn {
    /// The database turned Stalled: a failed OpsRequest or a change that cannot be applied.
    Stalled,
    /// The database turned Current (matches Git and is Ready) after a change.
    Current,
}

/// `[[notify.webhook]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertWebhookConfig {
    pub format: AlertFormat,
    /// The URL is a secret (Slack's carries its token), so it is read from a file.
    pub url_file: PathBuf,
    /// Generic only: the HMAC-SHA256 key of the `X-Signature: sha256=<hex>` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_key_file: Option<PathBuf>,
    #[serde(default = "every_alert")]
    pub on: Vec<AlertOn>,
}

fn every_alert() -> Vec<AlertOn> {
    vec![AlertOn::Stalled, AlertOn::Current]
}

impl NotifyConfig {
    /// Checks what serde cannot; each error names the key, e.g. `notify.webhook[1].on`.
    pub(super) fn validate(&self, source: &SourceConfig) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if self.queue_capacity == 0 {
            return invalid("notify.queue_capacity must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return invalid("notify.max_attempts must be at least 1".into());
        }
        if self.timeout.0.is_zero() {
            return invalid("notify.timeout must be above zero".into());
        }
        for (index, target) in self.commit_status.iter().enumerate() {
            let key = format!("notify.commit_status[{index}]");
            if source.kind != SourceKind::Git {
                return invalid(format!(
                    "{key}: commit statuses need source.kind = \"git\" (they are written per \
                     commit SHA)"
                ));
            }
            if target.context.trim().is_empty() {
                return invalid(format!("{key}.context must not be empty"));
            }
            if let Err(problem) = target.resolve(source.url.as_deref().unwrap_or_default()) {
                return invalid(format!("{key}.{problem}"));
            }
        }
        for (index, target) in self.webhook.iter().enumerate() {
            let key = format!("notify.webhook[{index}]");
            if target.format == AlertFormat::Slack && target.hmac_key_file.is_some() {
                return invalid(format!(
                    "{key}.hmac_key_file: only format = \"generic\" is signed"
                ));
            }
            if target.on.is_empty() {
                return invalid(format!(
                    "{key}.on must name \"stalled\", \"current\" or both"
                ));
            }
        }
        Ok(())
    }

    /// Whether any target is configured.
    pub fn is_enabled(&self) -> bool {
        !self.commit_status.is_empty() || !self.webhook.is_empty()
    }
}
