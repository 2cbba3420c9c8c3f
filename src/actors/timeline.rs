//! The timeline's marked messages: the timeline emoji (`timeline.emoji`,
//! `pushpin` by default) on a message in an incident channel puts that
//! message on the incident's timeline — its author, its time (the message's
//! ts), its text and its link — and Janus confirms with a reaction of its
//! own; taking the emoji back (when nobody else's is left on the message)
//! takes the message off, and Janus's confirmation with it. Marking twice
//! adds once.
//!
//! Reactions with the timeline emoji go through the lane of their channel
//! (see `bus::event::route`), so a mark and its removal apply in order.
//!
//! A mark's text is kept readable ([`Quote::to_plain`]): the people it
//! mentions by name, channels by name, no raw `<@U…>` in the export.

use std::sync::Arc;

use tracing::Span;
use tracing::field::{Empty, display};

use super::Context;
use super::access::AccessHandle;
use super::react_trigger::NAMES_DEADLINE;
use crate::domain::event::{Reaction, base_emoji};
use crate::domain::ids::{ChannelId, UserId};
use crate::domain::quote::Quote;
use crate::slack::FetchedMessage;
use crate::store::{Incident, Incidents, Mark, TimelineMarks};

/// Janus's confirmation on a marked message.
pub const CONFIRMATION: &str = "white_check_mark";

/// Cheap handle to the timeline actor. Calls run in the caller's task: the
/// lane of the reaction's channel.
#[derive(Clone)]
pub struct TimelineHandle {
    actor: Arc<TimelineActor>,
}

struct TimelineActor {
    ctx: Arc<Context>,
    incidents: Arc<dyn Incidents>,
    marks: Arc<dyn TimelineMarks>,
    access: AccessHandle,
}

impl TimelineHandle {
    /// `access` names the people a marked message mentions.
    pub fn new(
        ctx: Arc<Context>,
        incidents: Arc<dyn Incidents>,
        marks: Arc<dyn TimelineMarks>,
        access: AccessHandle,
    ) -> Self {
        Self {
            actor: Arc::new(TimelineActor {
                ctx,
                incidents,
                marks,
                access,
            }),
        }
    }

    /// The emoji that marks a message, without colons.
    pub fn emoji(&self) -> &str {
        &self.actor.ctx.config.timeline_emoji
    }

    /// Whether the reaction marks or unmarks a message: the timeline emoji,
    /// from a person (Janus's own reactions are confirmations).
    pub fn acts_on(&self, reaction: &Reaction) -> bool {
        reaction.base_emoji() == self.emoji() && reaction.user != self.actor.ctx.bot.user_id
    }

    /// Marks or unmarks the reacted-to message, if its channel is an
    /// incident's.
    pub async fn reaction(&self, reaction: Reaction) {
        self.actor.on_reaction(reaction).await;
    }

    /// Applies the marks made and taken back while no socket was open (at
    /// start, and after a gap): each open incident's channel is read from
    /// the newest message looked at last time, and its marked messages
    /// looked at again. Applying twice changes nothing, so replicas that
    /// start together may both look.
    pub async fn catch_up(&self) {
        self.actor.catch_up().await;
    }
}

/// Open incidents whose channels are looked at for missed marks.
const CATCH_UP_INCIDENTS: u32 = 200;
/// Messages read per incident channel for missed marks.
const CATCH_UP_MESSAGES: usize = 1_000;
/// Marked messages looked at again per incident for marks taken back.
const CATCH_UP_RECHECKED: usize = 50;

impl TimelineActor {
    #[tracing::instrument(skip_all, fields(channel = %r.channel, incident = Empty))]
    async fn on_reaction(&self, r: Reaction) {
        let incident = match self.incidents.incident_by_channel(&r.channel).await {
            Ok(Some(incident)) => incident,
            Ok(None) => {
                tracing::debug!(channel = %r.channel, "timeline emoji outside an incident channel");
                return;
            }
            Err(e) => {
                tracing::error!(channel = %r.channel, error = %e,
                    "cannot find the incident of a timeline mark");
                self.tell(&r, "I could not update the timeline because my database is unavailable; try again in a minute.").await;
                return;
            }
        };
        Span::current().record("incident", display(incident.id));
        if r.added {
            self.mark(&incident, &r).await;
        } else {
            self.unmark(&incident, &r).await;
        }
    }

    async fn mark(&self, incident: &Incident, r: &Reaction) {
        let message = match self.ctx.slack.message(&r.channel, &r.ts).await {
            Ok(Some(message)) => message,
            Ok(None) => {
                tracing::info!(ts = %r.ts, "marked message not found");
                return;
            }
            Err(e) => {
                tracing::warn!(ts = %r.ts, error = %e, "cannot read the marked message");
                self.tell(r, "I could not read that message, so it is not on the timeline; try again in a minute.").await;
                return;
            }
        };
        let permalink = match self.ctx.slack.permalink(&r.channel, &r.ts).await {
            Ok(link) => Some(link.to_string()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot get the marked message's permalink");
                None
            }
        };
        let quote = Quote::parse(message.text.trim());
        let names = self
            .access
            .names(quote.unnamed_users(), NAMES_DEADLINE)
            .await;
        let mark = Mark {
            ts: r.ts.clone(),
            author: message.user.clone(),
            text: quote.to_plain(&names),
            permalink,
            marked_by: r.user.clone(),
        };
        match self.marks.add_mark(incident.id, &mark).await {
            Ok(added) => {
                tracing::info!(ts = %r.ts, marked_by = %r.user, added, "message marked for the timeline");
                self.confirm(r, true).await;
            }
            Err(e) => {
                tracing::error!(ts = %r.ts, error = %e, "cannot record a timeline mark");
                self.tell(r, "I could not put that message on the timeline because my database is unavailable; react again in a minute.").await;
            }
        }
    }

