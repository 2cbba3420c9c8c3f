//! The declaration saga: `/incident`, the declare form and react-to-create
//! end here.
//!
//! A declaration is recorded first (an incident without a channel), then
//! finished step by step: the channel, then four chains that need only the
//! channel (the declarer's answer; the people; the control message and the
//! posts after it; the digest). Each step is recorded once done
//! ([`DeclarationStep`]), so a restart finishes only what a crash cut short;
//! on resume, what a crash may have done without recording it (a channel,
//! the control message, an optional post, the digest) is looked for in
//! Slack and adopted instead of done twice.

use std::ops::ControlFlow;

use serde_json::{Value, json};
use tracing::Span;
use tracing::field::{Empty, display};

use super::{Declaration, IncidentActor, Origin, Reply};
use crate::actors::publisher::DigestProblem;
use crate::actors::view;
use crate::domain::block_ids::action;
use crate::domain::declaration::DeclarationStep;
use crate::domain::event::SlashCommand;
use crate::domain::ids::{ChannelId, MessageTs};
use crate::domain::incident::IncidentName;
use crate::domain::quote::Quote;
use crate::domain::text::{SlackText, decode_mrkdwn};
use crate::render::context;
use crate::slack::ApiErrorCode;
use crate::store::{Incident, IncidentId, NewIncident, OwnedMessage, Recorded};

/// How many `-2`, `-3`… suffixes to try when a channel name is taken.
const MAX_NAME_SUFFIX: u32 = 50;

