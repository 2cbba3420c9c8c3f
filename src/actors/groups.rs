//! User groups: the two a configuration names — the auto-invite group (its
//! members join every new incident channel) and Statuspage's publishers
//! (only its members may create or update a Statuspage incident) — and
//! their members (cached briefly).
//!
//! A configured group is either an id (`S…`) or a handle or name. A handle
//! or name is resolved to the id of the one group it matches, once, at
//! start ([`Groups::resolve_at_start`]) — or at first use when Slack could
//! not be asked then — and everything afterwards uses that id alone. So a
//! group created or renamed later to look like the configured name grants
//! nothing and receives no invites; and a name that matches more than one
//! group is refused, naming their ids, instead of picking one.
//!
//! The invite is best effort by design: a free plan without user groups, a
//! group that was renamed, or members who cannot be invited are reported
//! once in the incident channel; the incident never fails because of them.
//! The permission fails closed: while the publishers' group is not
//! resolved, nobody may publish.
//!
//! Each [`GroupError`] reads as a sentence for people in Slack, who never
//! see setting names; the log line beside it names the setting
//! ([`Purpose::setting`]).

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::Context;
use crate::config::Config;
use crate::domain::ids::{ChannelId, UserId};
use crate::slack::{ApiErrorCode, SlackApi, SlackError, UserGroup};

/// How long the group list is trusted before it is fetched again
/// (`usergroups.list` allows about 20 calls a minute).
const GROUPS_TTL: Duration = Duration::from_secs(600);
/// How long a group's member list is trusted for permission checks.
const MEMBERS_TTL: Duration = Duration::from_secs(60);
/// Users per `conversations.invite` call (Slack accepts up to 1000).
const CHUNK: usize = 100;
/// How long resolving at start may take: past it, start-up goes on and the
/// group is resolved at first use.
const RESOLVE_AT_START: Duration = Duration::from_secs(10);

/// Why a user group could not be used. Each message is a sentence for
/// the incident channel or the person who asked (the auto-invite posts it
/// as it is): it says what happened, never which setting to change — that
/// goes to the log with [`Purpose::setting`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum GroupError {
    /// `usergroups.list` said `plan_upgrade_required`.
    #[error("I could not use @{group}: this Slack plan has no user groups. Ask your Janus admin.")]
    NoGroupsOnThisPlan { group: String },
    /// `usergroups.list` failed otherwise (Slack unreachable, rate limited).
    #[error(
        "I could not look up the user group @{group} in Slack just now. \
         If this keeps happening, ask your Janus admin."
    )]
    List {
        group: String,
        /// What Slack said, for the log.
        detail: String,
    },
    /// No group has that id, handle or name.
    #[error(
        "I could not find the user group @{group} in Slack. Ask your Janus admin to check \
         which group Janus should use."
    )]
    NotFound { group: String },
    /// More than one group goes by that handle or name: none is used.
    #[error(
        "More than one user group in Slack goes by @{group}, so I used none of them. Ask \
         your Janus admin to name the group by its id."
    )]
    Ambiguous {
        group: String,
        /// The ids of every group that matched.
        ids: Vec<String>,
    },
    /// `usergroups.users.list` failed.
    #[error(
        "I could not read the members of @{group} just now. If this keeps happening, ask \
         your Janus admin."
    )]
    Members {
        group: String,
        /// What Slack said, for the log.
        detail: String,
    },
    /// Everyone else was invited: these members could not be, each with
    /// what Slack said.
    #[error("I invited @{group}, except {}.", refused(failed))]
    SomeNotInvited {
        group: String,
        failed: Vec<(UserId, String)>,
    },
}

impl GroupError {
    /// Whether trying again later may work (Slack did not answer), as
    /// opposed to a configuration an admin must change.
    pub fn is_passing(&self) -> bool {
        matches!(self, Self::List { .. } | Self::Members { .. })
    }

