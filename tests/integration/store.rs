//! The store's contract, written once against `Arc<dyn Store>` and run on
//! both backends: each test below is a module holding a `postgres` and a
//! `sqlite` test (`store::claim_role_gives_a_free_role::sqlite`), so a
//! difference between the backends shows up as one of a pair failing.

use std::sync::Arc;
use std::time::Duration;

use janus::config::DatabaseConfig;
use janus::domain::ids::{ChannelId, MessageTs, UserId};
use janus::store::{
    Assigned, Change, ClaimOutcome, FollowedMove, IncidentId, NewIncident, OwnedMessage,
    ReminderClaim, ReminderKind, StatuspageAction, Store, StoreError,
};
use secrecy::SecretString;
use tokio::task::JoinSet;

use crate::support::harness::TestDb;

/// A store and the database it opened (removed after it).
pub struct Db {
    store: Arc<dyn Store>,
    db: TestDb,
}

/// How many connections each test store gets; fewer than the concurrency
/// tests' tasks, so those also queue for connections.
const POOL: u32 = 8;

/// How long a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(10);

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("janus.db").display())
}

async fn open(url: String) -> Result<Arc<dyn Store>, StoreError> {
    let config = DatabaseConfig::from_url(SecretString::from(url), POOL);
    janus::store::open(&config, POOL).await
}

impl Db {
    /// A fresh, unmigrated store on `db`.
    async fn on(db: TestDb) -> Db {
        let store = open(db.url.clone()).await.expect("open the store");
        Db { store, db }
    }

    async fn migrated(self) -> Db {
        self.store.migrate().await.expect("migrate");
        self
    }

    async fn unmigrated(self) -> Db {
        self
    }

    /// Counts with plain SQL both backends speak, outside the store: for
    /// what the trait does not read back (the history).
    async fn count(&self, sql: &'static str) -> i64 {
        self.db.count(sql).await
    }
}

/// Each named `async fn(Db)` becomes a module with a test per backend; the
/// store is prepared by `$prepare` (`migrated` or `unmigrated`) first.
macro_rules! on_both_backends {
    ($prepare:ident: $($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let db = super::TestDb::postgres().await;
                super::$name(super::Db::on(db).await.$prepare().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = super::TestDb::sqlite();
                super::$name(super::Db::on(db).await.$prepare().await).await;
            }
        }
    )+};
}

on_both_backends!(unmigrated:
    migrating_twice_is_harmless,
    pending_migrations_are_all_before_and_none_after_migrating,
);

on_both_backends!(migrated:
    ping_answers,
    first_delivery_is_true_once_per_key,
    of_many_simultaneous_deliveries_of_one_key_exactly_one_is_first,
    delivery_keys_a_day_old_are_pruned_in_bounded_batches_and_younger_ones_kept,
    a_new_incident_reads_back_as_declared_and_logs_it,
    declaration_steps_are_recorded_once_and_completion_ends_the_declaration_with_its_channel,
    discarding_forgets_only_a_declaration_without_a_channel,
    a_channel_and_message_timestamps_are_found_again,
    open_incidents_are_unresolved_with_a_channel_newest_first_and_counted,
    a_status_change_reports_from_and_to_logs_it_and_sets_resolved_at,
    a_severity_change_reports_from_and_to_and_an_unchanged_one_nothing,
    simultaneous_changes_of_one_incident_each_see_the_one_before,
    claim_role_gives_a_free_role_once_and_names_the_holder_otherwise,
    of_many_simultaneous_claims_of_a_role_exactly_one_wins,
    assign_role_replaces_the_holder_and_returns_the_previous_one,
    a_react_trigger_is_claimed_once_linked_and_released,
    of_many_simultaneous_react_claims_exactly_one_wins,
    the_statuspage_link_keeps_the_message_and_the_union_of_touched_components,
    a_statuspage_create_intent_keeps_its_first_key_until_the_incident_is_recorded,
    a_status_change_is_listed_as_unfollowed_until_the_statuspage_incident_follows_it,
    unpublished_changes_are_completed_incidents_changed_after_their_last_publication,
    a_redelivered_change_is_refused_and_changes_nothing,
    changes_start_unannounced_and_are_listed_until_marked,
    a_declaration_lock_is_refused_while_held,
    one_leader_at_a_time,
    a_reminder_period_is_claimed_once_given_back_and_restarted_by_a_reminder_or_a_reopening,
);

// --- helpers -------------------------------------------------------------------------------

fn user(n: u32) -> UserId {
    UserId::parse(&format!("U{n:04}")).unwrap()
}

fn channel(n: u32) -> ChannelId {
    ChannelId::parse(&format!("C{n:04}")).unwrap()
}

fn ts(n: u32) -> MessageTs {
    MessageTs::parse(&format!("1700000000.{n:06}")).unwrap()
}

fn new_incident(description: &str) -> NewIncident {
    NewIncident {
        description: description.to_owned(),
        status: "investigating".to_owned(),
        severity: "sev4".to_owned(),
        created_by: user(1),
        declared_in: Some(channel(1)),
        declaration: serde_json::json!({ "reply": "https://hooks.example/1", "slug": "www-down" }),
        private: false,
        per_user_limit: None,
    }
}

/// An incident whose declaration finished, in channel `C1nnn`.
async fn declared(store: &dyn Store, n: u32) -> IncidentId {
    let id = store
        .create_incident(&new_incident(&format!("incident {n}")))
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    store
        .set_channel(id, &channel(1000 + n), &format!("inc-{n}"))
        .await
        .unwrap();
    assert!(store.complete_declaration(id).await.unwrap());
    id
}

/// Lets the clock move on, so that the next timestamp a store writes is
/// later than the last one: what these tests compare (`updated_at`, the
/// order of changes) is time, not a sequence.
async fn a_moment_passes() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

/// Waits until `attempt` gives `Some`, for locks a backend releases a moment
/// after the guard is dropped (Postgres rolls back a dropped transaction
/// when its connection is next used).
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// --- migrations ----------------------------------------------------------------------------

