//! Socket Mode against the fake: acks, disconnect reasons, liveness.

use std::time::Duration;

use serde_json::json;

use crate::support::harness::TestApp;
use crate::support::slack_fake::{self, Fault};

const WAIT: Duration = Duration::from_secs(10);

fn help_envelope() -> serde_json::Value {
    slack_fake::envelope(
        "events_api",
        json!({"type": "event_callback", "event_id": format!("Ev{}", fastrand::u32(..)),
               "event": {"type": "something_new"}}),
        false,
    )
}

/// Waits until a socket other than `old` is open, and returns it.
async fn replacement_of(app: &TestApp, old: slack_fake::SocketId) -> slack_fake::SocketId {
    app.slack
        .wait_for("a replacement socket", WAIT, |s| {
            s.open_sockets().into_iter().find(|s| *s != old)
        })
        .await
}

#[tokio::test]
async fn janus_opens_the_configured_number_of_sockets() {
    let app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "3")]).await;
    assert_eq!(app.slack.open_sockets().len(), 3);
    let opens = app.slack.calls_to("apps.connections.open");
    assert_eq!(opens.len(), 3);
    assert!(
        opens
            .iter()
            .all(|c| c.token.as_deref() == Some(slack_fake::APP_TOKEN)),
        "apps.connections.open uses the app-level token"
    );
}

async fn assert_replaced_before_closed(reason: &str) {
    let app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "1")]).await;
    let old = app.slack.open_sockets()[0];
    app.slack.disconnect(old, reason).await;
    // An envelope that still reaches the old socket is acked there.
    let envelope = help_envelope();
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_frame(old, envelope).await;
    let ack = app.slack.wait_ack(&id, WAIT).await;
    assert_eq!(ack.socket, old);

    let closed = app.slack.wait_socket_closed(old, WAIT).await;
    assert!(closed.by_client, "Janus closed the old socket itself");
    let new = app
        .slack
        .open_sockets()
        .into_iter()
        .find(|s| *s != old)
        .expect("a replacement is open");
    assert!(
        app.slack.socket_opened_at(new) < closed.at,
        "the replacement opened before the old socket closed"
    );
}

#[tokio::test]
async fn a_warning_opens_the_replacement_before_closing_the_old_socket() {
    assert_replaced_before_closed("warning").await;
}

#[tokio::test]
async fn a_refresh_request_opens_the_replacement_before_closing_the_old_socket() {
    assert_replaced_before_closed("refresh_requested").await;
}

#[tokio::test]
async fn too_many_websockets_closes_first_then_reconnects() {
    let app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "1")]).await;
    let old = app.slack.open_sockets()[0];
    app.slack.disconnect(old, "too_many_websockets").await;
    let closed = app.slack.wait_socket_closed(old, WAIT).await;
    assert!(closed.by_client);
    let new = replacement_of(&app, old).await;
    assert!(
        app.slack.socket_opened_at(new) > closed.at,
        "the new socket opened only after the old one closed"
    );
}

#[tokio::test]
async fn link_disabled_stops_that_socket_and_janus_when_none_is_left() {
    let mut app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "2")]).await;
    let sockets = app.slack.open_sockets();
    app.slack.disconnect(sockets[0], "link_disabled").await;
    app.slack.wait_socket_closed(sockets[0], WAIT).await;
    assert_eq!(app.slack.open_sockets(), vec![sockets[1]]);

    app.slack.disconnect(sockets[1], "link_disabled").await;
    let running = app.running.take().unwrap();
    let err = tokio::time::timeout(WAIT, running.wait())
        .await
        .expect("janus stops")
        .expect_err("and says why");
    assert!(
        err.to_string().contains("Socket Mode is turned off"),
        "{err}"
    );
    // Counted once Janus has stopped, so no replacement can still come.
    assert_eq!(app.slack.sockets_opened_total(), 2, "no replacement");
}

#[tokio::test]
async fn a_silent_socket_is_replaced() {
    let app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "1")]).await;
    let old = app.slack.open_sockets()[0];
    app.slack.set_silent(old, true);
    let closed = app.slack.wait_socket_closed(old, WAIT).await;
    assert!(closed.by_client, "Janus gave up on the silent socket");
    replacement_of(&app, old).await;
}

