//! The HTTP port under slow and greedy clients, over real sockets: a half-sent header is cut
//! off, a trickled body gets 408, and a connection limit makes extra connections wait in the
//! listen backlog until a slot frees, while well-behaved requests still get through.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use pg_gitops::server::{ConnectionLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts the real accept loop on a loopback port with `limits`; the routes echo a body.
async fn start(limits: ConnectionLimits) -> std::net::SocketAddr {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, limits, std::future::pending()));
    address
}

/// Reads until the server closes the connection or `limit` passes; `None` on the timeout.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut received)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&received).into_owned())
}

const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_half_sent_header_is_cut_off_at_the_header_timeout() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    };
    let address = start(limits).await;
    let mut slow = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(10))
        .await
        .expect("the server closes a connection whose header never ends");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "closed after {took:?}, answer {answer:?}"
    );

    // Whoever sends a whole header is served as before.
    let mut client = TcpStream::connect(address).await.unwrap();
    client.write_all(GET_HEALTHZ).await.unwrap();
    let answer = read_until_closed(&mut client, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_trickled_body_gets_408_at_the_request_deadline() {
    let limits = ConnectionLimits {
        request_timeout: Duration::from_millis(400),
        ..ConnectionLimits::default()
    };
    let address = start(limits).await;
    let (mut reader, mut writer) = TcpStream::connect(address).await.unwrap().into_split();
    writer
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        .await
        .unwrap();
    let trickle = async move {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b"c").await.is_err() {
                break;
            }
        }
    };
    let started = Instant::now();
    let read = async {
        let mut received = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut received));
        read.await
            .ok()
            .map(|_| String::from_utf8_lossy(&received).into_owned())
    };
    let ((), answer) = tokio::join!(trickle, read);
    let answer = answer.expect("the server answers a trickled body");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_over_the_limit_wait_until_a_slot_frees() {
    let limits = ConnectionLimits {
        max_connections: 2,
        ..ConnectionLimits::default()
    };
    let address = start(limits).await;
    // Two idle connections take both slots (they would be cut off after the 10 s default
    // header timeout; the test is over long before).
    let idle_a = TcpStream::connect(address).await.unwrap();
    let _idle_b = TcpStream::connect(address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut waiting = TcpStream::connect(address).await.unwrap();
    waiting.write_all(GET_HEALTHZ).await.unwrap();
    assert_eq!(
        read_until_closed(&mut waiting, Duration::from_millis(500)).await,
        None,
        "a third connection is not served while two are open"
    );

    drop(idle_a);
    let answer = read_until_closed(&mut waiting, Duration::from_secs(5))
        .await
        .expect("served once a slot frees");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
