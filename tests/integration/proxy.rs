//! Behind a corporate proxy: every connection Janus makes goes through the
//! proxy it is given (the Web API, the Socket Mode websocket, status providers,
//! Statuspage), `NO_PROXY` sends the hosts it lists direct, and a proxy that
//! refuses, wants credentials or is down gives one clear error naming it and
//! never the password.

use std::time::Duration;

use janus::app::{Options, StartPatience};
use janus::config::Config;
use janus::egress::Egress;
use janus::providers::{ProviderClient, ProviderResult};
use janus::statuspage::{ClientOptions, StatuspageClient};

use crate::support::connect_proxy::{ConnectProxy, Mode};
use crate::support::harness::{TestApp, TestDb, env_for, fast_options};
use crate::support::providers_fake::ProvidersFake;
use crate::support::slack_fake::{self, FakeSlack};
use crate::support::statuspage_fake::FakeStatuspage;
use crate::support::tls_front::{TestCa, tls_front};

const WAIT: Duration = Duration::from_secs(10);
/// `alice:s3cret-proxy-pw` as a `Proxy-Authorization` value.
const ALICE: &str = "Basic YWxpY2U6czNjcmV0LXByb3h5LXB3";
const PASSWORD: &str = "s3cret-proxy-pw";

/// The config a user would get with `extra` set on top of the fake's env.
fn config(slack: &FakeSlack, db: &TestDb, extra: &[(&str, &str)]) -> Config {
    let mut env = env_for(slack, db);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::load_from(None, env).expect("test config")
}

/// Starts Janus, waiting at most `patience` for Slack, and returns its
/// one-line start error and how long it took to come.
async fn start_error_within(extra: &[(&str, &str)], patience: Duration) -> (String, Duration) {
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let db = TestDb::create().await;
    let options = Options {
        start_patience: StartPatience(patience),
        ..fast_options()
    };
    let started = std::time::Instant::now();
    match janus::app::start(&config(&slack, &db, extra), options).await {
        Ok(_) => panic!("janus started through a proxy that should have stopped it"),
        Err(e) => (e.to_string(), started.elapsed()),
    }
}

/// The start error for a proxy that refuses: no waiting fixes that, so it
/// must come at once, well within start-up's patience.
async fn start_error(extra: &[(&str, &str)]) -> String {
    let (error, took) = start_error_within(extra, Duration::from_secs(30)).await;
    assert!(
        took < Duration::from_secs(10),
        "failed at once, not after retrying for {took:?}: {error}"
    );
    error
}

