//! A fake Statuspage Manage API (v1) on 127.0.0.1, stateful like a real
//! page: incidents are created and patched in memory, and the page's
//! components change status as the requests say, so tests assert on what
//! the page would show.
//!
//! Like the real API it checks `Authorization: OAuth <key>` (401 otherwise),
//! knows one page (404 for any other), pages lists by `page`/`per_page`
//! (at most 100), and allows the key one request per second (420 with
//! `Retry-After: 1` otherwise; [`FakeStatuspage::set_rate_limit`] turns that
//! off). It records every request, and injects faults on demand: a canned
//! answer, or a delay of the real one (applied *after* the effect, like an
//! answer lost on the way back).
//!
//! Seeded with `tests/fixtures/statuspage/components_list.200.json` plus
//! generated components, more than 100 in all, so that listing them pages.
//! Statuspage facts this follows are in `shared/design/STATUSPAGE.md`.
#![allow(dead_code)] // each test uses a different part of this API

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use janus::config::StatuspageConfig;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use url::Url;

/// The only key the fake accepts.
pub const API_KEY: &str = "spk-fake-5f0c1d2e3a4b5c6d7e8f9a0b";
/// The only page the fake knows (the sample's).
pub const PAGE_ID: &str = "ftgks51sfs2d";
/// Components added to the sample's six.
pub const GENERATED_COMPONENTS: usize = 120;
/// Every 30th generated component is a group (a heading, not a choice).
const GROUP_EVERY: usize = 30;
/// Two requests closer than this get a 420 (when the limit is on).
pub const MIN_GAP: Duration = Duration::from_secs(1);

const SAMPLE_COMPONENTS: &str = include_str!("../fixtures/statuspage/components_list.200.json");
const COMPONENT_STATUSES: &[&str] = &[
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
];
const INCIDENT_STATUSES: &[&str] = &["investigating", "identified", "monitoring", "resolved"];
const IMPACTS: &[&str] = &["none", "minor", "major", "critical"];

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path, e.g. `/v1/pages/ftgks51sfs2d/components`.
    pub path: String,
    pub query: Option<String>,
    /// Every header, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// What happens to the next request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this instead, without any effect.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Do the real thing, then wait this long before answering.
    Delay(Duration),
}

/// A running fake. Cheap to clone; every clone sees the same state. Its
/// server runs until the test's tokio runtime ends.
#[derive(Clone)]
pub struct FakeStatuspage {
    shared: Arc<Mutex<Page>>,
    port: u16,
}

impl FakeStatuspage {
    pub async fn start() -> FakeStatuspage {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("fake statuspage: bind");
        let port = listener.local_addr().expect("bound").port();
        let shared = Arc::new(Mutex::new(Page::seeded()));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeStatuspage { shared, port }
    }

    /// The API base, as `STATUSPAGE_API_URL` would hold it.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// A config pointing at this fake with the right key and page.
    pub fn config(&self) -> StatuspageConfig {
        self.config_with(API_KEY, PAGE_ID)
    }

