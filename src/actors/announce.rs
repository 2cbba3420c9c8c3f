//! Telling the incident channel about a stored change: the line for a new
//! status or severity (and the resolution message), for a new role
//! holder (who is also invited and DMed their duties), or for a role
//! released (its former holder is told).
//!
//! A change is stored first, unannounced, in the transaction that records
//! the click that asked for it; its line goes out after the commit, and the
//! change is then marked announced. A crash in between leaves it
//! unannounced, and [`missed`] (at start, and on the recovery leader)
//! announces it then — from the stored change alone, so it reads the same.
//! A crash after the post but before the mark repeats that one line. A
//! line Slack did not take for a passing reason (rate limited past the
//! call's budget, unreachable) is left unannounced too, for recovery to
//! post; one Slack refused (`ok:false`) or may have posted (no answer) is
//! not tried again.

use std::time::Duration;

use serde_json::Value;

use super::publisher::PublisherHandle;
use super::{Context, update, view};
use crate::domain::ids::{ChannelId, UserId};
use crate::render::TemplateContext;
use crate::render::context::{
    Labelled, Resolved, Role, RoleAssigned, RoleDm, RoleReleased, StatusChanged,
};
use crate::store::{EventId, Incident, Incidents, Publications, Unannounced};

/// Whether an announcement is finished (`Done`: mark it) or should be
/// tried again later (`Later`: Slack was not reached, nothing was posted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Posted, or not worth trying again.
    Done,
    /// Not posted for a passing reason: leave it for recovery.
    Later,
}

/// Renders and posts one line; `Later` when Slack could not be reached
/// (nothing posted, and another try may go through).
async fn post<C: TemplateContext>(
    ctx: &Context,
    channel: &ChannelId,
    context: &C,
    text: &str,
) -> Outcome {
    let template = C::TEMPLATE;
    let blocks = match ctx.renderer.render_context(context) {
        Ok(blocks) => blocks,
        Err(e) => {
            tracing::error!(template, error = %e, "cannot render");
            return Outcome::Done;
        }
    };
    match ctx.slack.post_message(channel, text, &blocks, None).await {
        Ok(_) => Outcome::Done,
        Err(e) => {
            tracing::warn!(template, channel = %channel, error = %e, "cannot post");
            if e.code().is_none() && !e.may_have_taken_effect() {
                Outcome::Later
            } else {
                Outcome::Done
            }
        }
    }
}

/// A status or severity change: a line in the channel, and the resolution
/// message when the status became the resolved one.
pub async fn field_changed(
    ctx: &Context,
    incident: &Incident,
    actor: &UserId,
    field: &str,
    from: &str,
    to: &str,
) -> Outcome {
    let Some(channel) = &incident.channel_id else {
        return Outcome::Done;
    };
    let catalog = &ctx.config.incident.catalog;
    let label = |v: &str| {
        let choice = match field {
            "status" => catalog.status(v),
            _ => catalog.severity(v),
        };
        Labelled::new(v, choice.map(|c| c.label()))
    };
    let view = view::incident(incident, catalog, view::SHORT_DESCRIPTION_CHARS);
    let line = StatusChanged {
        incident: view.clone(),
        actor: actor.clone(),
        field: field.to_owned(),
        from: label(from),
        to: label(to),
    };
    let text = format!("{field} is now {to}");
    let outcome = post(ctx, channel, &line, &text).await;
    if outcome == Outcome::Done && field == "status" && catalog.resolved_status().value() == to {
        let resolved = Resolved {
            incident: view,
            actor: actor.clone(),
        };
        let outcome = post(ctx, channel, &resolved, "The incident is resolved").await;
        if outcome == Outcome::Done {
            // Counted once the resolution is announced: once per resolution.
            let took = chrono::Utc::now() - incident.created_at;
            ctx.metrics
                .resolved(&incident.severity, took.num_milliseconds() as f64 / 1000.0);
        }
        return outcome;
    }
    outcome
}

/// A new role holder: invited to the channel, a line there, and a DM with
/// the role's duties.
pub async fn role_changed(
    ctx: &Context,
    incident: &Incident,
    actor: &UserId,
    role: &str,
    holder: &UserId,
    previous: Option<&UserId>,
) -> Outcome {
    let Some(channel) = &incident.channel_id else {
        return Outcome::Done;
    };
    let catalog = &ctx.config.incident.catalog;
    let Some(def) = catalog.role(role) else {
        return Outcome::Done;
    };
    let role_view = Role {
        key: def.key().to_owned(),
        label: def.label().to_owned(),
        duties: def.duties().to_owned(),
    };
    let view = view::incident(incident, catalog, view::SHORT_DESCRIPTION_CHARS);
    if let Err(e) = ctx
        .slack
        .invite(channel, std::slice::from_ref(holder))
        .await
    {
        tracing::warn!(incident = %incident.id, holder = %holder, error = %e, "cannot invite the role holder");
    }
    let line = RoleAssigned {
        incident: view.clone(),
        actor: actor.clone(),
        role: role_view.clone(),
        holder: holder.clone(),
        previous: previous.cloned(),
    };
    let text = format!("<@{holder}> is now the {}", def.label());
    if post(ctx, channel, &line, &text).await == Outcome::Later {
        return Outcome::Later;
    }
    // The DM is best effort: the line in the channel is the record.
    let dm = RoleDm {
        incident: view,
        role: role_view,
        actor: actor.clone(),
    };
    match ctx.slack.open_dm(holder).await {
        Ok(im) => {
            let text = format!("You are the {} of an incident", def.label());
            post(ctx, &im, &dm, &text).await;
        }
        Err(e) => {
            tracing::warn!(holder = %holder, error = %e, "cannot open a DM with the role holder")
        }
    }
    Outcome::Done
}

