//! Persistence, as one trait per concept the rest of Janus needs:
//! [`Schema`], [`Deliveries`], [`Leases`], [`Declarations`], [`Incidents`],
//! [`Publications`], [`ReactTriggers`], [`StatuspageLinks`], [`Updates`], [`TimelineMarks`],
//! [`History`] and [`Reminders`]. A part of
//! Janus takes the ones it uses; [`Store`] is all of them, what [`open`]
//! returns.
//!
//! Both backends share one implementation of those traits (`sql/`): the
//! control flow and the mapping from rows to these types exist once, and
//! only the SQL text differs where the dialects do. SQLite (`sqlite.rs`) is
//! the default: one file, one process, nothing to run beside Janus. Postgres
//! (`postgres.rs`) is for several replicas, which share their idempotency and
//! leases through it.

mod postgres;
mod sql;
mod sqlite;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::declaration::{DeclarationStep, DeclarationSteps};
pub use crate::domain::ids::IncidentId;
use crate::domain::ids::{ChannelId, MessageTs, UserId};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// The migrations of `migrator` whose versions are not in `applied`, as
/// `version description`: both backends answer `pending_migrations` so.
fn not_applied(migrator: &sqlx::migrate::Migrator, applied: &[i64]) -> Vec<String> {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect()
}

/// The file a SQLite configuration names (absolute), or `None` for Postgres:
/// `janus doctor` looks before it opens, so it never creates one.
pub fn sqlite_file(config: &crate::config::DatabaseConfig) -> Option<std::path::PathBuf> {
    use secrecy::ExposeSecret;
    let url = config.url.expose_secret().trim();
    if !url
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("sqlite:"))
    {
        return None;
    }
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url).ok()?;
    let given = options.get_filename().to_path_buf();
    Some(std::path::absolute(&given).unwrap_or(given))
}

/// Opens the configured database: the one place that picks a backend (by
/// the URL's scheme), so `run`, `migrate` and `doctor` agree. Does not
/// migrate.
pub async fn open(
    config: &crate::config::DatabaseConfig,
    max_connections: u32,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    use secrecy::ExposeSecret;
    let url = config.url.expose_secret().trim();
    // Only the scheme is ever shown: the rest may hold a password.
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("postgres" | "postgresql") => Ok(std::sync::Arc::new(
            PgStore::connect_with(config, max_connections).await?,
        )),
        Some("sqlite") => Ok(std::sync::Arc::new(
            SqliteStore::open(url, max_connections).await?,
        )),
        _ => Err(StoreError::InvalidUrl(
            "expected a postgres:// or sqlite: URL".to_owned(),
        )),
    }
}

/// [`open`] to read only, beside a running Janus: a SQLite file is opened
/// without its one-process lock (and must exist); Postgres as [`open`] does.
pub async fn open_read_only(
    config: &crate::config::DatabaseConfig,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    use secrecy::ExposeSecret;
    let url = config.url.expose_secret().trim();
    if url.to_ascii_lowercase().starts_with("sqlite:") {
        return Ok(std::sync::Arc::new(SqliteStore::open_read_only(url).await?));
    }
    open(config, 1).await
}

/// What a declaration starts with, before any Slack call.
#[derive(Debug, Clone)]
pub struct NewIncident {
    /// As plain text (Slack's entities decoded).
    pub description: String,
    /// A status key of the catalog.
    pub status: String,
    /// A severity key of the catalog.
    pub severity: String,
    pub created_by: UserId,
    /// Where `/incident` was typed.
    pub declared_in: Option<ChannelId>,
    /// What finishing the declaration needs after a crash (reply, slug…).
    pub declaration: serde_json::Value,
    /// A private channel, a digest entry without the description, listed
    /// only to its members.
    pub private: bool,
    /// At most this many declarations by `created_by` in
    /// [`DECLARATION_WINDOW`] (this one included); `None`: no limit.
    pub per_user_limit: Option<u32>,
}

/// The window `incident.max_declarations_per_user` counts in.
pub const DECLARATION_WINDOW: Duration = Duration::from_secs(600);

/// What recording a declaration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded as this incident.
    Incident(IncidentId),
    /// Nothing recorded: the declarer reached their limit
    /// ([`NewIncident::per_user_limit`]).
    OverLimit,
}

