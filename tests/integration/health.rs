//! `/healthz` and `/metrics`, as an operator's load balancer and Prometheus
//! see them: plain HTTP to the address Janus says it bound.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::declare::{declare, workspace};
use crate::payloads::{self, BOT};
use crate::support::db_proxy::DbProxy;
use crate::support::harness::TestApp;
use crate::support::slack_fake::{self, Fault};

const WAIT: Duration = Duration::from_secs(10);
/// `health.listen` on port 0: loopback, a free port.
const LISTEN: (&str, &str) = ("JANUS_HEALTH__LISTEN", "0");

pub(crate) struct Answer {
    status: u16,
    content_type: String,
    pub(crate) body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn addr(app: &TestApp) -> SocketAddr {
    app.running
        .as_ref()
        .expect("running")
        .health_addr()
        .expect("health.listen is set, so Janus says where it listens")
}

async fn request(app: &TestApp, method: reqwest::Method, path: &str) -> Answer {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .expect("http client");
    let response = client
        .request(method, format!("http://{}{path}", addr(app)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.text().await.expect("body");
    Answer {
        status,
        content_type,
        body,
    }
}

pub(crate) async fn get(app: &TestApp, path: &str) -> Answer {
    request(app, reqwest::Method::GET, path).await
}

/// GETs `path` until `check` accepts the answer; panics with the last one.
async fn get_until(
    app: &TestApp,
    path: &str,
    what: &str,
    check: impl Fn(&Answer) -> bool,
) -> Answer {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = get(app, path).await;
        if check(&answer) {
            return answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {} {}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the sample whose name and labels are exactly `series`
/// (e.g. `janus_open_incidents` or `x_total{type="hello"}`).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.parse().expect("a number"))
    })
}

fn help_mention(channel: &str, event_id: &str) -> Value {
    let payload = payloads::app_mention(channel, &format!("<@{BOT}> help"), event_id, None);
    slack_fake::envelope("events_api", payload, false)
}

#[tokio::test]
async fn without_health_listen_no_port_is_opened() {
    let app = TestApp::spawn().await;
    assert_eq!(app.running.as_ref().unwrap().health_addr(), None);
}

#[tokio::test]
async fn healthz_is_ok_once_sockets_are_connected_and_the_database_answers() {
    let app = TestApp::spawn_with(&[LISTEN]).await;
    let bound = addr(&app);
    assert!(
        bound.ip().is_loopback(),
        "a bare port binds to 127.0.0.1: {bound}"
    );
    assert_ne!(bound.port(), 0, "the port actually bound is reported");

    let answer = get(&app, "/healthz").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.content_type.starts_with("application/json"));
    let body = answer.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["sockets_connected"], 2);
    assert_eq!(body["database"]["ok"], true);
    assert!(
        body["database"]["latency_ms"].as_f64().unwrap() >= 0.0,
        "{body}"
    );
    assert_eq!(
        body["last_envelope_age_seconds"],
        Value::Null,
        "no envelope yet"
    );
    assert!(body.get("reasons").is_none(), "{body}");

    let general = app.slack.add_channel("general", true);
    let envelope = help_mention(&general, "Ev0HEALTH1");
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
    let body = get(&app, "/healthz").await.json();
    let age = body["last_envelope_age_seconds"]
        .as_f64()
        .expect("a number now");
    assert!((0.0..5.0).contains(&age), "{body}");
}

#[tokio::test]
async fn healthz_is_unavailable_while_the_database_is_cut_and_ok_once_it_is_back_never_naming_it() {
    let mut app = TestApp::spawn_on_postgres(&[]).await;
    let proxy = DbProxy::start(app.db.server()).await;
    let through = app.db.url_via(proxy.port());
    app.restart_with(&[LISTEN, ("DATABASE_URL", &through)])
        .await;
    get_until(&app, "/healthz", "healthy before the outage", |a| {
        a.status == 200
    })
    .await;

    proxy.go_down();
    let answer = get_until(&app, "/healthz", "unhealthy without a database", |a| {
        a.status == 503
    })
    .await;
    let body = answer.json();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"]["ok"], false);
    assert_eq!(body["sockets_connected"], 2, "the sockets are fine");
    let reasons = body["reasons"].as_array().expect("reasons");
    assert_eq!(reasons.len(), 1, "{body}");
    assert!(
        reasons[0].as_str().unwrap().starts_with("database"),
        "{body}"
    );
    // Which check failed, not the driver's words: no host, port, database
    // name or connection error for whoever can reach the port.
    let text = body.to_string();
    let database = app.db.url.rsplit('/').next().unwrap().to_owned();
    for internal in [
        "127.0.0.1".to_owned(),
        proxy.port().to_string(),
        database,
        "connection".to_owned(),
        "refused".to_owned(),
        "sqlx".to_owned(),
        "database error".to_owned(),
    ] {
        assert!(!text.contains(&internal), "{internal:?} in {text}");
    }

    proxy.come_back();
    let body = get_until(&app, "/healthz", "healthy once the database is back", |a| {
        a.status == 200
    })
    .await
    .json();
    assert_eq!(body["database"]["ok"], true);
}

