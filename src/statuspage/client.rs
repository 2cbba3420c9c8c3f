//! The HTTP client: one place ([`StatuspageClient::send`]) knows the key,
//! the rate limit, retries and status codes; the methods above it only build
//! bodies and read answers.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::error::{StatuspageError, message_from_body, parse_retry_after};
use super::limiter::Limiter;
use super::types::{
    Component, ComponentId, ComponentStatus, Incident, IncidentId, IncidentStatus, NewIncident,
    WireComponent, WireIncident, read_list,
};
use crate::config::StatuspageConfig;

/// How long one request may take, answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`StatuspageClient::components_cached`] trusts its copy.
pub const DEFAULT_COMPONENTS_TTL: Duration = Duration::from_secs(5 * 60);

/// Statuspage allows 1 request/s per key (see `limiter.rs` for how the gap
/// is measured).
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Statuspage's largest page.
const PER_PAGE: usize = 100;
/// A page with more components or open incidents than this is not expected;
/// the cap stops a server that ignores `page` from looping us forever.
const MAX_PAGES: u32 = 20;
/// 420/429 answers waited out per call before giving up.
const MAX_RATE_LIMITED: u32 = 5;
/// The wait used when a 420/429 carries no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// A longer `Retry-After` is not waited out: someone is waiting on a click.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Retries of a GET or PATCH after a 5xx or a lost connection.
const MAX_RETRIES: u32 = 2;
/// First backoff after a 5xx; doubled each time, plus jitter.
const BACKOFF: Duration = Duration::from_secs(1);
/// Statuspage's limit on an incident name.
const MAX_NAME_CHARS: usize = 255;

/// Settings tests change, and the outbound policy the app passes in.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Per-request timeout, answer included.
    pub timeout: Duration,
    /// How long the component list is reused.
    pub components_ttl: Duration,
    /// Proxy and trusted CAs; direct with the system's roots by default.
    pub egress: crate::egress::Egress,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: DEFAULT_TIMEOUT,
            components_ttl: DEFAULT_COMPONENTS_TTL,
            egress: crate::egress::Egress::direct(),
        }
    }
}

/// A client for one Statuspage page. Cheap to clone; clones share the rate
/// limiter and the component cache, so keep one per key.
#[derive(Clone)]
pub struct StatuspageClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The configured base, without query; every request goes under it.
    base: Url,
    page_id: String,
    /// `OAuth <key>`, marked sensitive.
    authorization: HeaderValue,
    limiter: Limiter,
    options: ClientOptions,
    /// Held across a fetch so that concurrent modals share one.
    components: Mutex<Option<Cached>>,
}

struct Cached {
    at: Instant,
    components: Vec<Component>,
}

impl fmt::Debug for StatuspageClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatuspageClient")
            .field("api_url", &self.inner.base.as_str())
            .field("page_id", &self.inner.page_id)
            .field("api_key", &"[REDACTED]")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// Whether a request may be sent again when its outcome is unknown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// GET, and PATCH (a replayed PATCH at worst repeats an update line).
    Allowed,
    /// POST: a replay could create a second incident.
    Never,
}

impl StatuspageClient {
    /// A client with the default timeout and cache lifetime.
    pub fn new(config: &StatuspageConfig) -> Result<Self, StatuspageError> {
        Self::with_options(config, ClientOptions::default())
    }

