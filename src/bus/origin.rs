//! Only our app, our workspace: every envelope names the app it is for
//! (`api_app_id`) and the workspace it comes from; one for another app or
//! another workspace (a misrouted or forged delivery) is acked like any
//! other, then ignored, counted (`janus_refused_total`) and logged once per
//! app and workspace.
//!
//! The app id is what Slack's `hello` said (`connection_info.app_id`, for
//! the app token's app); the workspace is `auth.test`'s, or its Enterprise
//! Grid organisation.

use std::collections::HashSet;
use std::sync::{Mutex, RwLock};

use serde_json::Value;

use super::envelope::{Envelope, EnvelopeKind};
use crate::slack::BotIdentity;

/// Distinct foreign (app, workspace) pairs logged at `warn`; beyond, `debug`.
const LOGGED_LIMIT: usize = 64;

/// Why an envelope is not ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Foreign {
    /// For another app (or naming none).
    App,
    /// From another workspace (or naming none).
    Team,
}

impl Foreign {
    /// The label `janus_refused_total` counts it under.
    pub fn metric(&self) -> &'static str {
        match self {
            Foreign::App => "foreign_app",
            Foreign::Team => "foreign_team",
        }
    }
}

/// What makes an envelope ours.
pub struct Ours {
    team: String,
    enterprise: Option<String>,
    /// From the first `hello` that named it.
    app: RwLock<Option<String>>,
    logged: Mutex<HashSet<(String, String)>>,
}

impl Ours {
    pub fn new(bot: &BotIdentity) -> Self {
        Self {
            team: bot.team_id.as_str().to_owned(),
            enterprise: bot.enterprise_id.clone(),
            app: RwLock::new(None),
            logged: Mutex::new(HashSet::new()),
        }
    }

    /// A socket said hello for `app_id`.
    pub fn hello(&self, app_id: Option<&str>) {
        let Some(app_id) = app_id.filter(|a| !a.is_empty()) else {
            return;
        };
        let mut app = self.app.write().unwrap_or_else(|p| p.into_inner());
        match app.as_deref() {
            None => *app = Some(app_id.to_owned()),
            Some(known) if known != app_id => tracing::error!(
                known,
                said = app_id,
                "a socket said hello for another app than the first one; keeping the first"
            ),
            Some(_) => {}
        }
    }

    /// Whether `envelope` is for our app and from our workspace. Until a
    /// hello named the app, only the workspace is checked.
    ///
    /// A click's `team` in a Slack Connect channel may be the clicker's own
    /// organisation: interactive payloads are checked by app only, and the
    /// clicker's organisation is the access check's business (they may
    /// follow, not change).
    pub fn check(&self, envelope: &Envelope) -> Result<(), Foreign> {
        let p = &envelope.payload;
        let text = |pointer: &str| p.pointer(pointer).and_then(Value::as_str);
        let app = self.app.read().unwrap_or_else(|p| p.into_inner()).clone();
        let said_app = text("/api_app_id");
        let result = if app.as_deref().is_some_and(|ours| said_app != Some(ours)) {
            Err(Foreign::App)
        } else if envelope.kind == EnvelopeKind::Interactive {
            Ok(())
        } else {
            let team = text("/team_id");
            let enterprise = text("/enterprise_id");
            let ours = |t: Option<&str>| {
                t.is_some_and(|t| t == self.team || self.enterprise.as_deref() == Some(t))
            };
            if ours(team) || ours(enterprise) {
                Ok(())
            } else {
                Err(Foreign::Team)
            }
        };
        if let Err(why) = &result {
            self.log(why, said_app, text("/team_id").or_else(|| text("/team/id")));
        }
        result
    }

    fn log(&self, why: &Foreign, app: Option<&str>, team: Option<&str>) {
        let key = (app.unwrap_or("").to_owned(), team.unwrap_or("").to_owned());
        let first = {
            let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
            logged.len() < LOGGED_LIMIT && logged.insert(key)
        };
        if first {
            tracing::warn!(
                reason = why.metric(),
                api_app_id = app,
                team,
                "envelope for another app or workspace ignored (logged once per app and workspace)"
            );
        } else {
            tracing::debug!(
                reason = why.metric(),
                api_app_id = app,
                team,
                "envelope for another app or workspace ignored"
            );
        }
    }
}
