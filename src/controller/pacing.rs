//! Fleet-wide pacing of OpsRequest creation. A commit that changes every database (a version
//! bump) would otherwise create an OpsRequest per database at once: the API server throttles
//! the burst, and KubeDB's operator queues hundreds of requests it then runs side by side.
//! Each creation takes a turn from one token bucket; a database without a turn waits, says
//! so in its status, and is reconciled again when the next turn is due.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub(crate) struct Pacing {
    limiter: DefaultDirectRateLimiter,
    per_second: NonZeroU32,
}

impl Pacing {
    /// At most `per_second` creations per second, and at most that many at once.
    pub(crate) fn new(per_second: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::direct(Quota::per_second(per_second)),
            per_second,
        }
    }

    /// Takes a turn to create an OpsRequest now, or says how long until the next turn.
    pub(crate) fn take(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// What a database waiting for its turn shows in its status.
    pub(crate) fn waiting_reason(&self) -> String {
        format!(
            "OpsRequests are created at most {} per second across the fleet \
             (reconcile.max_ops_requests_per_second); this one waits its turn",
            self.per_second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_gets_as_many_turns_as_the_rate_then_waits_under_a_second() {
        let pacing = Pacing::new(NonZeroU32::new(5).unwrap());
        let turns = (0..20).filter(|_| pacing.take().is_ok()).count();
        assert_eq!(turns, 5);
        let wait = pacing.take().unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        assert!(pacing.waiting_reason().contains("5 per second"));
    }
}
