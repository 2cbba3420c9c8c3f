//! Which provider speaks which format, and where its status API is.

use url::Url;

use super::FetchError;
use crate::config::ProviderConfig;

/// The status formats Janus reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Atlassian Statuspage's public `summary.json`: most providers.
    StatuspageV2,
    /// Heroku's own `current-status`.
    HerokuV4,
    /// Slack's own `current`.
    SlackV2,
}

impl Format {
    /// Appended to the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Format::StatuspageV2 => "/api/v2/summary.json",
            Format::HerokuV4 => "/api/v4/current-status",
            Format::SlackV2 => "/api/v2.0.0/current",
        }
    }
}

struct Builtin {
    name: &'static str,
    display: &'static str,
    base: &'static str,
    format: Format,
}

/// The providers Janus knows by name; their names are
/// `crate::config::BUILTIN_PROVIDERS` (a test keeps the two in step).
const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "github",
        display: "GitHub",
        base: "https://www.githubstatus.com",
        format: Format::StatuspageV2,
    },
    Builtin {
        name: "heroku",
        display: "Heroku",
        base: "https://status.heroku.com",
        format: Format::HerokuV4,
    },
    Builtin {
        name: "slack",
        display: "Slack",
        base: "https://slack-status.com",
        format: Format::SlackV2,
    },
];

fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// How a provider is named in the message: the brand for a built-in,
/// otherwise the configured name with a capital (`datadog` → `Datadog`).
pub fn display_name(name: &str) -> String {
    if let Some(b) = builtin(name) {
        return b.display.to_owned();
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The format and full request URL of `provider`: its configured base (or
/// the built-in default) with the format's path appended.
///
/// A base is scheme, host, port and path: a trailing slash is tolerated,
/// and its query, fragment and any `user:password@` are dropped, so nothing
/// in a configured URL can turn into credentials on the wire.
pub fn endpoint(provider: &ProviderConfig) -> Result<(Format, Url), FetchError> {
    let known = builtin(&provider.name);
    let format = known.map_or(Format::StatuspageV2, |b| b.format);
    let mut url = match (&provider.url, known) {
        (Some(url), _) => url.clone(),
        (None, Some(b)) => Url::parse(b.base).expect("built-in base URLs parse"),
        (None, None) => return Err(FetchError::NoUrl),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::BadScheme);
    }
    let path = format!("{}{}", url.path().trim_end_matches('/'), format.path());
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    // Both only fail for URLs that cannot have credentials at all.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((format, url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BUILTIN_PROVIDERS;

    fn provider(name: &str, url: Option<&str>) -> ProviderConfig {
        ProviderConfig {
            name: name.to_owned(),
            url: url.map(|u| Url::parse(u).unwrap()),
        }
    }

    fn url_of(name: &str, url: Option<&str>) -> String {
        endpoint(&provider(name, url)).unwrap().1.to_string()
    }

    #[test]
    fn every_builtin_the_config_accepts_has_a_default_url() {
        let ours: Vec<_> = BUILTINS.iter().map(|b| b.name).collect();
        assert_eq!(ours, BUILTIN_PROVIDERS);
    }

    #[test]
    fn builtins_use_their_public_status_apis() {
        assert_eq!(
            url_of("github", None),
            "https://www.githubstatus.com/api/v2/summary.json"
        );
        assert_eq!(
            url_of("heroku", None),
            "https://status.heroku.com/api/v4/current-status"
        );
        assert_eq!(
            url_of("slack", None),
            "https://slack-status.com/api/v2.0.0/current"
        );
    }

    #[test]
    fn a_configured_url_overrides_a_builtin_base_and_keeps_its_format() {
        let (format, url) = endpoint(&provider("heroku", Some("http://127.0.0.1:4000"))).unwrap();
        assert_eq!(format, Format::HerokuV4);
        assert_eq!(url.as_str(), "http://127.0.0.1:4000/api/v4/current-status");
    }

    #[test]
    fn a_trailing_slash_or_a_path_in_the_base_is_tolerated() {
        for base in ["https://status.example.com/", "https://status.example.com"] {
            assert_eq!(
                url_of("example", Some(base)),
                "https://status.example.com/api/v2/summary.json"
            );
        }
        assert_eq!(
            url_of("example", Some("http://127.0.0.1:9/mirror/github/")),
            "http://127.0.0.1:9/mirror/github/api/v2/summary.json"
        );
    }

    #[test]
    fn any_other_name_is_a_statuspage_and_needs_a_url() {
        let (format, _) =
            endpoint(&provider("datadog", Some("https://status.datadoghq.com"))).unwrap();
        assert_eq!(format, Format::StatuspageV2);
        assert_eq!(
            endpoint(&provider("datadog", None)).unwrap_err(),
            FetchError::NoUrl
        );
    }

    #[test]
    fn credentials_query_and_fragment_in_a_base_are_dropped() {
        assert_eq!(
            url_of(
                "example",
                Some("https://me:secret@status.example.com/?token=x#top")
            ),
            "https://status.example.com/api/v2/summary.json"
        );
    }

    #[test]
    fn a_non_web_base_is_refused() {
        assert_eq!(
            endpoint(&provider("example", Some("file:///etc/passwd"))).unwrap_err(),
            FetchError::BadScheme
        );
    }

    #[test]
    fn display_names_are_brands_or_capitalised() {
        assert_eq!(display_name("github"), "GitHub");
        assert_eq!(display_name("datadog"), "Datadog");
        assert_eq!(display_name(""), "");
    }
}
