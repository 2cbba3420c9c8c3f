//! The Slack checks: the bot and app tokens, the scopes, the digest channel,
//! the auto-invite group, and the proxy on the way to Slack.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::redact::error_chain;
use super::{CHECK_TIMEOUT, Finding, timed};
use crate::actors::groups::{GroupError, GroupSpec};
use crate::config::Config;
use crate::egress::Egress;
use crate::slack::{ApiErrorCode, SlackApi};

/// The bot scopes Janus needs: `oauth_config.scopes.bot` of
/// `slack_manifest.yaml`, in its order (see `slack::scopes`, whose tests
/// keep the two equal). Kept in code so the binary can check a workspace
/// without the file.
pub const REQUIRED_BOT_SCOPES: &[&str] = crate::slack::scopes::BOT_SCOPES;

/// Where Slack says which scopes a token was granted, on Web API answers.
const SCOPES_HEADER: &str = "x-oauth-scopes";

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
pub(super) async fn check_proxy(config: &Config, egress: &Egress) -> Option<Finding> {
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
pub(super) async fn check_slack(config: &Config, egress: &Egress) -> Vec<Finding> {
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

/// The auto-invite group is exactly one group (`usergroups.list`), matched
/// as Janus resolves it at start: by id, or by handle or name, any case.
async fn user_group(api: &SlackApi, wanted: &str) -> Finding {
    const CHECK: &str = "auto-invite group";
    let spec = GroupSpec::parse(wanted);
    match api.user_groups().await {
        Ok(groups) => match spec.find(&groups) {
            Ok(g) => Finding::ok(CHECK, format!("@{} ({}) exists", g.handle, g.id)),
            Err(e @ GroupError::Ambiguous { .. }) => Finding::fail(
                CHECK,
                format!("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME: {}", e.advice()),
            ),
            Err(_) => Finding::fail(
                CHECK,
                format!(
                    "no user group with id, handle or name {wanted:?} — check \
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Verdict;

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
}
