//! The bot scopes Janus needs, derived from what it does: each Web API
//! method the client calls and each event the bus acts on. The manifest
//! asks for exactly [`BOT_SCOPES`] and `janus doctor` checks the same list;
//! the tests below hold the three together, so a new call or event cannot
//! ship without its scope, and a scope nothing uses cannot linger.

/// Each Web API method the client calls with the bot token, and the
/// scopes it needs. Where a method needs one scope for public channels and
/// another for private ones (incident channels can be either), both.
pub const METHOD_SCOPES: &[(&str, &[&str])] = &[
    ("auth.test", &[]),
    ("bookmarks.add", &["bookmarks:write"]),
    // `chat:write.public` lets the digest post without being a member.
    ("chat.postMessage", &["chat:write", "chat:write.public"]),
    ("chat.postEphemeral", &["chat:write"]),
    ("chat.update", &["chat:write"]),
    ("chat.delete", &["chat:write"]),
    ("chat.getPermalink", &[]),
    (
        "conversations.archive",
        &["channels:manage", "groups:write"],
    ),
    ("conversations.create", &["channels:manage", "groups:write"]),
    (
        "conversations.history",
        &["channels:history", "groups:history"],
    ),
    ("conversations.info", &["channels:read", "groups:read"]),
    ("conversations.invite", &["channels:manage", "groups:write"]),
    ("conversations.join", &["channels:join"]),
    ("conversations.list", &["channels:read", "groups:read"]),
    ("conversations.members", &["channels:read", "groups:read"]),
    ("conversations.open", &["im:write"]),
    (
        "conversations.replies",
        &["channels:history", "groups:history"],
    ),
    (
        "conversations.setTopic",
        &["channels:manage", "groups:write"],
    ),
    ("files.completeUploadExternal", &["files:write"]),
    ("files.getUploadURLExternal", &["files:write"]),
    ("pins.add", &["pins:write"]),
    ("reactions.add", &["reactions:write"]),
    ("reactions.remove", &["reactions:write"]),
    ("usergroups.list", &["usergroups:read"]),
    ("usergroups.users.list", &["usergroups:read"]),
    ("users.info", &["users:read"]),
    ("views.open", &[]),
];

/// Each Events API event the bus acts on (the manifest subscribes to
/// exactly these), and the scope Slack requires for it.
pub const EVENT_SCOPES: &[(&str, &str)] = &[
    ("app_mention", "app_mentions:read"),
    ("pin_removed", "pins:read"),
    ("reaction_added", "reactions:read"),
    ("reaction_removed", "reactions:read"),
];

/// What the slash command needs.
pub const COMMAND_SCOPE: &str = "commands";

/// Every bot scope Janus needs, sorted: the manifest's
/// `oauth_config.scopes.bot`, and what `janus doctor` checks.
pub const BOT_SCOPES: &[&str] = &[
    "app_mentions:read",
    "bookmarks:write",
    "channels:history",
    "channels:join",
    "channels:manage",
    "channels:read",
    "chat:write",
    "chat:write.public",
    "commands",
    "files:write",
    "groups:history",
    "groups:read",
    "groups:write",
    "im:write",
    "pins:read",
    "pins:write",
    "reactions:read",
    "reactions:write",
    "usergroups:read",
    "users:read",
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Families of Web API methods, to find method names in the source.
    const FAMILIES: &[&str] = &[
        "apps.",
        "auth.",
        "bookmarks.",
        "chat.",
        "conversations.",
        "files.",
        "pins.",
        "reactions.",
        "usergroups.",
        "users.",
        "views.",
    ];

    /// Every string literal in `source` that names a Web API method.
    fn methods_named_in(source: &str) -> BTreeSet<&str> {
        source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| FAMILIES.iter().any(|f| s.starts_with(f)))
            .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
            .collect()
    }

    #[test]
    fn every_method_the_client_calls_has_its_scopes_listed_and_no_other() {
        let called = methods_named_in(include_str!("mod.rs"));
        // Opened with the app token, whose scope is not a bot scope.
        let called: BTreeSet<&str> = called
            .into_iter()
            .filter(|m| *m != "apps.connections.open")
            .collect();
        let listed: BTreeSet<&str> = METHOD_SCOPES.iter().map(|(m, _)| *m).collect();
        assert_eq!(called, listed, "src/slack/mod.rs calls vs METHOD_SCOPES");
    }

    #[test]
    fn the_bot_scopes_are_exactly_what_the_methods_events_and_command_need() {
        let needed: BTreeSet<&str> = METHOD_SCOPES
            .iter()
            .flat_map(|(_, scopes)| scopes.iter().copied())
            .chain(EVENT_SCOPES.iter().map(|(_, scope)| *scope))
            .chain([COMMAND_SCOPE])
            .collect();
        let listed: BTreeSet<&str> = BOT_SCOPES.iter().copied().collect();
        assert_eq!(needed, listed);
        assert!(BOT_SCOPES.is_sorted(), "BOT_SCOPES is kept sorted");
    }

    #[test]
    fn the_manifest_asks_for_exactly_these_scopes_and_events() {
        let manifest: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../slack_manifest.yaml")).unwrap();
        let list = |path: &[&str]| -> Vec<String> {
            let mut node = &manifest;
            for key in path {
                node = &node[*key];
            }
            node.as_sequence()
                .unwrap_or_else(|| panic!("manifest has no list at {path:?}"))
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(list(&["oauth_config", "scopes", "bot"]), BOT_SCOPES);
        let events: BTreeSet<String> = list(&["settings", "event_subscriptions", "bot_events"])
            .into_iter()
            .collect();
        let acted_on: BTreeSet<String> =
            EVENT_SCOPES.iter().map(|(e, _)| (*e).to_owned()).collect();
        assert_eq!(events, acted_on);
    }

    #[test]
    fn every_event_subscribed_to_is_one_the_bus_reads() {
        let bus = include_str!("../bus/event.rs");
        for (event, _) in EVENT_SCOPES {
            assert!(
                bus.contains(&format!("\"{event}\"")),
                "the bus never looks at {event}"
            );
        }
    }
}
