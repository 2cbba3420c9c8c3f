//! The data of each template: one struct per template, named after it.
//!
//! A template's inputs are its struct's fields, so what a template (or an
//! operator's override) may use is read here, and a field a caller forgets
//! is a compile error instead of a strict-mode failure during an incident.
//! `samples.rs` fills every struct with realistic values; `Renderer::load`
//! renders each sample, so an override asking for a field that is not here
//! stops start-up.
//!
//! Escaping: text a person typed or a third party sent is a [`SlackText`]
//! field, so it cannot reach `mrkdwn` unescaped; the renderer JSON-escapes
//! every value. A `String` field holds our own words, a configured label,
//! or text for a `plain_text` field, where `&lt;` would show as typed.

use serde::{Serialize, Serializer};
use url::Url;

use crate::domain::ids::{ChannelId, UserId};
use crate::domain::incident::Choice;
use crate::domain::text::SlackText;

/// The data of one template. [`super::Renderer::render_context`] renders
/// it with the template the type names, so data cannot go to the wrong one.
pub trait TemplateContext: Serialize {
    /// The template's name in [`super::BUILTIN`].
    const TEMPLATE: &'static str;
}

macro_rules! template {
    ($($context:ty => $name:literal),* $(,)?) => {
        $(impl TemplateContext for $context {
            const TEMPLATE: &'static str = $name;
        })*
    };
}

template! {
    Help => "help",
    Usage => "usage",
    Control => "control",
    Digest => "digest",
    Declared => "declared",
    List => "list",
    StatusChanged => "status_changed",
    RoleAssigned => "role_assigned",
    RoleReleased => "role_released",
    ArchiveNotice => "archive_notice",
    RoleDm => "role_dm",
    Resolved => "resolved",
    DeclareModal => "declare_modal",
    Origin => "origin",
    StatuspagePrompt => "statuspage_prompt",
    StatuspageMessage => "statuspage_message",
    StatuspageCreate => "statuspage_create",
    StatuspageUpdate => "statuspage_update",
    ProviderSnapshot => "provider_snapshot",
    UpdateModal => "update_modal",
    UpdatePosted => "update_posted",
    UpdateReply => "update_reply",
    UpdateReminder => "reminder_update",
    CommanderReminder => "reminder_commander",
}

/// A status, severity or Statuspage value and what people read for it. A
/// stored value no longer configured keeps itself as its label rather than
/// vanishing from the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Labelled {
    pub value: String,
    pub label: String,
}

impl Labelled {
    /// `value` shown as `label`, or as a label made of it when there is
    /// none (`under_review` → `Under review`): people never read raw values.
    pub fn new(value: &str, label: Option<&str>) -> Self {
        Self {
            value: value.to_owned(),
            label: label.map_or_else(|| crate::domain::text::humanize(value), str::to_owned),
        }
    }
}

impl From<&Choice> for Labelled {
    fn from(choice: &Choice) -> Self {
        Self::new(choice.value(), Some(choice.label()))
    }
}

/// An incident as every incident template shows it, built from the database
/// alone (`crate::actors::view`), so any message can be re-rendered at any
/// time.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    /// Janus's database id.
    pub id: i64,
    /// The channel's name; empty until the channel exists.
    pub name: String,
    /// Empty until the channel exists.
    #[serde(serialize_with = "id_or_empty")]
    pub channel_id: Option<ChannelId>,
    /// Cut to what the message has room for.
    pub description: SlackText,
    pub status: Labelled,
    pub severity: Labelled,
    pub resolved: bool,
    pub created_by: UserId,
    /// When it was declared, for mrkdwn text: each reader sees their own
    /// zone (`<!date^…|2026-11-27 15:30 UTC>`, see `domain::text::slack_date`).
    pub created_at: String,
    /// Every configured role, in the configured order.
    pub roles: Vec<RoleHolder>,
    /// A private incident: outside its channel, shown without its name,
    /// description or a way in (see [`Digest::new`]).
    pub private: bool,
    /// Its channel was archived (`incident.archive_after`).
    pub archived: bool,
}

/// One role of an incident and who holds it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleHolder {
    pub key: String,
    pub label: String,
    /// `None` while nobody holds it.
    pub holder: Option<UserId>,
}

/// A role as the role templates describe it.
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    pub key: String,
    pub label: String,
    /// The operator's own `mrkdwn` from the configuration, sent as written.
    pub duties: String,
}

