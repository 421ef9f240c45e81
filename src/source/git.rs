//! The Git source: one clone in `work_dir`, then per sync: ask the remote where the ref points
//! (ls-remote), fetch only when it moved, load the manifests of the commit straight from Git's
//! objects. Nothing is checked out: a checkout writes and stats every file of the work tree on
//! each commit, which grows with the fleet, while a file whose blob did not change keeps what
//! was loaded from it. All of it is blocking libgit2 work and runs on tokio's blocking pool.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use git2::{Direction, FetchOptions, Oid, Repository};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::auth::Credentials;
use super::redact::{ParsedUrl, parse_url};
use super::{FetchTrigger, Reference, Snapshot, SourceError, SourceStats};
use crate::backoff::{Backoff, jittered};
use crate::config::{AuthConfig, SourceConfig};
use crate::manifest::{LoadOptions, LoadedTree};

mod callbacks;
mod reload;

/// Extra time the async side waits beyond `timeout` before it gives up on a blocking job,
/// so libgit2's own timeout normally fires first and gives the better message.
const TIMEOUT_GRACE: Duration = Duration::from_secs(5);

/// First retry delay after a failed sync; it doubles with each further failure.
const RETRY_BASE: Duration = Duration::from_secs(1);

pub(crate) struct GitSync {
    /// What libgit2 connects to: userinfo removed (it goes through the credential callback).
    remote_url: String,
    url: ParsedUrl,
    reference: Reference,
    path: String,
    work_dir: PathBuf,
    depth: u32,
    timeout: Duration,
    auth: AuthConfig,
    /// What each file of the last loaded commit held, by blob, to load the next one by what
    /// changed.
    loaded: Option<LoadedTree<Oid>>,
}

/// The commit a sync ended on, in the clone that holds it.
pub(crate) struct Synced {
    repo: Repository,
    pub commit: Oid,
}

/// What the libgit2 callbacks learned, read back when an operation fails.
#[derive(Default)]
struct CallbackState {
    credential_attempts: Cell<u32>,
    host_key_failure: RefCell<Option<SourceError>>,
}

