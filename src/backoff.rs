//! Capped exponential backoff with jitter, shared by everything that retries
//! a connection: Socket Mode reconnects and start-up's wait for the database
//! and Slack.

use std::time::Duration;

/// Each delay is drawn from the upper half of the current step, so replicas
/// that lost a peer at the same moment do not come back in lockstep. The
/// step doubles from `base` up to `cap`.
#[derive(Debug)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, never waits longer than `cap`.
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next delay; each call doubles the step until the cap.
    pub(crate) fn next(&mut self) -> Duration {
        let step = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Back to `base`: the peer proved healthy.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_stays_under_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = b.next();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..40 {
            assert!(b.next() <= Duration::from_secs(2));
        }
        let late = b.next();
        assert!(late >= Duration::from_secs(1), "{late:?}");
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
    }
}
