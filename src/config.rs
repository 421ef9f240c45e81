//! `config.toml`: one file configures the whole service. Every table rejects unknown keys so a
//! typo fails at start-up instead of silently falling back to a default. Defaults live here,
//! in code, and `config.toml` at the repo root documents each of them.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod change_control;
mod owner;

use crate::manifest::SnapshotLimits;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use change_control::{
    ApprovalConfig, FleetBudgetConfig, LabelSelector, MaintenanceConfig, WindowRule,
};
mod notify;
pub use notify::{
    AlertFormat, AlertOn, AlertWebhookConfig, CommitStatusConfig, Forge, ForgeRepository,
    MAX_RETRY_DELAY, NotifyConfig,
};

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// The whole service configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub source: SourceConfig,
    pub server: ServerConfig,
    pub plan: PlanConfig,
    pub reconcile: ReconcileConfig,
    pub leader_election: LeaderElectionConfig,
    pub log: LogConfig,
    pub notify: NotifyConfig,
    pub approval: ApprovalConfig,
    pub maintenance: MaintenanceConfig,
}

/// `[log]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// How log lines are written: for people, or one JSON object per line for a log pipeline
/// (as Flux's `--log-encoding=json` and Argo CD's `--logformat json` offer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Config {
    /// Reads, parses and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Parses and validates TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks rules that serde alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let source = &self.source;
        if source.kind == SourceKind::Git && source.url.as_deref().unwrap_or("").is_empty() {
            return Err(ConfigError::Invalid(
                "source.kind = \"git\" needs source.url".into(),
            ));
        }
        if source.kind == SourceKind::Dir && source.dir.is_none() {
            return Err(ConfigError::Invalid(
                "source.kind = \"dir\" needs source.dir".into(),
            ));
        }
        if source.tag.is_some() && source.commit.is_some() {
            return Err(ConfigError::Invalid(
                "source.tag and source.commit are exclusive: track one reference".into(),
            ));
        }
        if let Some(commit) = &source.commit
            && (commit.len() != 40 || !commit.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(ConfigError::Invalid(
                "source.commit must be a full 40-character commit SHA".into(),
            ));
        }
        let server = &self.server;
        if server.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "server.max_connections must be at least 1".into(),
            ));
        }
        if server.header_read_timeout.0.is_zero() || server.request_timeout.0.is_zero() {
            return Err(ConfigError::Invalid(
                "server.header_read_timeout and server.request_timeout must be above zero".into(),
            ));
        }
        if source.poll_interval.0.is_zero() {
            return Err(ConfigError::Invalid(
                "source.poll_interval must be above zero".into(),
            ));
        }
        let auth = &source.auth;
        if auth.token_file.is_some() && auth.password_file.is_some() {
            return Err(ConfigError::Invalid(
                "source.auth.token_file and source.auth.password_file are exclusive".into(),
            ));
        }
        if let Some(owner) = &self.reconcile.owner {
            owner::check(owner)?;
        }
        if self.plan.volume_expansion_mode != "Online"
            && self.plan.volume_expansion_mode != "Offline"
        {
            return Err(ConfigError::Invalid(
                "plan.volume_expansion_mode must be \"Online\" or \"Offline\"".into(),
            ));
        }
        self.notify.validate(source)?;
        Ok(())
    }
}

/// Where desired state comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Clone a remote Git repository and follow it.
    #[default]
    Git,
    /// Watch a local directory (development).
    Dir,
    /// Argo CD, Flux or kubectl apply the gitops objects; the service only reconciles.
    Cluster,
}

/// `[source]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    pub kind: SourceKind,
    /// Remote URL (`https://`, `http://`, `ssh://`, `user@host:path` or `file://`).
    pub url: Option<String>,
    /// Branch to follow when neither `tag` nor `commit` is set.
    pub branch: String,
    pub tag: Option<String>,
    pub commit: Option<String>,
    /// Subdirectory of the repository (or of `dir`) holding the manifests.
    pub path: String,
    /// Local directory for `kind = "dir"`.
    pub dir: Option<PathBuf>,
    /// Where the clone lives between fetches.
    pub work_dir: PathBuf,
    pub poll_interval: Seconds,
    /// Each poll waits `poll_interval` plus a random share of this.
    pub poll_jitter: Seconds,
    /// Shallow fetch depth; 0 fetches full history.
    pub depth: u32,
    /// Limit for one ls-remote or fetch.
    pub timeout: Seconds,
    /// Quiet time after the last file change before a `dir` source reloads.
    pub dir_debounce: Seconds,
    pub auth: AuthConfig,
    /// A YAML file larger than this is not read (an error for that file).
    pub max_file_bytes: u64,
    /// More YAML files than this under `path`: the snapshot is not loaded.
    pub max_files: usize,
    /// YAML files larger than this together: the snapshot is not loaded.
    pub max_total_bytes: u64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            kind: SourceKind::Git,
            url: None,
            branch: "main".into(),
            tag: None,
            commit: None,
            path: ".".into(),
            dir: None,
            work_dir: PathBuf::from("/var/lib/pg-gitops/source"),
            poll_interval: Seconds(Duration::from_secs(60)),
            poll_jitter: Seconds(Duration::from_secs(10)),
            depth: 0,
            timeout: Seconds(Duration::from_secs(60)),
            dir_debounce: Seconds(Duration::from_millis(300)),
            auth: AuthConfig::default(),
            max_file_bytes: SnapshotLimits::default().max_file_bytes,
            max_files: SnapshotLimits::default().max_files,
            max_total_bytes: SnapshotLimits::default().max_total_bytes,
        }
    }
}

