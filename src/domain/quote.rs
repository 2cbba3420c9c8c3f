//! A Slack message quoted back into Slack, readable and silent.
//!
//! A message's `text` is Slack's `mrkdwn` as Slack stores it: `&`, `<`, `>`
//! entity-encoded, and `<…>` tokens for mentions (`<@U1>`, `<#C1|general>`,
//! `<!here>`, `<!subteam^S1|@oncall>`), dates (`<!date^…|fallback>`) and
//! links (`<https://x|text>`). Escaping the whole text (what
//! [`SlackText::from_slack`] does) keeps everyone from being pinged, but
//! leaves `<@U0ALICE01>` for people to read.
//!
//! [`Quote::parse`] reads the text into [`Piece`]s, one per token kind, and
//! two renderers write it out again: [`Quote::to_mrkdwn`] for a `mrkdwn`
//! field (mentions become plain `@Name`, `#general`, `@here`; links stay
//! links; everything else escaped) and [`Quote::to_plain`] for plain text
//! (an incident's description, escaped wherever it is shown). What must stay
//! true of `to_mrkdwn`'s output: every `<` in it opens a link Janus chose to
//! keep (`<https://…>`, `<mailto:…>`, or a channel link `<#C…>`, which
//! shows the channel's name and pings nobody); nothing else is markup.
//!
//! Names are not known here (no IO in `domain`): [`Quote::unnamed_users`]
//! says whom to ask Slack about, and [`Names`] carries the answers, which
//! are kept with the declaration so a resumed one quotes the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ids::{ChannelId, UserId};
use super::text::{SlackText, decode_mrkdwn, escape_mrkdwn};

/// How a person Slack could not name is shown: neutral, and no ping.
pub const SOMEONE: &str = "someone";
/// How a channel shown without its name in plain text reads.
const A_CHANNEL: &str = "channel";
/// How a user group shown without its handle reads.
const A_GROUP: &str = "group";

/// One part of a message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text as the author typed it (entities decoded), including anything
    /// that looked like a token but was not one.
    Text(String),
    /// `<@U1>` or `<@U1|name>`.
    User { id: UserId, label: Option<String> },
    /// `<#C1>`, `<#C1|general>` (Slack also sends an empty label).
    Channel {
        id: ChannelId,
        label: Option<String>,
    },
    /// `<!subteam^S1|@oncall>`.
    Group { label: Option<String> },
    /// `<!here>`, `<!channel>`, `<!everyone>`.
    Broadcast(Broadcast),
    /// `<!date^1700000000^{date}|Nov 14>`: its fallback text, or the time
    /// in UTC when it has none.
    Date(String),
    /// `<https://x>`, `<https://x|text>`, `<mailto:a@b|a>`.
    Link { url: Url, label: Option<String> },
}

/// The mentions that notify a whole channel or workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    Here,
    Channel,
    Everyone,
}

impl Broadcast {
    fn word(self) -> &'static str {
        match self {
            Broadcast::Here => "here",
            Broadcast::Channel => "channel",
            Broadcast::Everyone => "everyone",
        }
    }
}

/// A message's text, read into pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pieces: Vec<Piece>,
}

/// People's names as Slack gave them (`users.info`), for the mentions a
/// quote shows by name. Stored with a declaration, so it is plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Names {
    users: BTreeMap<UserId, String>,
}

impl Names {
    /// Remembers `user`'s name; a blank name is not one.
    pub fn insert(&mut self, user: UserId, name: &str) {
        let name = name.trim();
        if !name.is_empty() {
            self.users.insert(user, name.to_owned());
        }
    }

    /// `user`'s name, when Slack gave one.
    pub fn user(&self, user: &UserId) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    /// `user` as plain text that pings nobody: `@Name`, or `@someone`.
    /// Escape before showing it.
    pub fn mention(&self, user: &UserId) -> String {
        let name = self.user(user).unwrap_or(SOMEONE);
        format!("@{}", name.trim_start_matches('@'))
    }
}

