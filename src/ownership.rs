//! Which pg-gitops instance an object belongs to, decided purely from labels.
//!
//! Every instance has an owner id (`reconcile.owner`, see [`crate::config::Config::owner`]) and
//! puts it as the label [`OWNER_LABEL`] on the gitops objects it applies, the `kubedb.com`
//! Postgres it provisions or adopts and the OpsRequests it creates. Two instances whose scopes
//! overlap (two Argo CD-fed installations in `source.kind = "cluster"` mode, or two Git
//! sources that declare the same database) would otherwise both drive the same databases, and
//! one would prune what the other applied.
//!
//! The rules:
//! - an object with another owner is left alone: not applied over, not pruned, not driven, and
//!   its status is not written (its owner writes it);
//! - an object with no owner (made by pg-gitops before 0.4.0, by hand, or applied by Argo CD
//!   or Flux) is adopted: a database by a label written with its `resourceVersion` as a
//!   precondition, so of two instances that try at once exactly one wins and the other sees
//!   the winner's label at its next look;
//! - the owner of a gitops object, when it has one, decides: a database is adopted only by
//!   the instance the gitops object names (in cluster mode, put the label in Git to say which
//!   instance reconciles which database).

use std::collections::BTreeMap;

use crate::models::OWNER_LABEL;
use crate::plan::Step;

/// Whose an object is, as seen by the instance `owner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    Ours,
    /// No owner label: pg-gitops before 0.4.0, or someone else made it.
    Unclaimed,
    /// Another instance's, named.
    Theirs(String),
}

/// The claim `labels` make, for the instance `owner`.
pub(crate) fn claim(labels: Option<&BTreeMap<String, String>>, owner: &str) -> Claim {
    match labels.and_then(|labels| labels.get(OWNER_LABEL)) {
        None => Claim::Unclaimed,
        Some(value) if value == owner => Claim::Ours,
        Some(value) => Claim::Theirs(value.clone()),
    }
}

/// What reconciling one database may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Reconcile as usual (a missing database is provisioned with our label).
    Proceed,
    /// The database has no owner: label it as ours first, then reconcile.
    Adopt,
    /// Another instance reconciles this database: write nothing, not even status.
    Leave(Refusal),
    /// The gitops object is ours but the database another instance's: drive nothing, and say
    /// so in the status (nobody else will: the other instance leaves our gitops object alone).
    Stall(Refusal),
}

/// Why a database is not ours to drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The other instance's owner id.
    pub owner: String,
    /// Which object carries it.
    pub on: Object,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Object {
    Gitops,
    Database,
}

impl Refusal {
    /// What the Event and the status say: which object, whose, and what to do about it.
    pub(crate) fn message(&self, ours: &str) -> String {
        let what = match self.on {
            Object::Gitops => "the gitops.kubedb.com Postgres",
            Object::Database => "the kubedb.com Postgres",
        };
        format!(
            "{what} is owned by pg-gitops instance {:?} (label {OWNER_LABEL}); this instance \
             is {ours:?} and leaves it alone. To hand it over, set the label to {ours:?} (or \
             remove it) on that object",
            self.owner
        )
    }
}

/// The verdict for a gitops object and its database (`None`: not provisioned yet).
pub(crate) fn decide(gitops: &Claim, database: Option<&Claim>) -> Verdict {
    let refusal = |owner: &String, on| Refusal {
        owner: owner.clone(),
        on,
    };
    match (gitops, database) {
        (Claim::Theirs(owner), _) => Verdict::Leave(refusal(owner, Object::Gitops)),
        (Claim::Ours, Some(Claim::Theirs(owner))) => {
            Verdict::Stall(refusal(owner, Object::Database))
        }
        // Nobody claimed the gitops object (Argo CD or Flux applied it): the database's
        // owner reconciles it and writes its status.
        (Claim::Unclaimed, Some(Claim::Theirs(owner))) => {
            Verdict::Leave(refusal(owner, Object::Database))
        }
        (_, Some(Claim::Unclaimed)) => Verdict::Adopt,
        (_, Some(Claim::Ours) | None) => Verdict::Proceed,
    }
}

/// Labels what a step creates (a database, an OpsRequest) as `owner`'s. A Patch creates
/// nothing and leaves the database's labels as they are.
pub(crate) fn stamp(step: &mut Step, owner: &str) {
    let metadata = match step {
        Step::Provision(object) => &mut object.metadata,
        Step::OpsRequest { request, .. } => &mut request.metadata,
        Step::Patch(_) => return,
    };
    metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(OWNER_LABEL.to_owned(), owner.to_owned());
}

#[cfg(test)]
mod tests;
