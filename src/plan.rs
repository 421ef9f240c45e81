//! The plan: desired spec + live database + catalog + OpsRequests → ordered steps, or errors.
//! Pure: no I/O, no clock, no randomness; the same inputs always give the same plan.

mod checks;
pub mod compare;
mod members;
mod metadata;
mod ops;
mod patch;
mod readiness;
mod removals;
mod report;
mod resources;
mod steps;
mod version;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Value, json};

pub use checks::Catalog;
pub(crate) use checks::Finding;
pub(crate) use ops::Identity;
pub use ops::block_key;
pub use report::{DatabasePlan, PlanError, PlanReport, Step, StepType};
pub use version::{VersionCheck, check_upgrade};

use crate::config::Config;
use crate::manifest::{Manifest, ManifestSet};
use crate::models::{
    KubedbPostgres, OpsPhase, OpsRequestType, PostgresOpsRequest, RETRY_ANNOTATION,
    ROTATE_CERTIFICATES_ANNOTATION, VOLUME_EXPANSION_MODE_ANNOTATION,
};

/// Settings from `config.toml` that shape the plan.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    /// VolumeExpansion mode unless a database's annotation says otherwise.
    pub volume_expansion_mode: String,
}

impl PlanSettings {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            volume_expansion_mode: config.plan.volume_expansion_mode.clone(),
        }
    }
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            volume_expansion_mode: "Online".into(),
        }
    }
}

