//! The publisher: keeps every message Janus owns for an incident — the
//! pinned control message and the digest-channel message — showing what the
//! database holds.
//!
//! It is the only writer of those messages after they are first posted, so
//! two changes can never race each other's `chat.update` and leave the older
//! state on screen. Requests that pile up while it is busy are merged: each
//! incident is rendered once, from the database, with its latest state. It
//! also owns the digest channel's id, resolved once by name with a
//! paginated `conversations.list`, at start.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Context, view};
use crate::domain::ids::{ChannelId, MessageTs};
use crate::slack::{ApiErrorCode, SlackError};
use crate::store::{Incident, IncidentId, OwnedMessage};

const INBOX_CAPACITY: usize = 256;
/// A burst of changes ends after this long without another.
const BURST_QUIET: Duration = Duration::from_millis(300);
/// …or after this long in all: the digest never lags a change by more.
const BURST_MAX: Duration = Duration::from_secs(1);

/// Why the digest could not be posted, in words for the person who acted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DigestProblem {
    /// No channel of the configured name.
    #[error(
        "I could not find the digest channel #{0}. Create it (or set INCIDENTS_DIGEST_CHANNEL to \
         an existing channel) and invite me there with `/invite @janus`."
    )]
    ChannelMissing(String),
    /// The bot may not post there (e.g. a private channel it was not invited to).
    #[error("I cannot post in the digest channel #{0}. Invite me there with `/invite @janus`.")]
    NotInvited(String),
    /// Anything else; logged in full.
    #[error("I could not update the digest channel #{0}: {1}")]
    Failed(String, String),
}

struct Request {
    id: IncidentId,
    /// Whether the control message needs re-rendering too (not right after
    /// it was posted).
    control: bool,
    /// Look in the digest channel for a digest message a crash posted
    /// without recording, before posting one.
    reconcile: bool,
    reply: Option<oneshot::Sender<Result<(), DigestProblem>>>,
}

/// Cheap handle to the publisher.
#[derive(Clone)]
pub struct PublisherHandle {
    tx: mpsc::Sender<Request>,
}

