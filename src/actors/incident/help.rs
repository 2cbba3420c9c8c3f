//! `@janus help` and `@janus list`, answered in the channel (or thread)
//! where Janus was mentioned, and the usage `/incident` answers without a
//! description. No incident is involved.

use serde_json::Value;

use super::{COMMAND, IncidentActor};
use crate::actors::view;
use crate::domain::event::Mention;
use crate::domain::text::SlackText;
use crate::render::context::{Help, List, Usage};

/// Incidents `@janus list` shows; the rest are counted.
const LIST_LIMIT: u32 = 45;

impl IncidentActor {
    /// `@janus list` lists; anything else gets the help (with an apology
    /// for a word Janus does not know).
    pub(super) async fn on_mention(&self, m: Mention) {
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
        let help = Help {
            command: COMMAND,
            bot_user_id: self.ctx.bot.user_id.clone(),
            unknown,
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

    async fn list(&self, m: &Mention) {
        let (incidents, total) = match self.store.incidents.open_incidents(LIST_LIMIT).await {
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
        let shown: Vec<_> = incidents
            .iter()
            .map(|i| view::incident(i, catalog, view::SHORT_DESCRIPTION_CHARS))
            .collect();
        let list = List {
            count: total,
            more: total.saturating_sub(shown.len() as u64),
            incidents: shown,
        };
        match self.ctx.renderer.render_context(&list) {
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

    /// The usage message as an ephemeral payload; `None` (logged) when it
    /// cannot be rendered.
    pub(super) fn usage(&self) -> Option<Value> {
        match self.ctx.ephemeral(&Usage { command: COMMAND }) {
            Ok(payload) => Some(payload),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the usage message");
                None
            }
        }
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
