//! Webhook deliveries as the providers send them, written from their documented formats:
//! GitHub (push/ping, `X-Hub-Signature-256`), GitLab (Push Hook, `X-Gitlab-Token`),
//! Gitea/Forgejo (push, `X-Gitea-Signature` bare hex), Bitbucket Server/Data Center
//! (`repo:refs_changed`/`diagnostics:ping`, `X-Hub-Signature`) and a generic HMAC sender.

use axum::body::Body;
use axum::http::Request;
use pg_gitops::server::Provider;
use serde_json::json;

const OLD_SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
pub const NEW_SHA: &str = "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5";

/// A push of `new_sha` to `branch`, as `provider` would send it.
pub fn push_body(provider: Provider, branch: &str, new_sha: &str) -> String {
    let git_ref = format!("refs/heads/{branch}");
    let body = match provider {
        Provider::GitHub => json!({
            "ref": git_ref, "before": OLD_SHA, "after": new_sha,
            "created": false, "deleted": false, "forced": false, "base_ref": null,
            "compare": format!("https://github.com/acme/fleet/compare/{}...{}", &OLD_SHA[..12], &new_sha[..12]),
            "commits": [{
                "id": new_sha, "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433", "distinct": true,
                "message": "Scale orders-db to 3 replicas", "timestamp": "2026-11-22T02:10:00Z",
                "url": format!("https://github.com/acme/fleet/commit/{new_sha}"),
                "author": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
                "committer": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
                "added": [], "removed": [], "modified": ["fleet/orders-db.yaml"]
            }],
            "head_commit": {"id": new_sha, "message": "Scale orders-db to 3 replicas"},
            "repository": {"id": 35129377, "name": "fleet", "full_name": "acme/fleet", "private": true,
                "clone_url": "https://github.com/acme/fleet.git", "default_branch": "main"},
            "pusher": {"name": "ada", "email": "ada@example.com"},
            "sender": {"login": "ada", "id": 21031067, "type": "User"}
        }),
        Provider::GitLab => json!({
            "object_kind": "push", "event_name": "push", "before": OLD_SHA, "after": new_sha,
            "ref": git_ref, "ref_protected": true, "checkout_sha": new_sha,
            "user_id": 4, "user_name": "Ada", "user_username": "ada", "user_email": "",
            "project_id": 15,
            "project": {"id": 15, "name": "fleet", "path_with_namespace": "acme/fleet",
                "default_branch": "main", "git_http_url": "https://gitlab.example.com/acme/fleet.git"},
            "commits": [{"id": new_sha, "message": "Scale orders-db to 3 replicas",
                "timestamp": "2026-11-22T02:10:00+00:00", "author": {"name": "Ada", "email": "ada@example.com"},
                "added": [], "modified": ["fleet/orders-db.yaml"], "removed": []}],
            "total_commits_count": 1,
            "repository": {"name": "fleet", "url": "git@gitlab.example.com:acme/fleet.git",
                "homepage": "https://gitlab.example.com/acme/fleet"}
        }),
        Provider::Gitea => json!({
            "ref": git_ref, "before": OLD_SHA, "after": new_sha,
            "compare_url": format!("https://gitea.example.com/acme/fleet/compare/{OLD_SHA}...{new_sha}"),
            "commits": [{"id": new_sha, "message": "Scale orders-db to 3 replicas\n",
                "url": format!("https://gitea.example.com/acme/fleet/commit/{new_sha}"),
                "author": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
                "committer": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
                "timestamp": "2026-11-22T02:10:00Z", "added": [], "removed": [], "modified": ["fleet/orders-db.yaml"]}],
            "total_commits": 1,
            "head_commit": {"id": new_sha, "message": "Scale orders-db to 3 replicas\n"},
            "repository": {"id": 1, "name": "fleet", "full_name": "acme/fleet", "default_branch": "main",
                "clone_url": "https://gitea.example.com/acme/fleet.git"},
            "pusher": {"id": 1, "login": "ada"}, "sender": {"id": 1, "login": "ada"}
        }),
        Provider::Bitbucket => json!({
            "eventKey": "repo:refs_changed", "date": "2026-11-22T02:10:00+0000",
            "actor": {"name": "ada", "emailAddress": "ada@example.com", "id": 1, "displayName": "Ada",
                "active": true, "slug": "ada", "type": "NORMAL"},
            "repository": {"slug": "fleet", "id": 84, "name": "fleet", "scmId": "git", "state": "AVAILABLE",
                "forkable": true, "public": false,
                "project": {"key": "ACME", "id": 84, "name": "Acme", "public": false, "type": "NORMAL"}},
            "changes": [{
                "ref": {"id": git_ref, "displayId": branch, "type": "BRANCH"},
                "refId": git_ref, "fromHash": OLD_SHA, "toHash": new_sha, "type": "UPDATE"
            }]
        }),
        Provider::Generic => json!({"ref": git_ref, "after": new_sha}),
    };
    body.to_string()
}

