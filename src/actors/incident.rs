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

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use url::Url;

use super::publisher::PublisherHandle;
use super::snapshot::SnapshotHandle;
use super::statuspage::StatuspageHandle;
use super::{Context, announce, view};
use crate::domain::block_ids::{action, block};
use crate::domain::declaration::DeclarationStep;
use crate::domain::event::{Click, DeclareForm, Mention, SlashCommand};
use crate::domain::ids::{ChannelId, MessageTs, UserId};
use crate::domain::incident::IncidentName;
use crate::domain::text::{SlackText, decode_mrkdwn};
use crate::slack::ApiErrorCode;
use crate::store::{Incident, IncidentId, NewIncident, OwnedMessage};

/// The slash command Janus answers to (the one in `slack_manifest.yaml`).
pub const COMMAND: &str = "/incident";

/// Declarations that run at once; more wait, first come first served.
pub const DECLARATIONS_AT_ONCE: usize = 4;
/// How many `-2`, `-3`… suffixes to try when a channel name is taken.
const MAX_NAME_SUFFIX: u32 = 50;
/// Incidents `@janus list` shows; the rest are counted.
const LIST_LIMIT: u32 = 45;

/// A declaration, from the slash command or from the declare form. Stored
/// with the incident, so a restart can finish it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Declaration {
    /// What is wrong, as plain text (Slack's entities already decoded).
    pub description: String,
    /// The chosen severity key, or `None` for the configured default.
    pub severity: Option<String>,
    /// Who declares.
    pub user: UserId,
    /// Where they were (where `/incident` was typed).
    pub source: Option<ChannelId>,
    /// How to answer them.
    pub reply: Reply,
    /// Names the channel instead of the description (react-to-create's
    /// `auto-xxxxxx`).
    pub slug: Option<String>,
    /// The message the incident was declared from, quoted in the channel.
    pub origin: Option<Origin>,
}

/// A message an incident was declared from (react-to-create).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Origin {
    /// Where it is.
    pub channel: ChannelId,
    /// Who wrote it.
    pub author: Option<UserId>,
    /// Its text, plain (escaped when shown).
    pub text: String,
    /// A link to it.
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

/// Cheap handle to the incident actor.
#[derive(Clone)]
pub struct IncidentHandle {
    actor: Arc<IncidentActor>,
}

impl IncidentHandle {
    /// Builds the actor.
    pub fn new(
        ctx: Arc<Context>,
        publisher: PublisherHandle,
        statuspage: Option<StatuspageHandle>,
        snapshot: Option<SnapshotHandle>,
    ) -> Self {
        Self {
            actor: Arc::new(IncidentActor {
                ctx,
                publisher,
                statuspage,
                snapshot,
                declaring: Arc::new(Semaphore::new(DECLARATIONS_AT_ONCE)),
            }),
        }
    }

    /// Answers a mention (help, list).
    pub async fn mention(&self, mention: Mention) {
        self.actor.on_mention(mention).await;
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
        let errors = form_errors(form, &self.actor.ctx.config.incident.catalog);
        (!errors.is_empty()).then(|| json!({ "response_action": "errors", "errors": errors }))
    }

    /// The clicker moves the status (from the control message's select).
    pub async fn status(&self, click: Click, status: String) {
        self.actor.change(click, Field::Status, status).await;
    }

    /// The clicker changes the severity.
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
        if command != COMMAND {
            return None;
        }
        if !text.trim().is_empty() {
            return Some(json!({ "response_type": "ephemeral", "text": CREATING }));
        }
        match self
            .actor
            .ctx
            .ephemeral("usage", &json!({ "command": COMMAND }))
        {
            Ok(payload) => Some(payload),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the usage message");
                None
            }
        }
    }
}

/// What the declarer reads in the slash command's ack.
pub const CREATING: &str =
    ":hourglass_flowing_sand: Opening the incident channel; its link follows here in a moment.";

