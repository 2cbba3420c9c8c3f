//! The resolution message's **Postmortem draft** button: Janus uploads the
//! incident's postmortem draft (the Markdown `janus export` prints) to its
//! channel as a file, so the team starts the write-up from the record.

use std::sync::Arc;

use super::Context;
use crate::domain::event::Click;
use crate::store::{History, Incidents, TimelineMarks};

/// Cheap handle; calls run in the caller's task (the channel's lane).
#[derive(Clone)]
pub struct PostmortemHandle {
    ctx: Arc<Context>,
    incidents: Arc<dyn Incidents>,
    history: Arc<dyn History>,
    marks: Arc<dyn TimelineMarks>,
}

impl PostmortemHandle {
    pub fn new(
        ctx: Arc<Context>,
        incidents: Arc<dyn Incidents>,
        history: Arc<dyn History>,
        marks: Arc<dyn TimelineMarks>,
    ) -> Self {
        Self {
            ctx,
            incidents,
            history,
            marks,
        }
    }

    /// Uploads the draft of the clicked channel's incident to it; the
    /// clicker is told when it cannot be.
    #[tracing::instrument(skip_all, fields(channel = %click.channel))]
    pub async fn upload(&self, click: Click) {
        let Some(incident) = self.ctx.incident_of(&*self.incidents, &click).await else {
            return;
        };
        let draft = match crate::export::draft(
            &*self.history,
            &*self.marks,
            &self.ctx.config,
            &incident.id.0.to_string(),
        )
        .await
        {
            Ok(draft) => draft,
            Err(e) => {
                tracing::error!(incident = %incident.id, error = %e, "cannot draft the postmortem");
                self.ctx
                    .tell(&click, "I could not read the incident's record to draft the postmortem; try again in a minute.")
                    .await;
                return;
            }
        };
        let markdown = crate::export::markdown(&draft);
        let name = draft
            .name
            .clone()
            .unwrap_or_else(|| format!("incident-{}", draft.id));
        let filename = format!("postmortem-{name}.md");
        let title = format!("Postmortem draft: {name}");
        match self
            .ctx
            .slack
            .upload_file(&click.channel, &filename, &title, markdown.as_bytes())
            .await
        {
            Ok(()) => {
                tracing::info!(incident = %incident.id, user = %click.user, "postmortem draft uploaded")
            }
            Err(e) => {
                tracing::warn!(incident = %incident.id, error = %e, "cannot upload the postmortem draft");
                self.ctx
                    .tell(&click, &format!("I could not upload the postmortem draft ({}); an admin can print it with `janus export {name}`.", e.for_people()))
                    .await;
            }
        }
    }
}
