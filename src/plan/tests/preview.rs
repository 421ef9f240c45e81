//! The preview shows what the service creates. The controller executes the first step, then
//! plans again from the live object that step left (`plan_database` both times), so each
//! OpsRequest after a Patch must already be built from the state the Patch leaves.

use serde_json::json;

use super::*;

/// Plans, then executes the Patch step as the service would and plans again: every
/// OpsRequest after the Patch in the preview must be the one then created, same name and
/// spec.
fn assert_preview_matches_execution(manifest: &Manifest, live_db: &KubedbPostgres) {
    let preview = plan(manifest, Some(live_db));
    assert_eq!(preview.errors, vec![]);
    assert_eq!(
        preview.steps[0].step_type(),
        StepType::Patch,
        "{:?}",
        types(&preview)
    );
    let mut after_patch = serde_json::to_value(live_db).unwrap();
    json_patch::merge(&mut after_patch, &body(&preview.steps[0]));
    let after_patch: KubedbPostgres = serde_json::from_value(after_patch).unwrap();
    let next = plan(manifest, Some(&after_patch));
    assert_eq!(next.errors, vec![]);
    assert_eq!(
        preview.steps[1..],
        next.steps[..],
        "the preview after the Patch differs from what the service creates"
    );
}

#[test]
fn scaling_after_a_standby_mode_change_previews_the_request_the_service_creates() {
    let (desired, live_db) = mutated(
        &[
            ("/replicas", json!(5)),
            ("/standbyMode", json!("Warm")),
            ("/streamingMode", json!("Synchronous")),
        ],
        &[],
    );
    let manifest = manifest(desired);
    let live_db = live(live_db);
    let preview = plan(&manifest, Some(&live_db));
    assert_eq!(
        types(&preview),
        vec![
            StepType::Patch,
            StepType::HorizontalScaling,
            StepType::Restart
        ]
    );
    assert_eq!(
        ops_spec(&preview, 1)["horizontalScaling"],
        json!({"replicas": 5, "standbyMode": "Warm", "streamingMode": "Synchronous"})
    );
    assert_preview_matches_execution(&manifest, &live_db);
}

#[test]
fn scaling_after_a_standby_mode_removal_previews_the_request_the_service_creates() {
    let (desired, live_db) = mutated(
        &[("/replicas", json!(2))],
        &[("/standbyMode", json!("Warm"))],
    );
    let manifest = manifest(desired);
    let live_db = live_recorded(
        live_db,
        json!({"version": "16.4", "replicas": 3, "standbyMode": "Warm"}),
    );
    assert_preview_matches_execution(&manifest, &live_db);
}
