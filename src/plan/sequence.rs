//! The steps of a database that exists: the Patch, then each OpsRequest the difference needs,
//! settled against the OpsRequests already made for it, in the order that limits disruption.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::facts::Facts;
use super::ops::{self, Identity};
use super::report::{ErrorKind, PlanError, Step};
use super::{patch, steps};
use crate::models::{KubedbPostgres, OpsPhase, OpsRequestType, RETRY_ANNOTATION};

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

/// An OpsRequest the difference needs, before it is checked against those already made.
struct Candidate {
    order: Order,
    kind: OpsRequestType,
    block: Value,
    /// Feeds the name hash besides the block: a new token makes a new request.
    uniqueness: String,
}

/// The ordered steps that bring `live` to what Git declares, or the errors that stop this
/// database (an OpsRequest of the same intent that already ended without the change).
pub(super) fn steps(facts: &Facts<'_>, live: &KubedbPostgres) -> Result<Vec<Step>, Vec<PlanError>> {
    let patch_plan = patch::plan_patch(
        &facts.desired,
        facts.declared,
        live,
        &facts.live_spec,
        facts.record.as_ref(),
        facts.generation(),
        facts.revision,
    );
    // The service plans again once the Patch is applied, and builds the OpsRequests from the
    // state it left (a HorizontalScaling carries the new standbyMode): the preview does the same.
    let patched = (patch_plan.patch.as_ref()).and_then(|p| patch::live_after_patch(live, p));
    let inputs = steps::Inputs {
        desired: &facts.desired.spec,
        declared: facts.declared,
        live: patched.as_ref().unwrap_or(live),
        record: facts.record.as_ref(),
    };
    let restart_token = (patch_plan.restart_token.as_deref()).or(live.restart_pending());
    let id = Identity {
        namespace: &facts.namespace,
        database: &facts.name,
        generation: facts.generation(),
        retry: facts.annotation(RETRY_ANNOTATION).unwrap_or(""),
        revision: facts.revision,
    };

    let mut ordered: Vec<(Order, Step)> = Vec::new();
    if let Some(patch) = patch_plan.patch {
        ordered.push((Order::Patch, Step::Patch(patch)));
    }
    let mut errors = Vec::new();
    for candidate in candidates(facts, &inputs, live, restart_token) {
        // Steps that change no field (a Restart, a certificate rotation) are done once their
        // OpsRequest succeeded; the others are done when the live value matches.
        let marker_only = candidate.kind == OpsRequestType::Restart
            || candidate.block == json!({"rotateCertificates": true});
        let kind = candidate.kind;
        let request = ops::build(&id, kind, candidate.block, &candidate.uniqueness);
        let name = request.metadata.name.clone().unwrap_or_default();
        let existing = facts
            .ops
            .iter()
            .find(|o| o.metadata.name.as_deref() == Some(name.as_str()));
        match existing.map(|o| (o.phase(), o)) {
            Some((OpsPhase::Successful, _)) if marker_only => {}
            Some((OpsPhase::Successful, _)) => errors.push(facts.error(
                ErrorKind::OpsRequestNoEffect,
                format!(
                    "{kind} {name} succeeded but the database still differs from Git; bump the \
                     annotation {RETRY_ANNOTATION} on the manifest to try again"
                ),
            )),
            Some((phase, existing)) => errors.push(facts.error(
                ErrorKind::OpsRequestFailed,
                format!(
                    "{kind} {name} ended {phase}: {}; fix the cause, then change the manifest or \
                     bump the annotation {RETRY_ANNOTATION} to retry",
                    existing.failure_message().unwrap_or("no message")
                ),
            )),
            None => ordered.push((
                candidate.order,
                Step::OpsRequest {
                    kind,
                    request: Box::new(request),
                },
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    ordered.sort_by_key(|(order, _)| *order);
    Ok(ordered.into_iter().map(|(_, step)| step).collect())
}

/// Every OpsRequest the difference between `inputs` and Git needs, in no particular order.
fn candidates(
    facts: &Facts<'_>,
    inputs: &steps::Inputs<'_>,
    live: &KubedbPostgres,
    restart_token: Option<&str>,
) -> Vec<Candidate> {
    let mut found = Vec::new();
    if let Some((block, direction)) = steps::horizontal_scaling(inputs) {
        let order = match direction {
            Ordering::Less => Order::ScaleDown,
            _ => Order::ScaleUp,
        };
        found.push(Candidate {
            order,
            kind: OpsRequestType::HorizontalScaling,
            block,
            uniqueness: String::new(),
        });
    }
    let rotate_token = facts.rotate_token();
    let rotate_requested = rotate_token.is_some_and(|token| live.rotation_token() != Some(token));
    let mode = facts.volume_expansion_mode();
    let others = [
        (
            Order::VolumeExpansion,
            OpsRequestType::VolumeExpansion,
            steps::volume_expansion(inputs, mode),
            "",
        ),
        (
            Order::VerticalScaling,
            OpsRequestType::VerticalScaling,
            steps::vertical_scaling(inputs),
            "",
        ),
        (
            Order::UpdateVersion,
            OpsRequestType::UpdateVersion,
            steps::update_version(inputs),
            "",
        ),
        (
            Order::Reconfigure,
            OpsRequestType::Reconfigure,
            steps::reconfigure(inputs),
            "",
        ),
        (
            Order::ReconfigureTls,
            OpsRequestType::ReconfigureTLS,
            steps::reconfigure_tls(inputs, rotate_requested),
            rotate_token.unwrap_or(""),
        ),
        (
            Order::RotateAuth,
            OpsRequestType::RotateAuth,
            steps::rotate_auth(inputs),
            "",
        ),
        (
            Order::Restart,
            OpsRequestType::Restart,
            restart_token.map(|_| json!({})),
            restart_token.unwrap_or(""),
        ),
    ];
    for (order, kind, block, uniqueness) in others {
        if let Some(block) = block {
            found.push(Candidate {
                order,
                kind,
                block,
                uniqueness: uniqueness.to_string(),
            });
        }
    }
    found
}
