//! Recovery: finishing what a crash left half done.
//!
//! A replica can die between two steps of a declaration, after a change was
//! stored but before its line reached the channel, or before its control
//! and digest messages (or a Statuspage incident that follows it) showed it. What it left is all in the database, so
//! whoever looks next finishes it: every replica once at start
//! ([`at_start`]), and while running one elected replica, the leader, every
//! `recovery_interval` ([`run`]). Per-incident locks keep recovery off work
//! still in flight elsewhere, so a look that overlaps live work is harmless.
//! The leader also keeps the dedupe table small: delivery keys a day old
//! are deleted in small batches. And what Slack could not deliver while no
//! socket was open (timeline marks) is looked for when one opens again
//! ([`after_gaps`]).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::actors::Actors;
use crate::store::{Deliveries, Leases, Publications};

/// How old an unannounced change must be before recovery announces it: a
/// replica that made it a moment ago may still be posting its line.
const ANNOUNCE_SETTLED: Duration = Duration::from_secs(10);

/// How old a change Slack does not show must be before the leader renders
/// it again: younger ones may still be on their way to Slack.
const UNPUBLISHED_SETTLED: Duration = Duration::from_secs(30);

/// How old a status change Statuspage does not follow yet must be before
/// the leader follows it: longer than a live follow may take
/// (`FOLLOW_DEADLINE`), so it does not send a second update beside it.
const UNFOLLOWED_SETTLED: Duration = Duration::from_secs(120);

/// How old a delivery key must be before the leader forgets it. Slack
/// redelivers an unacked envelope within minutes; a day is room to spare.
const DELIVERY_KEPT: Duration = Duration::from_secs(24 * 60 * 60);

/// Delivery keys deleted per statement: small enough that a backlog of
/// millions (a first prune, or a leader that was down for days) never holds
/// a long transaction or a long lock, while other work goes on in between.
const PRUNE_BATCH: u32 = 1_000;

/// Starts finishing what a crash interrupted, beside new work: start-up
/// does not wait for Slack. The declarations and announcements run in a task
/// of the actors' tracker (so shutdown and `wait_idle` see them); the look
/// for changes Slack does not show is awaited, so the publisher has them
/// queued before the first envelope arrives.
pub(crate) async fn at_start(publications: &dyn Publications, actors: &Actors) {
    let resuming = actors.incident.clone();
    actors.tasks.spawn(async move {
        resuming.announce_missed(ANNOUNCE_SETTLED).await;
        resuming.resume().await;
    });
    // Statuspage follows what is stored (`statuspage.follow_incident`), in a
    // task of its own: declarations waiting on Slack do not hold it up.
    if let Some(statuspage) = actors.statuspage.clone() {
        actors
            .tasks
            .spawn(async move { statuspage.catch_up(Duration::ZERO).await });
    }
    // Every change counts at start: nothing of this replica is in flight yet.
    match publications.unpublished_changes(Duration::ZERO).await {
        Ok(ids) => actors.publisher.catch_up(ids),
        Err(e) => tracing::error!(error = %e, "cannot look for changes Slack does not show"),
    }
}

/// Looks for what happened in Slack while no socket was open — timeline
/// marks made or taken back — each time a socket opens after none was: at
/// start, and after every gap (Slack does not send what it could not
/// deliver). The look runs in the actors' tracker, so `wait_idle` and
/// shutdown see it.
pub(crate) async fn after_gaps(
    mut connected: tokio::sync::watch::Receiver<usize>,
    actors: Actors,
    shutdown: CancellationToken,
) {
    // Until the first look is under way, Janus is still starting: not idle.
    let mut starting = Some(actors.tasks.token());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            open = connected.wait_for(|n| *n > 0) => if open.is_err() { return },
        }
        let timeline = actors.timeline.clone();
        actors.tasks.spawn(async move { timeline.catch_up().await });
        starting.take();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            none = connected.wait_for(|n| *n == 0) => if none.is_err() { return },
        }
        tracing::info!("no socket open: what happens meanwhile is looked for once one is");
    }
}

/// Recovery while running, until `shutdown`: every `interval`, tries to
/// become the leader (a database lock it holds until it dies, so the next
/// replica takes over), and once leader looks for unfinished declarations
/// and changes Slack does not show, and prunes delivery keys a day old.
pub(crate) async fn run(
    leases: Arc<dyn Leases>,
    publications: Arc<dyn Publications>,
    deliveries: Arc<dyn Deliveries>,
    actors: Actors,
    interval: Duration,
    shutdown: CancellationToken,
) {
    // The leader lock, held for as long as this runs: dropping it (or this
    // process dying) hands recovery to the next replica that tries.
    let mut leader = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if leader.is_none() {
            match leases.try_become_leader().await {
                Ok(Some(lock)) => {
                    tracing::info!("this replica now runs recovery");
                    leader = Some(lock);
                }
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take part in the recovery election");
                    continue;
                }
            }
        }
        // The round counts as work in flight, so `wait_idle` waits for it.
        let _round = actors.tasks.token();
        actors.incident.announce_missed(ANNOUNCE_SETTLED).await;
        actors.incident.resume().await;
        if let Some(statuspage) = &actors.statuspage {
            statuspage.catch_up(UNFOLLOWED_SETTLED).await;
        }
        match publications.unpublished_changes(UNPUBLISHED_SETTLED).await {
            Ok(ids) => actors.publisher.catch_up(ids),
            Err(e) => tracing::warn!(error = %e, "cannot look for changes Slack does not show"),
        }
        prune_deliveries(&*deliveries, &shutdown).await;
    }
}

/// Deletes delivery keys older than [`DELIVERY_KEPT`], [`PRUNE_BATCH`] at a
/// time, until none is left or `shutdown`. A failure is logged and left for
/// the next round.
async fn prune_deliveries(deliveries: &dyn Deliveries, shutdown: &CancellationToken) {
    let mut total = 0;
    while !shutdown.is_cancelled() {
        match deliveries
            .prune_deliveries(DELIVERY_KEPT, PRUNE_BATCH)
            .await
        {
            Ok(deleted) => {
                total += deleted;
                if deleted < u64::from(PRUNE_BATCH) {
                    break;
                }
                // Let the work a batch held up go first.
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot prune old delivery keys");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(deleted = total, "pruned delivery keys older than a day");
    }
}
