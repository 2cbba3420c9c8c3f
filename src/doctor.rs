//! `janus doctor`: live checks of everything `janus run` needs, one line
//! each, so an operator finds a wrong token, a missing scope or an
//! unmigrated database before the first incident does.
//!
//! Unlike `janus check` (offline: config and templates), doctor talks to
//! Slack, the status providers, Statuspage and the database. Checks that do
//! not depend on each other run at once, each within [`CHECK_TIMEOUT`]; the
//! report is printed in a fixed order whatever finished first.
//!
//! What must stay true:
//! - nothing here prints a token, a key or the database password: messages
//!   are built from error types that never hold them, and every line goes
//!   through a `Redactor` as well, in case a driver quotes its input;
//! - doctor never changes anything: it opens no websocket (the Socket Mode
//!   URL is asked for and dropped), posts nothing, joins nothing and does
//!   not migrate;
//! - each failure says what is wrong *and* what to do about it.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use crate::config::{Config, ProviderConfig};
use crate::egress::Egress;
use crate::providers::{self, FetchError, ProviderClient, ProviderResult};
use crate::render::Renderer;
use crate::slack::{ApiErrorCode, SlackApi, UserGroup};
use crate::statuspage::{ClientOptions, StatuspageClient, StatuspageError};

/// How long any one check may take before it is reported as failed: doctor
/// must never hang on a black-holed firewall.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The bot scopes Janus needs: `oauth_config.scopes.bot` of
/// `slack_manifest.yaml`, in its order (a unit test keeps the two equal).
/// Kept in code so the binary can check a workspace without the file.
pub const REQUIRED_BOT_SCOPES: &[&str] = &[
    "app_mentions:read",
    "bookmarks:write",
    "channels:history",
    "channels:join",
    "channels:manage",
    "channels:read",
    "chat:write",
    "chat:write.public",
    "commands",
    "groups:history",
    "groups:read",
    "im:write",
    "pins:write",
    "reactions:read",
    "reactions:write",
    "usergroups:read",
    "users:read",
];

/// Where Slack says which scopes a token was granted, on Web API answers.
const SCOPES_HEADER: &str = "x-oauth-scopes";

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Works.
    Ok,
    /// Broken: `janus run` would fail or misbehave.
    Fail,
    /// Not checked: the feature is off, or a check it needs failed.
    Skip,
}

impl Verdict {
    /// The label printed in the first column, padded so details line up.
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok    ",
            Verdict::Fail => "FAIL  ",
            Verdict::Skip => "skip  ",
        }
    }
}

/// One line of the report: which check, how it came out, and the detail
/// (on failure: what is wrong and what to do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Short name of the check, e.g. `bot token` or `provider github`.
    pub check: String,
    /// Pass, fail or skip.
    pub verdict: Verdict,
    /// One line, no token in it.
    pub detail: String,
}

impl Finding {
    fn new(check: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            verdict,
            detail: detail.into(),
        }
    }

    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(check, Verdict::Ok, detail)
    }

    fn fail(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(check, Verdict::Fail, detail)
    }

    fn skip(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(check, Verdict::Skip, detail)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}: {}", self.verdict.label(), self.check, self.detail)
    }
}

/// Every finding, in the fixed check order, and the warnings met on the way
/// (config and template warnings, which do not fail anything).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One per line.
    pub findings: Vec<Finding>,
    /// For stderr, like `janus check` prints them.
    pub warnings: Vec<String>,
}

impl Report {
    /// How many checks failed: doctor exits non-zero unless this is 0.
    pub fn failures(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict == Verdict::Fail)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.findings.iter().try_for_each(|l| writeln!(f, "{l}"))
    }
}

