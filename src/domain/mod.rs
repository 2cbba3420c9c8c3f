//! Domain types: Slack ids and text. No IO, no tokio, no sqlx.

pub mod ids;
pub mod text;
