use super::*;

#[test]
fn backoff_grows_and_caps() {
    assert_eq!(BACKOFF.delay(1), Duration::from_secs(1));
    assert_eq!(BACKOFF.delay(2), Duration::from_secs(2));
    assert_eq!(BACKOFF.delay(5), Duration::from_secs(16));
    assert_eq!(BACKOFF.delay(9), Duration::from_secs(256));
    assert_eq!(BACKOFF.delay(10), MAX_BACKOFF);
    assert_eq!(BACKOFF.delay(u32::MAX), MAX_BACKOFF);
}