    /// The operator's version: what to change, for the log line (which
    /// also names the setting).
    pub fn advice(&self) -> String {
        match self {
            Self::NoGroupsOnThisPlan { .. } => {
                "this Slack plan has no user groups: turn the setting off".to_owned()
            }
            Self::List { detail, .. } => format!("usergroups.list failed: {detail}"),
            Self::NotFound { group } => format!(
                "no user group has the id, handle or name {group:?}: create it, or configure \
                 the id of an existing one"
            ),
            Self::Ambiguous { group, ids } => format!(
                "{group:?} matches more than one user group ({}): configure the id of the one \
                 you mean",
                ids.join(", ")
            ),
            Self::Members { detail, .. } => format!("usergroups.users.list failed: {detail}"),
            Self::SomeNotInvited { failed, .. } => {
                format!("{} member(s) could not be invited", failed.len())
            }
        }
    }
}

/// `<@U1> (not_in_channel), <@U2> (…)`: Slack's code when it gave one.
fn refused(failed: &[(UserId, String)]) -> String {
    let named: Vec<String> = failed
        .iter()
        .map(|(user, why)| format!("<@{user}> ({why})"))
        .collect();
    named.join(", ")
}

/// What Slack said, in a word when it gave a code.
fn slack_reason(e: &SlackError) -> String {
    match e.code() {
        Some(code) => code.to_string(),
        None => e.to_string(),
    }
}

/// What a configured group is for: which setting names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `statuspage.allowed_group`: who may publish to Statuspage.
    Publishers,
    /// `auto_invite.group`: who joins every new incident channel.
    AutoInvite,
}

impl Purpose {
    /// The setting, with its environment variable, for log lines (never for
    /// people in Slack).
    pub fn setting(self) -> &'static str {
        match self {
            Self::Publishers => "statuspage.allowed_group (JANUS_STATUSPAGE__ALLOWED_GROUP)",
            Self::AutoInvite => "auto_invite.group (INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME)",
        }
    }
}

/// A configured group as written: an id is used as it is, a handle or
/// name must be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSpec {
    /// `S` and at least eight more uppercase letters or digits, as Slack's
    /// ids are (`S0614TZR7`).
    Id(String),
    /// A handle or a name, matched without regard to case.
    Name(String),
}

impl GroupSpec {
    /// Reads a configured value (a leading `@` is already dropped).
    pub fn parse(value: &str) -> Self {
        let value = value.trim().trim_start_matches('@');
        let is_id = value.len() >= 9
            && value.starts_with('S')
            && value
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if is_id {
            Self::Id(value.to_owned())
        } else {
            Self::Name(value.to_owned())
        }
    }

    /// The one group of `groups` this names: by id, or the only one whose
    /// handle or name matches (any case).
    pub fn find<'g>(&self, groups: &'g [UserGroup]) -> Result<&'g UserGroup, GroupError> {
        match self {
            Self::Id(id) => groups
                .iter()
                .find(|g| &g.id == id)
                .ok_or_else(|| GroupError::NotFound { group: id.clone() }),
            Self::Name(wanted) => {
                let wanted = wanted.to_lowercase();
                let matching: Vec<&UserGroup> = groups
                    .iter()
                    .filter(|g| {
                        g.handle.to_lowercase() == wanted || g.name.to_lowercase() == wanted
                    })
                    .collect();
                match matching.as_slice() {
                    [] => Err(GroupError::NotFound {
                        group: self.shown().to_owned(),
                    }),
                    [one] => Ok(one),
                    many => Err(GroupError::Ambiguous {
                        group: self.shown().to_owned(),
                        ids: many.iter().map(|g| g.id.clone()).collect(),
                    }),
                }
            }
        }
    }

    /// As configured.
    fn shown(&self) -> &str {
        match self {
            Self::Id(v) | Self::Name(v) => v,
        }
    }
}

/// A group resolved to its id: what membership and invites use.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// `S…`.
    pub id: String,
    /// Its handle when resolved, for messages (empty if Slack gave none).
    pub handle: String,
}

