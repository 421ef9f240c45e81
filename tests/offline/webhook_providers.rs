//! Every webhook receiver, driven through the real axum router with the providers' own
//! payloads: valid push, wrong secret, missing header, oversized body, other branch, ping (or
//! a non-push event), wrong method. The trigger counts sync requests, so "nothing else
//! happens" is checked, not assumed.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pg_gitops::server::{
    self, AppState, DeliveryLog, DeliveryResult, MAX_WEBHOOK_BODY, Provider, Readiness,
    WebhookSecrets, WebhookTarget,
};
use pg_gitops::source::{FetchTrigger, Reference, Secret};
use test_support::logs;
use test_support::webhook::{NEW_SHA, delivery, ping_body, push_body};
use tower::ServiceExt;

fn secret_of(provider: Provider) -> String {
    format!("whsec-{}-31c9e5-never-log-me", provider.name())
}

struct Fixture {
    router: Router,
    trigger: FetchTrigger,
    deliveries: DeliveryLog,
    readiness: Readiness,
}

fn fixture(providers: &[Provider]) -> Fixture {
    logs::capture();
    let mut secrets = WebhookSecrets::default();
    for provider in providers {
        secrets = secrets.with(*provider, Secret::new(secret_of(*provider)));
    }
    let trigger = FetchTrigger::new();
    let deliveries = DeliveryLog::default();
    let readiness = Readiness::default();
    let router = server::router(AppState {
        secrets: Arc::new(secrets),
        target: WebhookTarget {
            reference: Reference::Branch("main".into()),
            trigger: trigger.clone(),
            relay: None,
        },
        deliveries: deliveries.clone(),
        readiness: readiness.clone(),
        liveness: Default::default(),
    });
    Fixture {
        router,
        trigger,
        deliveries,
        readiness,
    }
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn last_result(fixture: &Fixture, provider: Provider) -> DeliveryResult {
    fixture.deliveries.last()[provider.name()].result
}

#[tokio::test]
async fn valid_push_to_the_followed_branch_requests_one_sync() {
    for provider in Provider::ALL {
        let fixture = fixture(&[provider]);
        let secret = secret_of(provider);
        let request = delivery(
            provider,
            Some(&secret),
            false,
            push_body(provider, "main", NEW_SHA),
        );
        let (status, body) = send(&fixture.router, request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{provider:?}: {body}");
        assert_eq!(fixture.trigger.requests(), 1, "{provider:?}");
        let last = &fixture.deliveries.last()[provider.name()];
        assert_eq!(last.result, DeliveryResult::Triggered, "{provider:?}");
        assert_eq!(
            last.git_ref.as_deref(),
            Some("refs/heads/main"),
            "{provider:?}"
        );
        assert_eq!(last.commit.as_deref(), Some(NEW_SHA), "{provider:?}");
    }
    assert!(
        logs::captured().contains("push received; sync requested"),
        "the capture works"
    );
    logs::assert_no_secret_logged(&Provider::ALL.map(secret_of).each_ref().map(String::as_str));
}

#[tokio::test]
async fn wrong_secret_is_401_and_nothing_else_happens() {
    for provider in Provider::ALL {
        let fixture = fixture(&[provider]);
        let request = delivery(
            provider,
            Some("not-the-secret"),
            false,
            push_body(provider, "main", NEW_SHA),
        );
        let (status, _) = send(&fixture.router, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{provider:?}");
        assert_eq!(fixture.trigger.requests(), 0, "{provider:?}");
        let last = &fixture.deliveries.last()[provider.name()];
        assert_eq!(last.result, DeliveryResult::Unauthorized);
        assert_eq!(
            last.commit, None,
            "an unverified payload's commit is not recorded"
        );
        assert_eq!(
            fixture.deliveries.counts(),
            vec![(provider.name(), DeliveryResult::Unauthorized, 1)]
        );
    }
    logs::assert_no_secret_logged(&Provider::ALL.map(secret_of).each_ref().map(String::as_str));
}

#[tokio::test]
async fn missing_signature_header_is_401() {
    for provider in Provider::ALL {
        let fixture = fixture(&[provider]);
        let request = delivery(provider, None, false, push_body(provider, "main", NEW_SHA));
        let (status, body) = send(&fixture.router, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{provider:?}");
        assert_eq!(body, "missing signature header");
        assert_eq!(fixture.trigger.requests(), 0, "{provider:?}");
    }
}

#[tokio::test]
async fn signature_over_a_different_body_is_401() {
    // A replayed signature with a tampered payload (GitLab has no body signature).
    for provider in [
        Provider::GitHub,
        Provider::Gitea,
        Provider::Bitbucket,
        Provider::Generic,
    ] {
        let fixture = fixture(&[provider]);
        let secret = secret_of(provider);
        let genuine = push_body(provider, "dev", NEW_SHA);
        let (name, value) =
            test_support::webhook::auth_header(provider, &secret, genuine.as_bytes());
        let mut request = delivery(provider, None, false, push_body(provider, "main", NEW_SHA));
        request.headers_mut().insert(name, value.parse().unwrap());
        let (status, _) = send(&fixture.router, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{provider:?}");
        assert_eq!(fixture.trigger.requests(), 0);
    }
}

#[tokio::test]
async fn oversized_body_is_413() {
    for provider in Provider::ALL {
        let fixture = fixture(&[provider]);
        let secret = secret_of(provider);
        let padding = "x".repeat(MAX_WEBHOOK_BODY);
        let body = format!("{{\"ref\":\"refs/heads/main\",\"padding\":\"{padding}\"}}");
        let (status, _) = send(
            &fixture.router,
            delivery(provider, Some(&secret), false, body),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{provider:?}");
        assert_eq!(fixture.trigger.requests(), 0, "{provider:?}");
    }
}

#[tokio::test]
async fn push_to_another_branch_is_accepted_and_ignored() {
    for provider in Provider::ALL {
        let fixture = fixture(&[provider]);
        let secret = secret_of(provider);
        let request = delivery(
            provider,
            Some(&secret),
            false,
            push_body(provider, "feature-x", NEW_SHA),
        );
        let (status, body) = send(&fixture.router, request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{provider:?}");
        assert!(body.starts_with("ignored"), "{provider:?}: {body}");
        assert_eq!(fixture.trigger.requests(), 0, "{provider:?}");
        assert_eq!(last_result(&fixture, provider), DeliveryResult::IgnoredRef);
    }
}

#[tokio::test]
async fn ping_is_answered_and_other_events_are_ignored() {
    for provider in Provider::ALL {
        let fixture = fixture(&[provider]);
        let secret = secret_of(provider);
        let (status, body) = send(
            &fixture.router,
            delivery(provider, Some(&secret), true, ping_body(provider)),
        )
        .await;
        match provider {
            Provider::GitHub | Provider::Bitbucket | Provider::Generic => {
                assert_eq!(
                    (status, body.as_str()),
                    (StatusCode::OK, "pong"),
                    "{provider:?}"
                );
                assert_eq!(last_result(&fixture, provider), DeliveryResult::Ping);
            }
            // GitLab and Gitea have no ping event: a merge request / branch creation stands in.
            Provider::GitLab | Provider::Gitea => {
                assert_eq!(status, StatusCode::ACCEPTED, "{provider:?}");
                assert_eq!(
                    last_result(&fixture, provider),
                    DeliveryResult::IgnoredEvent
                );
            }
        }
        assert_eq!(fixture.trigger.requests(), 0, "{provider:?}");
        // An unsigned ping is refused like anything else.
        let (status, _) = send(
            &fixture.router,
            delivery(provider, None, true, ping_body(provider)),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{provider:?}");
    }
}

#[tokio::test]
async fn wrong_method_is_405() {
    for provider in Provider::ALL {
        let fixture = fixture(&[provider]);
        for method in ["GET", "PUT", "DELETE"] {
            let request = Request::builder()
                .method(method)
                .uri(format!("/hooks/{}", provider.name()))
                .body(Body::empty())
                .unwrap();
            let (status, _) = send(&fixture.router, request).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{provider:?} {method}"
            );
        }
        assert_eq!(fixture.trigger.requests(), 0);
    }
}

#[tokio::test]
async fn receivers_without_a_secret_do_not_exist() {
    let fixture = fixture(&[Provider::GitHub]);
    let body = push_body(Provider::GitLab, "main", NEW_SHA);
    let (status, _) = send(
        &fixture.router,
        delivery(Provider::GitLab, Some("anything"), false, body),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(fixture.trigger.requests(), 0);
}

#[tokio::test]
async fn forgejo_signature_header_is_accepted_for_gitea() {
    let fixture = fixture(&[Provider::Gitea]);
    let secret = secret_of(Provider::Gitea);
    let body = push_body(Provider::Gitea, "main", NEW_SHA);
    let (_, value) = test_support::webhook::auth_header(Provider::Gitea, &secret, body.as_bytes());
    let mut request = delivery(Provider::Gitea, None, false, body);
    request
        .headers_mut()
        .insert("x-forgejo-signature", value.parse().unwrap());
    assert_eq!(send(&fixture.router, request).await.0, StatusCode::ACCEPTED);
    assert_eq!(fixture.trigger.requests(), 1);
}

#[tokio::test]
async fn status_health_and_readiness_routes() {
    let fixture = fixture(&[Provider::GitHub]);
    let secret = secret_of(Provider::GitHub);
    let body = push_body(Provider::GitHub, "main", NEW_SHA);
    send(
        &fixture.router,
        delivery(Provider::GitHub, Some(&secret), false, body),
    )
    .await;
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let (status, json) = send(&fixture.router, get("/status/webhooks")).await;
    assert_eq!(status, StatusCode::OK);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["github"]["result"], "triggered");
    assert_eq!(value["github"]["commit"], NEW_SHA);
    assert!(value["github"]["received_at_unix_ms"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(
        send(&fixture.router, get("/healthz")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&fixture.router, get("/readyz")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    fixture.readiness.set_ready();
    assert_eq!(
        send(&fixture.router, get("/readyz")).await.0,
        StatusCode::OK
    );
    assert!(!json.contains(&secret));
}

#[tokio::test]
async fn secrets_are_read_from_files_and_empty_ones_refused() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("github");
    std::fs::write(&file, format!("{}\n", secret_of(Provider::GitHub))).unwrap();
    let config = pg_gitops::config::WebhookSecretsConfig {
        github_secret_file: Some(file.clone()),
        ..Default::default()
    };
    let secrets = WebhookSecrets::load(&config).unwrap();
    assert_eq!(
        secrets.get(Provider::GitHub).unwrap().expose(),
        secret_of(Provider::GitHub)
    );
    assert!(secrets.get(Provider::GitLab).is_none());
    assert!(!format!("{secrets:?}").contains(&secret_of(Provider::GitHub)));
    std::fs::write(&file, "\n").unwrap();
    let error = WebhookSecrets::load(&config).unwrap_err();
    assert!(error.to_string().contains("is empty"), "{error}");
}

/// A rotated secret file (the kubelet swaps the mounted Secret's symlink) is taken at the next
/// delivery without a restart; a file that turns empty keeps the previous secret.
#[tokio::test]
async fn a_rotated_secret_file_is_used_without_a_restart() {
    logs::capture();
    let provider = Provider::GitHub;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("github-secret");
    std::fs::write(&file, "first-secret-9f2\n").unwrap();
    let config = pg_gitops::config::WebhookSecretsConfig {
        github_secret_file: Some(file.clone()),
        ..Default::default()
    };
    let secrets = WebhookSecrets::load(&config).unwrap();
    let router = server::router(AppState {
        secrets: Arc::new(secrets),
        target: WebhookTarget {
            reference: Reference::Branch("main".into()),
            trigger: FetchTrigger::new(),
            relay: None,
        },
        deliveries: DeliveryLog::default(),
        readiness: Readiness::default(),
        liveness: Default::default(),
    });
    let push = |secret: &str| {
        delivery(
            provider,
            Some(secret),
            false,
            push_body(provider, "main", NEW_SHA),
        )
    };
    assert_eq!(
        send(&router, push("first-secret-9f2")).await.0,
        StatusCode::ACCEPTED
    );

    // As the kubelet does: the new content appears under the same path.
    let staged = dir.path().join("staged");
    std::fs::write(&staged, "second-secret-4c1\n").unwrap();
    std::fs::rename(&staged, &file).unwrap();
    assert_eq!(
        send(&router, push("first-secret-9f2")).await.0,
        StatusCode::UNAUTHORIZED,
        "the old secret no longer signs"
    );
    assert_eq!(
        send(&router, push("second-secret-4c1")).await.0,
        StatusCode::ACCEPTED
    );

    std::fs::write(&file, "").unwrap();
    assert_eq!(
        send(&router, push("second-secret-4c1")).await.0,
        StatusCode::ACCEPTED,
        "an empty file is refused and the previous secret stays"
    );
    logs::assert_no_secret_logged(&["first-secret-9f2", "second-secret-4c1"]);
}
