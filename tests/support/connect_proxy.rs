//! A small HTTP proxy on loopback, like a corporate egress proxy: `CONNECT`
//! tunnels (what Janus's own connectors use for everything) and absolute-form
//! forwarding (what reqwest uses for plain `http://` targets). It records the
//! target of every request so a test can assert nothing went around it, and
//! can refuse tunnels or demand credentials (407) on demand.
#![allow(dead_code)] // each test uses a different part of this API

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

use super::closed_port::ClosedPort;

type Body = BoxBody<Bytes, hyper::Error>;

/// How the proxy answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every request goes through.
    Open,
    /// Every request is answered `403 Forbidden`, like a proxy whose
    /// allow-list lacks the host.
    Refuse,
    /// `407` unless `Proxy-Authorization` is exactly this value.
    RequireAuth(String),
}

struct State {
    mode: Mode,
    /// `host:port` of every request, in arrival order (refused ones too).
    targets: Vec<String>,
    /// The `Proxy-Authorization` header of every request, if any.
    auth_headers: Vec<Option<String>>,
    /// Tunnel targets (`host:port`) answered `503` whatever the mode, like
    /// a proxy that cannot reach one host.
    refuse_tunnels_to: Vec<String>,
    /// Cancelled to cut every tunnel open now; replaced by a fresh one.
    tunnels: tokio_util::sync::CancellationToken,
}

/// A running proxy. Cheap to clone; it serves until the test's runtime ends.
#[derive(Clone)]
pub struct ConnectProxy {
    state: Arc<Mutex<State>>,
    port: u16,
}

impl ConnectProxy {
    pub async fn start(mode: Mode) -> ConnectProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("connect proxy: bind");
        let port = listener.local_addr().expect("bound").port();
        let proxy = ConnectProxy {
            state: Arc::new(Mutex::new(State {
                mode,
                targets: Vec::new(),
                auth_headers: Vec::new(),
                refuse_tunnels_to: Vec::new(),
                tunnels: tokio_util::sync::CancellationToken::new(),
            })),
            port,
        };
        let serving = proxy.clone();
        tokio::spawn(async move {
            let forward: Client<HttpConnector, Incoming> =
                Client::builder(TokioExecutor::new()).build_http();
            while let Ok((stream, _)) = listener.accept().await {
                let proxy = serving.clone();
                let forward = forward.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let proxy = proxy.clone();
                        let forward = forward.clone();
                        async move { Ok::<_, Infallible>(proxy.handle(request, forward).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        proxy
    }

    /// `http://127.0.0.1:PORT`, with `user:password@` when given.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// A proxy that is down: a port that refuses connections, held as
    /// long as the returned value lives.
    pub fn down() -> ClosedPort {
        ClosedPort::new()
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Closes every tunnel open now (clients must open new ones), and
    /// answers every later tunnel request to `target` (`host:port`) with
    /// `503 Service Unavailable`.
    pub fn cut_tunnels_and_refuse(&self, target: &str) {
        let mut state = self.state.lock().unwrap();
        state.refuse_tunnels_to.push(target.to_owned());
        let cut = std::mem::take(&mut state.tunnels);
        cut.cancel();
    }

    /// `host:port` of every request the proxy was asked for.
    pub fn targets(&self) -> Vec<String> {
        self.state.lock().unwrap().targets.clone()
    }

    /// Whether some request asked for `host:port`.
    pub fn saw(&self, target: &str) -> bool {
        self.targets().iter().any(|t| t == target)
    }

    pub fn auth_headers(&self) -> Vec<Option<String>> {
        self.state.lock().unwrap().auth_headers.clone()
    }

    async fn handle(
        &self,
        request: Request<Incoming>,
        forward: Client<HttpConnector, Incoming>,
    ) -> Response<Body> {
        let target = match request.uri().authority() {
            Some(authority) => {
                let port = authority.port_u16().unwrap_or(80);
                format!("{}:{port}", authority.host())
            }
            None => return status(StatusCode::BAD_REQUEST),
        };
        let auth = request
            .headers()
            .get("proxy-authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (mode, refused, tunnels) = {
            let mut state = self.state.lock().unwrap();
            state.targets.push(target.clone());
            state.auth_headers.push(auth.clone());
            let refused =
                request.method() == Method::CONNECT && state.refuse_tunnels_to.contains(&target);
            (state.mode.clone(), refused, state.tunnels.clone())
        };
        if refused {
            return status(StatusCode::SERVICE_UNAVAILABLE);
        }
        match mode {
            Mode::Open => {}
            Mode::Refuse => return status(StatusCode::FORBIDDEN),
            Mode::RequireAuth(expected) if auth.as_deref() != Some(expected.as_str()) => {
                let mut answer = status(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
                answer.headers_mut().insert(
                    "proxy-authenticate",
                    "Basic realm=\"test\"".parse().unwrap(),
                );
                return answer;
            }
            Mode::RequireAuth(_) => {}
        }
        if request.method() == Method::CONNECT {
            let Ok(upstream) = TcpStream::connect(&target).await else {
                return status(StatusCode::BAD_GATEWAY);
            };
            tokio::spawn(async move {
                if let Ok(upgraded) = hyper::upgrade::on(request).await {
                    let mut upgraded = TokioIo::new(upgraded);
                    let mut upstream = upstream;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut upgraded, &mut upstream) => {}
                        _ = tunnels.cancelled() => {}
                    }
                }
            });
            return status(StatusCode::OK);
        }
        // Absolute-form: forward it, without our own header.
        let (mut parts, body) = request.into_parts();
        parts.headers.remove("proxy-authorization");
        match forward.request(Request::from_parts(parts, body)).await {
            Ok(answer) => answer.map(BodyExt::boxed),
            Err(_) => status(StatusCode::BAD_GATEWAY),
        }
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut answer = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *answer.status_mut() = code;
    answer
}