/// `[source.auth]`: every secret is read from a file (or an environment variable), never
/// written inline, so `config.toml` can live in a ConfigMap.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HTTPS user name (for a token it defaults to `git`; most forges ignore it).
    pub username: Option<String>,
    pub username_file: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    /// SSH private key (OpenSSH or PEM format).
    pub ssh_key_file: Option<PathBuf>,
    pub ssh_passphrase_file: Option<PathBuf>,
    pub ssh_passphrase_env: Option<String>,
    /// Host keys the SSH server must match; unknown or changed keys are refused.
    pub known_hosts_file: Option<PathBuf>,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Time a client has to send a request's whole header (slowloris defence).
    pub header_read_timeout: Seconds,
    /// Time one request may take, its body included.
    pub request_timeout: Seconds,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    pub webhooks: WebhookSecretsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            // Forges deliver a webhook in one write; a second is already generous.
            header_read_timeout: Seconds(Duration::from_secs(10)),
            request_timeout: Seconds(Duration::from_secs(30)),
            // Webhooks, probes and scrapes are a handful at a time; this leaves room for a
            // burst of deliveries while bounding what slow clients can hold.
            max_connections: 256,
            webhooks: Default::default(),
        }
    }
}

/// `[server.webhooks]`: a receiver is mounted only when its secret file is set, so no
/// endpoint ever accepts unsigned requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSecretsConfig {
    pub github_secret_file: Option<PathBuf>,
    pub gitlab_token_file: Option<PathBuf>,
    pub gitea_secret_file: Option<PathBuf>,
    pub bitbucket_secret_file: Option<PathBuf>,
    pub generic_secret_file: Option<PathBuf>,
}

/// `[plan]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanConfig {
    pub default_namespace: String,
    pub volume_expansion_mode: String,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            default_namespace: "default".into(),
            volume_expansion_mode: "Online".into(),
        }
    }
}

/// `[reconcile]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    pub prune: bool,
    pub suspend: bool,
    /// Watch and reconcile one namespace only; all namespaces when unset.
    pub namespace: Option<String>,
    /// Safety-net recompute of every database; it writes only if something changed.
    pub resync_interval: Seconds,
    /// Name of this replica in events and the lease (default: `$POD_NAME`, else the host name).
    pub instance: Option<String>,
    /// Which pg-gitops instance this is, as the value of the label `gitops.kubedb.com/owner` on
    /// what it applies, provisions and adopts (default: the Lease, see [`Config::owner`]).
    pub owner: Option<String>,
    /// OpsRequests created per second across the fleet, at most (also the burst): a commit
    /// that changes every database rolls out at this pace instead of in one burst that the
    /// API server throttles and KubeDB's operator queues.
    pub max_ops_requests_per_second: NonZeroU32,
    /// OpsRequests in flight at once across the fleet, at most (unset: no cap). A commit that
    /// bumps the version of 500 databases rolls through them this many at a time.
    pub max_parallel_ops: Option<NonZeroU32>,
    /// Apply `max_parallel_ops` per value of this label of the gitops objects (a team, a
    /// zone) instead of once for the fleet.
    pub max_parallel_ops_per_label: Option<String>,
    /// Databases reconciled at once. Each reconcile waits on a few API round trips, so this,
    /// more than the service's CPU, bounds how fast a fleet converges.
    pub concurrency: std::num::NonZeroU16,
}

impl ReconcileConfig {
    /// The name of this replica, in events and as the Lease holder: `instance`, else
    /// `$POD_NAME`, else the host name, else `pg-gitops-<pid>`. The one identity function, so
    /// events and the Lease always name a replica the same way.
    pub(crate) fn instance_name(&self) -> String {
        self.instance
            .clone()
            .or_else(|| std::env::var("POD_NAME").ok())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
            })
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| format!("pg-gitops-{}", std::process::id()))
    }
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            prune: false,
            suspend: false,
            namespace: None,
            resync_interval: Seconds(Duration::from_secs(300)),
            instance: None,
            owner: None,
            max_ops_requests_per_second: NonZeroU32::new(10).expect("10 is not zero"),
            max_parallel_ops: None,
            max_parallel_ops_per_label: None,
            concurrency: std::num::NonZeroU16::new(4).expect("4 is not zero"),
        }
    }
}

/// `[leader_election]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaderElectionConfig {
    pub enabled: bool,
    pub lease_name: String,
    pub lease_namespace: String,
    /// How long a Lease stays valid after its last renewal; a crashed leader is replaced
    /// after at most this long (a clean shutdown hands over at once).
    pub lease_duration: Seconds,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            lease_name: "pg-gitops".into(),
            lease_namespace: "default".into(),
            lease_duration: Seconds(Duration::from_secs(15)),
        }
    }
}

/// A duration written as `"90s"`, `"5m"`, `"1h"`, `"250ms"` or a bare number of seconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub Duration);

impl fmt::Debug for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis.is_multiple_of(1000) {
            write!(f, "{}s", millis / 1000)
        } else {
            write!(f, "{millis}ms")
        }
    }
}

impl std::str::FromStr for Seconds {
    type Err = String;

    /// humantime's forms (`60s`, `5m`, `500ms`, `1h 30m`); a bare number means seconds, as
    /// TOML integers do (`poll_jitter = 3`).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            return Ok(Seconds(Duration::from_secs(seconds)));
        }
        humantime::parse_duration(text)
            .map(Seconds)
            .map_err(|error| {
                format!("`{text}` is not a duration like \"60s\", \"5m\" or \"500ms\": {error}")
            })
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(secs) => Ok(Seconds(Duration::from_secs(secs))),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests;