impl Recorded {
    /// The incident, when one was recorded.
    pub fn incident(self) -> Option<IncidentId> {
        match self {
            Recorded::Incident(id) => Some(id),
            Recorded::OverLimit => None,
        }
    }
}

/// An incident as stored: everything needed to render any of its messages.
#[derive(Debug, Clone)]
pub struct Incident {
    pub id: IncidentId,
    /// The incident channel, once created.
    pub channel_id: Option<ChannelId>,
    /// The channel's name, once created.
    pub channel_name: Option<String>,
    /// As plain text: escape before rendering.
    pub description: String,
    /// A status key of the catalog.
    pub status: String,
    /// A severity key of the catalog.
    pub severity: String,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    /// The last change Slack's messages show.
    pub updated_at: DateTime<Utc>,
    /// Counts the changes Slack's messages show: what the publisher compares
    /// (two changes in one clock tick are still two versions).
    pub version: i64,
    /// Set while resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The pinned control message.
    pub control_ts: Option<MessageTs>,
    /// The message in the digest channel.
    pub digest_ts: Option<MessageTs>,
    /// Role key → holder, for roles that have one, in the order assigned.
    pub roles: Vec<(String, UserId)>,
    /// The channel name asked for, recorded before asking.
    pub intended_name: Option<String>,
    pub steps: DeclarationSteps,
    /// What finishing the declaration needs (see [`NewIncident`]).
    pub declaration: Option<serde_json::Value>,
    /// Set once the declaration finished.
    pub completed: bool,
    /// A private incident (see [`NewIncident::private`]).
    pub private: bool,
    /// When its channel was archived (`incident.archive_after`).
    pub archived_at: Option<DateTime<Utc>>,
}

impl Incident {
    /// Whether the declaration step `step` is done.
    pub fn done(&self, step: DeclarationStep) -> bool {
        self.steps.contains(step)
    }

    /// The holder of `role`, if any.
    pub fn holder(&self, role: &str) -> Option<&UserId> {
        self.roles.iter().find(|(k, _)| k == role).map(|(_, u)| u)
    }
}

/// The Statuspage side of an incident.
#[derive(Debug, Clone, Default)]
pub struct StatuspageLink {
    /// The prompt / management message in the incident channel.
    pub message_ts: Option<MessageTs>,
    /// The Statuspage incident, once created.
    pub statuspage_id: Option<String>,
    /// Its status as last set (`investigating`…`resolved`).
    pub status: Option<String>,
    /// Components the Statuspage incident marked (restored on resolve).
    pub touched_components: Vec<String>,
    /// A create asked for and not yet recorded as done: its POST may have
    /// worked, so the next attempt looks for it by this key first.
    pub pending_create: Option<PendingCreate>,
    /// The incident's status the Statuspage incident was last brought in
    /// line with (followed, or a person's create or update): a different
    /// status now is a move not yet followed.
    pub followed_status: Option<String>,
    /// Whether the people who published chose to notify subscribers; a
    /// followed move does as they did.
    pub notify: bool,
}

/// The intent to create a Statuspage incident, stored before the POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCreate {
    /// Sent in the POST's `metadata`; finds the incident again.
    pub key: String,
    /// Who asked for it first.
    pub requested_by: Option<UserId>,
}

/// One Statuspage action, for the incident's history (kind `statuspage`).
#[derive(Debug, Clone)]
pub struct StatuspageAction<'a> {
    /// Who did it.
    pub actor: &'a UserId,
    /// `created`, `adopted` (found after a lost answer), `updated` or `resolved`.
    pub action: &'a str,
    /// The message published to customers.
    pub body: &'a str,
    /// Whether subscribers were notified (kept for followed moves); `None`
    /// keeps what was chosen before.
    pub notify: Option<bool>,
}

/// A move Janus made on Statuspage following the incident's status, for
/// the record (history actor `janus`).
#[derive(Debug, Clone)]
pub struct FollowedMove<'a> {
    /// The Statuspage status it now shows.
    pub status: &'a str,
    /// `updated`, `resolved` or `reopened`.
    pub action: &'a str,
    /// What customers were told.
    pub body: &'a str,
}

/// What a claim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The role was free and is now the claimer's (its history entry).
    Claimed(EventId),
    /// The claimer already held it: nothing changed.
    AlreadyYours,
    /// Someone else holds it: nothing changed.
    HeldBy(UserId),
}

/// A change of one field, as it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
    /// Its entry in the incident's history, to be announced in Slack.
    pub event: EventId,
}