impl IncidentActor {
    /// `/incident`: a declaration with its text, the usage without (unless
    /// the ack carried it), and a pointer for any other command.
    pub(super) async fn on_command(&self, c: SlashCommand) {
        let ours = &self.ctx.config.slack.command;
        if c.command != ours.as_str() {
            let payload = json!({
                "response_type": "ephemeral",
                "text": format!("Janus does not handle {}; try {ours}.",
                    SlackText::from_user(&c.command).as_str()),
            });
            tracing::warn!(command = %c.command, user = %c.user, "unknown slash command");
            self.respond(&c, &payload).await;
            return;
        }
        if c.text.trim().is_empty() {
            if !c.answered_in_ack
                && let Some(payload) = self.usage()
            {
                self.respond(&c, &payload).await;
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
            private: false,
        };
        self.declare(&declaration).await;
    }

    /// Records a declaration, then finishes it in its turn; the incident's
    /// id, or `None` when nothing was created (the declarer was told why).
    #[tracing::instrument(skip_all, fields(incident = Empty, channel = Empty))]
    pub(super) async fn declare(&self, c: &Declaration) -> Option<IncidentId> {
        let catalog = &self.ctx.config.incident.catalog;
        let severity = c
            .severity
            .as_deref()
            .and_then(|s| catalog.severity(s))
            .unwrap_or_else(|| catalog.default_severity());
        let private = c.private || self.source_is_private(c).await;
        let mut declaration = c.clone();
        declaration.private = private;
        let c = &declaration;
        let new = NewIncident {
            description: c.description.clone(),
            status: catalog.initial_status().value().to_owned(),
            severity: severity.value().to_owned(),
            created_by: c.user.clone(),
            declared_in: c.source.clone(),
            declaration: serde_json::to_value(c).unwrap_or_default(),
            private,
            per_user_limit: self.ctx.config.incident.max_declarations_per_user,
        };
        let id = match self.store.declarations.create_incident(&new).await {
            Ok(Recorded::Incident(id)) => id,
            Ok(Recorded::OverLimit) => {
                let limit = new.per_user_limit.unwrap_or_default();
                tracing::warn!(user = %c.user, limit,
                    "declaration refused: the declarer reached incident.max_declarations_per_user");
                self.tell(c, &format!(
                    "You have declared {limit} incidents in the last 10 minutes, as many as one person may; nothing was created. If this is a new incident, ask a colleague to declare it, or try again in a few minutes."
                )).await;
                return None;
            }
            Err(e) => {
                tracing::error!(user = %c.user, error = %e, "cannot record a declaration");
                self.tell(c, "I could not record the incident because my database is unavailable; nothing was created. Please try again in a minute.").await;
                return None;
            }
        };
        Span::current().record("incident", display(id));
        // Held while this process works on it: another replica's resume
        // leaves it alone.
        let _lease = self
            .store
            .leases
            .try_lease_declaration(id)
            .await
            .ok()
            .flatten();
        // Recorded before waiting for a turn: a crash meanwhile is resumed.
        let _turn = self.declaring.acquire().await.ok()?;
        self.finish(id, c, false).await
    }

    /// Whether the declaration comes from a private place: a private
    /// channel, a DM or a group DM. When Slack cannot say (a private
    /// channel the bot is not in answers `channel_not_found`), it is taken
    /// as private: a private incident by mistake leaks nothing.
    async fn source_is_private(&self, c: &Declaration) -> bool {
        let Some(source) = &c.source else {
            return false;
        };
        if source.as_str().starts_with('D') {
            return true;
        }
        match self.ctx.slack.is_private(source).await {
            Ok(private) => private,
            Err(e) => {
                tracing::info!(channel = %source, error = %e,
                    "cannot tell whether the declaration's channel is private; treating it as private");
                true
            }
        }
    }

    /// Finishes every declaration a crash interrupted (on start).
    pub(super) async fn resume(&self) {
        let ids = match self.store.declarations.incomplete_declarations().await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot look for interrupted declarations");
                return;
            }
        };
        for id in ids {
            if self.resume_one(id).await.is_break() {
                return;
            }
        }
    }

    /// Finishes one interrupted declaration, unless another replica holds
    /// it. `Break` when no more turns will come (the actor is closing).
    #[tracing::instrument(skip_all, fields(incident = %id, channel = Empty))]
    async fn resume_one(&self, id: IncidentId) -> ControlFlow<()> {
        // Another replica holds it: it is in flight there, not interrupted.
        let Ok(Some(_lease)) = self.store.leases.try_lease_declaration(id).await else {
            return ControlFlow::Continue(());
        };
        let declaration = match self.store.incidents.incident(id).await {
            Ok(Some(incident)) if !incident.completed => incident
                .declaration
                .and_then(|d| serde_json::from_value::<Declaration>(d).ok()),
            _ => return ControlFlow::Continue(()),
        };
        match declaration {
            Some(d) => {
                tracing::info!(incident = %id, "finishing a declaration a restart interrupted");
                let Ok(_turn) = self.declaring.acquire().await else {
                    return ControlFlow::Break(());
                };
                self.finish(id, &d, true).await;
            }
            None => {
                // Nothing to finish it with: complete it if it has a
                // channel (refused otherwise), else forget it.
                tracing::warn!(incident = %id, "interrupted declaration without its details; ending it");
                if let Ok(false) = self.store.declarations.complete_declaration(id).await {
                    let _ = self.store.declarations.discard_incident(id).await;
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Runs every declaration step not done yet, recording each before the
    /// next, so a restart continues where a crash stopped and repeats
    /// nothing. `resuming`: look in Slack for what a crash may have done
    /// without recording it (a channel, the control message, the digest).
    async fn finish(&self, id: IncidentId, c: &Declaration, resuming: bool) -> Option<IncidentId> {
        let incident = self.load_declaration(id).await?;
        let channel = self.open_channel(&incident, c, resuming).await?;
        // The span of `declare` or `resume_one`, which both have the field.
        Span::current().record("channel", display(&channel));
        let saga = Saga {
            actor: self,
            incident: &incident,
            declaration: c,
            channel: &channel,
            resuming,
        };
        // The declarer is told where the incident is as soon as the channel
        // exists, beside three chains that need only the channel: the people
        // in it, the control message (and the posts after it), and the
        // digest. Each step is recorded on its own, so a restart finishes
        // whichever a crash cut short.
        let people = async {
            saga.invite_declarer().await;
            let group_problem = saga.invite_group().await;
            saga.set_topic().await;
            group_problem
        };
        let posts = async {
            let control_posted = saga.post_control().await;
            saga.quote_origin().await;
            saga.post_snapshot().await;
            saga.prompt_statuspage().await;
            control_posted
        };
        let ((), group_problem, control_posted, digest) =
            tokio::join!(saga.answer(), people, posts, saga.publish_digest());
        saga.report(group_problem, control_posted, digest).await;
        saga.complete().await;
        Some(id)
    }

    /// The declaration's incident, read again while the database is away
    /// (up to [`crate::actors::STORE_PATIENCE`]); `None` (logged) leaves the
    /// declaration unfinished for recovery to take up.
    async fn load_declaration(&self, id: IncidentId) -> Option<Incident> {
        let started = std::time::Instant::now();
        let mut wait = std::time::Duration::from_millis(200);
        loop {
            match self.store.incidents.incident(id).await {
                Ok(found) => return found,
                Err(e) if started.elapsed() < crate::actors::STORE_PATIENCE => {
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

    /// The incident's channel: the recorded one; on resume, one a crash
    /// created under the recorded name; otherwise a new one, recorded.
    /// `None` when there is none: the declaration was abandoned and the
    /// declarer told why.
    async fn open_channel(
        &self,
        incident: &Incident,
        c: &Declaration,
        resuming: bool,
    ) -> Option<ChannelId> {
        if let Some(channel) = &incident.channel_id {
            return Some(channel.clone());
        }
        let id = incident.id;
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
        self.record_channel(id, &channel, &name).await;
        tracing::info!(incident = %id, channel = %channel, name, user = %c.user, "incident declared");
        Some(channel)
    }

    /// Records the incident's channel, trying again while the database is
    /// away (up to [`crate::actors::STORE_PATIENCE`]): clicks find their
    /// incident by it. If it still cannot be recorded, the declaration goes
    /// on in Slack, but completing it is refused (in SQL), so recovery
    /// takes it up later and finds the channel by its recorded name.
    async fn record_channel(&self, id: IncidentId, channel: &ChannelId, name: &str) {
        let started = std::time::Instant::now();
        let mut wait = std::time::Duration::from_millis(200);
        loop {
            match self.store.declarations.set_channel(id, channel, name).await {
                Ok(()) => return,
                Err(e) if started.elapsed() < crate::actors::STORE_PATIENCE => {
                    tracing::warn!(incident = %id, error = %e, "cannot record the incident channel; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(incident = %id, channel = %channel, error = %e,
                        "cannot record the incident channel; recovery will finish the declaration");
                    return;
                }
            }
        }
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
            if let Err(e) = self
                .store
                .declarations
                .set_intended_name(id, name.as_str())
                .await
            {
                tracing::error!(incident = %id, error = %e, "cannot record the channel name");
            }
            let mut created = self
                .ctx
                .slack
                .create_channel(name.as_str(), c.private)
                .await;
            if let Err(e) = &created
                && e.may_have_taken_effect()
            {
                // No answer: Slack may have made it. Look before asking again.
                tracing::warn!(incident = %id, name = name.as_str(), error = %e,
                    "no answer to conversations.create; looking for the channel");
                created = match self.ctx.slack.find_channel(name.as_str()).await {
                    Ok(Some(channel)) => Ok(channel),
                    _ => {
                        self.ctx
                            .slack
                            .create_channel(name.as_str(), c.private)
                            .await
                    }
                };
            }
            match created {
                Ok(channel) => return Some((channel, name)),
                Err(e) if e.code() == Some(&ApiErrorCode::NameTaken) => continue,
                Err(e) => {
                    tracing::error!(incident = %id, name = name.as_str(), error = %e, "cannot create the incident channel");
                    // In words for the declarer: the error's own text (a
                    // proxy, a host) is in the log line above.
                    let text = match e.code() {
                        Some(ApiErrorCode::Other(code)) if code == "restricted_action" => "I could not create the incident channel: this workspace does not let me create channels (ask a Slack admin to allow it). Nothing was created.".to_owned(),
                        _ => format!(
                            "I could not create the incident channel: {}. Nothing was created; try again in a minute, and if it keeps failing, ask your Janus admin.",
                            e.for_people()
                        ),
                    };
                    self.abandon(id, c, &text).await;
                    return None;
                }
            }
        }
        self.abandon(id, c, &format!("Every channel name from {} to -{MAX_NAME_SUFFIX} is taken; declare it with a different description.", base.as_str())).await;
        None
    }

    /// Forgets a declaration that got no channel, and says so.
    async fn abandon(&self, id: IncidentId, c: &Declaration, text: &str) {
        if let Err(e) = self.store.declarations.discard_incident(id).await {
            tracing::error!(incident = %id, error = %e, "cannot discard a failed declaration");
        }
        self.tell(c, text).await;
    }

    async fn respond(&self, c: &SlashCommand, payload: &Value) {
        if let Err(e) = self.ctx.slack.respond(&c.response_url, payload).await {
            tracing::warn!(user = %c.user, error = %e, "cannot answer the slash command");
        }
    }
}

/// One declaration being finished once its channel exists: what every step
/// needs. Each step is a method of its own; [`IncidentActor::finish`] runs
/// them in order.
struct Saga<'a> {
    actor: &'a IncidentActor,
    incident: &'a Incident,
    declaration: &'a Declaration,
    channel: &'a ChannelId,
    /// Look in Slack for what a crash may have done without recording it.
    resuming: bool,
}

impl Saga<'_> {
    /// [`DeclarationStep::Answered`]: the declarer hears where the incident
    /// is, with the incident as it is now (read again: the channel is new).
    async fn answer(&self) {
        self.step(
            self.incident,
            DeclarationStep::Answered,
            self.answer_declared(),
        )
        .await;
    }

    /// The answer itself: the `declared` message, or a plain pointer in a
    /// thread (everyone there reads it).
    async fn answer_declared(&self) {
        let (actor, c, channel) = (self.actor, self.declaration, self.channel);
        let ctx = &actor.ctx;
        let incident = match actor.store.incidents.incident(self.incident.id).await {
            Ok(Some(incident)) => incident,
            _ => {
                actor
                    .tell(c, &format!("Incident channel <#{channel}> is open."))
                    .await;
                return;
            }
        };
        let declared = context::Declared {
            message: view::message(
                &incident,
                &ctx.config,
                ctx.bot.workspace_url.as_ref(),
                view::SHORT_DESCRIPTION_CHARS,
            ),
            video_link: ctx.config.incident.video_link.clone(),
        };
        let mut payload = match ctx.ephemeral(&declared) {
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
        actor.answer(c, &payload).await;
    }

    /// [`DeclarationStep::Invited`]: the declarer joins the channel.
    async fn invite_declarer(&self) {
        let user = &self.declaration.user;
        let invite = async {
            let invited = self
                .actor
                .ctx
                .slack
                .invite(self.channel, std::slice::from_ref(user))
                .await;
            if let Err(e) = invited {
                tracing::warn!(incident = %self.incident.id, user = %user, error = %e, "cannot invite the declarer");
            }
        };
        self.step(self.incident, DeclarationStep::Invited, invite)
            .await;
    }

    /// [`DeclarationStep::Group`], when an auto-invite group is configured:
    /// its members join. What went wrong, in words for the channel.
    async fn invite_group(&self) -> Option<String> {
        let ctx = &self.actor.ctx;
        let auto = ctx.config.auto_invite.as_ref()?;
        let mut problem = None;
        let invite = async {
            problem = ctx
                .groups
                .invite(ctx, self.channel, &auto.group)
                .await
                .err()
                .map(|e| e.to_string());
        };
        self.step(self.incident, DeclarationStep::Group, invite)
            .await;
        problem
    }

    /// [`DeclarationStep::Topic`], when a video link is configured: the
    /// link as the channel's topic and as a bookmark.
    async fn set_topic(&self) {
        let ctx = &self.actor.ctx;
        let Some(link) = &ctx.config.incident.video_link else {
            return;
        };
        let id = self.incident.id;
        let set = async {
            if let Err(e) = ctx.slack.set_topic(self.channel, link.as_str()).await {
                tracing::warn!(incident = %id, error = %e, "cannot set the topic");
            }
            if let Err(e) = ctx
                .slack
                .add_bookmark(self.channel, "Video call", link)
                .await
            {
                tracing::warn!(incident = %id, error = %e, "cannot add the video bookmark");
            }
        };
        self.step(self.incident, DeclarationStep::Topic, set).await;
    }

    /// The control message, rendered, posted and pinned
    /// ([`DeclarationStep::Pinned`]), each once; `false` if it could not be
    /// posted. On resume, one a crash posted without recording is found in
    /// the channel and adopted, not posted again.
    async fn post_control(&self) -> bool {
        let (id, channel, resuming) = (self.incident.id, self.channel, self.resuming);
        let (ctx, store) = (&self.actor.ctx, &self.actor.store);
        let incident = match store.incidents.incident(id).await {
            Ok(Some(incident)) => incident,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "cannot load the incident");
                return false;
            }
        };
        if let Some(ts) = &incident.control_ts {
            self.step(&incident, DeclarationStep::Pinned, self.pin(ts))
                .await;
            return true;
        }
        if resuming && let Some(ts) = self.find_own(action::STATUS).await {
            self.adopt_control(&incident, &ts).await;
            return true;
        }
        let control = context::Control(view::message(
            &incident,
            &ctx.config,
            ctx.bot.workspace_url.as_ref(),
            view::CONTROL_DESCRIPTION_CHARS,
        ));
        let blocks = match ctx.renderer.render_context(&control) {
            Ok(blocks) => blocks,
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "cannot render the control message");
                return false;
            }
        };
        let text = view::control_text(&incident);
        let mut posted = ctx.slack.post_message(channel, &text, &blocks, None).await;
        if let Err(e) = &posted
            && e.may_have_taken_effect()
        {
            // No answer: it may be in the channel. Look before posting again.
            tracing::warn!(incident = %id, error = %e, "no answer posting the control message; looking for it");
            posted = match self.find_own(action::STATUS).await {
                Some(ts) => Ok(ts),
                None => ctx.slack.post_message(channel, &text, &blocks, None).await,
            };
        }
        let ts = match posted {
            Ok(ts) => ts,
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "cannot post the control message");
                return false;
            }
        };
        self.adopt_control(&incident, &ts).await;
        true
    }

    /// Records `ts` as the control message, then pins it.
    async fn adopt_control(&self, incident: &Incident, ts: &MessageTs) {
        let id = incident.id;
        if let Err(e) = self
            .actor
            .store
            .declarations
            .set_message_ts(id, OwnedMessage::Control, ts)
            .await
        {
            tracing::error!(incident = %id, error = %e, "cannot record the control message");
        }
        self.step(incident, DeclarationStep::Pinned, self.pin(ts))
            .await;
    }

    /// [`DeclarationStep::Origin`], for react-to-create: the message the
    /// incident was declared from, quoted.
    async fn quote_origin(&self) {
        let Some(origin) = &self.declaration.origin else {
            return;
        };
        let post = self.post_origin(origin);
        self.optional_post(DeclarationStep::Origin, "Declared from", post)
            .await;
    }

    /// [`DeclarationStep::Snapshot`], when providers are configured: the
    /// snapshot actor posts it and records the step.
    async fn post_snapshot(&self) {
        let Some(snapshot) = &self.actor.snapshot else {
            return;
        };
        let post = async { snapshot.post(self.channel.clone(), Some(self.incident.id)) };
        self.optional_post(DeclarationStep::Snapshot, action::PROVIDERS_REFRESH, post)
            .await;
    }

    /// [`DeclarationStep::Statuspage`], when Statuspage is configured: the
    /// Statuspage actor posts its prompt and records the step.
    async fn prompt_statuspage(&self) {
        let Some(statuspage) = &self.actor.statuspage else {
            return;
        };
        let post = async { statuspage.prompt(self.incident.id, self.channel.clone()) };
        self.optional_post(DeclarationStep::Statuspage, action::STATUSPAGE_OPEN, post)
            .await;
    }

    /// The digest message: the publisher posts it (or, on resume, adopts one
    /// a crash posted) and says how that went.
    async fn publish_digest(&self) -> Result<(), DigestProblem> {
        self.actor
            .publisher
            .publish(self.incident.id, self.resuming)
            .await
    }

    /// What went wrong: a group that could not join is said in the channel
    /// (everyone there misses those people); the rest to the declarer.
    async fn report(
        &self,
        group_problem: Option<String>,
        control_posted: bool,
        digest: Result<(), DigestProblem>,
    ) {
        if let Some(problem) = group_problem {
            tracing::warn!(incident = %self.incident.id, "{problem}");
            self.actor
                .post(self.channel, None, &format!(":warning: {problem}"))
                .await;
        }
        let mut problems = Vec::new();
        if !control_posted {
            problems.push("I could not post the control message in the channel; use the channel as usual and try the controls again later.".to_owned());
        }
        if let Err(problem) = digest {
            // Logged with its detail by the publisher.
            problems.push(problem.to_string());
        }
        if !problems.is_empty() {
            let lines: Vec<String> = problems.iter().map(|p| format!(":warning: {p}")).collect();
            self.actor.tell(self.declaration, &lines.join("\n")).await;
        }
    }

    /// The declaration is finished: recovery leaves it alone from now on.
    /// The store refuses while the channel is not recorded: recovery then
    /// finishes it (finding the channel by name) instead.
    async fn complete(&self) {
        let id = self.incident.id;
        match self.actor.store.declarations.complete_declaration(id).await {
            Ok(true) => {}
            Ok(false) => tracing::error!(incident = %id, channel = %self.channel,
                "the declaration stays open: its channel is not recorded; recovery will finish it"),
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "cannot record the declaration as finished")
            }
        }
    }

    /// A post the declaration makes once (`step`): skipped when recorded;
    /// on resume, adopted when a message of ours with `marker` is already
    /// in the channel; otherwise made. Whoever posts records the step right
    /// after (the snapshot and Statuspage actors do it themselves).
    async fn optional_post(
        &self,
        step: DeclarationStep,
        marker: &str,
        post: impl std::future::Future<Output = ()>,
    ) {
        let (incident, actor) = (self.incident, self.actor);
        if incident.done(step) {
            return;
        }
        if self.resuming && self.find_own(marker).await.is_some() {
            let _ = actor.store.declarations.mark_step(incident.id, step).await;
            return;
        }
        post.await;
        if step == DeclarationStep::Origin {
            let _ = actor.store.declarations.mark_step(incident.id, step).await;
        }
    }

    /// Posts the message an incident was declared from, quoted, with a link:
    /// its mentions as names that ping nobody, its links kept.
    async fn post_origin(&self, origin: &Origin) {
        let readable = Quote::parse(&origin.text)
            .to_mrkdwn(&origin.names)
            .truncate_chars(2500);
        let quoted: String = readable
            .as_str()
            .lines()
            .map(|line| format!(">{line}\n"))
            .collect();
        let quote = context::Origin {
            channel_id: origin.channel.clone(),
            author: origin.author.clone(),
            author_name: origin
                .author
                .as_ref()
                .map(|author| SlackText::from_user(&origin.names.mention(author))),
            // Safe mrkdwn above (no token spans a line); only `>` (a
            // quote, not a tag) was added.
            quoted: SlackText::trusted(quoted),
            permalink: origin.permalink.clone(),
        };
        self.actor
            .ctx
            .post_rendered(self.channel, &quote, "Declared from a message")
            .await;
    }

    /// Runs `work` unless the step is recorded as done in `incident`, then
    /// records it. `incident` is passed because the control message reads
    /// the incident again once the channel is recorded.
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
        if let Err(e) = self
            .actor
            .store
            .declarations
            .mark_step(incident.id, step)
            .await
        {
            tracing::error!(incident = %incident.id, step = step.as_str(), error = %e, "cannot record a declaration step");
        }
    }

    /// The newest message of ours in the channel whose blocks contain `marker`
    /// (an action id): what a crash may have posted without recording.
    async fn find_own(&self, marker: &str) -> Option<MessageTs> {
        self.actor.ctx.find_own(self.channel, marker).await
    }

    async fn pin(&self, ts: &MessageTs) {
        let id = self.incident.id;
        if let Err(e) = self.actor.ctx.slack.pin(self.channel, ts).await {
            tracing::warn!(incident = %id, error = %e, "cannot pin the control message");
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

#[cfg(test)]
mod tests {
    use super::{IncidentId, fallback_id};

    #[test]
    fn the_fallback_id_is_six_base36_characters() {
        assert_eq!(fallback_id(IncidentId(1)), "000001");
        assert_eq!(fallback_id(IncidentId(36)), "000010");
        assert_eq!(fallback_id(IncidentId(2_176_782_335)), "zzzzzz");
    }
}