/// The incident with the configured lists: what the control and digest
/// messages and the declared reply show.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentMessage {
    pub incident: IncidentView,
    /// Every configured status, in order: the status select's options.
    pub statuses: Vec<Labelled>,
    /// Every configured severity, in order.
    pub severities: Vec<Labelled>,
    /// A browser link to the incident channel (the digest's Join button).
    pub channel_url: String,
}

/// `@janus help`.
#[derive(Debug, Clone, Serialize)]
pub struct Help {
    /// The configured slash command (`slack.command`), e.g. `/incident`.
    pub command: String,
    pub bot_user_id: UserId,
    /// The word Janus did not understand, or `None` for a plain `help`.
    pub unknown: Option<SlackText>,
    /// What is switched on, so help shows exactly what people can use.
    pub features: Features,
}

/// The optional features that are on: help lists these and no others.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Features {
    /// Reacting with this emoji (no colons) declares an incident from a message.
    pub react_emoji: Option<String>,
    /// Reacting with this emoji in an incident channel marks a message for
    /// the timeline (always on).
    pub timeline_emoji: String,
    /// The Statuspage integration is configured.
    pub statuspage: bool,
    /// Janus reminds a channel of a missing update or commander.
    pub reminders: bool,
    /// Resolved incidents' channels are archived after this long, in words.
    pub archive_after: Option<String>,
    /// This user group (as configured) is invited to every incident.
    pub invite_group: Option<String>,
    /// Third-party status snapshots are posted in new channels.
    pub providers: bool,
}

/// What the slash command without a description answers.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// The configured slash command (`slack.command`), e.g. `/incident`.
    pub command: String,
}

/// The pinned control message.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Control(pub IncidentMessage);

/// The incident's message in the digest channel.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    #[serde(flatten)]
    pub message: IncidentMessage,
    /// The newest stakeholder update, if any (see [`Digest::with_update`]).
    pub latest_update: Option<UpdateView>,
}

impl Digest {
    /// The digest entry of `message`. A private incident's entry is seen by
    /// everyone in the digest channel: its channel name (made from the
    /// description), description and channel link are left out here, so
    /// that no template, however customised, can show them.
    pub fn new(mut message: IncidentMessage) -> Self {
        if message.incident.private {
            message.incident.name = String::new();
            message.incident.description = SlackText::from_user("");
            message.channel_url = String::new();
        }
        Self {
            message,
            latest_update: None,
        }
    }

    /// The entry showing `update` as the latest. A private incident's
    /// update keeps its time, author and status, never its text: the text
    /// stays in the private channel.
    pub fn with_update(mut self, update: Option<UpdateView>) -> Self {
        self.latest_update = update.map(|mut update| {
            if self.message.incident.private {
                update.text = SlackText::from_user("");
            }
            update
        });
        self
    }
}

/// A stakeholder update as the digest shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateView {
    pub actor: UserId,
    /// What was posted, escaped and cut short; empty for a private incident.
    pub text: SlackText,
    /// The status the update set, if it set one.
    pub status: Option<Labelled>,
    /// When, as Slack's `<!date^…|…>` token (each reader sees their own
    /// time zone), with a UTC fallback.
    pub at: String,
}

/// The Post update form (a modal).
#[derive(Debug, Clone, Serialize)]
pub struct UpdateModal {
    /// Janus's id, carried in the modal to its submission.
    pub incident_id: i64,
    /// The incident channel: with the id, the modal's `private_metadata`,
    /// so the submission runs in the incident's lane.
    pub channel_id: ChannelId,
    /// Every configured status, in order: the optional status select.
    pub statuses: Vec<Labelled>,
    /// The status now (for the hint; the select starts empty: keep it).
    pub status: Labelled,
    /// The digest thread gets only a note that an update was posted.
    pub private: bool,
}

/// An update, posted in the incident channel.
#[derive(Debug, Clone, Serialize)]
pub struct UpdatePosted {
    pub incident: IncidentView,
    /// Who posted it.
    pub actor: UserId,
    /// What they wrote, escaped.
    pub text: SlackText,
    /// The status it set, if it changed the status.
    pub status: Option<Labelled>,
}