async fn migrating_twice_is_harmless(db: Db) {
    db.store.migrate().await.expect("first migration");
    db.store.migrate().await.expect("second migration");
    assert_eq!(
        db.store.pending_migrations().await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(db.count("SELECT count(*) FROM incidents").await, 0);
}

async fn pending_migrations_are_all_before_and_none_after_migrating(db: Db) {
    let pending = db.store.pending_migrations().await.unwrap();
    assert!(
        pending.first().is_some_and(|m| m.starts_with("1 ")),
        "{pending:?}"
    );
    assert!(pending.len() >= 4, "{pending:?}");
    db.store.migrate().await.unwrap();
    assert!(db.store.pending_migrations().await.unwrap().is_empty());
}

// --- deliveries ----------------------------------------------------------------------------

async fn ping_answers(db: Db) {
    let took = db.store.ping().await.unwrap();
    assert!(took < PATIENCE, "{took:?}");
}

async fn first_delivery_is_true_once_per_key(db: Db) {
    assert!(db.store.first_delivery("Ev001").await.unwrap());
    assert!(!db.store.first_delivery("Ev001").await.unwrap());
    assert!(!db.store.first_delivery("Ev001").await.unwrap());
    assert!(db.store.first_delivery("Ev002").await.unwrap());
}

async fn of_many_simultaneous_deliveries_of_one_key_exactly_one_is_first(db: Db) {
    let mut tasks = JoinSet::new();
    for _ in 0..24 {
        let store = db.store.clone();
        tasks.spawn(async move { store.first_delivery("Ev-race").await.unwrap() });
    }
    let firsts = tasks.join_all().await.into_iter().filter(|&b| b).count();
    assert_eq!(firsts, 1);
}

/// Makes the delivery `key` look `hours` old, with SQL of its backend (the
/// store has no reason to write an old time).
pub(crate) async fn backdate_delivery(db: &TestDb, key: &str, hours: i64) {
    use sqlx::Connection;
    match db.sqlite_file() {
        Some(_) => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(
                "UPDATE processed_envelopes SET received_at = \
                 strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-' || $2 || ' hours') \
                 WHERE dedupe_key = $1",
            )
            .bind(key)
            .bind(hours)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        None => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(
                "UPDATE processed_envelopes SET received_at = now() - make_interval(hours => $2) \
                 WHERE dedupe_key = $1",
            )
            .bind(key)
            .bind(i32::try_from(hours).unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
}

async fn delivery_keys_a_day_old_are_pruned_in_bounded_batches_and_younger_ones_kept(db: Db) {
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    for key in ["old-1", "old-2", "old-3", "old-4", "old-5", "young", "new"] {
        assert!(db.store.first_delivery(key).await.unwrap());
    }
    for key in ["old-1", "old-2", "old-3", "old-4", "old-5"] {
        backdate_delivery(&db.db, key, 25).await;
    }
    backdate_delivery(&db.db, "young", 23).await;

    let mut batches = Vec::new();
    loop {
        let deleted = db.store.prune_deliveries(DAY, 2).await.unwrap();
        batches.push(deleted);
        if deleted == 0 {
            break;
        }
    }
    assert_eq!(batches, [2, 2, 1, 0], "at most the limit per call");
    assert_eq!(
        db.count("SELECT count(*) FROM processed_envelopes").await,
        2
    );
    assert!(!db.store.first_delivery("young").await.unwrap(), "kept");
    assert!(!db.store.first_delivery("new").await.unwrap(), "kept");
    assert!(db.store.first_delivery("old-1").await.unwrap(), "forgotten");
}

// --- declaring -----------------------------------------------------------------------------

async fn a_new_incident_reads_back_as_declared_and_logs_it(db: Db) {
    let new = new_incident("www down");
    let id = db
        .store
        .create_incident(&new)
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    let incident = db.store.incident(id).await.unwrap().expect("stored");
    assert_eq!(incident.id, id);
    assert_eq!(incident.description, "www down");
    assert_eq!(incident.status, "investigating");
    assert_eq!(incident.severity, "sev4");
    assert_eq!(incident.created_by, user(1));
    assert_eq!(incident.channel_id, None);
    assert_eq!(incident.channel_name, None);
    assert_eq!(incident.control_ts, None);
    assert_eq!(incident.digest_ts, None);
    assert_eq!(incident.resolved_at, None);
    assert_eq!(incident.intended_name, None);
    assert!(incident.roles.is_empty());
    assert!(incident.steps.is_empty());
    assert_eq!(incident.declaration, Some(new.declaration));
    assert!(!incident.completed);
    assert_eq!(incident.created_at, incident.updated_at);
    let age = chrono::Utc::now() - incident.created_at;
    assert!(age.num_seconds().abs() < 60, "created {age} ago");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM incident_events WHERE kind = 'declared' AND actor = 'U0001'"
        )
        .await,
        1
    );
    assert!(
        db.store
            .incident(IncidentId(id.0 + 1000))
            .await
            .unwrap()
            .is_none()
    );
}

async fn declaration_steps_are_recorded_once_and_completion_ends_the_declaration_with_its_channel(
    db: Db,
) {
    let first = db
        .store
        .create_incident(&new_incident("one"))
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    let second = db
        .store
        .create_incident(&new_incident("two"))
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    assert_eq!(
        db.store.incomplete_declarations().await.unwrap(),
        vec![first, second],
        "oldest first"
    );

    db.store.set_intended_name(first, "inc-one").await.unwrap();
    use janus::domain::declaration::DeclarationStep::{Invited, Pinned, Topic};
    for step in [Invited, Invited, Pinned, Invited] {
        db.store.mark_step(first, step).await.unwrap();
    }
    let incident = db.store.incident(first).await.unwrap().unwrap();
    assert_eq!(incident.intended_name.as_deref(), Some("inc-one"));
    assert_eq!(incident.steps.as_slice(), [Invited, Pinned]);
    assert!(incident.done(Pinned) && !incident.done(Topic));
    // Stored by name, as every earlier build stored them.
    let by_name = r#"SELECT COUNT(*) FROM incidents
        WHERE CAST(steps AS TEXT) LIKE '%"invited"%' AND CAST(steps AS TEXT) LIKE '%"pinned"%'"#;
    assert_eq!(db.count(by_name).await, 1);

    // Without its channel recorded, a declaration is not complete.
    assert!(!db.store.complete_declaration(first).await.unwrap());
    assert!(!db.store.incident(first).await.unwrap().unwrap().completed);
    assert_eq!(
        db.store.incomplete_declarations().await.unwrap(),
        vec![first, second]
    );

    db.store
        .set_channel(first, &channel(1), "inc-one")
        .await
        .unwrap();
    assert!(db.store.complete_declaration(first).await.unwrap());
    assert!(db.store.incident(first).await.unwrap().unwrap().completed);
    assert_eq!(
        db.store.incomplete_declarations().await.unwrap(),
        vec![second]
    );
}

async fn discarding_forgets_only_a_declaration_without_a_channel(db: Db) {
    let bare = db
        .store
        .create_incident(&new_incident("bare"))
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    let kept = declared(&*db.store, 1).await;
    db.store.discard_incident(bare).await.unwrap();
    db.store.discard_incident(kept).await.unwrap();
    assert!(db.store.incident(bare).await.unwrap().is_none());
    assert!(db.store.incident(kept).await.unwrap().is_some());
    assert_eq!(
        db.count("SELECT count(*) FROM incident_events").await,
        1,
        "the discarded one's history went with it"
    );
    let next = db
        .store
        .create_incident(&new_incident("next"))
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    assert!(next.0 > bare.0 && next.0 > kept.0, "ids are never reused");
}

async fn a_channel_and_message_timestamps_are_found_again(db: Db) {
    let id = db
        .store
        .create_incident(&new_incident("www down"))
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    let before = db.store.incident(id).await.unwrap().unwrap();
    a_moment_passes().await;
    db.store
        .set_channel(id, &channel(7), "inc-202601011200-www-down")
        .await
        .unwrap();
    db.store
        .set_message_ts(id, OwnedMessage::Control, &ts(1))
        .await
        .unwrap();
    db.store
        .set_message_ts(id, OwnedMessage::Digest, &ts(2))
        .await
        .unwrap();
    let incident = db
        .store
        .incident_by_channel(&channel(7))
        .await
        .unwrap()
        .expect("found by channel");
    assert_eq!(incident.id, id);
    assert_eq!(
        incident.channel_name.as_deref(),
        Some("inc-202601011200-www-down")
    );
    assert_eq!(incident.control_ts, Some(ts(1)));
    assert_eq!(incident.digest_ts, Some(ts(2)));
    assert!(incident.version > before.version, "the channel is a change");
    assert!(incident.updated_at >= before.updated_at);
    assert!(
        db.store
            .incident_by_channel(&channel(8))
            .await
            .unwrap()
            .is_none()
    );
}

async fn open_incidents_are_unresolved_with_a_channel_newest_first_and_counted(db: Db) {
    let oldest = declared(&*db.store, 1).await;
    let resolved = declared(&*db.store, 2).await;
    let newest = declared(&*db.store, 3).await;
    db.store
        .create_incident(&new_incident("no channel"))
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    db.store
        .set_status(resolved, "resolved", true, &user(2), &delivery())
        .await
        .unwrap();
    db.store
        .claim_role(newest, "commander", &user(5), &delivery())
        .await
        .unwrap();

    let (all, total) = db.store.open_incidents(10).await.unwrap();
    let ids: Vec<_> = all.iter().map(|i| i.id).collect();
    assert_eq!(ids, vec![newest, oldest]);
    assert_eq!(total, 2);
    assert_eq!(all[0].holder("commander"), Some(&user(5)), "with its roles");

    let (first, total) = db.store.open_incidents(1).await.unwrap();
    assert_eq!(first.iter().map(|i| i.id).collect::<Vec<_>>(), vec![newest]);
    assert_eq!(total, 2, "the count is of all open ones");
    let (nothing, total) = db.store.open_incidents(0).await.unwrap();
    assert!(nothing.is_empty());
    assert_eq!(total, 2, "a limit of 0 asks for the count alone");

    db.store
        .set_status(newest, "resolved", true, &user(2), &delivery())
        .await
        .unwrap();
    db.store
        .set_status(oldest, "resolved", true, &user(2), &delivery())
        .await
        .unwrap();
    let (none, total) = db.store.open_incidents(10).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(total, 0);
}

// --- changes -------------------------------------------------------------------------------

async fn a_status_change_reports_from_and_to_logs_it_and_sets_resolved_at(db: Db) {
    let id = declared(&*db.store, 1).await;
    let actor = user(2);
    assert_eq!(
        db.store
            .set_status(id, "investigating", false, &actor, &delivery())
            .await
            .unwrap(),
        None,
        "unchanged"
    );
    let before = db.store.incident(id).await.unwrap().unwrap();
    a_moment_passes().await;
    assert_eq!(
        db.store
            .set_status(id, "identified", false, &actor, &delivery())
            .await
            .unwrap()
            .map(|c| (c.from, c.to)),
        Some(("investigating".to_owned(), "identified".to_owned()))
    );
    let identified = db.store.incident(id).await.unwrap().unwrap();
    assert_eq!(identified.status, "identified");
    assert_eq!(identified.version, before.version + 1);
    assert!(identified.updated_at >= before.updated_at);
    assert_eq!(identified.resolved_at, None);

    db.store
        .set_status(id, "resolved", true, &actor, &delivery())
        .await
        .unwrap();
    let resolved = db.store.incident(id).await.unwrap().unwrap();
    assert!(resolved.resolved_at.is_some());
    assert_eq!(resolved.resolved_at, Some(resolved.updated_at));

    db.store
        .set_status(id, "monitoring", false, &actor, &delivery())
        .await
        .unwrap();
    assert_eq!(
        db.store.incident(id).await.unwrap().unwrap().resolved_at,
        None,
        "reopening clears it"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM incident_events WHERE kind = 'status' AND actor = 'U0002'")
            .await,
        3,
        "one history row per change, none for the unchanged one"
    );
    assert_eq!(
        db.store
            .set_status(
                IncidentId(id.0 + 1000),
                "resolved",
                true,
                &actor,
                &delivery()
            )
            .await
            .unwrap(),
        None,
        "no such incident"
    );
}

async fn a_severity_change_reports_from_and_to_and_an_unchanged_one_nothing(db: Db) {
    let id = declared(&*db.store, 1).await;
    assert_eq!(
        db.store
            .set_severity(id, "sev4", &user(2), &delivery())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.store
            .set_severity(id, "sev1", &user(2), &delivery())
            .await
            .unwrap()
            .map(|c| (c.from, c.to)),
        Some(("sev4".to_owned(), "sev1".to_owned()))
    );
    let incident = db.store.incident(id).await.unwrap().unwrap();
    assert_eq!(incident.severity, "sev1");
    assert_eq!(incident.resolved_at, None);
    assert_eq!(
        db.count("SELECT count(*) FROM incident_events WHERE kind = 'severity'")
            .await,
        1
    );
}

async fn simultaneous_changes_of_one_incident_each_see_the_one_before(db: Db) {
    let id = declared(&*db.store, 1).await;
    let mut tasks = JoinSet::new();
    for n in 0..24 {
        let store = db.store.clone();
        tasks.spawn(async move {
            let severity = format!("sev-{n}");
            store
                .set_severity(id, &severity, &user(2), &delivery())
                .await
                .unwrap()
        });
    }
    let changes: Vec<Change<String>> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|c| c.expect("every value is new"))
        .collect();
    // Serialised, the changes form one chain from sev4 to the final value.
    let last = db.store.incident(id).await.unwrap().unwrap().severity;
    let mut froms: Vec<&str> = changes.iter().map(|c| c.from.as_str()).collect();
    let mut expected: Vec<&str> = changes
        .iter()
        .map(|c| c.to.as_str())
        .filter(|to| *to != last)
        .chain(["sev4"])
        .collect();
    froms.sort();
    expected.sort();
    assert_eq!(froms, expected, "{changes:?}");
    assert_eq!(
        db.count("SELECT count(*) FROM incident_events WHERE kind = 'severity'")
            .await,
        24
    );
}

