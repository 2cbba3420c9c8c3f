//! The Statuspage actor: from the incident channel, create a Statuspage
//! incident, post updates, resolve it.
//!
//! One message per incident manages it: posted as a prompt when the
//! incident is declared, then edited in place (by its stored ts) as the
//! Statuspage incident moves. Every failure reaches the person who clicked
//! or submitted, in the words `StatuspageError::user_message` gives.
//!
//! With `statuspage.follow_incident`, the Statuspage incident also moves
//! with the incident's status on its own: see `follow.rs`.

mod follow;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tracing::field::{Empty, display};
use tracing::{Instrument, Span};

use super::{Context, view};
use crate::config::Publishers;
use crate::domain::block_ids::block;
use crate::domain::declaration::DeclarationStep;
use crate::domain::event::{Click, StatuspageForm};
use crate::domain::ids::{ChannelId, UserId};
use crate::domain::text::SlackText;
use crate::render::TemplateContext;
use crate::render::context::{
    self, ComponentChoice, Labelled, PageComponent, StatuspageCreate, StatuspageMessage,
    StatuspagePrompt, StatuspageUpdate,
};
use crate::statuspage::{
    ComponentId, ComponentStatus, Impact, Incident as PageIncident, IncidentId as PageId,
    IncidentStatus, NewIncident, StatuspageClient, StatuspageError,
};
use crate::store::{
    Declarations, IncidentId, Incidents, PendingCreate, StatuspageAction, StatuspageLinks,
};

/// A submitted Statuspage form's field errors for the ack
/// (`response_action: errors`), by block id. Here, not on the form, because
/// what is valid is the Statuspage API's vocabulary (impacts, statuses).
pub fn form_errors(form: &StatuspageForm) -> serde_json::Map<String, Value> {
    let mut errors = serde_json::Map::new();
    let mut need = |block: &str, ok: bool, text: &str| {
        if !ok {
            errors.insert(block.into(), json!(text));
        }
    };
    match form {
        StatuspageForm::Create {
            name,
            body,
            impact,
            component_status,
            ..
        } => {
            need(
                block::SP_NAME,
                !name.trim().is_empty(),
                "Give the incident a title.",
            );
            need(
                block::SP_BODY,
                !body.trim().is_empty(),
                "Tell customers what is happening.",
            );
            need(
                block::SP_IMPACT,
                Impact::from_wire(impact).is_some(),
                "Pick an impact.",
            );
            need(
                block::SP_COMPONENT_STATUS,
                ComponentStatus::from_wire(component_status).is_some(),
                "Pick a status.",
            );
        }
        StatuspageForm::Update { status, body, .. } => {
            need(
                block::SP_STATUS,
                IncidentStatus::from_wire(status).is_some(),
                "Pick a status.",
            );
            need(
                block::SP_BODY,
                !body.trim().is_empty(),
                "Tell customers what changed.",
            );
        }
    }
    errors
}

/// Cheap handle to the Statuspage actor. Opening and submitting run in the
/// caller's task (the incident's lane), so one incident's Statuspage
/// actions apply in order and never wait for another incident's.
#[derive(Clone)]
pub struct StatuspageHandle {
    actor: Arc<StatuspageActor>,
}

impl StatuspageHandle {
    /// `client` talks to the page configured in `ctx`.
    pub fn new(
        ctx: Arc<Context>,
        client: StatuspageClient,
        incidents: Arc<dyn Incidents>,
        links: Arc<dyn StatuspageLinks>,
        declarations: Arc<dyn Declarations>,
    ) -> Self {
        Self {
            actor: Arc::new(StatuspageActor {
                ctx,
                client,
                incidents,
                links,
                declarations,
                following: Mutex::default(),
                locks: follow::IncidentLocks::default(),
            }),
        }
    }

    /// Posts the prompt in a new incident's channel, in a task of its own
    /// (it also warms the component cache, which the declaration need not
    /// wait for).
    pub fn prompt(&self, incident: IncidentId, channel: ChannelId) {
        let actor = self.actor.clone();
        let span =
            tracing::info_span!("statuspage_prompt", incident = %incident, channel = %channel);
        self.actor
            .ctx
            .tasks
            .spawn(async move { actor.prompt(incident, &channel).await }.instrument(span));
    }

    /// The prompt's or management message's button: opens a modal.
    pub async fn open(&self, click: Click) {
        self.actor.open(click).await;
    }

    /// A submitted form (already validated in the ack).
    pub async fn submit(&self, form: StatuspageForm) {
        self.actor.submit(form).await;
    }