/// An entry of an incident's history (`incident_events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId(pub i64);

/// A change the incident channel has not been told about yet: stored with
/// the change itself, in its transaction, and marked once announced, so a
/// crash in between is announced after the restart instead of lost.
#[derive(Debug, Clone)]
pub struct Unannounced {
    pub id: EventId,
    pub incident: IncidentId,
    /// Who made the change: a Slack user id, or `janus`.
    pub actor: String,
    /// `status`, `severity`, `role` or `update`.
    pub kind: String,
    /// What changed (`from`/`to`, `role`/`holder`/`previous`, or an
    /// update's `text` and `status`).
    pub detail: serde_json::Value,
}

/// What an assignment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// Who held the role before; the new holder itself means nothing changed.
    pub previous: Option<UserId>,
    /// The history entry, when something changed.
    pub event: Option<EventId>,
}

/// The history kinds whose changes get a line in the incident channel.
pub const ANNOUNCED_KINDS: [&str; 4] = ["status", "severity", "role", UPDATE_KIND];

/// The history kind of a stakeholder update (Post update). Reminders read
/// "the last update" as the newest entry of this kind: keep the name.
pub const UPDATE_KIND: &str = "update";

/// A stakeholder update to record: its text and, optionally, the status
/// it moves the incident to.
#[derive(Debug, Clone)]
pub struct NewUpdate<'a> {
    pub actor: &'a UserId,
    /// Plain text, as typed (escaped when shown).
    pub text: &'a str,
    /// A status key of the catalog, and whether it is the resolved one.
    pub status: Option<(&'a str, bool)>,
    /// The submission's dedupe key, recorded in the same transaction.
    pub delivery: &'a str,
}

/// What recording an update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedUpdate {
    /// The update's history entry (kind [`UPDATE_KIND`]), to be announced.
    pub event: EventId,
    /// The status change it made, when it asked for a status the incident
    /// did not have (a history entry of its own, announced as the select's).
    pub status: Option<Change<String>>,
}

/// An incident's newest update, as the digest shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestUpdate {
    pub actor: UserId,
    /// Plain text (escape before rendering).
    pub text: String,
    /// The status it set, if it set one.
    pub status: Option<String>,
    pub at: DateTime<Utc>,
}

/// The right to do something no other process (replica) may do at the same
/// time: lead recovery, or finish one declaration. Held until dropped, or
/// until the process dies (the database then frees it for another replica).
pub struct Lease(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Lease {
    /// Wraps whatever keeps the backend's lease alive.
    fn new(inner: impl Send + Sync + 'static) -> Self {
        Self(Box::new(inner))
    }
}

/// Which of an incident's messages a ts belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnedMessage {
    /// The pinned control message in the incident channel.
    Control,
    /// The message in the digest channel.
    Digest,
}

/// A store failure. A Postgres connection string is never part of the
/// message beyond host, port and database name; a SQLite path (which holds
/// no secret) is shown whole, since it is what the operator must fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused us.
    #[error("cannot connect to the database at {target}: {source}")]
    Connect {
        /// `host:port/database`, without credentials.
        target: String,
        /// What the driver said: start-up tells an unreachable server (wait
        /// for it) from refused credentials (fail at once) by it.
        source: sqlx::Error,
    },
    /// The SQLite database file cannot be opened or created.
    #[error("cannot open the SQLite database {path}: {reason}")]
    Sqlite {
        /// The file, absolute.
        path: String,
        reason: String,
    },
    /// Another process already uses the SQLite database file.
    #[error(
        "the SQLite database {path} is in use by another Janus process; SQLite serves one \
         process, so stop the other one, or use Postgres (DATABASE_URL=postgres://…) to run \
         several replicas"
    )]
    InUse {
        /// The file, absolute.
        path: String,
    },
    /// The connection string does not parse.
    #[error("the database URL is not valid: {0}")]
    InvalidUrl(String),
    #[error("database migration failed: {}{source}", file.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Migrate {
        /// The SQLite file; `None` for Postgres.
        file: Option<String>,
        /// What failed: the connection (worth waiting for) or a migration's
        /// SQL (not).
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// The delivery that asked for this change was already applied (a
    /// redelivery, on any socket or replica): nothing was done.
    #[error("delivery {0} was already applied")]
    Redelivered(String),
}

