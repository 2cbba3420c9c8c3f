//! Text on its way into Slack `mrkdwn`.
//!
//! In `mrkdwn`, `&`, `<` and `>` are control characters: `<!channel>`,
//! `<!here>`, `<@U123>`, `<!subteam^S1>` and `<http://evil|click here>` are
//! all spelled with `<`. Escaping those three characters (and nothing else —
//! Slack decodes no other entity) turns any of them into plain, visible text.
//!
//! [`SlackText`] records that this has happened: the only ways to build one
//! are [`SlackText::from_user`] and [`SlackText::from_slack`] (which escape)
//! and [`SlackText::trusted`] (which the caller vouches for). Templates receive
//! `SlackText` values, so forgetting to escape a description is a type error
//! rather than an `@channel` at 3 a.m.
//!
//! [`snippet`] and [`payload_snippet`] are the other direction: text out of
//! Slack (a frame or payload that did not parse) cut short for a log line,
//! without the credentials Slack puts in payloads (`token`, `response_url`,
//! `trigger_id`): whatever is logged of a payload goes through them.
//!
//! JSON escaping is a different layer: the renderer's escape function does it
//! for every value, so nothing here worries about `"` or control characters.

use std::fmt;

use serde::Serialize;

/// Text that is safe to put in a `mrkdwn` field.
///
/// Serialises as a plain JSON string, so it can go straight into template
/// data. It deliberately has no `Deserialize`: text read back from anywhere
/// must come through one of the constructors, which decide whether to escape.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SlackText(String);

impl SlackText {
    /// Text typed by a person (a description, a Statuspage message, a
    /// provider's status line): `&`, `<`, `>` become entities, nothing else
    /// changes. Emoji, right-to-left text and control characters pass through
    /// untouched; the latter are the JSON layer's business.
    pub fn from_user(raw: &str) -> Self {
        SlackText(escape_mrkdwn(raw))
    }

    /// Text that Slack sent us (slash command `text`, a message's `text`),
    /// which Slack has already entity-encoded and which may hold real
    /// `<@U…>` or `<!here>` tokens.
    ///
    /// The three entities are decoded once and the result escaped again, so
    /// a user who typed `a < b` sees `a < b` (not `a &lt; b`), while a real
    /// mention token is shown as text instead of pinging anyone.
    pub fn from_slack(encoded: &str) -> Self {
        SlackText(escape_mrkdwn(&decode_mrkdwn(encoded)))
    }

