//! The Slack Web API, as Janus uses it: slack-morphism underneath, typed
//! errors on top, and rate limits waited out rather than surfaced.
//!
//! Every call goes through one loop (`SlackApi::with_retry`), the one place
//! that knows about `ok:false`, HTTP 429, `Retry-After` and deadlines. Write
//! methods send our rendered Block Kit JSON as it is (slack-morphism's typed
//! blocks would silently drop fields they do not model).
//!
//! Time is bounded twice ([`SlackTuning`]): each HTTP attempt has a timeout,
//! and the whole call (429 waits and retries included) a budget, after which
//! it returns an error rather than waiting on. Which methods are sent again
//! after a timeout, and how 429s are shared between callers, is in `retry`.

mod error;
mod retry;
pub mod scopes;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use url::Url;

use crate::domain::ids::{ChannelId, MessageTs, TeamId, UserId};
use crate::egress::{Egress, HttpsTunnelConnector};
use crate::metrics::Metrics;

pub use error::{ApiErrorCode, SlackError};

/// Every connection is opened by the egress policy (directly or through a `CONNECT`
/// tunnel), with TLS inside it.
type Connector = SlackClientHyperConnector<HttpsTunnelConnector>;

/// The wait used when a 429 carries no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The longest block one 429 sets on its method: a larger `Retry-After`
/// (a proxy's mistake, say) would otherwise silence the method for hours.
/// Calls give up at their budget anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// How long Slack calls may take. Not user configuration: the defaults suit
/// Slack, and tests shorten them to meet timeouts without waiting for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlackTuning {
    /// One HTTP attempt of a Web API call. A request that hangs (a
    /// half-dead connection, a stuck proxy) must not block its caller.
    pub call_timeout: Duration,
    /// One attempt of a paged list read (`conversations.list`/`history`/
    /// `replies`, `usergroups.*`), which Slack may answer more slowly.
    pub list_timeout: Duration,
    /// A POST to a `response_url` (sent once, never repeated).
    pub respond_timeout: Duration,
    /// A whole call, from its start to its answer: 429 waits, timed-out
    /// attempts and pauses between them included. Past it the call returns
    /// its last error (or [`SlackError::RateLimited`] when it was still
    /// blocked by a 429), so a caller is never held for more.
    pub effect_budget: Duration,
}

impl Default for SlackTuning {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(15),
            list_timeout: Duration::from_secs(30),
            respond_timeout: Duration::from_secs(10),
            effect_budget: Duration::from_secs(120),
        }
    }
}

impl SlackTuning {
    /// The timeout of one attempt of `method`.
    fn attempt_timeout(&self, method: &str) -> Duration {
        if retry::is_list_read(method) {
            self.list_timeout
        } else {
            self.call_timeout
        }
    }
}

/// Which of the two tokens a call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `xapp-`: only for `apps.connections.open`.
    App,
    /// `xoxb-`: everything else.
    Bot,
}

/// The `{"id": …}` object Slack wraps channels in.
#[derive(Deserialize)]
struct Id {
    id: ChannelId,
}

/// A message as read back from Slack.
#[derive(Debug, Clone, Deserialize)]
pub struct FetchedMessage {
    pub ts: MessageTs,
    /// Its author, when a person wrote it.
    #[serde(default)]
    pub user: Option<UserId>,
    /// Its text, as Slack stores it (entity-encoded mrkdwn).
    #[serde(default)]
    pub text: String,
    /// The thread it belongs to, if any.
    #[serde(default)]
    pub thread_ts: Option<MessageTs>,
    /// Its blocks, when it has any.
    #[serde(default)]
    pub blocks: Option<Value>,
    /// The reactions on it, each with who reacted.
    #[serde(default)]
    pub reactions: Vec<MessageReaction>,
    /// Set when an app or integration posted it (Janus's own included).
    #[serde(default)]
    pub bot_id: Option<String>,
    /// `bot_message`, `channel_join`…; none for a person's plain message.
    #[serde(default)]
    pub subtype: Option<String>,
}

impl FetchedMessage {
    /// Whether a bot posted it (an integration, an app, Janus itself)
    /// rather than a person.
    pub fn is_from_bot(&self, janus: &UserId) -> bool {
        self.bot_id.is_some()
            || self.subtype.as_deref() == Some("bot_message")
            || self.user.as_ref() == Some(janus)
    }
}

