//! What the caches must show before a database is planned again: the object this replica
//! just created or patched for it (client-go's controller "expectations").
//!
//! A write is followed by our own status write, whose watch event reconciles the database
//! again, often before the watch of the object we wrote has delivered it. Planned on that
//! stale cache, the database would get its step again: a second Provision (answered
//! AlreadyExists, with a Warning Event), a second OpsRequest create, a second Patch. Each is
//! harmless, since names are deterministic and patches idempotent, but each is a write that
//! changes nothing, and at fleet size they add up. So after a write the database waits, with
//! no plan and no write, until the cache shows it; the watch event that brings it reconciles
//! the database. An expectation that is not met within [`PATIENCE`] is dropped (the object
//! may have been deleted at once), as are all of them when the API returns after an outage.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;

use crate::models::CachedGitops;

/// How long a database waits at most for the cache to show our write.
pub(super) const PATIENCE: Duration = Duration::from_secs(15);

/// What the caches must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expected {
    /// The `kubedb.com` Postgres we created.
    Database,
    /// The `kubedb.com` Postgres at a resourceVersion other than this one (the one it had
    /// before our patch changed it).
    DatabaseChangedFrom(String),
    /// The OpsRequest of this name.
    OpsRequest(String),
}

/// What the caches show of one database now.
pub(super) struct Seen<'a> {
    pub database_version: Option<&'a str>,
    pub database_exists: bool,
    pub ops_request_names: &'a [&'a str],
}

impl Expected {
    fn is_met(&self, seen: &Seen<'_>) -> bool {
        match self {
            Self::Database => seen.database_exists,
            Self::DatabaseChangedFrom(before) => seen.database_version != Some(before.as_str()),
            Self::OpsRequest(name) => seen.ops_request_names.contains(&name.as_str()),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Expectations {
    pending: HashMap<ObjectRef<CachedGitops>, (Expected, Instant)>,
}

impl Expectations {
    pub(super) fn expect(&mut self, key: ObjectRef<CachedGitops>, expected: Expected) {
        self.pending.insert(key, (expected, Instant::now()));
    }

    /// Whether `key` may be planned: nothing is expected, the caches show it, or it waited
    /// [`PATIENCE`]. A met or expired expectation is dropped.
    pub(super) fn allows(
        &mut self,
        key: &ObjectRef<CachedGitops>,
        seen: &Seen<'_>,
        now: Instant,
    ) -> bool {
        let Some((expected, since)) = self.pending.get(key) else {
            return true;
        };
        let done = expected.is_met(seen) || now.duration_since(*since) >= PATIENCE;
        if done {
            self.pending.remove(key);
        }
        done
    }

    pub(super) fn forget(&mut self, key: &ObjectRef<CachedGitops>) {
        self.pending.remove(key);
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&ObjectRef<CachedGitops>) -> bool) {
        self.pending.retain(|key, _| keep(key));
    }

    pub(super) fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ObjectRef<CachedGitops> {
        ObjectRef::new("orders").within("db")
    }

    fn seen<'a>(exists: bool, version: Option<&'a str>, ops: &'a [&'a str]) -> Seen<'a> {
        Seen {
            database_version: version,
            database_exists: exists,
            ops_request_names: ops,
        }
    }

    #[test]
    fn nothing_expected_allows_planning() {
        let mut expectations = Expectations::default();
        assert!(expectations.allows(&key(), &seen(false, None, &[]), Instant::now()));
    }

    #[test]
    fn a_created_database_is_waited_for_until_the_cache_shows_it() {
        let mut expectations = Expectations::default();
        expectations.expect(key(), Expected::Database);
        let now = Instant::now();
        assert!(!expectations.allows(&key(), &seen(false, None, &[]), now));
        assert!(expectations.allows(&key(), &seen(true, Some("7"), &[]), now));
        // Met once, gone: a database deleted later is planned (and provisioned) again.
        assert!(expectations.allows(&key(), &seen(false, None, &[]), now));
    }

    #[test]
    fn a_patch_is_waited_for_until_the_version_moves() {
        let mut expectations = Expectations::default();
        expectations.expect(key(), Expected::DatabaseChangedFrom("7".into()));
        let now = Instant::now();
        assert!(!expectations.allows(&key(), &seen(true, Some("7"), &[]), now));
        assert!(expectations.allows(&key(), &seen(true, Some("9"), &[]), now));
    }

    #[test]
    fn an_ops_request_is_waited_for_by_name() {
        let mut expectations = Expectations::default();
        expectations.expect(key(), Expected::OpsRequest("orders-restart-x".into()));
        let now = Instant::now();
        assert!(!expectations.allows(&key(), &seen(true, Some("7"), &["orders-older"]), now));
        assert!(expectations.allows(&key(), &seen(true, Some("7"), &["orders-restart-x"]), now));
    }

    #[test]
    fn an_expectation_never_met_expires() {
        let mut expectations = Expectations::default();
        expectations.expect(key(), Expected::Database);
        let later = Instant::now() + PATIENCE;
        assert!(expectations.allows(&key(), &seen(false, None, &[]), later));
    }
}