    /// Text we wrote ourselves, already valid `mrkdwn` — e.g. `<#C123>` or
    /// `<@U123>` built from ids we hold. Never pass user input here.
    pub fn trusted(mrkdwn: impl Into<String>) -> Self {
        SlackText(mrkdwn.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length as Slack counts it for its limits: characters, not bytes.
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }

    /// At most `max` characters, ending in `…` when something was cut.
    ///
    /// The cut never lands inside an entity (`&amp;`) or a `<…>` token (a
    /// trusted `<#C123>`): either would show up as broken markup, so the
    /// whole entity or token goes instead. Characters, not grapheme clusters:
    /// a family emoji (several code points) may lose its tail.
    pub fn truncate_chars(self, max: usize) -> SlackText {
        if self.char_count() <= max {
            return self;
        }
        if max == 0 {
            return SlackText::default();
        }
        // Room for the ellipsis.
        let keep = max - 1;
        let cut = self
            .0
            .char_indices()
            .nth(keep)
            .map_or(self.0.len(), |(i, _)| i);
        let mut prefix = &self.0[..cut];

        // An opened `<` with no `>` after it: we are inside a token.
        if let Some(lt) = prefix.rfind('<')
            && !prefix[lt..].contains('>')
        {
            prefix = &prefix[..lt];
        }
        // An `&` with no `;` after it, where the full text has an entity
        // starting there: we are inside it.
        if let Some(amp) = prefix.rfind('&')
            && !prefix[amp..].contains(';')
            && entity_len(&self.0[amp..]).is_some()
        {
            prefix = &prefix[..amp];
        }

        let mut out = prefix.trim_end().to_owned();
        out.push('…');
        SlackText(out)
    }
}

impl fmt::Display for SlackText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SlackText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A raw status value as people read it, for values that come without a
/// label (another service's status, a status no longer configured):
/// `major_outage` → `Major outage`, `investigating` → `Investigating`.
pub fn humanize(value: &str) -> String {
    let spaced = value.replace(['_', '-'], " ");
    let mut chars = spaced.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A duration in words, to the minute (to the second under a minute; to
/// the hour from two days on): `45 seconds`, `2 hours 5 minutes`, `7 days`.
pub fn spoken(duration: std::time::Duration) -> String {
    fn unit(n: u64, one: &str) -> String {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    }
    fn pair(big: (u64, &str), small: (u64, &str)) -> String {
        match (big.0, small.0) {
            (0, n) => unit(n, small.1),
            (n, 0) => unit(n, big.1),
            (b, s) => format!("{} {}", unit(b, big.1), unit(s, small.1)),
        }
    }
    let secs = duration.as_secs();
    if secs < 60 {
        return unit(secs, "second");
    }
    if secs >= 2 * 86_400 {
        return pair((secs / 86_400, "day"), (secs % 86_400 / 3600, "hour"));
    }
    pair((secs / 3600, "hour"), (secs % 3600 / 60, "minute"))
}

/// A time as Slack shows it to each reader in their own zone and format
/// (`<!date^UNIX^{date_short_pretty} {time}|fallback>`); the fallback, for
/// clients that cannot, is `2026-11-27 15:30 UTC`. For mrkdwn text only.
pub fn slack_date(at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.timestamp(),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// Whether mrkdwn `text` holds a special mention (`<!channel>`, `<!here>`,
/// `<!subteam^…>`…): anything in `<!…>` but Janus's own dates.
pub fn has_special_mention(text: &str) -> bool {
    text.match_indices("<!")
        .any(|(i, _)| !text[i..].starts_with("<!date^"))
}

/// [`slack_date`] with the time only (`{time}`; fallback `15:42 UTC`).
pub fn slack_time(at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "<!date^{}^{{time}}|{}>",
        at.timestamp(),
        at.format("%H:%M UTC")
    )
}

/// The `mrkdwn` escape: `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`.
pub fn escape_mrkdwn(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// One pass of the inverse of [`escape_mrkdwn`]. Other `&…;` sequences are
/// left alone: Slack only ever produces these three.
pub fn decode_mrkdwn(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let (decoded, len) = if rest.starts_with("&amp;") {
            ('&', 5)
        } else if rest.starts_with("&lt;") {
            ('<', 4)
        } else if rest.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(decoded);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// How much of an unparseable frame or payload goes into a log line.
pub const LOG_SNIPPET_CHARS: usize = 500;

/// Names that mark a credential in Slack's payloads, matched in lower case
/// anywhere in a field's name: the legacy verification `token` (and any
/// `…_token`), `response_url`/`response_urls` (each URL lets anyone post as
/// the app for 30 minutes) and `trigger_id` (opens a modal as the app).
/// The last is not a name but the host of every response URL, for one
/// that turns up under another name.
const SECRET_NAMES: [&str; 4] = ["token", "response_url", "trigger_id", "hooks.slack"];

/// Whether `name` (a field's name, or any text) mentions a credential.
fn names_a_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|secret| lower.contains(secret))
}

/// The first `max` characters of `text` for a log line, with nothing
/// secret in them: enough of something unparseable to recognise it, never
/// all of it, and never a credential it carries.
///
/// JSON (an unknown frame) loses its secret fields as in
/// [`payload_snippet`]; anything else (a frame that is not JSON) is cut
/// before the first mention of a secret's name, since where its value ends
/// cannot be known.
pub fn snippet(text: &str, max: usize) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => payload_snippet(&value, max),
        Err(_) => cut(&before_secret(text), max),
    }
}

/// The first `max` characters of a payload for a log line, with every field
/// whose name mentions a secret (`token`, `response_url`, `response_urls`,
/// `trigger_id`, at any depth) removed, and every string that mentions one
/// (a form-encoded or doubly encoded payload) cut before it.
pub fn payload_snippet(payload: &serde_json::Value, max: usize) -> String {
    let mut clean = payload.clone();
    strip_secrets(&mut clean);
    cut(&clean.to_string(), max)
}

/// `text` (an error about `payload`, which may quote a value it could not
/// read) with every secret value of `payload` replaced by `[redacted]`.
pub fn redact_values_of(payload: &serde_json::Value, text: &str) -> String {
    fn collect(value: &serde_json::Value, secret: bool, out: &mut Vec<String>) {
        use serde_json::Value;
        match value {
            Value::Object(fields) => fields
                .iter()
                .for_each(|(name, v)| collect(v, secret || names_a_secret(name), out)),
            Value::Array(items) => items.iter().for_each(|v| collect(v, secret, out)),
            Value::String(s) if secret && !s.is_empty() => out.push(s.clone()),
            Value::Number(n) if secret => out.push(n.to_string()),
            _ => {}
        }
    }
    let mut secrets = Vec::new();
    collect(payload, false, &mut secrets);
    // Longest first, so a value that contains another goes whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "[redacted]")
    })
}

/// Removes secret fields in place, at any depth.
fn strip_secrets(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            fields.retain(|name, _| !names_a_secret(name));
            fields.values_mut().for_each(strip_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        Value::String(text) if names_a_secret(text) => {
            *text = before_secret(text).into_owned();
        }
        _ => {}
    }
}

