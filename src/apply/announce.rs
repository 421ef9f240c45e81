//! Warning Events of the apply stage, on the gitops object a manifest names, once per revision
//! (not per retry): where `kubectl describe` and event exporters show why the object no longer
//! follows this instance's Git.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;

use crate::events::{self, EventRecorder, Notice};
use crate::manifest::ManifestError;
use crate::ownership::{Object, Refusal};

fn gitops_object(namespace: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("gitops.kubedb.com/v1alpha1".into()),
        kind: Some("Postgres".into()),
        namespace: Some(namespace.to_owned()),
        name: Some(name.to_owned()),
        ..ObjectReference::default()
    }
}

async fn warn(recorder: &EventRecorder, regarding: &ObjectReference, reason: &str, note: &str) {
    let notice = Notice {
        type_: EventType::Warning,
        reason,
        action: "Apply",
        note,
        secondary: None,
    };
    events::publish(recorder, notice, regarding).await;
}

/// `InvalidManifest` on each gitops object whose manifest in Git is broken (when the broken
/// document still names its database). The object keeps its last good version.
pub(super) async fn invalid(recorder: &EventRecorder, invalid: &[ManifestError]) {
    for error in invalid {
        let Some((namespace, name)) = &error.database else {
            continue;
        };
        let note = error.to_string();
        warn(
            recorder,
            &gitops_object(namespace, name),
            "InvalidManifest",
            &note,
        )
        .await;
    }
}

/// `OwnedByAnother` on each gitops object this instance's Git declares but another instance
/// owns: its manifest is not applied here.
pub(super) async fn foreign(
    recorder: &EventRecorder,
    foreign: &[(String, String, String)],
    ours: &str,
) {
    for (namespace, name, owner) in foreign {
        let refusal = Refusal {
            owner: owner.clone(),
            on: Object::Gitops,
        };
        let note = format!("not applied from Git: {}", refusal.message(ours));
        warn(
            recorder,
            &gitops_object(namespace, name),
            "OwnedByAnother",
            &note,
        )
        .await;
    }
}