impl Resolved {
    /// How people see it named: `@handle`, or the configured value.
    fn shown<'a>(&'a self, configured: &'a GroupSpec) -> &'a str {
        if self.handle.is_empty() {
            configured.shown()
        } else {
            &self.handle
        }
    }
}

/// One configured group and, once known, its id (never changed afterwards).
struct Slot {
    purpose: Purpose,
    spec: GroupSpec,
    resolved: Mutex<Option<Resolved>>,
}

impl Slot {
    fn new(purpose: Purpose, value: &str) -> Self {
        Self {
            purpose,
            spec: GroupSpec::parse(value),
            resolved: Mutex::new(None),
        }
    }
}

/// The workspace's user groups, cached, and the configured ones resolved.
#[derive(Default)]
pub struct Groups {
    groups: Mutex<Option<(Instant, Vec<UserGroup>)>>,
    members: Mutex<Vec<(String, Instant, Vec<UserId>)>>,
    /// `statuspage.allowed_group`, when set.
    publishers: Option<Slot>,
    /// `auto_invite.group`, when the invite is on.
    auto_invite: Option<Slot>,
}

impl Groups {
    /// The groups `config` names, not yet resolved.
    pub fn new(config: &Config) -> Self {
        Self {
            publishers: config
                .statuspage
                .as_ref()
                .and_then(|s| s.allowed_group.as_deref())
                .map(|g| Slot::new(Purpose::Publishers, g)),
            auto_invite: config
                .auto_invite
                .as_ref()
                .map(|a| Slot::new(Purpose::AutoInvite, &a.group)),
            ..Self::default()
        }
    }

    /// Resolves every configured group to its id, each logged. Never fails
    /// start-up: a group that cannot be resolved now (Slack not answering,
    /// no such group, an ambiguous name) stays unresolved and is tried
    /// again at its next use; meanwhile nobody may publish to Statuspage.
    /// An ambiguous permission group is an error in the log, not a refusal
    /// to start: any member who can create user groups could otherwise
    /// keep Janus from starting in the middle of an incident.
    pub async fn resolve_at_start(&self, slack: &SlackApi) {
        for slot in [&self.publishers, &self.auto_invite].into_iter().flatten() {
            match tokio::time::timeout(RESOLVE_AT_START, self.resolve(slack, slot)).await {
                Ok(Ok(group)) => tracing::info!(
                    setting = slot.purpose.setting(),
                    configured = slot.spec.shown(),
                    id = %group.id,
                    handle = %group.handle,
                    "user group resolved; only this id is used from now on"
                ),
                Ok(Err(e)) => log_unresolved(slot, &e),
                Err(_) => tracing::warn!(
                    setting = slot.purpose.setting(),
                    configured = slot.spec.shown(),
                    "Slack did not list the user groups in time; the group will be resolved \
                     at its first use"
                ),
            }
        }
    }

    /// The slot's group, resolving it now if it is not yet.
    async fn resolve(&self, slack: &SlackApi, slot: &Slot) -> Result<Resolved, GroupError> {
        let mut resolved = slot.resolved.lock().await;
        if let Some(group) = resolved.as_ref() {
            return Ok(group.clone());
        }
        let group = self.resolve_spec(slack, &slot.spec).await?;
        *resolved = Some(group.clone());
        Ok(group)
    }

    /// Finds `spec` in the group list: the cached one when it has the
    /// group, else a fresh one (the group may be new). Only unresolved
    /// groups get here, so this lists the groups once per configured group
    /// in the normal case, at start.
    async fn resolve_spec(
        &self,
        slack: &SlackApi,
        spec: &GroupSpec,
    ) -> Result<Resolved, GroupError> {
        let found = |groups: &[UserGroup]| {
            spec.find(groups).map(|g| Resolved {
                id: g.id.clone(),
                handle: g.handle.clone(),
            })
        };
        let mut cache = self.groups.lock().await;
        if let Some((at, groups)) = cache.as_ref()
            && at.elapsed() < GROUPS_TTL
            && let Ok(group) = found(groups)
        {
            return Ok(group);
        }
        let groups = slack.user_groups().await.map_err(|e| match e.code() {
            Some(ApiErrorCode::PlanUpgradeRequired) => GroupError::NoGroupsOnThisPlan {
                group: spec.shown().to_owned(),
            },
            _ => GroupError::List {
                group: spec.shown().to_owned(),
                detail: e.to_string(),
            },
        });
        let groups = match (groups, spec) {
            (Ok(groups), _) => groups,
            // An id needs no list to be used: Slack checks it when its
            // members are asked for.
            (Err(GroupError::List { .. }), GroupSpec::Id(id)) => {
                return Ok(Resolved {
                    id: id.clone(),
                    handle: String::new(),
                });
            }
            (Err(e), _) => return Err(e),
        };
        let result = found(&groups);
        *cache = Some((Instant::now(), groups));
        result
    }

