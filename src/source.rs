//! Sources of desired state: a Git remote (clone once, then incremental fetches), or a local
//! directory watched with notify. Each produces [`Snapshot`]s on a `watch` channel, so a slow
//! consumer only ever sees the newest one.
//!
//! Triggers (poll tick, webhook, file change) all funnel into one [`FetchTrigger`], which holds
//! at most one pending request: a burst of pushes becomes one sync in flight plus one queued.

mod auth;
mod dir;
mod git;
pub(crate) mod known_hosts;
pub(crate) mod redact;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{SourceConfig, SourceKind};
use crate::manifest::{LoadOptions, ManifestSet};

pub use auth::Secret;

/// `url` without any userinfo, safe to show (the `/status` endpoint uses it).
pub(crate) fn display_url(url: &str) -> String {
    redact::parse_url(url).display
}

/// One consistent view of the desired state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Commit SHA for Git, `sha256:<hex>` of the file contents for a directory.
    pub revision: String,
    pub manifests: ManifestSet,
}

/// Everything that can go wrong while reading a source. Each Git failure names its class in
/// plain words; no variant ever carries a credential, and URLs are shown without userinfo.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("authentication refused by {url}: check the configured credentials ({detail})")]
    AuthRefused { url: String, detail: String },
    #[error(
        "host key unknown: {host} offered a {key_type} key (fingerprint {fingerprint}) that is not in {known_hosts}; \
         add the server's key there after verifying it out of band (unknown hosts are never trusted automatically)"
    )]
    HostKeyUnknown {
        host: String,
        key_type: String,
        fingerprint: String,
        known_hosts: String,
    },
    #[error(
        "host key CHANGED for {host}: it offered a {key_type} key (fingerprint {fingerprint}) but {known_hosts} \
         lists a different key for it; refusing to connect. This may be a man-in-the-middle attack, or the \
         server's key was rotated: verify the new key out of band and update {known_hosts}"
    )]
    HostKeyChanged {
        host: String,
        key_type: String,
        fingerprint: String,
        known_hosts: String,
    },
    #[error("network unreachable: cannot connect to {url} ({detail})")]
    NetworkUnreachable { url: String, detail: String },
    #[error("timeout: {url} did not answer within {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("ref not found: {reference} does not exist in {url}")]
    RefNotFound { url: String, reference: String },
    #[error("cannot read credential {what}: {detail}")]
    Credential { what: String, detail: String },
    #[error("invalid source configuration: {0}")]
    Config(String),
    #[error("git error on {url}: {detail}")]
    Git { url: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// What a source follows. Webhook receivers use it to ignore pushes to other refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Branch(String),
    Tag(String),
    Commit(String),
    /// A local directory: any change counts.
    Directory,
}

impl Reference {
    pub(crate) fn from_config(config: &SourceConfig) -> Self {
        if config.kind == SourceKind::Dir {
            Reference::Directory
        } else if let Some(commit) = &config.commit {
            Reference::Commit(commit.to_ascii_lowercase())
        } else if let Some(tag) = &config.tag {
            Reference::Tag(tag.clone())
        } else {
            Reference::Branch(config.branch.clone())
        }
    }

    /// Whether a push of `git_ref` (e.g. `refs/heads/main`) can change what we follow.
    pub(crate) fn is_moved_by(&self, git_ref: &str) -> bool {
        match self {
            Reference::Branch(name) => git_ref.strip_prefix("refs/heads/") == Some(name.as_str()),
            Reference::Tag(name) => git_ref.strip_prefix("refs/tags/") == Some(name.as_str()),
            // A fixed commit never moves; the only way to change it is the config.
            Reference::Commit(_) => false,
            Reference::Directory => true,
        }
    }
}

/// Asks the source to sync now. Cheap to clone; requests made while a sync is running
/// collapse into a single queued one.
#[derive(Debug, Clone, Default)]
pub struct FetchTrigger {
    pending: Arc<Notify>,
    requests: Arc<AtomicU64>,
}

impl FetchTrigger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests a sync. Never blocks; at most one request is remembered.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.pending.notify_one();
    }

    /// How many times [`Self::request`] was called (for tests and metrics).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) async fn wait(&self) {
        self.pending.notified().await;
    }
}

/// Counters of the work a source did. The metrics read them at every scrape
/// (`pg_gitops_git_fetch_total`); the integration tests check fetch-avoidance and coalescing
/// with them.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Syncs started (poll, webhook, file change or the first one).
    pub syncs: AtomicU64,
    /// ls-remote style reference checks against the remote.
    pub ref_checks: AtomicU64,
    /// Object downloads from the remote.
    pub fetches: AtomicU64,
    /// Syncs that stopped after the ref check because the remote had not moved.
    pub skipped_fetches: AtomicU64,
    /// Syncs that ended without an error (whether or not the content changed).
    pub succeeded: AtomicU64,
    /// Syncs that ended in an error.
    pub errors: AtomicU64,
    /// When the last sync ended without an error, in seconds since the Unix epoch (0: never).
    pub last_success_unix: AtomicU64,
    /// When the last sync ended, with or without an error (0: never), for `/status`.
    pub last_sync_unix: AtomicU64,
    /// The error of the last sync (none after a success); a watch so the Events about the
    /// source follow its changes.
    last_error: watch::Sender<Option<String>>,
    /// Told how long each sync took (the metrics' duration histogram).
    sync_observer: std::sync::OnceLock<SyncObserver>,
}

