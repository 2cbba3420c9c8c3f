//! When a Slack call is sent again, and when it waits: which methods are
//! safe to repeat, the backoff between attempts, the arithmetic of a call's
//! time budget, and the per-method 429 gates every clone of the client
//! shares.
//!
//! No HTTP here: `mod.rs` sends, this file decides.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Methods that may be sent again after a timeout, a lost connection or a
/// 5xx, because doing them twice leaves Slack as doing them once: reads,
/// and writes that set a state (`chat.update` to the same content, a pin, a
/// topic, a membership, a reaction: the second answers `already_…`, which
/// the client or the caller treats as done).
///
/// Everything else is not: `chat.postMessage`, `chat.postEphemeral`,
/// `conversations.create`, `views.open`, `bookmarks.add` and `response_url`
/// would post, create or open twice (Slack has no idempotency key). An
/// unlisted method counts as not safe, so a new one is never repeated by
/// accident. A 429 is another matter: Slack did not act on it, so every
/// method waits and sends again after one.
const RETRY_SAFE: [&str; 21] = [
    // Writes that set a state (or remove one).
    "chat.update",
    "chat.delete",
    "pins.add",
    "conversations.setTopic",
    "conversations.invite",
    "conversations.join",
    "conversations.open",
    "reactions.add",
    "reactions.remove",
    "conversations.archive",
    // Reads.
    "auth.test",
    "apps.connections.open",
    "conversations.list",
    "conversations.history",
    "conversations.replies",
    "conversations.info",
    "conversations.members",
    "chat.getPermalink",
    "usergroups.list",
    "usergroups.users.list",
    "users.info",
];

/// Reads that page through a workspace-sized list: Slack may take longer
/// to answer them, so their attempts get `SlackTuning::list_timeout`.
const LIST_READS: [&str; 5] = [
    "conversations.list",
    "conversations.history",
    "conversations.replies",
    "usergroups.list",
    "usergroups.users.list",
];

/// Whether `method` may be sent again after a failure that leaves unknown
/// whether Slack acted (see [`RETRY_SAFE`]).
pub(crate) fn is_retry_safe(method: &str) -> bool {
    RETRY_SAFE.contains(&method)
}

/// Whether `method` is a paged list read, which gets the longer timeout.
pub(crate) fn is_list_read(method: &str) -> bool {
    LIST_READS.contains(&method)
}

/// How many attempts a retry-safe call makes when they time out or fail
/// (429s not counted: those are bounded by the time budget alone).
pub(crate) const MAX_ATTEMPTS: u32 = 5;
/// The pause after the first failed attempt; it doubles after each one.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest pause between two attempts.
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// The pause after `failures` (≥ 1) failed attempts: capped exponential,
/// with half of it random ("equal jitter", `unit` in `[0, 1)`), so callers
/// that failed together do not come back together, yet none comes back at
/// once.
pub(crate) fn backoff(failures: u32, unit: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let full = BACKOFF_BASE.saturating_mul(1 << exp).min(BACKOFF_CAP);
    full / 2 + (full / 2).mul_f64(unit.clamp(0.0, 1.0))
}

/// How long the next attempt may take: its own timeout, cut to what is left
/// of the call's budget; `None` when nothing is left.
pub(crate) fn attempt_timeout(
    per_attempt: Duration,
    now: Instant,
    deadline: Instant,
) -> Option<Duration> {
    let left = deadline.saturating_duration_since(now);
    (!left.is_zero()).then(|| per_attempt.min(left))
}

/// Whether a call that would be ready to send at `ready` (after a pause or
/// the end of a 429 block) still has time for an attempt.
pub(crate) fn fits(ready: Instant, deadline: Instant) -> bool {
    ready < deadline
}

/// The method stays blocked (429) past the caller's deadline, or the line
/// of callers before it does: given up without sending.
#[derive(Debug)]
pub(crate) struct GaveUp;

/// Per-method 429 state, shared by every clone of one client (it is in an
/// `Arc`): when Slack answers 429 for a method, every caller of that method
/// waits for the `Retry-After`, while other methods go on.
///
/// A std `Mutex`: held for a map or field update, never across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct RateGates {
    gates: Mutex<HashMap<&'static str, Arc<Gate>>>,
}

