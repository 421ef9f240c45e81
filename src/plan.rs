//! The plan: desired spec + live database + catalog + OpsRequests → ordered steps, or errors.
//! Pure: no I/O, no clock, no randomness; the same inputs always give the same plan.

mod checks;
pub mod compare;
mod facts;
mod impact;
mod members;
mod metadata;
mod ops;
mod patch;
mod readiness;
mod removals;
mod report;
mod resources;
mod sequence;
mod steps;
mod version;

use std::collections::BTreeMap;

use serde_json::Value;

pub use checks::Catalog;
pub use impact::Disruption;
#[cfg(test)]
pub(crate) use impact::test_step;
pub use ops::block_key;
pub use report::{DatabasePlan, ErrorKind, PlanError, PlanReport, Step, StepType};
pub use version::{VersionCheck, check_upgrade};

use crate::config::Config;
use crate::manifest::{Manifest, ManifestSet};
use crate::models::{CachedDatabase, KubedbPostgres, PostgresOpsRequest};
use facts::Facts;

/// Settings from `config.toml` that shape the plan.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    /// VolumeExpansion mode unless a database's annotation says otherwise.
    pub volume_expansion_mode: String,
    /// Fill each plan's `before` and `after` (the declared fields as live and as Git wants
    /// them) for the text diff. Off for the service and the JSON output: at fleet size the
    /// copies cost more memory than the plans themselves.
    pub describe: bool,
}

impl PlanSettings {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            volume_expansion_mode: config.plan.volume_expansion_mode.clone(),
            describe: false,
        }
    }
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            volume_expansion_mode: "Online".into(),
            describe: false,
        }
    }
}

/// What the cluster holds, as read by the caller (from files, caches or the API).
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    /// Kept compact (spec and status as text), expanded one database at a time while
    /// planning: a fleet's live objects typed at once were most of `plan`'s memory.
    pub databases: BTreeMap<(String, String), CachedDatabase>,
    pub ops_requests: Vec<PostgresOpsRequest>,
    pub catalog: Option<Catalog>,
    /// Live objects that could not be read (`plan --live` files), reported like broken
    /// manifests: on the database they name, else at the top.
    pub errors: Vec<crate::manifest::ManifestError>,
}

/// Plans every manifest of a snapshot. Broken manifests appear as errors on their database
/// (or at the top when they name none); they never hide the plans of the others.
pub fn plan_all(
    set: &ManifestSet,
    live: &LiveState,
    settings: &PlanSettings,
    revision: Option<&str>,
) -> PlanReport {
    let mut ops_by_database: BTreeMap<(&str, &str), Vec<&PostgresOpsRequest>> = BTreeMap::new();
    for request in &live.ops_requests {
        if let (Some(namespace), Some(database)) = (
            request.metadata.namespace.as_deref(),
            request.database_name(),
        ) {
            ops_by_database
                .entry((namespace, database))
                .or_default()
                .push(request);
        }
    }
    let mut plans: BTreeMap<(String, String), DatabasePlan> = BTreeMap::new();
    for manifest in &set.manifests {
        let key = manifest.key();
        let ops = ops_by_database
            .get(&(key.0.as_str(), key.1.as_str()))
            .map_or(&[][..], Vec::as_slice);
        let database = match live.databases.get(&key).map(CachedDatabase::expand) {
            None => None,
            Some(Ok(database)) => Some(database),
            // Never planned against what could not be read: an empty spec would look like
            // every field changed.
            Some(Err(error)) => {
                let mut plan = DatabasePlan::new(key.0.clone(), key.1.clone());
                plan.errors.push(PlanError {
                    file: manifest.file.display().to_string(),
                    line: manifest.line,
                    message: format!("the live kubedb.com Postgres cannot be read: {error}"),
                    kind: ErrorKind::InvalidSpec,
                });
                plans.insert(key, plan);
                continue;
            }
        };
        let plan = plan_database(
            manifest,
            database.as_ref(),
            ops,
            live.catalog.as_ref(),
            settings,
            revision,
        );
        plans.insert(key, plan);
    }
    let mut report = PlanReport::default();
    for error in set.errors.iter().chain(&live.errors) {
        let entry = PlanError {
            file: error.file.display().to_string(),
            line: error.line,
            message: error.message.clone(),
            kind: ErrorKind::InvalidSpec,
        };
        match &error.database {
            Some(key) => plans
                .entry(key.clone())
                .or_insert_with(|| DatabasePlan::new(key.0.clone(), key.1.clone()))
                .errors
                .push(entry),
            None => report.errors.push(entry),
        }
    }
    report.databases = plans.into_values().collect();
    for plan in &mut report.databases {
        // A manifest error wins over anything planned from the other copy.
        if !plan.errors.is_empty() {
            plan.steps.clear();
        }
    }
    report
}