/// Runs every check. `config` is what loading gave (its error, already one
/// readable line, becomes the first and only finding: nothing else can be
/// checked without it); `file` is the config file it was read from, if any.
pub async fn diagnose(config: Result<Config, String>, file: Option<&Path>) -> Report {
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            return Report {
                findings: vec![Finding::fail(
                    "config",
                    format!("{e} — fix it, then run `janus doctor` again"),
                )],
                warnings: Vec::new(),
            };
        }
    };
    let redactor = Redactor::for_config(&config);
    let mut report = Report {
        findings: vec![Finding::ok(
            "config",
            match file {
                Some(path) => format!("loaded from {} and the environment", path.display()),
                None => "loaded from the environment".to_owned(),
            },
        )],
        warnings: config.warnings(),
    };
    match Renderer::load(config.templates_dir.as_deref()) {
        Ok(renderer) => {
            report.findings.push(templates_ok(&renderer, &config));
            report.warnings.extend(renderer.warnings().iter().cloned());
        }
        Err(e) => report.findings.push(Finding::fail(
            "templates",
            format!("{e} — fix the template (`janus check` shows the same)"),
        )),
    }
    let egress = Egress::new(&config.egress);
    let (proxy, slack, providers, statuspage, database) = tokio::join!(
        check_proxy(&config, &egress),
        check_slack(&config, &egress),
        check_providers(&config, &egress),
        check_statuspage(&config, &egress),
        check_database(&config),
    );
    report.findings.extend(proxy);
    report.findings.extend(slack);
    report.findings.extend(providers);
    report.findings.push(statuspage);
    report.findings.push(database);
    for finding in &mut report.findings {
        finding.detail = redactor.redact(&finding.detail);
    }
    for warning in &mut report.warnings {
        *warning = redactor.redact(warning);
    }
    report
}

fn templates_ok(renderer: &Renderer, config: &Config) -> Finding {
    let names: Vec<&str> = Renderer::names().collect();
    let overridden = names
        .iter()
        .filter(|n| {
            renderer
                .origin(n)
                .is_some_and(|origin| !origin.ends_with("(built-in)"))
        })
        .count();
    let detail = match &config.templates_dir {
        Some(dir) => format!(
            "{} templates render and validate ({overridden} from {})",
            names.len(),
            dir.display()
        ),
        None => format!("{} built-in templates render and validate", names.len()),
    };
    Finding::ok("templates", detail)
}

/// Runs `check` within [`CHECK_TIMEOUT`]; running out is a failure of `name`.
async fn timed(name: impl Into<String>, check: impl Future<Output = Finding>) -> Finding {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| {
            Finding::fail(
                name,
                format!(
                    "no answer within {} s — check that this host can reach it \
                     (firewall, proxy, DNS)",
                    CHECK_TIMEOUT.as_secs()
                ),
            )
        })
}

// ---- Slack ----------------------------------------------------------------

/// What `auth.test` said about the bot token.
#[derive(Debug)]
struct BotAuth {
    team: String,
    team_id: String,
    user: String,
    user_id: String,
    /// From the `x-oauth-scopes` header; `None` when Slack sent none.
    scopes: Option<Vec<String>>,
}

/// Why `auth.test` did not say who we are. Messages never hold the token.
#[derive(Debug, thiserror::Error)]
enum AuthTestError {
    #[error("Slack refused the bot token ({0})")]
    Refused(String),
    #[error("Slack is rate limiting this workspace (retry after {0} s)")]
    RateLimited(u64),
    #[error("Slack answered HTTP {0}")]
    Http(u16),
    #[error("cannot reach Slack at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("Slack gave an answer doctor cannot read: {0}")]
    Unreadable(String),
    #[error("the bot token has characters an HTTP header cannot carry")]
    BadToken,
}

/// When a proxy applies to Slack's API, one line saying whether a tunnel to
/// it opens through the proxy; nothing when Slack is reached directly.
async fn check_proxy(config: &Config, egress: &Egress) -> Option<Finding> {
    const CHECK: &str = "proxy";
    let url = &config.slack.api_url;
    let proxy = egress.proxy_for(url)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let secure = url.scheme() == "https";
    Some(
        timed(CHECK, async {
            match egress.connect(secure, &host, port).await {
                Ok(_tunnel) => Finding::ok(CHECK, format!("{proxy} reaches {host}")),
                Err(e) => {
                    let hint = match e {
                        crate::egress::EgressError::ProxyAuth { .. } => {
                            "check the user and password in proxy.url / HTTPS_PROXY"
                        }
                        crate::egress::EgressError::ProxyRefused { .. } => {
                            "ask the network team to allow this host through the proxy"
                        }
                        _ => "check proxy.url / HTTPS_PROXY and that this host can reach the proxy",
                    };
                    Finding::fail(CHECK, format!("{e} — {hint}"))
                }
            }
        })
        .await,
    )
}

