//! Following (`statuspage.follow_incident`): the linked Statuspage incident
//! moves with the incident's status.
//!
//! A status change is stored first; then [`StatuspageActor::follow`] starts
//! (or asks for one more round of) the incident's follow task and returns:
//! neither the person who clicked nor the incident's lane waits for
//! Statuspage, and other incidents follow side by side.
//!
//! What must stay true:
//! - **one task per incident**, and a round reads the incident and its link
//!   from the database, so requests that arrive meanwhile merge into one
//!   more round and the last status stored is the last one sent (never an
//!   older one after it);
//! - **once per change**: `followed_status` records which incident status
//!   the Statuspage incident reflects; a round with nothing new to follow
//!   (a redelivered click, a second replica's round) sends nothing;
//! - a person's own create or update records the incident's status as
//!   followed, so following never undoes what a person published;
//! - the per-incident lock ([`IncidentLocks`]) is held across the PATCH
//!   and its record, and a person's submit takes it too, so the two never
//!   interleave on one incident;
//! - every move has a deadline ([`FOLLOW_DEADLINE`], on top of the client's
//!   per-request timeout and bounded retries); when Janus gives up, the
//!   incident channel is told in words and the move is recorded as handled
//!   (people were asked to post it themselves), so nothing retries forever.
//!   A crash before the record leaves it unfollowed, and recovery
//!   ([`crate::recovery`]) finds it with `unfollowed_statuspage`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::OwnedMutexGuard;
use tracing::Instrument;

use super::StatuspageActor;
use crate::domain::text::SlackText;
use crate::statuspage::{
    ComponentId, FollowMessage, IncidentId as PageId, IncidentStatus, StatuspageError,
};
use crate::store::{FollowedMove, IncidentId};

/// The longest one followed move may take, retries and rate-limit waits
/// included. Recovery leaves younger changes alone (see
/// `crate::recovery`), so it must stay below their settling time.
pub const FOLLOW_DEADLINE: Duration = Duration::from_secs(60);

/// Rounds one follow task runs before it stops chasing changes (the next
/// change starts another).
const MAX_ROUNDS: usize = 4;

/// One async lock per incident with Statuspage work in flight; entries go
/// when nobody holds or waits for them.
#[derive(Default)]
pub(super) struct IncidentLocks {
    locks: Mutex<HashMap<IncidentId, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while one incident's Statuspage incident is being changed.
pub(super) struct IncidentGuard<'a> {
    locks: &'a IncidentLocks,
    id: IncidentId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl IncidentLocks {
    /// Waits for, then holds, incident `id`'s lock.
    pub(super) async fn lock(&self, id: IncidentId) -> IncidentGuard<'_> {
        let lock = self
            .locks
            .lock()
            .expect("incident locks poisoned")
            .entry(id)
            .or_default()
            .clone();
        IncidentGuard {
            locks: self,
            id,
            guard: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for IncidentGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut locks = self.locks.locks.lock().expect("incident locks poisoned");
        // Only the map's own handle left: nobody holds or waits.
        if locks
            .get(&self.id)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.id);
        }
    }
}

/// What one round did.
#[derive(Debug, PartialEq, Eq)]
enum Round {
    /// Nothing (left) to follow, or it gave up: stop.
    Done,
    /// Moved the Statuspage incident: look again, the status may have
    /// moved meanwhile (on this replica or another).
    Moved,
}

/// Why a move did not happen.
enum Failure {
    Statuspage(StatuspageError),
    /// [`FOLLOW_DEADLINE`] passed.
    TooSlow,
}