/// A callback told the duration of every sync; a newtype for `Debug`.
struct SyncObserver(Box<dyn Fn(std::time::Duration) + Send + Sync>);

impl std::fmt::Debug for SyncObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncObserver")
    }
}

impl SourceStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Has `observer` told the duration of every sync from now on (the first observer stays:
    /// the service has one metrics registry).
    pub(crate) fn observe_syncs(
        &self,
        observer: impl Fn(std::time::Duration) + Send + Sync + 'static,
    ) {
        let _ = self.sync_observer.set(SyncObserver(Box::new(observer)));
    }

    /// Records a sync that ended, with its error if it failed, and how long it took.
    pub(crate) fn record_sync(&self, error: Option<String>, took: std::time::Duration) {
        if let Some(observer) = self.sync_observer.get() {
            (observer.0)(took);
        }
        Self::bump(if error.is_some() {
            &self.errors
        } else {
            &self.succeeded
        });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        self.last_sync_unix.store(now, Ordering::Relaxed);
        if error.is_none() {
            self.last_success_unix.store(now, Ordering::Relaxed);
        }
        // Only a change wakes the followers: a source failing the same way at every retry
        // is one story, not one per retry.
        self.last_error.send_if_modified(|last| {
            let changed = *last != error;
            *last = error;
            changed
        });
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.borrow().clone()
    }

    /// Follows the error of the last sync as it changes.
    pub(crate) fn errors(&self) -> watch::Receiver<Option<String>> {
        self.last_error.subscribe()
    }
}

/// A running source. Dropping it stops the background task.
pub struct SourceHandle {
    pub snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    pub trigger: FetchTrigger,
    pub stats: Arc<SourceStats>,
    pub reference: Reference,
    task: JoinHandle<()>,
}

impl SourceHandle {
    /// The background task, for the liveness check.
    pub(crate) fn task(&self) -> &JoinHandle<()> {
        &self.task
    }

    /// Waits until a snapshot satisfying `accept` is published.
    pub async fn wait_for(&mut self, accept: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
        let found = self
            .snapshots
            .wait_for(|snapshot| snapshot.as_deref().is_some_and(&accept))
            .await
            .expect("the source task keeps the sender alive while the handle exists");
        found.clone().expect("wait_for only accepts Some")
    }
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a `git` or `dir` source in the background. The first sync starts at once.
pub fn start(config: &SourceConfig, load: LoadOptions) -> Result<SourceHandle, SourceError> {
    let trigger = FetchTrigger::new();
    let stats = Arc::new(SourceStats::default());
    let (sender, receiver) = watch::channel(None);
    let reference = Reference::from_config(config);
    let task = match config.kind {
        SourceKind::Git => {
            let sync = git::GitSync::new(config, reference.clone())?;
            tokio::spawn(git::run(
                sync,
                load,
                trigger.clone(),
                stats.clone(),
                sender,
                config.clone(),
            ))
        }
        SourceKind::Dir => {
            let watched = dir::DirSource::new(config)?;
            tokio::spawn(dir::run(
                watched,
                load,
                trigger.clone(),
                stats.clone(),
                sender,
            ))
        }
        SourceKind::Cluster => {
            return Err(SourceError::Config(
                "source.kind = \"cluster\" has no source to start".into(),
            ));
        }
    };
    Ok(SourceHandle {
        snapshots: receiver,
        trigger,
        stats,
        reference,
        task,
    })
}

/// One sync of a `git` source, outside any loop: what `pg-gitops` does on each trigger,
/// exposed for checks and tests that want the typed error.
pub async fn sync_once(config: &SourceConfig, load: LoadOptions) -> Result<Snapshot, SourceError> {
    if config.kind != SourceKind::Git {
        return Err(SourceError::Config(
            "sync_once only handles source.kind = \"git\"".into(),
        ));
    }
    let mut sync = git::GitSync::new(config, Reference::from_config(config))?;
    let job = tokio::task::spawn_blocking(move || {
        let synced = sync.sync_once(&SourceStats::default())?;
        let manifests = sync.load(&synced, &load)?;
        Ok(Snapshot {
            revision: synced.commit.to_string(),
            manifests,
        })
    });
    job.await
        .map_err(|join_error| SourceError::Config(format!("sync task failed: {join_error}")))?
}

#[cfg(test)]
mod tests;