/// The Slack checks, in order: bot token, app token, scopes, digest
/// channel, auto-invite group.
async fn check_slack(config: &Config, egress: &Egress) -> Vec<Finding> {
    let auth = tokio::time::timeout(CHECK_TIMEOUT, auth_test(config, egress));
    let api = SlackApi::new(
        &config.slack.api_url,
        &config.slack.bot_token,
        &config.slack.app_token,
        egress,
    );
    let app = timed("app token", async {
        match &api {
            Ok(api) => app_token(api).await,
            Err(e) => Finding::fail("app token", e.to_string()),
        }
    });
    let (auth, app) = tokio::join!(auth, app);
    let auth = auth.unwrap_or_else(|_| {
        Err(AuthTestError::Unreachable {
            url: config.slack.api_url.to_string(),
            detail: format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
        })
    });
    let mut findings = vec![bot_token(&auth), app];
    let (auth, api) = match (auth, api) {
        (Ok(auth), Ok(api)) => (auth, api),
        (auth, _) => {
            let why = match auth {
                Err(_) => "not checked, it needs a working bot token",
                Ok(_) => "not checked, it needs a working Slack client (see app token)",
            };
            findings.push(Finding::skip("scopes", why));
            findings.push(Finding::skip("digest channel", why));
            if config.auto_invite.is_some() {
                findings.push(Finding::skip("auto-invite group", why));
            } else {
                findings.push(Finding::skip("auto-invite group", "not configured"));
            }
            return findings;
        }
    };
    findings.push(scopes(auth.scopes.as_deref()));
    let (digest, group) = tokio::join!(
        timed("digest channel", digest_channel(&api, config, &auth)),
        async {
            match &config.auto_invite {
                Some(invite) => timed("auto-invite group", user_group(&api, &invite.group)).await,
                None => Finding::skip("auto-invite group", "not configured"),
            }
        }
    );
    findings.push(digest);
    findings.push(group);
    findings
}