impl GitSync {
    pub fn new(config: &SourceConfig, reference: Reference) -> Result<Self, SourceError> {
        let raw_url = config.url.clone().unwrap_or_default();
        let url = parse_url(&raw_url);
        let remote_url = match (&url.scheme, &url.username) {
            // libgit2 takes the SSH user from the URL; keep it, there is no password there.
            (Some(scheme), Some(user)) if scheme == "ssh" => {
                url.display.replacen("ssh://", &format!("ssh://{user}@"), 1)
            }
            (Some(_), _) => url.display.clone(),
            (None, _) => raw_url.clone(),
        };
        if config.path.split('/').any(|part| part == "..") {
            return Err(SourceError::Config(
                "source.path must stay inside the repository".into(),
            ));
        }
        let millis = i32::try_from(config.timeout.0.as_millis())
            .unwrap_or(i32::MAX)
            .max(1);
        // SAFETY: these setters only store a process-wide integer that libgit2 reads when it
        // opens a socket; a concurrent connect at worst sees the previous value.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(millis);
            let _ = git2::opts::set_server_timeout_in_milliseconds(millis);
        }
        Ok(GitSync {
            remote_url,
            url,
            reference,
            path: config.path.clone(),
            work_dir: config.work_dir.clone(),
            depth: config.depth,
            timeout: config.timeout.0,
            auth: config.auth.clone(),
            loaded: None,
        })
    }

    /// Brings the tracked commit into the clone, fetching only when the remote moved.
    pub fn sync_once(&self, stats: &SourceStats) -> Result<Synced, SourceError> {
        let credentials = Credentials::load(&self.auth, &self.url)?;
        let repo = self.open_or_init()?;
        let deadline = Instant::now() + self.timeout;
        let target = match &self.reference {
            Reference::Commit(sha) => {
                self.ensure_commit(&repo, sha, &credentials, deadline, stats)?
            }
            Reference::Branch(_) | Reference::Tag(_) => {
                self.follow_ref(&repo, &credentials, deadline, stats)?
            }
            Reference::Directory => unreachable!("a git source never follows a directory"),
        };
        Ok(Synced {
            repo,
            commit: target,
        })
    }

    fn open_or_init(&self) -> Result<Repository, SourceError> {
        let repo = match Repository::open(&self.work_dir) {
            Ok(repo) => repo,
            // Bare: nothing is ever checked out (a clone made by 0.5 keeps its old work tree
            // on disk, unused).
            Err(_) => Repository::init_bare(&self.work_dir).map_err(|error| SourceError::Io {
                context: format!("cannot create the clone in {}", self.work_dir.display()),
                source: std::io::Error::other(error.message().to_string()),
            })?,
        };
        Ok(repo)
    }

    /// Remote ref name and the local ref it is fetched into.
    fn ref_names(&self) -> (String, String) {
        match &self.reference {
            Reference::Branch(name) => (
                format!("refs/heads/{name}"),
                format!("refs/remotes/origin/{name}"),
            ),
            Reference::Tag(name) => (format!("refs/tags/{name}"), format!("refs/tags/{name}")),
            _ => unreachable!("only branches and tags are followed by name"),
        }
    }

    fn follow_ref(
        &self,
        repo: &Repository,
        credentials: &Credentials,
        deadline: Instant,
        stats: &SourceStats,
    ) -> Result<Oid, SourceError> {
        let (remote_ref, local_ref) = self.ref_names();
        SourceStats::bump(&stats.ref_checks);
        let remote_tip = self.ls_remote(repo, &remote_ref, credentials, deadline)?;
        let local_tip = repo.refname_to_id(&local_ref).ok();
        if local_tip == Some(remote_tip) && repo.find_object(remote_tip, None).is_ok() {
            SourceStats::bump(&stats.skipped_fetches);
            debug!(url = %self.url.display, %remote_ref, "remote ref has not moved; fetch skipped");
        } else {
            SourceStats::bump(&stats.fetches);
            let refspec = format!("+{remote_ref}:{local_ref}");
            self.fetch(repo, &[refspec.as_str()], credentials, deadline)?;
        }
        let commit = repo
            .find_reference(&local_ref)
            .and_then(|reference| reference.peel_to_commit())
            .map_err(|error| self.plain_git_error(&error, credentials))?;
        Ok(commit.id())
    }

    fn ensure_commit(
        &self,
        repo: &Repository,
        sha: &str,
        credentials: &Credentials,
        deadline: Instant,
        stats: &SourceStats,
    ) -> Result<Oid, SourceError> {
        let oid =
            Oid::from_str(sha).map_err(|_| SourceError::Config(format!("bad commit {sha}")))?;
        if repo.find_commit(oid).is_ok() {
            // A commit never changes: once it is here there is nothing to ask the remote.
            SourceStats::bump(&stats.skipped_fetches);
            return Ok(oid);
        }
        SourceStats::bump(&stats.fetches);
        // Servers rarely allow fetching an arbitrary SHA, so fetch the branches and look.
        self.fetch(
            repo,
            &["+refs/heads/*:refs/remotes/origin/*"],
            credentials,
            deadline,
        )?;
        repo.find_commit(oid)
            .map(|commit| commit.id())
            .map_err(|_| SourceError::RefNotFound {
                url: self.url.display.clone(),
                reference: format!("commit {sha} (not reachable from any branch)"),
            })
    }

    /// Where `remote_ref` points on the remote, without downloading objects.
    fn ls_remote(
        &self,
        repo: &Repository,
        remote_ref: &str,
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<Oid, SourceError> {
        let state = CallbackState::default();
        let mut remote = repo
            .remote_anonymous(&self.remote_url)
            .map_err(|error| self.plain_git_error(&error, credentials))?;
        let callbacks = self.callbacks(credentials, &state, deadline);
        let connection = remote
            .connect_auth(Direction::Fetch, Some(callbacks), None)
            .map_err(|error| self.classify(&error, &state, credentials, deadline))?;
        let heads = connection
            .list()
            .map_err(|error| self.classify(&error, &state, credentials, deadline))?;
        heads
            .iter()
            .find(|head| head.name() == remote_ref)
            .map(|head| head.oid())
            .ok_or_else(|| SourceError::RefNotFound {
                url: self.url.display.clone(),
                reference: remote_ref.to_string(),
            })
    }

    fn fetch(
        &self,
        repo: &Repository,
        refspecs: &[&str],
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<(), SourceError> {
        let state = CallbackState::default();
        let mut remote = repo
            .remote_anonymous(&self.remote_url)
            .map_err(|error| self.plain_git_error(&error, credentials))?;
        let mut options = FetchOptions::new();
        options.remote_callbacks(self.callbacks(credentials, &state, deadline));
        if self.depth > 0 {
            options.depth(i32::try_from(self.depth).unwrap_or(i32::MAX));
        }
        let started = Instant::now();
        remote
            .fetch(refspecs, Some(&mut options), None)
            .map_err(|error| self.classify(&error, &state, credentials, deadline))?;
        let stats = remote.stats();
        info!(
            url = %self.url.display,
            objects = stats.received_objects(),
            bytes = stats.received_bytes(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "fetched"
        );
        Ok(())
    }
}

/// The source loop: sync at start, then on every trigger or poll tick.
pub(crate) async fn run(
    sync: GitSync,
    load: LoadOptions,
    trigger: FetchTrigger,
    stats: Arc<SourceStats>,
    sender: watch::Sender<Option<Arc<Snapshot>>>,
    config: SourceConfig,
) {
    let display_url = sync.url.display.clone();
    let sync = Arc::new(Mutex::new(sync));
    let mut first = true;
    let mut failures: u32 = 0;
    loop {
        if !first {
            let wait = jittered(
                retry_or_poll_delay(failures, config.poll_interval.0),
                config.poll_jitter.0,
            );
            tokio::select! {
                () = trigger.wait() => debug!("sync requested"),
                () = tokio::time::sleep(wait) => debug!("poll interval elapsed"),
            }
        }
        first = false;
        SourceStats::bump(&stats.syncs);
        let started = std::time::Instant::now();
        let current = sender
            .borrow()
            .as_ref()
            .map(|snapshot| snapshot.revision.clone());
        let job = {
            let (sync, stats, load) = (sync.clone(), stats.clone(), load.clone());
            tokio::task::spawn_blocking(move || {
                // The lock keeps a timed-out job and the next one off the same work dir.
                let mut sync = sync.lock().unwrap_or_else(|poison| poison.into_inner());
                let synced = sync.sync_once(&stats)?;
                let revision = synced.commit.to_string();
                if current.as_deref() == Some(revision.as_str()) {
                    return Ok(None);
                }
                let fetched = started.elapsed();
                let manifests = sync.load(&synced, &load)?;
                let snapshot = Snapshot {
                    revision,
                    manifests,
                };
                Ok(Some((snapshot, fetched)))
            })
        };
        let result = match tokio::time::timeout(config.timeout.0 + TIMEOUT_GRACE, job).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(SourceError::Git {
                url: display_url.clone(),
                detail: format!("sync task failed: {join_error}"),
            }),
            Err(_) => Err(SourceError::Timeout {
                url: display_url.clone(),
                after: config.timeout.0,
            }),
        };
        match result {
            Ok(Some((snapshot, fetched))) => {
                // Where a sync's time goes: asking the remote and fetching, then loading.
                let (fetch_ms, load_ms) = (
                    fetched.as_millis(),
                    (started.elapsed() - fetched).as_millis(),
                );
                info!(url = %display_url, revision = %snapshot.revision, manifests = snapshot.manifests.manifests.len(),
                      fetch_ms = fetch_ms as u64, load_ms = load_ms as u64, "new snapshot");
                failures = 0;
                stats.record_sync(None, started.elapsed());
                sender.send_replace(Some(Arc::new(snapshot)));
            }
            Ok(None) => {
                failures = 0;
                stats.record_sync(None, started.elapsed());
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                warn!(url = %display_url, error = %error, failures, "source sync failed");
                stats.record_sync(Some(error.to_string()), started.elapsed());
            }
        }
    }
}

/// After a failure, retry sooner than the next poll (1 s, 2 s, 4 s, ... up to the poll
/// interval) so a blip at start-up does not leave the service unready for a whole interval.
fn retry_or_poll_delay(failures: u32, poll_interval: Duration) -> Duration {
    if failures == 0 {
        return poll_interval;
    }
    Backoff::new(RETRY_BASE, poll_interval).delay(failures)
}

#[cfg(test)]
mod tests;