struct IncidentActor {
    ctx: Arc<Context>,
    publisher: PublisherHandle,
    statuspage: Option<StatuspageHandle>,
    snapshot: Option<SnapshotHandle>,
    /// Turns to run a declaration (see [`DECLARATIONS_AT_ONCE`]).
    declaring: Arc<Semaphore>,
}

impl IncidentActor {
    async fn on_mention(&self, m: Mention) {
        let words = strip_mention(&m.text, self.ctx.bot.user_id.as_str());
        let verb = words.split_whitespace().next().unwrap_or("").to_lowercase();
        if verb == "list" {
            self.list(&m).await;
            return;
        }
        let unknown = match verb.as_str() {
            "" | "help" => None,
            _ => Some(SlackText::from_user(&verb)),
        };
        let data = json!({
            "command": COMMAND,
            "bot_user_id": self.ctx.bot.user_id.as_str(),
            "unknown": unknown,
        });
        let blocks = match self.ctx.renderer.render("help", &data) {
            Ok(blocks) => blocks,
            Err(e) => {
                tracing::error!(error = %e, "cannot render the help message");
                return;
            }
        };
        // Reply where the mention was: in its thread if it was in one.
        let thread = m.thread_ts.as_ref();
        if let Err(e) = self
            .ctx
            .slack
            .post_message(&m.channel, "How to use Janus", &blocks, thread)
            .await
        {
            tracing::warn!(channel = %m.channel, user = %m.user, error = %e,
                "cannot post the help message");
        }
    }

    async fn on_command(&self, c: SlashCommand) {
        if c.command != COMMAND {
            let payload = json!({
                "response_type": "ephemeral",
                "text": format!("Janus does not handle {}; try {COMMAND}.",
                    SlackText::from_user(&c.command).as_str()),
            });
            tracing::warn!(command = %c.command, user = %c.user, "unknown slash command");
            self.respond(&c, &payload).await;
            return;
        }
        if c.text.trim().is_empty() {
            if !c.answered_in_ack {
                match self.ctx.ephemeral("usage", &json!({ "command": COMMAND })) {
                    Ok(payload) => self.respond(&c, &payload).await,
                    Err(e) => tracing::error!(error = %e, "cannot render the usage message"),
                }
            }
            return;
        }
        let declaration = Declaration {
            description: decode_mrkdwn(c.text.trim()),
            severity: None,
            user: c.user.clone(),
            source: Some(c.channel.clone()),
            reply: Reply::ResponseUrl(c.response_url.clone()),
            slug: None,
            origin: None,
        };
        self.declare(&declaration).await;
    }

    async fn open_form(&self, click: Click) {
        let Some(trigger) = &click.trigger_id else {
            return;
        };
        let catalog = &self.ctx.config.incident.catalog;
        let choice =
            |c: &crate::domain::incident::Choice| json!({ "value": c.value(), "label": c.label() });
        let data = json!({
            "channel_id": click.channel.as_str(),
            "severities": catalog.severities().iter().map(choice).collect::<Vec<_>>(),
            "default_severity": choice(catalog.default_severity()),
        });
        let view = match self.ctx.renderer.render("declare_modal", &data) {
            Ok(view) => view,
            Err(e) => {
                tracing::error!(error = %e, "cannot render the declare form");
                return;
            }
        };
        if let Err(e) = self.ctx.slack.open_view(trigger, &view).await {
            tracing::warn!(user = %click.user, error = %e, "cannot open the declare form");
            let text = match e.code() {
                Some(ApiErrorCode::ExpiredTriggerId) => {
                    "The form took too long to open; click the button again."
                }
                _ => "I could not open the form; type `/incident <what is wrong>` instead.",
            };
            self.ctx.tell(&click, text).await;
        }
    }

    async fn on_form(&self, form: DeclareForm) {
        let declaration = Declaration {
            description: form.description.trim().to_owned(),
            severity: form.severity.clone(),
            user: form.user.clone(),
            source: form.source.clone(),
            reply: Reply::Person,
            slug: None,
            origin: None,
        };
        // The ack normally carried any errors and kept the form open; this
        // catches a submission whose check missed the ack budget.
        if !form_errors(&form, &self.ctx.config.incident.catalog).is_empty() {
            self.tell(&declaration, "The declare form was incomplete; nothing was created. Open it again from `/incident`.").await;
            return;
        }
        self.declare(&declaration).await;
    }

