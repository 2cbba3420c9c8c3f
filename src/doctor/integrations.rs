//! The optional integrations: status providers and Statuspage.

use futures_util::future::join_all;

use super::redact::error_chain;
use super::{CHECK_TIMEOUT, Finding, timed};
use crate::actors::groups::{GroupError, GroupSpec};
use crate::config::{Config, ProviderConfig, Publishers};
use crate::egress::Egress;
use crate::providers::{self, FetchError, ProviderClient, ProviderResult};
use crate::slack::{ApiErrorCode, SlackApi};
use crate::statuspage::{ClientOptions, StatuspageClient, StatuspageError};

/// One line per configured status provider, each fetched once.
pub(super) async fn check_providers(config: &Config, egress: &Egress) -> Vec<Finding> {
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

/// The Statuspage checks: the key and page id, then who may publish.
pub(super) async fn check_statuspage(config: &Config, egress: &Egress) -> Vec<Finding> {
    let (access, publishers) = tokio::join!(
        check_statuspage_access(config, egress),
        timed("statuspage publishers", check_publishers(config, egress))
    );
    match config.statuspage {
        Some(_) => vec![access, publishers],
        None => vec![access],
    }
}

/// Who may publish to Statuspage: a FAIL when nobody may (neither setting
/// is made), or when the group is not exactly one group in Slack.
async fn check_publishers(config: &Config, egress: &Egress) -> Finding {
    const CHECK: &str = "statuspage publishers";
    let Some(statuspage) = &config.statuspage else {
        return Finding::skip(CHECK, "not configured");
    };
    let group = match statuspage.publishers() {
        Publishers::Everyone => {
            return Finding::ok(
                CHECK,
                "anyone may create and update Statuspage incidents (statuspage.allow_everyone)",
            );
        }
        Publishers::Nobody => {
            return Finding::fail(
                CHECK,
                "nobody may create or update Statuspage incidents — set \
                 statuspage.allowed_group (JANUS_STATUSPAGE__ALLOWED_GROUP) to a user group, \
                 or statuspage.allow_everyone = true (JANUS_STATUSPAGE__ALLOW_EVERYONE)",
            );
        }
        Publishers::Group(group) => group,
    };
    let api = match SlackApi::new(
        &config.slack.api_url,
        &config.slack.bot_token,
        &config.slack.app_token,
        egress,
    ) {
        Ok(api) => api,
        Err(e) => return Finding::fail(CHECK, format!("cannot build a Slack client: {e}")),
    };
    let groups = match api.user_groups().await {
        Ok(groups) => groups,
        Err(e) if e.code() == Some(&ApiErrorCode::PlanUpgradeRequired) => {
            return Finding::fail(
                CHECK,
                "this Slack plan has no user groups — unset statuspage.allowed_group and \
                 choose statuspage.allow_everyone, knowing anyone may then publish",
            );
        }
        Err(e) => return Finding::fail(CHECK, format!("cannot list user groups: {e}")),
    };
    match GroupSpec::parse(group).find(&groups) {
        Ok(found) => Finding::ok(
            CHECK,
            format!("members of @{} ({}) may publish", found.handle, found.id),
        ),
        Err(e @ (GroupError::Ambiguous { .. } | GroupError::NotFound { .. })) => Finding::fail(
            CHECK,
            format!(
                "statuspage.allowed_group (JANUS_STATUSPAGE__ALLOWED_GROUP): {}; until then \
                 nobody may publish",
                e.advice()
            ),
        ),
        Err(e) => Finding::fail(CHECK, e.advice()),
    }
}

/// The Statuspage key and page id are accepted: the page's components list.
async fn check_statuspage_access(config: &Config, egress: &Egress) -> Finding {
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
