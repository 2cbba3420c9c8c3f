//! React-to-create: the configured emoji on a message declares an incident
//! from it.
//!
//! One message gives at most one incident, whoever reacts, however often,
//! on whichever replica, and however often Slack redelivers: the message is
//! claimed in the database before anything is created, and released only if
//! the declaration fails (so a later reaction can try again).
//!
//! Two kinds of message declare nothing, and the reactor is told why: one
//! in an incident's own channel (known from the database, before any Slack
//! call or claim), and one a bot posted (known from the message, which is
//! read anyway; the claim is released). The timeline emoji cannot be the
//! react emoji (the configuration refuses it), so a mark in an incident
//! channel never reaches here.
//!
//! The message is quoted with its mentions as names ([`Quote`]): the names
//! are asked of Slack here, once, within [`NAMES_DEADLINE`], and kept with
//! the declaration, so the description and the quote read the same, and a
//! declaration resumed after a crash quotes without asking again.

use std::sync::Arc;
use std::time::Duration;

use super::Context;
use super::access::AccessHandle;
use super::incident::{Declaration, IncidentHandle, Origin, Reply};
use crate::domain::event::Reaction;
use crate::domain::ids::{ChannelId, MessageTs, UserId};
use crate::domain::quote::{Names, Quote};
use crate::slack::{ApiErrorCode, FetchedMessage};
use crate::store::{IncidentId, Incidents, ReactTriggers};

/// How long a declaration waits for people's names before quoting those
/// still unnamed as `@someone`: the incident matters more than the names.
/// The timeline's marks wait as long.
pub const NAMES_DEADLINE: Duration = Duration::from_secs(3);

/// Cheap handle to the react-trigger actor. A reaction is handled in the
/// caller's task (the bus gives each one a task of its own).
#[derive(Clone)]
pub struct ReactHandle {
    actor: Arc<ReactActor>,
}

impl ReactHandle {
    /// `incidents` tells incident channels apart; `access` holds the
    /// cache of `users.info` that names the people a message mentions.
    pub fn new(
        ctx: Arc<Context>,
        triggers: Arc<dyn ReactTriggers>,
        incidents: Arc<dyn Incidents>,
        access: AccessHandle,
        incident: IncidentHandle,
    ) -> Self {
        Self {
            actor: Arc::new(ReactActor {
                ctx,
                triggers,
                incidents,
                access,
                incident,
            }),
        }
    }

    /// Whether the reaction is the configured emoji: any other reaction is
    /// none of Janus's business, and is not even recorded.
    pub fn acts_on(&self, reaction: &Reaction) -> bool {
        reaction.added
            && self
                .actor
                .ctx
                .config
                .react
                .as_ref()
                .is_some_and(|config| reaction.base_emoji() == config.emoji)
    }

    /// Declares an incident from the reacted-to message, if the emoji is
    /// the configured one and the message has not declared one already.
    pub async fn reaction(&self, reaction: Reaction) {
        if self.acts_on(&reaction) {
            self.actor.on_reaction(reaction).await;
        }
    }
}

struct ReactActor {
    ctx: Arc<Context>,
    triggers: Arc<dyn ReactTriggers>,
    incidents: Arc<dyn Incidents>,
    access: AccessHandle,
    incident: IncidentHandle,
}

