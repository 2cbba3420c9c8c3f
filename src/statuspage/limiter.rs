//! Spacing of requests: Statuspage allows one request per second per key.

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

/// Hands out send slots, one at a time, in arrival order.
///
/// A slot is held for the whole request, and the next one opens `interval`
/// after the previous answer came back. Counting from the answer rather
/// than from the send is what makes the limit hold where Statuspage counts
/// it: a request reaches the server before its answer reaches us, so two
/// requests can never *arrive* closer than `interval`, however the network
/// delays the first. The price is one request in flight at a time, which at
/// one request a second costs nothing.
///
/// A tokio `Mutex` (not a std one) because the slot is held across awaits;
/// tokio's is also fair, so waiting callers go in the order they asked.
#[derive(Debug)]
pub(crate) struct Limiter {
    interval: Duration,
    /// The earliest moment the next request may be sent.
    next: Mutex<Instant>,
}

/// The right to send one request, until dropped.
pub(crate) struct Slot<'a> {
    next: MutexGuard<'a, Instant>,
    interval: Duration,
}

impl Limiter {
    pub(crate) fn new(interval: Duration) -> Self {
        Limiter {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the slot; send, and drop it once the answer is in.
    pub(crate) async fn slot(&self) -> Slot<'_> {
        let next = self.next.lock().await;
        tokio::time::sleep_until(*next).await;
        Slot {
            next,
            interval: self.interval,
        }
    }
}

impl Slot<'_> {
    /// Sends nothing before `until` (a `Retry-After`, a backoff): every
    /// caller of the client waits, not only the one that was told.
    pub(crate) fn hold_until(&mut self, until: Instant) {
        *self.next = (*self.next).max(until);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let earliest = Instant::now() + self.interval;
        *self.next = (*self.next).max(earliest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(40);

    #[tokio::test]
    async fn the_next_slot_opens_an_interval_after_the_last_one_closed() {
        let limiter = Limiter::new(TICK);
        let start = Instant::now();
        drop(limiter.slot().await);
        assert!(start.elapsed() < TICK);

        let slow = limiter.slot().await;
        assert!(start.elapsed() >= TICK);
        tokio::time::sleep(2 * TICK).await; // a slow answer
        let closed = Instant::now();
        drop(slow);

        drop(limiter.slot().await);
        assert!(closed.elapsed() >= TICK);
    }

    #[tokio::test]
    async fn a_hold_pushes_the_next_slot_back() {
        let limiter = Limiter::new(TICK);
        let mut slot = limiter.slot().await;
        let held = Instant::now();
        slot.hold_until(held + 3 * TICK);
        drop(slot);
        drop(limiter.slot().await);
        assert!(held.elapsed() >= 3 * TICK);
    }
}