    /// A client with the given options.
    pub fn with_options(
        config: &StatuspageConfig,
        options: ClientOptions,
    ) -> Result<Self, StatuspageError> {
        let mut base = config.api_url.clone();
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(StatuspageError::Setup(format!(
                "the API URL must be http(s), not {:?}",
                base.scheme()
            )));
        }
        base.set_query(None);
        base.set_fragment(None);
        if config.page_id.trim().is_empty() {
            return Err(StatuspageError::Setup("the page id is empty".to_owned()));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("OAuth {}", config.api_key.expose_secret()))
                // The error would not name the key, but say nothing of it anyway.
                .map_err(|_| {
                    StatuspageError::Setup(
                        "the API key has characters a header cannot carry".into(),
                    )
                })?;
        authorization.set_sensitive(true);
        crate::install_crypto_provider();
        let http = options
            .egress
            .reqwest(reqwest::Client::builder())
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(5)))
            // The API never redirects; following one could carry the key to
            // another host, so a redirect is an unexpected answer instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("janus/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StatuspageError::Setup(error_chain(&e)))?;
        Ok(StatuspageClient {
            inner: Arc::new(Inner {
                http,
                base,
                page_id: config.page_id.clone(),
                authorization,
                limiter: Limiter::new(MIN_INTERVAL),
                options,
                components: Mutex::new(None),
            }),
        })
    }

    // ---- components ---------------------------------------------------------

    /// The page's components that can be chosen (groups left out), fetched
    /// now; the cache is refreshed with them.
    pub async fn components(&self) -> Result<Vec<Component>, StatuspageError> {
        let mut cache = self.inner.components.lock().await;
        let components = self.fetch_components().await?;
        *cache = Some(Cached {
            at: Instant::now(),
            components: components.clone(),
        });
        Ok(components)
    }

    /// Like [`Self::components`], but reusing a list younger than the cache
    /// lifetime (5 minutes): a modal must not hit the API each time it opens.
    pub async fn components_cached(&self) -> Result<Vec<Component>, StatuspageError> {
        let mut cache = self.inner.components.lock().await;
        if let Some(cached) = cache.as_ref()
            && cached.at.elapsed() < self.inner.options.components_ttl
        {
            return Ok(cached.components.clone());
        }
        let components = self.fetch_components().await?;
        *cache = Some(Cached {
            at: Instant::now(),
            components: components.clone(),
        });
        Ok(components)
    }

    async fn fetch_components(&self) -> Result<Vec<Component>, StatuspageError> {
        let rows = self.get_all("list components", &["components"]).await?;
        let components = read_list(rows, |row| {
            serde_json::from_value::<WireComponent>(row)
                .map_err(|e| e.to_string())?
                .check()
        });
        Ok(components.into_iter().filter(|c| !c.group).collect())
    }

    /// Brings cached statuses up to date with an incident Statuspage just
    /// returned, so the next modal shows what Janus itself changed.
    async fn note_statuses(&self, incident: &Incident) {
        let mut cache = self.inner.components.lock().await;
        if let Some(cached) = cache.as_mut() {
            for changed in &incident.components {
                if let Some(component) = cached.components.iter_mut().find(|c| c.id == changed.id) {
                    component.status = changed.status;
                }
            }
        }
    }

    // ---- incidents ----------------------------------------------------------

    /// Creates an incident (`201`). Never retried after a timeout or a 5xx:
    /// that gives [`StatuspageError::CreateNotConfirmed`], and the caller
    /// looks for it with [`Self::find_by_janus_id`] before trying again.
    pub async fn create_incident(&self, new: &NewIncident) -> Result<Incident, StatuspageError> {
        const OP: &str = "create incident";
        let name = new.name.trim();
        if name.is_empty() {
            return Err(StatuspageError::Invalid {
                op: OP,
                reason: "the incident needs a name".into(),
            });
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(StatuspageError::Invalid {
                op: OP,
                reason: format!("the incident name is longer than {MAX_NAME_CHARS} characters"),
            });
        }
        let mut incident = Map::new();
        incident.insert("name".into(), name.into());
        incident.insert("status".into(), new.status.as_str().into());
        incident.insert("body".into(), new.body.as_str().into());
        incident.insert("impact_override".into(), new.impact.as_str().into());
        incident.insert(
            "deliver_notifications".into(),
            new.deliver_notifications.into(),
        );
        put_components(&mut incident, &new.components);
        let mut janus = json!({ "incident_id": new.janus_incident_id });
        if let Some(key) = &new.create_key {
            janus["key"] = key.as_str().into();
        }
        incident.insert("metadata".into(), json!({ "janus": janus }));
        let url = self.url(&["incidents"], &[]);
        let body = json!({ "incident": incident });
        let answer = self.send(OP, Method::POST, url, Some(&body)).await?;
        let incident = read_incident(OP, &answer)?;
        self.note_statuses(&incident).await;
        Ok(incident)
    }

    /// Posts an update: new status and message, and the components to mark
    /// (none = leave them, and the incident's component list, as they are).
    pub async fn update_incident(
        &self,
        id: &IncidentId,
        status: IncidentStatus,
        body: &str,
        components: &[(ComponentId, ComponentStatus)],
        deliver_notifications: bool,
    ) -> Result<Incident, StatuspageError> {
        self.patch(
            "update incident",
            id,
            status,
            body,
            components,
            deliver_notifications,
        )
        .await
    }

    /// Resolves the incident and sets back to `operational` the components
    /// it touched, and only those: the rest of the page may be degraded for
    /// other reasons, which are not ours to clear.
    pub async fn resolve_incident(
        &self,
        id: &IncidentId,
        body: &str,
        touched: &[ComponentId],
        deliver_notifications: bool,
    ) -> Result<Incident, StatuspageError> {
        let components: Vec<_> = touched
            .iter()
            .map(|id| (id.clone(), ComponentStatus::Operational))
            .collect();
        self.patch(
            "resolve incident",
            id,
            IncidentStatus::Resolved,
            body,
            &components,
            deliver_notifications,
        )
        .await
    }

    async fn patch(
        &self,
        op: &'static str,
        id: &IncidentId,
        status: IncidentStatus,
        body: &str,
        components: &[(ComponentId, ComponentStatus)],
        deliver_notifications: bool,
    ) -> Result<Incident, StatuspageError> {
        let mut incident = Map::new();
        incident.insert("status".into(), status.as_str().into());
        incident.insert("body".into(), body.into());
        incident.insert("deliver_notifications".into(), deliver_notifications.into());
        if !components.is_empty() {
            put_components(&mut incident, components);
        }
        let url = self.url(&["incidents", id.as_str()], &[]);
        let body = json!({ "incident": incident });
        let answer = self.send(op, Method::PATCH, url, Some(&body)).await?;
        let incident = read_incident(op, &answer)?;
        self.note_statuses(&incident).await;
        Ok(incident)
    }

    /// Every incident not yet resolved, newest first (rows Janus cannot read,
    /// such as scheduled maintenances, are skipped).
    pub async fn unresolved_incidents(&self) -> Result<Vec<Incident>, StatuspageError> {
        let rows = self
            .get_all("list unresolved incidents", &["incidents", "unresolved"])
            .await?;
        Ok(read_list(rows, |row| {
            serde_json::from_value::<WireIncident>(row)
                .map_err(|e| e.to_string())?
                .check()
        }))
    }

    /// The unresolved incident Janus created for its incident `janus_id`
    /// (from the metadata it set), e.g. after a crash or a create that was
    /// not confirmed. The newest if, somehow, there are several.
    pub async fn find_by_janus_id(
        &self,
        janus_id: i64,
    ) -> Result<Option<Incident>, StatuspageError> {
        Ok(self
            .unresolved_incidents()
            .await?
            .into_iter()
            .find(|incident| incident.janus_incident_id == Some(janus_id)))
    }

    /// The unresolved incident made by the create whose key was `key`
    /// (stored before the POST, sent in its metadata): after a lost answer
    /// or a failed write, the next attempt adopts it instead of creating a
    /// second one.
    pub async fn find_by_create_key(&self, key: &str) -> Result<Option<Incident>, StatuspageError> {
        Ok(self
            .unresolved_incidents()
            .await?
            .into_iter()
            .find(|incident| incident.janus_create_key.as_deref() == Some(key)))
    }

    // ---- plumbing -----------------------------------------------------------

    /// `<base>/pages/<page>/<segments…>?<query>`, each segment escaped.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .expect("checked in new: the base can be a base")
            .pop_if_empty()
            .push("pages")
            .push(&self.inner.page_id)
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Every row of a paged list: pages of 100 until a short one.
    async fn get_all(
        &self,
        op: &'static str,
        segments: &[&str],
    ) -> Result<Vec<Value>, StatuspageError> {
        let mut rows = Vec::new();
        let mut seen = HashSet::new();
        for page in 1..=MAX_PAGES {
            let query = [
                ("page", page.to_string()),
                ("per_page", PER_PAGE.to_string()),
            ];
            let url = self.url(segments, &query);
            let answer = self.send(op, Method::GET, url, None).await?;
            let batch: Vec<Value> = read_json(op, &answer)?;
            let full = batch.len() >= PER_PAGE;
            let before = rows.len();
            for row in batch {
                let id = row.get("id").and_then(Value::as_str).map(str::to_owned);
                if id.is_none_or(|id| seen.insert(id)) {
                    rows.push(row);
                }
            }
            // A server that ignores `page` sends the same rows again.
            if !full || rows.len() == before {
                return Ok(rows);
            }
        }
        tracing::warn!(op, "statuspage: stopped after {MAX_PAGES} pages");
        Ok(rows)
    }

    /// Sends one request (rate-limited, retried as allowed) and returns the
    /// body of a 2xx answer; every other outcome is a typed error.
    async fn send(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, StatuspageError> {
        let replay = if method == Method::POST {
            Replay::Never
        } else {
            Replay::Allowed
        };
        let inner = &self.inner;
        let mut attempts = 0;
        let mut rate_limited = 0;
        let mut retries = 0;
        loop {
            // Held until this attempt is over, answer read.
            let mut slot = inner.limiter.slot().await;
            attempts += 1;
            let mut request = inner
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, inner.authorization.clone())
                .header(ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    tracing::debug!(op, attempt = attempts, %status, "statuspage answered");
                    if matches!(status.as_u16(), 420 | 429) {
                        let asked = response
                            .headers()
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok());
                        let wait = parse_retry_after(asked).unwrap_or(DEFAULT_RETRY_AFTER);
                        rate_limited += 1;
                        // Not processed, so even a POST may go again.
                        if rate_limited > MAX_RATE_LIMITED || wait > MAX_RETRY_AFTER {
                            return Err(StatuspageError::RateLimited { op, attempts });
                        }
                        slot.hold_until(Instant::now() + wait);
                        continue;
                    }
                    if status.is_server_error() {
                        Failure::Server(status)
                    } else {
                        match response.bytes().await {
                            Ok(bytes) => return answer(op, status, bytes.to_vec()),
                            Err(e) if status.is_success() => Failure::Lost(error_chain(&e)),
                            Err(e) => return Err(unreachable(op, &e, &inner.base, &inner.options)),
                        }
                    }
                }
                // Nothing was sent, so even a POST may go again.
                Err(e) if e.is_connect() => Failure::NotSent(e),
                Err(e) => Failure::Lost(describe(&e, inner.options.timeout)),
            };
            let may_retry = retries < MAX_RETRIES
                && (replay == Replay::Allowed || matches!(failure, Failure::NotSent(_)));
            if may_retry {
                retries += 1;
                let backoff =
                    BACKOFF * 2u32.pow(retries - 1) + Duration::from_millis(fastrand::u64(0..250));
                tracing::debug!(op, ?backoff, "statuspage: retrying");
                slot.hold_until(Instant::now() + backoff);
                continue;
            }
            return Err(match (failure, replay) {
                (Failure::NotSent(e), _) => unreachable(op, &e, &inner.base, &inner.options),
                (Failure::Server(status), Replay::Never) => StatuspageError::CreateNotConfirmed {
                    detail: format!("HTTP {}", status.as_u16()),
                },
                (Failure::Server(status), Replay::Allowed) => StatuspageError::Server {
                    op,
                    status: status.as_u16(),
                },
                (Failure::Lost(detail), Replay::Never) => {
                    StatuspageError::CreateNotConfirmed { detail }
                }
                (Failure::Lost(detail), Replay::Allowed) => {
                    StatuspageError::Unreachable { op, detail }
                }
            });
        }
    }
}

