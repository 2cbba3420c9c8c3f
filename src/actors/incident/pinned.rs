//! The pinned control message stays there while the incident is open:
//! someone who unpins it sees it pinned again at once, one who deletes it
//! sees it posted again at the next change (see the publisher), and
//! `@janus control` in the incident channel does both on demand.

use serde_json::json;

use super::IncidentActor;
use crate::domain::event::{Mention, Unpin};

impl IncidentActor {
    /// `@janus control` in an incident channel: the control message is
    /// posted again if someone deleted it, pinned again if someone unpinned
    /// it, and the asker gets a link to it. Anywhere else, the asker is
    /// told where it works.
    pub(super) async fn restore_control(&self, m: &Mention) {
        let incident = match self.store.incidents.incident_by_channel(&m.channel).await {
            Ok(Some(incident)) => incident,
            Ok(None) => {
                let text = "`control` works in an incident's channel: there it brings back the \
                            pinned control message.";
                return self.tell_asker(m, text, None).await;
            }
            Err(e) => {
                tracing::error!(channel = %m.channel, error = %e, "cannot look up the incident of a channel");
                let text = "I cannot reach my database right now; try again in a minute.";
                return self.tell_asker(m, text, None).await;
            }
        };
        let text = match self.publisher.restore_control(incident.id).await {
            Ok(Some(ts)) => match self.ctx.slack.permalink(&m.channel, &ts).await {
                Ok(link) => format!("The <{link}|control message> is pinned in this channel."),
                Err(_) => "The control message is pinned in this channel.".to_owned(),
            },
            Ok(None) => "This incident's control message is not posted yet: it follows as \
                         soon as the declaration is done."
                .to_owned(),
            Err(problem) => problem.to_string(),
        };
        self.tell_asker(m, &text, None).await;
    }

    /// `pin_removed`: when it is an open incident's control message, it
    /// is pinned again, and the person who unpinned it hears why.
    pub(super) async fn on_unpin(&self, unpin: Unpin) {
        if unpin.user == self.ctx.bot.user_id {
            return;
        }
        let incident = match self
            .store
            .incidents
            .incident_by_channel(&unpin.channel)
            .await
        {
            Ok(Some(incident)) => incident,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(channel = %unpin.channel, error = %e,
                    "cannot tell whether an unpinned message is a control message");
                return;
            }
        };
        // A resolved incident's channel is the team's to tidy up.
        if incident.control_ts.as_ref() != Some(&unpin.ts) || incident.resolved_at.is_some() {
            return;
        }
        tracing::info!(incident = %incident.id, user = %unpin.user, "control message unpinned; pinning it again");
        if let Err(problem) = self.publisher.restore_control(incident.id).await {
            tracing::warn!(incident = %incident.id, "{}", problem.log_line());
            return;
        }
        let payload = json!({
            "text": "I pinned the control message again: it stays pinned while the incident is open, so everyone can find the roles, status and severity.",
        });
        self.ctx
            .tell_person(Some(&unpin.channel), &unpin.user, &payload)
            .await;
    }
}
