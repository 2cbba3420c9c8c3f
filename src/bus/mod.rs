//! The bus: envelopes in (already acked), typed events out to the actors.
//!
//! What the code here promises, exactly:
//! - **One effect per delivery**: a click that changes an incident
//!   (status, severity, a role), and a submitted update form, has its
//!   dedupe key stored *with* the change, in one transaction: a redelivery (on another socket, after a
//!   restart, on another replica) finds it and changes nothing, and a crash
//!   before the commit leaves nothing behind for a redelivery to trip on.
//!   The change's line in the channel follows from what is stored (see
//!   `actors::announce`), its control and digest messages too. Every other
//!   envelope's key is recorded before it is acted on: at most once (a
//!   crash between the record and the work loses that one, e.g. a help).
//! - **Order per incident, and only there**: envelopes about an incident's
//!   messages (clicks in its channel, its Statuspage and update forms) go
//!   through the lane of that channel and are *handled in that lane*, one after
//!   another in arrival order, the actors' work included. Lanes of other
//!   channels run concurrently, so one incident's slow or throttled Slack
//!   call never holds up another's. Updates of the control and digest
//!   messages are the publisher's, one task per incident, rendered from
//!   the database (see `actors::publisher`).
//! - **What concerns no existing incident waits for nothing**: help, list,
//!   slash commands (declarations), the declare form and react-to-create
//!   each run in a task of their own ([`event::Route::Alone`]), at most
//!   [`ALONE_AT_ONCE`] at a time, first come first served; so declarations
//!   never block clicks and a busy incident never delays `help`.
//! - **Acks never wait for work**: a burst is acked as fast as it is read
//!   and held here until handled, however slow one incident's handling is.
//! - **Bounded memory**: every envelope held (in the inbox, a lane or a task
//!   of its own) is charged its frame's bytes against one budget,
//!   [`MEMORY_BUDGET`], until it has been handled. Only when the budget is spent does the socket
//!   reader wait; then Slack's ack deadline passes and Slack redelivers —
//!   which dedupe absorbs. Nothing is dropped here. One budget rather than a
//!   bound per queue, so a busy incident's lane never holds up the others.
//! - **One span per envelope** ([`envelope_span`], opened when its payload
//!   is parsed, off the socket's reader): routing, the lane or task it is
//!   handled in and the actors' work for it all run inside, so every log
//!   line about one click carries its envelope id, type and channel.

mod envelope;
pub mod event;
mod origin;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::actors::Actors;
use crate::actors::access::Refusal;
use crate::actors::control::ControlAction;
use crate::domain::event::Click;
use crate::domain::ids::UserId;
use crate::metrics::Metrics;
use crate::store::Deliveries;

pub use envelope::{Envelope, EnvelopeKind, RawEnvelope, span as envelope_span};
use event::{Event, LaneKey, Route};
use origin::Ours;

/// Frame bytes of the envelopes acked but not yet handled, all sockets and
/// lanes together. 32 MiB holds a burst of ~5,000 large block-action frames
/// (their parsed form takes two to three times as much); a burst that size
/// is far beyond what Slack sends one app.
pub const MEMORY_BUDGET: usize = 32 << 20;
/// A lane with nothing to do for this long ends; the next event starts it again.
const LANE_IDLE: Duration = Duration::from_secs(30);
/// Longest wait between attempts to record a delivery while the store is down.
const STORE_RETRY_CAP: Duration = Duration::from_secs(5);
/// Envelopes handled alone (help, list, declarations…) that run at once;
/// more wait their turn in arrival order. Each ends in a Slack call or two,
/// and Slack's limits are per method: more at once would only wait there.
pub const ALONE_AT_ONCE: usize = 32;

/// What the socket layer hands envelopes to. Cheap to clone.
#[derive(Clone)]
pub struct BusHandle {
    inbox: mpsc::UnboundedSender<Held<Inbound>>,
    budget: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    actors: Actors,
    ours: Arc<Ours>,
}

/// An envelope as it reaches the bus: as read, or already parsed by the
/// socket (to compute a response payload), so it is not parsed twice.
enum Inbound {
    Raw(RawEnvelope),
    Parsed(Envelope),
}

/// An envelope (in the inbox, then parsed in a lane) with its share of the
/// memory budget, given back when it is dropped: after it has been handled.
struct Held<E> {
    envelope: E,
    _charge: Charge,
}