/// `text` up to the first mention of a secret's name, marked when cut.
fn before_secret(text: &str) -> std::borrow::Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    // ASCII lower-casing keeps every byte offset.
    match SECRET_NAMES.iter().filter_map(|s| lower.find(s)).min() {
        None => std::borrow::Cow::Borrowed(text),
        Some(at) => std::borrow::Cow::Owned(format!("{}…(secret cut)", &text[..at])),
    }
}

/// At most `max` characters of `text`, marked when cut.
fn cut(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if out.len() < text.len() {
        out.push_str("…(truncated)");
    }
    out
}

/// Byte length of the entity (`&name;` or `&#123;`) at the start of `s`.
fn entity_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix('&')?;
    let end = body.find(';')?;
    let name = &body[..end];
    let plausible = !name.is_empty()
        && name.len() <= 10
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '#');
    plausible.then_some(end + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_read_as_labels() {
        assert_eq!(humanize("major_outage"), "Major outage");
        assert_eq!(humanize("investigating"), "Investigating");
        assert_eq!(humanize("under-review"), "Under review");
        assert_eq!(humanize("Identified"), "Identified");
        assert_eq!(humanize(""), "");
    }

    #[test]
    fn durations_are_spoken_to_the_minute_then_to_the_hour() {
        use std::time::Duration;
        assert_eq!(spoken(Duration::from_secs(2)), "2 seconds");
        assert_eq!(spoken(Duration::from_secs(60)), "1 minute");
        assert_eq!(spoken(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(spoken(Duration::from_secs(3600)), "1 hour");
        assert_eq!(spoken(Duration::from_secs(3900 + 59)), "1 hour 5 minutes");
        assert_eq!(
            spoken(Duration::from_secs(3 * 3600 + 60)),
            "3 hours 1 minute"
        );
        assert_eq!(spoken(Duration::from_secs(30 * 3600)), "30 hours");
        assert_eq!(spoken(Duration::from_secs(7 * 86_400)), "7 days");
        assert_eq!(
            spoken(Duration::from_secs(2 * 86_400 + 7200 + 59)),
            "2 days 2 hours"
        );
    }

    #[test]
    fn snippet_cuts_on_character_boundaries() {
        assert_eq!(snippet("ééé", 2), "éé…(truncated)");
        assert_eq!(snippet("ab", 5), "ab");
    }

    #[test]
    fn a_payload_snippet_loses_every_secret_field_at_any_depth() {
        let payload = serde_json::json!({
            "token": "verification-1",
            "type": "block_actions",
            "trigger_id": "trigger-1",
            "response_url": "https://hooks.example/1",
            "view": { "state": { "response_urls": [{ "response_url": "https://hooks.example/2" }] } },
            "actions": [{ "Token": "verification-2", "value": "kept" }],
            "authed_token": "xoxp-1",
        });
        let out = payload_snippet(&payload, LOG_SNIPPET_CHARS);
        for secret in [
            "verification-1",
            "trigger-1",
            "hooks.example",
            "verification-2",
            "xoxp-1",
            "token",
            "Token",
            "response_url",
            "trigger_id",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(
            out.contains("block_actions") && out.contains("kept"),
            "{out}"
        );
    }

    #[test]
    fn a_string_that_carries_a_form_encoded_payload_is_cut_before_its_secrets() {
        let payload = serde_json::json!({
            "payload": "command=%2Fincident&token=verification-1&response_url=https%3A%2F%2Fhooks",
            "url": "https://hooks.slack.com/commands/T1/2/secret",
        });
        let out = payload_snippet(&payload, LOG_SNIPPET_CHARS);
        assert!(out.contains("command=%2Fincident&"), "{out}");
        assert!(
            !out.contains("verification-1") && !out.contains("/secret"),
            "{out}"
        );
    }

    #[test]
    fn an_error_quoting_a_secret_value_has_it_redacted() {
        let payload = serde_json::json!({
            "token": "verification-1",
            "response_urls": [{ "response_url": "not a url" }],
            "user": "U1",
        });
        let error = r#"invalid value: string "not a url", expected a URL; token verification-1"#;
        assert_eq!(
            redact_values_of(&payload, error),
            r#"invalid value: string "[redacted]", expected a URL; token [redacted]"#
        );
    }

    #[test]
    fn a_frame_that_is_json_is_snipped_like_a_payload() {
        let out = snippet(r#"{"type":"mystery","token":"verification-1"}"#, 100);
        assert_eq!(out, r#"{"type":"mystery"}"#);
    }

    #[test]
    fn text_that_is_not_json_is_cut_before_the_first_secret_name() {
        let out = snippet(r#"{"type":"x","TOKEN":"verification-1", oops"#, 100);
        assert_eq!(out, r#"{"type":"x","…(secret cut)"#);
        let out = snippet("garbage trigger_id=t-1 token=v-1", 100);
        assert_eq!(out, "garbage …(secret cut)");
        // The cut first, then the length limit.
        assert_eq!(snippet("abcdef response_url=x", 3), "abc…(truncated)");
    }

    fn user(s: &str) -> String {
        SlackText::from_user(s).into_string()
    }

    #[test]
    fn channel_and_here_pings_are_neutralised() {
        assert_eq!(user("<!channel> down"), "&lt;!channel&gt; down");
        assert_eq!(user("<!here>"), "&lt;!here&gt;");
        assert_eq!(user("<!everyone>"), "&lt;!everyone&gt;");
    }

    #[test]
    fn user_and_group_mentions_are_neutralised() {
        assert_eq!(user("ask <@U123>"), "ask &lt;@U123&gt;");
        assert_eq!(user("<!subteam^S1|@oncall>"), "&lt;!subteam^S1|@oncall&gt;");
    }

    #[test]
    fn disguised_links_are_neutralised() {
        assert_eq!(
            user("<http://evil.example|click here>"),
            "&lt;http://evil.example|click here&gt;"
        );
    }

    #[test]
    fn an_ampersand_is_escaped_so_a_typed_entity_stays_visible() {
        assert_eq!(user("R&D"), "R&amp;D");
        assert_eq!(user("&lt;!channel&gt;"), "&amp;lt;!channel&amp;gt;");
    }

    #[test]
    fn mrkdwn_formatting_and_quotes_are_left_alone() {
        let s = r#"*bold* _it_ ~x~ `code` "q" 'a' \ @channel #general"#;
        assert_eq!(user(s), s);
    }

    #[test]
    fn emoji_pass_through_unchanged() {
        for s in ["café 🔥", ":fire: 👩‍👩‍👧‍👦", "🇫🇷 flag"] {
            assert_eq!(user(s), s);
        }
    }

    #[test]
    fn right_to_left_text_passes_through_unchanged() {
        let s = "خطأ في الخادم \u{202E}txt.exe\u{202C} שגיאה";
        assert_eq!(user(s), s);
    }

    #[test]
    fn control_characters_are_left_for_the_json_layer() {
        let s = "line\nnext\ttab\r\u{0}\u{1b}[31m\u{7f}";
        assert_eq!(user(s), s);
    }

    #[test]
    fn text_from_slack_is_decoded_once_then_escaped() {
        let from_slack = |s: &str| SlackText::from_slack(s).into_string();
        assert_eq!(from_slack("a &lt; b &amp;&amp; c"), "a &lt; b &amp;&amp; c");
        // A real token Slack put in the text no longer pings.
        assert_eq!(
            from_slack("<!channel> <@U1>"),
            "&lt;!channel&gt; &lt;@U1&gt;"
        );
        // A user who typed "&lt;" literally arrives as "&amp;lt;".
        assert_eq!(from_slack("&amp;lt;"), "&amp;lt;");
        assert_eq!(from_slack("AT&T & co"), "AT&amp;T &amp; co");
    }

    #[test]
    fn trusted_text_is_kept_as_is() {
        assert_eq!(SlackText::trusted("<#C123>").as_str(), "<#C123>");
    }

    #[test]
    fn it_serialises_as_a_plain_string() {
        let json = serde_json::to_string(&SlackText::from_user("<x>")).unwrap();
        assert_eq!(json, r#""&lt;x&gt;""#);
    }

    #[test]
    fn short_text_is_not_truncated() {
        let t = SlackText::from_user("café 🔥");
        assert_eq!(t.clone().truncate_chars(6), t);
    }

    #[test]
    fn truncation_counts_characters_and_adds_an_ellipsis() {
        let t = SlackText::from_user("🔥🔥🔥🔥🔥").truncate_chars(3);
        assert_eq!(t.as_str(), "🔥🔥…");
        assert_eq!(t.char_count(), 3);
        assert_eq!(SlackText::from_user("abc").truncate_chars(0).as_str(), "");
    }

    #[test]
    fn truncation_never_cuts_inside_an_entity() {
        // "a &lt;b": cutting at 5 characters would leave "a &l…".
        let t = SlackText::from_user("a <b").truncate_chars(5);
        assert_eq!(t.as_str(), "a…");
        let t = SlackText::from_user("x&y").truncate_chars(4);
        assert_eq!(t.as_str(), "x…");
    }

    #[test]
    fn truncation_never_cuts_inside_a_trusted_token() {
        let t = SlackText::trusted("see <#C0123456789> now").truncate_chars(10);
        assert_eq!(t.as_str(), "see…");
    }

    #[test]
    fn a_lone_ampersand_in_trusted_text_does_not_shorten_the_cut() {
        let t = SlackText::trusted("a & b c d").truncate_chars(6);
        assert_eq!(t.as_str(), "a & b…");
    }
}