impl ReactActor {
    async fn on_reaction(&self, r: Reaction) {
        if self.in_incident_channel(&r).await {
            return;
        }
        match self
            .triggers
            .claim_react_trigger(&r.channel, &r.ts, &r.user)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(channel = %r.channel, ts = %r.ts, user = %r.user,
                    "message already declared an incident; reaction ignored");
                return;
            }
            Err(e) => {
                tracing::error!(channel = %r.channel, ts = %r.ts, error = %e,
                    "cannot record the reaction; nothing declared");
                self.tell(&r, "I could not declare an incident from that message because my database is unavailable; react again in a minute.").await;
                return;
            }
        }
        let declared = self.declare(&r).await;
        let result = match declared {
            Some(id) => {
                self.triggers
                    .link_react_trigger(&r.channel, &r.ts, id)
                    .await
            }
            None => self.triggers.release_react_trigger(&r.channel, &r.ts).await,
        };
        if let Err(e) = result {
            tracing::error!(channel = %r.channel, ts = %r.ts, error = %e, "cannot update the reaction record");
        }
    }

    /// Whether the reaction is in an incident's own channel (or that cannot
    /// be known): then nothing is claimed, and the reactor hears why.
    async fn in_incident_channel(&self, r: &Reaction) -> bool {
        match self.incidents.incident_by_channel(&r.channel).await {
            Ok(None) => false,
            Ok(Some(incident)) => {
                tracing::info!(channel = %r.channel, ts = %r.ts, user = %r.user, incident = %incident.id,
                    "react emoji in an incident channel; nothing declared");
                let text = format!(
                    "This channel already belongs to an incident (<#{}>), so reacting here does not declare another one. To put a message on this incident's timeline, react with :{}: instead.",
                    r.channel, self.ctx.config.timeline_emoji
                );
                self.tell(r, &text).await;
                true
            }
            Err(e) => {
                tracing::error!(channel = %r.channel, ts = %r.ts, error = %e,
                    "cannot tell whether the reaction is in an incident channel; nothing declared");
                self.tell(r, "I could not declare an incident from that message because my database is unavailable; react again in a minute.").await;
                true
            }
        }
    }

    async fn declare(&self, r: &Reaction) -> Option<IncidentId> {
        let message = match self.ctx.slack.message(&r.channel, &r.ts).await {
            Ok(Some(message)) => message,
            Ok(None) => {
                tracing::warn!(channel = %r.channel, ts = %r.ts, "reacted message not found");
                self.tell(
                    r,
                    "I could not find that message any more; nothing was declared.",
                )
                .await;
                return None;
            }
            Err(e) => {
                tracing::warn!(channel = %r.channel, ts = %r.ts, error = %e, "cannot read the reacted message");
                let text = match e.code() {
                    Some(ApiErrorCode::NotInChannel) => format!(
                        "I cannot read messages in <#{}>: invite me with `/invite @{}`, then react again.",
                        r.channel, self.ctx.bot.name
                    ),
                    Some(ApiErrorCode::ChannelNotFound) => {
                        "I cannot see that channel (a private channel I am not in?); invite me, then react again.".to_owned()
                    }
                    _ => "I could not read that message; nothing was declared.".to_owned(),
                };
                self.tell(r, &text).await;
                return None;
            }
        };
        if message.is_from_bot(&self.ctx.bot.user_id) {
            tracing::info!(channel = %r.channel, ts = %r.ts, user = %r.user,
                bot_id = message.bot_id.as_deref().unwrap_or_default(),
                "react emoji on a bot's message; nothing declared");
            self.tell(
                r,
                "That message was posted by a bot, and reacting to a bot's message does not declare an incident. React to a person's message about it instead.",
            )
            .await;
            return None;
        }
        let permalink = match self.ctx.slack.permalink(&r.channel, &r.ts).await {
            Ok(link) => Some(link),
            Err(e) => {
                tracing::warn!(error = %e, "cannot get the message's permalink");
                None
            }
        };
        let text = message.text.trim().to_owned();
        let quote = Quote::parse(&text);
        let names = self.names(&quote, &message).await;
        let readable = quote.to_plain(&names);
        let description = if readable.trim().is_empty() {
            "Declared from a message without text".to_owned()
        } else {
            readable.trim().to_owned()
        };
        let declaration = Declaration {
            description,
            severity: None,
            user: r.user.clone(),
            source: Some(r.channel.clone()),
            // Answer in the message's thread (its own, if it is a reply).
            reply: Reply::Thread(message.thread_ts.clone().unwrap_or(message.ts.clone())),
            slug: Some(format!("auto-{}", auto_suffix(&r.channel, &r.ts))),
            // Private when the message's channel is (the declaration asks).
            private: false,
            origin: Some(Origin {
                channel: r.channel.clone(),
                author: message.user.clone(),
                text,
                names,
                permalink,
            }),
        };
        self.incident.declare(declaration).await
    }

    /// The names of the people the message mentions without one, and of
    /// its author, as Slack gives them within [`NAMES_DEADLINE`].
    async fn names(&self, quote: &Quote, message: &FetchedMessage) -> Names {
        let mut people: Vec<UserId> = message.user.iter().cloned().collect();
        for user in quote.unnamed_users() {
            if !people.contains(&user) {
                people.push(user);
            }
        }
        self.access.names(people, NAMES_DEADLINE).await
    }

    /// Tells only the person who reacted (an ephemeral where they reacted,
    /// a DM when the bot cannot post there).
    async fn tell(&self, r: &Reaction, text: &str) {
        let payload = serde_json::json!({ "text": text });
        self.ctx
            .tell_person(Some(&r.channel), &r.user, &payload)
            .await;
    }
}

/// Six characters derived from the message (channel + ts), so the channel
/// name is the same whoever reacts: FNV-1a, in base 36.
fn auto_suffix(channel: &ChannelId, ts: &MessageTs) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in channel
        .as_str()
        .bytes()
        .chain([b':'])
        .chain(ts.as_str().bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|i| digits[((hash >> (i * 10)) % 36) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bots_message_is_told_from_a_persons() {
        let janus = UserId::parse("U0JANUS01").unwrap();
        let message =
            |json: serde_json::Value| -> FetchedMessage { serde_json::from_value(json).unwrap() };
        let person = message(serde_json::json!({"ts": "1.1", "user": "U0ALICE01", "text": "hi"}));
        let integration = message(serde_json::json!({"ts": "1.1", "bot_id": "B0DEPLOY1",
            "subtype": "bot_message", "text": "deployed"}));
        let legacy = message(serde_json::json!({"ts": "1.1", "subtype": "bot_message"}));
        let ours = message(serde_json::json!({"ts": "1.1", "user": "U0JANUS01"}));
        assert!(!person.is_from_bot(&janus));
        assert!(integration.is_from_bot(&janus));
        assert!(legacy.is_from_bot(&janus));
        assert!(ours.is_from_bot(&janus), "Janus's own, even without bot_id");
    }

    #[test]
    fn the_auto_suffix_is_six_stable_characters_per_message() {
        let c = ChannelId::parse("C0GENERAL1").unwrap();
        let a = auto_suffix(&c, &MessageTs::parse("1700000000.000100").unwrap());
        let b = auto_suffix(&c, &MessageTs::parse("1700000000.000200").unwrap());
        assert_eq!(a.len(), 6);
        assert!(
            a.bytes()
                .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
        );
        assert_eq!(
            a,
            auto_suffix(&c, &MessageTs::parse("1700000000.000100").unwrap())
        );
        assert_ne!(a, b);
    }
}
