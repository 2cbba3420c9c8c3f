//! Reminders: an open incident whose channel heard no update for its
//! severity's `reminders.update_every` gets a reminder there, mentioning the
//! commander (or `<!here>` when nobody holds the role); one whose commander
//! role is still free `reminders.unclaimed_commander_after` after the
//! declaration is told so, once.
//!
//! Due times are not kept in memory, nor planned when things change: each
//! round reads, for every open incident, when its current quiet period began
//! — the latest of the declaration's completion, the last `update` in its
//! history, the last reopening and the last reminder — and adds the interval
//! of its *current* severity. So an update posted by anyone, a severity
//! change, a resolution (resolved incidents are not read) or a reopening
//! replans by itself, on every replica alike, and a reminder that fell due
//! while Janus was down is due once at start: the reminder itself starts
//! the next period.
//!
//! A reminder is claimed in the database (`reminders`, keyed by incident,
//! kind and period) before it is posted, and no transaction is held across
//! the post: of two replicas, or a restart, one posts it. A post Slack did
//! not receive (not reached, rate limited past the call's budget) gives the
//! claim back for the next round; one Slack may have taken (a timeout) is
//! not posted again. A crash between the claim and the post loses that one
//! reminder: the next comes a period later.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::publisher::PublisherHandle;
use super::{Context, view};
use crate::domain::text::spoken;
use crate::render::context::{CommanderReminder, UpdateReminder};
use crate::store::{Incidents, QuietIncident, ReminderClaim, ReminderKind, Reminders};

/// The shortest pause between two rounds, so a due time a hair away never
/// spins the loop.
const MIN_PAUSE: Duration = Duration::from_millis(10);

/// Claims and posts reminders; cheap to clone.
#[derive(Clone)]
pub struct RemindersHandle {
    pub(super) ctx: Arc<Context>,
    pub(super) store: Arc<dyn Reminders>,
    pub(super) incidents: Arc<dyn Incidents>,
    /// Shows an archived channel in the digest.
    pub(super) publisher: PublisherHandle,
}

impl RemindersHandle {
    /// A handle over the reminders' store and the incidents they read.
    pub fn new(
        ctx: Arc<Context>,
        store: Arc<dyn Reminders>,
        incidents: Arc<dyn Incidents>,
        publisher: PublisherHandle,
    ) -> Self {
        Self {
            ctx,
            store,
            incidents,
            publisher,
        }
    }