/// Why an attempt gave no usable answer.
enum Failure {
    /// The connection failed: the request never left.
    NotSent(reqwest::Error),
    /// A 5xx: it may or may not have been applied.
    Server(StatusCode),
    /// Sent, but the answer was lost (timeout, reset): it may have been applied.
    Lost(String),
}

/// The typed reading of a non-420/429, non-5xx answer.
fn answer(op: &'static str, status: StatusCode, body: Vec<u8>) -> Result<Vec<u8>, StatuspageError> {
    match status.as_u16() {
        200..=299 => Ok(body),
        401 => Err(StatuspageError::Unauthorized { op }),
        404 => Err(StatuspageError::NotFound { op }),
        code @ 400..=499 => Err(StatuspageError::Rejected {
            op,
            status: code,
            message: message_from_body(&body),
        }),
        code @ 300..=399 => Err(StatuspageError::Unexpected {
            op,
            detail: format!("a redirect (HTTP {code}), not followed"),
        }),
        code => Err(StatuspageError::Unexpected {
            op,
            detail: format!("HTTP {code}"),
        }),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(
    op: &'static str,
    body: &[u8],
) -> Result<T, StatuspageError> {
    serde_json::from_slice(body).map_err(|e| StatuspageError::Unexpected {
        op,
        detail: format!("unreadable JSON: {e}"),
    })
}

fn read_incident(op: &'static str, body: &[u8]) -> Result<Incident, StatuspageError> {
    read_json::<WireIncident>(op, body)?
        .check()
        .map_err(|detail| StatuspageError::Unexpected { op, detail })
}

/// `component_ids` (in the order given, once each) and `components`
/// (`{id: status}`), as both create and update take them.
fn put_components(
    incident: &mut Map<String, Value>,
    components: &[(ComponentId, ComponentStatus)],
) {
    let mut ids = Vec::new();
    let mut statuses = Map::new();
    for (id, status) in components {
        if statuses
            .insert(id.as_str().to_owned(), status.as_str().into())
            .is_none()
        {
            ids.push(Value::from(id.as_str()));
        }
    }
    incident.insert("component_ids".into(), ids.into());
    incident.insert("components".into(), statuses.into());
}

/// No answer from `base`; through a proxy, the detail names it (never its
/// password), since reqwest's own text does not.
fn unreachable(
    op: &'static str,
    error: &reqwest::Error,
    base: &Url,
    options: &ClientOptions,
) -> StatuspageError {
    let mut detail = describe(error, options.timeout);
    if let Some(proxy) = options.egress.proxy_for(base) {
        detail.push_str(&format!(" (through proxy {})", proxy.authority()));
    }
    StatuspageError::Unreachable { op, detail }
}

fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        format!("no answer within {timeout:?}")
    } else {
        error_chain(error)
    }
}

/// An error and its causes on one line. reqwest's text names the URL
/// (base, page id, path) and never a header.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
