//! The Slack Web API client on its own, against the fake: deadlines, which
//! calls are sent again after a timeout, and 429s shared per method by every
//! clone of the client. Timeouts and budgets are shortened with
//! `SlackTuning`, so nothing here waits for the production defaults.

use std::sync::Arc;
use std::time::{Duration, Instant};

use janus::domain::ids::{ChannelId, MessageTs};
use janus::egress::{Egress, EgressSettings};
use janus::metrics::{Gauges, Metrics};
use janus::slack::{SlackApi, SlackError, SlackTuning};
use secrecy::SecretString;
use serde_json::json;
use url::Url;

use crate::support::closed_port::ClosedPort;
use crate::support::slack_fake::{self, FakeSlack, Fault};

/// An attempt's timeout in these tests: long enough for the fake on a busy
/// machine, short enough to meet it many times.
const ATTEMPT: Duration = Duration::from_millis(300);

/// Short timeouts; `budget` for the whole call.
fn tuning(budget: Duration) -> SlackTuning {
    SlackTuning {
        call_timeout: ATTEMPT,
        list_timeout: ATTEMPT,
        respond_timeout: ATTEMPT,
        effect_budget: budget,
    }
}

/// A client of the fake (or of any `api_url`), counting into `metrics`.
fn client_of(api_url: &str, tuning: SlackTuning, metrics: &Arc<Metrics>) -> SlackApi {
    janus::install_crypto_provider();
    SlackApi::new(
        &Url::parse(api_url).expect("api url"),
        &SecretString::from(slack_fake::BOT_TOKEN),
        &SecretString::from(slack_fake::APP_TOKEN),
        &Egress::new(&EgressSettings::default()),
    )
    .expect("client")
    .with_tuning(tuning)
    .with_metrics(metrics.clone())
}

/// A fake with a `#general` the bot is in, and a client of it.
async fn setup(tuning: SlackTuning) -> (FakeSlack, SlackApi, Arc<Metrics>, ChannelId) {
    let slack = FakeSlack::start().await;
    let general = ChannelId::parse(&slack.add_channel("general", true)).unwrap();
    let metrics = Arc::new(Metrics::new());
    let api = client_of(&slack.api_url(), tuning, &metrics);
    (slack, api, metrics, general)
}