/// `auth.test` with the bot token, over plain HTTP rather than
/// slack-morphism: the granted scopes are only in a response header, which
/// slack-morphism does not expose. Goes to the configured `slack.api_url`,
/// without a proxy, the way the bot's own client does.
async fn auth_test(config: &Config, egress: &Egress) -> Result<BotAuth, AuthTestError> {
    #[derive(Deserialize)]
    struct Answer {
        ok: bool,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        team: String,
        #[serde(default)]
        team_id: String,
        #[serde(default)]
        user: String,
        #[serde(default)]
        user_id: String,
    }
    let url = config
        .slack
        .api_url
        .join("auth.test")
        .map_err(|e| AuthTestError::Unreadable(format!("bad Slack API URL: {e}")))?;
    let unreachable = |e: reqwest::Error| AuthTestError::Unreachable {
        url: config.slack.api_url.to_string(),
        detail: error_chain(&e),
    };
    crate::install_crypto_provider();
    let http = egress
        .reqwest(reqwest::Client::builder())
        .timeout(CHECK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("janus/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(unreachable)?;
    let mut bearer = HeaderValue::from_str(&format!(
        "Bearer {}",
        config.slack.bot_token.expose_secret()
    ))
    .map_err(|_| AuthTestError::BadToken)?;
    bearer.set_sensitive(true);
    let response = http
        .post(url)
        .header(AUTHORIZATION, bearer)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    if status.as_u16() == 429 {
        let after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok())
            .unwrap_or(1);
        return Err(AuthTestError::RateLimited(after));
    }
    if !status.is_success() {
        return Err(AuthTestError::Http(status.as_u16()));
    }
    let scopes = response
        .headers()
        .get(SCOPES_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(parse_scopes);
    let answer: Answer = response
        .json()
        .await
        .map_err(|e| AuthTestError::Unreadable(error_chain(&e)))?;
    if !answer.ok {
        return Err(AuthTestError::Refused(
            answer.error.unwrap_or_else(|| "no reason given".to_owned()),
        ));
    }
    Ok(BotAuth {
        team: answer.team,
        team_id: answer.team_id,
        user: answer.user,
        user_id: answer.user_id,
        scopes,
    })
}

fn bot_token(auth: &Result<BotAuth, AuthTestError>) -> Finding {
    match auth {
        Ok(me) => Finding::ok(
            "bot token",
            format!(
                "accepted for team {} ({}) as @{} ({})",
                me.team, me.team_id, me.user, me.user_id
            ),
        ),
        Err(e @ AuthTestError::Refused(_)) => Finding::fail(
            "bot token",
            format!(
                "{e} — set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (it starts \
                 with xoxb; under OAuth & Permissions), reinstalling the app if it was revoked"
            ),
        ),
        Err(e @ AuthTestError::Unreachable { .. }) => Finding::fail(
            "bot token",
            format!("{e} — check SLACK_API_URL and that this host can reach Slack"),
        ),
        Err(e) => Finding::fail("bot token", e.to_string()),
    }
}

/// `apps.connections.open` with the app token; the URL it returns is a
/// one-use ticket, dropped unused.
async fn app_token(api: &SlackApi) -> Finding {
    match api.open_socket_url().await {
        Ok(_) => Finding::ok(
            "app token",
            "accepted: Socket Mode connections can be opened",
        ),
        Err(e) => {
            let hint = match e.code() {
                Some(code) if code.is_auth_failure() => {
                    " — set SLACK_APP_TOKEN to an app-level token (it starts with \
                     xapp) with the connections:write scope (Basic Information → App-Level Tokens)"
                }
                Some(ApiErrorCode::Other(code)) if code == "not_allowed_token_type" => {
                    " — SLACK_APP_TOKEN holds another kind of token; it needs the \
                     app-level token (it starts with xapp), not the bot token"
                }
                Some(_) => " — check that Socket Mode is turned on for the app",
                None => " — check SLACK_API_URL and that this host can reach Slack",
            };
            Finding::fail("app token", format!("{e}{hint}"))
        }
    }
}

/// `a,b, c` → `[a, b, c]`.
fn parse_scopes(header: &str) -> Vec<String> {
    header
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The required scopes `granted` lacks, in [`REQUIRED_BOT_SCOPES`] order.
fn missing_scopes(granted: &[String]) -> Vec<&'static str> {
    REQUIRED_BOT_SCOPES
        .iter()
        .copied()
        .filter(|wanted| !granted.iter().any(|g| g == wanted))
        .collect()
}

fn scopes(granted: Option<&[String]>) -> Finding {
    let Some(granted) = granted else {
        return Finding::fail(
            "scopes",
            format!(
                "cannot tell which scopes the bot token has: Slack's answer carried no \
                 {SCOPES_HEADER} header (a proxy may strip it) — compare the app's scopes \
                 with slack_manifest.yaml by hand"
            ),
        );
    };
    let missing = missing_scopes(granted);
    if missing.is_empty() {
        return Finding::ok(
            "scopes",
            format!(
                "all {} bot scopes of slack_manifest.yaml granted",
                REQUIRED_BOT_SCOPES.len()
            ),
        );
    }
    Finding::fail(
        "scopes",
        format!(
            "missing {} — reinstall the app from slack_manifest.yaml (or add them under \
             OAuth & Permissions and reinstall)",
            missing.join(", ")
        ),
    )
}

/// The digest channel exists and the bot can post there: it is a member,
/// or the channel is public (Janus joins public channels by itself).
///
/// A private channel the bot is not in is invisible to it, exactly like a
/// channel that does not exist, so one failure covers both.
async fn digest_channel(api: &SlackApi, config: &Config, me: &BotAuth) -> Finding {
    #[derive(Deserialize)]
    struct Info {
        channel: Flags,
    }
    #[derive(Deserialize)]
    struct Flags {
        #[serde(default)]
        is_private: bool,
        #[serde(default)]
        is_member: bool,
    }
    const CHECK: &str = "digest channel";
    let name = &config.incident.digest_channel;
    let bot = if me.user.is_empty() {
        "janus"
    } else {
        &me.user
    };
    let invite = format!("/invite @{bot} in #{name}");
    let id = match api.find_channel(name).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Finding::fail(
                CHECK,
                format!(
                    "no channel #{name} that the bot can see — create it (or set \
                     INCIDENTS_DIGEST_CHANNEL to an existing one); if it is private, {invite}"
                ),
            );
        }
        Err(e) => return Finding::fail(CHECK, format!("cannot list channels: {e}")),
    };
    let params = [("channel", Some(id.to_string()))];
    let info: Info = match api.get("conversations.info", &params).await {
        Ok(info) => info,
        Err(e) => return Finding::fail(CHECK, format!("cannot read #{name} ({id}): {e}")),
    };
    match (info.channel.is_member, info.channel.is_private) {
        (true, _) => Finding::ok(CHECK, format!("#{name} ({id}): the bot is a member")),
        (false, false) => Finding::ok(
            CHECK,
            format!("#{name} ({id}) is public: Janus joins it when it first posts there"),
        ),
        (false, true) => Finding::fail(
            CHECK,
            format!("#{name} ({id}) is private and the bot is not in it — {invite}"),
        ),
    }
}