/// Headers that mark the event, without the signature.
fn event_headers(provider: Provider, ping: bool) -> Vec<(&'static str, String)> {
    let mut headers = vec![("content-type", "application/json".to_string())];
    match provider {
        Provider::GitHub => {
            headers.push(("x-github-event", if ping { "ping" } else { "push" }.into()));
            headers.push((
                "x-github-delivery",
                "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
            ));
            headers.push(("x-github-hook-id", "292430182".into()));
            headers.push(("user-agent", "GitHub-Hookshot/044aadd".into()));
        }
        Provider::GitLab => {
            headers.push((
                "x-gitlab-event",
                if ping {
                    "Merge Request Hook"
                } else {
                    "Push Hook"
                }
                .into(),
            ));
            headers.push(("x-gitlab-instance", "https://gitlab.example.com".into()));
            headers.push((
                "x-gitlab-event-uuid",
                "13792a34-cac6-4fda-95a8-c58e00a3954e".into(),
            ));
            headers.push(("user-agent", "GitLab/17.6.0".into()));
        }
        Provider::Gitea => {
            let event = if ping { "create" } else { "push" };
            headers.push(("x-gitea-event", event.into()));
            headers.push(("x-gogs-event", event.into()));
            headers.push(("x-github-event", event.into()));
            headers.push((
                "x-gitea-delivery",
                "f6266f16-1bf3-46a5-9ea4-602e06ead473".into(),
            ));
        }
        Provider::Bitbucket => {
            headers.push((
                "x-event-key",
                if ping {
                    "diagnostics:ping"
                } else {
                    "repo:refs_changed"
                }
                .into(),
            ));
            headers.push((
                "x-request-id",
                "3bd4dd6a-1a3c-4a3a-a4c4-5f0b2a7e4a52".into(),
            ));
            headers.push((
                "user-agent",
                "Atlassian HttpClient 4.2.0 / Bitbucket-9.4.1".into(),
            ));
        }
        Provider::Generic => {
            if ping {
                headers.push(("x-event", "ping".into()));
            }
        }
    }
    headers
}

/// Bodies of non-push deliveries: GitHub/Bitbucket/generic pings, a GitLab merge request
/// event and a Gitea branch creation (neither has a ping event).
pub fn ping_body(provider: Provider) -> String {
    let body = match provider {
        Provider::GitHub => json!({"zen": "Design for failure.", "hook_id": 292430182,
            "hook": {"type": "Repository", "id": 292430182, "name": "web", "active": true,
                "events": ["push"], "config": {"content_type": "json", "insecure_ssl": "0"}},
            "repository": {"full_name": "acme/fleet"}, "sender": {"login": "ada"}}),
        Provider::GitLab => json!({"object_kind": "merge_request", "event_type": "merge_request",
            "object_attributes": {"iid": 7, "target_branch": "main", "state": "opened"}}),
        Provider::Gitea => json!({"ref": "feature-x", "ref_type": "branch", "sha": NEW_SHA}),
        Provider::Bitbucket => json!({"test": true}),
        Provider::Generic => json!({"zen": "ping"}),
    };
    body.to_string()
}

/// The authentication header each provider sends for `body`.
pub fn auth_header(provider: Provider, secret: &str, body: &[u8]) -> (&'static str, String) {
    pg_gitops::server::signature::sign_for(provider, secret.as_bytes(), body)
}

/// A POST to `/hooks/<provider>`; `secret: None` leaves the authentication header out.
pub fn delivery(
    provider: Provider,
    secret: Option<&str>,
    ping: bool,
    body: String,
) -> Request<Body> {
    let mut request = Request::post(format!("/hooks/{}", provider.name()));
    for (name, value) in event_headers(provider, ping) {
        request = request.header(name, value);
    }
    if let Some(secret) = secret {
        let (name, value) = auth_header(provider, secret, body.as_bytes());
        request = request.header(name, value);
    }
    request.body(Body::from(body)).unwrap()
}

/// One signed push delivery as an HTTP/1.1 POST over a fresh TCP connection, as a forge
/// sends it (latency measurements go through the real socket, not `oneshot`). Returns the
/// raw response.
pub async fn deliver_over_tcp(
    addr: std::net::SocketAddr,
    provider: Provider,
    secret: &str,
    commit: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = push_body(provider, "main", commit);
    let mut request = format!(
        "POST /hooks/{} HTTP/1.1\r\nhost: pg-gitops\r\nconnection: close\r\n",
        provider.name()
    );
    for (name, value) in event_headers(provider, false) {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let (name, value) = auth_header(provider, secret, body.as_bytes());
    request.push_str(&format!(
        "{name}: {value}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}