    /// A config pointing at this fake with the given key and page.
    pub fn config_with(&self, key: &str, page_id: &str) -> StatuspageConfig {
        StatuspageConfig {
            api_key: SecretString::from(key),
            page_id: page_id.to_owned(),
            api_url: Url::parse(&self.base_url()).expect("base URL"),
            allowed_group: None,
            allow_everyone: false,
            follow: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Page> {
        self.shared.lock().expect("fake statuspage: poisoned")
    }

    // ---- recording and faults ----------------------------------------------

    /// Every request, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The requests of this method whose path ends with `suffix`.
    pub fn requests_to(&self, method: &str, suffix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .collect()
    }

    /// Whether two requests less than a second apart get a 420 (on at start).
    pub fn set_rate_limit(&self, on: bool) {
        self.lock().rate_limit = on;
    }

    /// Queues a fault for the next request without one.
    pub fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// The next request gets `status` and `body` (JSON), and nothing else happens.
    pub fn fail_next(&self, status: u16, body: &str) {
        self.fail_next_with(status, &[], body);
    }

    /// Like [`Self::fail_next`], with headers (`Retry-After`, `Location`…).
    pub fn fail_next_with(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.push_fault(Fault::Respond {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_owned(),
        });
    }

    /// The next request is served, but its answer waits `delay`.
    pub fn delay_next(&self, delay: Duration) {
        self.push_fault(Fault::Delay(delay));
    }

    // ---- the page ----------------------------------------------------------

    /// Every component as the API lists it (groups included).
    pub fn components(&self) -> Vec<Value> {
        self.lock().components.clone()
    }

    pub fn component_status(&self, id: &str) -> Option<String> {
        self.lock()
            .component(id)
            .and_then(|c| c["status"].as_str())
            .map(str::to_owned)
    }

    /// Changes a component's status, as someone on the dashboard would.
    pub fn set_component_status(&self, id: &str, status: &str) {
        let mut page = self.lock();
        let component = page.component_mut(id).expect("no such component");
        component["status"] = status.into();
    }

    /// An incident as `GET /incidents/{id}` would show it.
    pub fn incident(&self, id: &str) -> Option<Value> {
        let page = self.lock();
        page.incidents
            .iter()
            .find(|i| i.id() == id)
            .map(|i| i.render(&page))
    }

    /// Every incident, oldest first.
    pub fn incidents(&self) -> Vec<Value> {
        let page = self.lock();
        page.incidents.iter().map(|i| i.render(&page)).collect()
    }
}

// ---- state ------------------------------------------------------------------

struct Page {
    components: Vec<Value>,
    /// Oldest first.
    incidents: Vec<FakeIncident>,
    requests: Vec<Recorded>,
    faults: VecDeque<Fault>,
    rate_limit: bool,
    last_arrival: Option<Instant>,
    next_id: u64,
}

/// An incident without its `components` (rendered from the page, so they
/// always show the current status).
struct FakeIncident {
    fields: Map<String, Value>,
    component_ids: Vec<String>,
}

impl FakeIncident {
    fn id(&self) -> &str {
        self.fields["id"].as_str().unwrap_or_default()
    }

    fn render(&self, page: &Page) -> Value {
        let mut fields = self.fields.clone();
        let components: Vec<Value> = self
            .component_ids
            .iter()
            .filter_map(|id| page.component(id).cloned())
            .collect();
        fields.insert("components".into(), components.into());
        fields.into()
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    fn not_found() -> Reply {
        Reply::json(404, json!({ "error": "not found" }))
    }

    fn invalid(field: &str, message: &str) -> Reply {
        Reply::json(422, json!({ "error": { field: [message] } }))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).expect("fake statuspage: a valid status");
        let mut response = (status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        for (name, value) in self.headers {
            headers.insert(
                HeaderName::try_from(name).expect("header name"),
                HeaderValue::try_from(value).expect("header value"),
            );
        }
        response
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Page {
    fn seeded() -> Page {
        let mut components: Vec<Value> =
            serde_json::from_str(SAMPLE_COMPONENTS).expect("sample components");
        let sample = components[0].clone();
        for n in 1..=GENERATED_COMPONENTS {
            let id = format!("gen{n:09}");
            let mut component = sample.clone();
            component["id"] = id.clone().into();
            component["name"] = format!("Service {n:03}").into();
            component["description"] = Value::Null;
            component["group"] = (n % GROUP_EVERY == 0).into();
            component["position"] = (components.len() + 1).into();
            component["automation_email"] =
                format!("component+{id}@notifications.statuspage.io").into();
            components.push(component);
        }
        Page {
            components,
            incidents: Vec::new(),
            requests: Vec::new(),
            faults: VecDeque::new(),
            rate_limit: true,
            last_arrival: None,
            next_id: 1,
        }
    }

    fn component(&self, id: &str) -> Option<&Value> {
        self.components.iter().find(|c| c["id"] == id)
    }

    fn component_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.components.iter_mut().find(|c| c["id"] == id)
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:010}", self.next_id)
    }

    /// What the real API would answer, with its effects.
    fn serve(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        if !authorized(headers) {
            return Reply::json(401, json!({ "error": "Could not authenticate" }));
        }
        let Some(rest) = path.strip_prefix("/v1/pages/") else {
            return Reply::not_found();
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments[0] != PAGE_ID {
            return Reply::not_found();
        }
        match (method.as_str(), &segments[1..]) {
            ("GET", ["components"]) => {
                let rows = self.components.clone();
                paged(rows, query)
            }
            ("GET", ["incidents", "unresolved"]) => {
                let rows = self
                    .incidents
                    .iter()
                    .rev()
                    .filter(|i| i.fields["status"] != "resolved")
                    .map(|i| i.render(self))
                    .collect();
                paged(rows, query)
            }
            ("GET", ["incidents", id]) => match self.incidents.iter().find(|i| i.id() == *id) {
                Some(incident) => Reply::json(200, incident.render(self)),
                None => Reply::not_found(),
            },
            ("POST", ["incidents"]) => self.create(body),
            ("PATCH" | "PUT", ["incidents", id]) => self.patch(id, body),
            _ => Reply::not_found(),
        }
    }

    fn create(&mut self, body: &[u8]) -> Reply {
        let request = match incident_in(body) {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        let name = request.get("name").and_then(Value::as_str).unwrap_or("");
        if name.trim().is_empty() {
            return Reply::json(422, json!({ "error": ["Name can't be blank"] }));
        }
        let status = request
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("investigating")
            .to_owned();
        if let Err(reply) = self.validate(&request) {
            return reply;
        }
        let id = self.new_id("inc");
        let mut incident = FakeIncident {
            fields: Map::new(),
            component_ids: Vec::new(),
        };
        let at = now();
        let fields = &mut incident.fields;
        fields.insert("id".into(), id.clone().into());
        fields.insert("page_id".into(), PAGE_ID.into());
        fields.insert("name".into(), name.into());
        fields.insert("status".into(), status.clone().into());
        fields.insert(
            "impact_override".into(),
            request
                .get("impact_override")
                .cloned()
                .unwrap_or(Value::Null),
        );
        fields.insert("created_at".into(), at.clone().into());
        fields.insert("updated_at".into(), at.clone().into());
        fields.insert("started_at".into(), at.into());
        fields.insert("monitoring_at".into(), Value::Null);
        fields.insert("resolved_at".into(), Value::Null);
        fields.insert("shortlink".into(), format!("https://stspg.io/{id}").into());
        fields.insert("postmortem_body".into(), Value::Null);
        fields.insert(
            "metadata".into(),
            request.get("metadata").cloned().unwrap_or(json!({})),
        );
        fields.insert("incident_updates".into(), json!([]));
        self.apply(&mut incident, &request, Some(&status));
        self.incidents.push(incident);
        let rendered = self.incidents.last().expect("just pushed").render(self);
        Reply::json(201, rendered)
    }

    fn patch(&mut self, id: &str, body: &[u8]) -> Reply {
        let Some(index) = self.incidents.iter().position(|i| i.id() == id) else {
            return Reply::not_found();
        };
        let request = match incident_in(body) {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        if let Err(reply) = self.validate(&request) {
            return reply;
        }
        let mut incident = self.incidents.remove(index);
        if let Some(name) = request.get("name").and_then(Value::as_str) {
            incident.fields.insert("name".into(), name.into());
        }
        if let Some(impact) = request.get("impact_override") {
            incident
                .fields
                .insert("impact_override".into(), impact.clone());
        }
        let status = request
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(status) = &status {
            let at = now();
            incident
                .fields
                .insert("status".into(), status.as_str().into());
            incident
                .fields
                .insert("updated_at".into(), at.clone().into());
            match status.as_str() {
                "monitoring" => incident.fields.insert("monitoring_at".into(), at.into()),
                "resolved" => incident.fields.insert("resolved_at".into(), at.into()),
                // Reopened: Statuspage takes a resolved incident back.
                _ => incident.fields.insert("resolved_at".into(), Value::Null),
            };
        }
        self.apply(&mut incident, &request, status.as_deref());
        self.incidents.insert(index, incident);
        Reply::json(200, self.incidents[index].render(self))
    }

    /// 422s as Statuspage words them.
    fn validate(&self, request: &Map<String, Value>) -> Result<(), Reply> {
        if let Some(name) = request.get("name").and_then(Value::as_str)
            && name.chars().count() > 255
        {
            return Err(Reply::json(
                422,
                json!({ "error": ["Name is too long (maximum is 255 characters)"] }),
            ));
        }
        if let Some(status) = request.get("status")
            && !INCIDENT_STATUSES.iter().any(|s| status == s)
        {
            return Err(Reply::invalid("status", "is not included in the list"));
        }
        if let Some(impact) = request.get("impact_override")
            && !IMPACTS.iter().any(|s| impact == s)
        {
            return Err(Reply::invalid(
                "impact_override",
                "is not included in the list",
            ));
        }
        let statuses = request.get("components").and_then(Value::as_object);
        for (id, status) in statuses.into_iter().flatten() {
            if self.component(id).is_none() {
                return Err(Reply::json(
                    422,
                    json!({ "error": format!("Component {id} not found") }),
                ));
            }
            if !COMPONENT_STATUSES.iter().any(|s| status == s) {
                return Err(Reply::invalid(
                    "components",
                    "status is not included in the list",
                ));
            }
        }
        let ids = request.get("component_ids").and_then(Value::as_array);
        for id in ids.into_iter().flatten() {
            if id.as_str().and_then(|id| self.component(id)).is_none() {
                return Err(Reply::json(
                    422,
                    json!({ "error": format!("Component {id} not found") }),
                ));
            }
        }
        Ok(())
    }

    /// Component statuses, the incident's component list and a new update,
    /// as a create or patch `request` says.
    fn apply(
        &mut self,
        incident: &mut FakeIncident,
        request: &Map<String, Value>,
        status: Option<&str>,
    ) {
        let mut affected = Vec::new();
        let statuses = request
            .get("components")
            .and_then(Value::as_object)
            .cloned();
        for (id, new_status) in statuses.iter().flatten() {
            let component = self.component_mut(id).expect("validated");
            let old_status = component["status"].clone();
            component["status"] = new_status.clone();
            component["updated_at"] = now().into();
            affected.push(json!({
                "code": id, "name": component["name"].clone(),
                "old_status": old_status, "new_status": new_status,
            }));
        }
        let listed = request.get("component_ids").and_then(Value::as_array);
        if listed.is_some() || statuses.is_some() {
            let mut ids: Vec<String> = listed
                .into_iter()
                .flatten()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect();
            for id in statuses.iter().flat_map(|s| s.keys()) {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
            incident.component_ids = ids;
        }
        let body = request.get("body").and_then(Value::as_str);
        if status.is_some() || body.is_some() {
            let at = now();
            let update = json!({
                "id": self.new_id("upd"),
                "incident_id": incident.id(),
                "status": status.map(Value::from).unwrap_or_else(|| incident.fields["status"].clone()),
                "body": body.unwrap_or(""),
                "affected_components": affected,
                "created_at": at, "updated_at": at, "display_at": at,
                "deliver_notifications": request.get("deliver_notifications").cloned().unwrap_or(true.into()),
            });
            let updates = incident.fields["incident_updates"]
                .as_array_mut()
                .expect("updates are an array");
            updates.insert(0, update); // newest first, as Statuspage lists them
        }
        let impact = match incident.fields.get("impact_override") {
            Some(Value::String(impact)) => impact.clone(),
            _ => self.impact_of(&incident.component_ids).to_owned(),
        };
        incident.fields.insert("impact".into(), impact.into());
    }

    /// The impact Statuspage derives from component statuses.
    fn impact_of(&self, ids: &[String]) -> &'static str {
        let rank = |status: &Value| match status.as_str() {
            Some("major_outage") => 3,
            Some("partial_outage") => 2,
            Some("degraded_performance") => 1,
            _ => 0,
        };
        let worst = ids
            .iter()
            .filter_map(|id| self.component(id))
            .map(|c| rank(&c["status"]))
            .max()
            .unwrap_or(0);
        IMPACTS[worst]
    }
}

/// The `incident` object of a create or patch body.
fn incident_in(body: &[u8]) -> Result<Map<String, Value>, Reply> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        Reply::json(
            400,
            json!({ "error": "The request body is not valid JSON" }),
        )
    })?;
    match value.get("incident") {
        Some(Value::Object(incident)) => Ok(incident.clone()),
        _ => Err(Reply::json(
            400,
            json!({ "error": "param is missing or the value is empty: incident" }),
        )),
    }
}

/// One page of `rows`, by `page` (from 1) and `per_page` (at most 100).
fn paged(rows: Vec<Value>, query: &str) -> Reply {
    let param = |name: &str, default: usize| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let per_page = param("per_page", 100).clamp(1, 100);
    let page = param("page", 1).max(1);
    let slice: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Reply::json(200, slice.into())
}

/// Whether the request carries the page's key, as the real API wants it.
fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("OAuth {API_KEY}"))
}

async fn handle(
    State(shared): State<Arc<Mutex<Page>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (reply, delay) = {
        let mut page = shared.lock().expect("fake statuspage: poisoned");
        // Read under the lock, so arrival order and times agree.
        let at = Instant::now();
        // The limit is per key, so a request without it does not count.
        let too_soon = authorized(&headers) && {
            let previous = page.last_arrival.replace(at);
            page.rate_limit && previous.is_some_and(|p| at - p < MIN_GAP)
        };
        let query = uri.query().unwrap_or("");
        let (reply, delay) = match page.faults.pop_front() {
            Some(Fault::Respond {
                status,
                headers,
                body,
            }) => (
                Reply {
                    status,
                    headers,
                    body,
                },
                None,
            ),
            Some(Fault::Delay(delay)) => (
                page.serve(&method, uri.path(), query, &headers, &body),
                Some(delay),
            ),
            None if too_soon => (
                Reply {
                    status: 420,
                    headers: vec![("retry-after".into(), "1".into())],
                    body: json!({ "error": "Rate limit exceeded" }).to_string(),
                },
                None,
            ),
            None => (
                page.serve(&method, uri.path(), query, &headers, &body),
                None,
            ),
        };
        page.requests.push(Recorded {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
            at,
            status: reply.status,
        });
        (reply, delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    reply.into_response()
}