/// Whether a group is the one configured: by handle or name, any case,
/// with or without a leading `@` (as the auto-invite matches it).
fn group_matches(group: &UserGroup, wanted: &str) -> bool {
    let wanted = wanted.trim_start_matches('@').to_lowercase();
    group.handle.to_lowercase() == wanted || group.name.to_lowercase() == wanted
}

/// The auto-invite group exists (`usergroups.list`).
async fn user_group(api: &SlackApi, wanted: &str) -> Finding {
    const CHECK: &str = "auto-invite group";
    match api.user_groups().await {
        Ok(groups) => match groups.iter().find(|g| group_matches(g, wanted)) {
            Some(g) => Finding::ok(CHECK, format!("@{} ({}) exists", g.handle, g.id)),
            None => Finding::fail(
                CHECK,
                format!(
                    "no user group with handle or name {wanted:?} — check \
                     INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME, or create the group"
                ),
            ),
        },
        Err(e) if e.code() == Some(&ApiErrorCode::PlanUpgradeRequired) => Finding::fail(
            CHECK,
            "this Slack plan has no user groups — turn off INCIDENT_AUTO_GROUP_INVITE_ENABLED",
        ),
        Err(e) => Finding::fail(CHECK, format!("cannot list user groups: {e}")),
    }
}

// ---- providers, Statuspage, database --------------------------------------

/// One line per configured status provider, each fetched once.
async fn check_providers(config: &Config, egress: &Egress) -> Vec<Finding> {
    let Some(configured) = &config.providers else {
        return vec![Finding::skip("providers", "not configured")];
    };
    let client = match ProviderClient::with_egress(providers::DEFAULT_TIMEOUT, egress) {
        Ok(client) => client,
        Err(e) => {
            return vec![Finding::fail(
                "providers",
                format!("cannot build an HTTP client: {}", error_chain(&e)),
            )];
        }
    };
    join_all(
        configured
            .list
            .iter()
            .map(|p| timed(format!("provider {}", p.name), provider(&client, p))),
    )
    .await
}

async fn provider(client: &ProviderClient, provider: &ProviderConfig) -> Finding {
    let check = format!("provider {}", provider.name);
    // The URL as fetched: the provider code drops credentials and query.
    let url = providers::endpoint(provider)
        .map(|(_, url)| url.to_string())
        .unwrap_or_default();
    match client.fetch(provider).await {
        ProviderResult::Answered(status) => {
            Finding::ok(check, format!("{url} answered ({})", status.level.label()))
        }
        ProviderResult::Failed { reason, .. } => {
            let key = format!("JANUS_PROVIDERS__{}__URL", provider.name.to_uppercase());
            let hint = match reason {
                FetchError::NoUrl | FetchError::BadScheme => format!("set {key}"),
                FetchError::Unparseable { .. } => {
                    format!("check that {key} is the base of a status page of that kind")
                }
                _ => format!("check {key} and that this host can reach it"),
            };
            let at = if url.is_empty() {
                String::new()
            } else {
                format!(" ({url})")
            };
            Finding::fail(check, format!("{reason}{at} — {hint}"))
        }
    }
}

/// The Statuspage key and page id are accepted: the page's components list.
async fn check_statuspage(config: &Config, egress: &Egress) -> Finding {
    const CHECK: &str = "statuspage";
    let Some(statuspage) = &config.statuspage else {
        return Finding::skip(CHECK, "not configured");
    };
    timed(CHECK, async {
        let options = ClientOptions {
            timeout: CHECK_TIMEOUT,
            egress: egress.clone(),
            ..ClientOptions::default()
        };
        let client = match StatuspageClient::with_options(statuspage, options) {
            Ok(client) => client,
            Err(e) => return Finding::fail(CHECK, e.to_string()),
        };
        match client.components().await {
            Ok(components) => Finding::ok(
                CHECK,
                format!(
                    "key accepted for page {} ({} components)",
                    statuspage.page_id,
                    components.len()
                ),
            ),
            Err(e @ StatuspageError::Unauthorized { .. }) => Finding::fail(
                CHECK,
                format!("{e} — check STATUSPAGE_API_KEY (Statuspage → your avatar → API info)"),
            ),
            Err(e @ StatuspageError::NotFound { .. }) => Finding::fail(
                CHECK,
                format!(
                    "{e}: no page {} for this key — check STATUSPAGE_PAGE_ID",
                    statuspage.page_id
                ),
            ),
            Err(e @ StatuspageError::Unreachable { .. }) => Finding::fail(
                CHECK,
                format!("{e} — check STATUSPAGE_API_URL and that this host can reach it"),
            ),
            Err(e) => Finding::fail(CHECK, e.to_string()),
        }
    })
    .await
}

