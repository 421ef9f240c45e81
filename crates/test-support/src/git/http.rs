//! Smart HTTP Git server: `git http-backend` run as CGI for every request, behind basic auth.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use tokio::io::AsyncWriteExt;

pub struct HttpGitServer {
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

pub struct ServerState {
    /// Directory holding the bare repositories (`/<name>.git` in URLs).
    pub project_root: PathBuf,
    pub username: String,
    pub password: String,
    /// Slows every request down, to keep a sync in flight on purpose.
    pub delay: Duration,
    /// Requests that reached the ref advertisement (`info/refs`): one per ls-remote or fetch.
    pub ref_advertisements: AtomicU64,
    pub refused: AtomicU64,
}

impl Drop for HttpGitServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpGitServer {
    pub async fn start(
        project_root: PathBuf,
        username: &str,
        password: &str,
        delay: Duration,
    ) -> Self {
        let state = Arc::new(ServerState {
            project_root,
            username: username.into(),
            password: password.into(),
            delay,
            ref_advertisements: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let app = axum::Router::new().fallback(cgi).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HttpGitServer { addr, state, task }
    }

    /// URL of `repo.git` without credentials.
    pub fn url(&self) -> String {
        format!("http://{}/repo.git", self.addr)
    }
}

fn authorized(state: &ServerState, headers: &HeaderMap) -> bool {
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", state.username, state.password));
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == format!("Basic {expected}"))
}

async fn cgi(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tokio::time::sleep(state.delay).await;
    if !authorized(&state, &headers) {
        state.refused.fetch_add(1, Ordering::Relaxed);
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(Body::from("authentication required"))
            .unwrap();
    }
    if uri.path().ends_with("/info/refs") {
        state.ref_advertisements.fetch_add(1, Ordering::Relaxed);
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &state.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("REQUEST_METHOD", method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("REMOTE_USER", &state.username)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("git http-backend starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = body.to_vec();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let output = child.wait_with_output().await.unwrap();
    let _ = writer.await;
    cgi_response(&output.stdout)
}

/// Splits CGI output into headers (with an optional `Status:`) and body.
fn cgi_response(output: &[u8]) -> Response {
    let split = output
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| (at, at + 4))
        .or_else(|| {
            output
                .windows(2)
                .position(|window| window == b"\n\n")
                .map(|at| (at, at + 2))
        })
        .unwrap_or((output.len(), output.len()));
    let head = String::from_utf8_lossy(&output[..split.0]).into_owned();
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|code| code.parse().ok());
            status = code
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(status);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .status(status)
        .body(Body::from(output[split.1..].to_vec()))
        .unwrap()
}