/// What the cluster holds, as read by the caller (from files, caches or the API).
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    pub databases: BTreeMap<(String, String), KubedbPostgres>,
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
        let plan = plan_database(
            manifest,
            live.databases.get(&key),
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

/// Plans one database. `ops` are all OpsRequests naming it, whoever made them.
pub fn plan_database(
    manifest: &Manifest,
    live: Option<&KubedbPostgres>,
    ops: &[&PostgresOpsRequest],
    catalog: Option<&Catalog>,
    settings: &PlanSettings,
    revision: Option<&str>,
) -> DatabasePlan {
    let desired = &manifest.object;
    let (namespace, name) = manifest.key();
    let declared = manifest
        .declared
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut plan = DatabasePlan::new(namespace.clone(), name.clone());
    let file = manifest.file.display().to_string();
    // A record that cannot be read stops this database: read as "nothing declared" it would
    // lose every removal, and the next write of the record would make that permanent.
    let record = match live.map(KubedbPostgres::last_applied).transpose() {
        Ok(record) => record.flatten(),
        Err(error) => {
            plan.errors.push(PlanError {
                file,
                line: manifest.line,
                message: format!(
                    "{error} (on the kubedb.com Postgres {namespace}/{name}); nothing is planned \
                     or written for this database until it is repaired: write it as the declared \
                     spec or as {{spec, labels, annotations}}, or delete it to accept that fields \
                     removed from Git before are not seen as removed"
                ),
            });
            return plan;
        }
    };
    // Serialised and parsed once: every comparison below reads these.
    let live_spec = live.map(|l| serde_json::to_value(&l.spec).unwrap_or(Value::Null));
    plan.after = Value::Object(declared.clone());
    plan.before = live_spec.as_ref().map_or(Value::Null, |spec| {
        before_view(&plan.after, spec, record.as_ref())
    });

    let (mut findings, notes) =
        checks::check(&desired.spec, &plan.after, live, record.as_ref(), catalog);
    findings.extend(checks::check_metadata(&desired.metadata));
    plan.notes = notes;
    let error_at = |finding: &Finding| PlanError {
        file: file.clone(),
        line: manifest.line_of(&finding.path),
        message: finding.message.clone(),
    };
    plan.errors.extend(findings.iter().map(error_at));
    plan.waiting_for = oldest_open(ops);
    if !plan.errors.is_empty() || plan.waiting_for.is_some() {
        return plan;
    }
    let Some(live) = live else {
        let object = patch::provision_object(desired, &declared, revision);
        plan.steps.push(Step {
            step_type: StepType::Provision,
            ops_request: None,
            patch: Some(serde_json::to_value(object).unwrap_or(Value::Null)),
        });
        return plan;
    };
    let annotation = |key: &str| {
        desired
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    };
    let id = Identity {
        namespace: &namespace,
        database: &name,
        generation: desired.metadata.generation.unwrap_or(0),
        retry: annotation(RETRY_ANNOTATION).unwrap_or(""),
        revision,
    };
    let live_spec = live_spec.unwrap_or(Value::Null);
    let mode =
        annotation(VOLUME_EXPANSION_MODE_ANNOTATION).unwrap_or(&settings.volume_expansion_mode);
    let rotate_token = annotation(ROTATE_CERTIFICATES_ANNOTATION);
    let live_rotation = live
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ROTATE_CERTIFICATES_ANNOTATION));
    let rotate_requested =
        rotate_token.is_some_and(|t| live_rotation.map(String::as_str) != Some(t));

    let patch_plan = patch::plan_patch(
        desired,
        &declared,
        live,
        &live_spec,
        record.as_ref(),
        id.generation,
        revision,
    );
    // The service plans again once the Patch is applied, and builds the OpsRequests from the
    // state it left (a HorizontalScaling carries the new standbyMode): the preview does the same.
    let patched = (patch_plan.patch.as_ref()).and_then(|p| patch::live_after_patch(live, p));
    let inputs = steps::Inputs {
        desired: &desired.spec,
        declared: &declared,
        live: patched.as_ref().unwrap_or(live),
        record: record.as_ref(),
    };
    let mut ordered: Vec<(Order, Step)> = Vec::new();
    if let Some(patch) = patch_plan.patch {
        ordered.push((
            Order::Patch,
            Step {
                step_type: StepType::Patch,
                ops_request: None,
                patch: Some(patch),
            },
        ));
    }
    let mut candidates: Vec<(Order, OpsRequestType, Value, String)> = Vec::new();
    if let Some((block, direction)) = steps::horizontal_scaling(&inputs) {
        let order = if direction == Ordering::Less {
            Order::ScaleDown
        } else {
            Order::ScaleUp
        };
        candidates.push((
            order,
            OpsRequestType::HorizontalScaling,
            block,
            String::new(),
        ));
    }
    let mut push = |order, kind, block: Option<Value>, uniqueness: &str| {
        if let Some(block) = block {
            candidates.push((order, kind, block, uniqueness.to_string()));
        }
    };
    push(
        Order::VolumeExpansion,
        OpsRequestType::VolumeExpansion,
        steps::volume_expansion(&inputs, mode),
        "",
    );
    push(
        Order::VerticalScaling,
        OpsRequestType::VerticalScaling,
        steps::vertical_scaling(&inputs),
        "",
    );
    push(
        Order::UpdateVersion,
        OpsRequestType::UpdateVersion,
        steps::update_version(&inputs),
        "",
    );
    push(
        Order::Reconfigure,
        OpsRequestType::Reconfigure,
        steps::reconfigure(&inputs),
        "",
    );
    push(
        Order::ReconfigureTls,
        OpsRequestType::ReconfigureTLS,
        steps::reconfigure_tls(&inputs, rotate_requested),
        rotate_token.unwrap_or(""),
    );
    push(
        Order::RotateAuth,
        OpsRequestType::RotateAuth,
        steps::rotate_auth(&inputs),
        "",
    );
    let restart_token = patch_plan
        .restart_token
        .as_deref()
        .or(live.restart_pending());
    if let Some(token) = restart_token {
        push(
            Order::Restart,
            OpsRequestType::Restart,
            Some(json!({})),
            token,
        );
    }

    for (order, kind, block, uniqueness) in candidates {
        // Steps that change no field (a Restart, a certificate rotation) are done once their
        // OpsRequest succeeded; the others are done when the live value matches.
        let marker_only =
            kind == OpsRequestType::Restart || block == json!({"rotateCertificates": true});
        let request = ops::build(&id, kind, block, &uniqueness);
        let request_name = request.metadata.name.clone().unwrap_or_default();
        match ops.iter().find(|o| o.metadata.name.as_deref() == Some(request_name.as_str())).map(|o| (o.phase(), *o)) {
            Some((OpsPhase::Successful, _)) if marker_only => continue,
            Some((OpsPhase::Successful, _)) => plan.errors.push(PlanError {
                file: file.clone(),
                line: manifest.line,
                message: format!(
                    "{kind} {request_name} succeeded but the database still differs from Git; \
                     bump the annotation {RETRY_ANNOTATION} on the manifest to try again"
                ),
            }),
            Some((phase, existing)) => plan.errors.push(PlanError {
                file: file.clone(),
                line: manifest.line,
                message: format!(
                    "{kind} {request_name} ended {phase}: {}; fix the cause, then change the manifest or bump the annotation {RETRY_ANNOTATION} to retry",
                    existing.failure_message().unwrap_or("no message")
                ),
            }),
            None => ordered.push((order, Step { step_type: kind.into(), ops_request: Some(request), patch: None })),
        }
    }
    if !plan.errors.is_empty() {
        return plan;
    }
    ordered.sort_by_key(|(order, _)| *order);
    plan.steps = ordered.into_iter().map(|(_, step)| step).collect();
    readiness::withhold(&mut plan, live);
    // pg-gitops' own annotations are bookkeeping, not a step: a database whose only
    // difference is its record is in sync. The service writes them once no step is left
    // (and none is withheld: the record would say a change was made that was not).
    if plan.steps.is_empty() && plan.waiting_reason.is_none() {
        plan.bookkeeping =
            patch::bookkeeping_patch(desired, &declared, live, record.as_ref(), rotate_token);
    }
    plan
}

/// The order of steps when one commit changes several things. KubeDB defines none; this one
/// limits disruption: plain patches first (no restart, and restart fields must be in place
/// before the final Restart); scale down before resizing so fewer pods are touched; grow
/// disks before anything restarts pods; resize before scaling up so new replicas start with
/// their final disk and resources; update the version on the final topology; then
/// configuration (it may depend on the new major), TLS and credentials; one Restart last
/// picks up every restart field at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Order {
    Patch,
    ScaleDown,
    VolumeExpansion,
    VerticalScaling,
    ScaleUp,
    UpdateVersion,
    Reconfigure,
    ReconfigureTls,
    RotateAuth,
    Restart,
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
