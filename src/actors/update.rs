//! Stakeholder updates: the control message's **Post update** button opens
//! a form (the text, and optionally a new status); submitting it posts the
//! update in the incident channel and as a reply in the thread of the
//! incident's digest message, records it on the incident's history (kind
//! `update`), and the digest message shows the latest one.
//!
//! Order and once-only, as for the status select: the submission runs in
//! the incident's lane (the modal carries `INCIDENT_ID:CHANNEL_ID`), and
//! the update is stored first, unannounced, in one transaction with its
//! delivery key and the status it asks for (the same change and history
//! entry as the select's). What Slack is shown follows from what is
//! stored: the status line, then the update in the channel, then the
//! digest thread reply, and the update is marked announced. A redelivery
//! finds its key and posts nothing; a post Slack could not be reached for
//! leaves the update unannounced, and recovery posts it (both the channel
//! post and the thread reply) from the stored entry, like a status line.
//! The thread reply is best effort, like a role holder's DM: the channel
//! post is the record, the digest entry shows the update regardless.

use std::sync::Arc;

use serde_json::{Value, json};
use tracing::field::{Empty, display};
use tracing::{Instrument, Span};

use super::announce::{self, Outcome};
use super::publisher::PublisherHandle;
use super::statuspage::StatuspageHandle;
use super::{Context, view};
use crate::domain::block_ids::block;
use crate::domain::event::{Click, UpdateForm};
use crate::domain::ids::UserId;
use crate::domain::incident::Catalog;
use crate::domain::text::{SlackText, slack_date};
use crate::render::TemplateContext;
use crate::render::context::{Labelled, UpdateModal, UpdatePosted, UpdateReply, UpdateView};
use crate::slack::SlackError;
use crate::store::{Incident, Incidents, LatestUpdate, NewUpdate, Publications, Updates};

/// How much of an update the digest entry shows (the channel has it whole).
pub const DIGEST_UPDATE_CHARS: usize = 1000;
/// The longest update accepted (the form's `max_length` says the same).
pub const MAX_UPDATE_CHARS: usize = 2000;

/// The form's field errors for the ack (`response_action: errors`), by
/// block id: an empty text, or a status that is not configured (a form
/// opened before the configuration changed).
pub fn form_errors(form: &UpdateForm, catalog: &Catalog) -> serde_json::Map<String, Value> {
    let mut errors = serde_json::Map::new();
    let text = form.text.trim();
    if text.is_empty() {
        errors.insert(
            block::UPDATE_TEXT.into(),
            json!("Write the update: what is known, what is being done."),
        );
    } else if text.chars().count() > MAX_UPDATE_CHARS {
        errors.insert(
            block::UPDATE_TEXT.into(),
            json!(format!("At most {MAX_UPDATE_CHARS} characters, please.")),
        );
    }
    if let Some(status) = &form.status
        && catalog.status(status).is_none()
    {
        errors.insert(
            block::UPDATE_STATUS.into(),
            json!("That status no longer exists; pick another, or none."),
        );
    }
    errors
}

/// The latest update as the digest shows it (escaped and cut short; the
/// digest's constructor removes a private incident's text).
pub fn digest_view(update: &LatestUpdate, catalog: &Catalog) -> UpdateView {
    UpdateView {
        actor: update.actor.clone(),
        text: SlackText::from_user(update.text.trim()).truncate_chars(DIGEST_UPDATE_CHARS),
        status: update.status.as_deref().map(|s| label(catalog, s)),
        at: slack_date(update.at),
    }
}

fn label(catalog: &Catalog, status: &str) -> Labelled {
    Labelled::new(status, catalog.status(status).map(|c| c.label()))
}

/// Cheap handle to the update actor. Opening and submitting run in the
/// caller's task: the incident's lane.
#[derive(Clone)]
pub struct UpdateHandle {
    actor: Arc<UpdateActor>,
}

struct UpdateActor {
    ctx: Arc<Context>,
    incidents: Arc<dyn Incidents>,
    updates: Arc<dyn Updates>,
    /// Marks an update announced.
    publications: Arc<dyn Publications>,
    /// The control and digest messages, and the digest thread.
    publisher: PublisherHandle,
    /// A chosen status moves the linked Statuspage incident too, as the
    /// status select does (`statuspage.follow_incident`).
    statuspage: Option<StatuspageHandle>,
}

