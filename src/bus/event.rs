//! Envelope → typed event, plus the two keys the bus needs: the dedupe key
//! (what makes a redelivery recognisable) and the lane key (what must be
//! handled in order).
//!
//! The keys are read from the raw JSON, not from the typed payload, so that
//! an envelope slack-morphism cannot type is still deduplicated and ordered.
//!
//! All reading of Slack's payload JSON is here. The types it produces (a
//! [`Mention`], a [`Click`], a submitted form…) are plain data in
//! `crate::domain::event`, not here: the actors take them as arguments, and
//! since the bus calls the actors, the actors must not depend on the bus.

use serde::Deserialize;
use serde_json::Value;
use slack_morphism::prelude::*;

use super::envelope::{Envelope, EnvelopeKind};
use crate::domain::block_ids::{action, block, callback};
use crate::domain::event::{
    Click, DeclareForm, Mention, Reaction, SlashCommand, StatuspageForm, Unpin, UpdateForm,
};
use crate::domain::ids::IncidentId;
use crate::domain::ids::{ChannelId, MessageTs, UserId};
use crate::domain::text::{LOG_SNIPPET_CHARS, payload_snippet, redact_values_of};

/// What identifies one delivery of one thing, across sockets, restarts and
/// replicas: Slack's `event_id` for events (redeliveries get a new envelope
/// id but keep it), the envelope id for everything else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupeKey(String);

impl DedupeKey {
    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Events with the same lane key are handled one after another, in arrival
/// order; different keys run concurrently. The key is the channel the event
/// concerns, which for anything inside an incident is the incident.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LaneKey(String);

impl LaneKey {
    /// The lane for events that concern no channel.
    pub fn global() -> Self {
        Self(String::new())
    }
}

/// A typed event, ready for the actors.
#[derive(Debug)]
pub enum Event {
    /// `app_mention`.
    Mention(Mention),
    /// An emoji reaction on a message.
    Reaction(Reaction),
    /// A message unpinned (`pin_removed`).
    Unpinned(Unpin),
    Command {
        command: SlackCommandEvent,
        /// Whether the ack already answered the person (e.g. usage).
        answered_in_ack: bool,
    },
    /// Clicks and selects on a message (`block_actions`).
    Clicks(Vec<Click>),
    /// A Statuspage form, submitted.
    StatuspageForm {
        form: StatuspageForm,
        /// Whether the ack carried errors (the form stayed open).
        rejected_in_ack: bool,
    },
    /// The Post update form, submitted.
    UpdateForm {
        form: UpdateForm,
        /// Whether the ack carried errors (the form stayed open).
        rejected_in_ack: bool,
    },
    /// The declare form, submitted.
    DeclareForm {
        form: DeclareForm,
        /// Whether the ack carried errors (the form stayed open).
        rejected_in_ack: bool,
    },
    /// A modal submission, shortcut or other interaction.
    Interaction(Box<SlackInteractionEvent>),
    /// An Events API event Janus does not act on (yet).
    Ignored {
        /// Its `event.type`, for the log.
        event_type: String,
    },
    /// A payload that did not parse; logged, never acted on.
    Unparsed {
        /// Why, with a snippet of the payload.
        reason: String,
    },
}

/// Reduces slack-morphism's command to the fields the actors use,
/// validating the ids.
pub fn slash_command(
    command: SlackCommandEvent,
    answered_in_ack: bool,
) -> Result<SlashCommand, String> {
    let bad = |what: &str| format!("slash command with a malformed {what}");
    Ok(SlashCommand {
        command: command.command.0,
        text: command.text.unwrap_or_default(),
        user: UserId::parse(command.user_id.as_ref()).map_err(|_| bad("user_id"))?,
        channel: ChannelId::parse(command.channel_id.as_ref()).map_err(|_| bad("channel_id"))?,
        response_url: command.response_url.0,
        answered_in_ack,
    })
}

/// Reads a `block_actions` payload from its JSON. slack-morphism's typed
/// action drops `selected_user` (the users select), so this reads the few
/// fields Janus needs itself.
fn clicks(payload: &Value, delivery: &DedupeKey) -> Option<Vec<Click>> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let user = UserId::parse(payload.pointer("/user/id")?.as_str()?).ok()?;
    let channel = payload
        .pointer("/channel/id")
        .or_else(|| payload.pointer("/container/channel_id"))
        .and_then(Value::as_str)
        .and_then(|c| ChannelId::parse(c).ok())?;
    let message_ts = payload
        .pointer("/container/message_ts")
        .or_else(|| payload.pointer("/message/ts"))
        .and_then(Value::as_str)
        .and_then(|t| MessageTs::parse(t).ok());
    let response_url = text(payload.get("response_url")).and_then(|u| url::Url::parse(&u).ok());
    let actions = payload.get("actions")?.as_array()?;
    Some(
        actions
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                Some(Click {
                    delivery: format!("{}/{i}", delivery.as_str()),
                    user: user.clone(),
                    channel: channel.clone(),
                    message_ts: message_ts.clone(),
                    response_url: response_url.clone(),
                    action_id: text(a.get("action_id"))?,
                    value: text(a.pointer("/selected_option/value"))
                        .or_else(|| text(a.get("value"))),
                    selected_user: text(a.get("selected_user"))
                        .and_then(|u| UserId::parse(&u).ok()),
                    trigger_id: text(payload.get("trigger_id")),
                })
            })
            .collect(),
    )
}