    /// One round: posts every reminder due now (once claimed), and says how
    /// long until the next one is due (`None`: none is planned).
    pub async fn round(&self) -> Option<Duration> {
        let settings = &self.ctx.config.reminders;
        if settings.update_every.is_empty()
            && settings.unclaimed_commander_after.is_none()
            && self.ctx.config.incident.archive_after.is_none()
        {
            return None;
        }
        let resolved = self.ctx.config.incident.catalog.resolved_status().value();
        let (now, incidents) = match self.store.quiet_incidents(resolved).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read open incidents for reminders");
                return None;
            }
        };
        let mut next: Option<DateTime<Utc>> = None;
        let mut plan = |at: DateTime<Utc>| next = Some(next.map_or(at, |n| n.min(at)));
        for incident in &incidents {
            if let Some(every) = settings.update_every(&incident.severity) {
                let since = incident.quiet_since();
                let due = since + every;
                if due <= now {
                    self.remind(incident, ReminderKind::Update, since, now, due)
                        .await;
                    // Whoever posted it, the next period starts about now.
                    plan(now + every);
                } else {
                    plan(due);
                }
            }
            if let Some(after) = settings.unclaimed_commander_after
                && !incident.commander_checked
            {
                let since = incident.completed_at;
                let due = since + after;
                if due <= now {
                    self.remind(incident, ReminderKind::Commander, since, now, due)
                        .await;
                } else {
                    plan(due);
                }
            }
        }
        if let Some(at) = self.archive_round(now).await {
            plan(at);
        }
        next.map(|at| (at - now).to_std().unwrap_or_default())
    }

    /// Claims one due reminder and, when this replica got it, posts it.
    async fn remind(
        &self,
        quiet: &QuietIncident,
        kind: ReminderKind,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        due: DateTime<Utc>,
    ) {
        // Read again, whole: the holder to mention may have changed since
        // the round began, and a resolution ends it.
        let incident = match self.incidents.incident(quiet.id).await {
            Ok(Some(incident)) if incident.resolved_at.is_none() => incident,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(incident = quiet.id.0, error = %e, "cannot read the incident to remind");
                return;
            }
        };
        let Some(channel) = incident.channel_id.clone() else {
            return;
        };
        let catalog = &self.ctx.config.incident.catalog;
        // The commander is the catalog's first role.
        let Some(role) = catalog.roles().first() else {
            return;
        };
        let commander = incident.holder(role.key()).cloned();
        // A commander who arrived in time settles the check without a word.
        let posted = kind == ReminderKind::Update || commander.is_none();
        let claim = ReminderClaim {
            incident: incident.id,
            kind,
            since,
            late: (now - due).to_std().unwrap_or_default(),
            posted,
        };
        match self.store.claim_reminder(&claim).await {
            Ok(true) => {}
            // Another replica (or an earlier round) has it.
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(incident = incident.id.0, kind = kind.as_str(), error = %e, "cannot claim a reminder");
                return;
            }
        }
        if !posted {
            tracing::debug!(
                incident = incident.id.0,
                "the commander role was claimed in time"
            );
            return;
        }
        let view = view::incident(&incident, catalog, view::SHORT_DESCRIPTION_CHARS);
        let rendered = match kind {
            // Archiving is `archive`'s, not a reminder's.
            ReminderKind::ArchiveNotice | ReminderKind::Archive => return,
            ReminderKind::Update => self.ctx.renderer.render_context(&UpdateReminder {
                incident: view,
                commander,
                role: role.label().to_owned(),
                quiet_for: spoken((now - since).to_std().unwrap_or_default()),
            }),
            ReminderKind::Commander => self.ctx.renderer.render_context(&CommanderReminder {
                incident: view,
                role: role.label().to_owned(),
                after: spoken((due - since).to_std().unwrap_or_default()),
            }),
        };
        let blocks = match rendered {
            Ok(blocks) => blocks,
            Err(e) => {
                tracing::error!(kind = kind.as_str(), error = %e, "cannot render a reminder");
                return;
            }
        };
        let text = match kind {
            ReminderKind::ArchiveNotice | ReminderKind::Archive => return,
            ReminderKind::Update => "No update for a while: time to post one",
            ReminderKind::Commander => "Nobody has claimed the commander role yet",
        };
        match self
            .ctx
            .slack
            .post_message(&channel, text, &blocks, None)
            .await
        {
            Ok(_) => {
                tracing::info!(
                    incident = incident.id.0,
                    kind = kind.as_str(),
                    "reminder posted"
                );
            }
            Err(e) => {
                tracing::warn!(incident = incident.id.0, kind = kind.as_str(), channel = %channel, error = %e, "cannot post a reminder");
                // Slack did not take it and may yet: the next round tries again.
                if e.code().is_none()
                    && !e.may_have_taken_effect()
                    && let Err(e) = self.store.release_reminder(&claim).await
                {
                    tracing::warn!(incident = incident.id.0, error = %e, "cannot give a reminder back");
                }
            }
        }
    }
}

/// Runs reminder rounds until `shutdown`: at start (`first` is the start's
/// round, taken before the app returned so `wait_idle` waits for it), then
/// whenever the next reminder is due, and at least every `tick`, so a new
/// incident or a change made on another replica is seen within it. Each
/// round counts as work in flight (`wait_idle`, shutdown) while it runs.
pub async fn run(
    handle: RemindersHandle,
    tasks: TaskTracker,
    tick: Duration,
    first: TaskTrackerToken,
    shutdown: CancellationToken,
) {
    let mut first = Some(first);
    loop {
        let round = first.take().unwrap_or_else(|| tasks.token());
        let next = handle.round().await;
        drop(round);
        let pause = next.map_or(tick, |next| next.min(tick)).max(MIN_PAUSE);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