impl StatuspageActor {
    /// Brings incident `id`'s Statuspage incident in line with its stored
    /// status, in a task of its own; returns at once. A no-op unless
    /// `statuspage.follow_incident` is on.
    pub(super) fn follow(self: &Arc<Self>, id: IncidentId) {
        if self.policy().is_none() {
            return;
        }
        {
            let mut running = self.following.lock().expect("follow state poisoned");
            if let Some(again) = running.get_mut(&id) {
                *again = true;
                return;
            }
            running.insert(id, false);
        }
        let actor = self.clone();
        let span = tracing::info_span!("statuspage_follow", incident = %id);
        self.ctx.tasks.spawn(
            async move {
                loop {
                    actor.follow_rounds(id).await;
                    let mut running = actor.following.lock().expect("follow state poisoned");
                    match running.get_mut(&id) {
                        Some(again) if *again => *again = false,
                        _ => {
                            running.remove(&id);
                            return;
                        }
                    }
                }
            }
            .instrument(span),
        );
    }

    /// Follows every incident a crash (or a Janus with following off) left
    /// unfollowed, changed at least `settled` ago.
    pub(super) async fn catch_up(self: &Arc<Self>, settled: Duration) {
        if self.policy().is_none() {
            return;
        }
        match self.links.unfollowed_statuspage(settled).await {
            Ok(ids) => {
                if !ids.is_empty() {
                    tracing::info!(
                        count = ids.len(),
                        "following status changes Statuspage does not show yet"
                    );
                }
                for id in ids {
                    self.follow(id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for unfollowed status changes"),
        }
    }

    pub(super) fn policy(&self) -> Option<&crate::statuspage::FollowPolicy> {
        self.ctx.config.statuspage.as_ref()?.follow.as_ref()
    }

    async fn follow_rounds(&self, id: IncidentId) {
        for _ in 0..MAX_ROUNDS {
            if self.follow_once(id).await == Round::Done {
                return;
            }
        }
    }

    /// One look: what the incident's status maps to against what
    /// Statuspage was last set to, and the PATCH that closes the gap.
    async fn follow_once(&self, id: IncidentId) -> Round {
        let Some(policy) = self.policy() else {
            return Round::Done;
        };
        let _held = self.locks.lock(id).await;
        let incident = match self.incidents.incident(id).await {
            Ok(Some(incident)) => incident,
            Ok(None) => return Round::Done,
            Err(e) => {
                // Left unfollowed: recovery comes back to it.
                tracing::warn!(error = %e, "cannot read the incident to follow it on Statuspage");
                return Round::Done;
            }
        };
        let link = match self.links.statuspage_link(id).await {
            Ok(Some(link)) => link,
            Ok(None) => return Round::Done,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Statuspage link to follow it");
                return Round::Done;
            }
        };
        let Some(page_id) = link.statuspage_id.as_deref() else {
            return Round::Done;
        };
        if link.followed_status.as_deref() == Some(incident.status.as_str()) {
            return Round::Done;
        }
        let shown = link.status.as_deref().and_then(IncidentStatus::from_wire);
        let Some(target) = policy
            .target(&incident.status)
            .filter(|target| Some(*target) != shown)
        else {
            // Unmapped (leave Statuspage alone), or it already shows that.
            tracing::debug!(status = incident.status, "nothing to change on Statuspage");
            self.record_followed(id, &incident.status, None).await;
            return Round::Done;
        };
        let body = policy.message(shown, target).to_owned();
        let page_id = PageId::new(page_id);
        let touched: Vec<ComponentId> = link
            .touched_components
            .iter()
            .map(|c| ComponentId::new(c.as_str()))
            .collect();
        let patch = async {
            if target == IncidentStatus::Resolved {
                self.client
                    .resolve_incident(&page_id, &body, &touched, link.notify)
                    .await
            } else {
                self.client
                    .update_incident(&page_id, target, &body, &[], link.notify)
                    .await
            }
        };
        let result = match tokio::time::timeout(FOLLOW_DEADLINE, patch).await {
            Ok(Ok(page)) => Ok(page),
            Ok(Err(e)) => Err(Failure::Statuspage(e)),
            Err(_) => Err(Failure::TooSlow),
        };
        let page = match result {
            Ok(page) => page,
            Err(failure) => {
                self.gave_up(&incident, shown, target, failure).await;
                return Round::Done;
            }
        };
        let action = match FollowMessage::for_move(shown, target) {
            FollowMessage::Reopened => "reopened",
            FollowMessage::Resolved => "resolved",
            _ => "updated",
        };
        tracing::info!(
            statuspage_id = page.id.as_str(),
            from = shown.map(IncidentStatus::as_str),
            to = target.as_str(),
            status = incident.status,
            "followed the incident on Statuspage"
        );
        let moved = FollowedMove {
            status: page.status.as_str(),
            action,
            body: &body,
        };
        if !self
            .record_followed(id, &incident.status, Some(&moved))
            .await
        {
            // Unrecorded, recovery follows it again later: at worst one more
            // update line on Statuspage, never a wrong final status.
            return Round::Done;
        }
        if let Some(channel) = &incident.channel_id {
            let bot = self.ctx.bot.user_id.clone();
            self.show(&incident, channel, link.message_ts.as_ref(), &page, &bot)
                .await;
        }
        Round::Moved
    }

    /// Records the incident status `followed` as handled; `false` (logged)
    /// when the database would not.
    async fn record_followed(
        &self,
        id: IncidentId,
        followed: &str,
        moved: Option<&FollowedMove<'_>>,
    ) -> bool {
        match self
            .links
            .set_statuspage_followed(id, followed, moved)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, followed, "cannot record the followed status");
                false
            }
        }
    }

    /// Tells the incident channel the move did not happen, logs why (with
    /// the setting to check), and records the change as handled: people
    /// were asked to post the update themselves, and nothing retries it.
    async fn gave_up(
        &self,
        incident: &crate::store::Incident,
        shown: Option<IncidentStatus>,
        target: IncidentStatus,
        failure: Failure,
    ) {
        let why = match &failure {
            Failure::Statuspage(e) => {
                tracing::warn!(error = %e, setting = e.setting().unwrap_or("-"),
                    to = target.as_str(), "gave up following the incident on Statuspage");
                SlackText::from_user(&e.user_message()).into_string()
            }
            Failure::TooSlow => {
                tracing::warn!(deadline = ?FOLLOW_DEADLINE, to = target.as_str(),
                    "gave up following the incident on Statuspage: no answer in time");
                format!(
                    "Statuspage did not answer within {} s.",
                    FOLLOW_DEADLINE.as_secs()
                )
            }
        };
        if let Some(channel) = &incident.channel_id {
            let text = follow_failed(target, shown, &why);
            let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]);
            if let Err(e) = self
                .ctx
                .slack
                .post_message(channel, &text, &blocks, None)
                .await
            {
                tracing::warn!(error = %e, "cannot tell the channel Statuspage was not followed");
            }
        }
        self.record_followed(incident.id, &incident.status, None)
            .await;
    }
}

