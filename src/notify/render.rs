//! The HTTP request of each message, per target (pure). The shapes are the forges' own APIs,
//! as Flux's notification-controller calls them:
//!
//! - GitHub: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`, `Authorization: Bearer`,
//!   `{state: pending|success|failure|error, description, context}`.
//! - GitLab: `POST {api}/projects/{url-encoded path or ID}/statuses/{sha}`, `PRIVATE-TOKEN`,
//!   `{state: pending|running|success|failed|canceled, description, name}`.
//! - Gitea/Forgejo: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`, `Authorization: token`,
//!   `{state: pending|success|error|failure|warning, description, context}`.
//! - Generic webhook: a JSON event, with `X-Signature: sha256=<hex>` (HMAC-SHA256 of the body)
//!   when a key is set, as Flux's `generic-hmac` provider signs.
//! - Slack incoming webhook: `{"text": ...}`.

use serde_json::json;

use super::tracker::{Alert, CommitState};
use crate::build_info::VERSION;
use crate::config::{AlertOn, Forge, ForgeRepository};
use crate::server::signature::sign_sha256;

/// GitHub refuses a description above 140 characters; the others take more, but the same
/// cut keeps every forge's check the same.
pub(crate) const MAX_DESCRIPTION: usize = 140;

/// One request: always a JSON POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A commit status of `forge`.
pub(crate) fn commit_status(
    forge: Forge,
    repository: &ForgeRepository,
    context: &str,
    token: &str,
    sha: &str,
    state: CommitState,
    description: &str,
) -> Outgoing {
    let description = shorten(description, MAX_DESCRIPTION);
    let api = &repository.api_url;
    let repo = &repository.repository;
    let (url, auth, body) = match forge {
        Forge::GitHub => (
            format!("{api}/repos/{repo}/statuses/{sha}"),
            ("authorization", format!("Bearer {token}")),
            json!({"state": github_state(state), "description": description, "context": context}),
        ),
        Forge::GitLab => (
            format!("{api}/projects/{}/statuses/{sha}", encode_path(repo)),
            ("private-token", token.to_string()),
            json!({"state": gitlab_state(state), "description": description, "name": context}),
        ),
        Forge::Gitea => (
            format!("{api}/repos/{repo}/statuses/{sha}"),
            ("authorization", format!("token {token}")),
            json!({"state": gitea_state(state), "description": description, "context": context}),
        ),
    };
    let mut headers = vec![
        auth,
        ("content-type", "application/json".into()),
        // GitHub refuses requests without a User-Agent.
        ("user-agent", format!("pg-gitops/{VERSION}")),
    ];
    if forge == Forge::GitHub {
        headers.push(("accept", "application/vnd.github+json".into()));
        headers.push(("x-github-api-version", "2022-11-28".into()));
    }
    Outgoing {
        url,
        headers,
        body: body.to_string().into_bytes(),
    }
}

fn github_state(state: CommitState) -> &'static str {
    match state {
        CommitState::Pending => "pending",
        CommitState::Success => "success",
        CommitState::Failure => "failure",
        // GitHub has no "canceled"; "error" is its state for a check that could not finish.
        CommitState::Canceled => "error",
    }
}

fn gitlab_state(state: CommitState) -> &'static str {
    match state {
        // "pending", not "running": GitLab moves pending → success/failed directly, and a
        // running → running repeat is refused, a pending → pending one is not.
        CommitState::Pending => "pending",
        CommitState::Success => "success",
        CommitState::Failure => "failed",
        CommitState::Canceled => "canceled",
    }
}

fn gitea_state(state: CommitState) -> &'static str {
    match state {
        CommitState::Pending => "pending",
        CommitState::Success => "success",
        CommitState::Failure => "failure",
        CommitState::Canceled => "warning",
    }
}

/// A generic webhook's JSON event; signed when `hmac_key` is set.
pub(crate) fn generic_alert(
    url: &str,
    hmac_key: Option<&str>,
    alert: &Alert,
    instance: &str,
    now: &str,
) -> Outgoing {
    let (namespace, name) = &alert.key;
    let body = json!({
        "involvedObject": {
            "apiVersion": "gitops.kubedb.com/v1alpha1",
            "kind": "Postgres",
            "namespace": namespace,
            "name": name,
        },
        "severity": match alert.on { AlertOn::Stalled => "error", AlertOn::Current => "info" },
        "state": state_name(alert.on),
        "reason": alert.reason,
        "message": alert.message,
        "revision": alert.revision,
        "timestamp": now,
        "reportingController": "pg-gitops",
        "reportingInstance": instance,
    })
    .to_string()
    .into_bytes();
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("user-agent", format!("pg-gitops/{VERSION}")),
    ];
    if let Some(key) = hmac_key {
        headers.push(("x-signature", sign_sha256(key.as_bytes(), &body)));
    }
    Outgoing {
        url: url.to_string(),
        headers,
        body,
    }
}

/// A Slack incoming-webhook message.
pub(crate) fn slack_alert(url: &str, alert: &Alert) -> Outgoing {
    let (namespace, name) = &alert.key;
    let at = alert
        .revision
        .as_deref()
        .map(|r| format!(" at {}", &r[..r.len().min(12)]))
        .unwrap_or_default();
    let text = match alert.on {
        AlertOn::Stalled => format!(
            ":red_circle: {namespace}/{name} is Stalled{at} ({}): {}",
            alert.reason, alert.message
        ),
        AlertOn::Current => {
            format!(
                ":large_green_circle: {namespace}/{name} is Current{at}: {}",
                alert.message
            )
        }
    };
    Outgoing {
        url: url.to_string(),
        headers: vec![
            ("content-type", "application/json".to_string()),
            ("user-agent", format!("pg-gitops/{VERSION}")),
        ],
        body: json!({ "text": text }).to_string().into_bytes(),
    }
}

fn state_name(on: AlertOn) -> &'static str {
    match on {
        AlertOn::Stalled => "Stalled",
        AlertOn::Current => "Current",
    }
}

/// At most `max` characters, the cut marked with `…`.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

/// A GitLab project path as one path segment (`group/sub/project` → `group%2Fsub%2Fproject`);
/// a numeric ID stays as it is.
fn encode_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
