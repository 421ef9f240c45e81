use super::*;

#[test]
fn retries_back_off_up_to_the_poll_interval() {
    let poll = Duration::from_secs(60);
    assert_eq!(retry_or_poll_delay(0, poll), poll);
    assert_eq!(retry_or_poll_delay(1, poll), Duration::from_secs(1));
    assert_eq!(retry_or_poll_delay(3, poll), Duration::from_secs(4));
    assert_eq!(retry_or_poll_delay(7, poll), poll);
    assert_eq!(retry_or_poll_delay(u32::MAX, poll), poll);
}