impl StoreError {
    /// Whether this is a redelivery of something already applied: not a
    /// failure, and never worth retrying.
    pub fn is_redelivery(&self) -> bool {
        matches!(self, Self::Redelivered(_))
    }
}

/// The database itself: its schema, and whether it answers.
#[async_trait::async_trait]
pub trait Schema: Send + Sync {
    /// Applies pending migrations (safe to run from several replicas at once).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Migrations this binary carries that the database has not applied
    /// (`janus doctor`), as `version description`.
    async fn pending_migrations(&self) -> Result<Vec<String>, StoreError>;

    /// Round-trips a trivial query; returns how long it took.
    async fn ping(&self) -> Result<Duration, StoreError>;
}

/// Which deliveries of Slack's were handled, so a redelivery (another
/// socket, another replica, a retry) is not handled twice.
#[async_trait::async_trait]
pub trait Deliveries: Send + Sync {
    /// Records that the delivery `key` is being handled. `true` the first
    /// time the key is seen, `false` for every redelivery afterwards. A
    /// change to an incident records its delivery in its own transaction
    /// instead (see [`Incidents::set_status`]).
    async fn first_delivery(&self, key: &str) -> Result<bool, StoreError>;

    /// Forgets deliveries recorded more than `older_than` ago, the oldest
    /// first, at most `limit` of them in one short statement (so pruning a
    /// large backlog never holds a long transaction); returns how many went.
    /// Slack redelivers within minutes: a key a day old guards nothing.
    async fn prune_deliveries(&self, older_than: Duration, limit: u32) -> Result<u64, StoreError>;
}

/// What one process does while no other may.
#[async_trait::async_trait]
pub trait Leases: Send + Sync {
    /// Tries to become the replica that runs recovery; the lease lasts as
    /// long as this process (its connection) does, so when the leader dies
    /// another replica takes over.
    async fn try_become_leader(&self) -> Result<Option<Lease>, StoreError>;

    /// Takes the lease on finishing an incident's declaration, if free: one
    /// process finishes a declaration, never two.
    async fn try_lease_declaration(&self, id: IncidentId) -> Result<Option<Lease>, StoreError>;
}

/// The declaration saga: every step's result recorded before the next, so a
/// crash leaves a declaration that the next start finishes.
#[async_trait::async_trait]
pub trait Declarations: Send + Sync {
    /// Stores a new incident (no channel yet) and logs `declared`.
    async fn create_incident(&self, new: &NewIncident) -> Result<Recorded, StoreError>;

    /// Forgets a declaration that never got a channel (and its history).
    async fn discard_incident(&self, id: IncidentId) -> Result<(), StoreError>;

    /// Records the channel name about to be asked of Slack.
    async fn set_intended_name(&self, id: IncidentId, name: &str) -> Result<(), StoreError>;

    /// Records the channel Slack created for the incident.
    async fn set_channel(
        &self,
        id: IncidentId,
        channel: &ChannelId,
        name: &str,
    ) -> Result<(), StoreError>;

    /// Records the ts of one of the incident's messages.
    async fn set_message_ts(
        &self,
        id: IncidentId,
        which: OwnedMessage,
        ts: &MessageTs,
    ) -> Result<(), StoreError>;

    /// Records `new` as the control message in place of `old` (deleted by
    /// someone, posted again): `false` when the stored one is no longer
    /// `old`, because another replica replaced it first.
    async fn replace_control_ts(
        &self,
        id: IncidentId,
        old: &MessageTs,
        new: &MessageTs,
    ) -> Result<bool, StoreError>;

    /// Records that a declaration step is done.
    async fn mark_step(&self, id: IncidentId, step: DeclarationStep) -> Result<(), StoreError>;

    /// Records that the declaration finished: `true` once it is. Refused
    /// (`false`, nothing changed) while the incident has no channel
    /// recorded, so a declaration never ends without one: it stays open for
    /// recovery instead.
    async fn complete_declaration(&self, id: IncidentId) -> Result<bool, StoreError>;

    /// Declarations that never finished (a crash), oldest first.
    async fn incomplete_declarations(&self) -> Result<Vec<IncidentId>, StoreError>;
}

/// Incidents as people see and change them.
#[async_trait::async_trait]
pub trait Incidents: Send + Sync {
    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError>;

    /// The incident whose channel is `channel`.
    async fn incident_by_channel(
        &self,
        channel: &ChannelId,
    ) -> Result<Option<Incident>, StoreError>;

