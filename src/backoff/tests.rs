use super::*;

#[test]
fn jitter_stays_within_bounds() {
    for _ in 0..100 {
        let wait = jittered(Duration::from_secs(60), Duration::from_secs(10));
        assert!(wait >= Duration::from_secs(60) && wait <= Duration::from_secs(70));
    }
    assert_eq!(
        jittered(Duration::from_secs(5), Duration::ZERO),
        Duration::from_secs(5)
    );
}

#[test]
fn jittered_backoff_adds_at_most_a_tenth() {
    let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
    for failures in 1..12 {
        let base = backoff.delay(failures);
        let wait = backoff.jittered(failures);
        assert!(
            wait >= base && wait <= base + base / 10,
            "{failures}: {wait:?}"
        );
    }
}
