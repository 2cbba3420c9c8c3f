//! A fake third-party status server for integration tests: one HTTP server
//! on 127.0.0.1 that answers at the real paths of the three formats with
//! the samples in `tests/fixtures/providers/`, records every request, and
//! answers differently on demand (another body, an HTTP error, a delay, a
//! huge body, a redirect).
//!
//! Every path ending in a format's path gets that format's default answer,
//! so several Statuspage providers can share the server under different
//! prefixes: `base_url_at("/a")` and `base_url_at("/b")`.
#![allow(dead_code)] // each test uses a different part of this API

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use janus::config::ProviderConfig;
use tokio::net::TcpListener;
use url::Url;

pub const STATUSPAGE_PATH: &str = "/api/v2/summary.json";
pub const HEROKU_PATH: &str = "/api/v4/current-status";
pub const SLACK_PATH: &str = "/api/v2.0.0/current";

/// What the fake answers at a path.
#[derive(Clone, Debug)]
pub enum Response {
    /// 200 with this body as `application/json` (it need not be JSON), and
    /// a `Content-Length`.
    Json(String),
    /// This status, with a short JSON error body.
    Status(u16),
    /// The inner answer, after a pause: a slow provider.
    Delay(Duration, Box<Response>),
    /// 200 with this many bytes, streamed without a `Content-Length`, so
    /// only a client that counts while reading notices.
    Huge(usize),
    /// 302 to this location (a path on the fake, or a URL).
    Redirect(String),
}

impl Response {
    /// 200 with `tests/fixtures/providers/<file>`.
    pub fn fixture(file: &str) -> Response {
        Response::Json(fixture(file))
    }

    pub fn delayed(self, delay: Duration) -> Response {
        Response::Delay(delay, Box::new(self))
    }
}

/// The text of `tests/fixtures/providers/<file>`.
pub fn fixture(file: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/providers", file]
        .iter()
        .collect();
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("providers fake: read {}: {e}", path.display()))
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// When the handler started, and when it had its answer ready (after
    /// any delay); `None` while it is still pending.
    pub started: Instant,
    pub finished: Option<Instant>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    answers: Mutex<HashMap<String, Response>>,
    requests: Mutex<Vec<Recorded>>,
}

/// A running fake. Cheap to clone; clones share the state. The server runs
/// until the test's tokio runtime ends.
#[derive(Clone)]
pub struct ProvidersFake {
    shared: Arc<Shared>,
    port: u16,
}

impl ProvidersFake {
    pub async fn start() -> ProvidersFake {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("providers fake: bind");
        let port = listener.local_addr().expect("bound").port();
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let app = Router::new().fallback(move |request: Request| {
            let shared = state.clone();
            async move { answer(shared, request).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ProvidersFake { shared, port }
    }

    /// `http://127.0.0.1:PORT`, the base URL of every provider it fakes.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A base URL under `prefix` (e.g. `/a`), for several providers of one
    /// format side by side.
    pub fn base_url_at(&self, prefix: &str) -> String {
        format!("{}{prefix}", self.base_url())
    }

    /// A provider named `name` pointing at this fake.
    pub fn provider(&self, name: &str) -> ProviderConfig {
        self.provider_at(name, "")
    }

    /// A provider named `name` pointing at this fake under `prefix`.
    pub fn provider_at(&self, name: &str, prefix: &str) -> ProviderConfig {
        ProviderConfig {
            name: name.to_owned(),
            url: Some(Url::parse(&self.base_url_at(prefix)).expect("a URL")),
        }
    }

    /// Answer `response` from now on at a path (`/a/api/v2/summary.json`)
    /// or at a built-in provider's default path (`github`, `heroku`,
    /// `slack`).
    pub fn set(&self, path_or_provider: &str, response: Response) {
        let path = match path_or_provider {
            "github" => STATUSPAGE_PATH,
            "heroku" => HEROKU_PATH,
            "slack" => SLACK_PATH,
            path if path.starts_with('/') => path,
            other => panic!("providers fake: {other:?} is neither a path nor a built-in provider"),
        };
        self.shared
            .answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), response);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }
}

async fn answer(shared: Arc<Shared>, request: Request) -> axum::response::Response {
    let path = request.uri().path().to_owned();
    let index = {
        let mut requests = shared.requests.lock().unwrap();
        requests.push(Recorded {
            method: request.method().to_string(),
            path: path.clone(),
            headers: request
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            started: Instant::now(),
            finished: None,
        });
        requests.len() - 1
    };
    let configured = shared.answers.lock().unwrap().get(&path).cloned();
    let mut response = configured.unwrap_or_else(|| default_answer(&path));
    while let Response::Delay(delay, inner) = response {
        tokio::time::sleep(delay).await;
        response = *inner;
    }
    shared.requests.lock().unwrap()[index].finished = Some(Instant::now());
    build(response)
}

/// The sample of the format whose path `path` ends in; 404 otherwise.
fn default_answer(path: &str) -> Response {
    if path.ends_with(STATUSPAGE_PATH) {
        Response::fixture("statuspage_v2_summary.github.ok.json")
    } else if path.ends_with(HEROKU_PATH) {
        Response::fixture("heroku_v4_current-status.json")
    } else if path.ends_with(SLACK_PATH) {
        Response::fixture("slack_v2.0.0_current.ok.json")
    } else {
        Response::Status(404)
    }
}

fn build(response: Response) -> axum::response::Response {
    let builder = axum::response::Response::builder();
    let built = match response {
        Response::Json(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body)),
        Response::Status(code) => builder
            .status(StatusCode::from_u16(code).expect("a valid status code"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!("{{\"error\": \"status {code}\"}}"))),
        Response::Huge(bytes) => {
            const CHUNK: usize = 64 * 1024;
            let chunks = (0..bytes.div_ceil(CHUNK)).map(move |i| {
                let len = CHUNK.min(bytes - i * CHUNK);
                Ok::<_, std::io::Error>(Bytes::from(vec![b' '; len]))
            });
            builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
        }
        Response::Redirect(location) => builder
            .status(StatusCode::FOUND)
            .header(header::LOCATION, location)
            .body(Body::empty()),
        Response::Delay(..) => unreachable!("delays are served before building"),
    };
    built.expect("providers fake: a valid response")
}