    /// The incident's status changed (and is stored): its Statuspage
    /// incident, if it has one, follows in a task of its own when
    /// `statuspage.follow_incident` is on. Returns at once.
    pub fn follow(&self, incident: IncidentId) {
        self.actor.follow(incident);
    }

    /// Follows the status changes a crash left unfollowed (at start, and on
    /// the recovery leader), changed at least `settled` ago.
    pub async fn catch_up(&self, settled: Duration) {
        self.actor.catch_up(settled).await;
    }
}

struct StatuspageActor {
    ctx: Arc<Context>,
    client: StatuspageClient,
    incidents: Arc<dyn Incidents>,
    links: Arc<dyn StatuspageLinks>,
    /// The declaration step of the prompt.
    declarations: Arc<dyn Declarations>,
    /// Incidents with a follow task running, and whether another round was
    /// asked for meanwhile (see `follow.rs`).
    following: Mutex<HashMap<IncidentId, bool>>,
    /// Serialises a person's submit and a followed move on one incident.
    locks: follow::IncidentLocks,
}

impl StatuspageActor {
    async fn prompt(&self, id: IncidentId, channel: &ChannelId) {
        let Ok(Some(incident)) = self.incidents.incident(id).await else {
            return;
        };
        let catalog = &self.ctx.config.incident.catalog;
        let prompt = StatuspagePrompt {
            incident: view::incident(&incident, catalog, view::SHORT_DESCRIPTION_CHARS),
        };
        let posted = self
            .ctx
            .post_rendered(channel, &prompt, "Create a Statuspage incident?")
            .await;
        if let Some(ts) = posted {
            if let Err(e) = self.links.set_statuspage_message(id, &ts).await {
                tracing::error!(incident = %id, error = %e, "cannot record the Statuspage message");
            }
            let _ = self
                .declarations
                .mark_step(id, DeclarationStep::Statuspage)
                .await;
        }
        // Warm the component cache now: the modal must open within the
        // 3 s a trigger_id lives.
        if let Err(e) = self.client.components_cached().await {
            tracing::warn!(error = %e, "cannot list Statuspage components");
        }
    }

    /// Whether `user` may drive Statuspage; tells them when not. Fails
    /// closed: with no group and no `allow_everyone`, or a group that
    /// cannot be resolved or checked, nobody may.
    async fn allowed(&self, channel: &ChannelId, user: &UserId) -> bool {
        let Some(config) = self.ctx.config.statuspage.as_ref() else {
            return false;
        };
        let refusal = match config.publishers() {
            Publishers::Everyone => return true,
            Publishers::Nobody => {
                tracing::warn!(user = %user,
                    "refused a Statuspage action: nobody may publish until \
                     statuspage.allowed_group (JANUS_STATUSPAGE__ALLOWED_GROUP) or \
                     statuspage.allow_everyone (JANUS_STATUSPAGE__ALLOW_EVERYONE) is set");
                NOBODY_MAY_PUBLISH.to_owned()
            }
            Publishers::Group(_) => match self.ctx.groups.is_publisher(&self.ctx.slack, user).await
            {
                Ok(Some(membership)) if membership.member => return true,
                Ok(Some(membership)) => {
                    tracing::info!(user = %user, group = membership.group,
                        "refused a Statuspage action: not in the publishers' group");
                    format!(
                        "Only members of @{} may create or update Statuspage incidents, so \
                         nothing was sent. If you should be one of them, ask your Janus admin.",
                        membership.group
                    )
                }
                // Not reached: a group is configured. Refuse all the same.
                Ok(None) => NOBODY_MAY_PUBLISH.to_owned(),
                // The groups module logged it, with the setting.
                Err(e) if e.is_passing() => "I could not check with Slack whether you may publish \
                    to Statuspage, so nothing was sent. Try again in a minute; if it keeps \
                    happening, ask your Janus admin."
                    .to_owned(),
                Err(_) => "Nobody can publish to Statuspage right now: I cannot tell which Slack \
                    user group may, so nothing was sent. Ask your Janus admin."
                    .to_owned(),
            },
        };
        self.tell(channel, user, &refusal).await;
        false
    }