/// A role left without a holder: a line in the channel, and the same told
/// to who held it (best effort, like the new holder's DM).
pub async fn role_released(
    ctx: &Context,
    incident: &Incident,
    actor: &UserId,
    role: &str,
    previous: &UserId,
) -> Outcome {
    let Some(channel) = &incident.channel_id else {
        return Outcome::Done;
    };
    let Some(def) = ctx.config.incident.catalog.role(role) else {
        return Outcome::Done;
    };
    let line = RoleReleased {
        incident: view::incident(
            incident,
            &ctx.config.incident.catalog,
            view::SHORT_DESCRIPTION_CHARS,
        ),
        actor: actor.clone(),
        role: Role {
            key: def.key().to_owned(),
            label: def.label().to_owned(),
            duties: def.duties().to_owned(),
        },
        previous: previous.clone(),
    };
    let text = format!("The {} role is free", def.label());
    if post(ctx, channel, &line, &text).await == Outcome::Later {
        return Outcome::Later;
    }
    if previous != actor {
        match ctx.slack.open_dm(previous).await {
            Ok(im) => {
                let text = format!("You are no longer the {} of an incident", def.label());
                post(ctx, &im, &line, &text).await;
            }
            Err(e) => {
                tracing::warn!(previous = %previous, error = %e, "cannot open a DM with the former holder")
            }
        }
    }
    Outcome::Done
}

/// Records that `event` was announced, when it was (`Later` leaves it for
/// recovery); a failure to record only means it may be announced once more.
pub async fn finish(publications: &dyn Publications, event: EventId, outcome: Outcome) {
    if outcome == Outcome::Later {
        tracing::info!(
            event = event.0,
            "change not announced yet; recovery will try again"
        );
        return;
    }
    if let Err(e) = publications.mark_announced(event).await {
        tracing::warn!(event = event.0, error = %e, "cannot record a change as announced");
    }
}

/// Announces every change a crash left unannounced that is at least
/// `settled` old (younger ones may still be on their way), in the order
/// they were made.
pub async fn missed(
    ctx: &Context,
    incidents: &dyn Incidents,
    publications: &dyn Publications,
    publisher: &PublisherHandle,
    settled: Duration,
) {
    let events = match publications.unannounced(settled).await {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for changes the channel was not told about");
            return;
        }
    };
    for event in events {
        replay(ctx, incidents, publications, publisher, &event).await;
    }
}

/// Announces one stored change from what was stored, then marks it.
#[tracing::instrument(skip_all, fields(incident = %event.incident, event = event.id.0))]
async fn replay(
    ctx: &Context,
    incidents: &dyn Incidents,
    publications: &dyn Publications,
    publisher: &PublisherHandle,
    event: &Unannounced,
) {
    let incident = match incidents.incident(event.incident).await {
        Ok(Some(incident)) => incident,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(incident = %event.incident, error = %e, "cannot load the incident of a change");
            return;
        }
    };
    let text = |key: &str| event.detail.get(key).and_then(Value::as_str);
    let user = |key: &str| text(key).and_then(|u| UserId::parse(u).ok());
    tracing::info!(incident = %event.incident, kind = event.kind, event = event.id.0,
        "announcing a change a restart interrupted");
    // Like a holder that does not read back, an actor that does not (never
    // stored by this build: actors are the clickers' ids) is not announced.
    let actor = UserId::parse(&event.actor).ok();
    let outcome = match (event.kind.as_str(), actor) {
        ("status" | "severity", Some(actor)) => match (text("from"), text("to")) {
            (Some(from), Some(to)) => {
                field_changed(ctx, &incident, &actor, &event.kind, from, to).await
            }
            _ => Outcome::Done,
        },
        ("role", Some(actor)) => match (text("role"), user("holder"), user("previous")) {
            (Some(role), Some(holder), previous) => {
                role_changed(ctx, &incident, &actor, role, &holder, previous.as_ref()).await
            }
            (Some(role), None, Some(previous)) if text("how") == Some("released") => {
                role_released(ctx, &incident, &actor, role, &previous).await
            }
            _ => Outcome::Done,
        },
        ("update", Some(actor)) => {
            update::replay(ctx, publisher, &incident, &actor, &event.detail).await
        }
        ("status" | "severity" | "role" | "update", None) => {
            tracing::warn!(
                kind = event.kind,
                "a change without a valid actor; not announced"
            );
            Outcome::Done
        }
        (other, _) => {
            tracing::warn!(kind = other, "a change of an unknown kind; not announced");
            Outcome::Done
        }
    };
    finish(publications, event.id, outcome).await;
}
