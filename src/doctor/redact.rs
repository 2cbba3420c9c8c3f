//! Keeping secrets out of the report, and errors readable in it.

use secrecy::ExposeSecret;
use url::Url;

use crate::config::Config;

/// An error and its causes, `outer: inner: innermost` (reqwest's own
/// message stops at "error sending request").
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Blanks out the configured secrets wherever they might appear: the last
/// line of defence for a message we did not write ourselves (a driver
/// quoting its connection string, say).
pub(super) struct Redactor {
    secrets: Vec<String>,
}

/// Secrets shorter than this are not searched for: replacing every `ab` in
/// the report would garble it, and no real token is that short.
const MIN_SECRET_CHARS: usize = 4;

impl Redactor {
    /// Every secret of `config`: both Slack tokens, the Statuspage key and
    /// the database password.
    pub(super) fn for_config(config: &Config) -> Redactor {
        let mut secrets = vec![
            config.slack.bot_token.expose_secret().to_owned(),
            config.slack.app_token.expose_secret().to_owned(),
        ];
        if let Some(statuspage) = &config.statuspage {
            secrets.push(statuspage.api_key.expose_secret().to_owned());
        }
        for proxy in [&config.egress.https_proxy, &config.egress.http_proxy]
            .into_iter()
            .flatten()
        {
            if let Some(password) = proxy.password() {
                secrets.push(password.expose_secret().to_owned());
            }
        }
        if let Ok(url) = Url::parse(config.database.url.expose_secret())
            && let Some(password) = url.password()
        {
            secrets.push(password.to_owned());
            if let Ok(decoded) = urlish_decode(password) {
                secrets.push(decoded);
            }
        }
        Redactor::new(secrets)
    }

    /// A redactor for exactly these secrets.
    fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
            .collect();
        // Longest first, so a secret containing another is blanked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` with every secret replaced by `[REDACTED]`.
    pub(super) fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "[REDACTED]"))
    }
}

/// Percent-decodes a URL's userinfo (`p%40ss` → `p@ss`), as the driver
/// sees the password.
fn urlish_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redactor_blanks_every_secret_and_ignores_tiny_ones() {
        let redactor = Redactor::new(["xoxb-123-abc".to_owned(), "pw".to_owned()]);
        assert_eq!(
            redactor.redact("token xoxb-123-abc, password pw"),
            "token [REDACTED], password pw"
        );
    }

    #[test]
    fn a_percent_encoded_password_is_decoded_as_the_driver_sees_it() {
        assert_eq!(urlish_decode("p%40ss%2Fw").unwrap(), "p@ss/w");
        assert_eq!(urlish_decode("100%").unwrap(), "100%");
    }
}
