//! Actors: the parts of Janus that act — incident, role, publisher,
//! react_trigger, snapshot and statuspage. Each is a cheap handle over the
//! shared [`Context`] (Slack client, templates, who the bot is) and holds
//! only the store traits it uses, so it can be tested against a small
//! in-memory implementation of just those.
//!
//! Handles do their work in the caller's task: the bus calls them from the
//! lane of the incident concerned, so that lane is where one incident's
//! order lives, and from tasks of their own for what concerns no incident
//! yet (help, list, declarations). Work that must not hold its caller up
//! (publishing, snapshots) runs in tasks of the [`Context::tasks`] tracker,
//! which `app` waits for on shutdown.

pub mod access;
pub mod announce;
mod archive;
pub mod control;
pub mod groups;
pub mod incident;
pub mod postmortem;
pub mod publisher;
pub mod react_trigger;
pub mod reminders;
pub mod role;
pub mod snapshot;
pub mod statuspage;
pub mod timeline;
pub mod update;
mod view;

use std::sync::Arc;

use serde_json::{Value, json};
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::domain::event::Click;
use crate::domain::ids::{ChannelId, MessageTs, UserId};
use crate::render::{RenderError, Renderer, TemplateContext};
use crate::slack::{BotIdentity, SlackApi};
use crate::store::{Declarations, Incident, Incidents, Publications, Store, StoreError, Updates};
use incident::IncidentHandle;
use publisher::PublisherHandle;
use react_trigger::ReactHandle;
use role::RoleHandle;
use snapshot::SnapshotHandle;
use statuspage::StatuspageHandle;
use update::UpdateHandle;

/// What every actor may use. The store is not here: each actor holds the
/// store traits it uses.
pub struct Context {
    pub slack: SlackApi,
    pub renderer: Renderer,
    /// From `auth.test`, once at start.
    pub bot: BotIdentity,
    pub config: Arc<Config>,
    /// Cached (auto-invite, permissions).
    pub groups: groups::Groups,
    /// Every task the actors start on their own (publishing, declarations,
    /// snapshots): shutdown waits for them, and tests wait until it is idle.
    pub tasks: TaskTracker,
    /// Where the incidents' durations are counted (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Context {
    /// Renders `context` as an ephemeral response payload: blocks plus a
    /// plain fallback text for notifications.
    pub fn ephemeral(&self, context: &impl TemplateContext) -> Result<Value, RenderError> {
        let blocks = self.renderer.render_context(context)?;
        Ok(json!({
            "response_type": "ephemeral",
            "text": fallback_text(&blocks),
            "blocks": blocks,
        }))
    }
}

impl Context {
    /// Answers only the person who clicked (via the click's `response_url`,
    /// leaving the clicked message as it is).
    pub async fn tell(&self, click: &Click, text: &str) {
        let Some(url) = &click.response_url else {
            tracing::warn!(user = %click.user, "no response_url to answer on: {text}");
            return;
        };
        let payload = json!({
            "response_type": "ephemeral", "replace_original": false, "text": text,
        });
        if let Err(e) = self.slack.respond(url, &payload).await {
            tracing::warn!(user = %click.user, error = %e, "cannot answer the click");
        }
    }

    /// The newest of the bot's own messages among `channel`'s latest 50
    /// whose blocks hold `marker` (a block or action id only that message
    /// has): how a message posted without an answer is found rather than
    /// posted twice. `None` also when the channel cannot be read.
    pub async fn find_own(&self, channel: &ChannelId, marker: &str) -> Option<MessageTs> {
        let messages = self.slack.recent_messages(channel, 50).await.ok()?;
        messages
            .into_iter()
            .find(|m| {
                m.user.as_ref() == Some(&self.bot.user_id)
                    && m.blocks
                        .as_ref()
                        .is_some_and(|b| b.to_string().contains(marker))
            })
            .map(|m| m.ts)
    }