    #[tracing::instrument(skip_all, fields(channel = %click.channel, incident = Empty))]
    async fn open(&self, click: Click) {
        let Some(incident) = self.ctx.incident_of(&*self.incidents, &click).await else {
            return;
        };
        Span::current().record("incident", display(incident.id));
        if !self.allowed(&click.channel, &click.user).await {
            return;
        }
        let Some(trigger) = click.trigger_id.clone() else {
            return;
        };
        let link = match self.links.statuspage_link(incident.id).await {
            Ok(link) => link.unwrap_or_default(),
            Err(e) => return self.ctx.database_trouble(&click, e).await,
        };
        let (template, form) = if link.statuspage_id.is_some() {
            let status = link
                .status
                .as_deref()
                .and_then(IncidentStatus::from_wire)
                .unwrap_or(IncidentStatus::Investigating);
            let update = StatuspageUpdate {
                incident_id: incident.id.0,
                channel_id: click.channel.clone(),
                status: Labelled::new(status.as_str(), Some(status.label())),
            };
            (
                StatuspageUpdate::TEMPLATE,
                self.ctx.renderer.render_context(&update),
            )
        } else {
            let components = match self.client.components_cached().await {
                Ok(components) => components,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list Statuspage components");
                    self.ctx.tell(&click, &e.user_message()).await;
                    return;
                }
            };
            let choices = components
                .iter()
                .filter(|c| !c.group)
                .take(100)
                .map(|c| ComponentChoice {
                    id: c.id.as_str().to_owned(),
                    name: c.name.chars().take(75).collect(),
                })
                .collect();
            let create = StatuspageCreate {
                incident_id: incident.id.0,
                channel_id: click.channel.clone(),
                name: incident.description.chars().take(255).collect(),
                components: choices,
            };
            (
                StatuspageCreate::TEMPLATE,
                self.ctx.renderer.render_context(&create),
            )
        };
        let view = match form {
            Ok(view) => view,
            Err(e) => {
                tracing::error!(template, error = %e, "cannot render the Statuspage form");
                return;
            }
        };
        if let Err(e) = self.ctx.slack.open_view(&trigger, &view).await {
            tracing::warn!(error = %e, "cannot open the Statuspage form");
            self.ctx
                .tell(
                    &click,
                    "I could not open the form in time; click the button again.",
                )
                .await;
        }
    }

    #[tracing::instrument(skip_all, fields(incident = Empty, channel = Empty))]
    async fn submit(&self, form: StatuspageForm) {
        let (id, user) = match &form {
            StatuspageForm::Create { incident, user, .. }
            | StatuspageForm::Update { incident, user, .. } => (*incident, user.clone()),
        };
        Span::current().record("incident", display(id));
        let Ok(Some(incident)) = self.incidents.incident(id).await else {
            tracing::warn!(incident = %id, "Statuspage form for an incident that no longer exists");
            return;
        };
        let Some(channel) = incident.channel_id.clone() else {
            return;
        };
        Span::current().record("channel", display(&channel));
        if !self.allowed(&channel, &user).await {
            return;
        }
        // Held across the request and its record: a followed move of this
        // incident waits, and then sees what this one did.
        let _held = self.locks.lock(id).await;
        let link = match self.links.statuspage_link(id).await {
            Ok(link) => link.unwrap_or_default(),
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "store failed");
                self.tell(&channel, &user, DATABASE_DOWN).await;
                return;
            }
        };
        let result = match form {
            StatuspageForm::Create {
                name,
                body,
                impact,
                components,
                component_status,
                notify,
                ..
            } => {
                if let Some(existing) = &link.statuspage_id {
                    tracing::info!(incident = %id, existing, "Statuspage incident exists; create ignored");
                    self.tell(
                        &channel,
                        &user,
                        "This incident already has a Statuspage incident; \
                        use *Post update* on its message.",
                    )
                    .await;
                    return;
                }
                let status = ComponentStatus::from_wire(&component_status)
                    .unwrap_or(ComponentStatus::PartialOutage);
                let new = NewIncident {
                    name: name.trim().to_owned(),
                    status: self.initial_status(&incident.status),
                    body: body.trim().to_owned(),
                    impact: Impact::from_wire(&impact).unwrap_or(Impact::Minor),
                    components: components
                        .iter()
                        .map(|c| (ComponentId::new(c.as_str()), status))
                        .collect(),
                    deliver_notifications: notify,
                    janus_incident_id: id.0,
                    create_key: None,
                };
                match self
                    .create(id, &channel, &user, link.pending_create.clone(), new)
                    .await
                {
                    Some(result) => result.map(|done| Done {
                        notify: Some(notify),
                        ..done
                    }),
                    None => return,
                }
            }
            StatuspageForm::Update {
                status,
                body,
                notify,
                ..
            } => {
                let Some(page_id) = &link.statuspage_id else {
                    return;
                };
                let page_id = PageId::new(page_id.as_str());
                let status =
                    IncidentStatus::from_wire(&status).unwrap_or(IncidentStatus::Identified);
                let touched: Vec<ComponentId> = link
                    .touched_components
                    .iter()
                    .map(|c| ComponentId::new(c.as_str()))
                    .collect();
                let result = if status == IncidentStatus::Resolved {
                    self.client
                        .resolve_incident(&page_id, body.trim(), &touched, notify)
                        .await
                } else {
                    self.client
                        .update_incident(&page_id, status, body.trim(), &[], notify)
                        .await
                };
                let action = if status == IncidentStatus::Resolved {
                    "resolved"
                } else {
                    "updated"
                };
                result.map(|page| Done {
                    page,
                    touched: Vec::new(),
                    action,
                    actor: user.clone(),
                    body: body.trim().to_owned(),
                    notify: Some(notify),
                })
            }
        };
        let done = match result {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(incident = %id, error = %e,
                    setting = e.setting().unwrap_or("-"), "Statuspage request failed");
                self.tell(&channel, &user, &e.user_message()).await;
                return;
            }
        };
        let action = StatuspageAction {
            actor: &done.actor,
            action: done.action,
            body: &done.body,
            notify: done.notify,
        };
        if let Err(e) = self
            .links
            .set_statuspage_incident(
                id,
                done.page.id.as_str(),
                done.page.status.as_str(),
                &done.touched,
                &action,
            )
            .await
        {
            tracing::error!(incident = %id, statuspage_id = done.page.id.as_str(), error = %e,
                "cannot record the Statuspage incident");
            if matches!(done.action, "created" | "adopted") {
                // Unrecorded, the message could not manage it: the intent
                // stays, and the next submit adopts this incident.
                self.tell(&channel, &user, CREATED_NOT_RECORDED).await;
                return;
            }
        }
        if done.action == "adopted" {
            self.tell(&channel, &user, ADOPTED).await;
        }
        self.show(
            &incident,
            &channel,
            link.message_ts.as_ref(),
            &done.page,
            &user,
        )
        .await;
    }

    /// Creates the Statuspage incident at most once. The intent (a key the
    /// POST carries in its metadata) is stored first; an earlier attempt's
    /// intent means its POST may have worked (the answer was lost, or the
    /// write after it failed), so the incident is looked for by that key and
    /// adopted before anything is sent. `None`: the person was told why not.
    async fn create(
        &self,
        id: IncidentId,
        channel: &ChannelId,
        user: &UserId,
        earlier: Option<PendingCreate>,
        mut new: NewIncident,
    ) -> Option<Result<Done, StatuspageError>> {
        let fresh = new_create_key();
        let pending = match earlier {
            Some(pending) => pending,
            None => match self.links.intend_statuspage_create(id, &fresh, user).await {
                Ok(pending) => pending,
                Err(e) => {
                    tracing::error!(incident = %id, error = %e, "cannot record the Statuspage intent");
                    self.tell(channel, user, DATABASE_DOWN).await;
                    return None;
                }
            },
        };
        // Another attempt's intent (earlier, or concurrent on another replica).
        if pending.key != fresh {
            match self.client.find_by_create_key(&pending.key).await {
                Ok(Some(page)) => {
                    tracing::info!(incident = %id, statuspage_id = page.id.as_str(),
                        "adopting the Statuspage incident an earlier attempt created");
                    return Some(Ok(adopted(
                        page,
                        pending.requested_by.unwrap_or(user.clone()),
                    )));
                }
                Ok(None) => {}
                // Never POST without knowing: that is how duplicates happen.
                Err(e) => return Some(Err(e)),
            }
        }
        new.create_key = Some(pending.key.clone());
        let components: Vec<String> = new
            .components
            .iter()
            .map(|(c, _)| c.as_str().to_owned())
            .collect();
        let body = new.body.clone();
        let page = match self.client.create_incident(&new).await {
            Ok(page) => page,
            // The POST may have worked: look for it before saying it failed.
            Err(e @ StatuspageError::CreateNotConfirmed { .. }) => {
                match self.client.find_by_create_key(&pending.key).await {
                    Ok(Some(page)) => page,
                    _ => return Some(Err(e)),
                }
            }
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Done {
            page,
            touched: components,
            action: "created",
            actor: user.clone(),
            body,
            notify: None,
        }))
    }

    /// The status a new Statuspage incident starts in: investigating, or,
    /// when it follows the incident, what the incident's status maps to
    /// (an open one: resolving stays a person's explicit move).
    fn initial_status(&self, status: &str) -> IncidentStatus {
        self.policy()
            .and_then(|policy| policy.target(status))
            .filter(|s| *s != IncidentStatus::Resolved)
            .unwrap_or(IncidentStatus::Investigating)
    }

    /// Renders the management message from Statuspage's answer, editing the
    /// stored message in place (or posting one if there is none).
    async fn show(
        &self,
        incident: &crate::store::Incident,
        channel: &ChannelId,
        ts: Option<&crate::domain::ids::MessageTs>,
        page: &PageIncident,
        actor: &UserId,
    ) {
        let catalog = &self.ctx.config.incident.catalog;
        let message = StatuspageMessage {
            incident: view::incident(incident, catalog, view::SHORT_DESCRIPTION_CHARS),
            actor: actor.clone(),
            page: page_view(page),
        };
        let blocks = match self.ctx.renderer.render_context(&message) {
            Ok(blocks) => blocks,
            Err(e) => {
                tracing::error!(error = %e, "cannot render the Statuspage message");
                return;
            }
        };
        let text = format!("Statuspage: {}", page.status.label());
        let result = match ts {
            Some(ts) => {
                self.ctx
                    .slack
                    .update_message(channel, ts, &text, &blocks)
                    .await
            }
            None => match self
                .ctx
                .slack
                .post_message(channel, &text, &blocks, None)
                .await
            {
                Ok(ts) => {
                    let _ = self.links.set_statuspage_message(incident.id, &ts).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            tracing::warn!(incident = %incident.id, error = %e, "cannot show the Statuspage message");
        }
    }

    /// Tells only `user`, in the incident channel (or by DM).
    async fn tell(&self, channel: &ChannelId, user: &UserId, text: &str) {
        let payload = json!({ "text": text });
        self.ctx.tell_person(Some(channel), user, &payload).await;
    }
}

/// What a Statuspage action came to: Statuspage's answer, and what to record.
struct Done {
    page: PageIncident,
    /// Components it marked (restored on resolve).
    touched: Vec<String>,
    /// For the history: `created`, `adopted`, `updated`, `resolved`.
    action: &'static str,
    actor: UserId,
    /// What customers were told.
    body: String,
    /// Whether subscribers were notified, when a person chose.
    notify: Option<bool>,
}

/// An incident an earlier attempt created, found by its key.
fn adopted(page: PageIncident, actor: UserId) -> Done {
    Done {
        touched: page
            .components
            .iter()
            .map(|c| c.id.as_str().to_owned())
            .collect(),
        body: page
            .latest_update()
            .map(|u| u.body.clone())
            .unwrap_or_default(),
        page,
        action: "adopted",
        actor,
        notify: None,
    }
}

/// A key for one create, unique enough that two never meet on one page.
fn new_create_key() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Said when neither a group nor everyone may publish. In words: people in
/// Slack never see setting names (the log line has them).
pub const NOBODY_MAY_PUBLISH: &str = "Nobody has been allowed to publish to Statuspage from \
    Janus yet, so nothing was sent. A Janus admin must first choose who may: the members of one \
    Slack user group, or everyone.";

const DATABASE_DOWN: &str = "I could not reach my database; nothing was sent to Statuspage. \
    Try again in a minute.";

const CREATED_NOT_RECORDED: &str = "Statuspage has the incident, but I could not record it \
    (my database failed), so this channel cannot manage it yet. Submit the form again: I will \
    find that incident and link it here, not publish a second one.";

const ADOPTED: &str = "I found the Statuspage incident an earlier attempt created and linked it \
    here; nothing new was published.";

/// The `page` of the management message: Statuspage's text is third-party
/// text, escaped like any user's.
fn page_view(page: &PageIncident) -> context::PageIncident {
    context::PageIncident {
        name: SlackText::from_user(&page.name).truncate_chars(200),
        status: Labelled::new(page.status.as_str(), Some(page.status.label())),
        impact: Labelled::new(page.impact.as_str(), Some(page.impact.label())),
        shortlink: page
            .shortlink
            .clone()
            .filter(|u| matches!(u.scheme(), "http" | "https")),
        latest: page
            .latest_update()
            .map(|u| SlackText::from_user(&u.body).truncate_chars(1500)),
        components: page
            .components
            .iter()
            .take(20)
            .map(|c| PageComponent {
                name: SlackText::from_user(&c.name).truncate_chars(75),
                status: c.status.label().to_owned(),
            })
            .collect(),
        resolved: page.status == IncidentStatus::Resolved,
    }
}