#[tokio::test]
async fn a_socket_closed_by_slack_is_reopened() {
    let app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "1")]).await;
    let old = app.slack.open_sockets()[0];
    app.slack.close(old).await;
    let new = replacement_of(&app, old).await;
    let envelope = help_envelope();
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    assert_eq!(app.slack.wait_ack(&id, WAIT).await.socket, new);
}

/// A socket that is closed right after its `hello` is not reopened in a
/// steady fast loop: each reopening waits longer than the one before, up to
/// the cap; once a socket has stayed open a while, the next one is quick
/// again. (`fast_tuning`: 50 ms doubling to 500 ms, stable after 1 s.)
#[tokio::test]
async fn sockets_closed_right_after_hello_are_reopened_ever_more_slowly() {
    let app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "1")]).await;
    let mut socket = app.slack.open_sockets()[0];
    let mut opened = vec![app.slack.socket_opened_at(socket)];
    for _ in 0..7 {
        app.slack.close(socket).await;
        socket = replacement_of(&app, socket).await;
        opened.push(app.slack.socket_opened_at(socket));
    }
    let gaps: Vec<Duration> = opened.windows(2).map(|w| w[1] - w[0]).collect();
    // Steps 50, 100, 200, 400, then 500 ms, each drawn from its upper half:
    // from the fifth reopening on, no gap can be under 250 ms.
    for gap in &gaps[4..] {
        assert!(*gap >= Duration::from_millis(250), "gaps grow: {gaps:?}");
        assert!(*gap < Duration::from_secs(3), "and stay capped: {gaps:?}");
    }
    assert!(gaps[0] < gaps[6], "later gaps are longer: {gaps:?}");
    assert_eq!(app.slack.sockets_opened_total(), 8, "one socket at a time");

    // A socket that stays open past `stable_after` (1 s) starts the backoff
    // over: the sleep is that socket staying open.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let closed_at = std::time::Instant::now();
    app.slack.close(socket).await;
    let next = replacement_of(&app, socket).await;
    let gap = app.slack.socket_opened_at(next) - closed_at;
    assert!(
        gap < Duration::from_millis(250),
        "reopened at the base delay after a stable socket: {gap:?}"
    );
}

#[tokio::test]
async fn a_failing_connections_open_is_retried() {
    let app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "1")]).await;
    app.slack
        .inject("apps.connections.open", Fault::HttpStatus(500));
    app.slack.inject(
        "apps.connections.open",
        Fault::Error("internal_error".into()),
    );
    let old = app.slack.open_sockets()[0];
    app.slack.close(old).await;
    replacement_of(&app, old).await;
    // The first open, two failures, then success.
    assert_eq!(app.slack.calls_to("apps.connections.open").len(), 4);
}

#[tokio::test]
async fn a_refused_app_token_stops_janus_with_a_message_naming_it() {
    let mut app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "1")]).await;
    app.slack
        .inject("apps.connections.open", Fault::Error("invalid_auth".into()));
    let old = app.slack.open_sockets()[0];
    app.slack.close(old).await;
    let running = app.running.take().unwrap();
    let err = tokio::time::timeout(WAIT, running.wait())
        .await
        .expect("janus stops")
        .expect_err("with an error");
    assert!(err.to_string().contains("SLACK_APP_TOKEN"), "{err}");
}

#[tokio::test]
async fn garbage_and_unknown_frames_are_survived_and_the_next_envelope_is_acked() {
    let app = TestApp::spawn_with(&[("JANUS_SLACK__SOCKETS", "1")]).await;
    let socket = app.slack.open_sockets()[0];
    for junk in [
        "not json at all",
        "[1,2,3]",
        "{\"type\":\"brand_new_frame\"}",
        "{\"envelope_id\":\"e-garbage\",\"type\":\"events_api\",\"payload\":\"string\"}",
        "{\"envelope_id\":\"e-unknown\",\"type\":\"mystery_type\",\"payload\":{},\"new_field\":1}",
        &"{".repeat(100_000),
    ] {
        app.slack.send_text(socket, junk).await;
    }
    app.slack.wait_ack("e-garbage", WAIT).await;
    app.slack.wait_ack("e-unknown", WAIT).await;
    let envelope = help_envelope();
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
    assert_eq!(
        app.slack.open_sockets(),
        vec![socket],
        "same socket, still up"
    );
}