/// The database answers and has every migration this binary carries.
async fn check_database(config: &Config) -> Finding {
    const CHECK: &str = "database";
    timed(CHECK, async {
        let at = config.database.redacted_url();
        if let Some(file) = crate::store::sqlite_file(&config.database)
            && !file.exists()
        {
            // Opening would create it: doctor changes nothing.
            return Finding::ok(
                CHECK,
                format!(
                    "SQLite {} does not exist yet; `janus run` creates and migrates it",
                    file.display()
                ),
            );
        }
        let store = match crate::store::open(&config.database, 1).await {
            Ok(store) => store,
            Err(crate::store::StoreError::InUse { path }) => {
                return Finding::ok(
                    CHECK,
                    format!(
                        "SQLite {path} is in use by a running Janus, which migrated it at start"
                    ),
                );
            }
            Err(e) => {
                return Finding::fail(
                    CHECK,
                    format!("{e} — check DATABASE_URL and that the server is up"),
                );
            }
        };
        match store.pending_migrations().await {
            Ok(pending) if pending.is_empty() => {
                Finding::ok(CHECK, format!("{at} reachable, schema up to date"))
            }
            Ok(pending) => Finding::fail(
                CHECK,
                format!(
                    "{at} lacks {} migration(s) ({}) — run `janus migrate`",
                    pending.len(),
                    pending.join(", ")
                ),
            ),
            Err(e) => Finding::fail(CHECK, format!("{at}: {e}")),
        }
    })
    .await
}

// ---- helpers ----------------------------------------------------------------

/// An error and its causes, `outer: inner: innermost` (reqwest's own
/// message stops at "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Blanks out the configured secrets wherever they might appear: the last
/// line of defence for a message we did not write ourselves (a driver
/// quoting its connection string, say).
struct Redactor {
    secrets: Vec<String>,
}

/// Secrets shorter than this are not searched for: replacing every `ab` in
/// the report would garble it, and no real token is that short.
const MIN_SECRET_CHARS: usize = 4;

impl Redactor {
    /// Every secret of `config`: both Slack tokens, the Statuspage key and
    /// the database password.
    fn for_config(config: &Config) -> Redactor {
        let mut secrets = vec![
            config.slack.bot_token.expose_secret().to_owned(),
            config.slack.app_token.expose_secret().to_owned(),
        ];
        if let Some(statuspage) = &config.statuspage {
            secrets.push(statuspage.api_key.expose_secret().to_owned());
        }
        for proxy in [&config.egress.https_proxy, &config.egress.http_proxy]
            .into_iter()
            .flatten()
        {
            if let Some(password) = proxy.password() {
                secrets.push(password.expose_secret().to_owned());
            }
        }
        if let Ok(url) = Url::parse(config.database.url.expose_secret())
            && let Some(password) = url.password()
        {
            secrets.push(password.to_owned());
            if let Ok(decoded) = urlish_decode(password) {
                secrets.push(decoded);
            }
        }
        Redactor::new(secrets)
    }

    /// A redactor for exactly these secrets.
    fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
            .collect();
        // Longest first, so a secret containing another is blanked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` with every secret replaced by `[REDACTED]`.
    fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "[REDACTED]"))
    }
}