impl PublisherHandle {
    /// Starts the actor; it ends when every handle is dropped.
    pub fn start(ctx: Arc<Context>) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let actor = Publisher { ctx, channel: None };
        (Self { tx }, tokio::spawn(actor.run(rx)))
    }

    /// Posts a new incident's digest message and says whether that worked
    /// (the control message was just posted by the declaration itself).
    /// `reconcile`: after a crash, adopt a digest message already posted.
    pub async fn publish(&self, id: IncidentId, reconcile: bool) -> Result<(), DigestProblem> {
        let (reply, rx) = oneshot::channel();
        let name = String::from("digest");
        let request = Request {
            id,
            control: false,
            reconcile,
            reply: Some(reply),
        };
        if self.tx.send(request).await.is_err() {
            return Err(DigestProblem::Failed(name, "the publisher stopped".into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(DigestProblem::Failed(name, "no answer".into())))
    }

    /// Brings up to date every incident changed since Slack last showed it
    /// (a crash between a change and its update). Called once at start.
    pub async fn catch_up(&self, ids: Vec<IncidentId>) {
        for id in ids {
            self.refresh(id).await;
        }
    }

    /// Queues an update of the control and digest messages without waiting.
    pub async fn refresh(&self, id: IncidentId) {
        let request = Request {
            id,
            control: true,
            reconcile: false,
            reply: None,
        };
        if self.tx.send(request).await.is_err() {
            tracing::error!(incident = %id, "publisher has stopped; messages not updated");
        }
    }
}

struct Publisher {
    ctx: Arc<Context>,
    channel: Option<ChannelId>,
}

impl Publisher {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        self.warm_up().await;
        while let Some(first) = rx.recv().await {
            // Merge whatever queued up meanwhile: one render per incident.
            let mut batch = vec![first];
            if batch[0].reply.is_none() {
                // A change: give its siblings (a burst of clicks) a moment to
                // land, so one chat.update shows them all. Slack allows about
                // 50 updates a minute; a burst must not spend them.
                let deadline = Instant::now() + BURST_MAX;
                while let Ok(Some(more)) = tokio::time::timeout(
                    BURST_QUIET.min(deadline.saturating_duration_since(Instant::now())),
                    rx.recv(),
                )
                .await
                {
                    batch.push(more);
                    if Instant::now() >= deadline {
                        break;
                    }
                }
            }
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let mut ids: Vec<IncidentId> = Vec::new();
            for request in &batch {
                if !ids.contains(&request.id) {
                    ids.push(request.id);
                }
            }
            for id in ids {
                let control = batch.iter().any(|r| r.id == id && r.control);
                let reconcile = batch.iter().any(|r| r.id == id && r.reconcile);
                let result = self.publish(id, control, reconcile).await;
                if let Err(problem) = &result {
                    tracing::warn!(incident = %id, "{problem}");
                }
                for request in batch.iter_mut().filter(|r| r.id == id) {
                    if let Some(reply) = request.reply.take() {
                        let _ = reply.send(result.clone());
                    }
                }
            }
        }
    }

    fn channel_name(&self) -> String {
        self.ctx.config.incident.digest_channel.clone()
    }

    fn failed(&self, e: impl std::fmt::Display) -> DigestProblem {
        DigestProblem::Failed(self.channel_name(), e.to_string())
    }

    /// Looks the digest channel up at start rather than at the first
    /// declaration: in a large workspace that is several pages of a Tier 2
    /// method, and a missing channel is better logged now than found in an
    /// outage. Not found is not kept: the next publish looks again.
    async fn warm_up(&mut self) {
        match self.channel().await {
            Ok(id) => tracing::debug!(channel = %id, "digest channel found"),
            Err(problem) => tracing::warn!("{problem}"),
        }
    }

    async fn channel(&mut self) -> Result<ChannelId, DigestProblem> {
        if let Some(id) = &self.channel {
            return Ok(id.clone());
        }
        let name = self.channel_name();
        match self.ctx.slack.find_channel(&name).await {
            Ok(Some(id)) => {
                self.channel = Some(id.clone());
                Ok(id)
            }
            Ok(None) => Err(DigestProblem::ChannelMissing(name)),
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn publish(
        &mut self,
        id: IncidentId,
        control: bool,
        reconcile: bool,
    ) -> Result<(), DigestProblem> {
        // Held until the end: another replica's publisher waits, then
        // renders what the database holds after both changes.
        let _lock = self
            .ctx
            .store
            .lock_messages(id)
            .await
            .map_err(|e| self.failed(e))?;
        let incident = match self.ctx.store.incident(id).await {
            Ok(Some(incident)) => incident,
            Ok(None) => return Err(self.failed(format!("incident {id} not found"))),
            Err(e) => return Err(self.failed(e)),
        };
        if control {
            self.update_control(&incident).await;
        }
        self.publish_digest(&incident, reconcile).await?;
        if let Err(e) = self.ctx.store.mark_published(id, incident.updated_at).await {
            tracing::warn!(incident = %id, error = %e, "cannot record what Slack shows");
        }
        Ok(())
    }

    /// Re-renders the pinned control message, if it was posted.
    async fn update_control(&self, incident: &Incident) {
        let (Some(channel), Some(ts)) = (&incident.channel_id, &incident.control_ts) else {
            return;
        };
        let data = view::message(
            incident,
            &self.ctx.config,
            self.ctx.bot.workspace_url.as_ref(),
            view::CONTROL_DESCRIPTION_CHARS,
        );
        let result = match self.ctx.renderer.render("control", &data) {
            Ok(blocks) => {
                let text = view::control_text(incident);
                self.ctx
                    .slack
                    .update_message(channel, ts, &text, &blocks)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(incident = %incident.id, error = %e, "cannot update the control message");
        }
    }

    async fn publish_digest(
        &mut self,
        incident: &Incident,
        reconcile: bool,
    ) -> Result<(), DigestProblem> {
        let id = incident.id;
        let data = view::message(
            incident,
            &self.ctx.config,
            self.ctx.bot.workspace_url.as_ref(),
            view::SHORT_DESCRIPTION_CHARS,
        );
        let blocks = self
            .ctx
            .renderer
            .render("digest", &data)
            .map_err(|e| self.failed(e))?;
        let text = format!(
            "{}: {}",
            incident.channel_name.as_deref().unwrap_or("incident"),
            data["incident"]["status"]["label"].as_str().unwrap_or("")
        );
        let mut channel = self.channel().await?;
        let mut digest_ts = incident.digest_ts.clone();
        if digest_ts.is_none() && reconcile {
            digest_ts = self.find_digest(&channel, incident).await;
            if let Some(ts) = &digest_ts {
                self.ctx
                    .store
                    .set_message_ts(id, OwnedMessage::Digest, ts)
                    .await
                    .map_err(|e| self.failed(e))?;
            }
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
                        self.channel = None;
                        channel = self.channel().await?;
                    }
                }
                Err(e) => return Err(self.failed(e)),
            }
        }
        let posted = match self.post_digest(&channel, &text, &blocks).await {
            // Archived or deleted since it was looked up: look again, once.
            Err(e) if channel_gone(&e) => {
                self.channel = None;
                let fresh = self.channel().await?;
                if fresh == channel {
                    return Err(self.problem(e));
                }
                tracing::info!(old = %channel, new = %fresh, "the digest channel was replaced");
                self.post_digest(&fresh, &text, &blocks).await
            }
            other => other,
        };
        let ts = posted.map_err(|e| self.problem(e))?;
        self.ctx
            .store
            .set_message_ts(id, OwnedMessage::Digest, &ts)
            .await
            .map_err(|e| self.failed(e))
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

    /// A digest message of ours for `incident` already in the channel (one
    /// a crash posted without recording): it links the incident's channel.
    async fn find_digest(&self, channel: &ChannelId, incident: &Incident) -> Option<MessageTs> {
        let link = format!("/archives/{}", incident.channel_id.as_ref()?);
        let recent = self.ctx.slack.recent_messages(channel, 100).await.ok()?;
        recent
            .into_iter()
            .find(|m| {
                m.user.as_ref() == Some(&self.ctx.bot.user_id)
                    && m.blocks
                        .as_ref()
                        .is_some_and(|b| b.to_string().contains(&link))
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
