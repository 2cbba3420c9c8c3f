//! The HTTP side: `/api/{method}` (the Web API) and `/respond/{n}`
//! (`response_url`s). This file knows HTTP — parameters, tokens, faults,
//! status codes — and hands the Slack meaning to `methods`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Map, Value, json};

use super::methods;
use super::state::{ApiCall, Ephemeral, Fault, Shared};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/{method}", any(api))
        .route("/respond/{n}", post(respond))
        .route("/upload/{id}", post(upload))
        .with_state(shared)
}

async fn api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let params = parse_params(&uri, &headers, &body);
    let token = bearer(&headers).or_else(|| {
        // Slack takes the app token only from the header.
        let from_param = method != "apps.connections.open";
        from_param
            .then(|| {
                params
                    .as_ref()
                    .ok()?
                    .get("token")?
                    .as_str()
                    .map(str::to_string)
            })
            .flatten()
    });
    let fault = record(
        &shared,
        &method,
        params.clone().unwrap_or_default(),
        token.clone(),
    );
    let params = match params {
        Ok(p) => p,
        Err(e) => return ok_false(e),
    };
    let mut response = with_fault(fault, || {
        shared.update(|s| methods::dispatch(s, &method, &params, token.as_deref()))
    })
    .await;
    if let Some(scopes) = granted_scopes(&shared, &method, token.as_deref()) {
        response.headers_mut().insert("x-oauth-scopes", scopes);
    }
    response
}

/// What Slack puts in `x-oauth-scopes`: the scopes of the token used, when
/// it is one Slack accepts.
fn granted_scopes(shared: &Shared, method: &str, token: Option<&str>) -> Option<HeaderValue> {
    let s = shared.lock();
    let scopes = match token? {
        super::APP_TOKEN if s.app_token_valid && method == "apps.connections.open" => {
            "connections:write".to_string()
        }
        super::BOT_TOKEN if s.bot_token_valid && method != "apps.connections.open" => {
            s.bot_scopes.join(",")
        }
        _ => return None,
    };
    HeaderValue::from_str(&scopes).ok()
}

/// A POST to a `response_url`: what the user would see, recorded as an
/// ephemeral (`via: "response_url"`) and as a call named `response_url`.
/// An upload URL: the file's bytes, answered as Slack does, in plain text.
async fn upload(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let stored = shared.update(|s| {
        let file = s.files.iter_mut().find(|f| f.id == id)?;
        file.content = Some(body.to_vec());
        Some(body.len())
    });
    match stored {
        Some(n) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("OK - {n}"),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such upload").into_response(),
    }
}

async fn respond(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let params = parse_params(&uri, &headers, &body).unwrap_or_default();
    let fault = record(&shared, "response_url", params.clone(), bearer(&headers));
    with_fault(fault, || {
        let raw = Value::Object(params.clone());
        let text_of = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_string);
        shared.update(|s| {
            s.ephemerals.push(Ephemeral {
                channel: None,
                user: None,
                text: text_of("text"),
                blocks: methods::json_param(&params, "blocks"),
                via: "response_url".to_string(),
                response_type: text_of("response_type"),
                raw,
            })
        });
        json!({"ok": true})
    })
    .await
}

/// Records the call (always, on arrival) and takes the next fault for it:
/// the method's own queue first, then the `"*"` queue.
fn record(
    shared: &Shared,
    method: &str,
    params: Map<String, Value>,
    token: Option<String>,
) -> Option<Fault> {
    shared.update(|s| {
        s.calls.push(ApiCall {
            method: method.to_string(),
            params: Value::Object(params),
            token,
            at: Instant::now(),
        });
        let injected = [method, "*"]
            .iter()
            .find_map(|m| s.faults.get_mut(*m).and_then(|q| q.pop_front()));
        injected.or_else(|| tier_limit(s, method))
    })
}

/// Slack's rate tiers: past `max` calls in the window, HTTP 429 with a
/// `Retry-After` that covers the rest of the window.
fn tier_limit(s: &mut super::state::Inner, method: &str) -> Option<Fault> {
    let (max, window) = *s.tiers.get(method)?;
    let now = Instant::now();
    let served = s.served.entry(method.to_string()).or_default();
    while served
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        served.pop_front();
    }
    if served.len() < max {
        served.push_back(now);
        return None;
    }
    let left = window.saturating_sub(now.duration_since(*served.front()?));
    Some(Fault::RateLimited {
        retry_after_secs: left.as_secs_f64().ceil().max(1.0) as u64,
    })
}

async fn with_fault(fault: Option<Fault>, handle: impl FnOnce() -> Value) -> Response {
    match fault {
        None => json_response(StatusCode::OK, handle()),
        Some(Fault::Error(code)) => ok_false(&code),
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut resp = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"ok": false, "error": "ratelimited"}),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            resp
        }
        Some(Fault::HttpStatus(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, format!("fake slack: injected HTTP {code}")).into_response()
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            json_response(StatusCode::OK, handle())
        }
        Some(Fault::ApplyThenDelay(d)) => {
            let body = handle();
            tokio::time::sleep(d).await;
            json_response(StatusCode::OK, body)
        }
        Some(Fault::Hang) => std::future::pending().await,
    }
}

fn ok_false(code: &str) -> Response {
    json_response(StatusCode::OK, json!({"ok": false, "error": code}))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// Query string, then the body (JSON or form), merged into one object; body
/// keys win. `Err` carries Slack's error code for a body that does not parse.
fn parse_params(
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, &'static str> {
    let mut params = form_pairs(uri.query().unwrap_or("").as_bytes());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let looks_json = content_type.starts_with("application/json")
        || (content_type.is_empty() && body.first() == Some(&b'{'));
    if looks_json && !body.is_empty() {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(obj)) => params.extend(obj),
            _ => return Err("invalid_json"),
        }
    } else {
        params.extend(form_pairs(body));
    }
    Ok(params)
}

fn form_pairs(bytes: &[u8]) -> Map<String, Value> {
    url::form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}