impl UpdateHandle {
    /// The actor over the store traits it uses.
    pub fn new(
        ctx: Arc<Context>,
        incidents: Arc<dyn Incidents>,
        updates: Arc<dyn Updates>,
        publications: Arc<dyn Publications>,
        publisher: PublisherHandle,
        statuspage: Option<StatuspageHandle>,
    ) -> Self {
        Self {
            actor: Arc::new(UpdateActor {
                ctx,
                incidents,
                updates,
                publications,
                publisher,
                statuspage,
            }),
        }
    }

    /// The Post update button: opens the form.
    pub async fn open(&self, click: Click) {
        self.actor.open(click).await;
    }

    /// The ack payload for a submitted form: errors Slack shows under the
    /// fields, keeping the form open. `None` when valid.
    pub fn check_form(&self, form: &UpdateForm) -> Option<Value> {
        let errors = form_errors(form, &self.actor.ctx.config.incident.catalog);
        (!errors.is_empty()).then(|| json!({ "response_action": "errors", "errors": errors }))
    }

    /// A submitted form (already validated in the ack, and its submitter
    /// allowed to change incidents).
    pub async fn submit(&self, form: UpdateForm) {
        self.actor.submit(form).await;
    }
}

/// What the person hears when their update is stored but could not be
/// posted for a passing reason.
const POST_LATER: &str = "Your update is saved, but Slack could not be reached to post it in the \
    incident channel. It will be posted there (and in the digest thread) within a few minutes.";
/// …and when Slack refused it, or may have posted it without saying so.
const POST_FAILED: &str = "Your update is saved in the incident's history and shown in the \
    digest, but I could not post it in the incident channel. If it is not there, post it \
    yourself; if this keeps happening, ask your Janus admin.";
/// …and when only the digest thread reply failed.
const THREAD_FAILED: &str = "Your update is posted in the incident channel, but I could not \
    add it to the thread of the incident's digest message. If this keeps happening, ask your \
    Janus admin.";

impl UpdateActor {
    #[tracing::instrument(skip_all, fields(channel = %click.channel, incident = Empty))]
    async fn open(&self, click: Click) {
        let Some(incident) = self.ctx.incident_of(&*self.incidents, &click).await else {
            return;
        };
        Span::current().record("incident", display(incident.id));
        let Some(trigger) = click.trigger_id.clone() else {
            tracing::warn!("Post update click without a trigger_id");
            return;
        };
        let catalog = &self.ctx.config.incident.catalog;
        let modal = UpdateModal {
            incident_id: incident.id.0,
            channel_id: click.channel.clone(),
            statuses: catalog.statuses().iter().map(Labelled::from).collect(),
            status: label(catalog, &incident.status),
            private: incident.private,
        };
        let view = match self.ctx.renderer.render_context(&modal) {
            Ok(view) => view,
            Err(e) => {
                tracing::error!(template = UpdateModal::TEMPLATE, error = %e, "cannot render the update form");
                return;
            }
        };
        if let Err(e) = self.ctx.slack.open_view(&trigger, &view).await {
            tracing::warn!(error = %e, "cannot open the update form");
            self.ctx
                .tell(
                    &click,
                    "I could not open the form in time; click Post update again.",
                )
                .await;
        }
    }

