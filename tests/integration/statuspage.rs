//! The Statuspage client against the fake Manage API: incidents created,
//! updated and resolved as a page shows them, the rate limit kept, every
//! failure turned into a sentence, and the key kept to its one header.
//! No Slack and no database here.

use std::time::Duration;

use janus::config::StatuspageConfig;
use janus::statuspage::{
    ClientOptions, ComponentId, ComponentStatus, Impact, IncidentId, IncidentStatus, NewIncident,
    StatuspageClient, StatuspageError,
};
use serde_json::json;

use crate::support::statuspage_fake::{API_KEY, FakeStatuspage, MIN_GAP, PAGE_ID, Recorded};

// Components of the sample page.
const API: &str = "b13yz5g2cw10";
const DASHBOARD: &str = "a9m0dmrhk3zq";
const INGEST_US: &str = "r7p1t0wq2mfs"; // degraded_performance in the sample
const WEBHOOKS: &str = "c0v8zq3n5lre";

async fn start() -> (FakeStatuspage, StatuspageClient) {
    let fake = FakeStatuspage::start().await;
    let client = StatuspageClient::new(&fake.config()).expect("client");
    (fake, client)
}

fn new_incident(janus_incident_id: i64) -> NewIncident {
    NewIncident {
        name: "Elevated API error rates".into(),
        status: IncidentStatus::Investigating,
        body: "We are investigating elevated 5xx error rates on the public API.".into(),
        impact: Impact::Major,
        components: vec![(ComponentId::from(API), ComponentStatus::PartialOutage)],
        deliver_notifications: false,
        janus_incident_id,
        create_key: None,
    }
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/statuspage/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The gaps between arrivals, as the fake recorded them.
fn gaps(requests: &[Recorded]) -> Vec<Duration> {
    requests.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[tokio::test]
async fn create_update_resolve_restores_only_the_components_the_incident_touched() {
    let (fake, client) = start().await;
    // Someone else's trouble, which resolving ours must leave alone.
    fake.set_component_status(WEBHOOKS, "major_outage");

    let created = client.create_incident(&new_incident(42)).await.unwrap();
    assert_eq!(created.status, IncidentStatus::Investigating);
    assert_eq!(created.impact, Impact::Major);
    assert_eq!(created.janus_incident_id, Some(42));
    assert!(created.shortlink.is_some());
    assert_eq!(created.components[0].status, ComponentStatus::PartialOutage);
    assert_eq!(fake.component_status(API).unwrap(), "partial_outage");
    let post = &fake.requests_to("POST", "/incidents")[0];
    assert_eq!(post.path, format!("/v1/pages/{PAGE_ID}/incidents"));
    assert_eq!(
        post.json(),
        json!({"incident": {
            "name": "Elevated API error rates",
            "status": "investigating",
            "body": "We are investigating elevated 5xx error rates on the public API.",
            "impact_override": "major",
            "deliver_notifications": false,
            "component_ids": [API],
            "components": {API: "partial_outage"},
            "metadata": {"janus": {"incident_id": 42}},
        }})
    );

    let updated = client
        .update_incident(
            &created.id,
            IncidentStatus::Monitoring,
            "A fix is deployed; error rates are recovering.",
            &[
                (API.into(), ComponentStatus::DegradedPerformance),
                (DASHBOARD.into(), ComponentStatus::DegradedPerformance),
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(updated.status, IncidentStatus::Monitoring);
    assert_eq!(
        updated.latest_update().unwrap().body,
        "A fix is deployed; error rates are recovering."
    );
    assert_eq!(fake.component_status(API).unwrap(), "degraded_performance");
    assert_eq!(
        fake.component_status(DASHBOARD).unwrap(),
        "degraded_performance"
    );

    let resolved = client
        .resolve_incident(
            &created.id,
            "This incident has been resolved.",
            &[API.into(), DASHBOARD.into()],
            false,
        )
        .await
        .unwrap();
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    assert_eq!(resolved.incident_updates.len(), 3);
    assert_eq!(fake.component_status(API).unwrap(), "operational");
    assert_eq!(fake.component_status(DASHBOARD).unwrap(), "operational");
    assert_eq!(
        fake.component_status(INGEST_US).unwrap(),
        "degraded_performance"
    );
    assert_eq!(fake.component_status(WEBHOOKS).unwrap(), "major_outage");
    let patches = fake.requests_to("PATCH", created.id.as_str());
    assert_eq!(patches.len(), 2);
    assert_eq!(
        patches[1].json()["incident"]["components"],
        json!({API: "operational", DASHBOARD: "operational"})
    );

    assert_eq!(client.find_by_janus_id(42).await.unwrap(), None);
}

#[tokio::test]
async fn components_are_paged_by_100_without_groups_and_cached() {
    let (fake, client) = start().await;
    let expected: Vec<String> = fake
        .components()
        .iter()
        .filter(|c| c["group"] == false)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(fake.components().len() > 100, "the fake must make us page");

    let components = client.components_cached().await.unwrap();
    let names: Vec<String> = components.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, expected);
    assert!(names.contains(&"Ingest (US)".to_owned()));
    assert!(!names.contains(&"Data Pipeline".to_owned()), "a group");
    let ingest = components
        .iter()
        .find(|c| c.id.as_str() == INGEST_US)
        .unwrap();
    assert_eq!(ingest.status, ComponentStatus::DegradedPerformance);

    let requests = fake.requests();
    let pages: Vec<_> = requests
        .iter()
        .map(|r| (r.param("page").unwrap(), r.param("per_page").unwrap()))
        .collect();
    assert_eq!(
        pages,
        [("1".into(), "100".into()), ("2".into(), "100".into())]
    );
    assert!(
        requests
            .iter()
            .all(|r| r.path == format!("/v1/pages/{PAGE_ID}/components"))
    );

    assert_eq!(client.components_cached().await.unwrap(), components);
    assert_eq!(fake.requests().len(), 2, "the second call hit the API");

    client.components().await.unwrap();
    assert_eq!(fake.requests().len(), 4, "a forced refresh asks again");
}

#[tokio::test]
async fn cached_components_reflect_what_janus_itself_changed() {
    let (fake, client) = start().await;
    client.components_cached().await.unwrap();
    client.create_incident(&new_incident(1)).await.unwrap();
    let cached = client.components_cached().await.unwrap();
    let api = cached.iter().find(|c| c.id.as_str() == API).unwrap();
    assert_eq!(api.status, ComponentStatus::PartialOutage);
    assert_eq!(fake.requests().len(), 3, "two pages and one create");
}

async fn waits_out(status: u16, retry_after: Option<&str>, expected_wait: Duration) {
    let (fake, client) = start().await;
    let headers: Vec<(&str, &str)> = retry_after
        .map(|v| ("Retry-After", v))
        .into_iter()
        .collect();
    fake.fail_next_with(status, &headers, r#"{"error":"Rate limit exceeded"}"#);
    client.unresolved_incidents().await.unwrap();
    let requests = fake.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [status, 200]);
    assert!(
        gaps(&requests)[0] >= expected_wait,
        "retried after {:?}",
        gaps(&requests)[0]
    );
}

#[tokio::test]
async fn a_420_is_waited_out_for_its_retry_after() {
    waits_out(420, Some("1"), Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_429_is_waited_out_for_its_retry_after() {
    waits_out(429, Some("2"), Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_429_without_retry_after_waits_a_second() {
    waits_out(429, None, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_create_that_is_rate_limited_is_sent_again_since_it_was_not_processed() {
    let (fake, client) = start().await;
    fake.fail_next_with(420, &[("Retry-After", "1")], "{}");
    client.create_incident(&new_incident(5)).await.unwrap();
    assert_eq!(fake.requests_to("POST", "/incidents").len(), 2);
    assert_eq!(fake.incidents().len(), 1);
}

#[tokio::test]
async fn a_rate_limit_that_lasts_too_long_is_reported() {
    let (fake, client) = start().await;
    fake.fail_next_with(429, &[("Retry-After", "3600")], "{}");
    let error = client.unresolved_incidents().await.unwrap_err();
    assert!(
        matches!(error, StatuspageError::RateLimited { .. }),
        "{error:?}"
    );
    assert!(error.user_message().contains("rate limiting"));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn the_client_never_sends_more_than_one_request_a_second() {
    let (fake, client) = start().await;
    let (a, b, c, d) = (
        client.clone(),
        client.clone(),
        client.clone(),
        client.clone(),
    );
    let (components, unresolved, created, found) = tokio::join!(
        async move { a.components().await },
        async move { b.unresolved_incidents().await },
        async move { c.create_incident(&new_incident(9)).await },
        async move { d.find_by_janus_id(9).await },
    );
    components.unwrap();
    unresolved.unwrap();
    created.unwrap();
    found.unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 5);
    assert!(
        requests.iter().all(|r| r.status != 420),
        "the fake had to refuse one: {:?}",
        requests.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for gap in gaps(&requests) {
        assert!(gap >= MIN_GAP, "two requests {gap:?} apart");
    }
}

#[tokio::test]
async fn each_422_body_shape_reads_as_a_sentence() {
    let cases = [
        (
            "error_422.array.json",
            "Statuspage rejected it: Name can't be blank.",
        ),
        (
            "error_422.fieldmap.json",
            "Statuspage rejected it: status is not included in the list.",
        ),
        (
            "error_422.openapi_message.json",
            "Statuspage rejected it: Unprocessable entity.",
        ),
        (
            "error_401.json", // the plain `{"error": "…"}` shape, sent as a 422
            "Statuspage rejected it: Could not authenticate.",
        ),
    ];
    for (file, sentence) in cases {
        // A fresh client each time: no rate-limit wait between cases.
        let (fake, client) = start().await;
        fake.fail_next(422, &fixture(file));
        let error = client.create_incident(&new_incident(1)).await.unwrap_err();
        assert!(
            matches!(error, StatuspageError::Rejected { status: 422, .. }),
            "{file}: {error:?}"
        );
        assert_eq!(error.user_message(), sentence, "{file}");
    }
}

#[tokio::test]
async fn an_unknown_component_is_rejected_in_statuspages_words() {
    let (fake, client) = start().await;
    let mut incident = new_incident(3);
    incident.components = vec![("nosuchthing0".into(), ComponentStatus::MajorOutage)];
    let error = client.create_incident(&incident).await.unwrap_err();
    assert_eq!(
        error.user_message(),
        "Statuspage rejected it: Component nosuchthing0 not found."
    );
    assert!(fake.incidents().is_empty());
}

#[tokio::test]
async fn a_name_statuspage_would_refuse_is_not_sent() {
    let (fake, client) = start().await;
    let mut incident = new_incident(3);
    incident.name = "x".repeat(256);
    let error = client.create_incident(&incident).await.unwrap_err();
    assert_eq!(
        error.user_message(),
        "the incident name is longer than 255 characters."
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_refused_key_tells_people_to_ask_an_admin_and_the_log_which_setting() {
    let fake = FakeStatuspage::start().await;
    let client = StatuspageClient::new(&fake.config_with("spk-wrong-key", PAGE_ID)).unwrap();
    let error = client.components().await.unwrap_err();
    assert!(error.is_auth_failure(), "{error:?}");
    assert_eq!(
        error.user_message(),
        "Statuspage refused Janus's API key, so nothing was published. Ask your Janus admin."
    );
    assert_eq!(
        error.setting(),
        Some("statuspage.api_key (STATUSPAGE_API_KEY)"),
        "the log line names the setting"
    );
    assert_eq!(fake.requests().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn an_unknown_page_or_incident_tells_people_to_ask_an_admin_and_the_log_which_setting() {
    let fake = FakeStatuspage::start().await;
    fake.set_rate_limit(false); // two clients, each keeping its own pace
    let wrong_page = StatuspageClient::new(&fake.config_with(API_KEY, "nosuchpage")).unwrap();
    let error = wrong_page.components().await.unwrap_err();
    assert!(
        matches!(error, StatuspageError::NotFound { .. }),
        "{error:?}"
    );
    assert!(
        error
            .user_message()
            .contains("does not know the page or incident")
    );
    assert!(!error.user_message().contains("STATUSPAGE_"));
    assert_eq!(
        error.setting(),
        Some("statuspage.page_id (STATUSPAGE_PAGE_ID)")
    );

    let client = StatuspageClient::new(&fake.config()).unwrap();
    let error = client
        .update_incident(
            &IncidentId::from("nosuchincid0"),
            IncidentStatus::Identified,
            "Found it.",
            &[],
            false,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, StatuspageError::NotFound { .. }),
        "{error:?}"
    );
    assert_eq!(fake.requests().len(), 2, "a 404 is not retried");
}

#[tokio::test]
async fn a_create_that_times_out_is_not_retried_and_is_found_by_its_janus_id() {
    let fake = FakeStatuspage::start().await;
    let options = ClientOptions {
        timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    };
    let client = StatuspageClient::with_options(&fake.config(), options).unwrap();
    // Statuspage creates it, but the answer comes too late.
    fake.delay_next(Duration::from_secs(3));
    let error = client.create_incident(&new_incident(77)).await.unwrap_err();
    assert!(
        matches!(error, StatuspageError::CreateNotConfirmed { .. }),
        "{error:?}"
    );
    assert!(error.user_message().contains("may have been created"));
    assert_eq!(fake.requests_to("POST", "/incidents").len(), 1);

    let found = client.find_by_janus_id(77).await.unwrap().expect("found");
    assert_eq!(found.name, "Elevated API error rates");
    assert_eq!(client.find_by_janus_id(78).await.unwrap(), None);
    assert_eq!(fake.requests_to("POST", "/incidents").len(), 1);
    assert_eq!(fake.incidents().len(), 1);
}

#[tokio::test]
async fn a_create_carries_its_key_in_the_metadata_and_is_found_by_it() {
    let (fake, client) = start().await;
    let mut new = new_incident(5);
    new.create_key = Some("k-5-first".into());
    let created = client.create_incident(&new).await.unwrap();
    let sent = fake.requests_to("POST", "/incidents")[0].json();
    assert_eq!(sent["incident"]["metadata"]["janus"]["key"], "k-5-first");
    assert_eq!(sent["incident"]["metadata"]["janus"]["incident_id"], 5);

    let found = client.find_by_create_key("k-5-first").await.unwrap();
    assert_eq!(found.map(|i| i.id), Some(created.id));
    assert_eq!(
        client.find_by_create_key("k-5-other").await.unwrap(),
        None,
        "another create's key finds nothing"
    );
}

#[tokio::test]
async fn a_create_answered_with_a_5xx_is_not_retried() {
    let (fake, client) = start().await;
    fake.fail_next(503, r#"{"error":"Service Unavailable"}"#);
    let error = client.create_incident(&new_incident(8)).await.unwrap_err();
    assert!(
        matches!(error, StatuspageError::CreateNotConfirmed { .. }),
        "{error:?}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn reads_and_updates_answered_with_a_5xx_are_retried() {
    let (fake, client) = start().await;
    let created = client.create_incident(&new_incident(6)).await.unwrap();
    fake.fail_next(502, "<html>Bad Gateway</html>");
    client.unresolved_incidents().await.unwrap();
    assert_eq!(fake.requests_to("GET", "/incidents/unresolved").len(), 2);

    fake.fail_next(500, "{}");
    client
        .update_incident(
            &created.id,
            IncidentStatus::Identified,
            "Found it.",
            &[],
            false,
        )
        .await
        .unwrap();
    let patches = fake.requests_to("PATCH", created.id.as_str());
    assert_eq!(
        patches.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 200]
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_so_the_key_stays_with_the_configured_host() {
    let (fake, client) = start().await;
    let elsewhere = FakeStatuspage::start().await;
    let location = format!("{}/pages/{PAGE_ID}/components", elsewhere.base_url());
    fake.fail_next_with(302, &[("Location", &location)], "");
    let error = client.components().await.unwrap_err();
    assert!(
        matches!(error, StatuspageError::Unexpected { .. }),
        "{error:?}"
    );
    assert!(elsewhere.requests().is_empty());
}

#[tokio::test]
async fn the_key_travels_only_in_the_authorization_header() {
    let (fake, client) = start().await;
    // Several clients (several keys) share this fake; its per-key limit
    // would only slow the test down.
    fake.set_rate_limit(false);
    let shown = format!("{client:?}");
    assert!(!shown.contains(API_KEY), "{shown}");
    assert!(shown.contains("REDACTED"), "{shown}");

    let created = client.create_incident(&new_incident(11)).await.unwrap();
    client
        .resolve_incident(&created.id, "Done.", &[API.into()], false)
        .await
        .unwrap();
    client.components_cached().await.unwrap();

    let mut errors = Vec::new();
    fake.fail_next(422, r#"{"error": ["Name can't be blank"]}"#);
    errors.push(client.create_incident(&new_incident(12)).await.unwrap_err());
    fake.fail_next(503, "{}");
    errors.push(client.create_incident(&new_incident(13)).await.unwrap_err());
    errors.push(
        client
            .update_incident(
                &"nosuchincid0".into(),
                IncidentStatus::Resolved,
                "x",
                &[],
                false,
            )
            .await
            .unwrap_err(),
    );
    let wrong_key = "spk-wrong-but-still-secret";
    let refused = StatuspageClient::new(&fake.config_with(wrong_key, PAGE_ID)).unwrap();
    errors.push(refused.unresolved_incidents().await.unwrap_err());
    assert!(!format!("{refused:?}").contains(wrong_key));
    let timing_out = StatuspageClient::with_options(
        &fake.config(),
        ClientOptions {
            timeout: Duration::from_millis(300),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    fake.delay_next(Duration::from_secs(2));
    errors.push(
        timing_out
            .create_incident(&new_incident(15))
            .await
            .unwrap_err(),
    );
    for error in &errors {
        for text in [
            format!("{error:?}"),
            error.to_string(),
            error.user_message(),
        ] {
            assert!(!text.contains(API_KEY), "{text}");
            assert!(!text.contains(wrong_key), "{text}");
        }
    }

    for request in fake.requests() {
        let authorization = request.header("authorization").unwrap_or_default();
        let secret = if authorization.contains(wrong_key) {
            wrong_key
        } else {
            API_KEY
        };
        assert_eq!(authorization, format!("OAuth {secret}"));
        let elsewhere = request
            .headers
            .iter()
            .filter(|(name, _)| name != "authorization")
            .any(|(_, value)| value.contains(secret));
        assert!(!elsewhere, "{request:?}");
        assert!(!request.path.contains(secret));
        assert!(!request.query.unwrap_or_default().contains(secret));
        assert!(!request.body.contains(secret));
    }
}

#[tokio::test]
async fn an_unreachable_statuspage_is_reported_in_plain_words() {
    let fake = FakeStatuspage::start().await;
    // Nothing listens on port 1: the request never leaves, so even a create
    // may be tried again, and then gives up.
    let nobody = StatuspageConfig {
        api_url: "http://127.0.0.1:1/v1".parse().unwrap(),
        ..fake.config()
    };
    let error = StatuspageClient::new(&nobody)
        .unwrap()
        .create_incident(&new_incident(14))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StatuspageError::Unreachable { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.user_message(),
        "Statuspage could not be reached; try again in a moment."
    );
    for text in [format!("{error:?}"), error.to_string()] {
        assert!(!text.contains(API_KEY), "{text}");
    }
}
