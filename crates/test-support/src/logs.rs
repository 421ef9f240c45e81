//! The one tracing subscriber of a test binary: test output filtered by `RUST_LOG`, and, once
//! a test calls [`capture`], every event (TRACE and up) kept in memory so secrets can be
//! looked for in it. One subscriber for both, because a binary gets only one global default:
//! the simulator's helpers install it too ([`install`]), and a test that captures later still
//! captures.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer, filter};

static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
/// Whether events are being kept in memory (from the first [`capture`] on).
static CAPTURING: AtomicBool = AtomicBool::new(false);

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the binary's subscriber once (nothing is kept in memory until [`capture`]).
pub fn install() {
    CAPTURED.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let kept = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || CaptureWriter(writer.clone()))
            // Dynamic: asked per event, so callsites seen before capturing started are kept too.
            .with_filter(filter::dynamic_filter_fn(|_, _| {
                CAPTURING.load(Ordering::Relaxed)
            }));
        let shown = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_ansi(false)
            .with_filter(EnvFilter::from_default_env());
        let subscriber = tracing_subscriber::registry().with(kept).with(shown);
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        buffer
    });
}

/// Keeps every event of the binary in memory from now on (TRACE and up).
pub fn capture() {
    install();
    CAPTURING.store(true, Ordering::Relaxed);
}

/// Everything logged so far by any test in this binary.
pub fn captured() -> String {
    let buffer = CAPTURED.get().expect("call logs::capture() first");
    String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}

/// Fails if any secret value appears in the captured log.
pub fn assert_no_secret_logged(secrets: &[&str]) {
    let log = captured();
    for secret in secrets {
        assert!(
            !log.contains(secret),
            "secret value {secret:?} appeared in a log line:\n{log}"
        );
    }
}