/// One emoji on a message and who put it there.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageReaction {
    /// Without colons; may carry `::skin-tone-N`.
    pub name: String,
    #[serde(default)]
    pub users: Vec<UserId>,
}

/// A user group, from `usergroups.list`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserGroup {
    /// `S…`.
    pub id: String,
    /// The `@handle`, without the `@`.
    #[serde(default)]
    pub handle: String,
    #[serde(default)]
    pub name: String,
}

/// A person as `users.info` describes them: enough to tell a full member
/// of the workspace from a guest or someone of another organisation.
#[derive(Debug, Clone, Deserialize)]
pub struct Person {
    pub id: UserId,
    /// Their home workspace (`T…`; on Enterprise Grid it may be the
    /// organisation's `E…`).
    #[serde(default)]
    pub team_id: Option<String>,
    /// A multi-channel guest.
    #[serde(default)]
    pub is_restricted: bool,
    /// A single-channel guest.
    #[serde(default)]
    pub is_ultra_restricted: bool,
    /// On Enterprise Grid, the organisation they belong to.
    #[serde(default)]
    pub enterprise_user: Option<EnterpriseUser>,
    /// Their full name, as a quote shows them instead of `<@U…>`.
    #[serde(default)]
    pub real_name: Option<String>,
    /// Their username (the legacy `name`), when they have no real name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub profile: Option<Profile>,
}

impl Person {
    /// How people know them: the real name, else the display name, else
    /// the username; `None` when Slack gave none of them.
    pub fn readable_name(&self) -> Option<&str> {
        let profile = self.profile.as_ref();
        [
            self.real_name.as_deref(),
            profile.and_then(|p| p.real_name.as_deref()),
            profile.and_then(|p| p.display_name.as_deref()),
            self.name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|name| !name.is_empty())
    }
}

/// `users.info`'s `profile`: the names people chose.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `users.info`'s `enterprise_user`.
#[derive(Debug, Clone, Deserialize)]
pub struct EnterpriseUser {
    #[serde(default)]
    pub enterprise_id: Option<String>,
}

/// Who the bot is, from `auth.test`.
#[derive(Debug, Clone)]
pub struct BotIdentity {
    /// The bot's own user id, to recognise `<@U…>` mentions of itself.
    pub user_id: UserId,
    /// The bot's user name in this workspace (`auth.test`'s `user`), for
    /// the rare message that must spell it, such as `/invite @name`.
    pub name: String,
    /// The workspace the bot token belongs to.
    pub team_id: TeamId,
    /// Its Enterprise Grid organisation (`E…`), if it is in one.
    pub enterprise_id: Option<String>,
    /// The workspace's browser URL (`https://acme.slack.com/`), for links.
    pub workspace_url: Option<url::Url>,
}

impl BotIdentity {
    /// The workspace URL for links: `slack.workspace_id` when configured
    /// (the operator's word wins), else what `auth.test` reported.
    pub fn with_workspace_id(mut self, workspace_id: Option<&str>) -> Self {
        if let Some(url) =
            workspace_id.and_then(|id| url::Url::parse(&format!("https://{id}.slack.com/")).ok())
        {
            self.workspace_url = Some(url);
        }
        self
    }
}

/// A cheap, cloneable Slack Web API client. Clones share their
/// connections and their rate-limit state: a 429 met by one holds back
/// every clone's calls of that method.
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackClient<Connector>>,
    /// Timeouts and the per-call budget.
    tuning: SlackTuning,
    /// Which methods Slack answered 429, until when, and who waits for them.
    gates: Arc<retry::RateGates>,
    bot_token: Arc<SlackApiToken>,
    app_token: Arc<SlackApiToken>,
    /// Where calls and 429s are counted; `None` counts nothing.
    metrics: Option<Arc<Metrics>>,
    /// The policy the Web API connections follow; the websocket follows it too.
    egress: Egress,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi").finish_non_exhaustive()
    }
}

