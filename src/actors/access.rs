//! Who may change incidents. Janus acts for one workspace: its full members
//! declare and change incidents. Guests (`is_restricted`,
//! `is_ultra_restricted`) and people whose home is another organisation
//! (Slack Connect) may follow incidents — read the channel, the digest,
//! `help` and `list` — but not declare, change or publish, unless
//! `incident.allow_external_users` says they may.
//!
//! What Slack says of a person (`users.info`) is cached for
//! [`STANDING_TTL`], so a burst of clicks costs one call per person; the
//! same cache gives quotes people's names ([`AccessHandle::name`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use url::Url;

use super::Context;
use crate::domain::event::Click;
use crate::domain::ids::{ChannelId, UserId};
use crate::domain::quote::Names;
use crate::slack::{BotIdentity, Person, SlackError};

/// How long what `users.info` said of a person is trusted: a guest made a
/// member (or the reverse) is seen within this long.
const STANDING_TTL: Duration = Duration::from_secs(600);
/// People remembered at most; beyond it, expired entries go first, then all.
const CACHE_LIMIT: usize = 10_000;
/// People named per quote at most; the rest read `@someone`.
const MAX_NAMED: usize = 20;

/// What a person is to this workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A full member of the workspace (or of its Enterprise Grid organisation).
    Member,
    /// A multi- or single-channel guest.
    Guest,
    /// Someone whose home is another organisation (Slack Connect).
    External,
}

/// Why someone may not do what they tried. Each message is a sentence for
/// the person; none names a setting (that is for the log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "Guests can follow incidents here but not declare or change them. Ask a member of this workspace to do it."
    )]
    Guest,
    #[error(
        "People from other organisations can follow incidents here but not declare or change them. Ask someone from this workspace to do it."
    )]
    External,
    /// Slack could not say who they are: nothing is done rather than
    /// something done for someone who may not.
    #[error(
        "I could not check with Slack whether you may do that, so nothing was done. Please try again in a minute."
    )]
    Unchecked,
}

impl Refusal {
    /// The label `janus_refused_total` counts it under.
    pub fn metric(&self) -> &'static str {
        match self {
            Refusal::Guest => "guest",
            Refusal::External => "external_user",
            Refusal::Unchecked => "unchecked_user",
        }
    }
}

/// Decides who may change incidents. Cheap to clone.
#[derive(Clone)]
pub struct AccessHandle {
    inner: Arc<Access>,
}

struct Access {
    ctx: Arc<Context>,
    people: Mutex<HashMap<UserId, (Instant, Person)>>,
}

