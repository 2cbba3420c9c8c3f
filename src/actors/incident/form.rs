//! The declare form: opened from the usage message's button, checked in
//! the ack (Slack shows the errors under the fields), declared from once
//! submitted.

use serde_json::{Value, json};

use super::{Declaration, IncidentActor, Reply};
use crate::domain::block_ids::block;
use crate::domain::event::{Click, DeclareForm};
use crate::render::context::{DeclareModal, Labelled};
use crate::slack::ApiErrorCode;

impl IncidentActor {
    /// Opens the declare form for the clicker (the usage message's button).
    /// No incident yet: the span carries where the form was asked for.
    #[tracing::instrument(skip_all, fields(channel = %click.channel))]
    pub(super) async fn open_form(&self, click: Click) {
        let Some(trigger) = &click.trigger_id else {
            return;
        };
        let catalog = &self.ctx.config.incident.catalog;
        let modal = DeclareModal {
            channel_id: click.channel.clone(),
            severities: catalog.severities().iter().map(Labelled::from).collect(),
            default_severity: catalog.default_severity().into(),
        };
        let view = match self.ctx.renderer.render_context(&modal) {
            Ok(view) => view,
            Err(e) => {
                tracing::error!(error = %e, "cannot render the declare form");
                return;
            }
        };
        if let Err(e) = self.ctx.slack.open_view(trigger, &view).await {
            tracing::warn!(user = %click.user, error = %e, "cannot open the declare form");
            let text = match e.code() {
                Some(ApiErrorCode::ExpiredTriggerId) => {
                    "The form took too long to open; click the button again.".to_owned()
                }
                _ => format!(
                    "I could not open the form; type `{} <what is wrong>` instead.",
                    self.ctx.config.slack.command
                ),
            };
            self.ctx.tell(&click, &text).await;
        }
    }

    /// Declares from a submitted form.
    pub(super) async fn on_form(&self, form: DeclareForm) {
        let declaration = Declaration {
            description: form.description.trim().to_owned(),
            severity: form.severity.clone(),
            user: form.user.clone(),
            source: form.source.clone(),
            reply: Reply::Person,
            slug: None,
            origin: None,
            private: form.private,
        };
        // The ack normally carried any errors and kept the form open; this
        // catches a submission whose check missed the ack budget.
        if !form_errors(&form, &self.ctx.config.incident.catalog).is_empty() {
            let text = format!(
                "The declare form was incomplete; nothing was created. Open it again from `{}`.",
                self.ctx.config.slack.command
            );
            self.tell(&declaration, &text).await;
            return;
        }
        self.declare(&declaration).await;
    }
}

/// What is wrong with a submitted declare form, by block id.
pub(super) fn form_errors(
    form: &DeclareForm,
    catalog: &crate::domain::incident::Catalog,
) -> serde_json::Map<String, Value> {
    let mut errors = serde_json::Map::new();
    if form.description.trim().is_empty() {
        errors.insert(
            block::DESCRIPTION.into(),
            json!("Say what is wrong, e.g. “checkout returns 500 errors”."),
        );
    }
    if let Some(severity) = &form.severity
        && catalog.severity(severity).is_none()
    {
        errors.insert(
            block::SEVERITY.into(),
            json!("Pick one of the listed severities."),
        );
    }
    errors
}
