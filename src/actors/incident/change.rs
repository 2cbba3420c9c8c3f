//! Status and severity, moved from the control message's selects: stored
//! with the click that asked for it, announced in the channel, shown in the
//! control and digest messages.

use tracing::Span;
use tracing::field::{Empty, display};

use super::IncidentActor;
use crate::actors::announce;
use crate::domain::event::Click;

impl IncidentActor {
    /// Applies one click on a select; an unknown value (the configuration
    /// changed since the message was rendered) is refused, a repeated one
    /// ignored.
    #[tracing::instrument(skip_all, fields(field = field.name(), channel = %click.channel, incident = Empty))]
    pub(super) async fn change(&self, click: Click, field: Field, value: String) {
        let Some(incident) = self.ctx.incident_of(&*self.store.incidents, &click).await else {
            return;
        };
        Span::current().record("incident", display(incident.id));
        let catalog = &self.ctx.config.incident.catalog;
        let known = match field {
            Field::Status => catalog.status(&value).is_some(),
            Field::Severity => catalog.severity(&value).is_some(),
        };
        if !known {
            tracing::warn!(value, user = %click.user, "click for a value that is not configured");
            self.ctx
                .tell(
                    &click,
                    "That choice no longer exists in Janus's configuration.",
                )
                .await;
            return;
        }
        let resolved = catalog.resolved_status().value() == value;
        let changed = self
            .ctx
            .with_store(&click, || async {
                let incidents = &self.store.incidents;
                match field {
                    Field::Status => {
                        incidents
                            .set_status(incident.id, &value, resolved, &click.user, &click.delivery)
                            .await
                    }
                    Field::Severity => {
                        incidents
                            .set_severity(incident.id, &value, &click.user, &click.delivery)
                            .await
                    }
                }
            })
            .await;
        let change = match changed {
            Ok(Some(change)) => change,
            // Already that value (a double click, or someone was quicker).
            Ok(None) => return,
            Err(e) => {
                self.ctx.database_trouble(&click, e).await;
                return;
            }
        };
        tracing::info!(incident = %incident.id, field = field.name(), from = change.from, to = change.to, user = %click.user, "changed");
        // The control and digest messages follow from what is stored, beside
        // the line in the channel.
        self.publisher
            .refresh_for(incident.id, click.response_url.as_ref());
        if let (Field::Status, Some(statuspage)) = (field, &self.statuspage) {
            // In a task of its own: nobody waits for Statuspage.
            statuspage.follow(incident.id);
        }
        let fresh = match self.store.incidents.incident(incident.id).await {
            Ok(Some(fresh)) => fresh,
            _ => incident.clone(),
        };
        let outcome = announce::field_changed(
            &self.ctx,
            &fresh,
            &click.user,
            field.name(),
            &change.from,
            &change.to,
        )
        .await;
        announce::finish(&*self.store.publications, change.event, outcome).await;
    }

    /// Announces the changes a crash left unannounced (see
    /// [`announce::missed`]).
    pub(super) async fn announce_missed(&self, settled: std::time::Duration) {
        let store = &self.store;
        let publisher = &self.publisher;
        announce::missed(
            &self.ctx,
            &*store.incidents,
            &*store.publications,
            publisher,
            settled,
        )
        .await;
    }
}

/// The two fields the control message's selects change.
#[derive(Debug, Clone, Copy)]
pub(super) enum Field {
    Status,
    Severity,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Severity => "severity",
        }
    }
}
