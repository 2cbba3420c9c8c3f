//! Sample data for every built-in template.
//!
//! Each sample is the template's data contract: it lists every field the
//! caller must supply (strict mode makes a missing one an error), with
//! realistic values. `Renderer::load` renders every template with its sample
//! and validates the output, so an override that uses a field we do not
//! provide is caught at start-up, not when the first incident is declared.
//!
//! Text fields hold `mrkdwn` that has already gone through
//! `crate::domain::text::SlackText`; samples include hostile user text where
//! a template shows user text, so the check exercises escaping too.

use serde_json::{Value, json};

use crate::domain::text::SlackText;

/// The sample data for the template `name`, or `None` if it has none.
pub fn sample(name: &str) -> Option<Value> {
    let data = match name {
        "help" => json!({
            "command": "/incident",
            "bot_user_id": "U0JANUS",
            "unknown": SlackText::from_user("<!channel> \"deploy\""),
        }),
        "usage" => json!({
            "command": "/incident",
        }),
        _ => return None,
    };
    Some(data)
}