async fn a_redelivered_change_is_refused_and_changes_nothing(db: Db) {
    let id = declared(&*db.store, 1).await;
    let key = delivery();
    let first = db
        .store
        .set_status(id, "identified", false, &user(2), &key)
        .await
        .unwrap();
    assert!(first.is_some());
    let again = db.store.set_severity(id, "sev1", &user(2), &key).await;
    assert!(
        matches!(&again, Err(e) if e.is_redelivery()),
        "the same delivery is refused, whatever it asks: {again:?}"
    );
    let again = db.store.claim_role(id, "commander", &user(2), &key).await;
    assert!(matches!(&again, Err(e) if e.is_redelivery()), "{again:?}");
    let incident = db.store.incident(id).await.unwrap().unwrap();
    assert_eq!(
        (incident.status.as_str(), incident.severity.as_str()),
        ("identified", "sev4")
    );
    assert_eq!(incident.holder("commander"), None);
    // A delivery whose change was a no-op is still recorded.
    let noop = delivery();
    assert_eq!(
        db.store
            .set_status(id, "identified", false, &user(2), &noop)
            .await
            .unwrap(),
        None
    );
    assert!(!db.store.first_delivery(&noop).await.unwrap());
}

on_both_backends!(migrated:
    an_update_is_recorded_once_with_its_status_unannounced_and_read_back_as_the_latest,
);

