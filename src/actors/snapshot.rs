//! Third-party status snapshot: one message in each new incident channel
//! showing how the configured providers are doing, with a Refresh button
//! that edits it in place.
//!
//! Fetching never holds up a declaration: posting runs in a task of its own. A provider that fails is a warning row, never a failed
//! incident (see `crate::providers`).

use std::sync::Arc;

use chrono::Utc;
use tracing::Instrument;
use tracing::field::{Empty, display};

use super::Context;
use crate::domain::declaration::DeclarationStep;
use crate::domain::event::Click;
use crate::domain::ids::{ChannelId, MessageTs};
use crate::providers::{self, ProviderClient};
use crate::store::{Declarations, IncidentId};

#[derive(Clone)]
pub struct SnapshotHandle {
    actor: Arc<SnapshotActor>,
}

impl SnapshotHandle {
    /// `client` fetches the providers configured in `ctx`.
    pub fn new(
        ctx: Arc<Context>,
        client: ProviderClient,
        declarations: Arc<dyn Declarations>,
    ) -> Self {
        Self {
            actor: Arc::new(SnapshotActor {
                ctx,
                client,
                declarations,
            }),
        }
    }

    /// Posts a snapshot in a new incident channel in a task of its own (the
    /// declaration does not wait for the providers), then records the
    /// declaration step `snapshot` of `incident`.
    pub fn post(&self, channel: ChannelId, incident: Option<IncidentId>) {
        let actor = self.actor.clone();
        let span = tracing::info_span!("snapshot", channel = %channel, incident = Empty);
        if let Some(id) = incident {
            span.record("incident", display(id));
        }
        let task = async move {
            actor.show(&channel, None).await;
            if let Some(id) = incident
                && let Err(e) = actor
                    .declarations
                    .mark_step(id, DeclarationStep::Snapshot)
                    .await
            {
                tracing::warn!(incident = %id, error = %e, "cannot record the snapshot step");
            }
        };
        self.actor.ctx.tasks.spawn(task.instrument(span));
    }

    /// The snapshot's Refresh button: edits the message in place.
    #[tracing::instrument(skip_all, fields(channel = %click.channel))]
    pub async fn refresh(&self, click: Click) {
        if let Some(ts) = click.message_ts {
            self.actor.show(&click.channel, Some(&ts)).await;
        }
    }
}

struct SnapshotActor {
    ctx: Arc<Context>,
    client: ProviderClient,
    /// The declaration step of a new incident's snapshot.
    declarations: Arc<dyn Declarations>,
}

impl SnapshotActor {
    /// Fetches every provider at once and posts (or, with `ts`, edits) the
    /// snapshot message.
    async fn show(&self, channel: &ChannelId, ts: Option<&MessageTs>) {
        let Some(config) = &self.ctx.config.providers else {
            return;
        };
        let results = self.client.snapshot(&config.list).await;
        let snapshot = providers::view(&results, Utc::now());
        let blocks = match self.ctx.renderer.render_context(&snapshot) {
            Ok(blocks) => blocks,
            Err(e) => {
                tracing::error!(error = %e, "cannot render the provider snapshot");
                return;
            }
        };
        let text = "Third-party status";
        let result = match ts {
            Some(ts) => {
                self.ctx
                    .slack
                    .update_message(channel, ts, text, &blocks)
                    .await
            }
            None => self
                .ctx
                .slack
                .post_message(channel, text, &blocks, None)
                .await
                .map(|_| ()),
        };
        if let Err(e) = result {
            tracing::warn!(channel = %channel, error = %e, "cannot show the provider snapshot");
        }
    }
}
