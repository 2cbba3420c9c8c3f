//! Opening a connection under the policy: straight to the target, or an HTTP `CONNECT`
//! tunnel through the proxy. Also the hyper connector built on it, for the Web API client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Egress, ProxyUrl};

/// How long connecting (and the proxy's answer to `CONNECT`) may take. Callers have their
/// own, usually shorter, deadlines; this one only keeps a silent proxy from holding a
/// connection attempt forever where no caller set one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the TLS handshake may take once the connection (or tunnel) is open. A peer
/// or a proxy that accepts the connection and then says nothing would otherwise hold
/// the request until whatever deadline its caller has, if any.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keepalive: the first probe after this much idle time, then one every
/// [`KEEPALIVE_INTERVAL`], giving up after [`KEEPALIVE_PROBES`] unanswered ones. A
/// connection whose peer vanished (a NAT or proxy that forgot it, a host that
/// died) is noticed within about a minute, not the kernel's two hours.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// See [`KEEPALIVE_IDLE`].
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// See [`KEEPALIVE_IDLE`].
const KEEPALIVE_PROBES: u32 = 3;
/// Keepalive only probes an idle connection. With data sent and not acknowledged the
/// kernel retransmits for ~15 minutes (`tcp_retries2`) before giving up; this cuts
/// that to a minute too.
#[cfg(any(target_os = "linux", target_os = "android"))]
const UNACKED_TIMEOUT: Duration = Duration::from_secs(60);
/// The most we read of a proxy's answer to `CONNECT` before giving up on it.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Why a connection could not be opened. Each names the proxy by `host:port` (never its
/// credentials) and the target, so one log line says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The proxy did not accept a TCP connection.
    #[error("proxy {proxy} is unreachable (while connecting to {target}): {source}")]
    ProxyUnreachable {
        /// `host:port` of the proxy.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The proxy wants credentials (407): none were given, or these were refused.
    #[error(
        "proxy {proxy} requires authentication (407) to reach {target}: {}",
        if *with_credentials { "the configured credentials were refused" } else { "set user:password in the proxy URL" }
    )]
    ProxyAuth {
        /// `host:port` of the proxy.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// Whether credentials were sent.
        with_credentials: bool,
    },
    /// The proxy answered `CONNECT` with something other than 2xx.
    #[error("proxy {proxy} refused to open a tunnel to {target}: {status}")]
    ProxyRefused {
        /// `host:port` of the proxy.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// The status line, e.g. `403 Forbidden`.
        status: String,
    },
    /// The proxy closed the connection, answered with something that is not HTTP, or
    /// broke the exchange.
    #[error("proxy {proxy} broke off the tunnel to {target}: {detail}")]
    ProxyBroken {
        /// `host:port` of the proxy.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        detail: String,
    },
    /// No proxy applies and the target did not accept the connection.
    #[error("cannot connect to {target}: {source}")]
    Direct {
        /// `host:port` asked for.
        target: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Nothing answered in time.
    #[error("connecting to {target}{} timed out after {} s", via.as_deref().map(|p| format!(" through proxy {p}")).unwrap_or_default(), CONNECT_TIMEOUT.as_secs())]
    Timeout {
        /// `host:port` asked for.
        target: String,
        /// `host:port` of the proxy, when one was used.
        via: Option<String>,
    },
    /// The TLS handshake with the target failed: most often, through a
    /// TLS-inspecting proxy, because its CA is not in `tls.ca_file`.
    #[error("TLS with {target}{} failed: {detail}", via.as_deref().map(|p| format!(" through proxy {p}")).unwrap_or_default())]
    Tls {
        /// `host:port` asked for.
        target: String,
        /// `host:port` of the proxy, when one was used.
        via: Option<String>,
        /// What rustls said, e.g. `invalid peer certificate: UnknownIssuer`.
        detail: String,
    },
    /// The connection opened, but the TLS handshake did not finish in time.
    #[error("the TLS handshake with {target}{} did not finish within {after:?}", via.as_deref().map(|p| format!(" through proxy {p}")).unwrap_or_default())]
    TlsTimeout {
        /// `host:port` asked for.
        target: String,
        /// `host:port` of the proxy, when one was used.
        via: Option<String>,
        /// The deadline that passed.
        after: Duration,
    },
    /// The URL has no host to connect to.
    #[error("cannot connect to {0}: it has no host")]
    NoHost(String),
}

