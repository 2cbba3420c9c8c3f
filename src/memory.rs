//! Memory given back to the system after a burst.
//!
//! A burst of envelopes (an outage's clicks, a flood of mentions) is read,
//! parsed and handled across the runtime's threads; when it is over,
//! glibc's malloc keeps most of what was freed in its arenas, one per
//! thread that allocated, and the process stays at the burst's peak (over
//! 100 MiB after 5,000 `@janus help`s, for a bot that holds a few MiB;
//! BENCHMARKS.md, "memory"). Two measures, both cheap: fewer arenas, set
//! before any thread exists, and a trim of the free pages once a burst has
//! settled. Other allocators (musl's) return memory on their own: there
//! this module does nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// How often the trimmer looks whether a burst is over: memory comes back
/// within two of these after the last envelope is settled.
const TICK: Duration = Duration::from_secs(2);

/// Arenas malloc may use. One: freed memory is not scattered over an arena
/// per thread that ever allocated, so a trim finds it; Janus's few threads
/// wait on the network, not on malloc's lock (ack latency measured the
/// same with 1 as with glibc's default, BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 1;

/// Caps malloc's arenas. Call first thing in `main`, before any thread
/// starts (an arena is made the first time a thread allocates under
/// contention). `MALLOC_ARENA_MAX` in the environment wins, as glibc reads
/// it itself.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tunable of the allocator; called
        // before other threads exist, it races nothing.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

/// Returns the allocator's free pages to the system (`malloc_trim`).
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the arenas' own locks; it is safe to call
    // from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims once a burst is over: when envelopes were settled since the last
/// trim, none is in flight, and none was settled during the last [`TICK`].
/// A steady trickle (an envelope every few seconds) trims now and then; a
/// sustained burst never, until it ends. Runs until `shutdown`.
pub async fn trim_after_bursts(metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let mut seen = metrics.envelopes_settled_total();
    let mut trimmed = seen;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        let now = metrics.envelopes_settled_total();
        let due = burst_over(seen, now, metrics.envelopes_in_flight(), trimmed);
        seen = now;
        if due {
            trimmed = now;
            // Walks every arena: off the runtime's workers.
            let _ = tokio::task::spawn_blocking(trim).await;
            tracing::debug!(
                envelopes = now,
                "returned free memory to the system after a burst"
            );
        }
    }
}

/// Whether to trim: envelopes were settled since the last trim (`trimmed`,
/// a count of settled envelopes), none in the last tick (`seen` then, `now`
/// now), and none is in flight.
fn burst_over(seen: u64, now: u64, in_flight: u64, trimmed: u64) -> bool {
    now == seen && in_flight == 0 && now != trimmed
}

#[cfg(test)]
mod tests {
    use super::burst_over;

    #[test]
    fn a_trim_follows_a_burst_once_it_is_quiet_and_only_once() {
        // Still arriving: no trim.
        assert!(!burst_over(100, 250, 0, 0));
        // Quiet for a tick, but envelopes in flight: not yet.
        assert!(!burst_over(250, 250, 3, 0));
        // Quiet, nothing in flight, new since the last trim: trim.
        assert!(burst_over(250, 250, 0, 0));
        // Nothing new since that trim: no second one.
        assert!(!burst_over(250, 250, 0, 250));
        // Idle since start: nothing to give back.
        assert!(!burst_over(0, 0, 0, 0));
    }
}