    /// Status or severity from the control message: saved, announced in
    /// the channel, shown in the control and digest messages.
    async fn change(&self, click: Click, field: Field, value: String) {
        let Some(incident) = self.ctx.incident_of(&click).await else {
            return;
        };
        let catalog = &self.ctx.config.incident.catalog;
        let known = match field {
            Field::Status => catalog.status(&value).is_some(),
            Field::Severity => catalog.severity(&value).is_some(),
        };
        if !known {
            tracing::warn!(value, user = %click.user, "click for a value that is not configured");
            self.ctx
                .tell(
                    &click,
                    "That choice no longer exists in Janus's configuration.",
                )
                .await;
            return;
        }
        let resolved = catalog.resolved_status().value() == value;
        let changed = self
            .ctx
            .with_store(&click, || async {
                let store = &self.ctx.store;
                match field {
                    Field::Status => {
                        store
                            .set_status(incident.id, &value, resolved, &click.user, &click.delivery)
                            .await
                    }
                    Field::Severity => {
                        store
                            .set_severity(incident.id, &value, &click.user, &click.delivery)
                            .await
                    }
                }
            })
            .await;
        let change = match changed {
            Ok(Some(change)) => change,
            // Already that value (a double click, or someone was quicker).
            Ok(None) => return,
            Err(e) if e.is_redelivery() => {
                tracing::info!(
                    delivery = click.delivery,
                    "click already applied; redelivery ignored"
                );
                return;
            }
            Err(e) => {
                self.ctx.database_trouble(&click, e).await;
                return;
            }
        };
        tracing::info!(incident = %incident.id, field = field.name(), from = change.from, to = change.to, user = %click.user, "changed");
        // The control and digest messages follow from what is stored, beside
        // the line in the channel.
        self.publisher
            .refresh_for(incident.id, click.response_url.as_ref());
        let fresh = match self.ctx.store.incident(incident.id).await {
            Ok(Some(fresh)) => fresh,
            _ => incident.clone(),
        };
        let outcome = announce::field_changed(
            &self.ctx,
            &fresh,
            click.user.as_str(),
            field.name(),
            &change.from,
            &change.to,
        )
        .await;
        announce::finish(&self.ctx, change.event, outcome).await;
    }

    /// Announces the changes a crash left unannounced (see
    /// [`announce::missed`]).
    async fn announce_missed(&self, settled: std::time::Duration) {
        announce::missed(&self.ctx, settled).await;
    }