/// One sample's value from `/metrics` text, if the series is there.
fn sample(metrics: &Metrics, series: &str) -> Option<f64> {
    let text = metrics.render(&Gauges::default());
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Until `series` reads `value`, or panics after 10 s. The client counts
/// (and records a 429's block) on its own tasks, with nothing to wait on.
async fn wait_for_sample(metrics: &Metrics, series: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(metrics, series) != Some(value) {
        assert!(
            Instant::now() < deadline,
            "{series} never reached {value}:\n{}",
            metrics.render(&Gauges::default())
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn post(api: &SlackApi, channel: &ChannelId, text: &str) -> Result<MessageTs, SlackError> {
    api.post_message(channel, text, &json!([]), None).await
}

#[tokio::test]
async fn a_chat_update_whose_first_attempt_hangs_is_timed_out_sent_again_and_lands() {
    let (slack, api, metrics, general) = setup(tuning(Duration::from_secs(30))).await;
    let ts = post(&api, &general, "old text").await.unwrap();
    slack.inject("chat.update", Fault::Hang);

    let started = Instant::now();
    api.update_message(&general, &ts, "new text", &json!([]))
        .await
        .expect("the second attempt lands");

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait for the default 15 s timeout: {:?}",
        started.elapsed()
    );
    let message = slack.message(general.as_str(), ts.as_str()).unwrap();
    assert_eq!(message.text.as_deref(), Some("new text"));
    assert_eq!(message.updated, 1, "applied once");
    assert_eq!(slack.calls_to("chat.update").len(), 2);
    assert_eq!(
        sample(
            &metrics,
            "janus_slack_timeouts_total{method=\"chat.update\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "janus_slack_api_calls_total{method=\"chat.update\",result=\"ok\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_chat_post_message_that_hangs_is_not_sent_again_and_says_it_timed_out() {
    let (slack, api, metrics, general) = setup(tuning(Duration::from_secs(30))).await;
    slack.inject("chat.postMessage", Fault::Hang);

    let started = Instant::now();
    let error = post(&api, &general, "maybe posted").await.unwrap_err();

    assert!(error.is_timeout(), "{error}");
    assert!(error.may_have_taken_effect(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(slack.calls_to("chat.postMessage").len(), 1, "sent once");
    assert_eq!(
        sample(
            &metrics,
            "janus_slack_timeouts_total{method=\"chat.postMessage\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "janus_slack_api_calls_total{method=\"chat.postMessage\",result=\"timeout\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_5xx_is_tried_again_for_chat_update_but_not_for_chat_post_message() {
    let (slack, api, _metrics, general) = setup(tuning(Duration::from_secs(30))).await;
    let ts = post(&api, &general, "old text").await.unwrap();
    slack.inject("chat.update", Fault::HttpStatus(503));
    slack.inject("chat.postMessage", Fault::HttpStatus(503));

    api.update_message(&general, &ts, "new text", &json!([]))
        .await
        .expect("the second attempt lands");
    let error = post(&api, &general, "again").await.unwrap_err();

    let message = slack.message(general.as_str(), ts.as_str()).unwrap();
    assert_eq!(message.text.as_deref(), Some("new text"));
    assert_eq!(slack.calls_to("chat.update").len(), 2);
    assert!(
        matches!(error, SlackError::Http { status: 503, .. }),
        "{error}"
    );
    assert!(error.may_have_taken_effect(), "{error}");
    assert_eq!(
        slack.calls_to("chat.postMessage").len(),
        2,
        "the setup post and one attempt"
    );
}

#[tokio::test]
async fn a_429_holds_back_every_caller_of_that_method_and_no_other() {
    let retry_after = Duration::from_secs(3);
    let (slack, api, metrics, general) = setup(tuning(Duration::from_secs(30))).await;
    slack.throttle("conversations.create", retry_after.as_secs(), 1);
    let other = api.clone();

    let first = tokio::spawn({
        let api = api.clone();
        async move { api.create_channel("inc-first", false).await }
    });
    // The 429 is answered and its block recorded before it is counted.
    wait_for_sample(
        &metrics,
        "janus_slack_rate_limited_total{method=\"conversations.create\"}",
        1.0,
    )
    .await;
    let second = tokio::spawn({
        let api = other.clone();
        async move { api.create_channel("inc-second", false).await }
    });

    let started = Instant::now();
    post(&other, &general, "not held back").await.unwrap();
    assert!(
        started.elapsed() < retry_after / 2,
        "another method did not wait for the block: {:?}",
        started.elapsed()
    );
    assert_eq!(
        slack.calls_to("conversations.create").len(),
        1,
        "no create sent during the block"
    );

    first
        .await
        .unwrap()
        .expect("the first create, after the block");
    second
        .await
        .unwrap()
        .expect("the second create, after the block");
    let creates = slack.calls_to("conversations.create");
    assert_eq!(creates.len(), 3, "one 429, then each once");
    assert!(
        creates[1].at - creates[0].at >= retry_after,
        "sent again {:?} after the 429",
        creates[1].at - creates[0].at
    );
    let names: Vec<Option<String>> = creates[1..].iter().map(|c| c.param("name")).collect();
    assert_eq!(
        names,
        [Some("inc-first".to_owned()), Some("inc-second".to_owned())],
        "in arrival order"
    );
    assert!(slack.channel_named("inc-first").is_some());
    assert!(slack.channel_named("inc-second").is_some());
}

#[tokio::test]
async fn a_method_throttled_past_the_budget_gives_up_at_the_budget_not_after_minutes() {
    let budget = Duration::from_secs(2);
    let (slack, api, metrics, _) = setup(tuning(budget)).await;
    slack.throttle("conversations.create", 1, 50);

    let started = Instant::now();
    let error = api.create_channel("inc-never", false).await.unwrap_err();

    assert!(matches!(error, SlackError::RateLimited { .. }), "{error}");
    assert!(!error.is_timeout() && !error.may_have_taken_effect());
    assert!(
        started.elapsed() < budget + Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let sent = slack.calls_to("conversations.create").len();
    assert!((2..=3).contains(&sent), "waited and tried again: {sent}");
    assert!(slack.channel_named("inc-never").is_none());
    assert_eq!(
        sample(
            &metrics,
            "janus_slack_api_calls_total{method=\"conversations.create\",result=\"ratelimited\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_the_budget_gives_up_at_once() {
    let (slack, api, _metrics, _) = setup(tuning(Duration::from_secs(5))).await;
    slack.throttle("conversations.create", 600, 1);

    let started = Instant::now();
    let error = api.create_channel("inc-never", false).await.unwrap_err();
    // And a call that finds the method blocked past its budget sends nothing.
    let again = api
        .create_channel("inc-never-again", false)
        .await
        .unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "did not wait for a Retry-After it could not outlast: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, SlackError::RateLimited { attempts: 1, .. }),
        "{error}"
    );
    assert!(
        matches!(again, SlackError::RateLimited { attempts: 0, .. }),
        "{again}"
    );
    assert_eq!(slack.calls_to("conversations.create").len(), 1);
}

#[tokio::test]
async fn a_chat_update_that_keeps_hanging_gives_up_with_a_timeout_at_its_budget() {
    let budget = Duration::from_millis(1500);
    let (slack, api, metrics, general) = setup(tuning(budget)).await;
    let ts = post(&api, &general, "old text").await.unwrap();
    for _ in 0..20 {
        slack.inject("chat.update", Fault::Hang);
    }

    let started = Instant::now();
    let error = api
        .update_message(&general, &ts, "new text", &json!([]))
        .await
        .unwrap_err();

    assert!(error.is_timeout(), "{error}");
    assert!(
        started.elapsed() < budget + Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let sent = slack.calls_to("chat.update").len();
    assert!(sent >= 2, "tried again within the budget: {sent}");
    assert_eq!(
        sample(
            &metrics,
            "janus_slack_timeouts_total{method=\"chat.update\"}"
        ),
        Some(sent as f64)
    );
}

#[tokio::test]
async fn a_response_url_that_hangs_times_out_and_is_posted_once() {
    let (slack, api, metrics, _) = setup(tuning(Duration::from_secs(30))).await;
    slack.inject("response_url", Fault::Hang);
    let url = Url::parse(&slack.response_url()).unwrap();

    let error = api
        .respond(&url, &json!({"text": "done"}))
        .await
        .unwrap_err();

    assert!(error.is_timeout(), "{error}");
    assert_eq!(slack.calls_to("response_url").len(), 1);
    assert_eq!(
        sample(
            &metrics,
            "janus_slack_timeouts_total{method=\"response_url\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_refused_connection_is_reported_as_not_sent_without_retrying() {
    let closed = ClosedPort::new();
    let metrics = Arc::new(Metrics::new());
    let api = client_of(
        &format!("{}/api/", closed.url()),
        tuning(Duration::from_secs(30)),
        &metrics,
    );
    let channel = ChannelId::parse("C0123456789").unwrap();
    let ts = MessageTs::parse("1700000000.000100").unwrap();

    let started = Instant::now();
    let error = api
        .update_message(&channel, &ts, "text", &json!([]))
        .await
        .unwrap_err();

    assert!(
        matches!(error, SlackError::Transport { sent: false, .. }),
        "{error:?}"
    );
    assert!(!error.may_have_taken_effect());
    // Four pauses between five attempts would add up to 1.5 s at least.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