impl SlackApi {
    /// Builds a client for `api_url` (e.g. `https://slack.com/api/`, or a
    /// fake on loopback: plain `http://` is allowed for that reason) whose
    /// connections follow `egress` (proxy and trusted CAs).
    pub fn new(
        api_url: &Url,
        bot_token: &SecretString,
        app_token: &SecretString,
        egress: &Egress,
    ) -> Result<Self, SlackError> {
        let https = HttpsTunnelConnector::new(egress);
        // slack-morphism joins base and method with a '/', so the base must
        // not end with one.
        let base = api_url.as_str().trim_end_matches('/');
        let connector = SlackClientHyperConnector::with_connector(https).with_slack_api_url(base);
        let token = |s: &SecretString| {
            Arc::new(SlackApiToken::new(SlackApiTokenValue(
                s.expose_secret().to_owned(),
            )))
        };
        Ok(Self {
            client: Arc::new(SlackClient::new(connector)),
            tuning: SlackTuning::default(),
            gates: Arc::default(),
            bot_token: token(bot_token),
            app_token: token(app_token),
            metrics: None,
            egress: egress.clone(),
        })
    }

    /// The policy this client's connections follow, for the websocket that
    /// `apps.connections.open` points at.
    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// The same client, counting every call (method and result) and every
    /// 429 into `metrics`, for `/metrics`. A builder rather than an argument
    /// of [`SlackApi::new`] so callers that do not count need not care.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The same client with other timeouts and budget (tests shorten them).
    /// A builder so [`SlackApi::new`]'s callers keep the defaults unasked.
    pub fn with_tuning(mut self, tuning: SlackTuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// Counts one finished call: `ok`, Slack's error code, or what kind of
    /// failure kept Slack from answering.
    fn count<T>(&self, method: &str, result: &Result<T, SlackError>) {
        if let Some(metrics) = &self.metrics {
            let outcome = match result {
                Ok(_) => "ok",
                Err(e) => e.metric_label(),
            };
            metrics.api_call(method, outcome);
        }
    }

    fn token(&self, token: TokenKind) -> &SlackApiToken {
        match token {
            TokenKind::App => &self.app_token,
            TokenKind::Bot => &self.bot_token,
        }
    }

    /// Runs one request of `method` within the call's budget: each attempt
    /// waits for the method's 429 block (shared by every clone) and has its
    /// timeout; a 429 blocks the method and the call waits its turn again; a
    /// transient failure (timeout, lost connection, 5xx) is tried again with
    /// backoff only for retry-safe methods (`retry::is_retry_safe`), at most
    /// `retry::MAX_ATTEMPTS` times. Anything else, or the end of the
    /// budget, returns the last error.
    async fn with_retry<RS, F, Fut>(&self, method: &'static str, send: F) -> Result<RS, SlackError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<RS, SlackClientError>>,
    {
        let started = Instant::now();
        let deadline = started + self.tuning.effect_budget;
        let per_attempt = self.tuning.attempt_timeout(method);
        let retry_safe = retry::is_retry_safe(method);
        let (mut sent, mut limited, mut failed) = (0, 0, 0);
        let result = loop {
            let Ok(turn) = self.gates.wait_turn(method, deadline).await else {
                tracing::warn!(
                    method,
                    rate_limited = limited,
                    "Slack method rate limited past the call's time budget; giving up"
                );
                break Err(SlackError::RateLimited {
                    method,
                    attempts: limited,
                });
            };
            let Some(timeout) = retry::attempt_timeout(per_attempt, Instant::now(), deadline)
            else {
                break Err(SlackError::Timeout {
                    method,
                    attempts: sent,
                    elapsed: started.elapsed(),
                });
            };
            sent += 1;
            let error = match tokio::time::timeout(timeout, send()).await {
                Ok(Ok(rs)) => break Ok(rs),
                Ok(Err(SlackClientError::RateLimitError(e))) => {
                    let wait = e
                        .retry_after
                        .unwrap_or(DEFAULT_RETRY_AFTER)
                        .min(MAX_RETRY_AFTER);
                    // Recorded before the turn is given back, so the next
                    // caller in line already sees it.
                    self.gates.block(method, Instant::now() + wait);
                    drop(turn);
                    if let Some(metrics) = &self.metrics {
                        metrics.rate_limited(method);
                    }
                    limited += 1;
                    tracing::warn!(
                        method,
                        rate_limited = limited,
                        retry_after_ms = wait.as_millis() as u64,
                        "Slack rate limit hit; this method waits Retry-After, for every caller"
                    );
                    continue;
                }
                Ok(Err(e)) => SlackError::from_client(method, limited, e),
                Err(_) => {
                    if let Some(metrics) = &self.metrics {
                        metrics.timed_out(method);
                    }
                    SlackError::Timeout {
                        method,
                        attempts: sent,
                        elapsed: started.elapsed(),
                    }
                }
            };
            drop(turn);
            failed += 1;
            if !(retry_safe && error.is_transient() && failed < retry::MAX_ATTEMPTS) {
                break Err(error);
            }
            let pause = retry::backoff(failed, fastrand::f64());
            if !retry::fits(Instant::now() + pause, deadline) {
                break Err(error);
            }
            tracing::warn!(
                method,
                attempt = sent,
                pause_ms = pause.as_millis() as u64,
                error = %error,
                "Slack call failed; trying again (safe to repeat)"
            );
            tokio::time::sleep(pause).await;
        };
        self.count(method, &result);
        result
    }

    /// Calls a write `method` with a JSON body, waiting out rate limits,
    /// within the call's budget ([`SlackTuning`]).
    pub async fn call<RS: DeserializeOwned + Send>(
        &self,
        token: TokenKind,
        method: &'static str,
        body: &Value,
    ) -> Result<RS, SlackError> {
        let session = self.client.open_session(self.token(token));
        self.with_retry(method, || {
            session.http_session_api.http_post(method, body, None)
        })
        .await
    }

    /// Calls a read `method` with query parameters (Slack's read methods do
    /// not take JSON bodies), waiting out rate limits, within the call's
    /// budget ([`SlackTuning`]).
    pub async fn get<RS: DeserializeOwned + Send>(
        &self,
        method: &'static str,
        params: &[(&'static str, Option<String>)],
    ) -> Result<RS, SlackError> {
        let session = self.client.open_session(&self.bot_token);
        let params: Vec<(&str, Option<&str>)> =
            params.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        self.with_retry(method, || {
            session.http_session_api.http_get(method, &params, None)
        })
        .await
    }

    /// `apps.connections.open`: a one-use websocket URL for Socket Mode.
    pub async fn open_socket_url(&self) -> Result<Url, SlackError> {
        #[derive(Deserialize)]
        struct Opened {
            url: Url,
        }
        let opened: Opened = self
            .call(TokenKind::App, "apps.connections.open", &json!({}))
            .await?;
        Ok(opened.url)
    }

    /// `auth.test` with the bot token: checks it and says who we are.
    pub async fn auth_test(&self) -> Result<BotIdentity, SlackError> {
        #[derive(Deserialize)]
        struct AuthTest {
            user_id: UserId,
            team_id: TeamId,
            #[serde(default)]
            user: Option<String>,
            #[serde(default)]
            url: Option<String>,
            #[serde(default)]
            enterprise_id: Option<String>,
        }
        let me: AuthTest = self.call(TokenKind::Bot, "auth.test", &json!({})).await?;
        Ok(BotIdentity {
            name: me
                .user
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "janus".to_owned()),
            user_id: me.user_id,
            team_id: me.team_id,
            enterprise_id: me.enterprise_id.filter(|e| !e.is_empty()),
            workspace_url: me.url.and_then(|u| url::Url::parse(&u).ok()),
        })
    }

    /// `chat.postMessage` with rendered blocks; `text` is the notification
    /// and screen-reader fallback.
    pub async fn post_message(
        &self,
        channel: &ChannelId,
        text: &str,
        blocks: &Value,
        thread_ts: Option<&MessageTs>,
    ) -> Result<MessageTs, SlackError> {
        #[derive(Deserialize)]
        struct Posted {
            ts: MessageTs,
        }
        let mut body = json!({
            "channel": channel.as_str(),
            "text": text,
            "blocks": blocks,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts.as_str());
        }
        let posted: Posted = self.call(TokenKind::Bot, "chat.postMessage", &body).await?;
        Ok(posted.ts)
    }

    /// `chat.postEphemeral`: a message only `user` sees, in `channel`.
    pub async fn post_ephemeral(
        &self,
        channel: &ChannelId,
        user: &UserId,
        payload: &Value,
    ) -> Result<(), SlackError> {
        let mut body = payload.clone();
        body["channel"] = json!(channel.as_str());
        body["user"] = json!(user.as_str());
        if let Some(map) = body.as_object_mut() {
            map.remove("response_type");
        }
        self.call::<Value>(TokenKind::Bot, "chat.postEphemeral", &body)
            .await
            .map(|_| ())
    }

    /// `views.open`: shows a modal in answer to a click or command.
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        let body = json!({ "trigger_id": trigger_id, "view": view });
        self.call::<Value>(TokenKind::Bot, "views.open", &body)
            .await
            .map(|_| ())
    }

    /// `chat.update`: replaces a message's text and blocks.
    pub async fn update_message(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
        text: &str,
        blocks: &Value,
    ) -> Result<(), SlackError> {
        let body = json!({ "channel": channel.as_str(), "ts": ts.as_str(), "text": text, "blocks": blocks });
        self.call::<Value>(TokenKind::Bot, "chat.update", &body)
            .await?;
        Ok(())
    }

    /// `chat.delete` of one of the bot's own messages; one already gone is
    /// not an error.
    pub async fn delete_message(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
    ) -> Result<(), SlackError> {
        let body = json!({ "channel": channel.as_str(), "ts": ts.as_str() });
        match self
            .call::<Value>(TokenKind::Bot, "chat.delete", &body)
            .await
        {
            Err(e) if e.code() == Some(&ApiErrorCode::MessageNotFound) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `conversations.create`: a public channel, or a private one
    /// (`private`). `name_taken` comes back as [`ApiErrorCode::NameTaken`]
    /// for the caller to pick another name.
    pub async fn create_channel(&self, name: &str, private: bool) -> Result<ChannelId, SlackError> {
        #[derive(Deserialize)]
        struct Created {
            channel: Id,
        }
        let created: Created = self
            .call(
                TokenKind::Bot,
                "conversations.create",
                &json!({ "name": name, "is_private": private }),
            )
            .await?;
        Ok(created.channel.id)
    }

    /// `conversations.invite`; people already in the channel are not an error.
    pub async fn invite(&self, channel: &ChannelId, users: &[UserId]) -> Result<(), SlackError> {
        let users: Vec<&str> = users.iter().map(UserId::as_str).collect();
        let body = json!({ "channel": channel.as_str(), "users": users.join(",") });
        match self
            .call::<Value>(TokenKind::Bot, "conversations.invite", &body)
            .await
        {
            Err(e) if e.code() == Some(&ApiErrorCode::AlreadyInChannel) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `conversations.setTopic` (Slack caps topics at 250 characters).
    pub async fn set_topic(&self, channel: &ChannelId, topic: &str) -> Result<(), SlackError> {
        let topic: String = topic.chars().take(250).collect();
        let body = json!({ "channel": channel.as_str(), "topic": topic });
        self.call::<Value>(TokenKind::Bot, "conversations.setTopic", &body)
            .await
            .map(|_| ())
    }

    /// `bookmarks.add`: a link bookmark in the channel header.
    pub async fn add_bookmark(
        &self,
        channel: &ChannelId,
        title: &str,
        link: &Url,
    ) -> Result<(), SlackError> {
        let body = json!({
            "channel_id": channel.as_str(), "title": title, "type": "link", "link": link.as_str(),
        });
        self.call::<Value>(TokenKind::Bot, "bookmarks.add", &body)
            .await
            .map(|_| ())
    }

    /// `pins.add`; a message already pinned is not an error.
    pub async fn pin(&self, channel: &ChannelId, ts: &MessageTs) -> Result<(), SlackError> {
        let body = json!({ "channel": channel.as_str(), "timestamp": ts.as_str() });
        match self.call::<Value>(TokenKind::Bot, "pins.add", &body).await {
            Err(e) if e.code() == Some(&ApiErrorCode::AlreadyPinned) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `conversations.join`: the bot joins a public channel.
    pub async fn join(&self, channel: &ChannelId) -> Result<(), SlackError> {
        let body = json!({ "channel": channel.as_str() });
        self.call::<Value>(TokenKind::Bot, "conversations.join", &body)
            .await
            .map(|_| ())
    }

    /// `conversations.open`: the DM channel with `user`.
    pub async fn open_dm(&self, user: &UserId) -> Result<ChannelId, SlackError> {
        #[derive(Deserialize)]
        struct Opened {
            channel: Id,
        }
        let opened: Opened = self
            .call(
                TokenKind::Bot,
                "conversations.open",
                &json!({ "users": user.as_str() }),
            )
            .await?;
        Ok(opened.channel.id)
    }

    /// `reactions.add`: the bot reacts to a message (an acknowledgement);
    /// a reaction it already put there is no error.
    pub async fn add_reaction(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
        name: &str,
    ) -> Result<(), SlackError> {
        let body = json!({ "channel": channel.as_str(), "timestamp": ts.as_str(), "name": name });
        self.set_state("reactions.add", &body, "already_reacted")
            .await
    }

    /// `reactions.remove`: takes the bot's reaction back; one that is not
    /// there is no error.
    pub async fn remove_reaction(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
        name: &str,
    ) -> Result<(), SlackError> {
        let body = json!({ "channel": channel.as_str(), "timestamp": ts.as_str(), "name": name });
        self.set_state("reactions.remove", &body, "no_reaction")
            .await
    }

    /// A call that puts something in a state (reacted, archived…): Slack's
    /// `already` code, meaning it is in that state already, is success.
    async fn set_state(
        &self,
        method: &'static str,
        body: &Value,
        already: &str,
    ) -> Result<(), SlackError> {
        match self.call::<Value>(TokenKind::Bot, method, body).await {
            Err(e) if matches!(e.code(), Some(ApiErrorCode::Other(c)) if c == already) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Uploads `content` as the file `filename` and shares it in `channel`
    /// (Slack's upload flow: `files.getUploadURLExternal`, the bytes to the
    /// URL it gives, `files.completeUploadExternal`). The upload URL is a
    /// credential of its own: it is never logged.
    pub async fn upload_file(
        &self,
        channel: &ChannelId,
        filename: &str,
        title: &str,
        content: &[u8],
    ) -> Result<(), SlackError> {
        #[derive(Deserialize)]
        struct Upload {
            upload_url: Url,
            file_id: String,
        }
        let upload: Upload = self
            .get(
                "files.getUploadURLExternal",
                &[
                    ("filename", Some(filename.to_owned())),
                    ("length", Some(content.len().to_string())),
                ],
            )
            .await?;
        let started = Instant::now();
        let span = tracing::debug_span!("slack_file_upload");
        let context = SlackClientApiCallContext {
            rate_control_params: None,
            token: None,
            tracing_span: &span,
            is_sensitive_url: true,
        };
        let post = self
            .client
            .http_api
            .connector
            .http_post_uri_binary::<Value>(
                upload.upload_url,
                "text/markdown; charset=utf-8".to_owned(),
                content,
                context,
            );
        match tokio::time::timeout(self.tuning.call_timeout, post).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(SlackError::from_client("file upload", 0, e)),
            Err(_) => {
                return Err(SlackError::Timeout {
                    method: "file upload",
                    attempts: 1,
                    elapsed: started.elapsed(),
                });
            }
        }
        let files = json!([{ "id": upload.file_id, "title": title }]);
        self.call::<Value>(
            TokenKind::Bot,
            "files.completeUploadExternal",
            &json!({ "files": files, "channel_id": channel.as_str() }),
        )
        .await
        .map(|_| ())
    }

    /// `conversations.archive`; a channel archived already is no error.
    pub async fn archive_channel(&self, channel: &ChannelId) -> Result<(), SlackError> {
        let body = json!({ "channel": channel.as_str() });
        self.set_state("conversations.archive", &body, "already_archived")
            .await
    }

    /// `users.info`: what Janus needs to know of a person to decide what
    /// they may do.
    pub async fn person(&self, user: &UserId) -> Result<Person, SlackError> {
        #[derive(Deserialize)]
        struct Info {
            user: Person,
        }
        let info: Info = self
            .get("users.info", &[("user", Some(user.as_str().to_owned()))])
            .await?;
        Ok(info.user)
    }

    /// Whether a conversation is private: a private channel, a DM or a
    /// group DM (`conversations.info`). An incident declared from one gets
    /// a private channel.
    pub async fn is_private(&self, channel: &ChannelId) -> Result<bool, SlackError> {
        #[derive(Deserialize)]
        struct Info {
            channel: Kind,
        }
        #[derive(Deserialize)]
        struct Kind {
            #[serde(default)]
            is_private: bool,
            #[serde(default)]
            is_im: bool,
            #[serde(default)]
            is_mpim: bool,
        }
        let info: Info = self
            .get(
                "conversations.info",
                &[("channel", Some(channel.as_str().to_owned()))],
            )
            .await?;
        Ok(info.channel.is_private || info.channel.is_im || info.channel.is_mpim)
    }

    /// Every member of `channel` (`conversations.members`, page by page).
    pub async fn members(&self, channel: &ChannelId) -> Result<Vec<UserId>, SlackError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            members: Vec<String>,
        }
        let mut members = Vec::new();
        let params = [
            ("channel", Some(channel.as_str().to_owned())),
            ("limit", Some("1000".to_owned())),
        ];
        self.pages("conversations.members", &params, |page: Page| {
            members.extend(page.members.iter().filter_map(|m| UserId::parse(m).ok()));
            true
        })
        .await?;
        Ok(members)
    }

    /// A paged read (`cursor`), page by page: each page goes to `each`,
    /// until it answers `false` or Slack has no next page.
    async fn pages<P: DeserializeOwned + Send>(
        &self,
        method: &'static str,
        params: &[(&'static str, Option<String>)],
        mut each: impl FnMut(P) -> bool,
    ) -> Result<(), SlackError> {
        #[derive(Deserialize)]
        struct Paged<P> {
            #[serde(flatten)]
            page: P,
            #[serde(default)]
            response_metadata: Option<Meta>,
        }
        #[derive(Deserialize)]
        struct Meta {
            #[serde(default)]
            next_cursor: String,
        }
        let mut cursor: Option<String> = None;
        loop {
            let mut with_cursor = params.to_vec();
            with_cursor.push(("cursor", cursor.take()));
            let paged: Paged<P> = self.get(method, &with_cursor).await?;
            if !each(paged.page) {
                return Ok(());
            }
            match paged.response_metadata.map(|m| m.next_cursor) {
                Some(next) if !next.is_empty() => cursor = Some(next),
                _ => return Ok(()),
            }
        }
    }

    /// Finds a channel by name with `conversations.list`, page by page
    /// (workspaces have thousands of channels). Archived channels are skipped.
    pub async fn find_channel(&self, name: &str) -> Result<Option<ChannelId>, SlackError> {
        #[derive(Deserialize)]
        struct Listed {
            #[serde(default)]
            channels: Vec<Named>,
        }
        #[derive(Deserialize)]
        struct Named {
            id: ChannelId,
            name: String,
        }
        let params = [
            ("types", Some("public_channel,private_channel".to_owned())),
            ("exclude_archived", Some("true".to_owned())),
            ("limit", Some("1000".to_owned())),
        ];
        let mut found = None;
        self.pages("conversations.list", &params, |page: Listed| {
            found = page
                .channels
                .into_iter()
                .find(|c| c.name == name)
                .map(|c| c.id);
            found.is_none()
        })
        .await?;
        Ok(found)
    }

    /// The message `ts` in `channel`, whether a top-level message
    /// (`conversations.history`) or a thread reply (`conversations.replies`).
    /// `None` when it no longer exists.
    pub async fn message(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
    ) -> Result<Option<FetchedMessage>, SlackError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            messages: Vec<FetchedMessage>,
        }
        let params = |method_ts: &str| {
            [
                ("channel", Some(channel.to_string())),
                ("latest", Some(method_ts.to_owned())),
                ("oldest", Some(method_ts.to_owned())),
                ("inclusive", Some("true".to_owned())),
                ("limit", Some("1".to_owned())),
            ]
        };
        let page: Page = self
            .get("conversations.history", &params(ts.as_str()))
            .await?;
        if let Some(found) = page.messages.into_iter().find(|m| &m.ts == ts) {
            return Ok(Some(found));
        }
        // Not top-level: a reply, found through its thread.
        let mut replies = params(ts.as_str()).to_vec();
        replies.push(("ts", Some(ts.to_string())));
        let page: Result<Page, _> = self.get("conversations.replies", &replies).await;
        match page {
            Ok(page) => Ok(page.messages.into_iter().find(|m| &m.ts == ts)),
            Err(e) if matches!(e.code(), Some(ApiErrorCode::Other(c)) if c == "thread_not_found") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The latest `limit` messages of a channel, newest first.
    pub async fn recent_messages(
        &self,
        channel: &ChannelId,
        limit: u32,
    ) -> Result<Vec<FetchedMessage>, SlackError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            messages: Vec<FetchedMessage>,
        }
        let params = [
            ("channel", Some(channel.to_string())),
            ("limit", Some(limit.to_string())),
        ];
        let page: Page = self.get("conversations.history", &params).await?;
        Ok(page.messages)
    }

    /// The top-level messages of a channel newer than `oldest` (all of
    /// them without it), page by page, at most `max`, in no set order.
    pub async fn messages_since(
        &self,
        channel: &ChannelId,
        oldest: Option<&MessageTs>,
        max: usize,
    ) -> Result<Vec<FetchedMessage>, SlackError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            messages: Vec<FetchedMessage>,
        }
        let params = [
            ("channel", Some(channel.to_string())),
            ("oldest", oldest.map(MessageTs::to_string)),
            ("limit", Some("200".to_owned())),
        ];
        let mut found = Vec::new();
        self.pages("conversations.history", &params, |page: Page| {
            found.extend(page.messages);
            found.len() < max
        })
        .await?;
        found.truncate(max);
        Ok(found)
    }

    /// `chat.getPermalink`: a link to a message.
    pub async fn permalink(&self, channel: &ChannelId, ts: &MessageTs) -> Result<Url, SlackError> {
        #[derive(Deserialize)]
        struct Link {
            permalink: Url,
        }
        let params = [
            ("channel", Some(channel.to_string())),
            ("message_ts", Some(ts.to_string())),
        ];
        let link: Link = self.get("chat.getPermalink", &params).await?;
        Ok(link.permalink)
    }

    /// `usergroups.list`: the workspace's user groups.
    pub async fn user_groups(&self) -> Result<Vec<UserGroup>, SlackError> {
        #[derive(Deserialize)]
        struct Groups {
            #[serde(default)]
            usergroups: Vec<UserGroup>,
        }
        let groups: Groups = self.get("usergroups.list", &[]).await?;
        Ok(groups.usergroups)
    }

    /// `usergroups.users.list`: the members of a user group.
    pub async fn user_group_members(&self, group_id: &str) -> Result<Vec<UserId>, SlackError> {
        #[derive(Deserialize)]
        struct Members {
            #[serde(default)]
            users: Vec<String>,
        }
        let params = [("usergroup", Some(group_id.to_owned()))];
        let members: Members = self.get("usergroups.users.list", &params).await?;
        Ok(members
            .users
            .iter()
            .filter_map(|u| UserId::parse(u).ok())
            .collect())
    }

    /// Posts to an interaction's `response_url` (ephemeral unless the
    /// payload says otherwise). Used for replies that come after the ack.
    /// The URL itself authorises the post: no token is sent with it. Sent
    /// once, within `SlackTuning::respond_timeout`: a timeout may still have
    /// shown the message, so it is never repeated here.
    pub async fn respond(&self, response_url: &Url, payload: &Value) -> Result<(), SlackError> {
        let started = Instant::now();
        let span = tracing::debug_span!("slack_response_url");
        let context = SlackClientApiCallContext {
            rate_control_params: None,
            token: None,
            tracing_span: &span,
            // The URL is a credential of its own: keep it out of logs.
            is_sensitive_url: true,
        };
        let post = self.client.http_api.connector.http_post_uri::<_, Value>(
            response_url.clone(),
            payload,
            context,
        );
        let result = match tokio::time::timeout(self.tuning.respond_timeout, post).await {
            Ok(answer) => {
                if let (Err(SlackClientError::RateLimitError(_)), Some(metrics)) =
                    (&answer, &self.metrics)
                {
                    metrics.rate_limited("response_url");
                }
                answer
                    .map(|_| ())
                    .map_err(|e| SlackError::from_client("response_url", 0, e))
            }
            Err(_) => {
                if let Some(metrics) = &self.metrics {
                    metrics.timed_out("response_url");
                }
                Err(SlackError::Timeout {
                    method: "response_url",
                    attempts: 1,
                    elapsed: started.elapsed(),
                })
            }
        };
        self.count("response_url", &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paged_list_reads_get_the_longer_timeout_and_everything_else_the_call_timeout() {
        let tuning = SlackTuning {
            call_timeout: Duration::from_secs(1),
            list_timeout: Duration::from_secs(2),
            ..SlackTuning::default()
        };
        assert_eq!(
            tuning.attempt_timeout("conversations.list"),
            Duration::from_secs(2)
        );
        assert_eq!(
            tuning.attempt_timeout("usergroups.users.list"),
            Duration::from_secs(2)
        );
        assert_eq!(
            tuning.attempt_timeout("chat.update"),
            Duration::from_secs(1)
        );
        assert_eq!(
            tuning.attempt_timeout("conversations.create"),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let secs = Duration::from_secs;
        assert_eq!(
            SlackTuning::default(),
            SlackTuning {
                call_timeout: secs(15),
                list_timeout: secs(30),
                respond_timeout: secs(10),
                effect_budget: secs(120),
            }
        );
    }
}
