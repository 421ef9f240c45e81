use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::server::{AppState, Readiness, WebhookTarget, router};
use crate::source::{FetchTrigger, Reference};

use super::Liveness;

async fn healthz(liveness: &Liveness) -> (StatusCode, String) {
    let state = AppState {
        secrets: Default::default(),
        target: WebhookTarget {
            reference: Reference::Directory,
            trigger: FetchTrigger::new(),
            relay: None,
        },
        deliveries: Default::default(),
        readiness: Readiness::default(),
        liveness: liveness.clone(),
    };
    let response = router(state)
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn healthz_fails_once_a_stage_task_has_died() {
    let liveness = Liveness::default();
    let source = tokio::spawn(std::future::pending::<()>());
    let (crash_tx, crash_rx) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(async move {
        let _ = crash_rx.await;
        panic!("the controller task hit a bug");
    });
    liveness.watch("source", &source);
    liveness.watch("controller", &controller);
    assert_eq!(healthz(&liveness).await, (StatusCode::OK, "ok".into()));

    crash_tx.send(()).unwrap();
    assert!(controller.await.unwrap_err().is_panic());
    let (status, body) = healthz(&liveness).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("controller"), "{body}");

    // A task that returned is as dead as one that panicked.
    source.abort();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(liveness.stopped_stage(), Some("source"));
}
