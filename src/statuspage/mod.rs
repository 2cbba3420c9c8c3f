//! Statuspage's Manage API (v1), as Janus uses it: list the page's
//! components, create an incident, post updates, resolve it, and find it
//! again after a crash.
//!
//! - `types.rs`: statuses, components, incidents — wire spellings and labels;
//! - `client.rs`: [`StatuspageClient`], the only place that holds the key;
//! - `limiter.rs`: one request per second per key, as Statuspage demands;
//! - `error.rs`: [`StatuspageError`] and the sentence each one shows a user;
//! - `follow.rs`: [`FollowPolicy`], which Statuspage status each Janus status
//!   means when the Statuspage incident follows the incident.
//!
//! What must stay true:
//! - the key travels only in `Authorization: OAuth <key>`, only to the
//!   configured base URL (redirects are not followed), and appears in no
//!   URL, log line, error or `Debug` output;
//! - a create is never replayed after its outcome became unknown (timeout,
//!   5xx): the incident may exist, and a replay would make two. The caller
//!   finds it with [`StatuspageClient::find_by_janus_id`] instead;
//! - resolving returns to `operational` only the components the incident
//!   touched.
//!
//! Statuspage facts this follows are in `shared/design/STATUSPAGE.md`.

mod client;
mod error;
mod follow;
mod limiter;
mod types;

pub use client::{ClientOptions, DEFAULT_COMPONENTS_TTL, DEFAULT_TIMEOUT, StatuspageClient};
pub use error::StatuspageError;
pub use follow::{
    DEFAULT_FOLLOW_MESSAGES, FollowError, FollowMessage, FollowPolicy, MAX_FOLLOW_MESSAGE_CHARS,
};
pub use types::{
    Component, ComponentId, ComponentStatus, Impact, Incident, IncidentId, IncidentStatus,
    IncidentUpdate, NewIncident,
};