/// Reads a `reaction_added` on a message from its JSON.
/// Reads a `pin_removed` of a message; `None` for a file or a malformed one.
fn unpin(payload: &Value) -> Option<Unpin> {
    let event = payload.get("event")?;
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    if text("/item/type")? != "message" {
        return None;
    }
    Some(Unpin {
        user: UserId::parse(text("/user")?).ok()?,
        channel: ChannelId::parse(text("/channel_id")?).ok()?,
        ts: MessageTs::parse(text("/item/message/ts")?).ok()?,
    })
}

fn reaction(payload: &Value) -> Option<Reaction> {
    let event = payload.get("event")?;
    if event.pointer("/item/type")?.as_str()? != "message" {
        return None;
    }
    Some(Reaction {
        user: UserId::parse(event.get("user")?.as_str()?).ok()?,
        emoji: event.get("reaction")?.as_str()?.to_owned(),
        channel: ChannelId::parse(event.pointer("/item/channel")?.as_str()?).ok()?,
        ts: MessageTs::parse(event.pointer("/item/ts")?.as_str()?).ok()?,
        added: event.get("type")?.as_str()? == "reaction_added",
    })
}

/// The one element of input block `block` in a submitted view's
/// `state.values`.
fn input<'a>(values: &'a Value, block: &str) -> Option<&'a Value> {
    values.get(block)?.get(action::INPUT)
}