impl Quote {
    /// Reads `encoded` (a message's `text` as Slack sends it). Never fails:
    /// a `<` that does not open a well-formed token (unterminated, broken
    /// by a line end or another `<`, or naming nothing Janus knows) is
    /// text, and is shown as typed.
    pub fn parse(encoded: &str) -> Quote {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = encoded;
        while let Some(lt) = rest.find('<') {
            text.push_str(&rest[..lt]);
            let after = &rest[lt + 1..];
            // A token ends at the first `>`, before any line end or `<`.
            let end = after.find(['>', '<', '\n']);
            match end.filter(|&i| after.as_bytes()[i] == b'>') {
                Some(close) => {
                    let raw = &rest[lt..lt + close + 2];
                    match token(&after[..close]) {
                        Some(piece) => {
                            flush(&mut text, &mut pieces);
                            pieces.push(piece);
                        }
                        None => text.push_str(raw),
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    text.push('<');
                    rest = after;
                }
            }
        }
        text.push_str(rest);
        flush(&mut text, &mut pieces);
        Quote { pieces }
    }

    /// The pieces, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// People mentioned without a name in the text (`<@U1>`), each once,
    /// in order: whom to ask Slack about.
    pub fn unnamed_users(&self) -> Vec<UserId> {
        let mut users: Vec<UserId> = Vec::new();
        for piece in &self.pieces {
            if let Piece::User { id, label: None } = piece
                && !users.contains(id)
            {
                users.push(id.clone());
            }
        }
        users
    }

    /// For a `mrkdwn` field: mentions as plain names that ping nobody,
    /// links kept, everything else escaped.
    pub fn to_mrkdwn(&self, names: &Names) -> SlackText {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Channel { id, label: None } => {
                    // A channel link shows its name to whoever may see it.
                    out.push_str(&format!("<#{id}>"));
                }
                Piece::Link { url, label } => {
                    // `|` would end the URL early; Slack never sends one.
                    let url = escape_mrkdwn(&url.as_str().replace('|', "%7C"));
                    match label {
                        Some(label) => out.push_str(&format!("<{url}|{}>", escape_mrkdwn(label))),
                        None => out.push_str(&format!("<{url}>")),
                    }
                }
                other => out.push_str(&escape_mrkdwn(&plain(other, names))),
            }
        }
        // Every `<` above opens a link built from a parsed URL or a
        // validated channel id; all other text went through the escape.
        SlackText::trusted(out)
    }

    /// As plain text (a description, a timeline mark): mentions as names,
    /// a link as `text (address)`, or its address alone when it has no
    /// other text. Escape before showing it.
    pub fn to_plain(&self, names: &Names) -> String {
        self.pieces.iter().map(|p| plain(p, names)).collect()
    }
}

/// A piece as plain text.
fn plain(piece: &Piece, names: &Names) -> String {
    match piece {
        Piece::Text(text) => text.clone(),
        Piece::User { id, label: None } => names.mention(id),
        Piece::User {
            label: Some(label), ..
        } => format!("@{}", label.trim_start_matches('@')),
        Piece::Channel { label, .. } => {
            format!(
                "#{}",
                label
                    .as_deref()
                    .unwrap_or(A_CHANNEL)
                    .trim_start_matches('#')
            )
        }
        Piece::Group { label } => {
            format!(
                "@{}",
                label.as_deref().unwrap_or(A_GROUP).trim_start_matches('@')
            )
        }
        Piece::Broadcast(b) => format!("@{}", b.word()),
        Piece::Date(fallback) => fallback.clone(),
        Piece::Link { url, label } => match label {
            Some(label) if !spells(url, label) => format!("{label} ({url})"),
            _ => url.to_string(),
        },
    }
}

/// Whether a link's label only spells its address (`<https://x.io/|x.io>`,
/// as Slack writes a pasted link), so plain text needs it once.
fn spells(url: &Url, label: &str) -> bool {
    let bare = |s: &str| {
        let s = s.trim().trim_end_matches('/');
        let s = s.split_once("://").map_or(s, |(_, rest)| rest);
        s.strip_prefix("mailto:").unwrap_or(s).to_owned()
    };
    bare(url.as_str()) == bare(label)
}

/// Moves pending text into a piece of its own.
fn flush(text: &mut String, pieces: &mut Vec<Piece>) {
    if !text.is_empty() {
        pieces.push(Piece::Text(decode_mrkdwn(text)));
        text.clear();
    }
}

