//! Actors: the parts of Janus that act. Each is a cheap handle plus a task
//! with a bounded inbox; all share one [`Context`] (Slack client, store,
//! templates, who the bot is).

pub mod incident;

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::render::{RenderError, Renderer};
use crate::slack::{BotIdentity, SlackApi};
use crate::store::Store;
use incident::IncidentHandle;

/// What every actor may use.
pub struct Context {
    /// The Web API.
    pub slack: SlackApi,
    /// The database.
    pub store: Arc<dyn Store>,
    /// The templates.
    pub renderer: Renderer,
    /// Who the bot is (from `auth.test`, once at start).
    pub bot: BotIdentity,
}

impl Context {
    /// Renders `template` as an ephemeral response payload: blocks plus a
    /// plain fallback text for notifications.
    pub fn ephemeral(&self, template: &str, data: &Value) -> Result<Value, RenderError> {
        let blocks = self.renderer.render(template, data)?;
        Ok(json!({
            "response_type": "ephemeral",
            "text": fallback_text(&blocks),
            "blocks": blocks,
        }))
    }
}

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
    /// Declaring, help, listing.
    pub incident: IncidentHandle,
}

impl Actors {
    /// Starts every actor.
    pub fn start(ctx: Context) -> (Self, Vec<JoinHandle<()>>) {
        let ctx = Arc::new(ctx);
        let (incident, task) = IncidentHandle::start(ctx);
        (Self { incident }, vec![task])
    }
}