    #[tracing::instrument(skip_all, fields(incident = %form.incident, user = %form.user, channel = Empty))]
    async fn submit(&self, form: UpdateForm) {
        let incident = match self.incidents.incident(form.incident).await {
            Ok(Some(incident)) => incident,
            Ok(None) => {
                tracing::warn!("update for an incident that does not exist");
                return;
            }
            Err(e) => return self.not_saved(&form, e).await,
        };
        let Some(channel) = incident.channel_id.clone() else {
            return;
        };
        Span::current().record("channel", display(&channel));
        if form.channel.as_ref().is_some_and(|c| c != &channel) {
            tracing::warn!(form_channel = ?form.channel, "update form names another channel than its incident's; ignored");
            return;
        }
        let catalog = &self.ctx.config.incident.catalog;
        let resolved = catalog.resolved_status().value();
        let status = form
            .status
            .as_deref()
            .filter(|s| catalog.status(s).is_some())
            .map(|s| (s, s == resolved));
        let text = form.text.trim();
        let new = NewUpdate {
            actor: &form.user,
            text,
            status,
            delivery: &form.delivery,
        };
        let posted = match self.updates.record_update(incident.id, &new).await {
            Ok(posted) => posted,
            Err(e) if e.is_redelivery() => {
                tracing::info!(
                    delivery = form.delivery,
                    "update already recorded; redelivery ignored"
                );
                return;
            }
            Err(e) => return self.not_saved(&form, e).await,
        };
        tracing::info!(event = posted.event.0, status = ?posted.status.as_ref().map(|c| &c.to), "update recorded");
        // The control and digest messages follow from what is stored.
        self.publisher.refresh(incident.id);
        if let (Some(_), Some(statuspage)) = (&posted.status, &self.statuspage) {
            statuspage.follow(incident.id);
        }
        let fresh = match self.incidents.incident(incident.id).await {
            Ok(Some(fresh)) => fresh,
            _ => incident,
        };
        let publications = &*self.publications;
        if let Some(change) = &posted.status {
            let outcome = announce::field_changed(
                &self.ctx,
                &fresh,
                &form.user,
                "status",
                &change.from,
                &change.to,
            )
            .await;
            announce::finish(publications, change.event, outcome).await;
        }
        let status = posted.status.as_ref().map(|c| c.to.as_str());
        let announced =
            announce_update(&self.ctx, &self.publisher, &fresh, &form.user, text, status).await;
        announce::finish(publications, posted.event, announced.outcome).await;
        let problem = match announced.post {
            Post::Posted if announced.thread_failed => Some(THREAD_FAILED),
            Post::Posted => None,
            Post::Later => Some(POST_LATER),
            Post::Failed => Some(POST_FAILED),
        };
        if let Some(problem) = problem {
            let payload = json!({ "text": problem });
            self.ctx
                .tell_person(Some(&channel), &form.user, &payload)
                .await;
        }
    }

    /// The update could not be stored: the person is told, with their text
    /// so it is not lost, and nothing was posted.
    async fn not_saved(&self, form: &UpdateForm, e: crate::store::StoreError) {
        tracing::error!(error = %e, "cannot record the update");
        let quoted: String = SlackText::from_user(form.text.trim())
            .as_str()
            .lines()
            .map(|l| format!(">{l}\n"))
            .collect();
        let text = format!(
            "I could not save your update: my database is not answering. Nothing was posted; \
             please post it again in a few minutes. What you wrote:\n{quoted}"
        );
        let payload = json!({ "text": text });
        self.ctx
            .tell_person(form.channel.as_ref(), &form.user, &payload)
            .await;
    }
}

/// How the channel post went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Post {
    Posted,
    /// Slack was not reached: nothing posted, recovery tries again.
    Later,
    /// Slack refused it, or may have posted it without saying so.
    Failed,
}

/// What announcing an update did.
struct Announced {
    /// Whether recovery should try again.
    outcome: Outcome,
    post: Post,
    thread_failed: bool,
}

/// Posts a stored update in the incident channel and, once that is done,
/// as a reply in the digest message's thread.
async fn announce_update(
    ctx: &Context,
    publisher: &PublisherHandle,
    incident: &Incident,
    actor: &UserId,
    text: &str,
    status: Option<&str>,
) -> Announced {
    let done = |post| Announced {
        outcome: Outcome::Done,
        post,
        thread_failed: false,
    };
    let Some(channel) = &incident.channel_id else {
        return done(Post::Failed);
    };
    let catalog = &ctx.config.incident.catalog;
    let posted = UpdatePosted {
        incident: view::incident(incident, catalog, view::SHORT_DESCRIPTION_CHARS),
        actor: actor.clone(),
        text: SlackText::from_user(text),
        status: status.map(|s| label(catalog, s)),
    };
    let reply = UpdateReply::new(&posted);
    let notification = "Incident update";
    let blocks = match ctx.renderer.render_context(&posted) {
        Ok(blocks) => blocks,
        Err(e) => {
            tracing::error!(template = UpdatePosted::TEMPLATE, error = %e, "cannot render");
            return done(Post::Failed);
        }
    };
    if let Err(e) = ctx
        .slack
        .post_message(channel, notification, &blocks, None)
        .await
    {
        tracing::warn!(channel = %channel, error = %e, "cannot post the update");
        return match passing(&e) {
            true => Announced {
                outcome: Outcome::Later,
                post: Post::Later,
                thread_failed: false,
            },
            false => done(Post::Failed),
        };
    }
    let thread_failed = match ctx.renderer.render_context(&reply) {
        Ok(blocks) => match publisher
            .reply_in_digest_thread(incident, notification, &blocks)
            .await
        {
            Ok(()) => false,
            Err(problem) => {
                tracing::warn!(incident = %incident.id, "update not in the digest thread: {}", problem.log_line());
                true
            }
        },
        Err(e) => {
            tracing::error!(template = UpdateReply::TEMPLATE, error = %e, "cannot render");
            true
        }
    };
    Announced {
        outcome: Outcome::Done,
        post: Post::Posted,
        thread_failed,
    }
}

