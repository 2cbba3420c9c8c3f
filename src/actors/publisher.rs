//! The publisher: keeps every message Janus owns for an incident — the
//! pinned control message and the digest-channel message — showing what the
//! database holds.
//!
//! Each incident has at most one publishing task at a time, so two changes
//! of one incident never race each other's `chat.update`, while different
//! incidents publish side by side (one incident's slow or throttled update
//! never holds up another's). Requests that arrive while an incident is
//! being published are merged into one more round, rendered from the
//! database with the latest state.
//!
//! No database lock or transaction is held across a Slack call: a round
//! reads a snapshot, sends it, records the version Slack now shows
//! (`mark_published`), then reads the version again. If it moved meanwhile
//! (a change on this replica or another, whose own update may have landed
//! before ours), the round runs again, so the last update to land always
//! shows the latest state.
//!
//! The publisher also owns the digest channel's id, resolved once by name
//! with a paginated `conversations.list`, at start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::Instrument;
use url::Url;

use super::{Context, update, view};
use crate::domain::block_ids::{action, block};
use crate::domain::ids::{ChannelId, MessageTs};
use crate::render::context::{Control, Digest};
use crate::slack::{ApiErrorCode, SlackError};
use crate::store::{
    Declarations, Incident, IncidentId, Incidents, OwnedMessage, Publications, Updates,
};

/// Rounds one publishing task runs for one request before it stops chasing
/// changes (the next change queues another request anyway).
const MAX_ROUNDS: usize = 4;
/// A change's update waits this long for the next change of the same
/// incident (a burst of clicks), so one `chat.update` shows them all:
/// Slack allows about 50 updates a minute for the whole workspace.
const BURST_QUIET: Duration = Duration::from_millis(200);
/// …but never longer than this in all.
const BURST_MAX: Duration = Duration::from_secs(1);

/// Why the digest could not be posted. Its `Display` is for the person who
/// acted, in Slack: what happened and whom to ask, never a setting's name,
/// a host or an error's own text; [`DigestProblem::log_line`] is for the
/// operator and has all three.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DigestProblem {
    /// No channel of the configured name.
    #[error(
        "I could not find the digest channel #{0}, so this incident is not listed there. \
         Ask your Janus admin to set the digest channel up."
    )]
    ChannelMissing(String),
    /// The bot may not post there (e.g. a private channel it was not invited to).
    #[error(
        "I am not allowed to post in the digest channel #{0}, so this incident is not listed \
         there. Ask your Janus admin to invite me there."
    )]
    NotInvited(String),
    /// Anything else (Slack or the database did not answer, a template);
    /// `detail` is for the log.
    #[error(
        "I could not update the digest channel #{channel}; it will be brought up to date \
         within a few minutes. If it is not, ask your Janus admin."
    )]
    Failed { channel: String, detail: String },
    /// The pinned control message could not be updated (Slack did not
    /// answer in time, or refused); `detail` is for the log.
    #[error(
        "I could not update the pinned control message; it will be brought up to date \
         within a few minutes."
    )]
    Control { detail: String },
}

impl DigestProblem {
    /// The same, for the operator: what to fix, naming the setting, with
    /// the error's own text.
    pub fn log_line(&self) -> String {
        match self {
            Self::ChannelMissing(name) => format!(
                "digest channel #{name} not found: create it, or set `incident.digest_channel` \
                 (INCIDENTS_DIGEST_CHANNEL) to an existing channel, and invite the bot there"
            ),
            Self::NotInvited(name) => format!(
                "the bot may not post in the digest channel #{name}: invite it there \
                 (a private channel needs `/invite`), or set `incident.digest_channel` \
                 (INCIDENTS_DIGEST_CHANNEL) to another channel"
            ),
            Self::Failed { channel, detail } => {
                format!("cannot update the digest channel #{channel}: {detail}")
            }
            Self::Control { detail } => {
                format!("cannot update the pinned control message: {detail}")
            }
        }
    }
}