impl AccessHandle {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self {
            inner: Arc::new(Access {
                ctx,
                people: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Whether `user` may declare, change or publish. `home_team` is the
    /// team the payload says they belong to, when it says (interactive
    /// payloads' `user.team_id`): another organisation's is enough to refuse
    /// without asking Slack.
    pub async fn may_change(&self, user: &UserId, home_team: Option<&str>) -> Result<(), Refusal> {
        let ctx = &self.inner.ctx;
        if ctx.config.incident.allow_external_users {
            return Ok(());
        }
        if let Some(team) = home_team
            && !is_ours(&ctx.bot, team)
        {
            return Err(Refusal::External);
        }
        let standing = match self.person(user).await {
            Ok(person) => standing(&ctx.bot, &person),
            Err(e) => {
                tracing::warn!(user = %user, error = %e,
                    "cannot ask Slack who this person is (users.info); refusing what they asked");
                return Err(Refusal::Unchecked);
            }
        };
        match standing {
            Standing::Member => Ok(()),
            Standing::Guest => Err(Refusal::Guest),
            Standing::External => Err(Refusal::External),
        }
    }

    /// A refusal known without asking Slack (for a slash command's ack).
    pub fn known_refusal(&self, user: &UserId) -> Option<Refusal> {
        if self.inner.ctx.config.incident.allow_external_users {
            return None;
        }
        match standing(&self.inner.ctx.bot, &self.cached(user)?) {
            Standing::Member => None,
            Standing::Guest => Some(Refusal::Guest),
            Standing::External => Some(Refusal::External),
        }
    }

    /// Tells the clicker why nothing happened.
    pub async fn tell_click(&self, click: &Click, refusal: &Refusal) {
        tracing::info!(user = %click.user, action = click.action_id, reason = refusal.metric(),
            "click refused");
        self.inner.ctx.tell(click, &refusal.to_string()).await;
    }

    /// Tells the person behind a slash command's `response_url` why nothing
    /// happened, in place of the ack's "opening the channel".
    pub async fn tell_command(&self, user: &UserId, response_url: &Url, refusal: &Refusal) {
        tracing::info!(user = %user, reason = refusal.metric(), "declaration refused");
        let payload = json!({
            "response_type": "ephemeral",
            "replace_original": true,
            "text": refusal.to_string(),
        });
        if let Err(e) = self.inner.ctx.slack.respond(response_url, &payload).await {
            tracing::warn!(user = %user, error = %e, "cannot tell the person why they were refused");
        }
    }

    /// Tells `user` why nothing happened: ephemeral in `channel` when
    /// there is one, else a DM.
    pub async fn tell_person(&self, channel: Option<&ChannelId>, user: &UserId, refusal: &Refusal) {
        tracing::info!(user = %user, reason = refusal.metric(), "request refused");
        let payload = json!({ "text": refusal.to_string() });
        self.inner.ctx.tell_person(channel, user, &payload).await;
    }

    /// `user`'s name as people know it, for a quote that shows them
    /// instead of mentioning them: from the cache, or `users.info` (within
    /// the Slack client's deadlines; callers that must not wait long put
    /// their own around it). `None` when Slack cannot say.
    pub async fn name(&self, user: &UserId) -> Option<String> {
        match self.person(user).await {
            Ok(person) => person.readable_name().map(str::to_owned),
            Err(e) => {
                tracing::info!(user = %user, error = %e,
                    "cannot ask Slack for a person's name (users.info); quoting them without it");
                None
            }
        }
    }

    /// The names of `users` for a quote ([`Names`]): each asked at once
    /// (the cache first), at most [`MAX_NAMED`]; whoever has not come
    /// `within` this long is left out, and the quote shows them neutrally.
    pub async fn names(&self, users: Vec<UserId>, within: Duration) -> Names {
        let deadline = tokio::time::Instant::now() + within;
        let lookups = users.into_iter().take(MAX_NAMED).map(|user| async move {
            let name = tokio::time::timeout_at(deadline, self.name(&user)).await;
            (user, name)
        });
        let mut names = Names::default();
        for (user, name) in futures_util::future::join_all(lookups).await {
            match name {
                Ok(Some(name)) => names.insert(user, &name),
                Ok(None) => {}
                Err(_) => tracing::info!(user = %user,
                    "no name from Slack in time (users.info); quoting them as someone"),
            }
        }
        names
    }

    /// What Slack says of `user`: cached, else asked and remembered.
    async fn person(&self, user: &UserId) -> Result<Person, SlackError> {
        if let Some(person) = self.cached(user) {
            return Ok(person);
        }
        let person = self.inner.ctx.slack.person(user).await?;
        self.remember(user, person.clone());
        Ok(person)
    }

    fn cached(&self, user: &UserId) -> Option<Person> {
        let people = self.inner.people.lock().unwrap_or_else(|p| p.into_inner());
        people
            .get(user)
            .filter(|(at, _)| at.elapsed() < STANDING_TTL)
            .map(|(_, person)| person.clone())
    }

    fn remember(&self, user: &UserId, person: Person) {
        let mut people = self.inner.people.lock().unwrap_or_else(|p| p.into_inner());
        if people.len() >= CACHE_LIMIT {
            people.retain(|_, (at, _)| at.elapsed() < STANDING_TTL);
            if people.len() >= CACHE_LIMIT {
                people.clear();
            }
        }
        people.insert(user.clone(), (Instant::now(), person));
    }
}

/// Whether `team` (a `T…` or an organisation's `E…`) is this workspace's.
pub fn is_ours(bot: &BotIdentity, team: &str) -> bool {
    team == bot.team_id.as_str() || bot.enterprise_id.as_deref() == Some(team)
}

/// What `person` is to the bot's workspace. Someone Slack names no home
/// team for counts as another organisation's: unknown is not trusted.
pub fn standing(bot: &BotIdentity, person: &Person) -> Standing {
    let home_is_ours = person.team_id.as_deref().is_some_and(|t| is_ours(bot, t))
        || person
            .enterprise_user
            .as_ref()
            .and_then(|e| e.enterprise_id.as_deref())
            .is_some_and(|e| is_ours(bot, e));
    if !home_is_ours {
        Standing::External
    } else if person.is_restricted || person.is_ultra_restricted {
        Standing::Guest
    } else {
        Standing::Member
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::TeamId;

    fn bot(enterprise: Option<&str>) -> BotIdentity {
        BotIdentity {
            name: "janus".to_owned(),
            user_id: UserId::parse("U0JANUS01").unwrap(),
            team_id: TeamId::parse("T0ACME001").unwrap(),
            enterprise_id: enterprise.map(str::to_owned),
            workspace_url: None,
        }
    }

    fn person(json: serde_json::Value) -> Person {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn members_guests_and_other_organisations_are_told_apart() {
        let bot = bot(None);
        let member = person(json!({"id": "U1", "team_id": "T0ACME001"}));
        let guest = person(json!({"id": "U2", "team_id": "T0ACME001", "is_restricted": true}));
        let single =
            person(json!({"id": "U3", "team_id": "T0ACME001", "is_ultra_restricted": true}));
        let partner = person(json!({"id": "U4", "team_id": "T0PARTNER"}));
        let nowhere = person(json!({"id": "U5"}));
        assert_eq!(standing(&bot, &member), Standing::Member);
        assert_eq!(standing(&bot, &guest), Standing::Guest);
        assert_eq!(standing(&bot, &single), Standing::Guest);
        assert_eq!(standing(&bot, &partner), Standing::External);
        assert_eq!(
            standing(&bot, &nowhere),
            Standing::External,
            "unknown is not trusted"
        );
    }

    #[test]
    fn a_person_is_named_by_their_real_name_then_display_name_then_username() {
        let full = person(
            json!({"id": "U1", "real_name": "Alice Liddell", "name": "alice",
            "profile": {"real_name": "Alice L.", "display_name": "al"}}),
        );
        let profile_only =
            person(json!({"id": "U1", "real_name": " ", "profile": {"display_name": "al"}}));
        let username = person(json!({"id": "U1", "name": "alice", "profile": {}}));
        let nameless = person(json!({"id": "U1", "real_name": ""}));
        assert_eq!(full.readable_name(), Some("Alice Liddell"));
        assert_eq!(profile_only.readable_name(), Some("al"));
        assert_eq!(username.readable_name(), Some("alice"));
        assert_eq!(nameless.readable_name(), None);
    }

    #[test]
    fn on_enterprise_grid_another_workspace_of_the_organisation_is_ours() {
        let bot = bot(Some("E0ORG0001"));
        let colleague = person(json!({"id": "U1", "team_id": "T0OTHERWS",
            "enterprise_user": {"enterprise_id": "E0ORG0001"}}));
        let partner = person(json!({"id": "U2", "team_id": "T0PARTNER",
            "enterprise_user": {"enterprise_id": "E0OTHER01"}}));
        assert_eq!(standing(&bot, &colleague), Standing::Member);
        assert_eq!(standing(&bot, &partner), Standing::External);
        assert!(is_ours(&bot, "E0ORG0001"));
        assert!(!is_ours(&bot, "T0PARTNER"));
    }
}
