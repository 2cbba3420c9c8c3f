//! A proxy's address and credentials, shown without the password anywhere it is printed.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// An `http://[user[:password]@]host[:port]` proxy. `Debug` and `Display` print
/// `http://user:***@host:port`: the password never reaches a log or an error.
#[derive(Clone)]
pub struct ProxyUrl {
    host: String,
    port: u16,
    username: String,
    password: Option<SecretString>,
}

impl ProxyUrl {
    /// Parses a proxy URL as the variables carry it; `proxy.corp:3128` without a scheme is
    /// taken as `http://`, like curl does. Only `http://` proxies are supported (the tunnel
    /// to the proxy is plain; TLS runs end to end inside it). The error never repeats the
    /// text, which may hold a password.
    pub fn parse(text: &str) -> Result<ProxyUrl, String> {
        let text = text.trim();
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url = Url::parse(&with_scheme)
            .map_err(|e| format!("expected a proxy URL like http://proxy.corp:3128 ({e})"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "only http:// proxies are supported, not {}:// (HTTPS targets are still \
                 encrypted end to end through the tunnel)",
                url.scheme()
            ));
        }
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.to_owned(),
            _ => return Err("expected a proxy URL like http://proxy.corp:3128 (no host)".into()),
        };
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| "the proxy credentials are not valid UTF-8".to_owned())
        };
        Ok(ProxyUrl {
            host,
            port: url.port_or_known_default().unwrap_or(80),
            username: decode(url.username())?,
            password: url
                .password()
                .map(decode)
                .transpose()?
                .map(SecretString::from),
        })
    }

    /// `host:port`, the part of the proxy safe to name anywhere.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The proxy's host (a name, an IPv4 address or a bracketed IPv6 address).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether credentials were given, so a 407 can say whether they were refused or missing.
    pub fn has_credentials(&self) -> bool {
        !self.username.is_empty() || self.password.is_some()
    }

    /// The password, for a redactor that must blank it wherever a library quotes it.
    pub fn password(&self) -> Option<&SecretString> {
        self.password.as_ref()
    }

    /// The `Proxy-Authorization` value (`Basic …`), when credentials were given.
    pub(crate) fn basic_auth(&self) -> Option<String> {
        if !self.has_credentials() {
            return None;
        }
        let password = self
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_owned())
            .unwrap_or_default();
        Some(format!(
            "Basic {}",
            base64(format!("{}:{password}", self.username).as_bytes())
        ))
    }

    /// The full URL, credentials included, for reqwest's proxy setting. Never print it.
    pub(crate) fn to_url(&self) -> Url {
        let mut url = Url::parse(&format!("http://{}", self.authority()))
            .expect("host and port came from a parsed URL");
        if self.has_credentials() {
            let _ = url.set_username(&self.username);
            let _ = url.set_password(self.password.as_ref().map(|p| p.expose_secret()));
        }
        url
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("http://")?;
        if self.has_credentials() {
            f.write_str(&self.username)?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.authority())
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

impl PartialEq for ProxyUrl {
    fn eq(&self, other: &Self) -> bool {
        self.host == other.host
            && self.port == other.port
            && self.username == other.username
            && self.password.as_ref().map(|p| p.expose_secret().to_owned())
                == other
                    .password
                    .as_ref()
                    .map(|p| p.expose_secret().to_owned())
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Standard base64 with padding, for the one header that needs it.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows_in_display_or_debug() {
        let proxy = ProxyUrl::parse("http://alice:s3cr%40t@proxy.corp:3128").unwrap();
        assert_eq!(proxy.to_string(), "http://alice:***@proxy.corp:3128");
        assert!(!format!("{proxy:?}").contains("s3cr"));
        assert_eq!(proxy.authority(), "proxy.corp:3128");
    }

    #[test]
    fn credentials_become_a_basic_header_percent_decoded() {
        let proxy = ProxyUrl::parse("http://alice:s3cr%40t@proxy.corp:3128").unwrap();
        // base64("alice:s3cr@t")
        assert_eq!(
            proxy.basic_auth().as_deref(),
            Some("Basic YWxpY2U6czNjckB0")
        );
        assert_eq!(proxy.to_url().password(), Some("s3cr%40t"));
        assert!(
            ProxyUrl::parse("http://proxy:3128")
                .unwrap()
                .basic_auth()
                .is_none()
        );
    }

    #[test]
    fn a_bare_host_and_port_is_an_http_proxy() {
        let proxy = ProxyUrl::parse("proxy.corp:3128").unwrap();
        assert_eq!(proxy.to_string(), "http://proxy.corp:3128");
        assert_eq!(ProxyUrl::parse("http://proxy.corp").unwrap().port(), 80);
    }

    #[test]
    fn other_schemes_are_refused_without_echoing_the_url() {
        let error = ProxyUrl::parse("socks5://bob:hunter2@proxy:1080").unwrap_err();
        assert!(error.contains("socks5"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let error = ProxyUrl::parse("http://bob:hunter2@").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn base64_pads_like_the_rfc() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