/// What the person whose change Slack did not take in time reads.
pub const NOT_SHOWN: &str = "Your change is saved, but Slack did not take the update of the \
     pinned message in time. It will show there within a few minutes, or at the next change.";

/// What one publishing round is asked to do, merged over the requests that
/// arrived while the previous round ran.
#[derive(Default)]
struct Pending {
    /// A request arrived since the last round started.
    queued: bool,
    /// Re-render the control message too (not right after it was posted).
    control: bool,
    /// Make sure the control message is there and pinned (`@janus
    /// control`, or someone unpinned it).
    restore: bool,
    /// Post the digest message if there is none yet, even while the
    /// declaration is still running (the declaration's own request).
    post: bool,
    /// Look in the digest channel for a digest message a crash posted
    /// without recording, before posting one.
    reconcile: bool,
    /// Who waits for the outcome (a declaration telling its declarer).
    waiters: Vec<oneshot::Sender<Result<(), DigestProblem>>>,
    /// Refreshes merged so far: the burst wait ends when this stops moving.
    changes: u64,
    /// Where to tell the people whose changes these are, should Slack not
    /// take the update (their clicks' `response_url`s).
    tell: Vec<Url>,
}

/// Cheap handle to the publisher. Requests return at once (except
/// [`PublisherHandle::publish`], which waits for its round); the work runs
/// in a task per incident.
#[derive(Clone)]
pub struct PublisherHandle {
    inner: Arc<Publisher>,
}

struct Publisher {
    ctx: Arc<Context>,
    /// What it renders.
    incidents: Arc<dyn Incidents>,
    /// The version Slack shows.
    publications: Arc<dyn Publications>,
    /// The digest message's ts.
    declarations: Arc<dyn Declarations>,
    /// The latest update, which the digest shows.
    updates: Arc<dyn Updates>,
    /// The digest channel, once found (a std mutex: never held across an await).
    channel: Mutex<Option<ChannelId>>,
    /// Incidents with a publishing task, and what its next round must do.
    pending: Mutex<HashMap<IncidentId, Pending>>,
}

impl PublisherHandle {
    /// Creates the publisher and looks the digest channel up in the
    /// background: in a large workspace that is several pages of a Tier 2
    /// method, and a missing channel is better logged at start than found
    /// in an outage. Not found is not kept: the next publish looks again.
    pub fn start(
        ctx: Arc<Context>,
        incidents: Arc<dyn Incidents>,
        publications: Arc<dyn Publications>,
        declarations: Arc<dyn Declarations>,
        updates: Arc<dyn Updates>,
    ) -> Self {
        let inner = Arc::new(Publisher {
            ctx: ctx.clone(),
            incidents,
            publications,
            declarations,
            updates,
            channel: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        });
        let warm = inner.clone();
        ctx.tasks.spawn(async move {
            match warm.channel().await {
                Ok(id) => tracing::debug!(channel = %id, "digest channel found"),
                Err(problem) => tracing::warn!("{}", problem.log_line()),
            }
        });
        Self { inner }
    }

    /// Posts a new incident's digest message and says whether that worked
    /// (the control message was just posted by the declaration itself).
    /// `reconcile`: after a crash, adopt a digest message already posted.
    pub async fn publish(&self, id: IncidentId, reconcile: bool) -> Result<(), DigestProblem> {
        let (reply, rx) = oneshot::channel();
        self.request(id, |p| {
            p.post = true;
            p.reconcile |= reconcile;
            p.waiters.push(reply);
        });
        rx.await
            .unwrap_or_else(|_| Err(self.inner.failed("the publisher stopped")))
    }

    /// Brings up to date every incident changed since Slack last showed it
    /// (a crash between a change and its update).
    pub fn catch_up(&self, ids: Vec<IncidentId>) {
        for id in ids {
            self.refresh(id);
        }
    }

    /// Queues an update of the control and digest messages without waiting.
    pub fn refresh(&self, id: IncidentId) {
        self.refresh_for(id, None);
    }