/// A share of the budget, shown in `janus_bus_held_bytes` while held.
struct Charge {
    permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.metrics
            .bus_held(self.permit.num_permits() as u64, false);
        self.metrics.envelope_settled();
    }
}

/// What an envelope costs the budget: its frame's bytes, at least one and
/// at most the whole budget (an envelope larger than the budget waits until
/// the bus is empty, then goes through alone).
fn charge(frame_bytes: usize) -> u32 {
    u32::try_from(frame_bytes.clamp(1, MEMORY_BUDGET)).unwrap_or(u32::MAX)
}

impl BusHandle {
    /// A socket said hello for the app `app_id` (its `connection_info`):
    /// from then on, envelopes for any other app are ignored.
    pub fn hello(&self, app_id: Option<&str>) {
        self.ours.hello(app_id);
    }

    /// The response payload for an envelope that accepts one, if any. Must
    /// stay cheap (no IO): the socket waits for it before acking, within a
    /// fixed budget.
    pub async fn quick_response(&self, envelope: &Envelope) -> Option<Value> {
        if envelope.kind == EnvelopeKind::Interactive {
            if let Some(form) = event::statuspage_form(&envelope.payload) {
                let errors = crate::actors::statuspage::form_errors(&form);
                return (!errors.is_empty())
                    .then(|| serde_json::json!({ "response_action": "errors", "errors": errors }));
            }
            let key = event::dedupe_key(envelope);
            if let Some(form) = event::update_form(&envelope.payload, &key) {
                return self.actors.update.check_form(&form);
            }
            let form = event::declare_form(&envelope.payload)?;
            return self.actors.incident.check_form(&form);
        }
        if envelope.kind != EnvelopeKind::SlashCommands {
            return None;
        }
        let field = |name| envelope.payload.get(name).and_then(Value::as_str);
        self.actors
            .incident
            .quick_response(field("command")?, field("text").unwrap_or(""))
    }

    /// Hands an acked envelope on; its payload is parsed off the socket's
    /// path. Waits only while the memory budget is spent.
    pub async fn deliver(&self, envelope: RawEnvelope) {
        let size = envelope.size;
        self.enqueue(Inbound::Raw(envelope), size).await;
    }

    /// [`BusHandle::deliver`] for an envelope the socket already parsed
    /// (for its response payload); `size` is its frame's bytes.
    pub async fn deliver_parsed(&self, envelope: Envelope, size: usize) {
        self.enqueue(Inbound::Parsed(envelope), size).await;
    }

    async fn enqueue(&self, envelope: Inbound, size: usize) {
        let cost = charge(size);
        let charge = match self.budget.clone().try_acquire_many_owned(cost) {
            Ok(charge) => charge,
            Err(_) => {
                tracing::warn!(
                    budget_bytes = MEMORY_BUDGET,
                    "bus memory budget spent: reading from Slack waits until envelopes have been handled"
                );
                let Ok(charge) = self.budget.clone().acquire_many_owned(cost).await else {
                    // Cannot happen: the budget is never closed.
                    self.metrics.envelope_settled();
                    tracing::error!("bus budget closed; an acked envelope was not handled");
                    return;
                };
                charge
            }
        };
        self.metrics.bus_held(u64::from(cost), true);
        let charge = Charge {
            permit: charge,
            metrics: self.metrics.clone(),
        };
        if self
            .inbox
            .send(Held {
                envelope,
                _charge: charge,
            })
            .is_err()
        {
            tracing::error!("bus has stopped; an acked envelope was not handled");
        }
    }
}

