//! The incident actor: declares incidents (`/incident`), answers
//! `@janus help` and `@janus list`, and moves an incident's status and
//! severity.
//!
//! Calls run in the caller's task: status and severity in the incident's
//! lane (so they apply in order), help, list and declarations in tasks of
//! their own. At most [`DECLARATIONS_AT_ONCE`] declarations run at once and
//! the rest wait their turn in arrival order (a fair semaphore): during an
//! outage many people declare at once, and `conversations.create` allows
//! about 20 calls a minute, which the Slack client shares between them.
//!
//! This module holds the handle and what its parts share (answering the
//! declarer); `declaration` holds the declaration saga, `help` help and
//! list, `form` the declare form, `change` status and severity.

mod change;
mod declaration;
mod form;
mod help;
mod pinned;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use url::Url;

use super::Context;
use super::publisher::PublisherHandle;
use super::snapshot::SnapshotHandle;
use super::statuspage::StatuspageHandle;
use crate::domain::event::{Click, DeclareForm, Mention, SlashCommand, Unpin};
use crate::domain::ids::{ChannelId, MessageTs, UserId};
use crate::store::{Declarations, IncidentId, Incidents, Leases, Publications};
use change::Field;

/// Declarations that run at once; more wait, first come first served.
pub const DECLARATIONS_AT_ONCE: usize = 4;

/// A declaration, from the slash command or from the declare form. Stored
/// with the incident, so a restart can finish it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Declaration {
    /// What is wrong, as plain text (Slack's entities already decoded).
    pub description: String,
    /// The chosen severity key, or `None` for the configured default.
    pub severity: Option<String>,
    /// The declarer: recorded as the creator, invited, answered.
    pub user: UserId,
    /// Where they were (where `/incident` was typed).
    pub source: Option<ChannelId>,
    pub reply: Reply,
    /// Names the channel instead of the description (react-to-create's
    /// `auto-xxxxxx`).
    pub slug: Option<String>,
    /// The message the incident was declared from, quoted in the channel.
    pub origin: Option<Origin>,
    /// Chosen in the declare form. A declaration from a private channel, a
    /// DM or a group DM is private whatever this says.
    #[serde(default)]
    pub private: bool,
}

/// A message an incident was declared from (react-to-create).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Origin {
    pub channel: ChannelId,
    pub author: Option<UserId>,
    /// Its text as Slack stores it (entity-encoded mrkdwn, with its
    /// mention and link tokens): quoted through [`Quote`](crate::domain::quote::Quote).
    pub text: String,
    /// The names of its author and of the people it mentions, as Slack
    /// gave them when the reaction came.
    #[serde(default)]
    pub names: crate::domain::quote::Names,
    pub permalink: Option<Url>,
}

/// How to answer the person who declared.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    /// The slash command's `response_url`: an ephemeral in place.
    ResponseUrl(Url),
    /// No `response_url` (a modal submission): an ephemeral in the source
    /// channel, or a DM when that is not possible.
    Person,
    /// A reply in the source message's thread, for everyone there.
    Thread(MessageTs),
}

/// The store as the incident actor uses it: the saga records its steps
/// under a lease, changes and lists read and write incidents, announcing
/// marks what went out. One group, as that is four of the store's traits.
pub struct IncidentStore {
    pub declarations: Arc<dyn Declarations>,
    pub leases: Arc<dyn Leases>,
    pub incidents: Arc<dyn Incidents>,
    pub publications: Arc<dyn Publications>,
}

#[derive(Clone)]
pub struct IncidentHandle {
    actor: Arc<IncidentActor>,
}

impl IncidentHandle {
    /// The optional actors are the ones the configuration turns on; a
    /// declaration posts their messages when they are there.
    pub fn new(
        ctx: Arc<Context>,
        store: IncidentStore,
        publisher: PublisherHandle,
        statuspage: Option<StatuspageHandle>,
        snapshot: Option<SnapshotHandle>,
    ) -> Self {
        Self {
            actor: Arc::new(IncidentActor {
                ctx,
                store,
                publisher,
                statuspage,
                snapshot,
                declaring: Arc::new(Semaphore::new(DECLARATIONS_AT_ONCE)),
            }),
        }
    }

    /// Answers a mention (help, list, control).
    pub async fn mention(&self, mention: Mention) {
        self.actor.on_mention(mention).await;
    }

    /// Pins an open incident's control message again when someone
    /// unpinned it.
    pub async fn unpinned(&self, unpin: Unpin) {
        self.actor.on_unpin(unpin).await;
    }

    /// The slash command Janus answers (`slack.command`).
    pub fn command_name(&self) -> &str {
        self.actor.ctx.config.slack.command.as_str()
    }

