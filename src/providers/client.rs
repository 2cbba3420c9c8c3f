//! Fetching status pages: an HTTP client for third parties only.
//!
//! It is separate from the Slack and Statuspage clients on purpose: those
//! carry tokens, this one must never send a credential to a host we do not
//! control, and it is tuned for "answer quickly or be a warning row".

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, HeaderValue};
use reqwest::redirect;
use url::Url;

use super::source::{Format, display_name, endpoint};
use super::{FetchError, ProviderResult, ProviderStatus, heroku, slack, statuspage_v2};
use crate::config::ProviderConfig;
use crate::egress::Egress;

/// How long a provider gets, connection to last byte, redirects included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer we read. GitHub's summary is about 20 KiB; a status
/// page sending a megabyte is broken or hostile.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Status pages redirect (`http` → `https`, `www.`), but not far.
const MAX_REDIRECTS: usize = 3;
const USER_AGENT: &str = concat!("janus/", env!("CARGO_PKG_VERSION"));

/// Reads the status of third-party providers. Cheap to clone: clones share
/// one connection pool.
#[derive(Clone, Debug)]
pub struct ProviderClient {
    http: reqwest::Client,
    timeout: Duration,
    /// Only to name the proxy in a failure's log line.
    egress: Egress,
}

impl ProviderClient {
    /// A client giving each provider `timeout` ([`DEFAULT_TIMEOUT`] in
    /// production; tests shorten it), connecting directly with the system's
    /// CA roots.
    pub fn new(timeout: Duration) -> Result<ProviderClient, reqwest::Error> {
        Self::with_egress(timeout, &Egress::direct())
    }

    /// A client whose connections follow `egress` (proxy and trusted CAs).
    ///
    /// Needs rustls' crypto provider (`crate::install_crypto_provider`):
    /// reqwest is built without one of its own, to keep one TLS stack in
    /// the binary. Called here as well, since it is idempotent and a missing
    /// provider would be a panic, not an error.
    pub fn with_egress(
        timeout: Duration,
        egress: &Egress,
    ) -> Result<ProviderClient, reqwest::Error> {
        crate::install_crypto_provider();
        let http = egress
            .reqwest(reqwest::Client::builder())
            .user_agent(USER_AGENT)
            .redirect(redirect::Policy::limited(MAX_REDIRECTS))
            // Nothing of ours goes to a third party: no referer, no cookies
            // (not compiled in); the proxy is the egress policy's, never one
            // reqwest picks up from the environment itself.
            .referer(false)
            .connect_timeout(timeout)
            .build()?;
        Ok(ProviderClient {
            http,
            timeout,
            egress: egress.clone(),
        })
    }

    /// The status of every provider in `providers`, fetched at once, in the
    /// configured order. Never fails: a provider that cannot be read is a
    /// [`ProviderResult::Failed`] row.
    pub async fn snapshot(&self, providers: &[ProviderConfig]) -> Vec<ProviderResult> {
        join_all(providers.iter().map(|p| self.fetch(p))).await
    }

    /// The status of one provider.
    pub async fn fetch(&self, provider: &ProviderConfig) -> ProviderResult {
        let name = display_name(&provider.name);
        let (format, url) = match endpoint(provider) {
            Ok(endpoint) => endpoint,
            Err(reason) => {
                tracing::warn!(provider = %provider.name, %reason, "provider status not fetched");
                return ProviderResult::Failed { name, reason };
            }
        };
        // One deadline for the whole exchange: connecting, redirects and
        // reading the body, which is what "no answer in 5 s" promises.
        let outcome = match tokio::time::timeout(self.timeout, self.get(&url)).await {
            Ok(Ok(body)) => parse(format, name.clone(), &body),
            Ok(Err(error)) => Err(error),
            Err(_elapsed) => Err(FetchError::Timeout(self.timeout)),
        };
        match outcome {
            Ok(status) => ProviderResult::Answered(status),
            Err(reason) => {
                let detail = match &reason {
                    FetchError::Unparseable { detail } | FetchError::Other { detail } => detail,
                    _ => "",
                };
                let proxy = self
                    .egress
                    .proxy_for(&url)
                    .map_or_else(|| "none".to_owned(), |p| p.authority());
                tracing::warn!(provider = %provider.name, %url, %proxy, %reason, detail, "provider status unavailable");
                ProviderResult::Failed { name, reason }
            }
        }
    }

    /// The body of a 2xx answer to `GET url`, at most [`MAX_BODY_BYTES`].
    async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .http
            .get(url.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        // A declared length over the cap is refused before reading a byte;
        // a missing or lying one is caught while reading.
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(FetchError::TooLarge(MAX_BODY_BYTES));
        }
        let mut body = Vec::with_capacity(declared.unwrap_or(16 * 1024).min(64 * 1024) as usize);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(FetchError::TooLarge(MAX_BODY_BYTES));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn classify(&self, error: reqwest::Error) -> FetchError {
        if error.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if error.is_redirect() {
            FetchError::Redirects
        } else if error.is_connect() {
            FetchError::Connect
        } else {
            FetchError::Other {
                // `{:#}` walks the source chain: "error sending request:
                // connection reset" rather than the first link alone.
                detail: format!("{:#}", anyhow::Error::new(error)),
            }
        }
    }
}

fn parse(format: Format, name: String, body: &[u8]) -> Result<ProviderStatus, FetchError> {
    match format {
        Format::StatuspageV2 => statuspage_v2::parse(name, body),
        Format::HerokuV4 => heroku::parse(name, body),
        Format::SlackV2 => slack::parse(name, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_cheap_to_share_between_tasks() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<ProviderClient>();
    }

    #[test]
    fn the_user_agent_names_janus_and_its_version() {
        assert_eq!(USER_AGENT, format!("janus/{}", env!("CARGO_PKG_VERSION")));
    }

    #[tokio::test]
    async fn a_provider_without_a_url_is_a_warning_row_without_a_request() {
        let client = ProviderClient::new(DEFAULT_TIMEOUT).unwrap();
        let provider = ProviderConfig {
            name: "datadog".into(),
            url: None,
        };
        assert_eq!(
            client.fetch(&provider).await,
            ProviderResult::Failed {
                name: "Datadog".into(),
                reason: FetchError::NoUrl
            }
        );
    }
}