    /// [`PublisherHandle::refresh`] for a change someone made: if Slack does
    /// not take the update within its deadlines, they are told (through
    /// `response_url`) that their change is saved and will show later.
    pub fn refresh_for(&self, id: IncidentId, response_url: Option<&Url>) {
        self.request(id, |p| {
            p.control = true;
            p.changes += 1;
            p.tell.extend(response_url.cloned());
        });
    }

    /// Makes sure the incident's control message is in its channel and
    /// pinned: posted again if someone deleted it, pinned again if someone
    /// unpinned it. Returns its ts (`None`: the declaration has not posted
    /// it yet). Runs in the incident's publishing task, so it never races
    /// that incident's updates.
    pub async fn restore_control(
        &self,
        id: IncidentId,
    ) -> Result<Option<MessageTs>, DigestProblem> {
        let (reply, rx) = oneshot::channel();
        self.request(id, |p| {
            p.restore = true;
            p.waiters.push(reply);
        });
        rx.await
            .unwrap_or_else(|_| Err(self.inner.failed("the publisher stopped")))?;
        Ok(self.inner.load(id).await?.control_ts)
    }

    /// Posts `blocks` as a reply in the thread of `incident`'s digest
    /// message (a stakeholder update). Not when the incident has no digest
    /// message recorded: the update is still in its channel and, once the
    /// digest message is there, shown in it.
    pub async fn reply_in_digest_thread(
        &self,
        incident: &Incident,
        text: &str,
        blocks: &serde_json::Value,
    ) -> Result<(), DigestProblem> {
        let inner = &self.inner;
        let Some(ts) = &incident.digest_ts else {
            return Err(inner.failed("the incident has no digest message recorded"));
        };
        let channel = inner.channel().await?;
        match inner
            .ctx
            .slack
            .post_message(&channel, text, blocks, Some(ts))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                if channel_gone(&e) {
                    // Looked up again at the next publish.
                    inner.set_channel(None);
                }
                Err(inner.problem(e))
            }
        }
    }

    /// Merges a request into the incident's next round, starting its
    /// publishing task if it has none.
    fn request(&self, id: IncidentId, merge: impl FnOnce(&mut Pending)) {
        let start = {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            let start = !pending.contains_key(&id);
            let entry = pending.entry(id).or_default();
            entry.queued = true;
            merge(entry);
            start
        };
        if start {
            let inner = self.inner.clone();
            let span = tracing::info_span!("publish", incident = %id);
            self.inner.ctx.tasks.spawn(inner.run(id).instrument(span));
        }
    }
}

/// What one round does, taken out of [`Pending`].
struct Round {
    control: bool,
    restore: bool,
    post: bool,
    reconcile: bool,
    waiters: Vec<oneshot::Sender<Result<(), DigestProblem>>>,
    tell: Vec<Url>,
}

impl Publisher {
    /// The incident's publishing task: rounds until no request is queued.
    /// The entry leaves the map under the same lock that sees nothing
    /// queued, so a request is either merged into a round or starts a task.
    async fn run(self: Arc<Self>, id: IncidentId) {
        let mut shown: Option<i64> = None;
        // A digest message this task posted but could not record: updated,
        // never posted again, while the task lives (a later task finds it
        // in the digest channel).
        let mut unrecorded: Option<MessageTs> = None;
        loop {
            self.settle(id).await;
            let round = {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                let Some(entry) = pending.get_mut(&id) else {
                    return;
                };
                if !entry.queued {
                    pending.remove(&id);
                    return;
                }
                entry.queued = false;
                Round {
                    control: std::mem::take(&mut entry.control),
                    restore: std::mem::take(&mut entry.restore),
                    post: std::mem::take(&mut entry.post),
                    reconcile: std::mem::take(&mut entry.reconcile),
                    waiters: std::mem::take(&mut entry.waiters),
                    tell: std::mem::take(&mut entry.tell),
                }
            };
            let result = self.publish(id, &round, &mut shown, &mut unrecorded).await;
            if let Err(problem) = &result {
                tracing::warn!(incident = %id, "{}", problem.log_line());
                // Not shown: recovery brings it to Slack later (the version
                // was not recorded as shown). Say so to whoever made it.
                for url in &round.tell {
                    self.tell_not_shown(url).await;
                }
            }
            for waiter in round.waiters {
                let _ = waiter.send(result.clone());
            }
        }
    }

