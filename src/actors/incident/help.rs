//! `@janus help`, answered in the channel (or thread) where Janus was
//! mentioned; `@janus list`, answered to the asker only; and the usage the
//! slash command answers without a description. (`@janus control` is in
//! `pinned`.)

use futures_util::future::join_all;
use serde_json::{Value, json};

use super::IncidentActor;
use crate::actors::view;
use crate::config::Config;
use crate::domain::event::Mention;
use crate::domain::ids::UserId;
use crate::domain::text::{SlackText, spoken};
use crate::render::context::{Features, Help, List, Listed, Usage};
use crate::store::Incident;

/// Incidents `@janus list` shows; the rest are counted.
const LIST_LIMIT: u32 = 45;

impl IncidentActor {
    /// `@janus list` lists; anything else gets the help (with an apology
    /// for a word Janus does not know).
    pub(super) async fn on_mention(&self, m: Mention) {
        let words = strip_mention(&m.text, self.ctx.bot.user_id.as_str());
        let verb = words.split_whitespace().next().unwrap_or("").to_lowercase();
        match verb.as_str() {
            "list" => return self.list(&m).await,
            "control" => return self.restore_control(&m).await,
            _ => {}
        }
        let unknown = match verb.as_str() {
            "" | "help" => None,
            _ => Some(SlackText::from_user(&verb)),
        };
        let config = &self.ctx.config;
        let help = Help {
            command: config.slack.command.to_string(),
            bot_user_id: self.ctx.bot.user_id.clone(),
            unknown,
            features: features(config),
        };
        let blocks = match self.ctx.renderer.render_context(&help) {
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

    /// Lists the open incidents to the asker only (an ephemeral): a list
    /// of incidents is never posted into a shared channel, and a private
    /// incident is listed only to the members of its channel.
    async fn list(&self, m: &Mention) {
        let (incidents, total) = match self.store.incidents.open_incidents(LIST_LIMIT).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "cannot list incidents");
                self.tell_asker(
                    m,
                    "I cannot reach my database right now; try again in a minute.",
                    None,
                )
                .await;
                return;
            }
        };
        let visible = join_all(incidents.iter().map(|i| self.may_see(i, &m.user))).await;
        let hidden = visible.iter().filter(|v| !**v).count() as u64;
        let catalog = &self.ctx.config.incident.catalog;
        let now = chrono::Utc::now();
        let shown: Vec<_> = incidents
            .iter()
            .zip(visible)
            .filter(|(_, visible)| *visible)
            .map(|(i, _)| Listed {
                incident: view::incident(i, catalog, view::SHORT_DESCRIPTION_CHARS),
                age: spoken((now - i.created_at).to_std().unwrap_or_default()),
            })
            .collect();
        // Private incidents beyond the first page are counted, unseen: the
        // count may include some the asker cannot see.
        let count = total.saturating_sub(hidden);
        let list = List {
            count,
            more: count.saturating_sub(shown.len() as u64),
            incidents: shown,
        };
        match self.ctx.renderer.render_context(&list) {
            Ok(blocks) => {
                let text = format!("{count} open incidents");
                self.tell_asker(m, &text, Some(blocks)).await;
            }
            Err(e) => tracing::error!(error = %e, "cannot render the incident list"),
        }
    }

    /// Whether `user` may see `incident` in a list: a public incident,
    /// or a private one whose channel they are in. When Slack cannot say,
    /// they may not.
    async fn may_see(&self, incident: &Incident, user: &UserId) -> bool {
        if !incident.private {
            return true;
        }
        let Some(channel) = &incident.channel_id else {
            return false;
        };
        match self.ctx.slack.members(channel).await {
            Ok(members) => members.contains(user),
            Err(e) => {
                tracing::warn!(incident = %incident.id, channel = %channel, error = %e,
                    "cannot read a private incident's members; left out of the list");
                false
            }
        }
    }

    /// Answers only the person who mentioned Janus: an ephemeral where
    /// (and in the thread where) they asked, else a DM.
    pub(super) async fn tell_asker(&self, m: &Mention, text: &str, blocks: Option<Value>) {
        let mut payload = json!({ "text": text });
        if let Some(blocks) = blocks {
            payload["blocks"] = blocks;
        }
        if let Some(thread) = &m.thread_ts {
            payload["thread_ts"] = json!(thread.as_str());
        }
        self.ctx
            .tell_person(Some(&m.channel), &m.user, &payload)
            .await;
    }

    /// The usage message as an ephemeral payload; `None` (logged) when it
    /// cannot be rendered.
    pub(super) fn usage(&self) -> Option<Value> {
        let command = self.ctx.config.slack.command.to_string();
        match self.ctx.ephemeral(&Usage { command }) {
            Ok(payload) => Some(payload),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the usage message");
                None
            }
        }
    }
}

/// What help lists: the optional features the configuration turns on.
fn features(config: &Config) -> Features {
    let reminders = &config.reminders;
    Features {
        react_emoji: config.react.as_ref().map(|r| r.emoji.clone()),
        timeline_emoji: config.timeline_emoji.clone(),
        statuspage: config.statuspage.is_some(),
        reminders: !reminders.update_every.is_empty()
            || reminders.unclaimed_commander_after.is_some(),
        archive_after: config.incident.archive_after.map(spoken),
        invite_group: config.auto_invite.as_ref().map(|a| a.group.clone()),
        providers: config.providers.is_some(),
    }
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
    use super::strip_mention;

    #[test]
    fn the_bots_own_mention_is_stripped_and_others_are_kept() {
        assert_eq!(strip_mention("<@UBOT> help", "UBOT"), "help");
        assert_eq!(strip_mention("  <@UBOT|janus>   list  ", "UBOT"), "list  ");
        assert_eq!(strip_mention("<@UOTHER> help", "UBOT"), "<@UOTHER> help");
        assert_eq!(strip_mention("<@UBOT>", "UBOT"), "");
        assert_eq!(strip_mention("<@UBOT", "UBOT"), "<@UBOT");
    }
}
