//! The shape figment deserializes into: every key optional, unknown keys rejected, values
//! checked as they are read so figment can attach the key and its source to any error.
//! Defaults, requirements and cross-key rules live in `resolve` (see `mod.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use url::Url;

use super::LogFormat;

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawConfig {
    pub slack: RawSlack,
    pub database: RawDatabase,
    pub incident: RawIncident,
    pub templates: RawTemplates,
    pub auto_invite: RawAutoInvite,
    pub providers: RawProviders,
    pub react: RawReact,
    pub timeline: RawTimeline,
    pub statuspage: RawStatuspage,
    pub health: RawHealth,
    pub proxy: RawProxy,
    pub tls: RawTls,
    pub reminders: RawReminders,
    pub log_level: Option<String>,
    pub log_format: Option<LogFormat>,
    pub recovery_interval: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawSlack {
    pub app_token: Option<SecretString>,
    pub app_token_file: Option<PathBuf>,
    pub bot_token: Option<SecretString>,
    pub bot_token_file: Option<PathBuf>,
    pub api_url: Option<HttpUrl>,
    pub workspace_id: Option<String>,
    pub sockets: Option<Bounded<1, 10>>,
    pub command: Option<String>,
    pub signing_secret: Option<SecretString>,
    pub verification_token: Option<SecretString>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub url: Option<SecretString>,
    pub url_file: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<Bounded<1, 65535>>,
    pub name: Option<String>,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub password_file: Option<PathBuf>,
    pub max_connections: Option<Bounded<1, 1000>>,
    /// Text, parsed in `resolve`, which also compares it with the URL's own `sslmode`.
    pub sslmode: Option<String>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawIncident {
    pub digest_channel: Option<String>,
    pub video_link: Option<AnyUrl>,
    pub timezone: Option<String>,
    pub statuses: Option<Choices>,
    pub severities: Option<Choices>,
    pub default_severity: Option<String>,
    pub roles: Option<Vec<RawRole>>,
    pub allow_external_users: Option<Flag>,
    pub max_declarations_per_user: Option<Bounded<0, 1000>>,
    pub archive_after: Option<Bounded<0, 31_536_000>>,
}

/// One `[[incident.roles]]` table. `label` and `duties` may be left out for a built-in role,
/// which then keeps its own; `resolve` checks the rest.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    pub key: String,
    pub label: Option<String>,
    pub duties: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawReminders {
    pub update_every: Option<PerSeverity>,
    pub unclaimed_commander_after: Option<u64>,
}

/// `reminders.update_every`: one number of seconds for every severity, or a table of them
/// by severity key (`[reminders.update_every] sev1 = 1800`). Keys and ranges are checked in
/// `resolve`, which knows the severities.
pub(super) enum PerSeverity {
    All(u64),
    Each(BTreeMap<String, u64>),
}

impl<'de> Deserialize<'de> for PerSeverity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PerSeverityVisitor;
        const EXPECTED: &str =
            "a number of seconds, or a table of them by severity such as `{ sev1 = 1800 }`";
        impl<'de> Visitor<'de> for PerSeverityVisitor {
            type Value = PerSeverity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<PerSeverity, E> {
                Ok(PerSeverity::All(value))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<PerSeverity, E> {
                u64::try_from(value)
                    .map(PerSeverity::All)
                    .map_err(|_| E::custom(format!("expected {EXPECTED}, found {value}")))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<PerSeverity, E> {
                value
                    .trim()
                    .parse::<u64>()
                    .map(PerSeverity::All)
                    .map_err(|_| E::custom(format!("expected {EXPECTED}, found {value:?}")))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PerSeverity, A::Error> {
                let mut each = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let Seconds(value) = map.next_value()?;
                    each.insert(key, value);
                }
                Ok(PerSeverity::Each(each))
            }
        }
        deserializer.deserialize_any(PerSeverityVisitor)
    }
}

/// A whole number of seconds, from a number or a numeric string (an env value).
struct Seconds(u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match PerSeverity::deserialize(deserializer)? {
            PerSeverity::All(value) => Ok(Seconds(value)),
            PerSeverity::Each(_) => Err(de::Error::custom(
                "expected a number of seconds, found a table",
            )),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawTemplates {
    pub directory: Option<PathBuf>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawAutoInvite {
    pub enabled: Option<Flag>,
    pub group: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawTimeline {
    pub emoji: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawReact {
    pub enabled: Option<Flag>,
    pub emoji: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawStatuspage {
    pub enabled: Option<Flag>,
    pub api_key: Option<SecretString>,
    pub api_key_file: Option<PathBuf>,
    pub page_id: Option<String>,
    pub api_url: Option<HttpUrl>,
    pub allowed_group: Option<String>,
    pub allow_everyone: Option<Flag>,
    pub follow_incident: Option<Flag>,
    /// Janus status → Statuspage status; checked in `resolve`, which knows the statuses.
    pub status_map: Option<BTreeMap<String, String>>,
    /// Message key (a Statuspage status, or `reopened`) → what customers read.
    pub follow_messages: Option<BTreeMap<String, String>>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawHealth {
    pub listen: Option<ListenAddr>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawProxy {
    /// Text, parsed in `resolve` so the error can name the variable and hide the password.
    pub url: Option<SecretString>,
    pub no_proxy: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawTls {
    pub ca_file: Option<PathBuf>,
}

/// Where the health and metrics listener binds: `IP:PORT` (`[::1]:9187` for IPv6), or a bare
/// port meaning `127.0.0.1:PORT`, so the short form never exposes the endpoints beyond the
/// host. A blank string is `None` (off), like an empty variable.
pub(super) struct ListenAddr(pub Option<SocketAddr>);

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListenVisitor;
        const EXPECTED: &str =
            "a port or an IP address with a port, like `9187` or `127.0.0.1:9187`";
        impl Visitor<'_> for ListenVisitor {
            type Value = ListenAddr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ListenAddr, E> {
                match u16::try_from(value) {
                    Ok(port) => Ok(ListenAddr(Some(SocketAddr::from((
                        Ipv4Addr::LOCALHOST,
                        port,
                    ))))),
                    Err(_) => Err(E::custom(format!(
                        "expected {EXPECTED}, found {value} (ports go up to 65535)"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<ListenAddr, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(E::custom(format!("expected {EXPECTED}, found {value}"))),
                }
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ListenAddr, E> {
                let trimmed = value.trim();
                if trimmed.is_empty() {
                    return Ok(ListenAddr(None));
                }
                if trimmed.bytes().all(|b| b.is_ascii_digit()) {
                    return match trimmed.parse::<u64>() {
                        Ok(port) => self.visit_u64(port),
                        Err(_) => Err(E::custom(format!("expected {EXPECTED}, found {value:?}"))),
                    };
                }
                trimmed
                    .parse::<SocketAddr>()
                    .map(|addr| ListenAddr(Some(addr)))
                    .map_err(|_| E::custom(format!("expected {EXPECTED}, found {value:?}")))
            }
        }
        deserializer.deserialize_any(ListenVisitor)
    }
}

/// `[providers]`: two fixed keys plus one `[providers.<name>]` table per provider.
///
/// Deserialized by hand because serde's `flatten` cannot be combined with
/// `deny_unknown_fields` and loses figment's source tags, which our error messages need.
#[derive(Default)]
pub(super) struct RawProviders {
    pub enabled: Option<Flag>,
    pub list: Option<Names>,
    pub tables: BTreeMap<String, RawProviderTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProviderTable {
    pub url: Option<HttpUrl>,
}

impl<'de> Deserialize<'de> for RawProviders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProvidersVisitor;
        impl<'de> Visitor<'de> for ProvidersVisitor {
            type Value = RawProviders;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table with `enabled`, `list` and `[providers.<name>]` tables")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawProviders, A::Error> {
                let mut providers = RawProviders::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "enabled" => providers.enabled = Some(map.next_value()?),
                        "list" => providers.list = Some(map.next_value()?),
                        _ => {
                            let ProviderTable(table) = map.next_value()?;
                            providers.tables.insert(key, table);
                        }
                    }
                }
                Ok(providers)
            }
        }
        deserializer.deserialize_map(ProvidersVisitor)
    }
}

/// Wraps [`RawProviderTable`] only to say what was expected when a key under `providers` is
/// not a table (typically a misspelt `enabled`), instead of serde's `struct RawProviderTable`.
struct ProviderTable(RawProviderTable);

impl<'de> Deserialize<'de> for ProviderTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TableVisitor;
        impl<'de> Visitor<'de> for TableVisitor {
            type Value = ProviderTable;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`enabled`, `list`, or a provider table with a `url` key")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ProviderTable, A::Error> {
                RawProviderTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ProviderTable)
            }
        }
        deserializer.deserialize_any(TableVisitor)
    }
}

/// A boolean in any spelling operators use: `true/false`, `1/0`, `yes/no`, `on/off`, any case.
///
/// figment hands env `1` over as a number and `yes` as a string, so a plain `bool` would
/// reject both.
#[derive(Clone, Copy)]
pub(super) struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        const EXPECTED: &str = "a boolean (true/false, yes/no, on/off, 1/0)";
        impl Visitor<'_> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Flag, E> {
                Ok(Flag(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Flag, E> {
                match value {
                    0 => Ok(Flag(false)),
                    1 => Ok(Flag(true)),
                    _ => Err(E::custom(format!("expected {EXPECTED}, found {value}"))),
                }
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Flag, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(E::custom(format!("expected {EXPECTED}, found {value}"))),
                }
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Flag, E> {
                match value.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => Ok(Flag(true)),
                    "false" | "0" | "no" | "off" => Ok(Flag(false)),
                    _ => Err(E::custom(format!("expected {EXPECTED}, found {value:?}"))),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

/// A whole number within `MIN..=MAX`, checked while reading so the error carries the source.
#[derive(Clone, Copy)]
pub(super) struct Bounded<const MIN: u32, const MAX: u32>(pub u32);

impl<'de, const MIN: u32, const MAX: u32> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoundedVisitor<const MIN: u32, const MAX: u32>;
        impl<const MIN: u32, const MAX: u32> BoundedVisitor<MIN, MAX> {
            fn check<E: de::Error>(value: i128, found: &str) -> Result<Bounded<MIN, MAX>, E> {
                match u32::try_from(value) {
                    Ok(value) if (MIN..=MAX).contains(&value) => Ok(Bounded(value)),
                    _ => Err(E::custom(format!(
                        "expected a number from {MIN} to {MAX}, found {found}"
                    ))),
                }
            }
        }
        impl<const MIN: u32, const MAX: u32> Visitor<'_> for BoundedVisitor<MIN, MAX> {
            type Value = Bounded<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a number from {MIN} to {MAX}")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                Self::check(i128::from(value), &value.to_string())
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                Self::check(i128::from(value), &value.to_string())
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                let number = value.trim().parse::<i128>().unwrap_or(-1);
                Self::check(number, &format!("{value:?}"))
            }
        }
        deserializer.deserialize_any(BoundedVisitor::<MIN, MAX>)
    }
}

/// A list of names: a TOML array, or a comma-separated string as the legacy env var has it.
/// Trimming, lowercasing and dropping empties happen in `resolve`.
pub(super) struct Names(pub Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamesVisitor;
        impl<'de> Visitor<'de> for NamesVisitor {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of names or a comma-separated string")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Names, E> {
                Ok(Names(value.split(',').map(str::to_owned).collect()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Names, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(Names(names))
            }
        }
        deserializer.deserialize_any(NamesVisitor)
    }
}

/// A list of statuses or severities: a TOML array whose items are plain values or
/// `{ value, label }` tables, or a comma-separated string of values (from the environment).
/// Trimming, dropping empties and default labels happen in `resolve`.
pub(super) struct Choices(pub Vec<RawChoice>);

/// One status or severity; `label: None` means "derive it from the value".
pub(super) struct RawChoice {
    pub value: String,
    pub label: Option<String>,
}

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChoicesVisitor;
        impl<'de> Visitor<'de> for ChoicesVisitor {
            type Value = Choices;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an array of values or `{ value, label }` tables, or a comma-separated string",
                )
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Choices, E> {
                Ok(Choices(
                    value
                        .split(',')
                        .map(|value| RawChoice {
                            value: value.to_owned(),
                            label: None,
                        })
                        .collect(),
                ))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices, A::Error> {
                let mut choices = Vec::new();
                while let Some(choice) = seq.next_element::<RawChoice>()? {
                    choices.push(choice);
                }
                Ok(Choices(choices))
            }
        }
        deserializer.deserialize_any(ChoicesVisitor)
    }
}

impl<'de> Deserialize<'de> for RawChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            value: String,
            label: Option<String>,
        }
        struct ChoiceVisitor;
        impl<'de> Visitor<'de> for ChoiceVisitor {
            type Value = RawChoice;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a `{ value, label }` table")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawChoice, E> {
                Ok(RawChoice {
                    value: value.to_owned(),
                    label: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawChoice, A::Error> {
                let table = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawChoice {
                    value: table.value,
                    label: table.label,
                })
            }
        }
        deserializer.deserialize_any(ChoiceVisitor)
    }
}