/// An update, as a reply in the thread of the incident's digest message.
/// Built by [`UpdateReply::new`], which keeps a private incident's text and
/// channel out: the digest channel is seen by everyone.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReply {
    pub incident_id: i64,
    /// Empty for a private incident (and until the channel exists).
    #[serde(serialize_with = "id_or_empty")]
    pub channel_id: Option<ChannelId>,
    pub private: bool,
    pub actor: UserId,
    /// Empty for a private incident.
    pub text: SlackText,
    pub status: Option<Labelled>,
}

impl UpdateReply {
    /// The digest thread's copy of `posted`: for a private incident only
    /// who, and the status, never the text or the channel.
    pub fn new(posted: &UpdatePosted) -> Self {
        let private = posted.incident.private;
        Self {
            incident_id: posted.incident.id,
            channel_id: posted.incident.channel_id.clone().filter(|_| !private),
            private,
            actor: posted.actor.clone(),
            text: match private {
                true => SlackText::from_user(""),
                false => posted.text.clone(),
            },
            status: posted.status.clone(),
        }
    }
}

/// The ephemeral reply to the declarer.
#[derive(Debug, Clone, Serialize)]
pub struct Declared {
    #[serde(flatten)]
    pub message: IncidentMessage,
    /// The configured call link, if any.
    pub video_link: Option<Url>,
}

/// `@janus list`.
#[derive(Debug, Clone, Serialize)]
pub struct List {
    /// At most 45 (the caller caps it: 50 blocks a message).
    pub incidents: Vec<Listed>,
    /// Open incidents in all.
    pub count: u64,
    /// How many were left out of `incidents` (0 when none).
    pub more: u64,
}

/// One incident in `@janus list`: the view, and how long it has been open.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub incident: IncidentView,
    /// Time since the declaration, in words (`2 hours 5 minutes`).
    pub age: String,
}

/// A status or severity change, as a line in the channel.
#[derive(Debug, Clone, Serialize)]
pub struct StatusChanged {
    pub incident: IncidentView,
    pub actor: UserId,
    /// `status` or `severity`.
    pub field: String,
    pub from: Labelled,
    pub to: Labelled,
}

/// A role claimed (`actor` is `holder`) or assigned, as a line in the
/// channel.
#[derive(Debug, Clone, Serialize)]
pub struct RoleAssigned {
    pub incident: IncidentView,
    pub actor: UserId,
    pub role: Role,
    pub holder: UserId,
    /// The holder being replaced, if any.
    pub previous: Option<UserId>,
}

/// An hour before a resolved incident's channel is archived.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveNotice {
    pub incident: IncidentView,
    /// When, in words: `1 hour`.
    #[serde(rename = "in")]
    pub in_: String,
}

/// A role left without a holder: a line in the channel, and a DM to who
/// held it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleReleased {
    pub incident: IncidentView,
    pub actor: UserId,
    pub role: Role,
    /// Who held it.
    pub previous: UserId,
}

/// The DM to a role's new holder; `actor` is who assigned it (the holder
/// themselves for a claim).
#[derive(Debug, Clone, Serialize)]
pub struct RoleDm {
    pub incident: IncidentView,
    pub role: Role,
    pub actor: UserId,
}

/// Posted in the incident channel when it is resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    pub incident: IncidentView,
    pub actor: UserId,
}

/// Posted in the incident channel when no update was posted for the
/// severity's `reminders.update_every`.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReminder {
    pub incident: IncidentView,
    /// The commander role's holder, mentioned; `None`: nobody holds it, and
    /// the channel is mentioned (`<!here>`) instead.
    pub commander: Option<UserId>,
    /// The commander role's label, e.g. `Incident commander`.
    pub role: String,
    /// How long since the last update (or the declaration, a reopening or
    /// the last reminder), in words: `30 minutes`, `2 hours`.
    pub quiet_for: String,
}

/// Posted once in the incident channel when nobody holds the commander role
/// `reminders.unclaimed_commander_after` after the declaration.
#[derive(Debug, Clone, Serialize)]
pub struct CommanderReminder {
    pub incident: IncidentView,
    /// The commander role's label, e.g. `Incident commander`.
    pub role: String,
    /// How long after the declaration, in words: `10 minutes`.
    pub after: String,
}

/// The declare form (a modal).
#[derive(Debug, Clone, Serialize)]
pub struct DeclareModal {
    /// Where the form was opened: the declaration's source channel.
    pub channel_id: ChannelId,
    pub severities: Vec<Labelled>,
    pub default_severity: Labelled,
}

