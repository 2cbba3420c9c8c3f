//! Domain types: Slack ids, text, incidents (channel names, statuses,
//! severities, roles), the events people cause in Slack and the Block Kit
//! ids Janus's templates and handlers share. No IO, no tokio, no sqlx.

pub mod block_ids;
pub mod command;
pub mod declaration;
pub mod event;
pub mod ids;
pub mod incident;
pub mod quote;
pub mod text;