    /// Open (unresolved) incidents with a channel, newest first, at most
    /// `limit`; and how many are open in all (a `limit` of 0 gives the count
    /// alone).
    async fn open_incidents(&self, limit: u32) -> Result<(Vec<Incident>, u64), StoreError>;

    /// Sets the status (and `resolved_at`: set when `resolved`, cleared
    /// otherwise) and logs it. `None` when it already had that status.
    /// `delivery` (the click's dedupe key) is recorded in the same
    /// transaction: a second delivery gets [`StoreError::Redelivered`].
    async fn set_status(
        &self,
        id: IncidentId,
        status: &str,
        resolved: bool,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Option<Change<String>>, StoreError>;

    /// Sets the severity and logs it. `None` when unchanged. `delivery` as
    /// for [`Incidents::set_status`].
    async fn set_severity(
        &self,
        id: IncidentId,
        severity: &str,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Option<Change<String>>, StoreError>;

    /// Gives a free role to `user`. Atomic: of two simultaneous claims
    /// (even from two replicas), exactly one wins. `delivery` as for
    /// [`Incidents::set_status`].
    async fn claim_role(
        &self,
        id: IncidentId,
        role: &str,
        user: &UserId,
        delivery: &str,
    ) -> Result<ClaimOutcome, StoreError>;

    /// Gives a role to `user`, replacing any holder, and says whom it
    /// replaced: `previous == Some(user)` means nothing changed (and
    /// nothing was logged). `delivery` as for [`Incidents::set_status`].
    async fn assign_role(
        &self,
        id: IncidentId,
        role: &str,
        user: &UserId,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Assigned, StoreError>;

    /// Leaves a role without a holder and says who held it: `previous ==
    /// None` means it was free already (nothing changed, nothing logged).
    /// `delivery` as for [`Incidents::set_status`].
    async fn release_role(
        &self,
        id: IncidentId,
        role: &str,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Assigned, StoreError>;
}

/// What Slack has been shown of each incident, so that a change a crash (or
/// a failed Slack call) kept from Slack is shown after all.
#[async_trait::async_trait]
pub trait Publications: Send + Sync {
    /// Records that the control and digest messages show `version` (the
    /// value read when rendering). Never goes back.
    async fn mark_published(&self, id: IncidentId, version: i64) -> Result<(), StoreError>;

    /// Incidents changed at least `settled` ago that Slack does not show yet
    /// (a crash between the change and the update).
    async fn unpublished_changes(&self, settled: Duration) -> Result<Vec<IncidentId>, StoreError>;

    /// Changes whose channel line was not posted yet, changed at least
    /// `settled` ago (younger ones may still be on their way), oldest first.
    async fn unannounced(&self, settled: Duration) -> Result<Vec<Unannounced>, StoreError>;

    /// Records that the change's line (and DM) went out.
    async fn mark_announced(&self, event: EventId) -> Result<(), StoreError>;
}

/// React-to-create: which message created which incident.
#[async_trait::async_trait]
pub trait ReactTriggers: Send + Sync {
    /// Claims `message` as the trigger of an incident. `true` for the first
    /// claim; every later reaction, person or redelivery gets `false`.
    async fn claim_react_trigger(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
        user: &UserId,
    ) -> Result<bool, StoreError>;

    /// Links a claimed message to the incident it created.
    async fn link_react_trigger(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
        id: IncidentId,
    ) -> Result<(), StoreError>;

    /// Releases a claim whose declaration failed, so a later reaction can
    /// try again.
    async fn release_react_trigger(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
    ) -> Result<(), StoreError>;
}

/// The Statuspage incident each incident drives.
#[async_trait::async_trait]
pub trait StatuspageLinks: Send + Sync {
    /// The Statuspage side of an incident, if any.
    async fn statuspage_link(&self, id: IncidentId) -> Result<Option<StatuspageLink>, StoreError>;

    /// Records the prompt / management message's ts.
    async fn set_statuspage_message(
        &self,
        id: IncidentId,
        ts: &MessageTs,
    ) -> Result<(), StoreError>;

    /// Stores the intent to create a Statuspage incident, before the POST.
    /// An intent already stored is kept (a retry reuses its key): returns
    /// the one in force.
    async fn intend_statuspage_create(
        &self,
        id: IncidentId,
        key: &str,
        by: &UserId,
    ) -> Result<PendingCreate, StoreError>;

    /// Records the Statuspage incident, its status, and the components it
    /// touched (added to those already recorded), clears the intent, and
    /// logs `action` in the incident's history, all in one transaction.
    async fn set_statuspage_incident(
        &self,
        id: IncidentId,
        statuspage_id: &str,
        status: &str,
        touched: &[String],
        action: &StatuspageAction<'_>,
    ) -> Result<(), StoreError>;

    /// Records that the Statuspage incident now reflects the incident's
    /// status `followed`. With `moved`, Janus changed it: its new status,
    /// and the move in the incident's history (actor `janus`, kind
    /// `statuspage`), in one transaction. Without, Janus left it as it was
    /// (nothing to change, or it gave up and said so).
    async fn set_statuspage_followed(
        &self,
        id: IncidentId,
        followed: &str,
        moved: Option<&FollowedMove<'_>>,
    ) -> Result<(), StoreError>;

    /// Incidents with a Statuspage incident whose status moved since it was
    /// last followed, and last changed at least `settled` ago (younger ones
    /// may still be being followed): what a crash left unfollowed.
    async fn unfollowed_statuspage(&self, settled: Duration)
    -> Result<Vec<IncidentId>, StoreError>;
}

/// A message marked for an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The message, in the incident's channel; also when it was written.
    pub ts: MessageTs,
    /// Who wrote it, when a person did.
    pub author: Option<UserId>,
    /// Its text, plain (escape when shown).
    pub text: String,
    pub permalink: Option<String>,
    /// Who marked it first.
    pub marked_by: UserId,
}

/// Messages marked for an incident's timeline (the timeline emoji).
#[async_trait::async_trait]
pub trait TimelineMarks: Send + Sync {
    /// Adds `mark` to the incident's timeline; `false` when the message was
    /// marked already (it stays as first marked).
    async fn add_mark(&self, id: IncidentId, mark: &Mark) -> Result<bool, StoreError>;

    /// Takes the message `ts` off the timeline; `false` when it was not on it.
    async fn remove_mark(&self, id: IncidentId, ts: &MessageTs) -> Result<bool, StoreError>;

    /// The incident's marked messages, oldest message first.
    async fn marks(&self, id: IncidentId) -> Result<Vec<Mark>, StoreError>;

    /// The newest message of the incident's channel looked at for marks
    /// made while Janus was away.
    async fn timeline_seen(&self, id: IncidentId) -> Result<Option<MessageTs>, StoreError>;

    /// Records `ts` as looked at (kept if an even newer one is recorded).
    async fn set_timeline_seen(&self, id: IncidentId, ts: &MessageTs) -> Result<(), StoreError>;
}

/// One entry of an incident's history (`incident_events`): every change,
/// with who made it and when — the timeline the postmortem is drafted from.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub id: EventId,
    /// A Slack user id, or `janus`.
    pub actor: String,
    /// `declared`, `status`, `severity`, `role`, `statuspage`, `update`…
    pub kind: String,
    /// What changed (see each kind's writer).
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Reading an incident back whole, for its postmortem draft.
#[async_trait::async_trait]
pub trait History: Send + Sync {
    /// The incident `key` names: its channel's name (`inc-…`, with or
    /// without `#`), its channel id, or Janus's number for it.
    async fn find_incident(&self, key: &str) -> Result<Option<Incident>, StoreError>;

    /// Every entry of the incident's history, oldest first.
    async fn history(&self, id: IncidentId) -> Result<Vec<HistoryEntry>, StoreError>;

    /// The incidents declared in the last `within`, oldest first (for
    /// `janus export --summary`).
    async fn declared_within(&self, within: Duration) -> Result<Vec<Incident>, StoreError>;
}

/// Stakeholder updates (Post update): stored on the incident's history.
#[async_trait::async_trait]
pub trait Updates: Send + Sync {
    /// Records an update, unannounced, and the status it asks for (as
    /// [`Incidents::set_status`] does: the same change and history entry),
    /// with its delivery, all in one transaction: a second delivery gets
    /// [`StoreError::Redelivered`] and records nothing.
    async fn record_update(
        &self,
        id: IncidentId,
        update: &NewUpdate<'_>,
    ) -> Result<PostedUpdate, StoreError>;

    /// The incident's newest update, if it has one.
    async fn latest_update(&self, id: IncidentId) -> Result<Option<LatestUpdate>, StoreError>;
}

/// Which reminder: an overdue update, or a missing commander.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReminderKind {
    /// No update for the severity's `reminders.update_every`.
    Update,
    /// Nobody holds the commander role `reminders.unclaimed_commander_after`
    /// after the declaration (once per incident).
    Commander,
    /// The channel is archived in an hour (`incident.archive_after`).
    ArchiveNotice,
    /// The channel is archived now.
    Archive,
}

impl ReminderKind {
    /// As stored in `reminders.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::Update => "update",
            ReminderKind::Commander => "commander",
            ReminderKind::ArchiveNotice => "archive_notice",
            ReminderKind::Archive => "archive",
        }
    }
}