    /// Waits while a burst of changes to `id` is still arriving: until
    /// [`BURST_QUIET`] passes without another, at most [`BURST_MAX`]. No
    /// wait when someone waits for the outcome (a declaration).
    async fn settle(&self, id: IncidentId) {
        let deadline = tokio::time::Instant::now() + BURST_MAX;
        let mut seen = None;
        loop {
            let changes = {
                let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                match pending.get(&id) {
                    Some(p) if p.waiters.is_empty() && p.queued => p.changes,
                    _ => return,
                }
            };
            if seen == Some(changes) {
                return;
            }
            seen = Some(changes);
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return;
            }
            tokio::time::sleep(BURST_QUIET.min(deadline - now)).await;
        }
    }

    fn channel_name(&self) -> String {
        self.ctx.config.incident.digest_channel.clone()
    }

    fn failed(&self, e: impl std::fmt::Display) -> DigestProblem {
        DigestProblem::Failed {
            channel: self.channel_name(),
            detail: e.to_string(),
        }
    }

    fn cached_channel(&self) -> Option<ChannelId> {
        self.channel
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_channel(&self, id: Option<ChannelId>) {
        *self.channel.lock().unwrap_or_else(|e| e.into_inner()) = id;
    }

    async fn channel(&self) -> Result<ChannelId, DigestProblem> {
        if let Some(id) = self.cached_channel() {
            return Ok(id);
        }
        let name = self.channel_name();
        match self.ctx.slack.find_channel(&name).await {
            Ok(Some(id)) => {
                self.set_channel(Some(id.clone()));
                Ok(id)
            }
            Ok(None) => Err(DigestProblem::ChannelMissing(name)),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// One request's rounds: render what the database holds, send it, record
    /// it; again while the stored version moved meanwhile. `shown` is the
    /// version this task last brought to Slack: a plain refresh of that same
    /// version sends nothing.
    async fn publish(
        &self,
        id: IncidentId,
        round: &Round,
        shown: &mut Option<i64>,
        unrecorded: &mut Option<MessageTs>,
    ) -> Result<(), DigestProblem> {
        let mut control = round.control;
        let mut reconcile = round.reconcile;
        let mut incident = self.load(id).await?;
        if round.restore {
            self.update_control(&incident, true)
                .await
                .map_err(|detail| DigestProblem::Control { detail })?;
            if !control && !round.post && !reconcile {
                return Ok(());
            }
            incident = self.load(id).await?;
        }
        if !round.post && !reconcile && *shown == Some(incident.version) {
            return Ok(());
        }
        for _ in 0..MAX_ROUNDS {
            let controlled = match control {
                true => self.update_control(&incident, false).await,
                false => Ok(()),
            };
            // Only the declaration posts the first digest message: a click
            // racing it (even on another replica) must not post a second.
            let may_post = round.post || incident.completed;
            self.publish_digest(&incident, may_post, reconcile, unrecorded)
                .await?;
            // A failed update is not recorded as shown: recovery retries it.
            controlled.map_err(|detail| DigestProblem::Control { detail })?;
            if let Err(e) = self.publications.mark_published(id, incident.version).await {
                tracing::warn!(incident = %id, error = %e, "cannot record what Slack shows");
            }
            *shown = Some(incident.version);
            let fresh = self.load(id).await?;
            if fresh.version == incident.version {
                return Ok(());
            }
            // Changed while we sent: our update may have landed after the
            // newer one. Show the newer state, both messages.
            incident = fresh;
            control = true;
            reconcile = false;
        }
        Ok(())
    }

    async fn load(&self, id: IncidentId) -> Result<Incident, DigestProblem> {
        match self.incidents.incident(id).await {
            Ok(Some(incident)) => Ok(incident),
            Ok(None) => Err(self.failed(format!("incident {id} not found"))),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Tells the person behind `url` that their change is saved but not on
    /// screen yet.
    async fn tell_not_shown(&self, url: &Url) {
        let payload = serde_json::json!({
            "response_type": "ephemeral", "replace_original": false, "text": NOT_SHOWN,
        });
        if let Err(e) = self.ctx.slack.respond(url, &payload).await {
            tracing::warn!(error = %e, "cannot tell the person their change is not shown yet");
        }
    }

    /// Re-renders the pinned control message, if it was posted. One that
    /// someone deleted is posted and pinned again; with `pin`, the one
    /// updated is pinned again too (someone may have unpinned it).
    async fn update_control(&self, incident: &Incident, pin: bool) -> Result<(), String> {
        let (Some(channel), Some(ts)) = (&incident.channel_id, &incident.control_ts) else {
            return Ok(());
        };
        let control = Control(view::message(
            incident,
            &self.ctx.config,
            self.ctx.bot.workspace_url.as_ref(),
            view::CONTROL_DESCRIPTION_CHARS,
        ));
        let result = match self.ctx.renderer.render_context(&control) {
            Ok(blocks) => {
                let text = view::control_text(incident);
                match self
                    .ctx
                    .slack
                    .update_message(channel, ts, &text, &blocks)
                    .await
                {
                    Err(e) if e.code() == Some(&ApiErrorCode::MessageNotFound) => {
                        tracing::warn!(incident = %incident.id, "the control message was deleted; posting it again");
                        self.repost_control(incident, channel, ts, &text, &blocks)
                            .await
                    }
                    Err(e) if channel_gone(&e) => {
                        tracing::warn!(incident = %incident.id, error = %e, "the incident channel is gone");
                        Ok(())
                    }
                    Ok(()) if pin => self
                        .ctx
                        .slack
                        .pin(channel, ts)
                        .await
                        .map_err(|e| e.to_string()),
                    other => other.map_err(|e| e.to_string()),
                }
            }
            // A template problem: no retry will fix it.
            Err(e) => {
                tracing::error!(incident = %incident.id, error = %e, "cannot render the control message");
                Ok(())
            }
        };
        if let Err(e) = &result {
            tracing::warn!(incident = %incident.id, error = %e, "cannot update the control message");
        }
        result
    }

    /// Posts the control message again in place of `old` (deleted), records
    /// it and pins it. A post Slack took without answering is looked for
    /// before posting twice; when another replica replaced `old` first, this
    /// one's copy is deleted again, so the channel keeps one.
    async fn repost_control(
        &self,
        incident: &Incident,
        channel: &ChannelId,
        old: &MessageTs,
        text: &str,
        blocks: &serde_json::Value,
    ) -> Result<(), String> {
        let slack = &self.ctx.slack;
        let mut posted = slack.post_message(channel, text, blocks, None).await;
        if let Err(e) = &posted
            && e.may_have_taken_effect()
        {
            posted = match self.ctx.find_own(channel, action::STATUS).await {
                Some(ts) => Ok(ts),
                None => slack.post_message(channel, text, blocks, None).await,
            };
        }
        let ts = posted.map_err(|e| format!("cannot post the control message again: {e}"))?;
        match self
            .declarations
            .replace_control_ts(incident.id, old, &ts)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(incident = %incident.id, "another replica posted the control message again first");
                if let Err(e) = slack.delete_message(channel, &ts).await {
                    tracing::warn!(incident = %incident.id, error = %e, "cannot delete the second control message");
                }
                return Ok(());
            }
            // Posted, not recorded: the next change posts another, so say so.
            Err(e) => {
                return Err(format!(
                    "cannot record the control message posted again: {e}"
                ));
            }
        }
        slack
            .pin(channel, &ts)
            .await
            .map_err(|e| format!("cannot pin the control message posted again: {e}"))
    }

    /// Updates the digest message, or posts it when there is none (or it
    /// is gone) and `may_post`.
    ///
    /// Never a second message for one incident: `chat.postMessage` has no
    /// idempotency key, so a message of ours may be in the channel without
    /// its ts recorded (a crash, a post Slack took without answering, or a
    /// failed write of the ts). Before any post but a new declaration's
    /// first, the channel is searched for ours, and one found is adopted.
    /// A ts that cannot be recorded is kept in `unrecorded` for this task's
    /// next rounds, and not reported as a failure: the message is there.
    async fn publish_digest(
        &self,
        incident: &Incident,
        may_post: bool,
        reconcile: bool,
        unrecorded: &mut Option<MessageTs>,
    ) -> Result<(), DigestProblem> {
        let id = incident.id;
        // Rendered from the database like the rest: a failure to read it
        // fails the round, which recovery repeats.
        let latest = self
            .updates
            .latest_update(id)
            .await
            .map_err(|e| self.failed(e))?;
        let catalog = &self.ctx.config.incident.catalog;
        let digest = Digest::new(view::message(
            incident,
            &self.ctx.config,
            self.ctx.bot.workspace_url.as_ref(),
            view::SHORT_DESCRIPTION_CHARS,
        ))
        .with_update(latest.map(|u| update::digest_view(&u, catalog)));
        let blocks = self
            .ctx
            .renderer
            .render_context(&digest)
            .map_err(|e| self.failed(e))?;
        // The notification text: from the entry, so a private incident's
        // channel name stays out of it too.
        let name = match digest.message.incident.name.as_str() {
            "" if incident.private => "Private incident",
            "" => "incident",
            name => name,
        };
        let text = format!("{name}: {}", digest.message.incident.status.label);
        let mut channel = self.channel().await?;
        let mut digest_ts = incident.digest_ts.clone().or_else(|| unrecorded.clone());
        // The declaration's first post is the only one that cannot have
        // been made before; after a crash, or once the declaration ended
        // (it posted, or tried to), one of ours may be there unrecorded.
        if digest_ts.is_none() && (reconcile || incident.completed) {
            digest_ts = self.adopt_digest(&channel, incident, unrecorded).await;
        }
        if let Some(ts) = &digest_ts {
            match self
                .ctx
                .slack
                .update_message(&channel, ts, &text, &blocks)
                .await
            {
                Ok(()) => return Ok(()),
                // Deleted, or in a digest channel archived or replaced since:
                // a new message keeps one per incident in the channel.
                Err(e) if message_gone(&e) => {
                    tracing::info!(incident = %id, error = %e, "digest message gone; posting it again");
                    if channel_gone(&e) {
                        self.set_channel(None);
                        channel = self.channel().await?;
                    }
                    // One posted since (its ts not recorded) is adopted.
                    if let Some(found) = self.adopt_digest(&channel, incident, unrecorded).await
                        && &found != ts
                    {
                        return self
                            .ctx
                            .slack
                            .update_message(&channel, &found, &text, &blocks)
                            .await
                            .map_err(|e| self.failed(e));
                    }
                }
                Err(e) => return Err(self.failed(e)),
            }
        } else if !may_post {
            // The declaration, still running, posts it.
            return Ok(());
        }
        let posted = match self.post_digest(&channel, &text, &blocks).await {
            // Archived or deleted since it was looked up: look again, once.
            Err(e) if channel_gone(&e) => {
                self.set_channel(None);
                let fresh = self.channel().await?;
                if fresh == channel {
                    return Err(self.problem(e));
                }
                tracing::info!(old = %channel, new = %fresh, "the digest channel was replaced");
                self.post_digest(&fresh, &text, &blocks).await
            }
            other => other,
        };
        let posted = match posted {
            // No answer: it may be in the channel. Look before posting again.
            Err(e) if e.may_have_taken_effect() => {
                tracing::warn!(incident = %id, error = %e, "no answer posting the digest message; looking for it");
                match self.find_digest(&channel, incident).await {
                    Some(ts) => Ok(ts),
                    None => self.post_digest(&channel, &text, &blocks).await,
                }
            }
            other => other,
        };
        let ts = posted.map_err(|e| self.problem(e))?;
        self.record_digest(id, ts, unrecorded).await;
        Ok(())
    }

    /// A digest message of ours for `incident` found in `channel`, recorded
    /// (or kept in `unrecorded` when that fails).
    async fn adopt_digest(
        &self,
        channel: &ChannelId,
        incident: &Incident,
        unrecorded: &mut Option<MessageTs>,
    ) -> Option<MessageTs> {
        let ts = self.find_digest(channel, incident).await?;
        tracing::info!(incident = %incident.id, ts = %ts, "found a digest message of ours not recorded; adopting it");
        self.record_digest(incident.id, ts.clone(), unrecorded)
            .await;
        Some(ts)
    }

    /// Records the digest message's ts. A failure is logged and the ts kept
    /// in `unrecorded`: the message is in the channel, and what finds it
    /// next (this task's next round, or a later search) updates it instead
    /// of posting another.
    async fn record_digest(
        &self,
        id: IncidentId,
        ts: MessageTs,
        unrecorded: &mut Option<MessageTs>,
    ) {
        match self
            .declarations
            .set_message_ts(id, OwnedMessage::Digest, &ts)
            .await
        {
            Ok(()) => *unrecorded = None,
            Err(e) => {
                tracing::error!(incident = %id, ts = %ts, error = %e,
                    "cannot record the digest message; it will be found in the channel, not posted again");
                *unrecorded = Some(ts);
            }
        }
    }

    /// Posts a digest message, joining the channel first if it is public
    /// and the bot is not in it yet.
    async fn post_digest(
        &self,
        channel: &ChannelId,
        text: &str,
        blocks: &serde_json::Value,
    ) -> Result<MessageTs, SlackError> {
        match self
            .ctx
            .slack
            .post_message(channel, text, blocks, None)
            .await
        {
            Err(e) if e.code() == Some(&ApiErrorCode::NotInChannel) => {
                self.ctx.slack.join(channel).await?;
                self.ctx
                    .slack
                    .post_message(channel, text, blocks, None)
                    .await
            }
            other => other,
        }
    }

    /// The newest digest message of ours for `incident` among the channel's
    /// last 100 (one posted without its ts recorded): its header's block id
    /// names the incident (private ones link nothing), or, for a message
    /// from before that id or a template without it, it links the incident's
    /// channel by its Join button's URL or a `<#C…>` mention.
    async fn find_digest(&self, channel: &ChannelId, incident: &Incident) -> Option<MessageTs> {
        let marker = format!("\"{}{}\"", block::DIGEST_PREFIX, incident.id);
        let links = incident
            .channel_id
            .as_ref()
            .map(|c| [format!("/archives/{c}"), format!("<#{c}>")]);
        let recent = self.ctx.slack.recent_messages(channel, 100).await.ok()?;
        recent
            .into_iter()
            .find(|m| {
                m.user.as_ref() == Some(&self.ctx.bot.user_id)
                    && m.blocks.as_ref().is_some_and(|b| {
                        let blocks = b.to_string();
                        blocks.contains(&marker)
                            || links
                                .as_ref()
                                .is_some_and(|l| l.iter().any(|l| blocks.contains(l.as_str())))
                    })
            })
            .map(|m| m.ts)
    }

    fn problem(&self, e: SlackError) -> DigestProblem {
        match e.code() {
            Some(ApiErrorCode::NotInChannel | ApiErrorCode::ChannelNotFound) => {
                DigestProblem::NotInvited(self.channel_name())
            }
            Some(ApiErrorCode::Other(code)) if code == "method_not_supported_for_channel_type" => {
                DigestProblem::NotInvited(self.channel_name())
            }
            _ => self.failed(e),
        }
    }
}

/// The channel an id named is no longer one to post in.
fn channel_gone(e: &SlackError) -> bool {
    match e.code() {
        Some(ApiErrorCode::ChannelNotFound) => true,
        Some(ApiErrorCode::Other(code)) => code == "is_archived",
        _ => false,
    }
}

/// The message to update is not there any more (or its channel is not).
fn message_gone(e: &SlackError) -> bool {
    e.code() == Some(&ApiErrorCode::MessageNotFound) || channel_gone(e)
}