/// Starts the dispatcher. It ends when every [`BusHandle`] is dropped (the
/// sockets have stopped), after the lanes have finished what they hold;
/// `shutdown` only cuts short waits for an unavailable store.
pub fn start(
    deliveries: Arc<dyn Deliveries>,
    actors: Actors,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> (BusHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let ours = Arc::new(Ours::new(&actors.bot));
    let handle = BusHandle {
        inbox: tx,
        budget: Arc::new(Semaphore::new(MEMORY_BUDGET)),
        metrics: metrics.clone(),
        actors: actors.clone(),
        ours: ours.clone(),
    };
    let dispatcher = Dispatcher {
        handler: Arc::new(Handler {
            deliveries,
            actors,
            shutdown,
            ours,
            metrics,
        }),
        lanes: HashMap::new(),
        dispatched: 0,
        alone: Arc::new(Semaphore::new(ALONE_AT_ONCE)),
    };
    (handle, tokio::spawn(dispatcher.run(rx)))
}

struct Dispatcher {
    handler: Arc<Handler>,
    /// Each lane's inbox and task. A lane that went idle has ended; its
    /// entry stays until the next envelope for its key (or a sweep).
    lanes: HashMap<LaneKey, (mpsc::UnboundedSender<Held<Envelope>>, JoinHandle<()>)>,
    dispatched: u64,
    /// Turns for envelopes handled alone (see [`ALONE_AT_ONCE`]).
    alone: Arc<Semaphore>,
}

/// How often (in envelopes) ended lanes are swept from the map.
const SWEEP_EVERY: u64 = 1024;

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Held<Inbound>>) {
        while let Some(held) = rx.recv().await {
            self.dispatch(held).await;
        }
        // Let lanes finish what they hold: dropping their senders ends them.
        for (_, (sender, task)) in self.lanes.drain() {
            drop(sender);
            let _ = task.await;
        }
    }

    /// Never waits on a lane's work: lanes are unbounded (the memory budget
    /// bounds them all), so one busy incident cannot hold up the others.
    async fn dispatch(&mut self, inbound: Held<Inbound>) {
        self.dispatched += 1;
        if self.dispatched.is_multiple_of(SWEEP_EVERY) {
            self.lanes.retain(|_, (_, task)| !task.is_finished());
        }
        let envelope = match inbound.envelope {
            Inbound::Raw(raw) => raw.parse(),
            Inbound::Parsed(envelope) => envelope,
        };
        let held = Held {
            envelope,
            _charge: inbound._charge,
        };
        // Routing logs little; the envelope's span is made when its
        // handling starts (`Envelope::span`).
        self.route(held).await;
    }

    async fn route(&mut self, mut held: Held<Envelope>) {
        let timeline_emoji = self.handler.actors.timeline.emoji();
        let key = match event::route(&held.envelope, timeline_emoji) {
            Route::Lane(key) => key,
            Route::Alone => {
                let (handler, turns) = (self.handler.clone(), self.alone.clone());
                let alone = async move {
                    let Ok(_turn) = turns.acquire().await else {
                        return;
                    };
                    // Boxed once its turn comes: the handling's future is
                    // large (every actor's state machine nested in it), and
                    // a burst of thousands waiting their turn would each
                    // hold one (over 100 MiB at 5,000; BENCHMARKS.md).
                    Box::pin(handler.handle_held(held)).await;
                };
                self.handler.actors.tasks.spawn(alone);
                return;
            }
        };
        loop {
            let sender = match self.lanes.get(&key) {
                Some((sender, _)) => sender.clone(),
                None => self.spawn_lane(key.clone()),
            };
            match sender.send(held) {
                Ok(()) => return,
                // The lane went idle and closed. Wait until it has handled
                // everything it still held, so the new lane cannot overtake
                // it: order within a key is the promise.
                Err(mpsc::error::SendError(back)) => {
                    if let Some((_, task)) = self.lanes.remove(&key) {
                        let _ = task.await;
                    }
                    held = back;
                }
            }
        }
    }

    fn spawn_lane(&mut self, key: LaneKey) -> mpsc::UnboundedSender<Held<Envelope>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let lane = Lane {
            handler: self.handler.clone(),
        };
        let task = tokio::spawn(lane.run(rx));
        self.lanes.insert(key, (tx.clone(), task));
        tx
    }
}

/// One key's envelopes, handled one after another.
struct Lane {
    handler: Arc<Handler>,
}

impl Lane {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Held<Envelope>>) {
        loop {
            match tokio::time::timeout(LANE_IDLE, rx.recv()).await {
                Ok(Some(held)) => self.handler.handle_held(held).await,
                Ok(None) => return,
                Err(_idle) => {
                    rx.close();
                    // Anything that slipped in before close is still ours.
                    while let Some(held) = rx.recv().await {
                        self.handler.handle_held(held).await;
                    }
                    return;
                }
            }
        }
    }
}

/// What handles an envelope, in a lane or alone: check it is ours, type,
/// dedupe, check the person may, act.
struct Handler {
    deliveries: Arc<dyn Deliveries>,
    actors: Actors,
    shutdown: CancellationToken,
    ours: Arc<Ours>,
    metrics: Arc<Metrics>,
}

