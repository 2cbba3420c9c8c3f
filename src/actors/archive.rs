//! Archiving: `incident.archive_after` after an incident is resolved, its
//! channel is archived (`conversations.archive`), with a line in the
//! channel an hour before when the delay is longer than an hour. Reopening
//! before then cancels it: only resolved incidents are looked at, and a
//! new resolution starts a new wait.
//!
//! Like the reminders (whose rounds run this), due times follow from what
//! is stored — when the incident was resolved — and each step is claimed in
//! the database (`reminders`, keyed by the resolution's time) before it is
//! done, so a restart or a second replica does it once. The digest says the
//! channel is archived once it is.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::reminders::RemindersHandle;
use super::view;
use crate::render::context::ArchiveNotice;
use crate::store::{IncidentId, ReminderClaim, ReminderKind};

/// How long before archiving the channel is told, when the delay allows.
const NOTICE_BEFORE: Duration = Duration::from_secs(3600);

impl RemindersHandle {
    /// Archives (and gives notice for) what is due at `now`; the next due
    /// time, if one is planned.
    pub(super) async fn archive_round(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after = self.ctx.config.incident.archive_after?;
        let resolved = match self.store.resolved_unarchived().await {
            Ok(resolved) => resolved,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read resolved incidents to archive");
                return None;
            }
        };
        let mut next: Option<DateTime<Utc>> = None;
        for (id, resolved_at) in resolved {
            let due = resolved_at + after;
            if after > NOTICE_BEFORE {
                let notice = due - NOTICE_BEFORE;
                if notice <= now && now < due {
                    self.archive_step(id, resolved_at, ReminderKind::ArchiveNotice, now, notice)
                        .await;
                } else if now < notice {
                    next = Some(next.map_or(notice, |n| n.min(notice)));
                }
            }
            if due <= now {
                self.archive_step(id, resolved_at, ReminderKind::Archive, now, due)
                    .await;
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    /// Claims one step of one incident's archiving and, when this replica
    /// got it, does it.
    async fn archive_step(
        &self,
        id: IncidentId,
        resolved_at: DateTime<Utc>,
        kind: ReminderKind,
        now: DateTime<Utc>,
        due: DateTime<Utc>,
    ) {
        // Read again: a reopening since the round began cancels it.
        let incident = match self.incidents.incident(id).await {
            Ok(Some(incident))
                if incident.resolved_at == Some(resolved_at) && incident.archived_at.is_none() =>
            {
                incident
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(incident = id.0, error = %e, "cannot read the incident to archive");
                return;
            }
        };
        let Some(channel) = incident.channel_id.clone() else {
            return;
        };
        let claim = ReminderClaim {
            incident: id,
            kind,
            since: resolved_at,
            late: (now - due).to_std().unwrap_or_default(),
            posted: true,
        };
        match self.store.claim_reminder(&claim).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(incident = id.0, error = %e, "cannot claim an archiving step");
                return;
            }
        }
        let done = match kind {
            ReminderKind::ArchiveNotice => {
                let notice = ArchiveNotice {
                    incident: view::incident(
                        &incident,
                        &self.ctx.config.incident.catalog,
                        view::SHORT_DESCRIPTION_CHARS,
                    ),
                    in_: "1 hour".to_owned(),
                };
                match self.ctx.renderer.render_context(&notice) {
                    Ok(blocks) => self
                        .ctx
                        .slack
                        .post_message(
                            &channel,
                            "This channel will be archived in about an hour",
                            &blocks,
                            None,
                        )
                        .await
                        .map(|_| ()),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot render the archive notice");
                        return;
                    }
                }
            }
            _ => self.ctx.slack.archive_channel(&channel).await,
        };
        match done {
            Ok(()) if kind == ReminderKind::Archive => {
                tracing::info!(incident = id.0, channel = %channel, "incident channel archived");
                if let Err(e) = self.store.set_archived(id).await {
                    tracing::warn!(incident = id.0, error = %e, "cannot record the archiving");
                }
                self.publisher.refresh(id);
            }
            Ok(()) => tracing::info!(incident = id.0, "archive notice posted"),
            Err(e) => {
                tracing::warn!(incident = id.0, kind = kind.as_str(), error = %e,
                    "cannot archive the incident channel");
                // Not reached: the next round tries again.
                if e.code().is_none()
                    && !e.may_have_taken_effect()
                    && let Err(e) = self.store.release_reminder(&claim).await
                {
                    tracing::warn!(incident = id.0, error = %e, "cannot give an archiving step back");
                }
            }
        }
    }
}
