//! Domain types: Slack ids, text, and incidents (channel names, statuses, severities,
//! roles). No IO, no tokio, no sqlx.

pub mod ids;
pub mod incident;
pub mod text;