/// Waits until the proxy was asked for `target`.
async fn wait_until_seen(proxy: &ConnectProxy, target: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !proxy.saw(target) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the proxy never saw {target}: {:?}",
            proxy.targets()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn with_a_proxy_the_web_api_the_websocket_and_providers_go_through_it() {
    let proxy = ConnectProxy::start(Mode::Open).await;
    let providers = ProvidersFake::start().await;
    let url = proxy.url();
    let base = providers.base_url();
    let app = TestApp::spawn_with(&[
        ("HTTP_PROXY", &url),
        ("JANUS_SLACK__SOCKETS", "1"),
        ("INCIDENT_EXTERNAL_PROVIDERS_ENABLED", "true"),
        ("INCIDENT_EXTERNAL_PROVIDERS_LIST", "github"),
        ("JANUS_PROVIDERS__GITHUB__URL", &base),
    ])
    .await;
    let general = app.slack.add_channel("general", true);
    app.slack.add_channel("incidents", true);
    app.slack.add_user(crate::payloads::ALICE, "alice");

    // `/incident` arrives over the proxied socket, is answered over the
    // proxied Web API, and the new channel gets a provider snapshot fetched
    // through the proxy too.
    let envelope = slack_fake::envelope(
        "slash_commands",
        crate::payloads::slash_incident(&general, "Checkout is down", &app.slack.response_url()),
        true,
    );
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
    app.slack.wait_for_call("conversations.create", WAIT).await;

    let (api, ws) = app.slack.targets();
    let provider = base.trim_start_matches("http://").to_owned();
    wait_until_seen(&proxy, &provider).await;
    assert!(
        proxy.saw(&api),
        "Web API bypassed the proxy: {:?}",
        proxy.targets()
    );
    assert!(
        proxy.saw(&ws),
        "websocket bypassed the proxy: {:?}",
        proxy.targets()
    );
    assert!(
        proxy
            .targets()
            .iter()
            .all(|t| *t == api || *t == ws || *t == provider),
        "unexpected targets: {:?}",
        proxy.targets()
    );
}

#[tokio::test]
async fn no_proxy_sends_the_listed_hosts_direct() {
    let proxy = ConnectProxy::start(Mode::Open).await;
    let url = proxy.url();
    let _app = TestApp::spawn_with(&[
        ("HTTPS_PROXY", &url),
        ("http_proxy", &url),
        ("NO_PROXY", "localhost,127.0.0.0/8"),
    ])
    .await;
    assert_eq!(proxy.targets(), Vec::<String>::new());
}

#[tokio::test]
async fn the_proxy_url_key_carries_credentials_the_proxy_accepts() {
    let proxy = ConnectProxy::start(Mode::RequireAuth(ALICE.to_owned())).await;
    let url = proxy.url_with("alice", PASSWORD);
    let app = TestApp::spawn_with(&[("JANUS_PROXY__URL", &url)]).await;
    let (api, ws) = app.slack.targets();
    assert!(proxy.saw(&api) && proxy.saw(&ws), "{:?}", proxy.targets());
    assert!(
        proxy
            .auth_headers()
            .iter()
            .all(|h| h.as_deref() == Some(ALICE)),
        "every request carries the credentials: {:?}",
        proxy.auth_headers()
    );
}

#[tokio::test]
async fn a_proxy_asking_for_credentials_fails_start_naming_it_without_the_password() {
    let proxy = ConnectProxy::start(Mode::RequireAuth(ALICE.to_owned())).await;
    let wrong = proxy.url_with("alice", "not-the-pw-at-all");
    let error = start_error(&[("HTTP_PROXY", &wrong)]).await;
    let authority = proxy.url().trim_start_matches("http://").to_owned();
    assert!(error.contains(&authority), "names the proxy: {error}");
    assert!(error.contains("407"), "says what failed: {error}");
    assert!(!error.contains("not-the-pw-at-all"), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");

    let without = start_error(&[("HTTP_PROXY", &proxy.url())]).await;
    assert!(without.contains("407"), "{without}");
}

#[tokio::test]
async fn a_proxy_that_refuses_the_tunnel_fails_start_naming_it() {
    let proxy = ConnectProxy::start(Mode::Refuse).await;
    let error = start_error(&[("HTTP_PROXY", &proxy.url_with("alice", PASSWORD))]).await;
    let authority = proxy.url().trim_start_matches("http://").to_owned();
    assert!(error.contains(&authority), "{error}");
    assert!(error.contains("403"), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");
}

#[tokio::test]
async fn a_proxy_that_is_down_is_waited_for_then_fails_start_naming_it() {
    let port = ConnectProxy::down();
    let down = port.url();
    let patience = Duration::from_secs(2);
    let (error, took) = start_error_within(&[("ALL_PROXY", &down)], patience).await;
    let authority = down.trim_start_matches("http://").to_owned();
    assert!(error.contains(&authority), "{error}");
    assert!(error.contains("unreachable"), "{error}");
    assert!(
        error.starts_with("Slack was still unavailable after"),
        "{error}"
    );
    assert!(took >= Duration::from_millis(500), "tried again: {took:?}");
    assert!(took <= patience + Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn status_providers_and_statuspage_go_through_the_proxy_unless_no_proxy_lists_them() {
    janus::install_crypto_provider();
    let proxy = ConnectProxy::start(Mode::RequireAuth(ALICE.to_owned())).await;
    let providers = ProvidersFake::start().await;
    let statuspage = FakeStatuspage::start().await;
    let slack = FakeSlack::start().await;
    let db = TestDb::create().await;
    let proxied = config(
        &slack,
        &db,
        &[("HTTP_PROXY", &proxy.url_with("alice", PASSWORD))],
    );
    let egress = Egress::new(&proxied.egress);

    let client = ProviderClient::with_egress(Duration::from_secs(5), &egress).unwrap();
    let results = client.snapshot(&[providers.provider("github")]).await;
    assert!(
        matches!(results[0], ProviderResult::Answered(_)),
        "{:?}",
        results[0]
    );
    let provider_target = providers
        .base_url()
        .trim_start_matches("http://")
        .to_owned();
    assert!(proxy.saw(&provider_target), "{:?}", proxy.targets());

    let options = ClientOptions {
        egress: egress.clone(),
        ..ClientOptions::default()
    };
    let client = StatuspageClient::with_options(&statuspage.config(), options).unwrap();
    client
        .components()
        .await
        .expect("components through the proxy");
    let statuspage_target = statuspage.config().api_url;
    let statuspage_target = format!(
        "{}:{}",
        statuspage_target.host_str().unwrap(),
        statuspage_target.port().unwrap()
    );
    assert!(proxy.saw(&statuspage_target), "{:?}", proxy.targets());
    assert!(
        proxy
            .auth_headers()
            .iter()
            .all(|h| h.as_deref() == Some(ALICE))
    );

    // Listed in NO_PROXY: straight to the host.
    let before = proxy.targets().len();
    let direct = config(
        &slack,
        &db,
        &[("HTTP_PROXY", &proxy.url()), ("no_proxy", "127.0.0.1")],
    );
    let egress = Egress::new(&direct.egress);
    let client = ProviderClient::with_egress(Duration::from_secs(5), &egress).unwrap();
    let results = client.snapshot(&[providers.provider("github")]).await;
    assert!(
        matches!(results[0], ProviderResult::Answered(_)),
        "{:?}",
        results[0]
    );
    assert_eq!(proxy.targets().len(), before, "{:?}", proxy.targets());
}

// ---- TLS through the proxy, with the company's CA ---------------------------

/// Puts TLS fronts signed by `ca` before the fake's two ports and points its
/// sockets at the `wss://` one. Returns the `https://` API URL and the TLS
/// API port.
async fn behind_tls(slack: &FakeSlack, ca: &TestCa) -> (String, u16) {
    let (api, ws) = slack.ports();
    let api_tls = tls_front(ca, api).await;
    let ws_tls = tls_front(ca, ws).await;
    slack.set_socket_base(&format!("wss://127.0.0.1:{ws_tls}"));
    (format!("https://127.0.0.1:{api_tls}/api/"), api_tls)
}

#[tokio::test]
async fn with_only_https_proxy_and_a_ca_file_janus_connects_acks_and_declares_over_tls() {
    janus::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write_pem(dir.path(), "corp-ca.pem");
    let proxy = ConnectProxy::start(Mode::Open).await;
    let slack = FakeSlack::start().await;
    slack.set_ping_interval(Duration::from_millis(300));
    let (api_url, api_tls) = behind_tls(&slack, &ca).await;
    let mut app = TestApp {
        slack_tuning: Default::default(),
        slack,
        db: TestDb::create().await,
        running: None,
        sockets: 1,
    };
    app.restart_with(&[
        ("SLACK_API_URL", &api_url),
        ("HTTPS_PROXY", &proxy.url()),
        ("SSL_CERT_FILE", ca_file.to_str().unwrap()),
        ("JANUS_SLACK__SOCKETS", "1"),
    ])
    .await;
    let general = app.slack.add_channel("general", true);
    app.slack.add_channel("incidents", true);
    app.slack.add_user(crate::payloads::ALICE, "alice");

    // `/incident` with a response_url on the TLS side too, as Slack's are.
    let response_url = app
        .slack
        .response_url()
        .replace("http://", "https://")
        .replace(
            &format!(":{}/", app.slack.ports().0),
            &format!(":{api_tls}/"),
        );
    let envelope = slack_fake::envelope(
        "slash_commands",
        crate::payloads::slash_incident(&general, "Checkout is down", &response_url),
        true,
    );
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
    app.slack
        .wait_for("the answer to /incident", WAIT, |s| {
            s.ephemerals().first().cloned()
        })
        .await;
    app.slack.wait_for_call("conversations.create", WAIT).await;

    let (api, ws) = app.slack.targets();
    assert_eq!(api, format!("127.0.0.1:{}", app.slack.ports().0));
    let api = format!("127.0.0.1:{api_tls}");
    assert!(proxy.saw(&api), "{:?}", proxy.targets());
    assert!(proxy.saw(&ws), "{:?}", proxy.targets());
    assert!(
        proxy.targets().iter().all(|t| *t == api || *t == ws),
        "only the TLS endpoints, through the proxy: {:?}",
        proxy.targets()
    );
}

#[tokio::test]
async fn a_server_signed_by_an_unknown_ca_is_refused_with_a_clear_error() {
    janus::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let trusted = TestCa::new().write_pem(dir.path(), "trusted.pem");
    let proxy = ConnectProxy::start(Mode::Open).await;
    let slack = FakeSlack::start().await;
    let (api_url, _) = behind_tls(&slack, &TestCa::new()).await;
    let db = TestDb::create().await;
    let config = config(
        &slack,
        &db,
        &[
            ("SLACK_API_URL", &api_url),
            ("HTTPS_PROXY", &proxy.url_with("alice", PASSWORD)),
            ("JANUS_TLS__CA_FILE", trusted.to_str().unwrap()),
        ],
    );
    let error = match janus::app::start(&config, fast_options()).await {
        Ok(_) => panic!("janus trusted a certificate from an unknown CA"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("certificate"), "{error}");
    assert!(error.contains("UnknownIssuer"), "{error}");
    let authority = proxy.url().trim_start_matches("http://").to_owned();
    assert!(error.contains(&authority), "names the proxy: {error}");
    assert!(!error.contains(PASSWORD), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");
}

#[tokio::test]
async fn statuspage_through_a_proxy_that_is_down_names_the_proxy_and_not_the_key() {
    janus::install_crypto_provider();
    let port = ConnectProxy::down();
    let down = port.url();
    let statuspage = FakeStatuspage::start().await;
    let slack = FakeSlack::start().await;
    let db = TestDb::create().await;
    let proxied = config(
        &slack,
        &db,
        &[(
            "HTTP_PROXY",
            &down.replace("http://", "http://alice:s3cret-proxy-pw@"),
        )],
    );
    let options = ClientOptions {
        egress: Egress::new(&proxied.egress),
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    let client = StatuspageClient::with_options(&statuspage.config(), options).unwrap();
    let error = client
        .components()
        .await
        .expect_err("the proxy is down")
        .to_string();
    let authority = down.trim_start_matches("http://");
    assert!(
        error.contains(&format!("through proxy {authority}")),
        "{error}"
    );
    assert!(!error.contains(PASSWORD), "{error}");
    assert!(
        !error.contains(crate::support::statuspage_fake::API_KEY),
        "{error}"
    );
    assert!(
        statuspage.requests().is_empty(),
        "nothing went around the proxy"
    );
}

#[tokio::test]
async fn the_binary_stops_on_a_407_with_one_error_line_naming_the_proxy_and_no_password() {
    let proxy = ConnectProxy::start(Mode::RequireAuth(ALICE.to_owned())).await;
    let slack = FakeSlack::start().await;
    let db = TestDb::create().await;
    let mut env = env_for(&slack, &db);
    env.push((
        "HTTPS_PROXY".to_owned(),
        proxy.url_with("alice", "wrong-proxy-password"),
    ));
    env.push((
        "HTTP_PROXY".to_owned(),
        proxy.url_with("alice", "wrong-proxy-password"),
    ));
    let dir = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(crate::cli::JANUS)
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir.path())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("janus gives up")
        .expect("janus runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let authority = proxy.url().trim_start_matches("http://").to_owned();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("janus: error"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    assert!(
        errors[0].contains(&authority) && errors[0].contains("407"),
        "{}",
        errors[0]
    );
    for text in [&stdout, &stderr] {
        assert!(!text.contains("wrong-proxy-password"), "{text}");
        assert!(!text.contains(slack_fake::BOT_TOKEN), "{text}");
    }
    assert!(slack.open_sockets().is_empty());
}

#[tokio::test]
async fn providers_and_statuspage_trust_the_ca_file_over_tls_through_the_proxy() {
    janus::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write_pem(dir.path(), "corp-ca.pem");
    let proxy = ConnectProxy::start(Mode::Open).await;
    let providers = ProvidersFake::start().await;
    let statuspage = FakeStatuspage::start().await;
    let port = |base: &str| url::Url::parse(base).unwrap().port().unwrap();
    let providers_tls = tls_front(&ca, port(&providers.base_url())).await;
    let statuspage_tls = tls_front(&ca, port(&statuspage.base_url())).await;
    let mut github = providers.provider("github");
    github.url = Some(url::Url::parse(&format!("https://127.0.0.1:{providers_tls}")).unwrap());
    let mut page = statuspage.config();
    page.api_url = url::Url::parse(&format!("https://127.0.0.1:{statuspage_tls}/v1")).unwrap();

    let slack = FakeSlack::start().await;
    let db = TestDb::create().await;
    let trusting = config(
        &slack,
        &db,
        &[
            ("HTTPS_PROXY", &proxy.url()),
            ("JANUS_TLS__CA_FILE", ca_file.to_str().unwrap()),
        ],
    );
    let egress = Egress::new(&trusting.egress);
    let client = ProviderClient::with_egress(Duration::from_secs(5), &egress).unwrap();
    let results = client.snapshot(std::slice::from_ref(&github)).await;
    assert!(
        matches!(results[0], ProviderResult::Answered(_)),
        "{:?}",
        results[0]
    );
    let options = ClientOptions {
        egress: egress.clone(),
        ..ClientOptions::default()
    };
    StatuspageClient::with_options(&page, options)
        .unwrap()
        .components()
        .await
        .expect("components over TLS through the proxy");
    assert!(
        proxy.saw(&format!("127.0.0.1:{providers_tls}")),
        "{:?}",
        proxy.targets()
    );
    assert!(
        proxy.saw(&format!("127.0.0.1:{statuspage_tls}")),
        "{:?}",
        proxy.targets()
    );

    // Without the CA file the same servers are not trusted.
    let untrusting = config(&slack, &db, &[("HTTPS_PROXY", &proxy.url())]);
    let egress = Egress::new(&untrusting.egress);
    let client = ProviderClient::with_egress(Duration::from_secs(5), &egress).unwrap();
    let results = client.snapshot(&[github]).await;
    assert!(
        matches!(results[0], ProviderResult::Failed { .. }),
        "{:?}",
        results[0]
    );
    let options = ClientOptions {
        egress,
        ..ClientOptions::default()
    };
    let error = StatuspageClient::with_options(&page, options)
        .unwrap()
        .components()
        .await
        .expect_err("an unknown CA is refused")
        .to_string();
    assert!(error.contains("certificate"), "{error}");
    assert!(
        error.contains(&proxy.url().replace("http://", "through proxy ")),
        "{error}"
    );
}

#[tokio::test]
async fn a_websocket_host_signed_by_an_unknown_ca_is_one_log_line_naming_the_proxy() {
    use tokio::io::AsyncBufReadExt;
    janus::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write_pem(dir.path(), "corp-ca.pem");
    let proxy = ConnectProxy::start(Mode::Open).await;
    let slack = FakeSlack::start().await;
    // The Web API is signed by the trusted CA, the websocket host by another.
    let (api, ws) = slack.ports();
    let api_tls = tls_front(&ca, api).await;
    let ws_tls = tls_front(&TestCa::new(), ws).await;
    slack.set_socket_base(&format!("wss://127.0.0.1:{ws_tls}"));
    let db = TestDb::create().await;
    let mut env = env_for(&slack, &db);
    let api_url = format!("https://127.0.0.1:{api_tls}/api/");
    for (k, v) in [
        ("SLACK_API_URL", api_url.as_str()),
        ("HTTPS_PROXY", &proxy.url_with("alice", PASSWORD)),
        ("JANUS_TLS__CA_FILE", ca_file.to_str().unwrap()),
        ("JANUS_SLACK__SOCKETS", "1"),
        ("NO_COLOR", "1"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let mut child = tokio::process::Command::new(crate::cli::JANUS)
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("janus runs");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let authority = proxy.url().trim_start_matches("http://").to_owned();
    let found = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            assert!(!line.contains(PASSWORD), "{line}");
            if line.contains("socket connection failed") {
                return line;
            }
        }
        panic!("janus ended without trying the websocket");
    })
    .await
    .expect("a log line about the websocket");
    let _ = child.kill().await;
    assert!(
        found.contains(&format!("127.0.0.1:{ws_tls} through proxy {authority}")),
        "{found}"
    );
    assert!(found.contains("UnknownIssuer"), "{found}");
    assert!(slack.open_sockets().is_empty());
}
