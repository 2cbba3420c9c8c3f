//! The third-party status snapshot: `ProviderClient` against the providers
//! fake on loopback.

use std::time::Duration;

use chrono::Utc;
use janus::config::ProviderConfig;
use janus::providers::{
    DEFAULT_TIMEOUT, FetchError, Level, MAX_BODY_BYTES, ProviderClient, ProviderResult,
    ProviderStatus, view,
};
use url::Url;

use crate::support::providers_fake::{ProvidersFake, Response, STATUSPAGE_PATH};

fn client() -> ProviderClient {
    janus::install_crypto_provider();
    ProviderClient::new(DEFAULT_TIMEOUT).expect("a client")
}

fn client_with_timeout(timeout: Duration) -> ProviderClient {
    janus::install_crypto_provider();
    ProviderClient::new(timeout).expect("a client")
}

fn answered(result: &ProviderResult) -> &ProviderStatus {
    match result {
        ProviderResult::Answered(status) => status,
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn failure(result: &ProviderResult) -> &FetchError {
    match result {
        ProviderResult::Failed { reason, .. } => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

async fn one(client: &ProviderClient, provider: ProviderConfig) -> ProviderResult {
    let mut results = client.snapshot(&[provider]).await;
    assert_eq!(results.len(), 1);
    results.remove(0)
}

#[tokio::test]
async fn the_builtins_are_read_in_the_configured_order() {
    let fake = ProvidersFake::start().await;
    let providers = ["slack", "github", "heroku"].map(|p| fake.provider(p));

    let results = client().snapshot(&providers).await;

    let rows: Vec<_> = results.iter().map(|r| (r.name(), r.level())).collect();
    assert_eq!(
        rows,
        [
            ("Slack", Some(Level::Operational)),
            ("GitHub", Some(Level::Operational)),
            ("Heroku", Some(Level::Minor)),
        ]
    );
    let paths: Vec<_> = fake.requests().into_iter().map(|r| r.path).collect();
    for path in [
        "/api/v2.0.0/current",
        "/api/v2/summary.json",
        "/api/v4/current-status",
    ] {
        assert!(paths.iter().any(|p| p == path), "{path} in {paths:?}");
    }
    // Heroku's yellow Apps makes the whole snapshot minor.
    assert_eq!(view(&results, Utc::now()).worst.level, "minor");
}

#[tokio::test]
async fn a_degraded_github_shows_degraded_with_its_incident() {
    let fake = ProvidersFake::start().await;
    fake.set(
        "github",
        Response::fixture("statuspage_v2_summary.github.incident.json"),
    );

    let result = one(&client(), fake.provider("github")).await;

    let status = answered(&result);
    assert_eq!(status.level, Level::Major);
    assert!(
        status.summary.starts_with("Partial System Outage"),
        "{}",
        status.summary
    );
    assert_eq!(status.incidents[0].title, "Incident with Pages and Actions");
    assert_eq!(
        status.incidents[0].url.as_ref().map(Url::as_str),
        Some("https://stspg.io/mc6sr407p78b")
    );
}

#[tokio::test]
async fn a_dead_provider_is_a_warning_row() {
    let port = crate::support::closed_port::ClosedPort::new();
    let dead = ProviderConfig {
        name: "github".into(),
        url: Some(port.url().parse().unwrap()),
    };

    let result = one(&client(), dead).await;

    assert_eq!(result.name(), "GitHub");
    assert!(result.is_warning());
    assert_eq!(failure(&result), &FetchError::Connect);
    let v = view(&[result], Utc::now());
    assert_eq!(v.providers[0].summary.as_str(), "could not connect");
    assert_eq!(v.worst.level, "unknown");
}

#[tokio::test]
async fn a_slow_provider_times_out_as_a_warning_row() {
    let fake = ProvidersFake::start().await;
    fake.set(
        "github",
        Response::fixture("statuspage_v2_summary.github.ok.json").delayed(Duration::from_secs(3)),
    );
    let client = client_with_timeout(Duration::from_millis(200));

    let result = one(&client, fake.provider("github")).await;

    assert_eq!(
        failure(&result),
        &FetchError::Timeout(Duration::from_millis(200))
    );
    assert_eq!(failure(&result).to_string(), "no answer in 0.2 s");
}

#[tokio::test]
async fn one_failing_provider_leaves_the_others_intact() {
    let fake = ProvidersFake::start().await;
    fake.set("heroku", Response::Status(503));

    let results = client()
        .snapshot(&[fake.provider("github"), fake.provider("heroku")])
        .await;

    assert_eq!(answered(&results[0]).level, Level::Operational);
    assert_eq!(failure(&results[1]), &FetchError::Status(503));
    assert_eq!(failure(&results[1]).to_string(), "answered HTTP 503");
}

#[tokio::test]
async fn an_oversized_body_is_refused_whether_declared_or_streamed() {
    let fake = ProvidersFake::start().await;
    let client = client();
    let too_big = MAX_BODY_BYTES + 1;
    for (prefix, response) in [
        ("/declared", Response::Json(" ".repeat(too_big))),
        ("/streamed", Response::Huge(64 * MAX_BODY_BYTES)),
    ] {
        fake.set(&format!("{prefix}{STATUSPAGE_PATH}"), response);
        let result = one(&client, fake.provider_at("example", prefix)).await;
        assert_eq!(
            failure(&result),
            &FetchError::TooLarge(MAX_BODY_BYTES),
            "{prefix}"
        );
    }
    // Exactly at the cap is fine (and then not a summary: only spaces).
    fake.set(
        &format!("/at{STATUSPAGE_PATH}"),
        Response::Huge(MAX_BODY_BYTES),
    );
    let result = one(&client, fake.provider_at("example", "/at")).await;
    assert!(matches!(failure(&result), FetchError::Unparseable { .. }));
}

#[tokio::test]
async fn an_answer_that_is_not_a_status_is_a_warning_row() {
    let fake = ProvidersFake::start().await;
    fake.set("github", Response::Json("<html>Sign in</html>".into()));
    fake.set("slack", Response::Json("{\"status\": 42}".into()));

    let results = client()
        .snapshot(&[fake.provider("github"), fake.provider("slack")])
        .await;

    for result in &results {
        assert!(
            matches!(failure(result), FetchError::Unparseable { .. }),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn no_credentials_are_ever_sent_even_when_the_url_carries_them() {
    let fake = ProvidersFake::start().await;
    let port = fake.base_url().rsplit(':').next().unwrap().to_owned();
    let with_userinfo = ProviderConfig {
        name: "github".into(),
        url: Some(
            format!("http://user:secret@127.0.0.1:{port}/?token=x")
                .parse()
                .unwrap(),
        ),
    };
    // And through a redirect, where clients like to re-send what they had.
    fake.set(
        "/moved/api/v4/current-status",
        Response::Redirect("/api/v4/current-status".into()),
    );

    let results = client()
        .snapshot(&[
            with_userinfo,
            fake.provider_at("heroku", "/moved"),
            fake.provider("slack"),
        ])
        .await;

    assert!(results.iter().all(|r| !r.is_warning()), "{results:?}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    for request in &requests {
        assert_eq!(request.method, "GET");
        for header in ["authorization", "proxy-authorization", "cookie", "referer"] {
            assert_eq!(request.header(header), None, "{header} in {request:?}");
        }
        assert_eq!(
            request.header("user-agent"),
            Some(concat!("janus/", env!("CARGO_PKG_VERSION")))
        );
        assert!(!request.path.contains("token"), "{request:?}");
    }
}

#[tokio::test]
async fn redirects_are_followed_but_not_forever() {
    let fake = ProvidersFake::start().await;
    let loop_path = format!("/loop{STATUSPAGE_PATH}");
    fake.set(&loop_path, Response::Redirect(loop_path.clone()));

    let result = one(&client(), fake.provider_at("example", "/loop")).await;

    assert_eq!(failure(&result), &FetchError::Redirects);
    // The first request and three redirects, then we stop.
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn providers_are_fetched_at_the_same_time() {
    let fake = ProvidersFake::start().await;
    let slow = || Response::fixture("statuspage_v2_summary.github.ok.json");
    // The first is slower, so finishing order differs from configured order.
    fake.set(
        &format!("/a{STATUSPAGE_PATH}"),
        slow().delayed(Duration::from_millis(600)),
    );
    fake.set(
        &format!("/b{STATUSPAGE_PATH}"),
        slow().delayed(Duration::from_millis(300)),
    );

    let results = client()
        .snapshot(&[
            fake.provider_at("alpha", "/a"),
            fake.provider_at("beta", "/b"),
        ])
        .await;

    let names: Vec<_> = results.iter().map(ProviderResult::name).collect();
    assert_eq!(names, ["Alpha", "Beta"]);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    // Both were in flight at once: each started before the other finished.
    let last_start = requests.iter().map(|r| r.started).max().unwrap();
    let first_end = requests.iter().map(|r| r.finished.unwrap()).min().unwrap();
    assert!(last_start < first_end, "{requests:?}");
}