/// Plans one database. `ops` are all OpsRequests naming it, whoever made them. The stages:
/// gather the facts, describe the difference, check what KubeDB would refuse, then either
/// provision or sequence the steps, withhold what the database cannot take now, and owe the
/// record once nothing else is left.
pub fn plan_database(
    manifest: &Manifest,
    live: Option<&KubedbPostgres>,
    ops: &[&PostgresOpsRequest],
    catalog: Option<&Catalog>,
    settings: &PlanSettings,
    revision: Option<&str>,
) -> DatabasePlan {
    let (namespace, name) = manifest.key();
    let mut plan = DatabasePlan::new(namespace, name);
    let facts = match Facts::gather(manifest, live, ops, catalog, settings, revision) {
        Ok(facts) => facts,
        Err(error) => {
            plan.errors.push(error);
            return plan;
        }
    };
    describe(&facts, &mut plan);
    check(&facts, &mut plan);
    plan.waiting_for = oldest_open(ops);
    if !plan.errors.is_empty() || plan.waiting_for.is_some() {
        return plan;
    }
    let Some(live) = facts.live else {
        let object = patch::provision_object(&facts.desired, facts.declared, revision);
        plan.steps.push(Step::Provision(Box::new(object)));
        return plan;
    };
    match sequence::steps(&facts, live) {
        Ok(steps) => plan.steps = steps,
        Err(errors) => {
            plan.errors = errors;
            return plan;
        }
    }
    readiness::withhold(&mut plan, live);
    // pg-gitops' own annotations are bookkeeping, not a step: a database whose only
    // difference is its record is in sync. The service writes them once no step is left
    // (and none is withheld: the record would say a change was made that was not).
    if plan.steps.is_empty() && plan.waiting_reason.is_none() {
        plan.bookkeeping = patch::bookkeeping_patch(
            &facts.desired,
            facts.declared,
            live,
            facts.record.as_ref(),
            facts.rotate_token(),
        );
    }
    plan
}

/// The declared fields as Git wants them, and as they are live: only for the text diff
/// (`PlanSettings::describe`), as they copy every declared spec.
fn describe(facts: &Facts<'_>, plan: &mut DatabasePlan) {
    if !facts.settings.describe {
        return;
    }
    plan.after = facts.declared_spec.clone();
    if facts.live.is_some() {
        plan.before = before_view(&plan.after, &facts.live_spec, facts.record.as_ref());
    }
}

/// What KubeDB or the API server would refuse, as errors at the field's line; and notes.
fn check(facts: &Facts<'_>, plan: &mut DatabasePlan) {
    let (mut findings, notes) = checks::check(
        &facts.desired.spec,
        facts.declared_spec,
        facts.live,
        facts.record.as_ref(),
        facts.catalog,
    );
    findings.extend(checks::check_metadata(&facts.desired.metadata));
    plan.notes = notes;
    plan.errors.extend(findings.iter().map(|finding| {
        let line = facts.manifest.line_of(&finding.path);
        facts.error_at(line, ErrorKind::InvalidSpec, finding.message.clone())
    }));
}

/// The OpsRequest the database waits for: the oldest still open.
pub(crate) fn oldest_open(ops: &[&PostgresOpsRequest]) -> Option<String> {
    ops.iter()
        .filter(|o| o.phase().is_open())
        .min_by_key(|o| {
            (
                o.metadata.creation_timestamp.as_ref().map(|t| t.0),
                o.metadata.name.clone(),
            )
        })
        .and_then(|o| o.metadata.name.clone())
}

/// The live values of the declared fields, plus those removed from Git but still live.
fn before_view(
    declared: &Value,
    live_spec: &Value,
    record: Option<&crate::models::LastApplied>,
) -> Value {
    let mut before = compare::project(declared, Some(live_spec));
    // Keys removed inside a declared field (`leaderElection.period`) show as removed too.
    if let (Some(record), Some(declared), Some(map)) =
        (record, declared.as_object(), before.as_object_mut())
    {
        for (key, value) in declared {
            let live = live_spec.get(key);
            let nested = removals::nested(key, value, record.spec.get(key), live);
            if let (false, Some(live)) = (nested.nulls.is_empty(), live) {
                let slot = map.entry(key.clone()).or_insert(Value::Null);
                removals::overlay(slot, &removals::live_at(&nested.nulls, live));
            }
        }
    }
    if let (Some(record), Some(map)) = (record, before.as_object_mut()) {
        // Removing replicas, storage, version, resources, the auth secret or init changes
        // nothing.
        for key in record.spec.keys().filter(|k| {
            declared.get(k.as_str()).is_none() && !patch::KEPT_WHEN_REMOVED.contains(&k.as_str())
        }) {
            if let Some(value) = live_spec.get(key).filter(|v| !compare::is_empty(v)) {
                map.insert(key.clone(), value.clone());
            }
        }
    }
    before
}

#[cfg(test)]
mod tests;
