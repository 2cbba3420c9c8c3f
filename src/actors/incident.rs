//! The incident actor: answers `@janus …` and `/incident`.
//!
//! A handle plus a task with a bounded inbox. The task owns nothing mutable
//! yet; it exists so that declaring, listing and the state changes of a
//! later issue have one home whose order is explicit.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

use super::Context;
use crate::domain::ids::{ChannelId, MessageTs, UserId};
use crate::domain::text::SlackText;

/// The slash command Janus answers to (the one in `slack_manifest.yaml`).
pub const COMMAND: &str = "/incident";

/// Messages waiting for the incident actor.
const INBOX_CAPACITY: usize = 256;

/// `@janus …` in a channel.
#[derive(Debug, Clone)]
pub struct Mention {
    /// Where the mention was posted.
    pub channel: ChannelId,
    /// Who wrote it.
    pub user: UserId,
    /// The message text, as Slack sent it (with `<@U…>` tokens).
    pub text: String,
    /// The mention's own ts.
    pub ts: MessageTs,
    /// Set when the mention is a thread reply: answers go to that thread.
    pub thread_ts: Option<MessageTs>,
}

/// A slash command, reduced to what Janus uses.
#[derive(Debug, Clone)]
pub struct SlashCommand {
    /// The command as typed, e.g. `/incident`.
    pub command: String,
    /// Everything after the command.
    pub text: String,
    /// Who typed it.
    pub user: UserId,
    /// Where it was typed.
    pub channel: ChannelId,
    /// Where replies after the ack go.
    pub response_url: Url,
    /// Whether the ack already answered the person.
    pub answered_in_ack: bool,
}

enum Msg {
    Mention(Mention),
    Command(SlashCommand),
}

/// Cheap handle to the incident actor.
#[derive(Clone)]
pub struct IncidentHandle {
    tx: mpsc::Sender<Msg>,
    ctx: Arc<Context>,
}

impl IncidentHandle {
    /// Starts the actor; it ends when every handle is dropped.
    pub fn start(ctx: Arc<Context>) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let actor = IncidentActor { ctx: ctx.clone() };
        (Self { tx, ctx }, tokio::spawn(actor.run(rx)))
    }

    /// Queues a mention.
    pub async fn mention(&self, mention: Mention) {
        self.send(Msg::Mention(mention)).await;
    }

    /// Queues a slash command (after its ack).
    pub async fn command(&self, command: SlashCommand) {
        self.send(Msg::Command(command)).await;
    }

    async fn send(&self, msg: Msg) {
        if self.tx.send(msg).await.is_err() {
            tracing::error!("incident actor has stopped; message not handled");
        }
    }

    /// The ack payload for a slash command, when it can be answered at once
    /// (no IO): `/incident` with no description gets its usage.
    pub fn quick_response(&self, command: &str, text: &str) -> Option<Value> {
        if command != COMMAND || !text.trim().is_empty() {
            return None;
        }
        match self.ctx.ephemeral("usage", &json!({ "command": COMMAND })) {
            Ok(payload) => Some(payload),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the usage message");
                None
            }
        }
    }
}

struct IncidentActor {
    ctx: Arc<Context>,
}

impl IncidentActor {
    async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Mention(m) => self.on_mention(m).await,
                Msg::Command(c) => self.on_command(c).await,
            }
        }
    }

    async fn on_mention(&self, m: Mention) {
        let words = strip_mention(&m.text, self.ctx.bot.user_id.as_str());
        let verb = words.split_whitespace().next().unwrap_or("").to_lowercase();
        if verb == "list" {
            // Listing arrives with the incident workflow; say so plainly.
            let text = "Listing incidents is not available in this version of Janus yet.";
            let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]);
            if let Err(e) = self
                .ctx
                .slack
                .post_message(&m.channel, text, &blocks, m.thread_ts.as_ref())
                .await
            {
                tracing::warn!(channel = %m.channel, error = %e, "cannot answer list");
            }
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
        // Declaring arrives with the incident workflow; say so plainly
        // rather than leave the person waiting.
        tracing::warn!(user = %c.user, "declare requested but not available in this build");
        let payload = json!({
            "response_type": "ephemeral",
            "text": "Declaring incidents is not available in this version of Janus yet; nothing was created.",
        });
        self.respond(&c, &payload).await;
    }

    async fn respond(&self, c: &SlashCommand, payload: &Value) {
        if let Err(e) = self.ctx.slack.respond(&c.response_url, payload).await {
            tracing::warn!(user = %c.user, error = %e, "cannot answer the slash command");
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
