//! The role actor: Claim, Assign and Release on the control message.
//!
//! A claim takes a free role and never takes one from someone (two people
//! claiming at once: the database lets exactly one win, and the other is
//! told who holds it). Assign hands a role over and says whom it replaced.
//! Each change is announced in the channel, DMed to the new holder with the
//! role's duties, and shown in the control and digest messages.

use std::sync::Arc;

use tracing::Span;
use tracing::field::{Empty, display};

use super::publisher::PublisherHandle;
use super::{Context, announce};
use crate::domain::event::Click;
use crate::domain::ids::UserId;
use crate::store::{Assigned, ClaimOutcome, EventId, History, Incident, Incidents, Publications};

/// Cheap handle to the role actor. Calls run in the caller's task: the
/// incident's lane.
#[derive(Clone)]
pub struct RoleHandle {
    actor: Arc<RoleActor>,
}

impl RoleHandle {
    /// A new holder shows in the control and digest messages through
    /// `publisher`.
    pub fn new(
        ctx: Arc<Context>,
        incidents: Arc<dyn Incidents>,
        history: Arc<dyn History>,
        publications: Arc<dyn Publications>,
        publisher: PublisherHandle,
    ) -> Self {
        Self {
            actor: Arc::new(RoleActor {
                ctx,
                incidents,
                history,
                publications,
                publisher,
            }),
        }
    }

    /// The clicker takes `role`, if it is free.
    pub async fn claim(&self, click: Click, role: String) {
        self.actor.claim(click, role).await;
    }

    pub async fn assign(&self, click: Click, role: String, holder: UserId) {
        self.actor.assign(click, role, holder).await;
    }

    /// Leaves `role` without a holder; the holder is told.
    pub async fn release(&self, click: Click, role: String) {
        self.actor.release(click, role).await;
    }
}

struct RoleActor {
    ctx: Arc<Context>,
    /// Where roles are held.
    incidents: Arc<dyn Incidents>,
    /// Whether a commander is the incident's first (for `/metrics`).
    history: Arc<dyn History>,
    /// Which changes were announced.
    publications: Arc<dyn Publications>,
    publisher: PublisherHandle,
}

impl RoleActor {
    #[tracing::instrument(skip_all, fields(channel = %click.channel, incident = Empty))]
    async fn claim(&self, click: Click, role: String) {
        let Some((incident, label)) = self.incident_and_role(&click, &role).await else {
            return;
        };
        let claimed = self
            .ctx
            .with_store(&click, || {
                self.incidents
                    .claim_role(incident.id, &role, &click.user, &click.delivery)
            })
            .await;
        match claimed {
            Ok(ClaimOutcome::Claimed(event)) => {
                self.count_first_commander(&incident, &role, event).await;
                let outcome = self
                    .announce(&incident, &click, &role, &click.user, None)
                    .await;
                announce::finish(&*self.publications, event, outcome).await;
            }
            Ok(ClaimOutcome::AlreadyYours) => {
                let text = format!("You are already the {label} of this incident.");
                self.ctx.tell(&click, &text).await;
            }
            Ok(ClaimOutcome::HeldBy(holder)) => {
                let text = format!(
                    "<@{holder}> is already the {label}. To take over, pick yourself in Assign."
                );
                self.ctx.tell(&click, &text).await;
            }
            Err(e) => self.ctx.database_trouble(&click, e).await,
        }
    }

    #[tracing::instrument(skip_all, fields(channel = %click.channel, incident = Empty))]
    async fn assign(&self, click: Click, role: String, holder: UserId) {
        let Some((incident, label)) = self.incident_and_role(&click, &role).await else {
            return;
        };
        if holder == self.ctx.bot.user_id {
            self.ctx
                .tell(&click, "I cannot hold a role myself; pick a person.")
                .await;
            return;
        }
        let assigned = self
            .ctx
            .with_store(&click, || {
                self.incidents.assign_role(
                    incident.id,
                    &role,
                    &holder,
                    &click.user,
                    &click.delivery,
                )
            })
            .await;
        match assigned {
            Ok(Assigned {
                event: Some(event),
                previous,
            }) => {
                if previous.is_none() {
                    self.count_first_commander(&incident, &role, event).await;
                }
                let outcome = self
                    .announce(&incident, &click, &role, &holder, previous.as_ref())
                    .await;
                announce::finish(&*self.publications, event, outcome).await;
            }
            Ok(Assigned { event: None, .. }) => {
                let text = format!("<@{holder}> is already the {label}.");
                self.ctx.tell(&click, &text).await;
            }
            Err(e) => self.ctx.database_trouble(&click, e).await,
        }
    }

