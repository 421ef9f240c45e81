//! One receiver per Git provider. Each checks the request's signature before reading the
//! payload, answers at once, and only asks the source to sync (through the coalescing
//! [`FetchTrigger`](crate::source::FetchTrigger)); the fetch itself happens elsewhere.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::{debug, info};

use super::AppState;
use super::deliveries::DeliveryResult;
use super::signature::{self, SignatureProblem};

/// The providers we accept pushes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    Gitea,
    Bitbucket,
    Generic,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::GitHub,
        Provider::GitLab,
        Provider::Gitea,
        Provider::Bitbucket,
        Provider::Generic,
    ];

    /// Receiver name, used in the path (`/hooks/<name>`), logs and the status API.
    pub fn name(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Gitea => "gitea",
            Provider::Bitbucket => "bitbucket",
            Provider::Generic => "generic",
        }
    }
}

/// What a verified payload asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Ping,
    /// Refs the push changed, and the commit the followed one now points at if known.
    Push {
        refs: Vec<(String, Option<String>)>,
    },
    /// Anything else the provider sends (issues, merge requests, ...).
    Other(String),
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

pub(crate) fn verify(
    provider: Provider,
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), SignatureProblem> {
    match provider {
        Provider::GitHub => signature::verify_hmac_sha256(
            secret,
            body,
            header_str(headers, "x-hub-signature-256"),
            true,
        ),
        Provider::GitLab => signature::verify_token(secret, header_str(headers, "x-gitlab-token")),
        // Gitea sends a bare hex digest; Forgejo sends the same value under its own name too.
        Provider::Gitea => {
            let header = header_str(headers, "x-gitea-signature")
                .or_else(|| header_str(headers, "x-forgejo-signature"));
            signature::verify_hmac_sha256(secret, body, header, false)
        }
        Provider::Bitbucket => signature::verify_hmac_sha256(
            secret,
            body,
            header_str(headers, "x-hub-signature"),
            true,
        ),
        Provider::Generic => {
            signature::verify_hmac_sha256(secret, body, header_str(headers, "x-signature"), true)
        }
    }
}

pub(crate) fn parse_event(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Event, String> {
    let event_header = match provider {
        Provider::GitHub => header_str(headers, "x-github-event"),
        Provider::GitLab => header_str(headers, "x-gitlab-event"),
        Provider::Gitea => {
            header_str(headers, "x-gitea-event").or_else(|| header_str(headers, "x-forgejo-event"))
        }
        Provider::Bitbucket => header_str(headers, "x-event-key"),
        Provider::Generic => header_str(headers, "x-event"),
    };
    let event_name = event_header.unwrap_or("push").to_string();
    match (provider, event_name.as_str()) {
        (Provider::GitHub, "ping")
        | (Provider::Bitbucket, "diagnostics:ping")
        | (Provider::Generic, "ping") => {
            return Ok(Event::Ping);
        }
        (Provider::GitHub | Provider::Gitea | Provider::Generic, "push")
        | (Provider::GitLab, "Push Hook" | "Tag Push Hook")
        | (Provider::Bitbucket, "repo:refs_changed") => {}
        _ => return Ok(Event::Other(event_name)),
    }
    if let Some(content_type) = header_str(headers, header::CONTENT_TYPE.as_str())
        && content_type.starts_with("application/x-www-form-urlencoded")
    {
        return Err(
            "form-encoded payloads are not supported; set the content type to application/json"
                .into(),
        );
    }
    let payload: Value =
        serde_json::from_slice(body).map_err(|error| format!("payload is not JSON: {error}"))?;
    let text =
        |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let refs = match provider {
        Provider::GitHub | Provider::Gitea => {
            vec![(
                text(&payload, "ref").ok_or("push payload has no `ref`")?,
                text(&payload, "after"),
            )]
        }
        Provider::GitLab => {
            let commit = text(&payload, "checkout_sha").or_else(|| text(&payload, "after"));
            vec![(
                text(&payload, "ref").ok_or("push payload has no `ref`")?,
                commit,
            )]
        }
        Provider::Bitbucket => payload
            .get("changes")
            .and_then(Value::as_array)
            .ok_or("refs_changed payload has no `changes`")?
            .iter()
            .filter_map(|change| {
                let git_ref = change
                    .get("ref")
                    .and_then(|reference| text(reference, "id"))?;
                Some((git_ref, text(change, "toHash")))
            })
            .collect(),
        Provider::Generic => match text(&payload, "ref") {
            Some(git_ref) => {
                vec![(
                    git_ref,
                    text(&payload, "after").or_else(|| text(&payload, "commit")),
                )]
            }
            // A generic sender that names no ref just means "sync now".
            None => return Ok(Event::Push { refs: Vec::new() }),
        },
    };
    Ok(Event::Push { refs })
}

/// Handles one delivery for `provider`; mounted once per configured receiver.
pub(crate) async fn receive(
    provider: Provider,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let receiver = provider.name();
    let log = &state.deliveries;
    let Some(secret) = state.secrets.get(provider) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Err(problem) = verify(provider, secret.expose().as_bytes(), &headers, &body) {
        info!(receiver, reason = problem.as_str(), "webhook refused");
        log.record(
            receiver,
            DeliveryResult::Unauthorized,
            problem.as_str(),
            None,
            None,
        );
        return (StatusCode::UNAUTHORIZED, problem.as_str()).into_response();
    }
    let event = match parse_event(provider, &headers, &body) {
        Ok(event) => event,
        Err(problem) => {
            info!(receiver, %problem, "webhook payload unreadable");
            log.record(
                receiver,
                DeliveryResult::BadRequest,
                problem.clone(),
                None,
                None,
            );
            return (StatusCode::BAD_REQUEST, problem).into_response();
        }
    };
    match event {
        Event::Ping => {
            log.record(receiver, DeliveryResult::Ping, "ping", None, None);
            (StatusCode::OK, "pong").into_response()
        }
        Event::Other(name) => {
            debug!(receiver, event = %name, "webhook event ignored");
            log.record(
                receiver,
                DeliveryResult::IgnoredEvent,
                format!("event {name} is not a push"),
                None,
                None,
            );
            (StatusCode::ACCEPTED, "ignored: not a push event").into_response()
        }
        Event::Push { refs } => {
            let followed = refs
                .iter()
                .find(|(git_ref, _)| state.target.reference.is_moved_by(git_ref));
            let matched = refs.is_empty() || followed.is_some();
            let (git_ref, commit) = followed.or(refs.first()).cloned().unzip();
            let commit = commit.flatten();
            if matched {
                state.target.push_received();
                info!(
                    receiver,
                    git_ref = git_ref.as_deref().unwrap_or("-"),
                    commit = commit.as_deref().unwrap_or("-"),
                    "push received; sync requested"
                );
                log.record(
                    receiver,
                    DeliveryResult::Triggered,
                    "sync requested",
                    git_ref,
                    commit,
                );
                (StatusCode::ACCEPTED, "sync requested").into_response()
            } else {
                debug!(receiver, ?refs, "push to a ref we do not follow");
                log.record(
                    receiver,
                    DeliveryResult::IgnoredRef,
                    "push to a ref that is not followed",
                    git_ref,
                    commit,
                );
                (StatusCode::ACCEPTED, "ignored: ref not followed").into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests;
