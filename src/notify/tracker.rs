//! What to tell, decided purely from what the apply stage and the reconciler saw: per Git
//! revision applied, a commit status `pending`, then `success` once every database it changed
//! is Current at that revision, or `failure` as soon as one is Stalled at it; per database, an
//! alert when it turns Stalled, or Current after a change. Each message is decided once: a
//! revision gets at most one pending and one final status, a database one alert per
//! (state, revision, failure message).
//!
//! The work per event is bounded by the databases a revision changed: a revision holds only
//! those, and at most [`MAX_OPEN`] revisions are followed at once.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::{DbKey, DbState, Seen};
use crate::config::AlertOn;

/// Revisions followed at once; a fleet that receives more pushes than this before the oldest
/// settles loses the oldest one's final status (it stays pending on the forge).
pub(crate) const MAX_OPEN: usize = 16;
/// Revisions remembered as finished, so a retried apply of one never posts it again.
const FINISHED_KEPT: usize = 64;

/// The state of a commit status, before each forge's own spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitState {
    Pending,
    Success,
    Failure,
    /// Every database the revision changed was changed again by a later one first.
    Canceled,
}

/// One thing to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    Status {
        sha: String,
        state: CommitState,
        description: String,
    },
    Alert(Alert),
}

/// A database turned Stalled, or Current after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Alert {
    pub key: DbKey,
    pub on: AlertOn,
    pub revision: Option<String>,
    /// `Current`, or the Stalled condition's reason (`OpsRequestFailed`, `InvalidSpec`, ...).
    pub reason: String,
    pub message: String,
}

/// What one pass of the apply stage did for a revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub revision: String,
    /// The gitops objects it wrote: the databases this revision changes.
    pub changed: Vec<DbKey>,
    /// Manifests of the revision that could not be applied, as `file:line: message`.
    pub invalid: Vec<String>,
    /// Every write succeeded (otherwise the apply stage retries and reports again).
    pub complete: bool,
}

struct Revision {
    sha: String,
    /// The databases it changed, each with the revision it had before: a database seen at
    /// neither was changed again by a later commit.
    changed: BTreeMap<DbKey, Option<String>>,
    invalid: Vec<String>,
    complete: bool,
}

#[derive(Default)]
pub(crate) struct Tracker {
    open: VecDeque<Revision>,
    finished: VecDeque<String>,
    /// The last alert per database: (kind, revision, message).
    alerted: HashMap<DbKey, (AlertOn, Option<String>, String)>,
}

/// Reads the latest standing of a database (the notifier's shared map).
pub(crate) type Latest<'a> = &'a dyn Fn(&DbKey) -> Option<Seen>;

impl Tracker {
    /// A pass of the apply stage. Nothing for a revision that changed nothing, or one that is
    /// not a commit SHA (a directory source's content hash).
    pub(crate) fn applied(&mut self, applied: Applied, latest: Latest<'_>) -> Vec<Message> {
        let sha = applied.revision;
        if !is_commit_sha(&sha) || self.finished.contains(&sha) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let index = match self.open.iter().position(|r| r.sha == sha) {
            Some(index) => index,
            None => {
                if applied.changed.is_empty() && applied.invalid.is_empty() {
                    return out;
                }
                let mut names: Vec<String> = applied.changed.iter().map(display).collect();
                names.sort();
                let description = if names.is_empty() {
                    "checking the manifests".to_string()
                } else {
                    format!("applying {}: {}", count(names.len()), names.join(", "))
                };
                out.push(Message::Status {
                    sha: sha.clone(),
                    state: CommitState::Pending,
                    description,
                });
                self.open.push_back(Revision {
                    sha: sha.clone(),
                    changed: BTreeMap::new(),
                    invalid: Vec::new(),
                    complete: false,
                });
                if self.open.len() > MAX_OPEN {
                    self.open.pop_front();
                }
                self.open.len() - 1
            }
        };
        let revision = &mut self.open[index];
        for key in applied.changed {
            let before = latest(&key).and_then(|seen| seen.revision);
            revision.changed.entry(key).or_insert(before);
        }
        for problem in applied.invalid {
            if !revision.invalid.contains(&problem) {
                revision.invalid.push(problem);
            }
        }
        revision.complete |= applied.complete;
        out.extend(self.settle(|r| r.sha == sha, latest));
        out
    }

