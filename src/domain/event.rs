//! What people did in Slack, typed: the events the bus hands the actors.
//!
//! Plain data, no IO. The bus builds these from an envelope's payload
//! (`bus::event` does all the reading of Slack's JSON) and the actors act
//! on them. They live here, below both, rather than in `bus::event`:
//! the bus calls the actors, so an actor importing its argument types from
//! the bus would point a dependency back up (actors → bus). Nor do they
//! live in actor files any more, where the bus had to reach into each
//! actor for the type it builds.
//!
//! Ids are already checked ([`UserId`], [`ChannelId`]…); strings are as
//! Slack sent them (mrkdwn-escaped where Slack escapes), for the actor to
//! decode or escape as it shows them.

use url::Url;

use crate::domain::ids::IncidentId;
use crate::domain::ids::{ChannelId, MessageTs, UserId};

/// `@janus …` in a channel.
#[derive(Debug, Clone)]
pub struct Mention {
    /// Where the mention was posted.
    pub channel: ChannelId,
    pub user: UserId,
    /// The message text, as Slack sent it (with `<@U…>` tokens).
    pub text: String,
    /// The mention's own ts.
    pub ts: MessageTs,
    /// Set when the mention is a thread reply: answers go to that thread.
    pub thread_ts: Option<MessageTs>,
}

/// A slash command, reduced to what Janus uses.
#[derive(Debug, Clone)]
pub struct SlashCommand {
    /// The command as typed, e.g. `/incident`.
    pub command: String,
    /// Everything after the command.
    pub text: String,
    pub user: UserId,
    /// Where it was typed.
    pub channel: ChannelId,
    /// Where replies after the ack go.
    pub response_url: Url,
    /// Whether the ack already answered the person.
    pub answered_in_ack: bool,
}

/// A `pin_removed` of a message: someone unpinned it (maybe the control
/// message, which Janus pins again).
#[derive(Debug, Clone)]
pub struct Unpin {
    /// Who unpinned it.
    pub user: UserId,
    pub channel: ChannelId,
    /// The unpinned message.
    pub ts: MessageTs,
}

/// A `reaction_added` on a message.
#[derive(Debug, Clone)]
pub struct Reaction {
    /// Who reacted (or took their reaction back).
    pub user: UserId,
    /// The emoji name, without colons (may carry `::skin-tone-N`).
    pub emoji: String,
    /// Where the message is.
    pub channel: ChannelId,
    pub ts: MessageTs,
    /// `reaction_added`; `false` for `reaction_removed`.
    pub added: bool,
}

impl Reaction {
    /// The emoji without its skin tone: `fire::skin-tone-2` is `fire`.
    pub fn base_emoji(&self) -> &str {
        base_emoji(&self.emoji)
    }
}

/// An emoji name without its skin tone (`fire::skin-tone-2` is `fire`).
pub fn base_emoji(emoji: &str) -> &str {
    emoji.split("::").next().unwrap_or(emoji)
}

/// One action of a `block_actions` payload.
#[derive(Debug, Clone)]
pub struct Click {
    pub user: UserId,
    /// The channel of the message clicked.
    pub channel: ChannelId,
    /// The message clicked.
    pub message_ts: Option<MessageTs>,
    /// Where to answer only the clicker.
    pub response_url: Option<Url>,
    /// The element's `action_id`.
    pub action_id: String,
    /// A button's `value`, or a select's chosen option value.
    pub value: Option<String>,
    /// A users select's chosen user.
    pub selected_user: Option<UserId>,
    /// For opening a modal in answer (valid 3 s, once).
    pub trigger_id: Option<String>,
    /// This click's dedupe key (its envelope's, and its place among the
    /// envelope's actions): a change it makes is stored with it, in one
    /// transaction, so a redelivery finds it and changes nothing.
    pub delivery: String,
}

/// The declare form's fields, as submitted.
#[derive(Debug, Clone)]
pub struct DeclareForm {
    pub user: UserId,
    pub description: String,
    /// The severity select's value.
    pub severity: Option<String>,
    /// The channel the form was opened from (its `private_metadata`).
    pub source: Option<ChannelId>,
    /// The "private incident" box was ticked.
    pub private: bool,
}

/// A submitted Statuspage form.
#[derive(Debug, Clone)]
pub enum StatuspageForm {
    /// The create modal.
    Create {
        /// Janus's incident.
        incident: IncidentId,
        user: UserId,
        name: String,
        body: String,
        /// Impact key.
        impact: String,
        /// Chosen component ids.
        components: Vec<String>,
        /// Their status key.
        component_status: String,
        /// Whether subscribers are notified.
        notify: bool,
    },
    /// The update modal.
    Update {
        /// Janus's incident.
        incident: IncidentId,
        user: UserId,
        /// New status key.
        status: String,
        body: String,
        /// Whether subscribers are notified.
        notify: bool,
    },
}

impl StatuspageForm {
    /// Who submitted it.
    pub fn user(&self) -> &UserId {
        match self {
            StatuspageForm::Create { user, .. } | StatuspageForm::Update { user, .. } => user,
        }
    }
}

/// A submitted stakeholder update form (Post update).
#[derive(Debug, Clone)]
pub struct UpdateForm {
    /// Janus's incident (the modal's `private_metadata`).
    pub incident: IncidentId,
    /// Its channel, as the modal carried it: the lane the submission runs in.
    pub channel: Option<ChannelId>,
    pub user: UserId,
    /// The update, as typed (plain text: escaped when shown).
    pub text: String,
    /// A status key chosen in the form; `None` keeps the status.
    pub status: Option<String>,
    /// What makes a resubmission of this form recognisable: the modal's
    /// view id (one modal posts at most one update, even when Slack showed
    /// the person an error after a late ack and they submitted again), else
    /// the envelope's key. Stored with the update, in its transaction.
    pub delivery: String,
}