/// What the incident channel reads when a followed move failed. Our words
/// and labels, plus `why` (already escaped).
fn follow_failed(target: IncidentStatus, shown: Option<IncidentStatus>, why: &str) -> String {
    let still = match shown {
        Some(shown) => format!("Customers still see *{}*. ", shown.label()),
        None => String::new(),
    };
    format!(
        ":warning: I could not move the Statuspage incident to *{}* along with this incident. {why} \
         {still}To update it yourself, use *Post update* on the Statuspage message.",
        target.label()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_line_names_both_statuses_by_label_and_the_way_out() {
        let line = follow_failed(
            IncidentStatus::Identified,
            Some(IncidentStatus::Investigating),
            "Statuspage could not be reached.",
        );
        assert!(line.contains("*Identified*"), "{line}");
        assert!(line.contains("still see *Investigating*"), "{line}");
        assert!(line.contains("Post update"), "{line}");
        assert!(
            !line.contains("identified"),
            "labels, not raw values: {line}"
        );
    }

    #[tokio::test]
    async fn an_incident_lock_is_forgotten_once_nobody_holds_or_waits_for_it() {
        let locks = IncidentLocks::default();
        let first = locks.lock(IncidentId(1)).await;
        let other = locks.lock(IncidentId(2)).await;
        drop(first);
        assert_eq!(locks.locks.lock().unwrap().len(), 1);
        drop(other);
        assert!(locks.locks.lock().unwrap().is_empty());
    }
}
