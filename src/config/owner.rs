//! The ownership identity of an instance (`reconcile.owner`): the value of the label
//! `gitops.kubedb.com/owner` on everything the instance applies, provisions and adopts.
//!
//! The default is the instance's Lease (`<lease_namespace>.<lease_name>`): replicas that share
//! a Lease are one instance (only the holder writes), so they share an owner; two
//! installations with different Leases (the chart names the Lease after the release and its
//! namespace) never do unless they are told to. That is what lets two installations with
//! overlapping scope run side by side without one pruning or driving what the other owns.

use sha2::{Digest, Sha256};

use super::{Config, ConfigError};

/// The longest label value the API server takes.
const MAX_LABEL_VALUE: usize = 63;

impl Config {
    /// This instance's owner id: `reconcile.owner`, else derived from the Lease.
    pub fn owner(&self) -> String {
        match &self.reconcile.owner {
            Some(owner) => owner.clone(),
            None => {
                let lease = &self.leader_election;
                fit(&format!("{}.{}", lease.lease_namespace, lease.lease_name))
            }
        }
    }
}

/// Refuses an owner the API server would refuse as a label value.
pub(super) fn check(owner: &str) -> Result<(), ConfigError> {
    if is_label_value(owner) {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "reconcile.owner {owner:?} is not a label value: 1 to 63 letters, digits, '-', '_' \
             or '.', beginning and ending with a letter or digit"
        )))
    }
}

fn is_label_value(text: &str) -> bool {
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !text.is_empty()
        && text.len() <= MAX_LABEL_VALUE
        && alphanumeric(text.chars().next())
        && alphanumeric(text.chars().last())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A Lease's namespace and name as a label value: kept as it is when it fits (Kubernetes
/// names only use label characters), else cut and followed by a hash of the whole, so two
/// long names that share a beginning still differ.
fn fit(text: &str) -> String {
    if is_label_value(text) {
        return text.to_owned();
    }
    let digest = Sha256::digest(text);
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let room = MAX_LABEL_VALUE - hash.len() - 1;
    let kept: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(room)
        .collect();
    let kept = kept.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if kept.is_empty() {
        hash
    } else {
        format!("{kept}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_owner_is_the_lease_so_replicas_share_it_and_installations_do_not() {
        let mut config = Config::default();
        assert_eq!(config.owner(), "default.pg-gitops");
        config.leader_election.lease_namespace = "team-a".into();
        let team_a = config.owner();
        config.leader_election.lease_namespace = "team-b".into();
        assert_ne!(config.owner(), team_a);
        config.reconcile.owner = Some("fleet-eu".into());
        assert_eq!(config.owner(), "fleet-eu");
    }

    #[test]
    fn a_long_lease_still_gives_a_label_value_and_distinct_ones_stay_distinct() {
        let mut config = Config::default();
        config.leader_election.lease_namespace = "n".repeat(63);
        config.leader_election.lease_name = format!("{}-one", "x".repeat(200));
        let one = config.owner();
        config.leader_election.lease_name = format!("{}-two", "x".repeat(200));
        let two = config.owner();
        assert!(is_label_value(&one), "{one}");
        assert!(is_label_value(&two), "{two}");
        assert_ne!(one, two);
    }

    #[test]
    fn an_owner_that_is_no_label_value_is_refused_at_start() {
        for bad in ["", "-a", "a-", "team/a", "a b", &"a".repeat(64)] {
            let text = format!("[source]\nkind = \"cluster\"\n[reconcile]\nowner = {bad:?}\n");
            let error = Config::from_toml_str(&text).unwrap_err().to_string();
            assert!(error.contains("reconcile.owner"), "{bad:?}: {error}");
        }
        for good in ["a", "fleet-eu", "ns.release", "A_1.b-2"] {
            let text = format!("[source]\nkind = \"cluster\"\n[reconcile]\nowner = {good:?}\n");
            assert!(Config::from_toml_str(&text).is_ok(), "{good:?}");
        }
    }
}
