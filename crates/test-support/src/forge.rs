//! A stand-in for a forge's commit status API (GitHub, GitLab, Gitea) and for alert webhook
//! receivers (generic, Slack): an HTTP server on loopback that records every request it gets
//! (method, path, headers, body) and answers as a test tells it: 201, a 500 for the first few
//! requests, or never. The tests check the recorded requests against each forge's documented
//! API; the stand-in itself accepts anything, so a wrong path or header is seen, not hidden.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// How the stand-in answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// 201 Created, as the forges answer a new status.
    Created,
    /// 500 for the first `n` requests, then 201.
    FailFirst(usize),
    /// Every request with this status.
    Always(u16),
    /// Never answers (the connection stays open).
    Hang,
}

#[derive(Clone)]
struct Shared {
    answer: Answer,
    seen: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

pub struct StandIn {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    pub async fn start(answer: Answer) -> Self {
        let shared = Shared {
            answer,
            seen: Arc::default(),
            requests: Arc::default(),
        };
        let requests = shared.requests.clone();
        let router = Router::new().fallback(record).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests received, or fails after `patience`.
    pub async fn wait_until(
        &self,
        what: &str,
        patience: Duration,
        done: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        let deadline = Instant::now() + patience;
        loop {
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "the stand-in did not receive {what} within {patience:?}; it got: {:#?}",
                requests
                    .iter()
                    .map(|r| format!(
                        "{} {} {}",
                        r.method,
                        r.path,
                        String::from_utf8_lossy(&r.body)
                    ))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn record(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
    };
    shared.requests.lock().unwrap().push(recorded);
    let number = shared.seen.fetch_add(1, Ordering::SeqCst);
    match shared.answer {
        Answer::Created => StatusCode::CREATED,
        Answer::FailFirst(n) if number < n => StatusCode::INTERNAL_SERVER_ERROR,
        Answer::FailFirst(_) => StatusCode::CREATED,
        Answer::Always(code) => StatusCode::from_u16(code).unwrap(),
        Answer::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}
