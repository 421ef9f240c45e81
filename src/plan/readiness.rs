//! Whether the live database can take an OpsRequest now. KubeDB's ops-manager runs them only
//! on a Ready database: one created meanwhile waits in its queue (or fails) and, being open,
//! blocks every later step, under a name fixed before the database was ready. So the plan
//! proposes none until the database is Ready again, and says why.

use super::DatabasePlan;
use crate::models::KubedbPostgres;
use crate::plan::Step;

/// Withholds the steps `live` cannot take now and sets `waiting_reason`. A database being
/// deleted gets no step at all; a halted or not-Ready one keeps its Patch (which may be what
/// un-halts it, `halted: false` in Git), and gets its OpsRequests once it is Ready.
pub(super) fn withhold(plan: &mut DatabasePlan, live: &KubedbPostgres) {
    let reason = if live.metadata.deletion_timestamp.is_some() {
        plan.steps.clear();
        "the database is being deleted (deletionTimestamp is set)".to_string()
    } else if live.spec.other.get("halted").and_then(|h| h.as_bool()) == Some(true) {
        "the database is halted (spec.halted: true); OpsRequests wait until it runs again"
            .to_string()
    } else {
        // A database with no phase yet (no status written, or a hand-written --live file) is
        // planned as before: the phase is what KubeDB reports, and there is none to go by.
        match live.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Ready") | None => return,
            Some(phase) => {
                format!("the database is not Ready (phase {phase}); OpsRequests wait until it is")
            }
        }
    };
    let before = plan.steps.len();
    plan.steps.retain(Step::is_object_write);
    if plan.steps.len() < before || live.metadata.deletion_timestamp.is_some() {
        plan.waiting_reason = Some(reason);
    }
}