impl Handler {
    /// Handles an envelope in its span, then gives its charge back to the
    /// budget.
    async fn handle_held(&self, held: Held<Envelope>) {
        let Held {
            mut envelope,
            _charge,
        } = held;
        let span = envelope.span();
        self.handle(envelope).instrument(span).await;
        drop(_charge);
    }

    async fn handle(&self, envelope: Envelope) {
        if let Err(why) = self.ours.check(&envelope) {
            self.metrics.refused(why.metric());
            return;
        }
        let event = event::classify(&envelope);
        // What Janus does not act on is not recorded either: the dedupe
        // table holds only deliveries that do something.
        match &event {
            Event::Unparsed { reason } => {
                tracing::warn!("{reason}");
                return;
            }
            Event::Ignored { event_type } => {
                tracing::debug!(event_type, "not handled");
                return;
            }
            Event::Interaction(interaction) => {
                tracing::info!(
                    kind = event::interaction_kind(interaction),
                    "interaction not handled yet"
                );
                return;
            }
            Event::Reaction(reaction)
                if !self.actors.react.acts_on(reaction)
                    && !self.actors.timeline.acts_on(reaction) =>
            {
                tracing::debug!(emoji = reaction.emoji, "reaction not acted on");
                return;
            }
            _ => {}
        }
        let home_team = event::user_team(&envelope.payload);
        // Clicks are deduplicated one by one: a click that changes the
        // incident stores its key with the change, in one transaction.
        if let Event::Clicks(clicks) = event {
            for click in clicks {
                self.route_click(click, &envelope, home_team).await;
            }
            return;
        }
        // An update stores its key with the update, in one transaction.
        if let Event::UpdateForm {
            form,
            rejected_in_ack,
        } = event
        {
            if rejected_in_ack {
                return;
            }
            if let Err(refusal) = self.may_change(&form.user, home_team).await {
                let access = &self.actors.access;
                access
                    .tell_person(form.channel.as_ref(), &form.user, &refusal)
                    .await;
                return;
            }
            return self.actors.update.submit(form).await;
        }
        let key = event::dedupe_key(&envelope);
        if !self.first_delivery(key.as_str(), &envelope).await {
            return;
        }
        match event {
            Event::Mention(mention) => self.actors.incident.mention(mention).await,
            Event::Unpinned(unpin) => self.actors.incident.unpinned(unpin).await,
            Event::Reaction(reaction) => {
                if let Err(refusal) = self.may_change(&reaction.user, home_team).await {
                    let access = &self.actors.access;
                    access
                        .tell_person(Some(&reaction.channel), &reaction.user, &refusal)
                        .await;
                    return;
                }
                if self.actors.timeline.acts_on(&reaction) {
                    self.actors.timeline.reaction(reaction).await
                } else {
                    self.actors.react.reaction(reaction).await
                }
            }
            Event::Command {
                command,
                answered_in_ack,
            } => match event::slash_command(command, answered_in_ack) {
                Ok(command) => {
                    let ours = self.actors.incident.command_name();
                    let declares = command.command == ours && !command.text.trim().is_empty();
                    if declares && let Err(refusal) = self.may_change(&command.user, None).await {
                        let access = &self.actors.access;
                        access
                            .tell_command(&command.user, &command.response_url, &refusal)
                            .await;
                        return;
                    }
                    self.actors.incident.command(command).await
                }
                Err(reason) => tracing::warn!("{reason}"),
            },
            Event::StatuspageForm {
                form,
                rejected_in_ack,
            } => match (&self.actors.statuspage, rejected_in_ack) {
                (Some(statuspage), false) => {
                    if let Err(refusal) = self.may_change(form.user(), home_team).await {
                        self.actors
                            .access
                            .tell_person(None, form.user(), &refusal)
                            .await;
                        return;
                    }
                    statuspage.submit(form).await
                }
                (None, _) => {
                    tracing::warn!("Statuspage form submitted while the integration is off")
                }
                (_, true) => {}
            },
            Event::DeclareForm {
                form,
                rejected_in_ack,
            } => {
                if rejected_in_ack {
                    return;
                }
                if let Err(refusal) = self.may_change(&form.user, home_team).await {
                    self.actors
                        .access
                        .tell_person(form.source.as_ref(), &form.user, &refusal)
                        .await;
                    return;
                }
                self.actors.incident.form(form).await;
            }
            Event::Clicks(_)
            | Event::UpdateForm { .. }
            | Event::Unparsed { .. }
            | Event::Ignored { .. }
            | Event::Interaction(_) => {}
        }
    }