/// Reads a token's inside (between `<` and `>`, still entity-encoded);
/// `None` when it is no token Janus knows, so it stays text.
fn token(inside: &str) -> Option<Piece> {
    let (target, label) = match inside.split_once('|') {
        Some((target, label)) => (target, Some(label)),
        None => (inside, None),
    };
    // Labels are text the author typed, encoded like the rest.
    let label = label.map(decode_mrkdwn).filter(|l| !l.trim().is_empty());
    if let Some(id) = target.strip_prefix('@') {
        let id = UserId::parse(id).ok()?;
        return Some(Piece::User { id, label });
    }
    if let Some(id) = target.strip_prefix('#') {
        let id = ChannelId::parse(id).ok()?;
        return Some(Piece::Channel { id, label });
    }
    if let Some(command) = target.strip_prefix('!') {
        return Some(special(command, label));
    }
    let url = Url::parse(&decode_mrkdwn(target)).ok()?;
    let linkable = matches!(url.scheme(), "http" | "https" | "mailto");
    (linkable && !target.contains(char::is_whitespace)).then_some(Piece::Link { url, label })
}

/// `<!…>`: broadcasts, user groups, dates. Any other is shown as its label
/// (or its word), as Slack's clients do with commands they do not know.
fn special(command: &str, label: Option<String>) -> Piece {
    let mut parts = command.split('^');
    match parts.next().unwrap_or_default() {
        "here" => Piece::Broadcast(Broadcast::Here),
        "channel" => Piece::Broadcast(Broadcast::Channel),
        "everyone" => Piece::Broadcast(Broadcast::Everyone),
        "subteam" => Piece::Group { label },
        "date" => {
            let fallback = label.or_else(|| {
                let seconds = parts.next()?.parse::<i64>().ok()?;
                let at = chrono::DateTime::from_timestamp(seconds, 0)?;
                Some(at.format("%Y-%m-%d %H:%M UTC").to_string())
            });
            Piece::Date(fallback.unwrap_or_else(|| "a date".to_owned()))
        }
        word => Piece::Text(label.unwrap_or_else(|| decode_mrkdwn(word))),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn names() -> Names {
        let mut names = Names::default();
        names.insert(user("U0ALICE01"), "Alice Liddell");
        names
    }

    fn mrkdwn(encoded: &str) -> String {
        Quote::parse(encoded).to_mrkdwn(&names()).into_string()
    }

    fn plain(encoded: &str) -> String {
        Quote::parse(encoded).to_plain(&names())
    }

    #[test]
    fn a_user_mention_becomes_the_name_slack_gave() {
        assert_eq!(mrkdwn("ask <@U0ALICE01> now"), "ask @Alice Liddell now");
        assert_eq!(plain("ask <@U0ALICE01>"), "ask @Alice Liddell");
    }

    #[test]
    fn a_user_mention_with_a_label_uses_the_label() {
        assert_eq!(mrkdwn("<@U0BOB0001|bob>"), "@bob");
        assert_eq!(mrkdwn("<@W0BOB0001|@bob>"), "@bob");
    }

    #[test]
    fn a_user_slack_cannot_name_reads_as_someone() {
        assert_eq!(mrkdwn("<@U0GHOST01> did it"), "@someone did it");
    }

    #[test]
    fn names_are_escaped_too() {
        let mut names = Names::default();
        names.insert(user("U0EVIL001"), "<!here> & co");
        let out = Quote::parse("<@U0EVIL001>").to_mrkdwn(&names);
        assert_eq!(out.as_str(), "@&lt;!here&gt; &amp; co");
    }

    #[test]
    fn a_named_channel_becomes_its_name_and_an_unnamed_one_a_channel_link() {
        assert_eq!(mrkdwn("see <#C0GENERAL1|general>"), "see #general");
        assert_eq!(mrkdwn("see <#C0GENERAL1>"), "see <#C0GENERAL1>");
        // Slack sends an empty label for some channel mentions.
        assert_eq!(mrkdwn("see <#C0GENERAL1|>"), "see <#C0GENERAL1>");
        assert_eq!(plain("see <#C0GENERAL1|general>"), "see #general");
        assert_eq!(plain("see <#C0GENERAL1>"), "see #channel");
    }

    #[test]
    fn a_user_group_becomes_its_handle_as_text() {
        assert_eq!(mrkdwn("<!subteam^S0ONCALL1|@oncall> help"), "@oncall help");
        assert_eq!(mrkdwn("<!subteam^S0ONCALL1|oncall>"), "@oncall");
        assert_eq!(mrkdwn("<!subteam^S0ONCALL1>"), "@group");
    }

    #[test]
    fn broadcasts_become_words_that_ping_nobody() {
        assert_eq!(
            mrkdwn("<!here> <!channel> <!everyone> <!here|@here>"),
            "@here @channel @everyone @here"
        );
    }

    #[test]
    fn a_date_becomes_its_fallback() {
        assert_eq!(
            mrkdwn("since <!date^1700000000^{time}|15:02 UTC>"),
            "since 15:02 UTC"
        );
        assert_eq!(
            mrkdwn("since <!date^1700000000^{time}>"),
            "since 2023-11-14 22:13 UTC"
        );
        assert_eq!(mrkdwn("<!date^soon^{time}>"), "a date");
    }

    #[test]
    fn an_unknown_command_shows_its_label_or_word() {
        assert_eq!(mrkdwn("<!mystery|the label>"), "the label");
        assert_eq!(mrkdwn("<!mystery>"), "mystery");
    }

    #[test]
    fn links_stay_links() {
        assert_eq!(
            mrkdwn("see <https://status.example.com/x?a=1&amp;b=2|the status page>"),
            "see <https://status.example.com/x?a=1&amp;b=2|the status page>"
        );
        assert_eq!(
            mrkdwn("<https://status.example.com/>"),
            "<https://status.example.com/>"
        );
        assert_eq!(
            mrkdwn("<mailto:ops@example.com|ops>"),
            "<mailto:ops@example.com|ops>"
        );
        assert_eq!(
            plain("see <https://status.example.com/|the status page>"),
            "see the status page (https://status.example.com/)"
        );
        assert_eq!(
            plain("<https://status.example.com/|status.example.com>"),
            "https://status.example.com/"
        );
        assert_eq!(
            plain("<mailto:ops@example.com|ops@example.com>"),
            "mailto:ops@example.com"
        );
        assert_eq!(
            plain("<https://status.example.com/>"),
            "https://status.example.com/"
        );
    }

    #[test]
    fn a_pipe_in_a_label_stays_in_the_label() {
        assert_eq!(
            mrkdwn("<https://x.example/|a | b>"),
            "<https://x.example/|a | b>"
        );
        assert_eq!(mrkdwn("<@U0BOB0001|bob|jr>"), "@bob|jr");
    }

    #[test]
    fn a_label_is_escaped_inside_the_link() {
        assert_eq!(
            mrkdwn("<https://x.example/|a &lt;!here&gt; &amp; b>"),
            "<https://x.example/|a &lt;!here&gt; &amp; b>"
        );
    }

    #[test]
    fn links_janus_does_not_keep_are_text() {
        assert_eq!(
            mrkdwn("<javascript:alert(1)|x>"),
            "&lt;javascript:alert(1)|x&gt;"
        );
        assert_eq!(mrkdwn("<ftp://x.example/>"), "&lt;ftp://x.example/&gt;");
    }

    #[test]
    fn entities_are_decoded_once_and_escaped_again() {
        assert_eq!(
            mrkdwn("a &lt; b &amp;&amp; c &gt; d"),
            "a &lt; b &amp;&amp; c &gt; d"
        );
        assert_eq!(plain("a &lt; b &amp;&amp; c"), "a < b && c");
        assert_eq!(plain("&amp;lt;"), "&lt;");
    }

    #[test]
    fn malformed_tokens_are_shown_as_typed() {
        for (input, out) in [
            ("<", "&lt;"),
            ("<@", "&lt;@"),
            ("a <@U0ALICE01", "a &lt;@U0ALICE01"),
            ("<@>", "&lt;@&gt;"),
            ("<@nobody>", "&lt;@nobody&gt;"),
            ("<#>", "&lt;#&gt;"),
            ("<>", "&lt;&gt;"),
            ("<!", "&lt;!"),
            ("<https://x.example/", "&lt;https://x.example/"),
            ("x > y", "x &gt; y"),
        ] {
            assert_eq!(mrkdwn(input), out, "{input}");
        }
    }

    #[test]
    fn a_token_broken_by_another_or_a_line_end_is_text_up_to_the_next_one() {
        assert_eq!(mrkdwn("<a <@U0ALICE01>"), "&lt;a @Alice Liddell");
        assert_eq!(mrkdwn("<<!here>>"), "&lt;@here&gt;");
        assert_eq!(mrkdwn("<@U0ALICE01\n>"), "&lt;@U0ALICE01\n&gt;");
    }

    #[test]
    fn mentions_without_a_name_are_listed_once_each() {
        let quote = Quote::parse("<@U0ALICE01> <@U0BOB0001|bob> <@U0ALICE01> <@U0CAROL01>");
        assert_eq!(
            quote.unnamed_users(),
            vec![user("U0ALICE01"), user("U0CAROL01")]
        );
    }

    #[test]
    fn names_survive_a_round_trip_through_json() {
        let names = names();
        let json = serde_json::to_value(&names).unwrap();
        assert_eq!(json, serde_json::json!({"U0ALICE01": "Alice Liddell"}));
        assert_eq!(serde_json::from_value::<Names>(json).unwrap(), names);
    }

    /// Whether every `<` in `out` opens a link Janus keeps on purpose.
    fn only_kept_links(out: &str) -> bool {
        out.match_indices('<').all(|(i, _)| {
            let rest = &out[i + 1..];
            let Some(end) = rest.find('>') else {
                return false;
            };
            let inside = &rest[..end];
            let target = inside.split('|').next().unwrap_or_default();
            let channel = target
                .strip_prefix('#')
                .is_some_and(|id| ChannelId::parse(id).is_ok() && target == inside);
            let link = ["https://", "http://", "mailto:"]
                .iter()
                .any(|s| target.starts_with(s))
                && !target.contains(char::is_whitespace);
            channel || link
        })
    }

    fn slackish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("<".to_owned()),
            Just(">".to_owned()),
            Just("|".to_owned()),
            Just("&lt;".to_owned()),
            Just("&amp;".to_owned()),
            Just("\n".to_owned()),
            Just("<!here>".to_owned()),
            Just("<!channel|@channel>".to_owned()),
            Just("<@U0ALICE01>".to_owned()),
            Just("<@U0BOB0001|bob>".to_owned()),
            Just("<#C0GENERAL1>".to_owned()),
            Just("<#C0GENERAL1|general>".to_owned()),
            Just("<!subteam^S0ONCALL1|@oncall>".to_owned()),
            Just("<!date^1700000000^{time}|then>".to_owned()),
            Just("<https://x.example/|x>".to_owned()),
            Just("<mailto:a@x.example>".to_owned()),
            Just("<!".to_owned()),
            Just("<@".to_owned()),
            Just("<#".to_owned()),
            "[a-zA-Z0-9 @#!^:/.|&;<>-]{0,8}",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|parts| parts.concat())
    }

    /// Tokens as Slack writes them, between words: nothing malformed.
    fn tokens_and_words() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("<!here>".to_owned()),
            Just("<!everyone|@everyone>".to_owned()),
            Just("<@U0ALICE01>".to_owned()),
            Just("<@U0GHOST01>".to_owned()),
            Just("<@U0BOB0001|bob>".to_owned()),
            Just("<#C0GENERAL1>".to_owned()),
            Just("<#C0GENERAL1|general>".to_owned()),
            Just("<!subteam^S0ONCALL1>".to_owned()),
            Just("<!date^1700000000^{time}>".to_owned()),
            Just("<https://x.example/?a=1&amp;b=2|x &amp; y>".to_owned()),
            "[a-z @#|]{0,6}",
        ];
        proptest::collection::vec(piece, 0..10).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn no_output_pings_or_holds_markup_but_kept_links(text in slackish()) {
            let out = Quote::parse(&text).to_mrkdwn(&names()).into_string();
            prop_assert!(only_kept_links(&out), "{text:?} -> {out:?}");
            prop_assert!(!out.contains("<!") && !out.contains("<@"), "{out:?}");
            prop_assert!(!crate::domain::text::has_special_mention(&out), "{out:?}");
        }

        #[test]
        fn any_text_at_all_is_quoted_safely(text in any::<String>()) {
            let out = Quote::parse(&text).to_mrkdwn(&names()).into_string();
            prop_assert!(only_kept_links(&out), "{text:?} -> {out:?}");
        }

        #[test]
        fn well_formed_tokens_leave_no_markup_in_plain_text(text in tokens_and_words()) {
            let out = Quote::parse(&text).to_plain(&names());
            prop_assert!(!out.contains('<') && !out.contains('>'), "{text:?} -> {out:?}");
        }

        #[test]
        fn text_without_tokens_or_entities_reads_as_typed(text in "[^<>&]{0,40}") {
            prop_assert_eq!(Quote::parse(&text).to_plain(&names()), text);
        }
    }
}
