//! The health and metrics HTTP listener: `GET /healthz` for a load balancer
//! or systemd watchdog script, `GET /metrics` for Prometheus. Off unless
//! `health.listen` is set.
//!
//! Janus is otherwise outbound-only (Socket Mode), so this is its only open
//! port: HTTP/1 only, two read-only paths, nothing that changes state. Like
//! mini-redis's server, [`serve`] takes a bound listener and a shutdown
//! token, so tests bind port 0 and stop it with the app.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Gauges, Metrics};
use crate::store::{Incidents, Schema};

/// How long `/healthz` waits for the database, and `/metrics` for the open
/// incident count: a probe that hangs is worse than one that says no.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/healthz` says of a database that answered its ping with an
/// error. Never the error itself: that is in the log.
const DATABASE_FAILED: &str = "the ping failed (see the log)";

/// A client has this long to send its request headers; an idle or stuck
/// connection must not hold a task forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the endpoints read. Cheap to clone: one per connection.
#[derive(Clone)]
pub struct Probe {
    pub metrics: Arc<Metrics>,
    /// Pinged by `/healthz`.
    pub database: Arc<dyn Schema>,
    /// Asked for the open incident count by `/metrics`.
    pub incidents: Arc<dyn Incidents>,
    /// Sockets open right now (the socket layer keeps it current).
    pub connected: watch::Receiver<usize>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} for health and metrics (health.listen): {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    /// What the OS said (address in use, permission denied…).
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr`. Separate from [`serve`] so a taken port fails the start,
/// and so the caller learns the bound port when `addr` asked for port 0.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// Answers requests on `listener` until `shutdown`; connections still open
/// then finish the request they are on and close.
pub async fn serve(listener: TcpListener, probe: Probe, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "health listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let probe = probe.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let probe = probe.clone();
                async move { Ok::<_, Infallible>(route(&probe, &req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "health listener: connection ended with an error");
            }
        });
    }
}

async fn route(probe: &Probe, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => healthz(probe).await,
        (&Method::GET, "/metrics") => metrics(probe).await,
        (_, "/healthz" | "/metrics") => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /healthz or /metrics\n",
        ),
    }
}

/// 200 while at least one socket is open and the database answers; 503
/// with the reasons otherwise. Either way the body says what was seen:
/// which check failed, never the database's error text (the log has it).
async fn healthz(probe: &Probe) -> Response<Full<Bytes>> {
    let sockets = *probe.connected.borrow();
    let database = tokio::time::timeout(STORE_TIMEOUT, probe.database.ping()).await;
    let mut reasons = Vec::new();
    if sockets == 0 {
        reasons.push("no socket connected to Slack".to_owned());
    }
    // Which check failed, in fixed words: the driver's text (a host, a
    // port, a user name, a file path) goes to the log, not to whoever can
    // reach this port.
    let database = match database {
        Ok(Ok(latency)) => json!({ "ok": true, "latency_ms": latency.as_secs_f64() * 1000.0 }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "/healthz: the database ping failed");
            reasons.push(format!("database: {DATABASE_FAILED}"));
            json!({ "ok": false, "error": DATABASE_FAILED })
        }
        Err(_) => {
            tracing::warn!(
                timeout_s = STORE_TIMEOUT.as_secs(),
                "/healthz: the database did not answer the ping in time"
            );
            let why = format!("did not answer within {} s", STORE_TIMEOUT.as_secs());
            reasons.push(format!("database: {why}"));
            json!({ "ok": false, "error": why })
        }
    };
    let healthy = reasons.is_empty();
    let mut body = json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "sockets_connected": sockets,
        "last_envelope_age_seconds": probe.metrics.last_envelope_age().map(|age| age.as_secs_f64()),
        "database": database,
    });
    if !healthy {
        body["reasons"] = json!(reasons);
    }
    let status = match healthy {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn metrics(probe: &Probe) -> Response<Full<Bytes>> {
    let open = match tokio::time::timeout(STORE_TIMEOUT, probe.incidents.open_incidents(0)).await {
        Ok(Ok((_, total))) => Some(total),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: cannot count open incidents");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: the database did not count open incidents in time");
            None
        }
    };
    let gauges = Gauges {
        sockets_connected: *probe.connected.borrow(),
        open_incidents: open,
    };
    let mut response = Response::new(Full::new(Bytes::from(probe.metrics.render(&gauges))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