    async fn unmark(&self, incident: &Incident, r: &Reaction) {
        // Someone else's mark on the message keeps it on the timeline.
        let still_marked = match self.ctx.slack.message(&r.channel, &r.ts).await {
            Ok(Some(message)) => message.reactions.iter().any(|reaction| {
                crate::domain::event::base_emoji(&reaction.name) == self.ctx.config.timeline_emoji
                    && reaction.users.iter().any(|u| *u != self.ctx.bot.user_id)
            }),
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(ts = %r.ts, error = %e,
                    "cannot read the unmarked message; taking it off the timeline");
                false
            }
        };
        if still_marked {
            tracing::info!(ts = %r.ts, "another person's mark keeps the message on the timeline");
            return;
        }
        match self.marks.remove_mark(incident.id, &r.ts).await {
            Ok(removed) => {
                tracing::info!(ts = %r.ts, removed, "message taken off the timeline");
                self.confirm(r, false).await;
            }
            Err(e) => {
                tracing::error!(ts = %r.ts, error = %e, "cannot remove a timeline mark");
                self.tell(r, "I could not take that message off the timeline because my database is unavailable; try again in a minute.").await;
            }
        }
    }

    async fn catch_up(&self) {
        let open = match self.incidents.open_incidents(CATCH_UP_INCIDENTS).await {
            Ok((open, _)) => open,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for timeline marks made while away");
                return;
            }
        };
        for incident in open {
            if let Some(channel) = &incident.channel_id {
                self.catch_up_one(&incident, channel).await;
            }
        }
    }

    /// Who marked `message` (people, not Janus), first to last.
    fn markers(&self, message: &FetchedMessage) -> Vec<UserId> {
        message
            .reactions
            .iter()
            .filter(|r| base_emoji(&r.name) == self.ctx.config.timeline_emoji)
            .flat_map(|r| r.users.iter())
            .filter(|u| **u != self.ctx.bot.user_id)
            .cloned()
            .collect()
    }

    #[tracing::instrument(skip_all, fields(incident = %incident.id, channel = %channel))]
    async fn catch_up_one(&self, incident: &Incident, channel: &ChannelId) {
        let seen = match self.marks.timeline_seen(incident.id).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read where the timeline look stopped");
                return;
            }
        };
        let messages = match self
            .ctx
            .slack
            .messages_since(channel, seen.as_ref(), CATCH_UP_MESSAGES)
            .await
        {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the channel for timeline marks made while away");
                return;
            }
        };
        // New marks.
        for message in &messages {
            let Some(marked_by) = self.markers(message).into_iter().next() else {
                continue;
            };
            let reaction = Reaction {
                user: marked_by,
                emoji: self.ctx.config.timeline_emoji.clone(),
                channel: channel.clone(),
                ts: message.ts.clone(),
                added: true,
            };
            tracing::info!(ts = %message.ts, "a timeline mark made while away");
            self.mark(incident, &reaction).await;
        }
        // Marks taken back: every marked message of the incident whose mark
        // is gone (read above, or looked up when older).
        let marked = match self.marks.marks(incident.id).await {
            Ok(marked) => marked,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the timeline's marks");
                return;
            }
        };
        for mark in marked.iter().rev().take(CATCH_UP_RECHECKED) {
            let still = match messages.iter().find(|m| m.ts == mark.ts) {
                Some(message) => !self.markers(message).is_empty(),
                None => match self.ctx.slack.message(channel, &mark.ts).await {
                    Ok(Some(message)) => !self.markers(&message).is_empty(),
                    Ok(None) => false,
                    // Unknown is not gone.
                    Err(_) => true,
                },
            };
            if !still {
                tracing::info!(ts = %mark.ts, "a timeline mark taken back while away");
                if let Err(e) = self.marks.remove_mark(incident.id, &mark.ts).await {
                    tracing::warn!(error = %e, "cannot remove a timeline mark");
                    continue;
                }
                let reaction = Reaction {
                    user: mark.marked_by.clone(),
                    emoji: self.ctx.config.timeline_emoji.clone(),
                    channel: channel.clone(),
                    ts: mark.ts.clone(),
                    added: false,
                };
                self.confirm(&reaction, false).await;
            }
        }
        let newest = messages
            .iter()
            .map(|m| &m.ts)
            .max_by(|a, b| a.as_str().cmp(b.as_str()));
        if let Some(newest) = newest
            && let Err(e) = self.marks.set_timeline_seen(incident.id, newest).await
        {
            tracing::warn!(error = %e, "cannot record where the timeline look stopped");
        }
    }

    /// Adds (`on`) or takes back Janus's confirmation on the message.
    async fn confirm(&self, r: &Reaction, on: bool) {
        let result = if on {
            self.ctx
                .slack
                .add_reaction(&r.channel, &r.ts, CONFIRMATION)
                .await
        } else {
            self.ctx
                .slack
                .remove_reaction(&r.channel, &r.ts, CONFIRMATION)
                .await
        };
        if let Err(e) = result {
            tracing::warn!(ts = %r.ts, error = %e, "cannot update the timeline confirmation");
        }
    }

    /// Tells only the person who reacted.
    async fn tell(&self, r: &Reaction, text: &str) {
        let payload = serde_json::json!({ "text": text });
        self.ctx
            .tell_person(Some(&r.channel), &r.user, &payload)
            .await;
    }
}