#[tokio::test]
async fn stopping_janus_closes_every_socket_from_its_side() {
    let mut app = TestApp::spawn().await;
    let sockets = app.slack.open_sockets();
    assert_eq!(sockets.len(), 2);
    app.stop().await.expect("a clean stop");
    for socket in sockets {
        let closed = app.slack.wait_socket_closed(socket, WAIT).await;
        assert!(closed.by_client, "Janus closed socket {socket:?} itself");
    }
}

/// Acks never wait for handling. With the database away every envelope's
/// handling is stuck recording its delivery, yet a burst larger than any
/// fixed queue (1,500 `@janus help` mentions) is acked in full; once the
/// database is back, each is handled, once.
#[tokio::test]
async fn a_burst_is_acked_in_full_while_handling_is_stuck_then_handled_once() {
    use crate::support::db_proxy::DbProxy;
    const N: usize = 1_500;
    let mut app = TestApp::spawn_on_postgres(&[]).await;
    let proxy = DbProxy::start(app.db.server()).await;
    let through = app.db.url_via(proxy.port());
    app.restart_with(&[("DATABASE_URL", &through), ("JANUS_HEALTH__LISTEN", "0")])
        .await;
    assert_eq!(
        bus_held_bytes(&app).await,
        0,
        "nothing held before the burst"
    );

    proxy.go_down();
    let before = app.slack.ack_count();
    for i in 0..N {
        // Help in a channel that is gone: handled (recorded, then a post
        // Slack refuses at once), with no incident work.
        let mention = crate::payloads::app_mention(
            "C0GONE0001",
            &format!("<@{}> help", crate::payloads::BOT),
            &format!("EvBURST{i}"),
            None,
        );
        let envelope = slack_fake::envelope("events_api", mention, false);
        app.slack.send_envelope(envelope).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.slack.ack_count() < before + N {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {N} acked while handling was stuck",
            app.slack.ack_count() - before
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM processed_envelopes WHERE dedupe_key LIKE 'event:EvBURST%'"
            )
            .await,
        0,
        "nothing handled while the database is away"
    );
    let during = bus_held_bytes(&app).await;
    assert!(
        during > (N as u64) * 100,
        "the burst's frames are held, and shown: {during} bytes"
    );

    proxy.come_back();
    app.idle().await;
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM processed_envelopes WHERE dedupe_key LIKE 'event:EvBURST%'"
            )
            .await,
        N as i64
    );
    assert_eq!(bus_held_bytes(&app).await, 0, "budget given back");
}

/// `janus_bus_held_bytes` from `/metrics`.
async fn bus_held_bytes(app: &TestApp) -> u64 {
    let metrics = crate::health::get(app, "/metrics").await.body;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("janus_bus_held_bytes "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no janus_bus_held_bytes in:\n{metrics}"))
}

/// Socket Mode runs on a thread of its own, tied to no runtime: when the
/// runtime that started Janus goes away without a stop (a test that ends,
/// an embedding that panics), the thread must still close its sockets and
/// end, not reconnect to whatever later listens on a gone Slack's port.
#[test]
fn janus_dropped_with_its_runtime_closes_its_sockets() {
    use crate::support::harness::{TestDb, env_for};
    use crate::support::slack_fake::FakeSlack;

    let outer = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (slack, db) = outer.block_on(async {
        janus::install_crypto_provider();
        (FakeSlack::start().await, TestDb::create().await)
    });
    let config = janus::config::Config::load_from(None, env_for(&slack, &db)).unwrap();

    let inner = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = inner.block_on(async {
        let running = janus::app::start(&config, crate::support::harness::fast_options())
            .await
            .expect("janus starts");
        assert!(running.wait_connected(2, WAIT).await);
        running.shutdown_token()
    });
    assert_eq!(slack.open_sockets().len(), 2);
    drop(inner);

    assert!(shutdown.is_cancelled(), "shutdown left uncancelled");
    outer.block_on(async {
        slack
            .wait_for("every socket closed without its runtime", WAIT, |s| {
                s.open_sockets().is_empty().then_some(())
            })
            .await;
        // No Janus is left to ask whether it is done: a reconnect would come
        // within the backoff cap (500 ms), so give it twice that.
        let opened = slack.sockets_opened_total();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(slack.sockets_opened_total(), opened, "it reconnected");
    });
    drop(db);
}
