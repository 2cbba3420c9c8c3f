//! User groups: found by handle or name (the list cached), their members
//! (cached briefly). Used by the auto-invite — the configured group joins
//! every new incident channel — and by Statuspage's optional permission.
//!
//! The invite is best effort by design: a free plan without user groups, a
//! group that was renamed, or members who cannot be invited are reported
//! once in the incident channel; the incident never fails because of them.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::Context;
use crate::domain::ids::{ChannelId, UserId};
use crate::slack::{ApiErrorCode, SlackError, UserGroup};

/// How long the group list is trusted before it is fetched again
/// (`usergroups.list` allows about 20 calls a minute).
const GROUPS_TTL: Duration = Duration::from_secs(600);
/// How long a group's member list is trusted for permission checks.
const MEMBERS_TTL: Duration = Duration::from_secs(60);
/// Users per `conversations.invite` call (Slack accepts up to 1000).
const CHUNK: usize = 100;

/// Why a user group could not be used. Each message is a sentence for
/// the incident channel or the person who asked: the auto-invite posts it
/// as it is.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// `usergroups.list` said `plan_upgrade_required`.
    #[error(
        "I could not invite @{group}: this Slack plan has no user groups \
         (turn off INCIDENT_AUTO_GROUP_INVITE_ENABLED)."
    )]
    NoGroupsOnThisPlan { group: String },
    #[error("I could not list the user groups to invite @{group}: {source}")]
    List {
        group: String,
        #[source]
        source: SlackError,
    },
    #[error(
        "I could not invite @{group}: there is no user group with that handle or name \
         (check INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME)."
    )]
    NotFound { group: String },
    #[error("I could not read the members of @{group}: {source}")]
    Members {
        group: String,
        #[source]
        source: SlackError,
    },
    /// Everyone else was invited: these members could not be, each with
    /// what Slack said.
    #[error("I invited @{group}, except {}.", refused(failed))]
    SomeNotInvited {
        group: String,
        failed: Vec<(UserId, SlackError)>,
    },
}

/// `<@U1> (not_in_channel), <@U2> (…)`: Slack's code when it gave one.
fn refused(failed: &[(UserId, SlackError)]) -> String {
    let named: Vec<String> = failed
        .iter()
        .map(|(user, e)| match e.code() {
            Some(code) => format!("<@{user}> ({code})"),
            None => format!("<@{user}> ({e})"),
        })
        .collect();
    named.join(", ")
}

/// The workspace's user groups, cached.
#[derive(Default)]
pub struct Groups {
    groups: Mutex<Option<(Instant, Vec<UserGroup>)>>,
    members: Mutex<Vec<(String, Instant, Vec<UserId>)>>,
}

impl Groups {
    /// Whether `user` is in `group` (the member list cached for
    /// [`MEMBERS_TTL`]).
    pub async fn is_member(
        &self,
        ctx: &Context,
        group: &str,
        user: &UserId,
    ) -> Result<bool, GroupError> {
        let found = self.find(ctx, group).await?;
        {
            let cache = self.members.lock().await;
            if let Some((_, _, members)) = cache
                .iter()
                .find(|(id, at, _)| id == &found.id && at.elapsed() < MEMBERS_TTL)
            {
                return Ok(members.contains(user));
            }
        }
        let members = ctx
            .slack
            .user_group_members(&found.id)
            .await
            .map_err(|source| GroupError::Members {
                group: group.to_owned(),
                source,
            })?;
        let is_member = members.contains(user);
        let mut cache = self.members.lock().await;
        cache.retain(|(id, _, _)| id != &found.id);
        cache.push((found.id, Instant::now(), members));
        Ok(is_member)
    }

    /// Invites the members of `group` (handle or name, any case) to
    /// `channel`; returns how many were invited.
    pub async fn invite(
        &self,
        ctx: &Context,
        channel: &ChannelId,
        group: &str,
    ) -> Result<usize, GroupError> {
        let found = self.find(ctx, group).await?;
        let members = ctx
            .slack
            .user_group_members(&found.id)
            .await
            .map_err(|source| GroupError::Members {
                group: group.to_owned(),
                source,
            })?;
        let members: Vec<UserId> = members
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
                    failed.push((user.clone(), e));
                }
            }
        }
        if failed.is_empty() {
            return Ok(members.len());
        }
        Err(GroupError::SomeNotInvited {
            group: group.to_owned(),
            failed,
        })
    }

    async fn find(&self, ctx: &Context, group: &str) -> Result<UserGroup, GroupError> {
        let wanted = group.to_lowercase();
        let matches =
            |g: &UserGroup| g.handle.to_lowercase() == wanted || g.name.to_lowercase() == wanted;
        let mut cache = self.groups.lock().await;
        let fresh = cache
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < GROUPS_TTL);
        if fresh
            && let Some(found) = cache
                .as_ref()
                .and_then(|(_, gs)| gs.iter().find(|g| matches(g)))
        {
            return Ok(found.clone());
        }
        // Stale, or not found in a fresh list (the group may be new): fetch.
        let group = group.to_owned();
        let groups = ctx
            .slack
            .user_groups()
            .await
            .map_err(|source| match source.code() {
                Some(ApiErrorCode::PlanUpgradeRequired) => GroupError::NoGroupsOnThisPlan {
                    group: group.clone(),
                },
                _ => GroupError::List {
                    group: group.clone(),
                    source,
                },
            })?;
        let found = groups.iter().find(|g| matches(g)).cloned();
        *cache = Some((Instant::now(), groups));
        found.ok_or(GroupError::NotFound { group })
    }
}
