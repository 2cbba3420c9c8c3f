//! The one outbound-connection policy: which proxy (if any) a connection goes through, and
//! which certificate authorities its TLS trusts. Every client Janus builds (the Web API,
//! the Socket Mode websocket, status providers, Statuspage, `janus doctor`) takes its
//! connections and its TLS settings from an [`Egress`], so a corporate network needs to be
//! described once and nothing can quietly go around it.
//!
//! Through a proxy, every connection is an HTTP `CONNECT` tunnel with TLS inside it, as
//! corporate proxies expect; plain `http://` targets (a fake on loopback) are tunnelled the
//! same way by our own connectors. reqwest keeps its own proxy code but asks [`Egress`]
//! which proxy applies, and never reads the environment itself.

mod no_proxy;
mod proxy_url;
mod tunnel;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use url::Url;

pub use no_proxy::NoProxy;
pub use proxy_url::ProxyUrl;
pub use tunnel::{EgressError, EgressFailure, HttpsTunnelConnector, TunnelConnector};

/// The settings the configuration resolves: proxies, exemptions and extra trust.
#[derive(Clone, Debug, Default)]
pub struct EgressSettings {
    /// Proxy for `https://` and `wss://` targets.
    pub https_proxy: Option<ProxyUrl>,
    /// Proxy for `http://` and `ws://` targets.
    pub http_proxy: Option<ProxyUrl>,
    /// Hosts reached directly even when a proxy is set.
    pub no_proxy: NoProxy,
    /// The PEM file the extra CA certificates came from, for messages.
    pub ca_file: Option<PathBuf>,
    /// CA certificates trusted on top of the system's (a TLS-inspecting proxy's CA).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

/// The policy, ready to use: cheap to clone, shared by every client.
#[derive(Clone)]
pub struct Egress {
    inner: Arc<Inner>,
}

struct Inner {
    settings: EgressSettings,
    /// Without ALPN: each client sets the protocols it speaks on its own copy.
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Default for Egress {
    fn default() -> Self {
        Egress::direct()
    }
}

impl Egress {
    /// The policy for `settings`: the system's CA roots plus `settings.extra_roots`.
    pub fn new(settings: &EgressSettings) -> Egress {
        crate::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        for cert in native_roots() {
            // A system bundle may hold a certificate rustls cannot use; skipping it is what
            // every rustls client does, and the others still work.
            let _ = roots.add(cert.clone());
        }
        for cert in &settings.extra_roots {
            let _ = roots.add(cert.clone());
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Egress {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                tls: Arc::new(tls),
            }),
        }
    }

    /// No proxy and the system's roots only: for tools and tests that have no configuration.
    pub fn direct() -> Egress {
        Egress::new(&EgressSettings::default())
    }

    /// The settings this policy was built from.
    pub fn settings(&self) -> &EgressSettings {
        &self.inner.settings
    }

    /// The proxy a connection to `url` goes through, or `None` to connect directly.
    pub fn proxy_for(&self, url: &Url) -> Option<&ProxyUrl> {
        let host = url.host_str()?;
        let port = url.port_or_known_default().unwrap_or(443);
        let secure = matches!(url.scheme(), "https" | "wss");
        self.proxy_for_host(secure, host, port)
    }

    /// The proxy for `host:port`; `secure` picks the HTTPS proxy over the HTTP one.
    pub fn proxy_for_host(&self, secure: bool, host: &str, port: u16) -> Option<&ProxyUrl> {
        let settings = &self.inner.settings;
        let proxy = if secure {
            settings.https_proxy.as_ref()
        } else {
            settings.http_proxy.as_ref()
        }?;
        (!settings.no_proxy.matches(host, port)).then_some(proxy)
    }

    /// TLS settings trusting the system's roots and the configured CA file, with no ALPN.
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.inner.tls.clone()
    }

    /// A reqwest builder that follows this policy: our proxy choice (reqwest's own reading
    /// of the environment is switched off) and our trust.
    pub fn reqwest(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let egress = self.clone();
        builder
            .no_proxy()
            .proxy(reqwest::Proxy::custom(move |url| {
                egress.proxy_for(url).map(ProxyUrl::to_url)
            }))
            .tls_backend_preconfigured((*self.inner.tls).clone())
    }

    /// Opens a TCP stream to `host:port`: directly, or through a `CONNECT` tunnel when a
    /// proxy applies. TLS, if any, is the caller's to start on the stream.
    pub async fn connect(
        &self,
        secure: bool,
        host: &str,
        port: u16,
    ) -> Result<tokio::net::TcpStream, EgressError> {
        tunnel::connect(self.proxy_for_host(secure, host, port), host, port).await
    }
}

/// The system's CA roots, read once per process (the read is slow on some systems).
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(%error, "some of the system's CA certificates could not be read");
        }
        found.certs
    })
}

/// Reads the CA certificates in a PEM file. An error is one line naming what is wrong;
/// the caller adds which key named the file.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not a valid PEM bundle: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            path.display()
        ));
    }
    let mut store = rustls::RootCertStore::empty();
    let (_, rejected) = store.add_parsable_certificates(certs.iter().cloned());
    if rejected > 0 {
        return Err(format!(
            "{} holds {rejected} certificate(s) that cannot be used as a CA",
            path.display()
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(https: Option<&str>, http: Option<&str>, no_proxy: &str) -> Egress {
        Egress::new(&EgressSettings {
            https_proxy: https.map(|p| ProxyUrl::parse(p).unwrap()),
            http_proxy: http.map(|p| ProxyUrl::parse(p).unwrap()),
            no_proxy: NoProxy::parse(no_proxy).unwrap(),
            ..EgressSettings::default()
        })
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn secure_targets_use_the_https_proxy_and_plain_ones_the_http_proxy() {
        let egress = with(
            Some("http://tls-proxy:3128"),
            Some("http://plain-proxy:8080"),
            "",
        );
        let via = |u: &str| egress.proxy_for(&url(u)).map(|p| p.authority());
        assert_eq!(
            via("https://slack.com/api/").as_deref(),
            Some("tls-proxy:3128")
        );
        assert_eq!(
            via("wss://wss-primary.slack.com/link").as_deref(),
            Some("tls-proxy:3128")
        );
        assert_eq!(
            via("http://127.0.0.1:9000/").as_deref(),
            Some("plain-proxy:8080")
        );
        assert_eq!(
            via("ws://127.0.0.1:9000/").as_deref(),
            Some("plain-proxy:8080")
        );
    }

    #[test]
    fn no_proxy_wins_over_the_proxy() {
        let egress = with(Some("http://proxy:3128"), None, ".corp.example,10.0.0.0/8");
        assert!(
            egress
                .proxy_for(&url("https://status.corp.example/"))
                .is_none()
        );
        assert!(egress.proxy_for(&url("https://10.3.3.3/")).is_none());
        assert!(egress.proxy_for(&url("https://slack.com/")).is_some());
    }

    #[test]
    fn without_a_proxy_everything_is_direct() {
        assert!(
            Egress::direct()
                .proxy_for(&url("https://slack.com/"))
                .is_none()
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = read_ca_file(&path).unwrap_err();
        assert!(error.contains("ca.pem"), "{error}");
        let missing = read_ca_file(&dir.path().join("absent.pem")).unwrap_err();
        assert!(missing.contains("absent.pem"), "{missing}");
    }
}