#[tokio::test]
async fn healthz_is_unavailable_while_no_socket_is_connected() {
    let app = TestApp::spawn_with(&[LISTEN, ("JANUS_SLACK__SOCKETS", "1")]).await;
    get_until(&app, "/healthz", "healthy at first", |a| a.status == 200).await;

    // Slack drops the socket and refuses every new one for now.
    app.slack.reject_next_handshakes(usize::MAX);
    let only = app.slack.open_sockets()[0];
    app.slack.close(only).await;
    let body = get_until(&app, "/healthz", "unhealthy without a socket", |a| {
        a.status == 503
    })
    .await
    .json();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["sockets_connected"], 0);
    assert_eq!(body["database"]["ok"], true, "the database is fine");
    let reasons: Vec<&str> = body["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(reasons, ["no socket connected to Slack"], "{body}");

    app.slack.reject_next_handshakes(0);
    get_until(&app, "/healthz", "healthy once a socket is back", |a| {
        a.status == 200
    })
    .await;
}

#[tokio::test]
async fn metrics_show_envelopes_by_type_ack_latency_api_calls_and_open_incidents() {
    let (app, general, _digest) = workspace(&[LISTEN]).await;
    declare(&app, &general, "www down").await;
    let envelope = help_mention(&general, "Ev0METRIC1");
    app.slack.send_envelope(envelope).await;
    app.slack
        .wait_for("the help answer", WAIT, |s| {
            (!s.messages(&general).is_empty()).then_some(())
        })
        .await;

    let acked = app.slack.acks().len() as f64;
    assert_eq!(acked, 2.0, "one slash command, one event");
    // The histogram is written just after the ack leaves, and a post is
    // counted once its answer is back: poll until both have caught up.
    let posts_ok = "janus_slack_api_calls_total{method=\"chat.postMessage\",result=\"ok\"}";
    let answer = get_until(
        &app,
        "/metrics",
        "every ack timed, every post counted",
        |a| {
            let posted = app.slack.calls_to("chat.postMessage").len() as f64;
            sample(&a.body, "janus_ack_latency_seconds_count") == Some(acked)
                && sample(&a.body, posts_ok) == Some(posted)
        },
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = &answer.body;
    for family in [
        "janus_envelopes_received_total counter",
        "janus_ack_latency_seconds histogram",
        "janus_slack_api_calls_total counter",
        "janus_slack_rate_limited_total counter",
        "janus_socket_reconnects_total counter",
        "janus_sockets_connected gauge",
        "janus_open_incidents gauge",
    ] {
        let name = family.split(' ').next().unwrap();
        assert!(
            text.contains(&format!("# TYPE {family}\n")),
            "{family}:\n{text}"
        );
        assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
    }

    let received = |kind: &str| {
        sample(
            text,
            &format!("janus_envelopes_received_total{{type=\"{kind}\"}}"),
        )
    };
    assert_eq!(received("slash_commands"), Some(1.0), "{text}");
    assert_eq!(received("events_api"), Some(1.0), "{text}");
    assert_eq!(received("interactive"), Some(0.0), "{text}");
    assert_eq!(received("hello"), Some(2.0), "one per socket:\n{text}");

    // Buckets are cumulative, end at +Inf = count, and the sum is the
    // total of a few fast acks.
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("janus_ack_latency_seconds_bucket{le=\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        buckets.len(),
        14,
        "13 bounds from 0.0001 to 1, then +Inf:\n{text}"
    );
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(
        sample(text, "janus_ack_latency_seconds_bucket{le=\"+Inf\"}"),
        Some(acked)
    );
    assert!(sample(text, "janus_ack_latency_seconds_bucket{le=\"0.0001\"}").is_some());
    assert!(sample(text, "janus_ack_latency_seconds_bucket{le=\"1\"}").is_some());
    let sum = sample(text, "janus_ack_latency_seconds_sum").expect("a sum");
    assert!(sum > 0.0 && sum < acked, "sum {sum}");

    let calls = |method: &str, result: &str| {
        sample(
            text,
            &format!("janus_slack_api_calls_total{{method=\"{method}\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(calls("conversations.create", "ok"), Some(1.0), "{text}");
    assert_eq!(calls("apps.connections.open", "ok"), Some(2.0), "{text}");
    assert_eq!(calls("auth.test", "ok"), Some(1.0), "{text}");
    assert!(
        calls("chat.postMessage", "ok") >= Some(2.0),
        "control message and help at least:\n{text}"
    );

    assert_eq!(sample(text, "janus_open_incidents"), Some(1.0), "{text}");
    assert_eq!(sample(text, "janus_sockets_connected"), Some(2.0), "{text}");
    assert_eq!(
        sample(text, "janus_socket_reconnects_total"),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test]
async fn a_429_is_counted_for_its_method_and_the_retried_call_as_ok() {
    let app = TestApp::spawn_with(&[LISTEN]).await;
    let general = app.slack.add_channel("general", true);
    app.slack.inject(
        "chat.postMessage",
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    app.slack
        .send_envelope(help_mention(&general, "Ev0METRIC2"))
        .await;
    let answer = get_until(&app, "/metrics", "the retried post counted", |a| {
        sample(
            &a.body,
            "janus_slack_api_calls_total{method=\"chat.postMessage\",result=\"ok\"}",
        ) == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(
            &answer.body,
            "janus_slack_rate_limited_total{method=\"chat.postMessage\"}"
        ),
        Some(1.0),
        "{}",
        answer.body
    );
    assert_eq!(app.slack.calls_to("chat.postMessage").len(), 2);
}

#[tokio::test]
async fn a_slack_error_is_counted_under_its_code() {
    let app = TestApp::spawn_with(&[LISTEN]).await;
    let general = app.slack.add_channel("general", true);
    app.slack
        .inject("chat.postMessage", Fault::error("fatal_error"));
    app.slack
        .send_envelope(help_mention(&general, "Ev0METRIC3"))
        .await;
    let answer = get_until(&app, "/metrics", "the failed post counted", |a| {
        sample(
            &a.body,
            "janus_slack_api_calls_total{method=\"chat.postMessage\",result=\"fatal_error\"}",
        )
        .is_some()
    })
    .await;
    assert_eq!(
        sample(
            &answer.body,
            "janus_slack_rate_limited_total{method=\"chat.postMessage\"}"
        ),
        None,
        "no 429, no rate-limit series"
    );
}

#[tokio::test]
async fn a_refresh_requested_disconnect_counts_one_reconnect() {
    let app = TestApp::spawn_with(&[LISTEN, ("JANUS_SLACK__SOCKETS", "1")]).await;
    let text = get(&app, "/metrics").await.body;
    assert_eq!(
        sample(&text, "janus_socket_reconnects_total"),
        Some(0.0),
        "{text}"
    );

    let old = app.slack.open_sockets()[0];
    app.slack.disconnect(old, "refresh_requested").await;
    app.slack.wait_socket_closed(old, WAIT).await;
    let answer = get_until(&app, "/metrics", "the replacement counted", |a| {
        sample(&a.body, "janus_socket_reconnects_total") == Some(1.0)
    })
    .await;
    let text = &answer.body;
    assert_eq!(
        sample(text, "janus_envelopes_received_total{type=\"disconnect\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(text, "janus_envelopes_received_total{type=\"hello\"}"),
        Some(2.0),
        "the first socket's hello and its replacement's:\n{text}"
    );
    assert_eq!(sample(text, "janus_sockets_connected"), Some(1.0), "{text}");
}

#[tokio::test]
async fn other_paths_are_not_found_and_other_methods_not_allowed() {
    let app = TestApp::spawn_with(&[LISTEN]).await;
    for path in ["/", "/health", "/metrics/extra", "/healthz/"] {
        assert_eq!(get(&app, path).await.status, 404, "{path}");
    }
    let posted = request(&app, reqwest::Method::POST, "/metrics").await;
    assert_eq!(posted.status, 405);
}

#[tokio::test]
async fn a_taken_health_port_stops_the_start_naming_the_key() {
    let app = TestApp::spawn().await;
    let taken = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = taken.local_addr().unwrap().to_string();
    let config = app.config(&[("JANUS_HEALTH__LISTEN", &addr)]);
    let options = crate::support::harness::fast_options();
    let error = match janus::app::start(&config, options).await {
        Ok(_) => panic!("started on a port already in use"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("health.listen"), "{error}");
    assert!(error.contains(&addr), "{error}");
}
