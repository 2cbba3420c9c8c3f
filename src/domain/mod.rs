//! Domain types: Slack ids, text, incidents (channel names, statuses,
//! severities, roles) and the events people cause in Slack. No IO, no
//! tokio, no sqlx.

pub mod event;
pub mod ids;
pub mod incident;
pub mod text;