    /// Handles a slash command (after its ack): a declaration, or usage.
    pub async fn command(&self, command: SlashCommand) {
        self.actor.on_command(command).await;
    }

    /// Declares and waits: the new incident's id, or `None` when nothing
    /// was created (the declarer has been told why).
    pub async fn declare(&self, declaration: Declaration) -> Option<IncidentId> {
        self.actor.declare(&declaration).await
    }

    /// Finishes declarations a crash interrupted (at start, and on the
    /// recovery leader now and then).
    pub async fn resume(&self) {
        self.actor.resume().await;
    }

    /// Announces the changes to incidents that a crash left unannounced and
    /// that are at least `settled` old (at start, and on the recovery leader).
    pub async fn announce_missed(&self, settled: std::time::Duration) {
        self.actor.announce_missed(settled).await;
    }

    /// Opens the declare form (the usage message's button).
    pub async fn open_form(&self, click: Click) {
        self.actor.open_form(click).await;
    }

    /// Declares from a submitted form.
    pub async fn form(&self, form: DeclareForm) {
        self.actor.on_form(form).await;
    }

    /// The ack payload for a declare-form submission: Slack shows these
    /// errors under the fields and keeps the form open. `None` when valid.
    pub fn check_form(&self, form: &DeclareForm) -> Option<Value> {
        let errors = form::form_errors(form, &self.actor.ctx.config.incident.catalog);
        (!errors.is_empty()).then(|| json!({ "response_action": "errors", "errors": errors }))
    }

    /// The clicker moves the status (from the control message's select).
    pub async fn status(&self, click: Click, status: String) {
        self.actor.change(click, Field::Status, status).await;
    }

    pub async fn severity(&self, click: Click, severity: String) {
        self.actor.change(click, Field::Severity, severity).await;
    }

    /// Tells the person behind `response_url` that their request waits for
    /// the database and will be applied when it is back.
    pub async fn tell_waiting(&self, response_url: &Url) {
        let payload = json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": super::WAITING_FOR_DATABASE,
        });
        if let Err(e) = self.actor.ctx.slack.respond(response_url, &payload).await {
            tracing::warn!(error = %e, "cannot tell the person their request is waiting");
        }
    }

    /// The ack payload for a slash command, when it can be answered at once
    /// (no IO): `/incident` with no description gets its usage; with one,
    /// the declarer hears at once that the channel is on its way (its link
    /// follows as soon as it exists, however busy Slack is).
    pub fn quick_response(&self, command: &str, text: &str) -> Option<Value> {
        if command != self.actor.ctx.config.slack.command.as_str() {
            return None;
        }
        if !text.trim().is_empty() {
            return Some(json!({ "response_type": "ephemeral", "text": CREATING }));
        }
        self.actor.usage()
    }
}

/// What the declarer reads in the slash command's ack.
pub const CREATING: &str =
    ":hourglass_flowing_sand: Opening the incident channel; its link follows here in a moment.";

struct IncidentActor {
    ctx: Arc<Context>,
    store: IncidentStore,
    publisher: PublisherHandle,
    statuspage: Option<StatuspageHandle>,
    snapshot: Option<SnapshotHandle>,
    /// Turns to run a declaration (see [`DECLARATIONS_AT_ONCE`]).
    declaring: Arc<Semaphore>,
}

impl IncidentActor {
    /// A plain line of ours (no user text) in a channel.
    async fn post(&self, channel: &ChannelId, thread: Option<&MessageTs>, text: &str) {
        let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]);
        if let Err(e) = self
            .ctx
            .slack
            .post_message(channel, text, &blocks, thread)
            .await
        {
            tracing::warn!(channel = %channel, error = %e, "cannot post");
        }
    }

    /// Tells the declarer something, only them.
    async fn tell(&self, d: &Declaration, text: &str) {
        let payload = json!({ "response_type": "ephemeral", "text": text });
        self.answer(d, &payload).await;
    }

    /// Answers the declarer the way their declaration allows.
    async fn answer(&self, d: &Declaration, payload: &Value) {
        let result = match (&d.reply, &d.source) {
            (Reply::ResponseUrl(url), _) => self.ctx.slack.respond(url, payload).await,
            (Reply::Thread(ts), Some(channel)) => {
                let text = payload["text"].as_str().unwrap_or("Janus");
                let blocks =
                    json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]);
                self.ctx
                    .slack
                    .post_message(channel, text, &blocks, Some(ts))
                    .await
                    .map(|_| ())
            }
            (Reply::Person | Reply::Thread(_), source) => {
                let mut payload = payload.clone();
                if let Some(map) = payload.as_object_mut() {
                    map.remove("response_type");
                }
                self.ctx
                    .tell_person(source.as_ref(), &d.user, &payload)
                    .await;
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(user = %d.user, error = %e, "cannot answer the declarer");
        }
    }
}