/// Reads a submission of a Statuspage form (`janus.statuspage.create` or
/// `janus.statuspage.update`); `None` for any other payload.
pub fn statuspage_form(payload: &Value) -> Option<StatuspageForm> {
    if payload.get("type")?.as_str()? != "view_submission" {
        return None;
    }
    let callback_id = payload.pointer("/view/callback_id")?.as_str()?;
    if !callback_id.starts_with(callback::STATUSPAGE_PREFIX) {
        return None;
    }
    let values = payload.pointer("/view/state/values")?;
    let text = |block: &str| {
        input(values, block)
            .and_then(|i| i.get("value"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let selected = |block: &str| {
        input(values, block)
            .and_then(|i| i.pointer("/selected_option/value"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let incident = IncidentId(statuspage_metadata(payload)?.0.parse().ok()?);
    let user = UserId::parse(payload.pointer("/user/id")?.as_str()?).ok()?;
    let notify = selected(block::SP_NOTIFY) != "no";
    match callback_id {
        callback::STATUSPAGE_CREATE => Some(StatuspageForm::Create {
            incident,
            user,
            name: text(block::SP_NAME),
            body: text(block::SP_BODY),
            impact: selected(block::SP_IMPACT),
            components: input(values, block::SP_COMPONENTS)
                .and_then(|i| i.get("selected_options"))
                .and_then(Value::as_array)
                .map(|options| {
                    options
                        .iter()
                        .filter_map(|o| o.get("value").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            component_status: selected(block::SP_COMPONENT_STATUS),
            notify,
        }),
        callback::STATUSPAGE_UPDATE => Some(StatuspageForm::Update {
            incident,
            user,
            status: selected(block::SP_STATUS),
            body: text(block::SP_BODY),
            notify,
        }),
        _ => None,
    }
}

/// Reads a submission of the Post update form (`view_submission` with
/// callback id `janus.update`); `None` for any other payload. `delivery` is
/// the envelope's key, the fallback when the view has no id.
pub fn update_form(payload: &Value, delivery: &DedupeKey) -> Option<UpdateForm> {
    if payload.get("type")?.as_str()? != "view_submission"
        || payload.pointer("/view/callback_id")?.as_str()? != callback::UPDATE
    {
        return None;
    }
    let values = payload.pointer("/view/state/values")?;
    let (incident, channel) = incident_metadata(payload)?;
    Some(UpdateForm {
        incident: IncidentId(incident.parse().ok()?),
        channel: channel.and_then(|c| ChannelId::parse(c).ok()),
        user: UserId::parse(payload.pointer("/user/id")?.as_str()?).ok()?,
        text: input(values, block::UPDATE_TEXT)
            .and_then(|i| i.get("value"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        status: input(values, block::UPDATE_STATUS)
            .and_then(|i| i.pointer("/selected_option/value"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        delivery: match payload.pointer("/view/id").and_then(Value::as_str) {
            Some(view) if !view.is_empty() => format!("view:{view}"),
            _ => delivery.as_str().to_owned(),
        },
    })
}

/// Reads a submission of Janus's declare form (`view_submission` with
/// callback id `janus.declare`); `None` for any other payload.
pub fn declare_form(payload: &Value) -> Option<DeclareForm> {
    if payload.get("type")?.as_str()? != "view_submission"
        || payload.pointer("/view/callback_id")?.as_str()? != callback::DECLARE
    {
        return None;
    }
    let values = payload.pointer("/view/state/values")?;
    Some(DeclareForm {
        user: UserId::parse(payload.pointer("/user/id")?.as_str()?).ok()?,
        description: input(values, block::DESCRIPTION)
            .and_then(|i| i.get("value"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default(),
        severity: input(values, block::SEVERITY)
            .and_then(|i| i.pointer("/selected_option/value"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        source: payload
            .pointer("/view/private_metadata")
            .and_then(Value::as_str)
            .and_then(|c| ChannelId::parse(c).ok()),
        private: input(values, block::PRIVATE)
            .and_then(|i| i.get("selected_options"))
            .and_then(Value::as_array)
            .is_some_and(|options| {
                options
                    .iter()
                    .any(|o| o.get("value").and_then(Value::as_str) == Some("private"))
            }),
    })
}

/// The home team of the person who clicked or submitted, as interactive
/// payloads say it (`user.team_id`): another organisation's in a Slack
/// Connect channel.
pub fn user_team(payload: &Value) -> Option<&str> {
    payload.pointer("/user/team_id").and_then(Value::as_str)
}

/// The interaction's `type`, for logs.
pub fn interaction_kind(interaction: &SlackInteractionEvent) -> &'static str {
    match interaction {
        SlackInteractionEvent::BlockActions(_) => "block_actions",
        SlackInteractionEvent::BlockSuggestion(_) => "block_suggestion",
        SlackInteractionEvent::DialogSubmission(_) => "dialog_submission",
        SlackInteractionEvent::MessageAction(_) => "message_action",
        SlackInteractionEvent::Shortcut(_) => "shortcut",
        SlackInteractionEvent::ViewSubmission(_) => "view_submission",
        SlackInteractionEvent::ViewClosed(_) => "view_closed",
    }
}

/// What makes two deliveries the same: an event's `event_id` (Slack gives
/// a redelivered event a new envelope), else the envelope's id.
pub fn dedupe_key(envelope: &Envelope) -> DedupeKey {
    match (&envelope.kind, envelope.payload.get("event_id")) {
        (EnvelopeKind::EventsApi, Some(Value::String(id))) if !id.is_empty() => {
            DedupeKey(format!("event:{id}"))
        }
        _ => DedupeKey(format!("envelope:{}", envelope.envelope_id)),
    }
}

/// Where an envelope is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// In the lane of this key, after every earlier envelope of the same
    /// key: clicks on an incident's messages and its Statuspage forms, so
    /// one incident's changes apply in arrival order.
    Lane(LaneKey),
    /// In a task of its own, waiting for nothing: what concerns no existing
    /// incident (help, list, declarations, react-to-create), so neither a
    /// slow declaration nor a busy incident can hold it up.
    Alone,
}

/// Reads an envelope's route from its raw JSON. A reaction with
/// `timeline_emoji` marks (or unmarks) a message of an incident channel:
/// it goes through that channel's lane, so a mark and its removal apply in
/// order; other reactions (react-to-create) run alone.
pub fn route(envelope: &Envelope, timeline_emoji: &str) -> Route {
    let p = &envelope.payload;
    let text = |pointer: &str| p.pointer(pointer).and_then(Value::as_str);
    let lane = |channel: Option<&str>| {
        Route::Lane(channel.map_or_else(LaneKey::global, |c| LaneKey(c.to_owned())))
    };
    match envelope.kind {
        EnvelopeKind::EventsApi => match text("/event/type") {
            Some("reaction_added" | "reaction_removed")
                if text("/event/reaction").map(crate::domain::event::base_emoji)
                    == Some(timeline_emoji) =>
            {
                lane(text("/event/item/channel"))
            }
            Some("app_mention" | "reaction_added" | "reaction_removed") => Route::Alone,
            // In the incident's lane, like its clicks.
            Some("pin_removed") => lane(text("/event/channel_id")),
            _ => lane(text("/event/channel").or_else(|| text("/event/item/channel"))),
        },
        EnvelopeKind::Interactive => match text("/type") {
            Some("block_actions") => {
                lane(text("/channel/id").or_else(|| text("/container/channel_id")))
            }
            Some("view_submission")
                if text("/view/callback_id")
                    .is_some_and(|c| c.starts_with(callback::STATUSPAGE_PREFIX)) =>
            {
                lane(statuspage_metadata(p).and_then(|(_, channel)| channel))
            }
            // In the incident's lane, like its status select.
            Some("view_submission") if text("/view/callback_id") == Some(callback::UPDATE) => {
                lane(incident_metadata(p).and_then(|(_, channel)| channel))
            }
            _ => Route::Alone,
        },
        EnvelopeKind::SlashCommands | EnvelopeKind::Other(_) => Route::Alone,
    }
}

/// A Statuspage modal's `private_metadata`: `INCIDENT_ID:CHANNEL_ID`, or
/// only the id (templates customised before the channel was added).
fn statuspage_metadata(payload: &Value) -> Option<(&str, Option<&str>)> {
    incident_metadata(payload)
}

/// An incident modal's `private_metadata`: `INCIDENT_ID:CHANNEL_ID`, or
/// only the id.
fn incident_metadata(payload: &Value) -> Option<(&str, Option<&str>)> {
    let metadata = payload.pointer("/view/private_metadata")?.as_str()?;
    Some(match metadata.split_once(':') {
        Some((id, channel)) => (id, Some(channel).filter(|c| !c.is_empty())),
        None => (metadata, None),
    })
}

/// A payload that did not type, for the log: what and why, and a snippet
/// of it without its `token`, `response_url` or `trigger_id` (see
/// [`payload_snippet`]). The error too may quote a value (serde's
/// `invalid value: string "…"`): any secret one is redacted.
fn unparsed(what: &str, err: impl std::fmt::Display, payload: &Value) -> Event {
    Event::Unparsed {
        reason: format!(
            "{what}: {}; payload: {}",
            redact_values_of(payload, &err.to_string()),
            payload_snippet(payload, LOG_SNIPPET_CHARS)
        ),
    }
}

/// Types an envelope's payload. The payload's tree was built once, when the
/// envelope was parsed; slack-morphism's types are read from it by
/// reference (`&Value` is a deserializer), never from a clone of it.
pub fn classify(envelope: &Envelope) -> Event {
    let payload = &envelope.payload;
    match &envelope.kind {
        EnvelopeKind::EventsApi => match SlackPushEventCallback::deserialize(payload) {
            Ok(callback) => classify_push(callback.event, payload),
            Err(e) => unparsed("events_api payload", e, payload),
        },
        EnvelopeKind::SlashCommands => match SlackCommandEvent::deserialize(payload) {
            Ok(command) => Event::Command {
                command,
                answered_in_ack: envelope.answered_in_ack,
            },
            Err(e) => unparsed("slash command payload", e, payload),
        },
        EnvelopeKind::Interactive if payload.get("type") == Some(&Value::from("block_actions")) => {
            match clicks(payload, &dedupe_key(envelope)) {
                Some(clicks) => Event::Clicks(clicks),
                // Janus has no modals with actions yet.
                None if payload.pointer("/container/type") == Some(&Value::from("view")) => {
                    Event::Ignored {
                        event_type: "block_actions in a modal".into(),
                    }
                }
                None => unparsed("block_actions", "no user or channel", payload),
            }
        }
        EnvelopeKind::Interactive => {
            let rejected_in_ack = envelope.answered_in_ack;
            if let Some(form) = statuspage_form(payload) {
                return Event::StatuspageForm {
                    form,
                    rejected_in_ack,
                };
            }
            if let Some(form) = update_form(payload, &dedupe_key(envelope)) {
                return Event::UpdateForm {
                    form,
                    rejected_in_ack,
                };
            }
            if let Some(form) = declare_form(payload) {
                return Event::DeclareForm {
                    form,
                    rejected_in_ack,
                };
            }
            match SlackInteractionEvent::deserialize(payload) {
                Ok(interaction) => Event::Interaction(Box::new(interaction)),
                Err(e) => unparsed("interactive payload", e, payload),
            }
        }
        EnvelopeKind::Other(kind) => unparsed(
            &format!("envelope type {kind:?}"),
            "unknown to Janus",
            payload,
        ),
    }
}

fn classify_push(body: SlackEventCallbackBody, payload: &Value) -> Event {
    match body {
        SlackEventCallbackBody::AppMention(m) => {
            let mention = (|| {
                Some(Mention {
                    channel: ChannelId::parse(m.channel.as_ref()).ok()?,
                    user: UserId::parse(m.user.as_ref()).ok()?,
                    text: m.content.text.clone().unwrap_or_default(),
                    ts: MessageTs::parse(m.origin.ts.as_ref()).ok()?,
                    thread_ts: m
                        .origin
                        .thread_ts
                        .as_ref()
                        .and_then(|t| MessageTs::parse(t.as_ref()).ok()),
                })
            })();
            match mention {
                Some(mention) => Event::Mention(mention),
                None => unparsed("app_mention", "malformed channel, user or ts", payload),
            }
        }
        SlackEventCallbackBody::ReactionAdded(_) | SlackEventCallbackBody::ReactionRemoved(_) => {
            match reaction(payload) {
                Some(r) => Event::Reaction(r),
                None => Event::Ignored {
                    event_type: "reaction_added on something other than a message".into(),
                },
            }
        }
        _ => {
            let event_type = payload.pointer("/event/type").and_then(Value::as_str);
            match (event_type, unpin(payload)) {
                (Some("pin_removed"), Some(unpin)) => Event::Unpinned(unpin),
                (Some("pin_removed"), None) => Event::Ignored {
                    event_type: "pin_removed of something other than a message".into(),
                },
                _ => Event::Ignored {
                    event_type: event_type.unwrap_or("unknown").to_owned(),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(kind: EnvelopeKind, payload: Value) -> Envelope {
        Envelope {
            envelope_id: "env-1".into(),
            kind,
            payload,
            accepts_response_payload: false,
            retry_attempt: None,
            retry_reason: None,
            answered_in_ack: false,
            span: tracing::Span::none(),
        }
    }

    #[test]
    fn events_dedupe_on_event_id_and_everything_else_on_envelope_id() {
        let ev = envelope(EnvelopeKind::EventsApi, json!({"event_id": "Ev1"}));
        assert_eq!(dedupe_key(&ev).as_str(), "event:Ev1");
        let cmd = envelope(EnvelopeKind::SlashCommands, json!({"event_id": "Ev1"}));
        assert_eq!(dedupe_key(&cmd).as_str(), "envelope:env-1");
    }

    #[test]
    fn clicks_statuspage_and_update_forms_run_in_the_lane_of_their_incident_channel() {
        let lane = |c: &str| Route::Lane(LaneKey(c.into()));
        let cases = [
            json!({"type": "block_actions", "channel": {"id": "C1"}}),
            json!({"type": "block_actions", "container": {"channel_id": "C1"}}),
            json!({"type": "view_submission",
                "view": {"callback_id": callback::STATUSPAGE_UPDATE, "private_metadata": "7:C1"}}),
            json!({"type": "view_submission",
                "view": {"callback_id": callback::UPDATE, "private_metadata": "7:C1"}}),
        ];
        for payload in cases {
            let route = route(
                &envelope(EnvelopeKind::Interactive, payload.clone()),
                "pushpin",
            );
            assert_eq!(route, lane("C1"), "{payload}");
        }
        // A form rendered by a template from before the channel was added.
        let old = json!({"type": "view_submission",
            "view": {"callback_id": callback::STATUSPAGE_CREATE, "private_metadata": "7"}});
        assert_eq!(
            route(&envelope(EnvelopeKind::Interactive, old), "pushpin"),
            Route::Lane(LaneKey::global())
        );
    }

    #[test]
    fn what_concerns_no_existing_incident_runs_alone() {
        let cases = [
            (
                EnvelopeKind::EventsApi,
                json!({"event": {"type": "app_mention", "channel": "C1"}}),
            ),
            (
                EnvelopeKind::EventsApi,
                json!({"event": {"type": "reaction_added", "reaction": "fire", "item": {"channel": "C1"}}}),
            ),
            (EnvelopeKind::SlashCommands, json!({"channel_id": "C1"})),
            (
                EnvelopeKind::Interactive,
                json!({"type": "view_submission", "view": {"callback_id": callback::DECLARE}}),
            ),
            (EnvelopeKind::Interactive, json!({"type": "shortcut"})),
        ];
        for (kind, payload) in cases {
            assert_eq!(
                route(&envelope(kind, payload.clone()), "pushpin"),
                Route::Alone,
                "{payload}"
            );
        }
    }

    #[test]
    fn a_timeline_mark_and_its_removal_go_through_their_channels_lane() {
        for kind in ["reaction_added", "reaction_removed"] {
            for emoji in ["pushpin", "pushpin::skin-tone-3"] {
                let payload = json!({"event": {"type": kind, "reaction": emoji,
                    "item": {"type": "message", "channel": "C1", "ts": "1.2"}}});
                assert_eq!(
                    route(&envelope(EnvelopeKind::EventsApi, payload), "pushpin"),
                    Route::Lane(LaneKey("C1".into())),
                    "{kind} {emoji}"
                );
            }
        }
    }

    /// A `view_submission` of modal `callback_id` with `values` as its state.
    fn submission(callback_id: &str, metadata: &str, values: Value) -> Value {
        json!({"type": "view_submission", "user": {"id": "U0ALICE01"},
            "view": {"callback_id": callback_id, "private_metadata": metadata,
                "state": {"values": values}}})
    }

    fn typed(value: &str) -> Value {
        json!({ action::INPUT: {"type": "plain_text_input", "value": value} })
    }

    fn chosen(value: &str) -> Value {
        json!({ action::INPUT: {"type": "static_select", "selected_option": {"value": value}} })
    }

    #[test]
    fn a_declare_form_is_read_from_its_input_blocks() {
        let values =
            json!({ block::DESCRIPTION: typed("checkout down"), block::SEVERITY: chosen("sev2") });
        let form = declare_form(&submission(callback::DECLARE, "C0GENERAL1", values)).unwrap();
        assert_eq!(form.description, "checkout down");
        assert_eq!(form.severity.as_deref(), Some("sev2"));
        assert_eq!(form.source.unwrap().as_str(), "C0GENERAL1");
        let other = submission("someone.else", "", json!({}));
        assert!(declare_form(&other).is_none());
    }

    #[test]
    fn an_update_form_is_read_from_its_input_blocks_and_keyed_by_its_view() {
        let values = json!({ block::UPDATE_TEXT: typed("rolled back"), block::UPDATE_STATUS: chosen("monitoring") });
        let mut payload = submission(callback::UPDATE, "7:C0INC0001", values);
        let fallback = DedupeKey("envelope:env-1".into());
        let form = update_form(&payload, &fallback).unwrap();
        assert_eq!(form.incident, IncidentId(7));
        assert_eq!(form.channel.unwrap().as_str(), "C0INC0001");
        assert_eq!(form.text, "rolled back");
        assert_eq!(form.status.as_deref(), Some("monitoring"));
        assert_eq!(
            form.delivery, "envelope:env-1",
            "no view id: the envelope's key"
        );
        payload["view"]["id"] = json!("V0MODAL01");
        let form = update_form(&payload, &fallback).unwrap();
        assert_eq!(form.delivery, "view:V0MODAL01", "one modal, one update");
        // No status chosen: keep it.
        let kept = json!({ block::UPDATE_TEXT: typed("x"),
            block::UPDATE_STATUS: { action::INPUT: {"type": "static_select", "selected_option": null} } });
        let form = update_form(&submission(callback::UPDATE, "7:C1", kept), &fallback).unwrap();
        assert_eq!(form.status, None);
        assert!(update_form(&submission(callback::DECLARE, "C1", json!({})), &fallback).is_none());
    }

    #[test]
    fn both_statuspage_forms_are_read_from_their_input_blocks() {
        let create = json!({
            block::SP_NAME: typed("Checkout errors"), block::SP_BODY: typed("Looking"),
            block::SP_IMPACT: chosen("major"), block::SP_COMPONENT_STATUS: chosen("major_outage"),
            block::SP_NOTIFY: chosen("no"),
            block::SP_COMPONENTS: { action::INPUT: {"type": "multi_static_select",
                "selected_options": [{"value": "c1"}, {"value": "c2"}]}},
        });
        match statuspage_form(&submission(callback::STATUSPAGE_CREATE, "7:C1", create)) {
            Some(StatuspageForm::Create {
                incident,
                name,
                body,
                impact,
                components,
                component_status,
                notify,
                ..
            }) => {
                assert_eq!(incident, IncidentId(7));
                assert_eq!(
                    (name.as_str(), body.as_str()),
                    ("Checkout errors", "Looking")
                );
                assert_eq!(
                    (impact.as_str(), component_status.as_str()),
                    ("major", "major_outage")
                );
                assert_eq!(components, ["c1", "c2"]);
                assert!(!notify);
            }
            other => panic!("{other:?}"),
        }
        let update =
            json!({ block::SP_STATUS: chosen("monitoring"), block::SP_BODY: typed("Fixed") });
        match statuspage_form(&submission(callback::STATUSPAGE_UPDATE, "7", update)) {
            Some(StatuspageForm::Update {
                status,
                body,
                notify,
                ..
            }) => {
                assert_eq!((status.as_str(), body.as_str()), ("monitoring", "Fixed"));
                assert!(notify, "notifying is the default");
            }
            other => panic!("{other:?}"),
        }
    }

    fn fixture(text: &str) -> Value {
        serde_json::from_str::<Value>(text).unwrap()["payload"].take()
    }

    #[test]
    fn each_kind_of_payload_is_typed_from_its_tree() {
        let mention = json!({
            "token": "t", "team_id": "T0FAKE", "api_app_id": "A0FAKE",
            "type": "event_callback", "event_id": "Ev1", "event_time": 1700000100,
            "event": {"type": "app_mention", "user": "U0ALICE01", "text": "<@U0JANUS> help",
                "ts": "1700000100.000200", "channel": "C0GENERAL1",
                "event_ts": "1700000100.000200"},
        });
        match classify(&envelope(EnvelopeKind::EventsApi, mention)) {
            Event::Mention(m) => assert_eq!(m.text, "<@U0JANUS> help"),
            other => panic!("{other:?}"),
        }
        let command = fixture(include_str!(
            "../../tests/fixtures/payloads/slash_commands.json"
        ));
        assert!(matches!(
            classify(&envelope(EnvelopeKind::SlashCommands, command)),
            Event::Command { .. }
        ));
        let shortcut = fixture(include_str!(
            "../../tests/fixtures/payloads/interactive_shortcut.json"
        ));
        assert!(matches!(
            classify(&envelope(EnvelopeKind::Interactive, shortcut)),
            Event::Interaction(_)
        ));
    }

    #[test]
    fn a_payload_that_does_not_type_is_unparsed_not_a_panic() {
        let ev = envelope(EnvelopeKind::SlashCommands, json!({"command": 5}));
        assert!(matches!(classify(&ev), Event::Unparsed { .. }));
    }
}