    async fn list(&self, m: &Mention) {
        let (incidents, total) = match self.ctx.store.open_incidents(LIST_LIMIT).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "cannot list incidents");
                self.post(
                    &m.channel,
                    m.thread_ts.as_ref(),
                    "I cannot reach my database right now; try again in a minute.",
                )
                .await;
                return;
            }
        };
        let catalog = &self.ctx.config.incident.catalog;
        let shown: Vec<Value> = incidents
            .iter()
            .map(|i| view::incident(i, catalog, view::SHORT_DESCRIPTION_CHARS))
            .collect();
        let data = json!({
            "count": total,
            "more": total.saturating_sub(shown.len() as u64),
            "incidents": shown,
        });
        match self.ctx.renderer.render("list", &data) {
            Ok(blocks) => {
                let text = format!("{total} open incidents");
                if let Err(e) = self
                    .ctx
                    .slack
                    .post_message(&m.channel, &text, &blocks, m.thread_ts.as_ref())
                    .await
                {
                    tracing::warn!(channel = %m.channel, error = %e, "cannot post the list");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot render the incident list"),
        }
    }

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

    async fn declare(&self, c: &Declaration) -> Option<IncidentId> {
        let catalog = &self.ctx.config.incident.catalog;
        let severity = c
            .severity
            .as_deref()
            .and_then(|s| catalog.severity(s))
            .unwrap_or_else(|| catalog.default_severity());
        let new = NewIncident {
            description: c.description.clone(),
            status: catalog.initial_status().value().to_owned(),
            severity: severity.value().to_owned(),
            created_by: c.user.clone(),
            declared_in: c.source.clone(),
            declaration: serde_json::to_value(c).unwrap_or_default(),
        };
        let id = match self.ctx.store.create_incident(&new).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(user = %c.user, error = %e, "cannot record a declaration");
                self.tell(c, "I could not record the incident because my database is unavailable; nothing was created. Please try again in a minute.").await;
                return None;
            }
        };
        // Held while this process works on it: another replica's resume
        // leaves it alone.
        let _lock = self
            .ctx
            .store
            .try_lease_declaration(id)
            .await
            .ok()
            .flatten();
        // Recorded before waiting for a turn: a crash meanwhile is resumed.
        let _turn = self.declaring.acquire().await.ok()?;
        self.finish(id, c, false).await
    }

    /// Finishes every declaration a crash interrupted (on start).
    async fn resume(&self) {
        let ids = match self.ctx.store.incomplete_declarations().await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot look for interrupted declarations");
                return;
            }
        };
        for id in ids {
            // Another replica holds it: it is in flight there, not interrupted.
            let Ok(Some(_lock)) = self.ctx.store.try_lease_declaration(id).await else {
                continue;
            };
            let declaration = match self.ctx.store.incident(id).await {
                Ok(Some(incident)) if !incident.completed => incident
                    .declaration
                    .and_then(|d| serde_json::from_value::<Declaration>(d).ok()),
                _ => continue,
            };
            match declaration {
                Some(d) => {
                    tracing::info!(incident = %id, "finishing a declaration a restart interrupted");
                    let Ok(_turn) = self.declaring.acquire().await else {
                        return;
                    };
                    self.finish(id, &d, true).await;
                }
                None => {
                    tracing::warn!(incident = %id, "interrupted declaration without its details; marked complete");
                    let _ = self.ctx.store.complete_declaration(id).await;
                }
            }
        }
    }

    /// Runs every declaration step not done yet, recording each before the
    /// next, so a restart continues where a crash stopped and repeats
    /// nothing. `resuming`: look in Slack for what a crash may have done
    /// without recording it (a channel, the control message, the digest).
    async fn finish(&self, id: IncidentId, c: &Declaration, resuming: bool) -> Option<IncidentId> {
        let incident = self.load_declaration(id).await?;
        let channel = match &incident.channel_id {
            Some(channel) => channel.clone(),
            None => {
                let adopted = match (&incident.intended_name, resuming) {
                    (Some(name), true) => self
                        .ctx
                        .slack
                        .find_channel(name)
                        .await
                        .ok()
                        .flatten()
                        .map(|ch| (ch, name.clone())),
                    _ => None,
                };
                let (channel, name) = match adopted {
                    Some(found) => found,
                    None => {
                        let local = self.ctx.config.incident.local_time(incident.created_at);
                        let naming = c.slug.as_deref().unwrap_or(&c.description);
                        let base = match IncidentName::new(local, naming, &fallback_id(id)) {
                            Ok(name) => name,
                            Err(e) => {
                                tracing::error!(incident = %id, error = %e, "cannot name the incident channel");
                                self.abandon(id, c, "I could not make a channel name from that description; nothing was created.").await;
                                return None;
                            }
                        };
                        let (channel, name) = self.create_channel(id, c, &base).await?;
                        (channel, name.as_str().to_owned())
                    }
                };
                if let Err(e) = self.ctx.store.set_channel(id, &channel, &name).await {
                    tracing::error!(incident = %id, error = %e, "cannot record the incident channel");
                }
                tracing::info!(incident = %id, channel = %channel, name, user = %c.user, "incident declared");
                channel
            }
        };

        // The declarer is told where the incident is as soon as the channel
        // exists, beside three chains that need only the channel: the people
        // in it, the control message (and the posts after it), and the
        // digest. Each step is recorded on its own, so a restart finishes
        // whichever a crash cut short.
        let answer = self.step(
            &incident,
            DeclarationStep::Answered,
            self.answer_declared(id, c, &channel),
        );
        let people = async {
            self.step(&incident, DeclarationStep::Invited, async {
                if let Err(e) = self.ctx.slack.invite(&channel, std::slice::from_ref(&c.user)).await {
                    tracing::warn!(incident = %id, user = %c.user, error = %e, "cannot invite the declarer");
                }
            })
            .await;
            let mut group_problem = None;
            if let Some(auto) = &self.ctx.config.auto_invite {
                self.step(&incident, DeclarationStep::Group, async {
                    group_problem = self
                        .ctx
                        .groups
                        .invite(&self.ctx, &channel, &auto.group)
                        .await
                        .err();
                })
                .await;
            }
            if let Some(link) = &self.ctx.config.incident.video_link {
                self.step(&incident, DeclarationStep::Topic, async {
                    if let Err(e) = self.ctx.slack.set_topic(&channel, link.as_str()).await {
                        tracing::warn!(incident = %id, error = %e, "cannot set the topic");
                    }
                    if let Err(e) = self
                        .ctx
                        .slack
                        .add_bookmark(&channel, "Video call", link)
                        .await
                    {
                        tracing::warn!(incident = %id, error = %e, "cannot add the video bookmark");
                    }
                })
                .await;
            }
            group_problem
        };
        let posts = async {
            let control_ok = self.post_control(id, &channel, resuming).await;
            // The optional posts: on resume, one a crash posted but did not
            // record is found in the channel (by its marker) instead of
            // posted again.
            if let Some(origin) = &c.origin {
                self.optional_post(
                    &incident,
                    &channel,
                    resuming,
                    DeclarationStep::Origin,
                    "Declared from",
                    self.quote_origin(&channel, origin),
                )
                .await;
            }
            if let Some(snapshot) = &self.snapshot {
                self.optional_post(
                    &incident,
                    &channel,
                    resuming,
                    DeclarationStep::Snapshot,
                    action::PROVIDERS_REFRESH,
                    async { snapshot.post(channel.clone(), Some(id)) },
                )
                .await;
            }
            if let Some(statuspage) = &self.statuspage {
                self.optional_post(
                    &incident,
                    &channel,
                    resuming,
                    DeclarationStep::Statuspage,
                    action::STATUSPAGE_OPEN,
                    async { statuspage.prompt(id, channel.clone()) },
                )
                .await;
            }
            control_ok
        };
        let ((), group_problem, control_ok, digest) =
            tokio::join!(answer, people, posts, self.publisher.publish(id, resuming));
        if let Some(problem) = group_problem {
            tracing::warn!(incident = %id, "{problem}");
            self.post(&channel, None, &format!(":warning: {problem}"))
                .await;
        }
        let mut problems = Vec::new();
        if !control_ok {
            problems.push("I could not post the control message in the channel; use the channel as usual and try the controls again later.".to_owned());
        }
        if let Err(problem) = digest {
            problems.push(problem.to_string());
        }
        if !problems.is_empty() {
            let lines: Vec<String> = problems.iter().map(|p| format!(":warning: {p}")).collect();
            self.tell(c, &lines.join("\n")).await;
        }
        if let Err(e) = self.ctx.store.complete_declaration(id).await {
            tracing::error!(incident = %id, error = %e, "cannot record the declaration as finished");
        }
        Some(id)
    }

    /// The declaration's incident, read again while the database is away
    /// (up to [`super::STORE_PATIENCE`]); `None` (logged) leaves the
    /// declaration unfinished for recovery to take up.
    async fn load_declaration(&self, id: IncidentId) -> Option<Incident> {
        let started = std::time::Instant::now();
        let mut wait = std::time::Duration::from_millis(200);
        loop {
            match self.ctx.store.incident(id).await {
                Ok(found) => return found,
                Err(e) if started.elapsed() < super::STORE_PATIENCE => {
                    tracing::warn!(incident = %id, error = %e, "cannot read the declaration; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(incident = %id, error = %e,
                        "cannot read the declaration; recovery will finish it");
                    return None;
                }
            }
        }
    }

    /// A post the declaration makes once (`step`): skipped when recorded;
    /// on resume, adopted when a message of ours with `marker` is already
    /// in the channel; otherwise made. Whoever posts records the step right
    /// after (the snapshot and Statuspage actors do it themselves).
    async fn optional_post(
        &self,
        incident: &Incident,
        channel: &ChannelId,
        resuming: bool,
        step: DeclarationStep,
        marker: &str,
        post: impl std::future::Future<Output = ()>,
    ) {
        if incident.done(step) {
            return;
        }
        if resuming && self.find_own(channel, marker).await.is_some() {
            let _ = self.ctx.store.mark_step(incident.id, step).await;
            return;
        }
        post.await;
        if step == DeclarationStep::Origin {
            let _ = self.ctx.store.mark_step(incident.id, step).await;
        }
    }

    /// Runs `work` unless the step is recorded as done, then records it.
    async fn step(
        &self,
        incident: &Incident,
        step: DeclarationStep,
        work: impl std::future::Future<Output = ()>,
    ) {
        if incident.done(step) {
            return;
        }
        work.await;
        if let Err(e) = self.ctx.store.mark_step(incident.id, step).await {
            tracing::error!(incident = %incident.id, step = step.as_str(), error = %e, "cannot record a declaration step");
        }
    }

    /// Tells the declarer where the incident is.
    async fn answer_declared(&self, id: IncidentId, c: &Declaration, channel: &ChannelId) {
        let incident = match self.ctx.store.incident(id).await {
            Ok(Some(incident)) => incident,
            _ => {
                self.tell(c, &format!("Incident channel <#{channel}> is open."))
                    .await;
                return;
            }
        };
        let mut data = view::message(
            &incident,
            &self.ctx.config,
            self.ctx.bot.workspace_url.as_ref(),
            view::SHORT_DESCRIPTION_CHARS,
        );
        data["video_link"] = json!(
            self.ctx
                .config
                .incident
                .video_link
                .as_ref()
                .map(|u| u.as_str())
        );
        let mut payload = match self.ctx.ephemeral("declared", &data) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "cannot render the declared message");
                json!({ "response_type": "ephemeral", "text": format!("Incident channel <#{channel}> is open.") })
            }
        };
        if matches!(c.reply, Reply::Thread(_)) {
            // Everyone in the thread reads this one: a plain pointer.
            payload = json!({ "text": format!(
                "<@{}> declared an incident from this message: <#{channel}>", c.user
            ) });
        }
        self.answer(c, &payload).await;
    }

    /// Posts the message an incident was declared from, quoted, with a link.
    async fn quote_origin(&self, channel: &ChannelId, origin: &Origin) {
        let escaped = SlackText::from_user(&origin.text).truncate_chars(2500);
        let quoted: String = escaped
            .as_str()
            .lines()
            .map(|line| format!(">{line}\n"))
            .collect();
        let data = json!({
            "channel_id": origin.channel.as_str(),
            "author": origin.author.as_ref().map(|u| u.as_str()),
            "quoted": quoted,
            "permalink": origin.permalink.as_ref().map(|u| u.as_str()),
        });
        self.ctx
            .post_rendered(channel, "origin", &data, "Declared from a message")
            .await;
    }

    /// `conversations.create`, trying `-2`, `-3`… while the name is taken
    /// (archived channels keep their names forever).
    async fn create_channel(
        &self,
        id: IncidentId,
        c: &Declaration,
        base: &IncidentName,
    ) -> Option<(ChannelId, IncidentName)> {
        for n in 1..=MAX_NAME_SUFFIX {
            let name = if n == 1 {
                base.clone()
            } else {
                base.with_suffix(n)
            };
            // Recorded before asking: if the answer is lost (a crash, a
            // timeout after Slack acted), a restart finds the channel by it.
            if let Err(e) = self.ctx.store.set_intended_name(id, name.as_str()).await {
                tracing::error!(incident = %id, error = %e, "cannot record the channel name");
            }
            let mut created = self.ctx.slack.create_channel(name.as_str()).await;
            if let Err(e) = &created
                && e.may_have_taken_effect()
            {
                // No answer: Slack may have made it. Look before asking again.
                tracing::warn!(incident = %id, name = name.as_str(), error = %e,
                    "no answer to conversations.create; looking for the channel");
                created = match self.ctx.slack.find_channel(name.as_str()).await {
                    Ok(Some(channel)) => Ok(channel),
                    _ => self.ctx.slack.create_channel(name.as_str()).await,
                };
            }
            match created {
                Ok(channel) => return Some((channel, name)),
                Err(e) if e.code() == Some(&ApiErrorCode::NameTaken) => continue,
                Err(e) => {
                    tracing::error!(incident = %id, name = name.as_str(), error = %e, "cannot create the incident channel");
                    let why = match e.code() {
                        Some(ApiErrorCode::Other(code)) if code == "restricted_action" => "this workspace does not let me create channels (ask an admin to allow it)".to_owned(),
                        _ => e.to_string(),
                    };
                    self.abandon(
                        id,
                        c,
                        &format!(
                            "I could not create the incident channel: {why}. Nothing was created."
                        ),
                    )
                    .await;
                    return None;
                }
            }
        }
        self.abandon(id, c, &format!("Every channel name from {} to -{MAX_NAME_SUFFIX} is taken; declare it with a different description.", base.as_str())).await;
        None
    }

    /// Forgets a declaration that got no channel, and says so.
    async fn abandon(&self, id: IncidentId, c: &Declaration, text: &str) {
        if let Err(e) = self.ctx.store.discard_incident(id).await {
            tracing::error!(incident = %id, error = %e, "cannot discard a failed declaration");
        }
        self.tell(c, text).await;
    }

    /// Renders, posts and pins the control message (each once); `false`
    /// if that failed. `resuming`: a control message a crash posted without
    /// recording is found in the channel and adopted, not posted again.
    async fn post_control(&self, id: IncidentId, channel: &ChannelId, resuming: bool) -> bool {
        let incident = match self.ctx.store.incident(id).await {
            Ok(Some(incident)) => incident,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "cannot load the incident");
                return false;
            }
        };
        if let Some(ts) = &incident.control_ts {
            self.step(
                &incident,
                DeclarationStep::Pinned,
                self.pin(id, channel, ts),
            )
            .await;
            return true;
        }
        if resuming && let Some(ts) = self.find_own(channel, action::STATUS).await {
            if let Err(e) = self
                .ctx
                .store
                .set_message_ts(id, OwnedMessage::Control, &ts)
                .await
            {
                tracing::error!(incident = %id, error = %e, "cannot record the control message");
            }
            self.step(
                &incident,
                DeclarationStep::Pinned,
                self.pin(id, channel, &ts),
            )
            .await;
            return true;
        }
        let data = view::message(
            &incident,
            &self.ctx.config,
            self.ctx.bot.workspace_url.as_ref(),
            view::CONTROL_DESCRIPTION_CHARS,
        );
        let blocks = match self.ctx.renderer.render("control", &data) {
            Ok(blocks) => blocks,
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "cannot render the control message");
                return false;
            }
        };
        let text = view::control_text(&incident);
        let mut posted = self
            .ctx
            .slack
            .post_message(channel, &text, &blocks, None)
            .await;
        if let Err(e) = &posted
            && e.may_have_taken_effect()
        {
            // No answer: it may be in the channel. Look before posting again.
            tracing::warn!(incident = %id, error = %e, "no answer posting the control message; looking for it");
            posted = match self.find_own(channel, action::STATUS).await {
                Some(ts) => Ok(ts),
                None => {
                    self.ctx
                        .slack
                        .post_message(channel, &text, &blocks, None)
                        .await
                }
            };
        }
        let ts = match posted {
            Ok(ts) => ts,
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "cannot post the control message");
                return false;
            }
        };
        if let Err(e) = self
            .ctx
            .store
            .set_message_ts(id, OwnedMessage::Control, &ts)
            .await
        {
            tracing::error!(incident = %id, error = %e, "cannot record the control message");
        }
        self.step(
            &incident,
            DeclarationStep::Pinned,
            self.pin(id, channel, &ts),
        )
        .await;
        true
    }

    async fn pin(&self, id: IncidentId, channel: &ChannelId, ts: &MessageTs) {
        if let Err(e) = self.ctx.slack.pin(channel, ts).await {
            tracing::warn!(incident = %id, error = %e, "cannot pin the control message");
        }
    }

    /// The newest message of ours in `channel` whose blocks contain `marker`
    /// (an action id): what a crash may have posted without recording.
    async fn find_own(&self, channel: &ChannelId, marker: &str) -> Option<MessageTs> {
        let messages = self.ctx.slack.recent_messages(channel, 50).await.ok()?;
        messages
            .into_iter()
            .find(|m| {
                m.user.as_ref() == Some(&self.ctx.bot.user_id)
                    && m.blocks
                        .as_ref()
                        .is_some_and(|b| b.to_string().contains(marker))
            })
            .map(|m| m.ts)
    }

    async fn respond(&self, c: &SlashCommand, payload: &Value) {
        if let Err(e) = self.ctx.slack.respond(&c.response_url, payload).await {
            tracing::warn!(user = %c.user, error = %e, "cannot answer the slash command");
        }
    }
}

