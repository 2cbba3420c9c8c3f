//! Third-party status snapshot: one message in each new incident channel
//! showing how the configured providers are doing, with a Refresh button
//! that edits it in place.
//!
//! Fetching never holds up a declaration: the incident actor only queues a
//! request here. A provider that fails is a warning row, never a failed
//! incident (see `crate::providers`).

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Context;
use super::control::Click;
use crate::domain::ids::{ChannelId, MessageTs};
use crate::providers::{self, ProviderClient};
use crate::store::IncidentId;

const INBOX_CAPACITY: usize = 64;

enum Msg {
    Post(ChannelId, Option<IncidentId>),
    Refresh(ChannelId, MessageTs),
}

/// Cheap handle to the snapshot actor.
#[derive(Clone)]
pub struct SnapshotHandle {
    tx: mpsc::Sender<Msg>,
}

impl SnapshotHandle {
    /// Starts the actor; it ends when every handle is dropped.
    pub fn start(ctx: Arc<Context>, client: ProviderClient) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let actor = SnapshotActor { ctx, client };
        (Self { tx }, tokio::spawn(actor.run(rx)))
    }

    /// Posts a snapshot in a new incident channel, then records the
    /// declaration step `snapshot` of `incident`.
    pub async fn post(&self, channel: ChannelId, incident: Option<IncidentId>) {
        self.send(Msg::Post(channel, incident)).await;
    }

    /// The snapshot's Refresh button.
    pub async fn refresh(&self, click: Click) {
        if let Some(ts) = click.message_ts {
            self.send(Msg::Refresh(click.channel, ts)).await;
        }
    }

    async fn send(&self, msg: Msg) {
        if self.tx.send(msg).await.is_err() {
            tracing::error!("snapshot actor has stopped; request not handled");
        }
    }
}

struct SnapshotActor {
    ctx: Arc<Context>,
    client: ProviderClient,
}

impl SnapshotActor {
    async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Post(channel, incident) => {
                    self.show(&channel, None).await;
                    if let Some(id) = incident
                        && let Err(e) = self.ctx.store.mark_step(id, "snapshot").await
                    {
                        tracing::warn!(incident = %id, error = %e, "cannot record the snapshot step");
                    }
                }
                Msg::Refresh(channel, ts) => self.show(&channel, Some(&ts)).await,
            }
        }
    }

    /// Fetches every provider at once and posts (or, with `ts`, edits) the
    /// snapshot message.
    async fn show(&self, channel: &ChannelId, ts: Option<&MessageTs>) {
        let Some(config) = &self.ctx.config.providers else {
            return;
        };
        let results = self.client.snapshot(&config.list).await;
        let data = providers::view(&results, Utc::now());
        let blocks = match self.ctx.renderer.render("provider_snapshot", &data) {
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
