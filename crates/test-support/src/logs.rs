//! Captures every tracing event of the test binary (TRACE and up) in memory.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

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

/// Installs the capturing subscriber once per test binary.
pub fn capture() {
    CAPTURED.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || CaptureWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        buffer
    });
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
