//! Notifications: commit statuses written back to GitHub, GitLab or Gitea/Forgejo per Git
//! revision applied, and alerts to a generic webhook or Slack when a database turns Stalled,
//! or Current after a change (configured in `[notify]`, see `README.md`, "Notifications").
//!
//! Entry point: [`Notifier::start`]. The apply stage reports each pass ([`Notifier::applied`]),
//! the reconciler each standing it computes ([`Notifier::observe`]). Both only record and
//! `try_send` into a bounded channel, so a slow or failing forge never blocks a reconcile: when
//! the channel is full the event is dropped and counted. One task decides what to tell
//! ([`tracker`], pure), and one task per target sends with retries ([`send`]).
//!
//! The latest standing of each database is kept here, shared with the deciding task, so an
//! unchanged standing costs one map lookup and sends nothing.

mod decide;
mod render;
mod secret;
mod send;
mod tracker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::ResourceExt;
use tokio::sync::mpsc;
use tracing::warn;

use crate::apply::ApplyReport;
use crate::config::{AlertFormat, Config};
use crate::models::{GitopsPostgres, KubedbPostgres, REVISION_ANNOTATION};
use crate::plan::{DatabasePlan, ErrorKind};
use crate::status::Standing;
use secret::FileSecret;
use send::{Http, Retry, Target};

pub use tracker::Applied;

/// `(namespace, name)` of a database.
pub type DbKey = (String, String);

/// Why the notifications could not start. Never holds a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{key}: {path}: {problem}")]
    SecretFile {
        key: String,
        path: PathBuf,
        problem: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("building the HTTPS client of the notifications: {0}")]
    Client(String),
}

/// How a database stands, as notifications see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbState {
    /// Steps remain, an OpsRequest runs, or the database is not Ready yet.
    Progressing,
    /// Matches Git and is Ready.
    Current,
    /// Needs a person: a failed OpsRequest or a change that cannot be applied.
    Stalled,
    Suspended,
}

/// What the reconciler last saw of a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The Git revision its gitops object was last changed at.
    pub revision: Option<String>,
    pub state: DbState,
    /// For Stalled: the condition's reason and message.
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// One reconcile's result for one database.
#[derive(Debug, Clone)]
pub struct Observation {
    pub key: DbKey,
    pub seen: Seen,
    /// The state its status held before this reconcile: what a database that this process
    /// has not seen yet is compared with, so a restart raises no alert for a standing that
    /// did not change.
    pub persisted: Option<DbState>,
}

/// Outcome of one message to one target, for `pg_gitops_notifications_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyResult {
    Sent,
    /// An attempt failed and another follows.
    Retried,
    /// Every attempt failed, or the answer cannot change (4xx).
    Failed,
    /// The queue was full.
    Dropped,
}

impl NotifyResult {
    pub fn label(self) -> &'static str {
        match self {
            NotifyResult::Sent => "sent",
            NotifyResult::Retried => "retried",
            NotifyResult::Failed => "failed",
            NotifyResult::Dropped => "dropped",
        }
    }
}