/// What is wrong with a submitted declare form, by block id.
fn form_errors(
    form: &DeclareForm,
    catalog: &crate::domain::incident::Catalog,
) -> serde_json::Map<String, Value> {
    let mut errors = serde_json::Map::new();
    if form.description.trim().is_empty() {
        errors.insert(
            block::DESCRIPTION.into(),
            json!("Say what is wrong, e.g. “checkout returns 500 errors”."),
        );
    }
    if let Some(severity) = &form.severity
        && catalog.severity(severity).is_none()
    {
        errors.insert(
            block::SEVERITY.into(),
            json!("Pick one of the listed severities."),
        );
    }
    errors
}

/// The two fields the control message's selects change.
#[derive(Debug, Clone, Copy)]
enum Field {
    Status,
    Severity,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Severity => "severity",
        }
    }
}

/// The short unique id a channel gets when nothing is left of the
/// description's slug: the incident's id in base 36, six characters.
fn fallback_id(id: IncidentId) -> String {
    let mut n = id.0.unsigned_abs();
    let mut out = Vec::new();
    while n > 0 {
        out.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
    }
    while out.len() < 6 {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The text of a mention without the leading `<@BOT>` tokens.
fn strip_mention<'a>(text: &'a str, bot_user_id: &str) -> &'a str {
    let mut rest = text.trim_start();
    loop {
        let Some(after) = rest.strip_prefix("<@") else {
            return rest;
        };
        let Some((id, tail)) = after.split_once('>') else {
            return rest;
        };
        // `<@U123|name>` is an older spelling of the same mention.
        let id = id.split('|').next().unwrap_or(id);
        if id != bot_user_id {
            return rest;
        }
        rest = tail.trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::{IncidentId, fallback_id, strip_mention};

    #[test]
    fn the_fallback_id_is_six_base36_characters() {
        assert_eq!(fallback_id(IncidentId(1)), "000001");
        assert_eq!(fallback_id(IncidentId(36)), "000010");
        assert_eq!(fallback_id(IncidentId(2_176_782_335)), "zzzzzz");
    }

    #[test]
    fn the_bots_own_mention_is_stripped_and_others_are_kept() {
        assert_eq!(strip_mention("<@UBOT> help", "UBOT"), "help");
        assert_eq!(strip_mention("  <@UBOT|janus>   list  ", "UBOT"), "list  ");
        assert_eq!(strip_mention("<@UOTHER> help", "UBOT"), "<@UOTHER> help");
        assert_eq!(strip_mention("<@UBOT>", "UBOT"), "");
        assert_eq!(strip_mention("<@UBOT", "UBOT"), "<@UBOT");
    }
}