async fn an_update_is_recorded_once_with_its_status_unannounced_and_read_back_as_the_latest(
    db: Db,
) {
    use janus::store::NewUpdate;
    let id = declared(&*db.store, 1).await;
    assert_eq!(db.store.latest_update(id).await.unwrap(), None);
    let version = db.store.incident(id).await.unwrap().unwrap().version;
    let key = delivery();
    let update = NewUpdate {
        actor: &user(2),
        text: "rolled back",
        status: Some(("resolved", true)),
        delivery: &key,
    };
    let posted = db.store.record_update(id, &update).await.unwrap();
    let change = posted.status.clone().expect("the status changed");
    assert_eq!(
        (change.from.as_str(), change.to.as_str()),
        ("investigating", "resolved")
    );
    let incident = db.store.incident(id).await.unwrap().unwrap();
    assert_eq!(incident.status, "resolved");
    assert!(incident.resolved_at.is_some());
    assert!(incident.version > version, "Slack's messages must show it");
    // Redelivered: refused, nothing recorded twice.
    let again = db.store.record_update(id, &update).await;
    assert!(matches!(&again, Err(e) if e.is_redelivery()), "{again:?}");
    assert_eq!(
        db.count("SELECT count(*) FROM incident_events WHERE kind IN ('update', 'status')")
            .await,
        2
    );
    // Both start unannounced, the status line first.
    let unannounced = db.store.unannounced(Duration::ZERO).await.unwrap();
    let kinds: Vec<_> = unannounced.iter().map(|u| u.kind.as_str()).collect();
    assert_eq!(kinds, ["status", "update"]);
    assert_eq!(unannounced[1].id, posted.event);
    assert_eq!(unannounced[1].detail["text"], "rolled back");
    assert_eq!(unannounced[1].detail["status"], "resolved");

    // The latest is the newest; a status already set is not the update's.
    let second = delivery();
    let newer = NewUpdate {
        text: "still resolved",
        delivery: &second,
        ..update
    };
    let posted = db.store.record_update(id, &newer).await.unwrap();
    assert_eq!(posted.status, None);
    let latest = db.store.latest_update(id).await.unwrap().unwrap();
    assert_eq!(latest.text, "still resolved");
    assert_eq!(latest.status, None);
    assert_eq!(latest.actor, user(2));
}

async fn changes_start_unannounced_and_are_listed_until_marked(db: Db) {
    let id = declared(&*db.store, 1).await;
    let none = db.store.unannounced(Duration::ZERO).await.unwrap();
    assert!(none.is_empty(), "a declaration has no line: {none:?}");
    let status = db
        .store
        .set_status(id, "identified", false, &user(2), &delivery())
        .await
        .unwrap()
        .unwrap()
        .event;
    let ClaimOutcome::Claimed(role) = db
        .store
        .claim_role(id, "commander", &user(3), &delivery())
        .await
        .unwrap()
    else {
        panic!("claimed")
    };
    a_moment_passes().await;
    let pending = db.store.unannounced(Duration::ZERO).await.unwrap();
    let ids: Vec<_> = pending.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![status, role], "oldest first");
    assert_eq!(pending[0].kind, "status");
    assert_eq!(pending[0].actor, "U0002");
    assert_eq!(pending[0].detail["to"], "identified");
    assert_eq!(pending[1].detail["holder"], "U0003");
    assert!(
        db.store
            .unannounced(Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty(),
        "younger than `settled`: not yet"
    );
    db.store.mark_announced(status).await.unwrap();
    let left: Vec<_> = db
        .store
        .unannounced(Duration::ZERO)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, vec![role]);
}