/// Told every outcome: (provider, result). Provider `all` is the channel before the targets.
pub type Observer = Arc<dyn Fn(&'static str, NotifyResult) + Send + Sync>;

/// Events between the reporting stages and the deciding task. Enough for a commit that changes
/// a few hundred databases at once; the deciding task only moves messages to queues.
const EVENTS: usize = 1024;
/// How often open revisions are settled again without an event.
const RECHECK: Duration = Duration::from_secs(2);

enum Event {
    Applied(Applied),
    Changed {
        key: DbKey,
        seen: Seen,
        previous: Option<DbState>,
    },
    Forget(DbKey),
}

type SeenMap = Arc<Mutex<HashMap<DbKey, Seen>>>;

struct Inner {
    seen: SeenMap,
    events: mpsc::Sender<Event>,
    observe: Observer,
}

/// The notifications of the service; cheap to clone. [`Notifier::default`] sends nothing and
/// costs nothing.
#[derive(Clone, Default)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

impl Notifier {
    /// Reads every target's secrets and starts the tasks (on the current Tokio runtime).
    /// Without targets, a notifier that does nothing.
    pub fn start(config: &Config, observe: Observer) -> Result<Self, NotifyError> {
        let notify = &config.notify;
        if !notify.is_enabled() {
            return Ok(Self::default());
        }
        let mut targets = Vec::new();
        for (index, entry) in notify.commit_status.iter().enumerate() {
            let key = format!("notify.commit_status[{index}]");
            let repository = entry
                .resolve(config.source.url.as_deref().unwrap_or_default())
                .map_err(|problem| NotifyError::Config(format!("{key}.{problem}")))?;
            let token = FileSecret::load(format!("{key}.token_file"), &entry.token_file)?;
            let target = Target::Forge {
                forge: entry.provider,
                repository,
                context: entry.context.clone(),
                token,
            };
            targets.push((key, target));
        }
        for (index, entry) in notify.webhook.iter().enumerate() {
            let key = format!("notify.webhook[{index}]");
            let url = FileSecret::load(format!("{key}.url_file"), &entry.url_file)?;
            let text = url.current();
            if !(text.expose().starts_with("https://") || text.expose().starts_with("http://"))
                || text.expose().parse::<hyper::Uri>().is_err()
            {
                return Err(NotifyError::Config(format!(
                    "{key}.url_file: {}: does not hold an http(s) URL",
                    entry.url_file.display()
                )));
            }
            let hmac_key = match (&entry.hmac_key_file, entry.format) {
                (Some(path), AlertFormat::Generic) => {
                    Some(FileSecret::load(format!("{key}.hmac_key_file"), path)?)
                }
                _ => None,
            };
            let target = Target::Webhook {
                format: entry.format,
                url,
                hmac_key,
                on: entry.on.clone(),
                instance: config.reconcile.instance_name(),
            };
            targets.push((key, target));
        }
        let http = Arc::new(Http::new(notify.timeout.0)?);
        let retry = Retry {
            max_attempts: notify.max_attempts,
            first_delay: notify.retry_delay.0,
        };
        let mut queues = Vec::new();
        for (name, target) in targets {
            let (sender, receiver) = mpsc::channel(notify.queue_capacity);
            queues.push(decide::Queue {
                name: name.clone(),
                provider: target.provider(),
                route: target.route(),
                sender,
            });
            tokio::spawn(send::run_target(
                name,
                target,
                receiver,
                http.clone(),
                retry,
                observe.clone(),
            ));
        }
        let seen = SeenMap::default();
        let (events, receiver) = mpsc::channel(EVENTS);
        tokio::spawn(decide::decide(
            receiver,
            seen.clone(),
            queues,
            observe.clone(),
        ));
        Ok(Self {
            inner: Some(Arc::new(Inner {
                seen,
                events,
                observe,
            })),
        })
    }

    /// One pass of the apply stage for a revision (a commit SHA; other revisions are ignored).
    pub fn applied(&self, applied: Applied) {
        if self.inner.is_some() {
            self.send(Event::Applied(applied));
        }
    }

    /// The apply stage's report of one pass.
    pub(crate) fn applied_report(&self, report: &ApplyReport) {
        if self.inner.is_none() {
            return;
        }
        self.applied(Applied {
            revision: report.revision.clone(),
            changed: report.applied.clone(),
            invalid: report.invalid.iter().map(ToString::to_string).collect(),
            complete: report.failed.is_empty(),
        });
    }

    /// Records what a reconcile computed; sends an event only when the revision, state or
    /// failure message differs from what was last recorded for the database.
    pub fn observe(&self, observation: Observation) {
        let Some(inner) = &self.inner else {
            return;
        };
        let Observation {
            key,
            seen,
            persisted,
        } = observation;
        let previous = {
            let mut map = inner.seen.lock().unwrap_or_else(|p| p.into_inner());
            let previous = match map.get(&key) {
                Some(last) if *last == seen => return,
                Some(last) => Some(last.state),
                // First seen by this process, as its status already said: nothing changed.
                None if persisted == Some(seen.state) => {
                    map.insert(key, seen);
                    return;
                }
                None => persisted,
            };
            map.insert(key.clone(), seen.clone());
            previous
        };
        self.send(Event::Changed {
            key,
            seen,
            previous,
        });
    }

    /// What a reconcile of `object` computed, as [`Notifier::observe`] takes it.
    pub(crate) fn observe_reconcile(
        &self,
        object: &GitopsPostgres,
        plan: &DatabasePlan,
        suspended: bool,
        live: Option<&KubedbPostgres>,
    ) {
        if self.inner.is_none() {
            return;
        }
        let ready = live
            .and_then(|l| l.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Ready");
        let (state, reason, detail) = match Standing::of(plan, suspended) {
            Standing::Current if ready => (DbState::Current, None, None),
            Standing::Current | Standing::Progressing => (DbState::Progressing, None, None),
            Standing::Suspended => (DbState::Suspended, None, None),
            Standing::Stalled => {
                let reason = plan.error_kind().map_or("InvalidSpec", ErrorKind::reason);
                let messages: Vec<&str> = plan.errors.iter().map(|e| e.message.as_str()).collect();
                (
                    DbState::Stalled,
                    Some(reason.to_string()),
                    Some(messages.join("; ")),
                )
            }
        };
        self.observe(Observation {
            key: (object.namespace().unwrap_or_default(), object.name_any()),
            seen: Seen {
                revision: object.annotations().get(REVISION_ANNOTATION).cloned(),
                state,
                reason,
                detail,
            },
            persisted: persisted_state(object),
        });
    }

    /// Forgets a deleted database.
    pub(crate) fn forget(&self, namespace: &str, name: &str) {
        let Some(inner) = &self.inner else {
            return;
        };
        let key = (namespace.to_string(), name.to_string());
        inner
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        self.send(Event::Forget(key));
    }

    fn send(&self, event: Event) {
        let Some(inner) = &self.inner else {
            return;
        };
        if inner.events.try_send(event).is_err() {
            (inner.observe)("all", NotifyResult::Dropped);
            warn!("notification events queue full; an event was dropped");
        }
    }
}

/// The state the object's status held, from its kstatus conditions.
fn persisted_state(object: &GitopsPostgres) -> Option<DbState> {
    let conditions = &object.status.as_ref()?.conditions;
    let is = |kind: &str, status: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind)
            .filter(|c| c.status == status)
    };
    if is("Stalled", "True").is_some() {
        Some(DbState::Stalled)
    } else if is("Ready", "True").is_some() {
        Some(DbState::Current)
    } else if is("Ready", "False").is_some_and(|c| c.reason.as_deref() == Some("Suspended")) {
        Some(DbState::Suspended)
    } else if is("Reconciling", "True").is_some() {
        Some(DbState::Progressing)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