    /// Tells only `user` something: an ephemeral in `channel` when there is
    /// one the bot can post in, else a DM. `payload` is a message payload
    /// (`text`, optional `blocks`).
    pub async fn tell_person(&self, channel: Option<&ChannelId>, user: &UserId, payload: &Value) {
        if let Some(channel) = channel
            && self
                .slack
                .post_ephemeral(channel, user, payload)
                .await
                .is_ok()
        {
            return;
        }
        let text = payload["text"].as_str().unwrap_or("Janus");
        let blocks = payload.get("blocks").cloned().unwrap_or_else(
            || json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]),
        );
        let sent = match self.slack.open_dm(user).await {
            Ok(im) => self
                .slack
                .post_message(&im, text, &blocks, None)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::warn!(user = %user, error = %e, "cannot tell the person: {text}");
        }
    }

    /// Runs a store operation for a click, retrying while the database is
    /// away (for up to [`STORE_PATIENCE`]); the clicker is told once that it
    /// is retrying, so nobody is left in silence.
    pub async fn with_store<T, F, Fut>(&self, click: &Click, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let started = std::time::Instant::now();
        let mut wait = std::time::Duration::from_millis(200);
        let mut told = false;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(e) if !e.is_redelivery() && started.elapsed() < STORE_PATIENCE => {
                    tracing::error!(user = %click.user, action = click.action_id, error = %e,
                        "store failed; retrying");
                    if !told {
                        told = true;
                        self.tell(click, WAITING_FOR_DATABASE).await;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Logs a store failure that outlasted the retries and tells the clicker
    /// their click was not applied; a redelivery of a click already applied
    /// is only logged (nothing failed).
    pub async fn database_trouble(&self, click: &Click, e: StoreError) {
        if e.is_redelivery() {
            tracing::info!(
                delivery = click.delivery,
                "click already applied; redelivery ignored"
            );
            return;
        }
        tracing::error!(user = %click.user, action = click.action_id, error = %e, "store failed");
        self.tell(
            click,
            "I could not save that: my database has been unavailable for too long. Nothing changed; please click again later.",
        )
        .await;
    }

    /// The incident whose channel was clicked in; tells the clicker when
    /// there is none (a message Janus does not own, or a deleted incident).
    pub async fn incident_of(&self, incidents: &dyn Incidents, click: &Click) -> Option<Incident> {
        match self
            .with_store(click, || incidents.incident_by_channel(&click.channel))
            .await
        {
            Ok(Some(incident)) => Some(incident),
            Ok(None) => {
                tracing::info!(channel = %click.channel, action = click.action_id,
                    "click on a message of no incident");
                self.tell(
                    click,
                    "This message does not belong to an incident I know of.",
                )
                .await;
                None
            }
            Err(e) => {
                self.database_trouble(click, e).await;
                None
            }
        }
    }

    /// Renders `context` and posts it in `channel`; logs any failure.
    pub async fn post_rendered<C: TemplateContext>(
        &self,
        channel: &ChannelId,
        context: &C,
        text: &str,
    ) -> Option<MessageTs> {
        let template = C::TEMPLATE;
        let blocks = match self.renderer.render_context(context) {
            Ok(blocks) => blocks,
            Err(e) => {
                tracing::error!(template, error = %e, "cannot render");
                return None;
            }
        };
        match self.slack.post_message(channel, text, &blocks, None).await {
            Ok(ts) => Some(ts),
            Err(e) => {
                tracing::warn!(template, channel = %channel, error = %e, "cannot post");
                None
            }
        }
    }
}

/// How long a click waits for an unavailable database before giving up.
pub const STORE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// What the person hears while their request waits for the database.
pub const WAITING_FOR_DATABASE: &str = "My database is not answering right now; I am retrying and will apply this as soon as it is back.";

/// The first text found in a block list, for the `text` fallback Slack
/// shows in notifications.
fn fallback_text(blocks: &Value) -> String {
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|b| b.pointer("/text/text").and_then(Value::as_str))
        .unwrap_or("Janus")
        .chars()
        .take(300)
        .collect()
}

/// Handles to every actor. Cheap to clone.
#[derive(Clone)]
pub struct Actors {
    /// Who may change incidents (checked by the bus before any actor acts).
    pub access: access::AccessHandle,
    /// Who the bot is: the bus ignores envelopes for another workspace.
    pub bot: BotIdentity,
    /// Declaring, help, listing, status and severity.
    pub incident: IncidentHandle,
    /// The control and digest messages.
    pub publisher: PublisherHandle,
    /// Claim and Assign.
    pub role: RoleHandle,
    /// React-to-create.
    pub react: ReactHandle,
    /// Messages marked for the timeline.
    pub timeline: timeline::TimelineHandle,
    /// The resolution message's postmortem draft.
    pub postmortem: postmortem::PostmortemHandle,
    /// When the integration is enabled.
    pub statuspage: Option<StatuspageHandle>,
    /// Third-party status snapshots, when enabled.
    pub snapshot: Option<SnapshotHandle>,
    /// Post update: stakeholder updates.
    pub update: UpdateHandle,
    /// Overdue updates and missing commanders (see [`reminders`]).
    pub reminders: reminders::RemindersHandle,
    /// See [`Context::tasks`].
    pub tasks: TaskTracker,
}

impl Actors {
    /// Builds every actor (the optional ones only with their client), each
    /// given its own view of `store`.
    pub fn start(
        ctx: Context,
        store: Arc<dyn Store>,
        statuspage: Option<crate::statuspage::StatuspageClient>,
        providers: Option<crate::providers::ProviderClient>,
    ) -> Self {
        let ctx = Arc::new(ctx);
        let incidents: Arc<dyn Incidents> = store.clone();
        let declarations: Arc<dyn Declarations> = store.clone();
        let publications: Arc<dyn Publications> = store.clone();
        let statuspage = statuspage.map(|client| {
            StatuspageHandle::new(
                ctx.clone(),
                client,
                incidents.clone(),
                store.clone(),
                declarations.clone(),
            )
        });
        let snapshot =
            providers.map(|client| SnapshotHandle::new(ctx.clone(), client, declarations.clone()));
        let updates: Arc<dyn Updates> = store.clone();
        let publisher = PublisherHandle::start(
            ctx.clone(),
            incidents.clone(),
            publications.clone(),
            declarations.clone(),
            updates.clone(),
        );
        let update = UpdateHandle::new(
            ctx.clone(),
            incidents.clone(),
            updates,
            publications.clone(),
            publisher.clone(),
            statuspage.clone(),
        );
        let incident = IncidentHandle::new(
            ctx.clone(),
            incident::IncidentStore {
                declarations,
                leases: store.clone(),
                incidents: incidents.clone(),
                publications: publications.clone(),
            },
            publisher.clone(),
            statuspage.clone(),
            snapshot.clone(),
        );
        let access = access::AccessHandle::new(ctx.clone());
        let timeline = timeline::TimelineHandle::new(
            ctx.clone(),
            incidents.clone(),
            store.clone(),
            access.clone(),
        );
        let postmortem = postmortem::PostmortemHandle::new(
            ctx.clone(),
            incidents.clone(),
            store.clone(),
            store.clone(),
        );
        let reminders = reminders::RemindersHandle::new(
            ctx.clone(),
            store.clone(),
            incidents.clone(),
            publisher.clone(),
        );
        let role = RoleHandle::new(
            ctx.clone(),
            incidents,
            store.clone(),
            publications,
            publisher.clone(),
        );
        let react = ReactHandle::new(
            ctx.clone(),
            store.clone(),
            store,
            access.clone(),
            incident.clone(),
        );
        Self {
            access,
            bot: ctx.bot.clone(),
            incident,
            publisher,
            role,
            react,
            timeline,
            postmortem,
            statuspage,
            snapshot,
            update,
            reminders,
            tasks: ctx.tasks.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! [`Context`] against a small in-memory [`Incidents`]: what a click
    //! does while the database is away, with no database and no Slack but
    //! the clicker's `response_url`.

    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::Json;
    use axum::routing::post;

    use super::*;
    use crate::domain::declaration::DeclarationSteps;
    use crate::domain::ids::TeamId;
    use crate::egress::Egress;
    use crate::store::{Assigned, Change, ClaimOutcome, EventId, IncidentId};

    /// One incident, in a database that fails the next `away` calls as an
    /// unreachable one does, and applies each delivery once.
    struct Flaky {
        incident: Mutex<Incident>,
        away: AtomicU32,
        applied: Mutex<Vec<String>>,
    }

    impl Flaky {
        fn answer(&self) -> Result<(), StoreError> {
            match self
                .away
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            {
                Ok(_) => Err(StoreError::Query(sqlx::Error::PoolTimedOut)),
                Err(_) => Ok(()),
            }
        }
    }

    #[async_trait::async_trait]
    impl Incidents for Flaky {
        async fn incident_by_channel(
            &self,
            channel: &ChannelId,
        ) -> Result<Option<Incident>, StoreError> {
            self.answer()?;
            let incident = self.incident.lock().unwrap().clone();
            Ok((incident.channel_id.as_ref() == Some(channel)).then_some(incident))
        }

        async fn set_status(
            &self,
            id: IncidentId,
            status: &str,
            resolved: bool,
            _actor: &UserId,
            delivery: &str,
        ) -> Result<Option<Change<String>>, StoreError> {
            self.answer()?;
            let mut applied = self.applied.lock().unwrap();
            if applied.iter().any(|d| d == delivery) {
                return Err(StoreError::Redelivered(delivery.to_owned()));
            }
            applied.push(delivery.to_owned());
            let mut incident = self.incident.lock().unwrap();
            assert_eq!(incident.id, id);
            incident.resolved_at = resolved.then(chrono::Utc::now);
            let from = std::mem::replace(&mut incident.status, status.to_owned());
            Ok((from != status).then(|| Change {
                from,
                to: status.to_owned(),
                event: EventId(applied.len() as i64),
            }))
        }

        async fn incident(&self, _: IncidentId) -> Result<Option<Incident>, StoreError> {
            unreachable!("a click finds its incident by channel")
        }

        async fn open_incidents(&self, _: u32) -> Result<(Vec<Incident>, u64), StoreError> {
            unreachable!("not a click's")
        }

        async fn set_severity(
            &self,
            _: IncidentId,
            _: &str,
            _: &UserId,
            _: &str,
        ) -> Result<Option<Change<String>>, StoreError> {
            unreachable!("this click sets the status")
        }

        async fn claim_role(
            &self,
            _: IncidentId,
            _: &str,
            _: &UserId,
            _: &str,
        ) -> Result<ClaimOutcome, StoreError> {
            unreachable!("this click sets the status")
        }

        async fn assign_role(
            &self,
            _: IncidentId,
            _: &str,
            _: &UserId,
            _: &UserId,
            _: &str,
        ) -> Result<Assigned, StoreError> {
            unreachable!("this click sets the status")
        }

        async fn release_role(
            &self,
            _: IncidentId,
            _: &str,
            _: &UserId,
            _: &str,
        ) -> Result<Assigned, StoreError> {
            unreachable!("this click sets the status")
        }
    }

    fn incident(channel: &ChannelId) -> Incident {
        let now = chrono::Utc::now();
        Incident {
            id: IncidentId(7),
            channel_id: Some(channel.clone()),
            channel_name: Some("inc-checkout-down".to_owned()),
            description: "checkout down".to_owned(),
            status: "investigating".to_owned(),
            severity: "sev2".to_owned(),
            created_by: UserId::parse("U0ALICE01").unwrap(),
            created_at: now,
            updated_at: now,
            version: 1,
            resolved_at: None,
            control_ts: None,
            digest_ts: None,
            roles: Vec::new(),
            intended_name: None,
            steps: DeclarationSteps::default(),
            declaration: None,
            completed: true,
            private: false,
            archived_at: None,
        }
    }

    /// A context whose Slack is never called: answers go to the click's
    /// `response_url`.
    fn context() -> Context {
        let env = [
            ("SLACK_APP_TOKEN", "xapp-1-A0-test"),
            ("SLACK_BOT_TOKEN", "xoxb-test"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = Config::load_from(None, env).unwrap();
        let slack = SlackApi::new(
            &config.slack.api_url,
            &config.slack.bot_token,
            &config.slack.app_token,
            &Egress::new(&config.egress),
        )
        .unwrap();
        Context {
            slack,
            renderer: Renderer::load(None).unwrap(),
            bot: BotIdentity {
                name: "janus".to_owned(),
                user_id: UserId::parse("U0JANUS01").unwrap(),
                team_id: TeamId::parse("T0ACME001").unwrap(),
                enterprise_id: None,
                workspace_url: None,
            },
            config: Arc::new(config),
            groups: Default::default(),
            tasks: TaskTracker::new(),
            metrics: Default::default(),
        }
    }

    /// A `response_url` on 127.0.0.1, and the texts posted to it.
    async fn response_url() -> (url::Url, Arc<Mutex<Vec<String>>>) {
        let told = Arc::new(Mutex::new(Vec::new()));
        let heard = told.clone();
        let app = axum::Router::new().route(
            "/respond",
            post(move |Json(payload): Json<Value>| async move {
                let text = payload["text"].as_str().unwrap_or_default().to_owned();
                heard.lock().unwrap().push(text);
                Json(json!({ "ok": true }))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{addr}/respond").parse().unwrap();
        (url, told)
    }

    #[tokio::test]
    async fn a_click_is_retried_while_the_database_is_away_and_applied_once_it_is_back() {
        let (url, told) = response_url().await;
        let ctx = context();
        let channel = ChannelId::parse("C0INCIDENT").unwrap();
        let store = Flaky {
            incident: Mutex::new(incident(&channel)),
            away: AtomicU32::new(2),
            applied: Mutex::new(Vec::new()),
        };
        let click = Click {
            user: UserId::parse("U0BOB0001").unwrap(),
            channel,
            message_ts: None,
            response_url: Some(url),
            action_id: crate::domain::block_ids::action::STATUS.to_owned(),
            value: Some("resolved".to_owned()),
            selected_user: None,
            trigger_id: None,
            delivery: "Ev1:0".to_owned(),
        };

        // As a status click does: find the incident, then change it.
        let incident = ctx
            .incident_of(&store, &click)
            .await
            .expect("the incident, once the database answers");
        let change = ctx
            .with_store(&click, || {
                store.set_status(incident.id, "resolved", true, &click.user, &click.delivery)
            })
            .await
            .expect("applied once the database is back")
            .expect("a change");

        assert_eq!(
            (change.from.as_str(), change.to.as_str()),
            ("investigating", "resolved")
        );
        assert_eq!(store.incident.lock().unwrap().status, "resolved");
        assert_eq!(*store.applied.lock().unwrap(), ["Ev1:0"], "applied once");
        assert_eq!(
            *told.lock().unwrap(),
            [WAITING_FOR_DATABASE],
            "the clicker hears once that the click waits, and nothing else"
        );
    }
}