// --- roles ---------------------------------------------------------------------------------

async fn claim_role_gives_a_free_role_once_and_names_the_holder_otherwise(db: Db) {
    let id = declared(&*db.store, 1).await;
    let before = db.store.incident(id).await.unwrap().unwrap();
    a_moment_passes().await;
    assert!(matches!(
        db.store
            .claim_role(id, "commander", &user(2), &delivery())
            .await
            .unwrap(),
        ClaimOutcome::Claimed(_)
    ));
    assert_eq!(
        db.store
            .claim_role(id, "commander", &user(2), &delivery())
            .await
            .unwrap(),
        ClaimOutcome::AlreadyYours
    );
    assert_eq!(
        db.store
            .claim_role(id, "commander", &user(3), &delivery())
            .await
            .unwrap(),
        ClaimOutcome::HeldBy(user(2))
    );
    assert!(matches!(
        db.store
            .claim_role(id, "liaison", &user(3), &delivery())
            .await
            .unwrap(),
        ClaimOutcome::Claimed(_)
    ));
    let incident = db.store.incident(id).await.unwrap().unwrap();
    assert_eq!(incident.holder("commander"), Some(&user(2)));
    assert_eq!(incident.holder("liaison"), Some(&user(3)));
    assert_eq!(incident.holder("tech_lead"), None);
    assert!(incident.version > before.version, "a claim is a change");
    assert_eq!(
        db.count("SELECT count(*) FROM incident_events WHERE kind = 'role'")
            .await,
        2
    );
}

async fn of_many_simultaneous_claims_of_a_role_exactly_one_wins(db: Db) {
    let id = declared(&*db.store, 1).await;
    let mut tasks = JoinSet::new();
    for n in 0..24 {
        let store = db.store.clone();
        tasks.spawn(async move {
            (
                n,
                store
                    .claim_role(id, "commander", &user(100 + n), &delivery())
                    .await
                    .unwrap(),
            )
        });
    }
    let outcomes = tasks.join_all().await;
    let winners: Vec<u32> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, ClaimOutcome::Claimed(_)))
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = user(100 + winners[0]);
    for (n, outcome) in &outcomes {
        if *n != winners[0] {
            assert_eq!(*outcome, ClaimOutcome::HeldBy(winner.clone()));
        }
    }
    assert_eq!(
        db.store
            .incident(id)
            .await
            .unwrap()
            .unwrap()
            .holder("commander"),
        Some(&winner)
    );
    assert_eq!(
        db.count("SELECT count(*) FROM incident_events WHERE kind = 'role'")
            .await,
        1
    );
}

async fn assign_role_replaces_the_holder_and_returns_the_previous_one(db: Db) {
    let id = declared(&*db.store, 1).await;
    let lead = user(9);
    assert_eq!(
        db.store
            .assign_role(id, "commander", &user(2), &lead, &delivery())
            .await
            .unwrap()
            .previous,
        None,
        "it was free"
    );
    assert_eq!(
        db.store
            .assign_role(id, "commander", &user(3), &lead, &delivery())
            .await
            .unwrap()
            .previous,
        Some(user(2))
    );
    assert_eq!(
        db.store
            .assign_role(id, "commander", &user(3), &lead, &delivery())
            .await
            .unwrap(),
        Assigned {
            previous: Some(user(3)),
            event: None
        },
        "already theirs: nothing changed"
    );
    assert_eq!(
        db.store
            .claim_role(id, "commander", &user(2), &delivery())
            .await
            .unwrap(),
        ClaimOutcome::HeldBy(user(3))
    );
    assert_eq!(
        db.store
            .incident(id)
            .await
            .unwrap()
            .unwrap()
            .holder("commander"),
        Some(&user(3))
    );
    assert_eq!(
        db.count("SELECT count(*) FROM incident_events WHERE kind = 'role' AND actor = 'U0009'")
            .await,
        2,
        "the unchanged assignment is not history"
    );
}

// --- react-to-create -----------------------------------------------------------------------

async fn a_react_trigger_is_claimed_once_linked_and_released(db: Db) {
    let (c, t) = (channel(1), ts(1));
    assert!(
        db.store
            .claim_react_trigger(&c, &t, &user(2))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .claim_react_trigger(&c, &t, &user(2))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .claim_react_trigger(&c, &t, &user(3))
            .await
            .unwrap()
    );
    assert!(
        db.store
            .claim_react_trigger(&c, &ts(2), &user(3))
            .await
            .unwrap(),
        "another message is another trigger"
    );
    let id = declared(&*db.store, 1).await;
    db.store.link_react_trigger(&c, &t, id).await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM react_triggers WHERE incident_id IS NOT NULL")
            .await,
        1
    );
    assert!(
        !db.store
            .claim_react_trigger(&c, &t, &user(4))
            .await
            .unwrap()
    );

    db.store.release_react_trigger(&c, &t).await.unwrap();
    assert!(
        db.store
            .claim_react_trigger(&c, &t, &user(4))
            .await
            .unwrap(),
        "released: a later reaction may try again"
    );
}

async fn of_many_simultaneous_react_claims_exactly_one_wins(db: Db) {
    let mut tasks = JoinSet::new();
    for n in 0..24 {
        let store = db.store.clone();
        tasks.spawn(async move {
            store
                .claim_react_trigger(&channel(1), &ts(1), &user(100 + n))
                .await
                .unwrap()
        });
    }
    let wins = tasks.join_all().await.into_iter().filter(|&b| b).count();
    assert_eq!(wins, 1);
}

// --- Statuspage ----------------------------------------------------------------------------