/// The message an incident was declared from (react-to-create), quoted in
/// the new channel.
#[derive(Debug, Clone, Serialize)]
pub struct Origin {
    pub channel_id: ChannelId,
    pub author: Option<UserId>,
    /// The author as plain text (`@Name`), which pings nobody; set when
    /// `author` is.
    pub author_name: Option<SlackText>,
    /// The message's text, escaped, each line starting with `>`.
    pub quoted: SlackText,
    pub permalink: Option<Url>,
}

/// The prompt posted in a new incident channel: create a Statuspage
/// incident?
#[derive(Debug, Clone, Serialize)]
pub struct StatuspagePrompt {
    pub incident: IncidentView,
}

/// The message that manages an incident's Statuspage incident, edited in
/// place as it moves.
#[derive(Debug, Clone, Serialize)]
pub struct StatuspageMessage {
    pub incident: IncidentView,
    /// Who last acted on it.
    pub actor: UserId,
    pub page: PageIncident,
}

/// A Statuspage incident as Statuspage answered: third-party text,
/// escaped like a person's.
#[derive(Debug, Clone, Serialize)]
pub struct PageIncident {
    pub name: SlackText,
    pub status: Labelled,
    pub impact: Labelled,
    /// The public short link; only an http(s) one.
    pub shortlink: Option<Url>,
    /// The latest update's message.
    pub latest: Option<SlackText>,
    pub components: Vec<PageComponent>,
    pub resolved: bool,
}

/// A component a Statuspage incident affects.
#[derive(Debug, Clone, Serialize)]
pub struct PageComponent {
    pub name: SlackText,
    /// Its status's label, e.g. `Partial outage`.
    pub status: String,
}

/// The form that creates a Statuspage incident (a modal).
#[derive(Debug, Clone, Serialize)]
pub struct StatuspageCreate {
    /// Janus's id, carried in the modal to its submission.
    pub incident_id: i64,
    pub channel_id: ChannelId,
    /// The title's initial value: the description, plain text (an input
    /// shows no `mrkdwn`), at most 255 characters.
    pub name: String,
    /// The page's components a person may pick (no groups), at most 100.
    pub components: Vec<ComponentChoice>,
}

/// A component offered in the create form.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentChoice {
    /// Statuspage's id.
    pub id: String,
    /// Plain text (an option's label), at most 75 characters.
    pub name: String,
}

/// The form that updates or resolves a Statuspage incident (a modal).
#[derive(Debug, Clone, Serialize)]
pub struct StatuspageUpdate {
    pub incident_id: i64,
    pub channel_id: ChannelId,
    /// The Statuspage incident's status now: the select's initial option.
    pub status: Labelled,
}

/// Third-party status, one row per configured provider (built by
/// `crate::providers::view`).
#[derive(Debug, Clone, Serialize)]
pub struct ProviderSnapshot {
    pub worst: Worst,
    /// At most 45, in the configured order.
    pub providers: Vec<ProviderRow>,
    /// How many were left out of `providers`.
    pub more_providers: usize,
    /// How many did not answer.
    pub unreachable: usize,
    /// When, for mrkdwn: each reader's own zone (`<!date^…|15:42 UTC>`).
    pub checked_at: String,
}

/// The worst level among the providers, which heads the message.
#[derive(Debug, Clone, Serialize)]
pub struct Worst {
    pub level: &'static str,
    pub label: &'static str,
    pub emoji: &'static str,
}

/// One provider. A provider that could not be read is a `warning` row
/// whose summary says why.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderRow {
    pub name: SlackText,
    pub level: &'static str,
    pub emoji: &'static str,
    pub summary: SlackText,
    pub warning: bool,
    /// At most 3.
    pub incidents: Vec<ProviderIncidentRow>,
    /// How many were left out of `incidents`.
    pub more_incidents: usize,
}

/// One of a provider's open incidents.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderIncidentRow {
    pub title: SlackText,
    pub status: SlackText,
    /// An http(s) link escaped to be safe inside `<…|…>`, or `None`.
    pub url: Option<String>,
}

/// An id that may not exist yet, as the empty string until it does: what
/// templates have always received.
fn id_or_empty<S: Serializer>(id: &Option<ChannelId>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(id.as_ref().map_or("", ChannelId::as_str))
}
