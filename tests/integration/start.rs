//! Start-up rides out a short outage: a database or Slack that is not there
//! yet is tried again, with growing pauses, for the start-up patience;
//! what waiting cannot fix still fails at once.

use std::time::{Duration, Instant};

use janus::app::{Options, StartPatience};
use janus::config::Config;

use crate::declare::declare;
use crate::payloads::ALICE;
use crate::support::db_proxy::DbProxy;
use crate::support::harness::{TestApp, TestDb, env_for, fast_options};
use crate::support::slack_fake::{FakeSlack, Fault};

const WAIT: Duration = Duration::from_secs(10);

/// The fake's environment, with the database reached at `database_url`.
fn config(slack: &FakeSlack, db: &TestDb, database_url: &str) -> Config {
    let mut env = env_for(slack, db);
    env.retain(|(k, _)| k != "DATABASE_URL");
    env.push(("DATABASE_URL".into(), database_url.to_owned()));
    Config::load_from(None, env).expect("test config")
}

fn patient(patience: Duration) -> Options {
    Options {
        start_patience: StartPatience(patience),
        ..fast_options()
    }
}

#[tokio::test]
async fn janus_started_while_the_database_is_down_comes_up_once_it_is_back_and_declares() {
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let db = TestDb::postgres().await;
    let proxy = DbProxy::start(db.server()).await;
    proxy.go_down();
    let config = config(&slack, &db, &db.url_via(proxy.port()));
    let mut starting =
        tokio::spawn(
            async move { janus::app::start(&config, patient(Duration::from_secs(60))).await },
        );

    // Janus keeps trying while the database is away…
    let deadline = Instant::now() + WAIT;
    while proxy.refused() < 3 {
        assert!(Instant::now() < deadline, "start-up stopped trying");
        assert!(
            !starting.is_finished(),
            "start-up ended while the database was down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!starting.is_finished());
    assert!(
        slack.open_sockets().is_empty(),
        "no socket before the database"
    );

    // …and comes up by itself once it is back.
    proxy.come_back();
    let running = tokio::time::timeout(WAIT, &mut starting)
        .await
        .expect("janus starts within a pause of the database coming back")
        .unwrap()
        .expect("janus starts");
    assert!(running.wait_connected(2, WAIT).await);
    let app = TestApp::around(slack, db, running, 2);
    let general = app.slack.add_channel("general", true);
    app.slack.add_channel("incidents", true);
    app.slack.add_user(ALICE, "alice");
    declare(&app, &general, "db was down at start").await;
    assert_eq!(app.slack.calls_to("conversations.create").len(), 1);
    app.db
        .eventually_count(
            "SELECT count(*) FROM incidents WHERE completed_at IS NOT NULL",
            1,
        )
        .await;
}

#[tokio::test]
async fn a_database_down_for_longer_than_the_patience_fails_start_naming_it() {
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let db = TestDb::postgres().await;
    let proxy = DbProxy::start(db.server()).await;
    proxy.go_down();
    let config = config(&slack, &db, &db.url_via(proxy.port()));
    let started = Instant::now();
    let error = match janus::app::start(&config, patient(Duration::from_secs(2))).await {
        Ok(_) => panic!("started without a database"),
        Err(e) => e.to_string(),
    };
    let took = started.elapsed();
    assert!(
        error.starts_with("the database was still unavailable after"),
        "{error}"
    );
    assert!(
        error.contains(&format!("127.0.0.1:{}", proxy.port())),
        "names the database: {error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(proxy.refused() >= 2, "tried more than once");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(slack.open_sockets().is_empty());
}

#[tokio::test]
async fn a_database_that_does_not_exist_fails_start_at_once() {
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    // A server that answers, without the database asked for: a Postgres case.
    let db = TestDb::postgres().await;
    let mut missing = url::Url::parse(&db.url).unwrap();
    missing.set_path("/janus_no_such_database");
    let config = config(&slack, &db, missing.as_str());
    let started = Instant::now();
    let error = match janus::app::start(&config, patient(Duration::from_secs(30))).await {
        Ok(_) => panic!("started on a database that does not exist"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.starts_with("cannot connect to the database at"),
        "{error}"
    );
    assert!(error.contains("janus_no_such_database"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed at once, not after retrying: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slack_answering_503_at_start_is_tried_again_until_it_answers() {
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let db = TestDb::create().await;
    slack.inject("auth.test", Fault::HttpStatus(503));
    slack.inject("auth.test", Fault::HttpStatus(503));
    let config = config(&slack, &db, &db.url.clone());
    let running = janus::app::start(&config, patient(Duration::from_secs(30)))
        .await
        .expect("janus starts once Slack answers");
    assert_eq!(slack.calls_to("auth.test").len(), 3, "two 503s, then ok");
    assert!(running.wait_connected(2, WAIT).await);
    running.stop().await.expect("clean stop");
}