async fn the_statuspage_link_keeps_the_message_and_the_union_of_touched_components(db: Db) {
    let id = declared(&*db.store, 1).await;
    assert!(db.store.statuspage_link(id).await.unwrap().is_none());

    db.store.set_statuspage_message(id, &ts(1)).await.unwrap();
    let link = db.store.statuspage_link(id).await.unwrap().expect("linked");
    assert_eq!(link.message_ts, Some(ts(1)));
    assert_eq!(link.statuspage_id, None);
    assert_eq!(link.status, None);
    assert!(link.touched_components.is_empty());

    let components = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    db.store
        .set_statuspage_incident(
            id,
            "sp1",
            "investigating",
            &components(&["api", "web"]),
            &action(&user(1), "created"),
        )
        .await
        .unwrap();
    db.store
        .set_statuspage_incident(
            id,
            "sp1",
            "identified",
            &components(&["web", "db"]),
            &action(&user(2), "updated"),
        )
        .await
        .unwrap();
    let link = db.store.statuspage_link(id).await.unwrap().unwrap();
    assert_eq!(link.message_ts, Some(ts(1)), "the message is kept");
    assert_eq!(link.statuspage_id.as_deref(), Some("sp1"));
    assert_eq!(link.status.as_deref(), Some("identified"));
    let mut touched = link.touched_components;
    touched.sort();
    assert_eq!(touched, components(&["api", "db", "web"]));

    db.store.set_statuspage_message(id, &ts(2)).await.unwrap();
    let link = db.store.statuspage_link(id).await.unwrap().unwrap();
    assert_eq!(link.message_ts, Some(ts(2)));
    assert_eq!(
        link.status.as_deref(),
        Some("identified"),
        "the rest is kept"
    );

    let other = declared(&*db.store, 2).await;
    db.store
        .set_statuspage_incident(
            other,
            "sp2",
            "investigating",
            &components(&["api"]),
            &action(&user(1), "created"),
        )
        .await
        .unwrap();
    let link = db.store.statuspage_link(other).await.unwrap().unwrap();
    assert_eq!(link.message_ts, None, "created without a prompt");
    assert_eq!(link.touched_components, components(&["api"]));
}