    /// The members of a resolved group (cached for [`MEMBERS_TTL`]).
    async fn members(
        &self,
        slack: &SlackApi,
        group: &Resolved,
        shown: &str,
    ) -> Result<Vec<UserId>, GroupError> {
        {
            let cache = self.members.lock().await;
            if let Some((_, _, members)) = cache
                .iter()
                .find(|(id, at, _)| id == &group.id && at.elapsed() < MEMBERS_TTL)
            {
                return Ok(members.clone());
            }
        }
        let members =
            slack
                .user_group_members(&group.id)
                .await
                .map_err(|e| GroupError::Members {
                    group: shown.to_owned(),
                    detail: slack_reason(&e),
                })?;
        let mut cache = self.members.lock().await;
        cache.retain(|(id, _, _)| id != &group.id);
        cache.push((group.id.clone(), Instant::now(), members.clone()));
        Ok(members)
    }

    /// Whether `user` is in the publishers' group (`statuspage.allowed_group`),
    /// judged by the group's id alone. `Ok(None)` when no group is
    /// configured. An error means it could not be told: refuse.
    pub async fn is_publisher(
        &self,
        slack: &SlackApi,
        user: &UserId,
    ) -> Result<Option<Membership>, GroupError> {
        let Some(slot) = &self.publishers else {
            return Ok(None);
        };
        let group = self
            .resolve(slack, slot)
            .await
            .inspect_err(|e| log_unresolved(slot, e))?;
        let shown = group.shown(&slot.spec).to_owned();
        let members = self.members(slack, &group, &shown).await.inspect_err(|e| {
            tracing::warn!(setting = slot.purpose.setting(), group = %group.id,
                error = %e.advice(), "cannot check who may publish to Statuspage");
        })?;
        Ok(Some(Membership {
            member: members.contains(user),
            group: shown,
        }))
    }

    /// Invites the members of `group` — the configured `auto_invite.group`,
    /// resolved to its id once and used by id from then on — to `channel`;
    /// returns how many were invited. Each failure is logged with the
    /// setting; the error's text is for the channel.
    pub async fn invite(
        &self,
        ctx: &Context,
        channel: &ChannelId,
        group: &str,
    ) -> Result<usize, GroupError> {
        let adhoc;
        let slot = match &self.auto_invite {
            Some(slot) if slot.spec.shown() == GroupSpec::parse(group).shown() => slot,
            _ => {
                adhoc = Slot::new(Purpose::AutoInvite, group);
                &adhoc
            }
        };
        let result = self.invite_resolved(ctx, channel, slot).await;
        if let Err(e) = &result {
            tracing::warn!(setting = slot.purpose.setting(), configured = slot.spec.shown(),
                channel = %channel, error = %e.advice(), "the group invite did not fully work");
        }
        result
    }