/// What kind of failure an [`EgressError`] is, without its details: for callers that
/// decide what to do next (start-up waits out an unreachable network, not a proxy
/// that refuses or a certificate nobody trusts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressFailure {
    /// The proxy did not accept a TCP connection.
    ProxyUnreachable,
    /// The proxy wants other credentials (407).
    ProxyAuth,
    /// The proxy would not open the tunnel (403…).
    ProxyRefused,
    /// The proxy broke off the exchange.
    ProxyBroken,
    /// The target did not accept a direct connection (refused, no route, DNS).
    Unreachable,
    /// Nothing answered in time.
    Timeout,
    /// TLS failed: a certificate or the protocol.
    Tls,
    /// The TLS handshake did not finish in time.
    TlsTimeout,
    /// The URL has no host.
    NoHost,
}

impl EgressError {
    /// Its kind, for deciding whether to try again.
    pub fn failure(&self) -> EgressFailure {
        match self {
            Self::ProxyUnreachable { .. } => EgressFailure::ProxyUnreachable,
            Self::ProxyAuth { .. } => EgressFailure::ProxyAuth,
            Self::ProxyRefused { .. } => EgressFailure::ProxyRefused,
            Self::ProxyBroken { .. } => EgressFailure::ProxyBroken,
            Self::Direct { .. } => EgressFailure::Unreachable,
            Self::Timeout { .. } => EgressFailure::Timeout,
            Self::Tls { .. } => EgressFailure::Tls,
            Self::TlsTimeout { .. } => EgressFailure::TlsTimeout,
            Self::NoHost(_) => EgressFailure::NoHost,
        }
    }
}

/// `host:port`, with brackets around an IPv6 host as a request line needs.
fn target_of(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Connects to `host:port`, through `proxy` when given. A failure through a proxy is
/// logged here, once, naming the proxy: callers wrap errors in their own words and may
/// lose the cause.
pub(super) async fn connect(
    proxy: Option<&ProxyUrl>,
    host: &str,
    port: u16,
) -> Result<TcpStream, EgressError> {
    let target = target_of(host, port);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let attempt = async {
        match proxy {
            None => TcpStream::connect((host, port))
                .await
                .map_err(|source| EgressError::Direct {
                    target: target.clone(),
                    source,
                }),
            Some(proxy) => tunnel(proxy, &target).await,
        }
    };
    let result = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(EgressError::Timeout {
            target: target.clone(),
            via: proxy.map(ProxyUrl::authority),
        }),
    };
    match result {
        Ok(stream) => {
            // No Nagle: Socket Mode acks are tiny frames written one by one;
            // with Nagle on, each waited for the TCP ACK of the previous one,
            // which a delayed-ACK peer holds ~40 ms (BENCHMARKS.md).
            let _ = stream.set_nodelay(true);
            keep_alive(&stream);
            Ok(stream)
        }
        Err(error) => {
            if let Some(proxy) = proxy {
                tracing::warn!(proxy = %proxy.authority(), %target, %error, "connection through the proxy failed");
            }
            Err(error)
        }
    }
}