    /// Whether `user` may declare, change or publish (see
    /// `actors::access`); a refusal is counted.
    async fn may_change(&self, user: &UserId, home_team: Option<&str>) -> Result<(), Refusal> {
        let verdict = self.actors.access.may_change(user, home_team).await;
        if let Err(refusal) = &verdict {
            self.metrics.refused(refusal.metric());
        }
        verdict
    }

    /// Acts on one click. A change (status, severity, a role) is recorded
    /// with the click's key by the store, in the change's transaction; any
    /// other click's key is recorded here first.
    async fn route_click(&self, click: Click, envelope: &Envelope, home_team: Option<&str>) {
        let action = ControlAction::from_click(&click);
        let changes = matches!(
            action,
            Some(
                ControlAction::Status(_)
                    | ControlAction::Severity(_)
                    | ControlAction::Claim(_)
                    | ControlAction::Assign(..)
                    | ControlAction::Release(_)
            )
        );
        let Some(action) = action else {
            tracing::info!(action_id = click.action_id, user = %click.user,
                "click on an element that is not Janus's; ignored");
            return;
        };
        if matches!(action, ControlAction::Link) {
            return;
        }
        // Declaring (the form), publishing and posting updates count as
        // changes too.
        let gated = changes
            || matches!(
                action,
                ControlAction::OpenDeclareForm
                    | ControlAction::Statuspage
                    | ControlAction::PostUpdate
            );
        if gated && let Err(refusal) = self.may_change(&click.user, home_team).await {
            self.actors.access.tell_click(&click, &refusal).await;
            return;
        }
        if !changes && !self.first_delivery(&click.delivery, envelope).await {
            return;
        }
        let action = Some(action);
        match action {
            Some(ControlAction::Status(v)) => self.actors.incident.status(click, v).await,
            Some(ControlAction::Severity(v)) => self.actors.incident.severity(click, v).await,
            Some(ControlAction::Claim(role)) => self.actors.role.claim(click, role).await,
            Some(ControlAction::Assign(role, user)) => {
                self.actors.role.assign(click, role, user).await
            }
            Some(ControlAction::Release(role)) => self.actors.role.release(click, role).await,
            Some(ControlAction::OpenDeclareForm) => self.actors.incident.open_form(click).await,
            Some(ControlAction::PostUpdate) => self.actors.update.open(click).await,
            Some(ControlAction::RefreshSnapshot) => match &self.actors.snapshot {
                Some(snapshot) => snapshot.refresh(click).await,
                None => {
                    tracing::info!(user = %click.user, "snapshot refresh while providers are off")
                }
            },
            Some(ControlAction::Statuspage) => match &self.actors.statuspage {
                Some(statuspage) => statuspage.open(click).await,
                None => {
                    tracing::info!(user = %click.user, "Statuspage button while the integration is off");
                }
            },
            Some(ControlAction::PostmortemDraft) => self.actors.postmortem.upload(click).await,
            Some(ControlAction::Link) | None => {}
        }
    }

    /// Records the delivery; waits out a store outage rather than acting
    /// twice or dropping the event.
    /// The person who clicked or typed is told once that their request
    /// waits for the database, rather than left in silence.
    async fn first_delivery(&self, key: &str, envelope: &Envelope) -> bool {
        let mut wait = Duration::from_millis(100);
        let mut told = false;
        loop {
            match self.deliveries.first_delivery(key).await {
                Ok(true) => return true,
                Ok(false) => {
                    tracing::info!(
                        dedupe_key = key,
                        retry_attempt = envelope.retry_attempt,
                        "duplicate delivery ignored"
                    );
                    return false;
                }
                Err(e) => {
                    tracing::error!(dedupe_key = key, error = %e,
                        "cannot record delivery; retrying");
                    if !told {
                        told = true;
                        if let Some(url) = envelope
                            .payload
                            .get("response_url")
                            .and_then(Value::as_str)
                            .and_then(|u| url::Url::parse(u).ok())
                        {
                            self.actors.incident.tell_waiting(&url).await;
                        }
                    }
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(STORE_RETRY_CAP);
                }
            }
        }
    }
}
