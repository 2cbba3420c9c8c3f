//! Janus: an incident-management ChatOps bot for Slack, over Socket Mode.
//!
//! Where a Slack click goes, in order:
//!
//! - [`socket`] keeps N websockets open to Slack, on a thread of its own,
//!   reads each frame's envelope (its payload left as text) and **acks it
//!   at once** (with a response payload when one can be computed cheaply),
//!   then hands the envelope to the bus. It only knows the wire protocol.
//! - [`bus`] holds what was acked within one memory budget, parses the
//!   payload once, types it into an event (plain data from
//!   `domain::event`, so the actors never import the bus), records its
//!   dedupe key in the store (at most one effect per delivery, across
//!   restarts and replicas) and handles it: in the lane of its incident's channel, which runs the
//!   actors' work itself so one incident's changes stay in order, or in a
//!   task of its own for what concerns no incident yet (help, list,
//!   declarations), so nothing waits for another incident.
//! - [`actors`] act, each a cheap handle whose calls run in the caller's
//!   task — incident (declare, status, severity, list), role, publisher
//!   (the only writer of control and digest messages, one task per
//!   incident), react_trigger, snapshot, statuspage and reminders (whose
//!   rounds run beside the bus on every replica: an overdue update, a
//!   missing commander, claimed in the store before they are posted).
//! - They use [`store`] (a trait per concept — deliveries, leases,
//!   declarations, incidents… — implemented once for SQLite, one process,
//!   and Postgres, replicas),
//!   [`slack`] (the Web API), [`providers`] (third-party status pages,
//!   read-only), [`statuspage`] (Statuspage's Manage API) and [`render`]
//!   (Handlebars → Block Kit JSON, validated),
//!   which rest on [`domain`] (ids, names, catalogs and text types, the
//!   typed events, the Block Kit ids templates and handlers share, and the
//!   declaration steps; no IO).
//!
//! Dependencies point one way: socket → bus → actors → (store, slack,
//! render) → domain. The envelope types are the bus's (its input), which
//! the socket builds and hands on.
//!
//! [`egress`] is the one outbound-connection policy (proxy, `NO_PROXY`, extra CA) every
//! client follows.
//! [`config`] loads settings (defaults → TOML → env), [`app`] wires it all
//! (`App::build` checks everything that can fail, `App::run` serves until
//! its shutdown token is cancelled) and is what both `main` and the
//! integration tests start; `recovery` finishes what a crash left, at start
//! and on the elected leader while running. [`doctor`] checks a deployment
//! live (`janus doctor`) without starting it; [`export`] drafts an
//! incident's postmortem from the database alone (`janus export`).
//! [`metrics`] counts what the socket layer and the Slack client see, and
//! [`health`] serves it (`/healthz`, `/metrics`) when `health.listen` is set.

pub mod actors;
pub mod app;
mod backoff;
pub mod bus;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod egress;
pub mod export;
pub mod health;
pub mod memory;
pub mod metrics;
pub mod providers;
mod recovery;
pub mod render;
pub mod slack;
pub mod socket;
pub mod statuspage;
pub mod store;
pub mod systemd;
pub mod telemetry;

/// Installs rustls' process-wide crypto provider. slack-morphism, the
/// websocket and sqlx all use rustls, and with more than one provider
/// compiled in, rustls refuses to pick one itself and the first TLS
/// connection panics. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