/// Turns on TCP keepalive (see [`KEEPALIVE_IDLE`]) and, where the OS has it, the
/// unacknowledged-data timeout. A failure only costs the early warning, so it is
/// logged, never fatal.
fn keep_alive(stream: &TcpStream) {
    let socket = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    if let Err(error) = socket.set_tcp_keepalive(&keepalive) {
        tracing::debug!(%error, "cannot turn on TCP keepalive");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(error) = socket.set_tcp_user_timeout(Some(UNACKED_TIMEOUT)) {
        tracing::debug!(%error, "cannot set TCP_USER_TIMEOUT");
    }
}

/// `CONNECT target` through `proxy`; the returned stream is the tunnel.
async fn tunnel(proxy: &ProxyUrl, target: &str) -> Result<TcpStream, EgressError> {
    let name = proxy.authority();
    let proxy_host = proxy.host().trim_start_matches('[').trim_end_matches(']');
    let mut stream = TcpStream::connect((proxy_host, proxy.port()))
        .await
        .map_err(|source| EgressError::ProxyUnreachable {
            proxy: name.clone(),
            target: target.to_owned(),
            source,
        })?;
    let broken = |detail: String| EgressError::ProxyBroken {
        proxy: name.clone(),
        target: target.to_owned(),
        detail,
    };
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = proxy.basic_auth() {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| broken(e.to_string()))?;
    // Read the answer a byte at a time: whatever follows its blank line belongs to the
    // tunnel and must stay in the socket. The answer is a few dozen bytes.
    let mut answer = Vec::with_capacity(128);
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_ANSWER_BYTES {
            return Err(broken("its answer to CONNECT has no end".into()));
        }
        let mut byte = [0u8; 1];
        match stream.read(&mut byte).await {
            Ok(0) => return Err(broken("it closed the connection without answering".into())),
            Ok(_) => answer.push(byte[0]),
            Err(e) => return Err(broken(e.to_string())),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default().trim();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    let status = status_line
        .split_once(' ')
        .map(|(_, s)| s)
        .unwrap_or_default();
    match code {
        _ if !version.starts_with("HTTP/") => Err(broken(format!(
            "it answered CONNECT with {:?}, not HTTP",
            status_line.chars().take(60).collect::<String>()
        ))),
        Some(200..=299) => Ok(stream),
        Some(407) => Err(EgressError::ProxyAuth {
            proxy: name,
            target: target.to_owned(),
            with_credentials: proxy.has_credentials(),
        }),
        Some(_) => Err(EgressError::ProxyRefused {
            proxy: name,
            target: target.to_owned(),
            status: status.chars().take(100).collect(),
        }),
        None => Err(broken(format!("unreadable status line {status_line:?}"))),
    }
}

/// The Web API's connector: a connection opened under the policy (directly or through
/// a `CONNECT` tunnel, see [`connect`]) with TLS inside it, whose TLS failures name the
/// target and the proxy like every other connection failure does. The connection and
/// the handshake each have their own deadline.
#[derive(Clone, Debug)]
pub struct HttpsTunnelConnector {
    /// The policy's TLS settings with ALPN for HTTP/2 and HTTP/1.1.
    tls: Arc<rustls::ClientConfig>,
    egress: Egress,
    tls_timeout: Duration,
}

impl HttpsTunnelConnector {
    /// HTTP/1.1 and HTTP/2 over TLS (or plain `http://`), following `egress`.
    pub fn new(egress: &Egress) -> Self {
        let mut tls = (*egress.tls_config()).clone();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        HttpsTunnelConnector {
            tls: Arc::new(tls),
            egress: egress.clone(),
            tls_timeout: TLS_HANDSHAKE_TIMEOUT,
        }
    }

    /// The same connector with another TLS handshake deadline (tests shorten it).
    pub fn with_tls_timeout(mut self, timeout: Duration) -> Self {
        self.tls_timeout = timeout;
        self
    }
}

impl tower_service::Service<Uri> for HttpsTunnelConnector {
    type Response = hyper_rustls::MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = EgressError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (egress, tls, tls_timeout) = (self.egress.clone(), self.tls.clone(), self.tls_timeout);
        Box::pin(async move {
            let secure = uri.scheme_str() == Some("https");
            let host = uri
                .host()
                .ok_or_else(|| EgressError::NoHost(uri.to_string()))?
                .to_owned();
            let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
            // Connection failures are ours already, named and logged.
            let stream = egress.connect(secure, &host, port).await?;
            // hyper-rustls starts TLS (or not, for `http://`) on the stream just opened,
            // so the deadline below is the handshake's alone.
            let mut https =
                hyper_rustls::HttpsConnector::from((Handoff(Some(TokioIo::new(stream))), tls));
            let handshake = tokio::time::timeout(tls_timeout, https.call(uri.clone())).await;
            let proxy = egress.proxy_for_host(secure, &host, port);
            let error = match handshake {
                Ok(Ok(stream)) => return Ok(stream),
                Err(_) => EgressError::TlsTimeout {
                    target: target_of(&host, port),
                    via: proxy.map(ProxyUrl::authority),
                    after: tls_timeout,
                },
                Ok(Err(error)) => {
                    let mut detail = error_chain(error.as_ref());
                    if proxy.is_some() && detail.contains("certificate") {
                        detail.push_str(
                            " (a TLS-inspecting proxy's CA belongs in tls.ca_file or SSL_CERT_FILE)",
                        );
                    }
                    EgressError::Tls {
                        target: target_of(&host, port),
                        via: proxy.map(ProxyUrl::authority),
                        detail,
                    }
                }
            };
            if let Some(proxy) = proxy {
                tracing::warn!(proxy = %proxy.authority(), %error, "TLS through the proxy failed");
            }
            Err(error)
        })
    }
}

/// A connector that hands over a connection already open, once: how
/// [`HttpsTunnelConnector`] runs hyper-rustls' TLS on a stream it opened itself.
struct Handoff(Option<TokioIo<TcpStream>>);

impl tower_service::Service<Uri> for Handoff {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        std::future::ready(
            self.0
                .take()
                .ok_or_else(|| std::io::Error::other("the connection was already handed over")),
        )
    }
}