    async fn invite_resolved(
        &self,
        ctx: &Context,
        channel: &ChannelId,
        slot: &Slot,
    ) -> Result<usize, GroupError> {
        let found = self.resolve(&ctx.slack, slot).await?;
        let shown = found.shown(&slot.spec).to_owned();
        let members: Vec<UserId> = self
            .members(&ctx.slack, &found, &shown)
            .await?
            .into_iter()
            .filter(|u| u != &ctx.bot.user_id)
            .collect();
        let mut failed = Vec::new();
        for chunk in members.chunks(CHUNK) {
            if ctx.slack.invite(channel, chunk).await.is_ok() {
                continue;
            }
            // One bad member fails the whole call: retry one by one to
            // invite everyone who can be, and name who cannot.
            for user in chunk {
                if let Err(e) = ctx.slack.invite(channel, std::slice::from_ref(user)).await {
                    failed.push((user.clone(), slack_reason(&e)));
                }
            }
        }
        if failed.is_empty() {
            return Ok(members.len());
        }
        Err(GroupError::SomeNotInvited {
            group: shown,
            failed,
        })
    }
}

/// Whether someone is in the publishers' group, and how to name it to them.
#[derive(Debug, Clone)]
pub struct Membership {
    pub member: bool,
    /// The group's handle (or the configured value), for a message.
    pub group: String,
}

/// The log line for a group that could not be resolved: an error when an
/// admin must act (a permission group that matches none or several), a
/// warning when waiting may do.
fn log_unresolved(slot: &Slot, e: &GroupError) {
    let consequence = match slot.purpose {
        Purpose::Publishers => "nobody may publish to Statuspage until it is",
        Purpose::AutoInvite => "new incident channels get no group invite until it is",
    };
    if e.is_passing() {
        tracing::warn!(
            setting = slot.purpose.setting(),
            configured = slot.spec.shown(),
            "cannot resolve the user group yet ({}); {consequence}",
            e.advice()
        );
    } else {
        tracing::error!(
            setting = slot.purpose.setting(),
            configured = slot.spec.shown(),
            "cannot use the user group: {}; {consequence}",
            e.advice()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, handle: &str, name: &str) -> UserGroup {
        serde_json::from_value(serde_json::json!({ "id": id, "handle": handle, "name": name }))
            .unwrap()
    }

    #[test]
    fn an_id_is_s_and_eight_or_more_uppercase_letters_or_digits() {
        assert_eq!(
            GroupSpec::parse("S0614TZR7"),
            GroupSpec::Id("S0614TZR7".into())
        );
        assert_eq!(
            GroupSpec::parse("@S0614TZR7"),
            GroupSpec::Id("S0614TZR7".into())
        );
        for name in ["SRE", "sre-oncall", "S0614tzr7", "Support team", "SUPPORT"] {
            assert_eq!(
                GroupSpec::parse(name),
                GroupSpec::Name(name.into()),
                "{name}"
            );
        }
    }

    #[test]
    fn a_name_matching_one_groups_handle_and_anothers_name_is_ambiguous() {
        let groups = [
            group("S0000000A1", "comms", "Communications"),
            group("S0000000B2", "comms-team", "Comms"),
            group("S0000000C3", "sre", "SRE"),
        ];
        match GroupSpec::parse("comms").find(&groups) {
            Err(GroupError::Ambiguous { ids, .. }) => {
                assert_eq!(ids, ["S0000000A1", "S0000000B2"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            GroupSpec::parse("SRE").find(&groups).unwrap().id,
            "S0000000C3",
            "one group whose handle and name both match is one match"
        );
        assert_eq!(
            GroupSpec::parse("S0000000B2").find(&groups).unwrap().handle,
            "comms-team"
        );
        assert!(matches!(
            GroupSpec::parse("ops").find(&groups),
            Err(GroupError::NotFound { .. })
        ));
    }

    #[test]
    fn messages_for_people_name_no_setting() {
        let errors = [
            GroupError::NoGroupsOnThisPlan { group: "g".into() },
            GroupError::List {
                group: "g".into(),
                detail: "x".into(),
            },
            GroupError::NotFound { group: "g".into() },
            GroupError::Ambiguous {
                group: "g".into(),
                ids: vec!["S1".into()],
            },
            GroupError::Members {
                group: "g".into(),
                detail: "x".into(),
            },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(
                !text.contains('_') && !text.contains("statuspage."),
                "{text}"
            );
        }
    }
}