async fn a_status_change_is_listed_as_unfollowed_until_the_statuspage_incident_follows_it(db: Db) {
    let id = declared(&*db.store, 1).await;
    let unlinked = declared(&*db.store, 2).await;
    db.store
        .set_status(unlinked, "identified", false, &user(1), "d-unlinked")
        .await
        .unwrap();
    // A person's create records the incident's status as followed.
    let creator = user(1);
    let created = StatuspageAction {
        notify: Some(false),
        ..action(&creator, "created")
    };
    db.store
        .set_statuspage_incident(id, "sp1", "investigating", &[], &created)
        .await
        .unwrap();
    let link = db.store.statuspage_link(id).await.unwrap().unwrap();
    assert_eq!(link.followed_status.as_deref(), Some("investigating"));
    assert!(!link.notify, "the person's choice is kept");
    assert!(
        db.store
            .unfollowed_statuspage(Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "nothing to follow; an incident without a Statuspage incident never is"
    );

    db.store
        .set_status(id, "identified", false, &user(1), "d-1")
        .await
        .unwrap();
    assert_eq!(
        db.store
            .unfollowed_statuspage(Duration::ZERO)
            .await
            .unwrap(),
        [id]
    );
    assert!(
        db.store
            .unfollowed_statuspage(Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty(),
        "a change younger than `settled` may still be followed live"
    );

    let moved = FollowedMove {
        status: "identified",
        action: "updated",
        body: "The issue has been identified.",
    };
    db.store
        .set_statuspage_followed(id, "identified", Some(&moved))
        .await
        .unwrap();
    let link = db.store.statuspage_link(id).await.unwrap().unwrap();
    assert_eq!(link.status.as_deref(), Some("identified"));
    assert_eq!(link.followed_status.as_deref(), Some("identified"));
    assert!(
        db.store
            .unfollowed_statuspage(Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    let history = db.store.history(id).await.unwrap();
    let entry = history
        .iter()
        .rfind(|e| e.kind == "statuspage")
        .expect("the move in the history");
    assert_eq!(entry.actor, "janus");
    assert_eq!(entry.detail["following"], "identified");
    assert_eq!(entry.detail["statuspage_id"], "sp1");

    // Left alone (unmapped, or given up): followed, Statuspage unchanged,
    // nothing in the history.
    db.store
        .set_status(id, "monitoring", false, &user(1), "d-2")
        .await
        .unwrap();
    db.store
        .set_statuspage_followed(id, "monitoring", None)
        .await
        .unwrap();
    let link = db.store.statuspage_link(id).await.unwrap().unwrap();
    assert_eq!(link.status.as_deref(), Some("identified"));
    assert_eq!(link.followed_status.as_deref(), Some("monitoring"));
    assert_eq!(
        db.store.history(id).await.unwrap().len(),
        history.len() + 1,
        "only the status change"
    );
}

fn action<'a>(actor: &'a UserId, action: &'a str) -> StatuspageAction<'a> {
    StatuspageAction {
        actor,
        action,
        body: "We are looking into it.",
        notify: None,
    }
}

async fn a_statuspage_create_intent_keeps_its_first_key_until_the_incident_is_recorded(db: Db) {
    let id = declared(&*db.store, 1).await;
    db.store.set_statuspage_message(id, &ts(1)).await.unwrap();

    let first = db
        .store
        .intend_statuspage_create(id, "key-1", &user(1))
        .await
        .unwrap();
    assert_eq!(first.key, "key-1");
    assert_eq!(first.requested_by, Some(user(1)));
    let second = db
        .store
        .intend_statuspage_create(id, "key-2", &user(2))
        .await
        .unwrap();
    assert_eq!(second, first, "a later attempt gets the first intent");
    let link = db.store.statuspage_link(id).await.unwrap().unwrap();
    assert_eq!(link.pending_create, Some(first));
    assert_eq!(link.message_ts, Some(ts(1)), "the message is kept");

    db.store
        .set_statuspage_incident(
            id,
            "sp1",
            "investigating",
            &[],
            &action(&user(1), "created"),
        )
        .await
        .unwrap();
    let link = db.store.statuspage_link(id).await.unwrap().unwrap();
    assert_eq!(link.pending_create, None, "done: no intent left");
    assert_eq!(link.statuspage_id.as_deref(), Some("sp1"));
}

// --- publishing ----------------------------------------------------------------------------

async fn unpublished_changes_are_completed_incidents_changed_after_their_last_publication(db: Db) {
    let store = &*db.store;
    let unpublished = || async { store.unpublished_changes(Duration::ZERO).await.unwrap() };
    let id = declared(store, 1).await;
    // In flight or without a channel: recovery finishes those, not this.
    store
        .create_incident(&new_incident("in flight"))
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    let incomplete = store
        .create_incident(&new_incident("mid-way"))
        .await
        .unwrap()
        .incident()
        .expect("recorded");
    store
        .set_channel(incomplete, &channel(9), "inc-mid-way")
        .await
        .unwrap();
    a_moment_passes().await;

    assert_eq!(unpublished().await, vec![id], "never published");
    assert!(
        store
            .unpublished_changes(Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty(),
        "not settled for an hour"
    );

    let shown = store.incident(id).await.unwrap().unwrap().version;
    store.mark_published(id, shown).await.unwrap();
    assert!(unpublished().await.is_empty(), "published as it is");

    store
        .set_severity(id, "sev2", &user(2), &delivery())
        .await
        .unwrap();
    a_moment_passes().await;
    assert_eq!(unpublished().await, vec![id], "changed since");

    // A slow publisher reporting an older rendering never hides a newer change.
    store.mark_published(id, shown).await.unwrap();
    assert_eq!(unpublished().await, vec![id]);
    let now_shown = store.incident(id).await.unwrap().unwrap().version;
    store.mark_published(id, now_shown).await.unwrap();
    store.mark_published(id, shown).await.unwrap();
    assert!(
        unpublished().await.is_empty(),
        "what is recorded as shown never goes back"
    );

    let other = declared(store, 2).await;
    a_moment_passes().await;
    store
        .claim_role(id, "commander", &user(3), &delivery())
        .await
        .unwrap();
    a_moment_passes().await;
    assert_eq!(
        unpublished().await,
        vec![other, id],
        "least recently changed first"
    );
}

// --- locks ---------------------------------------------------------------------------------

async fn a_declaration_lock_is_refused_while_held(db: Db) {
    let (id, other) = (declared(&*db.store, 1).await, declared(&*db.store, 2).await);
    let held = db.store.try_lease_declaration(id).await.unwrap();
    assert!(held.is_some());
    assert!(db.store.try_lease_declaration(id).await.unwrap().is_none());
    assert!(
        db.store
            .try_lease_declaration(other)
            .await
            .unwrap()
            .is_some(),
        "another incident's lock is free"
    );
    drop(held);
    let again = eventually("the declaration lock is free again", || async {
        db.store.try_lease_declaration(id).await.unwrap()
    })
    .await;
    drop(again);
}

async fn one_leader_at_a_time(db: Db) {
    let leader = db.store.try_become_leader().await.unwrap();
    assert!(leader.is_some(), "the first asker leads");
    assert!(db.store.try_become_leader().await.unwrap().is_none());
    drop(leader);
    eventually("another can lead once the leader is gone", || async {
        db.store.try_become_leader().await.unwrap()
    })
    .await;
}

// --- pruning, by the running app ----------------------------------------------------------

/// The leader's recovery round deletes delivery keys a day old and keeps
/// the younger ones, so a redelivery of a recent event is still recognised.
#[tokio::test]
async fn the_leaders_round_prunes_delivery_keys_a_day_old_and_keeps_younger_ones() {
    use crate::payloads::{BOT, app_mention};
    use crate::support::harness::TestApp;
    use crate::support::slack_fake;
    let app = TestApp::spawn_with(&[("JANUS_RECOVERY_INTERVAL", "1")]).await;
    let general = app.slack.add_channel("general", true);
    for event_id in ["Ev0PRUNEOLD", "Ev0PRUNENEW"] {
        let help = app_mention(&general, &format!("<@{BOT}> help"), event_id, None);
        app.slack
            .send_envelope(slack_fake::envelope("events_api", help, false))
            .await;
    }
    app.idle().await;
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM processed_envelopes WHERE dedupe_key LIKE 'event:Ev0PRUNE%'"
            )
            .await,
        2
    );

    backdate_delivery(&app.db, "event:Ev0PRUNEOLD", 25).await;
    app.db
        .eventually_count(
            "SELECT count(*) FROM processed_envelopes WHERE dedupe_key = 'event:Ev0PRUNEOLD'",
            0,
        )
        .await;
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM processed_envelopes WHERE dedupe_key = 'event:Ev0PRUNENEW'"
            )
            .await,
        1,
        "a key younger than a day is kept"
    );
}

// --- SQLite only: one process per file, errors that name it --------------------------------

#[tokio::test]
async fn a_second_store_on_one_sqlite_file_is_refused_naming_the_file_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let first = open(url.clone()).await.expect("the first opens");
    let refused = open(url.clone())
        .await
        .err()
        .expect("the second is refused");
    assert!(matches!(refused, StoreError::InUse { .. }), "{refused}");
    let message = refused.to_string();
    let file = dir.path().join("janus.db").display().to_string();
    assert!(message.contains(&file), "{message}");
    assert!(message.contains("in use"), "{message}");
    assert!(message.contains("SQLite serves one process"), "{message}");
    assert!(message.contains("Postgres"), "{message}");
    drop(first);
    open(url).await.expect("free again once the first is gone");
}

#[tokio::test]
async fn a_sqlite_file_is_created_but_a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(sqlite_url(dir.path())).await.unwrap();
    store.migrate().await.unwrap();
    assert!(dir.path().join("janus.db").is_file());
    let short = dir.path().join("short-form.db");
    open(format!("sqlite:{}", short.display()))
        .await
        .expect("the sqlite:path form opens too");
    assert!(short.is_file());

    let missing = dir.path().join("not-there");
    let error = open(sqlite_url(&missing)).await.err().expect("refused");
    let message = error.to_string();
    assert!(
        message.contains(&missing.display().to_string()) && message.contains("does not exist"),
        "{message}"
    );
    assert!(!missing.exists(), "the directory is not created");
}