/// An open incident as the reminders see it: when its current quiet period
/// began, read from what is stored (never from a replica's memory), so
/// every replica and every restart computes the same due times.
#[derive(Debug, Clone)]
pub struct QuietIncident {
    pub id: IncidentId,
    /// A severity key: its `reminders.update_every` applies.
    pub severity: String,
    /// When the declaration finished (the channel and control message exist).
    pub completed_at: DateTime<Utc>,
    /// The last update posted (`incident_events` of kind `update`).
    pub last_update: Option<DateTime<Utc>>,
    /// The last time it was reopened (a status change away from resolved).
    pub last_reopened: Option<DateTime<Utc>>,
    /// The last update reminder claimed.
    pub last_reminder: Option<DateTime<Utc>>,
    /// Whether the commander check was made (posted or not): it is made once.
    pub commander_checked: bool,
}

impl QuietIncident {
    /// When the current quiet period began: the latest of the declaration's
    /// completion, the last update, the last reopening and the last reminder.
    pub fn quiet_since(&self) -> DateTime<Utc> {
        [self.last_update, self.last_reopened, self.last_reminder]
            .into_iter()
            .flatten()
            .fold(self.completed_at, DateTime::max)
    }
}

/// A reminder one replica takes before posting it.
#[derive(Debug, Clone)]
pub struct ReminderClaim {
    pub incident: IncidentId,
    pub kind: ReminderKind,
    /// The quiet period it is about (see [`QuietIncident::quiet_since`]):
    /// one claim per period.
    pub since: DateTime<Utc>,
    /// How late it is, by the database's clock: `due_at` is stored as the
    /// claim's time minus this.
    pub late: Duration,
    /// `false`: settled without a message (the commander was there after all).
    pub posted: bool,
}