/// Slack was not reached and nothing was posted: another try may work.
fn passing(e: &SlackError) -> bool {
    e.code().is_none() && !e.may_have_taken_effect()
}

/// Announces an update a crash (or a Slack that could not be reached) left
/// unannounced, from its stored history entry (`detail`: `text`, `status`).
pub(super) async fn replay(
    ctx: &Context,
    publisher: &PublisherHandle,
    incident: &Incident,
    actor: &UserId,
    detail: &Value,
) -> Outcome {
    let Some(text) = detail.get("text").and_then(Value::as_str) else {
        tracing::warn!(incident = %incident.id, "an update without text; not announced");
        return Outcome::Done;
    };
    let status = detail.get("status").and_then(Value::as_str);
    let span = tracing::info_span!("update_replay", incident = %incident.id);
    announce_update(ctx, publisher, incident, actor, text, status)
        .instrument(span)
        .await
        .outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::ids::IncidentId;

    fn catalog() -> Catalog {
        let env = [
            ("SLACK_APP_TOKEN", "xapp-1-A0-test"),
            ("SLACK_BOT_TOKEN", "xoxb-test"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        Config::load_from(None, env).unwrap().incident.catalog
    }

    fn form(text: &str, status: Option<&str>) -> UpdateForm {
        UpdateForm {
            incident: IncidentId(7),
            channel: None,
            user: UserId::parse("U0ALICE01").unwrap(),
            text: text.into(),
            status: status.map(Into::into),
            delivery: "view:V1".into(),
        }
    }

    #[test]
    fn a_blank_or_overlong_text_and_an_unknown_status_are_refused_under_their_fields() {
        let catalog = catalog();
        assert!(form_errors(&form("rolled back", Some("monitoring")), &catalog).is_empty());
        assert!(form_errors(&form("rolled back", None), &catalog).is_empty());
        let blank = form_errors(&form(" \n ", None), &catalog);
        assert!(blank.contains_key(block::UPDATE_TEXT), "{blank:?}");
        let long = "x".repeat(MAX_UPDATE_CHARS + 1);
        assert!(form_errors(&form(&long, None), &catalog).contains_key(block::UPDATE_TEXT));
        let unknown = form_errors(&form("ok", Some("on_fire")), &catalog);
        assert_eq!(unknown.keys().collect::<Vec<_>>(), [block::UPDATE_STATUS]);
    }

    #[test]
    fn the_digest_shows_an_update_escaped_cut_short_and_timed_for_each_reader() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-27T15:32:10Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let update = LatestUpdate {
            actor: UserId::parse("U0ALICE01").unwrap(),
            text: format!("<!here> {}", "x".repeat(3000)),
            status: Some("monitoring".into()),
            at,
        };
        let shown = digest_view(&update, &catalog());
        assert!(shown.text.as_str().starts_with("&lt;!here&gt; x"));
        assert_eq!(shown.text.char_count(), DIGEST_UPDATE_CHARS);
        assert_eq!(shown.status.unwrap().label, "Monitoring");
        assert_eq!(
            shown.at,
            "<!date^1795793530^{date_short_pretty} {time}|2026-11-27 15:32 UTC>"
        );
    }
}
