//! A flood on the webhook port (issue 13), over real sockets through the real accept loop
//! and router: signed and unsigned deliveries, wrongly signed ones, bodies just over the
//! limit, form-encoded payloads and replays of one valid delivery, sent by 64 clients at once.
//! Every request gets its answer (202, 401, 413, 400), the process's memory stays bounded,
//! health checks are still answered, and the valid deliveries collapse into sync requests
//! (a replay only asks for a fetch of what the remote holds now, so it is harmless).
//!
//! `scripts/test` sends 2,000 deliveries; the recorded run (docs/reliability.md) sends 10,000:
//!
//!     PG_GITOPS_FLOOD=10000 cargo test --release --test offline webhook_flood -- --nocapture

use std::sync::Arc;
use std::time::{Duration, Instant};

use pg_gitops::server::{
    self, AppState, ConnectionLimits, DeliveryLog, MAX_WEBHOOK_BODY, Provider, Readiness,
    WebhookSecrets, WebhookTarget,
};
use pg_gitops::source::{FetchTrigger, Reference, Secret};
use test_support::webhook::{auth_header, push_body};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "whsec-flood-4a9e";

fn deliveries() -> usize {
    std::env::var("PG_GITOPS_FLOOD")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The i-th request of the flood and the status it must get.
fn request(i: usize, valid_body: &str) -> (Vec<u8>, &'static str) {
    let (body, signature, content_type, expected) = match i % 5 {
        // A replay of one valid delivery.
        0 => (valid_body.to_string(), SECRET, "application/json", "202"),
        1 => (
            valid_body.to_string(),
            "wrong-secret",
            "application/json",
            "401",
        ),
        2 => (valid_body.to_string(), "", "application/json", "401"),
        3 => (
            "x".repeat(MAX_WEBHOOK_BODY + 1),
            SECRET,
            "application/json",
            "413",
        ),
        _ => (
            valid_body.to_string(),
            SECRET,
            "application/x-www-form-urlencoded",
            "400",
        ),
    };
    let mut head = format!(
        "POST /hooks/generic HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         content-type: {content_type}\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !signature.is_empty() {
        let (name, value) = auth_header(Provider::Generic, signature, body.as_bytes());
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    (bytes, expected)
}

async fn send(address: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // A server may answer 413 before the whole body is sent and close: that is fine.
    let _ = stream.write_all(bytes).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_deliveries_is_answered_within_bounded_memory() {
    let trigger = FetchTrigger::new();
    let router = server::router(AppState {
        secrets: Arc::new(
            WebhookSecrets::default().with(Provider::Generic, Secret::new(SECRET.to_string())),
        ),
        target: WebhookTarget {
            reference: Reference::Branch("main".into()),
            trigger: trigger.clone(),
            relay: None,
        },
        deliveries: DeliveryLog::default(),
        readiness: Readiness::default(),
        liveness: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(server::serve(
        listener,
        router,
        ConnectionLimits::default(),
        std::future::pending(),
    ));

    let valid = push_body(
        Provider::Generic,
        "main",
        "0123456789abcdef0123456789abcdef01234567",
    );
    let total = deliveries();
    let rss_before = rss_kib();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..64 {
        let (next, valid) = (next.clone(), valid.clone());
        clients.push(tokio::spawn(async move {
            let mut wrong = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return wrong;
                }
                let (bytes, expected) = request(i, &valid);
                let answer = send(address, &bytes).await;
                if !answer.starts_with(&format!("HTTP/1.1 {expected}")) {
                    wrong.push(format!(
                        "#{i}: expected {expected}, got {:?}",
                        answer.lines().next()
                    ));
                }
            }
        }));
    }
    let mut wrong = Vec::new();
    for client in clients {
        wrong.extend(client.await.unwrap());
    }
    let took = started.elapsed();
    let grown_mib = rss_kib().saturating_sub(rss_before) / 1024;
    eprintln!(
        "flood: {total} deliveries from 64 clients in {took:?} ({:.0}/s), RSS grew {grown_mib} MiB, \
         {} sync requests",
        total as f64 / took.as_secs_f64(),
        trigger.requests()
    );
    assert_eq!(wrong, Vec::<String>::new(), "every request gets its answer");
    assert!(grown_mib < 64, "RSS grew {grown_mib} MiB");
    assert_eq!(
        trigger.requests() as usize,
        total.div_ceil(5),
        "one request per valid delivery"
    );
    let health = send(
        address,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    let health = tokio::time::timeout(Duration::from_secs(5), health)
        .await
        .unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}