/// An error and its causes, `outer: inner`, without repeats.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !parts.iter().any(|seen| seen.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

/// A hyper connector (`Service<Uri>`) that opens every connection under the policy; wrap it
/// in hyper-rustls' `HttpsConnector` for TLS inside the tunnel.
#[derive(Clone, Debug)]
pub struct TunnelConnector {
    egress: Egress,
}

impl TunnelConnector {
    /// A connector following `egress`.
    pub fn new(egress: Egress) -> Self {
        TunnelConnector { egress }
    }
}

impl tower_service::Service<Uri> for TunnelConnector {
    type Response = TokioIo<TcpStream>;
    type Error = EgressError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let egress = self.egress.clone();
        Box::pin(async move {
            let secure = matches!(uri.scheme_str(), Some("https" | "wss"));
            let host = uri
                .host()
                .ok_or_else(|| EgressError::NoHost(uri.to_string()))?
                .to_owned();
            let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
            egress.connect(secure, &host, port).await.map(TokioIo::new)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service;

    #[tokio::test]
    async fn every_connection_notices_a_vanished_peer_within_about_a_minute() {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = connect(None, "127.0.0.1", port).await.unwrap();
        let socket = socket2::SockRef::from(&stream);
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(socket.tcp_user_timeout().unwrap(), Some(UNACKED_TIMEOUT));
        let silent_for = KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_PROBES;
        assert!(silent_for <= Duration::from_secs(90), "{silent_for:?}");
    }

    #[tokio::test]
    async fn a_peer_that_never_answers_the_tls_handshake_is_given_up_on() {
        crate::install_crypto_provider();
        // Never accepted: the kernel completes the TCP handshake, then nothing
        // answers the ClientHello.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut connector = HttpsTunnelConnector::new(&Egress::direct())
            .with_tls_timeout(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let uri: Uri = format!("https://127.0.0.1:{port}/").parse().unwrap();
        let error = match connector.call(uri).await {
            Ok(_) => panic!("a handshake with a silent peer finished"),
            Err(error) => error,
        };
        assert_eq!(error.failure(), EgressFailure::TlsTimeout, "{error}");
        assert!(
            error.to_string().contains(&format!("127.0.0.1:{port}")),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
    }
}