    /// A database's standing changed (`previous` is none for one never seen before).
    pub(crate) fn changed(
        &mut self,
        key: &DbKey,
        seen: &Seen,
        previous: Option<DbState>,
        latest: Latest<'_>,
    ) -> Vec<Message> {
        let mut out = Vec::new();
        let on = match (seen.state, previous) {
            (DbState::Stalled, previous) if previous != Some(DbState::Stalled) => {
                Some(AlertOn::Stalled)
            }
            (DbState::Current, Some(DbState::Progressing | DbState::Stalled)) => {
                Some(AlertOn::Current)
            }
            _ => None,
        };
        if let Some(on) = on {
            let message = match on {
                AlertOn::Stalled => seen.detail.clone().unwrap_or_default(),
                AlertOn::Current => "the database matches Git and is Ready".to_string(),
            };
            let last = (on, seen.revision.clone(), message.clone());
            if self.alerted.get(key) != Some(&last) {
                self.alerted.insert(key.clone(), last);
                out.push(Message::Alert(Alert {
                    key: key.clone(),
                    on,
                    revision: seen.revision.clone(),
                    reason: match on {
                        AlertOn::Stalled => seen.reason.clone().unwrap_or_default(),
                        AlertOn::Current => "Current".into(),
                    },
                    message,
                }));
            }
        }
        out.extend(self.settle(|r| r.changed.contains_key(key), latest));
        out
    }

    /// Settles every open revision again: catches standings that were recorded without an
    /// event (a database first seen already at the revision) and events that were dropped.
    pub(crate) fn recheck(&mut self, latest: Latest<'_>) -> Vec<Message> {
        self.settle(|_| true, latest)
    }

    /// Forgets a deleted database's alert history.
    pub(crate) fn forget(&mut self, key: &DbKey) {
        self.alerted.remove(key);
    }

    /// Whether any revision waits for its final status.
    pub(crate) fn is_following(&self) -> bool {
        !self.open.is_empty()
    }

    /// The final statuses of the open revisions `which` selects that are decided now.
    fn settle(&mut self, which: impl Fn(&Revision) -> bool, latest: Latest<'_>) -> Vec<Message> {
        let mut out = Vec::new();
        let mut index = 0;
        while index < self.open.len() {
            let revision = &self.open[index];
            let verdict = if which(revision) {
                verdict(revision, latest)
            } else {
                None
            };
            match verdict {
                Some((state, description)) => {
                    let sha = revision.sha.clone();
                    self.open.remove(index);
                    if self.finished.len() == FINISHED_KEPT {
                        self.finished.pop_front();
                    }
                    self.finished.push_back(sha.clone());
                    out.push(Message::Status {
                        sha,
                        state,
                        description,
                    });
                }
                None => index += 1,
            }
        }
        out
    }
}

/// The final status of a revision, once it is known.
fn verdict(revision: &Revision, latest: Latest<'_>) -> Option<(CommitState, String)> {
    let names = || {
        let names: Vec<String> = revision.changed.keys().map(display).collect();
        names.join(", ")
    };
    if let Some(first) = revision.invalid.first() {
        return Some((CommitState::Failure, format!("invalid manifest: {first}")));
    }
    let (mut current, mut waiting, mut superseded) = (Vec::new(), 0, 0);
    for (key, before) in &revision.changed {
        match latest(key) {
            Some(seen) if seen.revision.as_deref() == Some(revision.sha.as_str()) => {
                match seen.state {
                    DbState::Current => current.push(display(key)),
                    DbState::Stalled => {
                        let why = seen.reason.unwrap_or_default();
                        return Some((
                            CommitState::Failure,
                            format!("{} Stalled ({why}); changed: {}", display(key), names()),
                        ));
                    }
                    DbState::Progressing | DbState::Suspended => waiting += 1,
                }
            }
            Some(seen) if seen.revision != *before => superseded += 1,
            _ => waiting += 1,
        }
    }
    if !revision.complete || waiting > 0 {
        return None;
    }
    if current.is_empty() {
        return Some((
            CommitState::Canceled,
            "superseded: a later commit changed its databases first".into(),
        ));
    }
    let mut description = format!("{} Current: {}", count(current.len()), current.join(", "));
    if superseded > 0 {
        description.push_str(&format!("; {superseded} superseded by a later commit"));
    }
    Some((CommitState::Success, description))
}

fn display((namespace, name): &DbKey) -> String {
    format!("{namespace}/{name}")
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 database".into()
    } else {
        format!("{n} databases")
    }
}

/// A Git object name: SHA-1 (40 hex digits) or SHA-256 (64).
pub(crate) fn is_commit_sha(revision: &str) -> bool {
    matches!(revision.len(), 40 | 64) && revision.bytes().all(|b| b.is_ascii_hexdigit())
}