#[tokio::test]
async fn what_a_sqlite_store_wrote_is_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let store = open(url.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let id = declared(&*store, 1).await;
    store
        .claim_role(id, "commander", &user(2), &delivery())
        .await
        .unwrap();
    drop(store);

    let store = open(url).await.unwrap();
    store.migrate().await.unwrap();
    let incident = store.incident(id).await.unwrap().expect("kept");
    assert!(incident.completed);
    assert_eq!(incident.holder("commander"), Some(&user(2)));
}

#[tokio::test]
async fn store_errors_never_show_a_database_password() {
    for url in [
        "postgres://janus:hunter2@127.0.0.1:1/janus",
        "mysql://janus:hunter2@127.0.0.1/janus",
        "postgres://janus:hunter2@[not a host/janus",
    ] {
        let error = open(url.to_owned()).await.err().expect("refused");
        let message = error.to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }
}

/// Every Postgres connection runs with a `statement_timeout`, so a query
/// stuck behind a wedged lock or server fails instead of hanging; one set
/// in the URL's `options` is kept.
#[tokio::test]
async fn postgres_connections_time_out_stuck_statements() {
    async fn timeout_of(url: &str) -> String {
        let store = janus::store::PgStore::connect(&SecretString::from(url.to_owned()), 2)
            .await
            .expect("connect");
        sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(store.pool())
            .await
            .expect("SHOW")
    }
    let db = TestDb::postgres().await;
    assert_eq!(timeout_of(&db.url).await, "15s");
    let own = format!("{}?options=-c%20statement_timeout%3D7s", db.url);
    assert_eq!(timeout_of(&own).await, "7s");
}

/// Declaration leases are held on one connection outside the pool: many at
/// once leave the pool free for everything else, another process is refused
/// them, and dropping one releases it.
#[tokio::test]
async fn postgres_declaration_leases_hold_no_pooled_connection_and_are_released_when_dropped() {
    use janus::store::{Incidents, Leases, Schema};
    let db = TestDb::postgres().await;
    let url = SecretString::from(db.url.clone());
    let store = janus::store::PgStore::connect(&url, 2)
        .await
        .expect("connect");
    store.migrate().await.unwrap();
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(declared(&store, n).await);
    }
    let mut held = Vec::new();
    for id in &ids {
        held.push(
            store
                .try_lease_declaration(*id)
                .await
                .unwrap()
                .expect("free"),
        );
    }
    // A pool of two serves queries while six declarations are held.
    tokio::time::timeout(Duration::from_secs(2), store.incident(ids[0]))
        .await
        .expect("the pool is not held by the locks")
        .unwrap();
    let other = janus::store::PgStore::connect(&url, 2)
        .await
        .expect("connect");
    assert!(other.try_lease_declaration(ids[0]).await.unwrap().is_none());
    drop(held);
    drop(store);
    eventually("the locks are released once dropped", || async {
        other.try_lease_declaration(ids[5]).await.unwrap()
    })
    .await;
}

/// A delivery key no other call in the process has used: each change in
/// these tests is a click of its own.
fn delivery() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!(
        "envelope:test-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

async fn a_reminder_period_is_claimed_once_given_back_and_restarted_by_a_reminder_or_a_reopening(
    db: Db,
) {
    let id = db
        .store
        .create_incident(&new_incident("www down"))
        .await
        .unwrap()
        .incident()
        .unwrap();
    // Not a candidate until its declaration finished.
    assert!(
        db.store
            .quiet_incidents("resolved")
            .await
            .unwrap()
            .1
            .is_empty()
    );
    db.store
        .set_channel(id, &channel(7), "inc-www-down")
        .await
        .unwrap();
    assert!(db.store.complete_declaration(id).await.unwrap());

    let (now, quiet) = db.store.quiet_incidents("resolved").await.unwrap();
    assert_eq!(quiet.len(), 1);
    let first = &quiet[0];
    assert_eq!((first.id, first.severity.as_str()), (id, "sev4"));
    assert!(first.completed_at <= now);
    assert_eq!(first.quiet_since(), first.completed_at);
    assert!(!first.commander_checked);

    let claim = ReminderClaim {
        incident: id,
        kind: ReminderKind::Update,
        since: first.quiet_since(),
        late: Duration::from_secs(5),
        posted: true,
    };
    // Of many replicas claiming one period at once, one gets it.
    let mut claims = JoinSet::new();
    for _ in 0..8 {
        let (store, claim) = (db.store.clone(), claim.clone());
        claims.spawn(async move { store.claim_reminder(&claim).await.unwrap() });
    }
    let won = claims
        .join_all()
        .await
        .into_iter()
        .filter(|won| *won)
        .count();
    assert_eq!(won, 1);
    // Given back (its post did not reach Slack), it can be claimed again.
    db.store.release_reminder(&claim).await.unwrap();
    assert!(db.store.claim_reminder(&claim).await.unwrap());
    assert!(!db.store.claim_reminder(&claim).await.unwrap());

    // The reminder starts the next period.
    let (_, quiet) = db.store.quiet_incidents("resolved").await.unwrap();
    let reminded = quiet[0].last_reminder.expect("the reminder is read back");
    assert!(reminded >= first.completed_at);
    assert_eq!(quiet[0].quiet_since(), reminded);

    // The commander check, settled without a message, is made once.
    let settled = ReminderClaim {
        kind: ReminderKind::Commander,
        since: first.completed_at,
        posted: false,
        ..claim.clone()
    };
    assert!(db.store.claim_reminder(&settled).await.unwrap());
    assert!(db.store.quiet_incidents("resolved").await.unwrap().1[0].commander_checked);

    // Resolved: no candidate. Reopened: a new period from the reopening.
    db.store
        .set_status(id, "resolved", true, &user(2), "delivery-resolve")
        .await
        .unwrap();
    assert!(
        db.store
            .quiet_incidents("resolved")
            .await
            .unwrap()
            .1
            .is_empty()
    );
    db.store
        .set_status(id, "identified", false, &user(2), "delivery-reopen")
        .await
        .unwrap();
    let (_, quiet) = db.store.quiet_incidents("resolved").await.unwrap();
    let reopened = quiet[0].last_reopened.expect("the reopening is read back");
    assert!(reopened >= reminded);
    assert_eq!(quiet[0].quiet_since(), reopened);
    assert_eq!(
        db.count("SELECT count(*) FROM reminders WHERE posted")
            .await,
        1
    );
}