/// Marker for [`UrlOf`]: which schemes a URL key accepts.
pub(super) trait Schemes {
    /// Phrase used in "expected …".
    const EXPECTED: &'static str;
    /// Whether `scheme` is acceptable.
    fn accepts(scheme: &str) -> bool;
}

/// Only `http` and `https`: API base URLs.
pub(super) struct Http;
impl Schemes for Http {
    const EXPECTED: &'static str = "an http(s) URL";
    fn accepts(scheme: &str) -> bool {
        matches!(scheme, "http" | "https")
    }
}

/// Any scheme: a video link may be `https://` or an app's own scheme.
pub(super) struct Any;
impl Schemes for Any {
    const EXPECTED: &'static str = "a URL";
    fn accepts(_: &str) -> bool {
        true
    }
}

/// A URL parsed while reading, so a typo is reported with its key and source.
pub(super) struct UrlOf<S>(pub Url, PhantomData<S>);

pub(super) type HttpUrl = UrlOf<Http>;
pub(super) type AnyUrl = UrlOf<Any>;

impl<'de, S: Schemes> Deserialize<'de> for UrlOf<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UrlVisitor<S>(PhantomData<S>);
        impl<S: Schemes> Visitor<'_> for UrlVisitor<S> {
            type Value = UrlOf<S>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(S::EXPECTED)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<UrlOf<S>, E> {
                let expected = S::EXPECTED;
                match Url::parse(value.trim()) {
                    Ok(url) if S::accepts(url.scheme()) => Ok(UrlOf(url, PhantomData)),
                    Ok(url) => Err(E::custom(format!(
                        "expected {expected}, found {value:?} (scheme `{}`)",
                        url.scheme()
                    ))),
                    Err(error) => Err(E::custom(format!(
                        "expected {expected}, found {value:?} ({error})"
                    ))),
                }
            }
        }
        deserializer.deserialize_str(UrlVisitor(PhantomData))
    }
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FormatVisitor;
        impl Visitor<'_> for FormatVisitor {
            type Value = LogFormat;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`human` or `json`")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<LogFormat, E> {
                match value.trim().to_ascii_lowercase().as_str() {
                    "human" => Ok(LogFormat::Human),
                    "json" => Ok(LogFormat::Json),
                    _ => Err(E::custom(format!(
                        "expected `human` or `json`, found {value:?}"
                    ))),
                }
            }
        }
        deserializer.deserialize_str(FormatVisitor)
    }
}