/// One method's gate.
///
/// Fairness: callers that find the method blocked (or others already
/// waiting) queue on `line`, a one-permit semaphore; tokio's semaphore hands
/// permits out in the order they were asked for, so waiters go in arrival
/// order. The first one through after a block is a probe: it keeps the
/// permit (and its place in line) until Slack answered, so if that answer
/// is another 429 the new block is recorded before the next waiter looks,
/// and one request, not the whole queue, meets the renewed limit. Once the
/// probe got through, the rest of the line goes one after the other without
/// waiting for answers. A caller finding no block and nobody in line sends
/// at once without touching the semaphore: the common case costs one lock.
#[derive(Debug)]
struct Gate {
    state: Mutex<GateState>,
    line: Arc<Semaphore>,
}

#[derive(Debug, Default)]
struct GateState {
    /// Slack's `Retry-After` for this method ends then.
    blocked_until: Option<Instant>,
    /// Callers queued on (or holding) `line`.
    in_line: usize,
}

impl Gate {
    fn state(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The end of the current block, if it is still in the future.
    fn blocked_until(&self, now: Instant) -> Option<Instant> {
        self.state().blocked_until.filter(|until| *until > now)
    }
}

/// A place in a method's line, given back on drop (also when the waiting
/// caller is cancelled).
#[derive(Debug)]
struct InLine(Arc<Gate>);

impl Drop for InLine {
    fn drop(&mut self) {
        self.0.state().in_line -= 1;
    }
}

/// Leave to send one request. A probe (the first request after a block)
/// holds its method's line until dropped: drop it once Slack answered, and
/// after recording any new block.
#[derive(Debug)]
pub(crate) struct Turn {
    _probe: Option<(OwnedSemaphorePermit, InLine)>,
}

impl RateGates {
    fn gate(&self, method: &'static str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(method)
            .or_insert_with(|| {
                Arc::new(Gate {
                    state: Mutex::default(),
                    line: Arc::new(Semaphore::new(1)),
                })
            })
            .clone()
    }

    /// Slack said `method` may not be called again before `until`. A later
    /// end never moves earlier: concurrent 429s keep the longest.
    pub(crate) fn block(&self, method: &'static str, until: Instant) {
        let gate = self.gate(method);
        let mut state = gate.state();
        state.blocked_until = Some(state.blocked_until.map_or(until, |u| u.max(until)));
    }