/// Reminders: when they are due (from what is stored) and which were taken.
#[async_trait::async_trait]
pub trait Reminders: Send + Sync {
    /// The database's clock, and the open incidents whose declaration
    /// finished, with what their reminders are planned from.
    /// `resolved_status` is the catalog's resolved key (a status change from
    /// it is a reopening).
    async fn quiet_incidents(
        &self,
        resolved_status: &str,
    ) -> Result<(DateTime<Utc>, Vec<QuietIncident>), StoreError>;

    /// Takes a reminder before posting it: `true` for the first taker of
    /// its period, `false` for every other replica or retry.
    async fn claim_reminder(&self, claim: &ReminderClaim) -> Result<bool, StoreError>;

    /// Gives a claim back when its post did not reach Slack, so the next
    /// round tries again.
    async fn release_reminder(&self, claim: &ReminderClaim) -> Result<(), StoreError>;

    /// The resolved incidents whose channels are not archived yet, with
    /// when they were resolved (`incident.archive_after` counts from it).
    async fn resolved_unarchived(&self) -> Result<Vec<(IncidentId, DateTime<Utc>)>, StoreError>;

    /// Records that the incident's channel is archived; the digest shows it.
    async fn set_archived(&self, id: IncidentId) -> Result<(), StoreError>;
}

/// Everything Janus keeps: what [`open`] returns, and what start-up hands
/// out to the parts that each take the traits they use.
pub trait Store:
    Schema
    + Deliveries
    + Leases
    + Declarations
    + Incidents
    + Publications
    + ReactTriggers
    + StatuspageLinks
    + TimelineMarks
    + History
    + Updates
    + Reminders
    + 'static
{
}

impl<T> Store for T where
    T: Schema
        + Deliveries
        + Leases
        + Declarations
        + Incidents
        + Publications
        + ReactTriggers
        + StatuspageLinks
        + TimelineMarks
        + History
        + Updates
        + Reminders
        + 'static
{
}