    #[tracing::instrument(skip_all, fields(channel = %click.channel, incident = Empty))]
    async fn release(&self, click: Click, role: String) {
        let Some((incident, label)) = self.incident_and_role(&click, &role).await else {
            return;
        };
        let released = self
            .ctx
            .with_store(&click, || {
                self.incidents
                    .release_role(incident.id, &role, &click.user, &click.delivery)
            })
            .await;
        match released {
            Ok(Assigned {
                event: Some(event),
                previous: Some(previous),
            }) => {
                tracing::info!(incident = %incident.id, role, previous = %previous,
                    actor = %click.user, "role released");
                self.publisher
                    .refresh_for(incident.id, click.response_url.as_ref());
                let fresh = match self.incidents.incident(incident.id).await {
                    Ok(Some(fresh)) => fresh,
                    _ => incident.clone(),
                };
                let outcome =
                    announce::role_released(&self.ctx, &fresh, &click.user, &role, &previous).await;
                announce::finish(&*self.publications, event, outcome).await;
            }
            Ok(_) => {
                let text =
                    format!("Nobody is the {label} at the moment; claim it or assign someone.");
                self.ctx.tell(&click, &text).await;
            }
            Err(e) => self.ctx.database_trouble(&click, e).await,
        }
    }

    /// Counts the time from declaration to the incident's first commander
    /// (the catalog's first role), when `event` gave it one; a commander
    /// after a release is not the first.
    async fn count_first_commander(&self, incident: &Incident, role: &str, event: EventId) {
        let catalog = &self.ctx.config.incident.catalog;
        if catalog.roles().first().map(|r| r.key()) != Some(role) {
            return;
        }
        let Ok(history) = self.history.history(incident.id).await else {
            return;
        };
        let commander = |e: &&crate::store::HistoryEntry| {
            e.kind == "role"
                && e.detail.get("role").and_then(|r| r.as_str()) == Some(role)
                && e.detail.get("holder").and_then(|h| h.as_str()).is_some()
        };
        let mut commanders = history.iter().filter(commander);
        if let Some(first) = commanders.next()
            && first.id == event
        {
            let took = first.at - incident.created_at;
            self.ctx
                .metrics
                .first_commander(&incident.severity, took.num_milliseconds() as f64 / 1000.0);
        }
    }

    /// The incident of the clicked channel and the role's label; tells the
    /// clicker and returns `None` when either is unknown. The incident goes
    /// into the span of the click.
    async fn incident_and_role(&self, click: &Click, role: &str) -> Option<(Incident, String)> {
        let incident = self.ctx.incident_of(&*self.incidents, click).await?;
        Span::current().record("incident", display(incident.id));
        match self.ctx.config.incident.catalog.role(role) {
            Some(def) => Some((incident, def.label().to_owned())),
            None => {
                tracing::warn!(role, user = %click.user, "click for a role that is not configured");
                self.ctx
                    .tell(
                        click,
                        "That role no longer exists in Janus's configuration.",
                    )
                    .await;
                None
            }
        }
    }

    /// Messages refreshed; channel line, holder invited and DMed.
    async fn announce(
        &self,
        incident: &Incident,
        click: &Click,
        role: &str,
        holder: &UserId,
        previous: Option<&UserId>,
    ) -> announce::Outcome {
        let actor = &click.user;
        tracing::info!(incident = %incident.id, role, holder = %holder, actor = %actor, "role assigned");
        // The control and digest messages follow from what is stored, beside
        // the line, the invite and the DM.
        self.publisher
            .refresh_for(incident.id, click.response_url.as_ref());
        // Render from the database as it is now, with the new holder.
        let fresh = match self.incidents.incident(incident.id).await {
            Ok(Some(fresh)) => fresh,
            _ => incident.clone(),
        };
        announce::role_changed(&self.ctx, &fresh, actor, role, holder, previous).await
    }
}