    /// Until `method` may be sent, in line behind the callers already
    /// waiting for it. [`GaveUp`] at once when the block outlasts
    /// `deadline` (waiting could only end in giving up), or when `deadline`
    /// passes in line.
    pub(crate) async fn wait_turn(
        &self,
        method: &'static str,
        deadline: Instant,
    ) -> Result<Turn, GaveUp> {
        let gate = self.gate(method);
        let in_line = {
            let mut state = gate.state();
            let now = Instant::now();
            match state.blocked_until.filter(|until| *until > now) {
                None if state.in_line == 0 => return Ok(Turn { _probe: None }),
                Some(until) if !fits(until, deadline) => return Err(GaveUp),
                _ => {}
            }
            state.in_line += 1;
            InLine(gate.clone())
        };
        let permit =
            match tokio::time::timeout_at(deadline, gate.line.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                // The semaphore is never closed; the deadline passed in line.
                Ok(Err(_)) | Err(_) => return Err(GaveUp),
            };
        let mut waited = false;
        while let Some(until) = gate.blocked_until(Instant::now()) {
            if !fits(until, deadline) {
                return Err(GaveUp);
            }
            tokio::time::sleep_until(until).await;
            waited = true;
        }
        Ok(Turn {
            _probe: waited.then_some((permit, in_line)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_creations_and_modals_are_never_repeated_and_reads_and_state_writes_are() {
        for method in [
            "chat.postMessage",
            "chat.postEphemeral",
            "conversations.create",
            "views.open",
            "bookmarks.add",
            "response_url",
            "some.newMethod",
        ] {
            assert!(!is_retry_safe(method), "{method}");
        }
        for method in [
            "chat.update",
            "pins.add",
            "conversations.invite",
            "conversations.list",
            "auth.test",
            "apps.connections.open",
        ] {
            assert!(is_retry_safe(method), "{method}");
        }
    }

    #[test]
    fn list_reads_are_retry_safe_and_writes_are_not_list_reads() {
        assert!(LIST_READS.iter().all(|m| is_retry_safe(m)));
        assert!(is_list_read("conversations.history"));
        assert!(!is_list_read("chat.update"));
        assert!(!is_list_read("conversations.info"));
    }

    #[test]
    fn backoff_doubles_keeps_half_fixed_and_stops_at_the_cap() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(1, 0.999_999).as_millis(), 199);
        assert_eq!(backoff(2, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(3, 0.5), Duration::from_millis(600));
        assert_eq!(backoff(30, 0.0), BACKOFF_CAP / 2);
        assert!(backoff(u32::MAX, 1.0) <= BACKOFF_CAP);
    }

    #[test]
    fn an_attempt_gets_its_timeout_or_what_is_left_of_the_budget() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let deadline = now + 10 * second;
        assert_eq!(attempt_timeout(second, now, deadline), Some(second));
        assert_eq!(
            attempt_timeout(5 * second, now + 7 * second, deadline),
            Some(3 * second)
        );
        assert_eq!(attempt_timeout(second, deadline, deadline), None);
        assert_eq!(attempt_timeout(second, deadline + second, deadline), None);
        assert!(fits(deadline - second, deadline));
        assert!(!fits(deadline, deadline));
    }

    #[tokio::test]
    async fn a_block_past_the_deadline_gives_up_at_once_and_other_methods_go_on() {
        let gates = RateGates::default();
        let now = Instant::now();
        gates.block("conversations.create", now + Duration::from_secs(60));
        let deadline = now + Duration::from_secs(5);
        assert!(
            gates
                .wait_turn("conversations.create", deadline)
                .await
                .is_err()
        );
        assert!(gates.wait_turn("chat.postMessage", deadline).await.is_ok());
    }

    #[tokio::test]
    async fn a_shorter_block_never_shortens_a_longer_one() {
        let gates = RateGates::default();
        let now = Instant::now();
        gates.block("pins.add", now + Duration::from_secs(30));
        gates.block("pins.add", now + Duration::from_secs(1));
        assert_eq!(
            gates.gate("pins.add").blocked_until(now),
            Some(now + Duration::from_secs(30))
        );
    }

    /// Real time, kept short: the crate does not build tokio's paused clock.
    #[tokio::test]
    async fn waiters_go_in_arrival_order_and_newcomers_queue_behind_them() {
        let gates = Arc::new(RateGates::default());
        let start = Instant::now();
        let block = Duration::from_millis(200);
        gates.block("conversations.create", start + block);
        let deadline = start + Duration::from_secs(60);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..4 {
            let (waiter, tx) = (gates.clone(), tx.clone());
            tokio::spawn(async move {
                let turn = waiter.wait_turn("conversations.create", deadline).await;
                tx.send((i, Instant::now())).unwrap();
                // An answer takes a while; a probe's line waits for it.
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(turn);
            });
            // Each is in line before the next one starts.
            while gates.gate("conversations.create").state().in_line <= i {
                tokio::task::yield_now().await;
            }
        }
        drop(tx);
        let mut order = Vec::new();
        while let Some((i, at)) = rx.recv().await {
            assert!(at >= start + block, "{i} went before the block ended");
            order.push(i);
        }
        assert_eq!(order, [0, 1, 2, 3]);
        // Once the line is empty, the fast path is back.
        let turn = gates.wait_turn("conversations.create", deadline).await;
        assert!(turn.is_ok_and(|t| t._probe.is_none()));
    }

    #[tokio::test]
    async fn a_probe_answered_429_keeps_the_rest_of_the_line_waiting() {
        let gates = RateGates::default();
        let start = Instant::now();
        gates.block("chat.update", start + Duration::from_millis(100));
        let deadline = start + Duration::from_secs(60);
        let probe = gates.wait_turn("chat.update", deadline).await.unwrap();
        assert!(probe._probe.is_some(), "the first through after a block");
        // While the probe is out, a newcomer queues even though the block
        // has ended...
        let next = gates.wait_turn("chat.update", deadline);
        tokio::pin!(next);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), &mut next)
                .await
                .is_err()
        );
        // ...and when the probe meets a new 429, it waits for that too.
        let renewed = Instant::now() + Duration::from_millis(200);
        gates.block("chat.update", renewed);
        drop(probe);
        next.await.unwrap();
        assert!(Instant::now() >= renewed);
    }
}