/// Percent-decodes a URL's userinfo (`p%40ss` → `p@ss`), as the driver
/// sees the password.
fn urlish_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `oauth_config.scopes.bot` of the manifest, read line by line: each
    /// `- scope` (comments dropped) indented under `bot:`.
    fn manifest_bot_scopes(manifest: &str) -> Vec<String> {
        let indent = |line: &str| line.len() - line.trim_start().len();
        let mut path: Vec<(usize, String)> = Vec::new();
        let mut scopes = Vec::new();
        for line in manifest.lines() {
            let content = line.split('#').next().unwrap_or("").trim_end();
            if content.trim().is_empty() {
                continue;
            }
            let depth = indent(content);
            let item = content.trim_start();
            if let Some(value) = item.strip_prefix("- ") {
                let keys: Vec<&str> = path.iter().map(|(_, k)| k.as_str()).collect();
                if keys == ["oauth_config", "scopes", "bot"] {
                    scopes.push(value.trim().to_owned());
                }
                continue;
            }
            path.retain(|(d, _)| *d < depth);
            if let Some(key) = item.strip_suffix(':') {
                path.push((depth, key.to_owned()));
            }
        }
        scopes
    }

    #[test]
    fn the_required_scopes_are_exactly_the_manifests_bot_scopes() {
        let manifest = include_str!("../slack_manifest.yaml");
        assert_eq!(manifest_bot_scopes(manifest), REQUIRED_BOT_SCOPES);
    }

    #[test]
    fn the_manifest_reader_takes_only_the_bot_list() {
        let yaml = "oauth_config:\n  scopes:\n    user:\n      - search:read\n    bot:\n      \
                    - a:read   # why\n      - b\nsettings:\n  bot_events:\n    - app_mention\n";
        assert_eq!(manifest_bot_scopes(yaml), ["a:read", "b"]);
    }

    #[test]
    fn missing_scopes_are_named_in_manifest_order() {
        let granted: Vec<String> = REQUIRED_BOT_SCOPES
            .iter()
            .filter(|s| !matches!(**s, "pins:write" | "bookmarks:write"))
            .map(|s| s.to_string())
            .chain(["extra:scope".to_owned()])
            .collect();
        assert_eq!(missing_scopes(&granted), ["bookmarks:write", "pins:write"]);
        let finding = scopes(Some(&granted));
        assert_eq!(finding.verdict, Verdict::Fail);
        assert!(
            finding.detail.starts_with(
                "missing bookmarks:write, pins:write — reinstall the app from slack_manifest.yaml"
            ),
            "{}",
            finding.detail
        );
    }

    #[test]
    fn the_scopes_header_is_a_comma_list() {
        assert_eq!(
            parse_scopes("chat:write, commands,,pins:write "),
            ["chat:write", "commands", "pins:write"]
        );
        assert!(parse_scopes("").is_empty());
    }

    #[test]
    fn no_scopes_header_is_a_failure_not_a_pass() {
        assert_eq!(scopes(None).verdict, Verdict::Fail);
    }

    #[test]
    fn each_line_starts_with_a_fixed_width_verdict() {
        assert_eq!(
            Finding::ok("bot token", "accepted").to_string(),
            "ok    bot token: accepted"
        );
        assert_eq!(
            Finding::fail("scopes", "missing x").to_string(),
            "FAIL  scopes: missing x"
        );
        assert_eq!(
            Finding::skip("statuspage", "not configured").to_string(),
            "skip  statuspage: not configured"
        );
    }

    #[test]
    fn only_failures_count_against_the_report() {
        let report = Report {
            findings: vec![
                Finding::ok("a", "fine"),
                Finding::skip("b", "off"),
                Finding::fail("c", "broken"),
            ],
            warnings: Vec::new(),
        };
        assert_eq!(report.failures(), 1);
        assert_eq!(
            report.to_string(),
            "ok    a: fine\nskip  b: off\nFAIL  c: broken\n"
        );
    }

    #[test]
    fn the_redactor_blanks_every_secret_and_ignores_tiny_ones() {
        let redactor = Redactor::new(["xoxb-123-abc".to_owned(), "pw".to_owned()]);
        assert_eq!(
            redactor.redact("token xoxb-123-abc, password pw"),
            "token [REDACTED], password pw"
        );
    }

    #[test]
    fn a_percent_encoded_password_is_decoded_as_the_driver_sees_it() {
        assert_eq!(urlish_decode("p%40ss%2Fw").unwrap(), "p@ss/w");
        assert_eq!(urlish_decode("100%").unwrap(), "100%");
    }

    #[test]
    fn a_group_matches_by_handle_or_name_in_any_case() {
        let group = UserGroup {
            id: "S1".into(),
            handle: "sre-oncall".into(),
            name: "SRE On-call".into(),
        };
        assert!(group_matches(&group, "@SRE-oncall"));
        assert!(group_matches(&group, "sre on-call"));
        assert!(!group_matches(&group, "sre"));
    }
}
