//! A fake Slack for integration tests: the Web API over HTTP and Socket Mode
//! over a websocket, both on 127.0.0.1, speaking the real wire protocol.
//!
//! It records everything (calls, acks, client frames, socket closes), keeps
//! a small workspace (channels, messages, users, user groups, modals) so
//! tests assert on what a user would see, and injects faults on demand.
//!
//! Layout:
//! - `state.rs`: the recorded state and the types tests assert on;
//! - `web.rs`: HTTP plumbing (parameters, tokens, faults, `response_url`s);
//! - `methods.rs`: what each Web API method means (checks, errors, effects);
//! - `socket.rs`: the Socket Mode websocket (tickets, hello, pings, acks).
//!
//! The Web API and the websocket listen on two ports: axum here has no
//! websocket support, so `/link/` is served by tokio-tungstenite directly.
//!
//! Slack facts this follows are in `shared/design/SLACK.md`.
#![allow(dead_code)] // each test uses a different part of this API

mod methods;
mod socket;
mod state;
mod web;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use state::{
    Ack, ApiCall, Channel, CloseInfo, Ephemeral, Fault, Message, SocketId, Usergroup, View,
};
use state::{Shared, SocketCmd, Trigger};

/// The app-level token (`xapp-`) the fake accepts for `apps.connections.open`.
pub const APP_TOKEN: &str = "xapp-fake-app-token-value";
/// The bot token (`xoxb-`) the fake accepts for every other method.
pub const BOT_TOKEN: &str = "xoxb-fake-bot-token-value";
pub const APP_ID: &str = "A0FAKE";
pub const TEAM_ID: &str = "T0FAKE";
pub const BOT_ID: &str = "B0FAKE";
/// The bot's own user id (`auth.test` → `user_id`).
pub const BOT_USER_ID: &str = "U0JANUSBOT";
/// The bot's user name (`auth.test` → `user`): not "janus", so a message
/// spelling the name proves it came from `auth.test`.
pub const BOT_NAME: &str = "incident-desk";

/// How long `send_envelope` waits for a socket when none is open.
const SOCKET_WAIT: Duration = Duration::from_secs(5);

/// A running fake. Cheap to clone; every clone sees the same state. Its
/// servers run until the tokio runtime of the test ends.
#[derive(Clone)]
pub struct FakeSlack {
    shared: Arc<Shared>,
    api_port: u16,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        Self::start_with(false).await
    }

    /// [`FakeSlack::start`], with the websocket side (sending envelopes,
    /// reading and timing acks) on a thread and runtime of its own, as
    /// Slack's socket edge does not share a CPU with its Web API. For the
    /// bench: under a burst the bot calls the Web API hundreds of times,
    /// and on a shared runtime serving those calls would delay reading the
    /// bot's acks and be charged to the bot's ack latency. The thread lives
    /// as long as the process, waiting on its listener once unused.
    pub async fn start_with_socket_thread() -> FakeSlack {
        Self::start_with(true).await
    }

    async fn start_with(socket_thread: bool) -> FakeSlack {
        let api = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("fake slack: bind the Web API port");
        let ws = std::net::TcpListener::bind(("127.0.0.1", 0))
            .expect("fake slack: bind the websocket port");
        ws.set_nonblocking(true)
            .expect("fake slack: a non-blocking websocket port");
        let api_port = api.local_addr().expect("bound").port();
        let ws_port = ws.local_addr().expect("bound").port();
        let shared = Arc::new(Shared::new(format!("ws://127.0.0.1:{ws_port}")));
        shared.update(|s| s.api_base = format!("http://127.0.0.1:{api_port}"));
        let app = web::router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(api, app).await;
        });
        let serve = {
            let shared = shared.clone();
            // The listener joins the runtime it is first used on.
            async move {
                let ws = TcpListener::from_std(ws).expect("fake slack: the websocket port");
                socket::serve(ws, shared).await;
            }
        };
        if socket_thread {
            std::thread::Builder::new()
                .name("fake-slack-socket".into())
                .spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("fake slack: the socket runtime")
                        .block_on(serve);
                })
                .expect("fake slack: the socket thread");
        } else {
            tokio::spawn(serve);
        }
        FakeSlack { shared, api_port }
    }

    /// The Web API base, with a trailing slash: `http://127.0.0.1:PORT/api/`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/", self.api_port)
    }

    /// Ports of the Web API and of the websocket, for a TLS front.
    pub fn ports(&self) -> (u16, u16) {
        let (_, ws) = self.targets();
        let ws_port = ws
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0);
        (self.api_port, ws_port)
    }

    /// Where `apps.connections.open` points sockets, e.g. a `wss://` front.
    pub fn set_socket_base(&self, base: &str) {
        self.shared.update(|s| s.ws_base = base.to_owned());
    }

    /// `host:port` of the Web API and of the websocket, as a proxy sees them.
    pub fn targets(&self) -> (String, String) {
        let ws = self.shared.lock().ws_base.clone();
        let ws = url::Url::parse(&ws).expect("ws base");
        (
            format!("127.0.0.1:{}", self.api_port),
            format!(
                "{}:{}",
                ws.host_str().unwrap_or(""),
                ws.port_or_known_default().unwrap_or(0)
            ),
        )
    }

    /// Waits until `check` (which may call any accessor of the fake) returns
    /// `Some`; panics after `timeout`, naming `what`.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&FakeSlack) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.shared.changes();
        loop {
            if let Some(t) = check(self) {
                return t;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                if let Some(t) = check(self) {
                    return t;
                }
                panic!(
                    "fake slack: timed out after {timeout:?} waiting for {what}; calls seen: [{}]",
                    self.call_summary()
                );
            }
        }
    }

    // ---- Web API recording and faults --------------------------------------

    /// Every request, in arrival order (`response_url` POSTs included, with
    /// method `"response_url"`).
    pub fn calls(&self) -> Vec<ApiCall> {
        self.shared.lock().calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<ApiCall> {
        let s = self.shared.lock();
        s.calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The first call to `method` (already made, or the next one).
    pub async fn wait_for_call(&self, method: &str, timeout: Duration) -> ApiCall {
        self.wait_for_calls(method, 1, timeout).await.remove(0)
    }

    /// The first `n` calls to `method`, once there are that many.
    pub async fn wait_for_calls(&self, method: &str, n: usize, timeout: Duration) -> Vec<ApiCall> {
        let found = self
            .shared
            .wait_until(timeout, |s| {
                let calls: Vec<ApiCall> = s
                    .calls
                    .iter()
                    .filter(|c| c.method == method)
                    .cloned()
                    .collect();
                (calls.len() >= n).then(|| calls[..n].to_vec())
            })
            .await;
        found.unwrap_or_else(|| {
            panic!(
                "fake slack: timed out after {timeout:?} waiting for {n} call(s) to {method}; \
                 calls seen: [{}]",
                self.call_summary()
            )
        })
    }

    fn call_summary(&self) -> String {
        let s = self.shared.lock();
        let names: Vec<&str> = s.calls.iter().map(|c| c.method.as_str()).collect();
        names.join(", ")
    }

    /// Queues `fault` for the next request to `method` (FIFO, one request
    /// each). `"*"` queues it for the next request to any method that has no
    /// fault of its own queued; `"response_url"` for `response_url` POSTs.
    pub fn inject(&self, method: &str, fault: Fault) {
        self.shared.update(|s| {
            s.faults
                .entry(method.to_string())
                .or_default()
                .push_back(fault)
        });
    }

    /// The next `times` requests to `method` are answered 429 with
    /// `Retry-After: retry_after_secs` (queued like `inject`, ahead of any
    /// fault injected after this).
    pub fn throttle(&self, method: &str, retry_after_secs: u64, times: usize) {
        for _ in 0..times {
            self.inject(method, Fault::RateLimited { retry_after_secs });
        }
    }

    /// Enforces a rate tier on `method`: at most `max_calls` per `window`,
    /// then HTTP 429 with `Retry-After`, as Slack does.
    pub fn set_tier(&self, method: &str, max_calls: usize, window: Duration) {
        self.shared
            .update(|s| s.tiers.insert(method.to_string(), (max_calls, window)));
    }

    /// `false`: the app token is answered `invalid_auth` (as if revoked).
    pub fn set_app_token_valid(&self, valid: bool) {
        self.shared.update(|s| s.app_token_valid = valid);
    }

    /// `false`: the bot token is answered `invalid_auth` (as if revoked).
    pub fn set_bot_token_valid(&self, valid: bool) {
        self.shared.update(|s| s.bot_token_valid = valid);
    }

    /// The scopes the bot token was granted, sent back in `x-oauth-scopes`
    /// (default: every bot scope of `slack_manifest.yaml`).
    pub fn set_bot_scopes(&self, scopes: &[&str]) {
        self.shared
            .update(|s| s.bot_scopes = scopes.iter().map(|x| x.to_string()).collect());
    }

    // ---- workspace state -----------------------------------------------------

    /// Messages of a channel (or DM) as they stand now, oldest first, thread
    /// replies included.
    pub fn messages(&self, channel_id: &str) -> Vec<Message> {
        let s = self.shared.lock();
        s.messages
            .iter()
            .filter(|m| m.channel == channel_id)
            .cloned()
            .collect()
    }

    pub fn message(&self, channel_id: &str, ts: &str) -> Option<Message> {
        self.shared.lock().message(channel_id, ts).cloned()
    }

    /// Deletes a message, as a person with the right to would in Slack.
    pub fn delete_message(&self, channel_id: &str, ts: &str) {
        self.shared.update(|s| {
            let before = s.messages.len();
            s.messages
                .retain(|m| !(m.channel == channel_id && m.ts == ts));
            assert!(
                s.messages.len() < before,
                "fake slack: delete_message: no such message"
            );
            if let Some(c) = s.channel_mut(channel_id) {
                c.pins.retain(|pinned| pinned != ts);
            }
        });
    }

    /// Unpins a message, as a person in the channel would (the test sends
    /// the `pin_removed` event itself, or not: an unpin while Janus was away).
    pub fn unpin(&self, channel_id: &str, ts: &str) {
        self.shared.update(|s| {
            let c = s
                .channel_mut(channel_id)
                .unwrap_or_else(|| panic!("fake slack: no channel {channel_id}"));
            assert!(
                c.pins.iter().any(|pinned| pinned == ts),
                "fake slack: unpin: {ts} is not pinned in {channel_id}"
            );
            c.pins.retain(|pinned| pinned != ts);
        });
    }

    /// The ts of the messages pinned in `channel_id`, in pinning order.
    pub fn pins(&self, channel_id: &str) -> Vec<String> {
        self.shared
            .lock()
            .channel(channel_id)
            .map(|c| c.pins.clone())
            .unwrap_or_default()
    }

    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        self.shared.lock().ephemerals.clone()
    }

    /// Channels (DMs excluded), in creation order.
    pub fn channels(&self) -> Vec<Channel> {
        self.shared.lock().channels.clone()
    }

    pub fn channel(&self, id: &str) -> Option<Channel> {
        self.shared.lock().channel(id).cloned()
    }

    pub fn channel_named(&self, name: &str) -> Option<Channel> {
        let s = self.shared.lock();
        s.channels.iter().find(|c| c.name == name).cloned()
    }

    /// The DM channel id the bot has with `user`, once opened.
    pub fn dm_channel(&self, user: &str) -> Option<String> {
        self.shared.lock().dms.get(user).cloned()
    }

    /// Modals opened with `views.open`/`views.push`, as last updated.
    pub fn views(&self) -> Vec<View> {
        self.shared.lock().views.clone()
    }

    /// A public channel that already exists; returns its id `C…`.
    pub fn add_channel(&self, name: &str, is_member: bool) -> String {
        self.shared
            .update(|s| methods::new_channel(s, name, false, is_member))
    }

    /// A private channel that already exists; returns its id `C…`. Like at
    /// Slack, the bot cannot see it unless it is a member.
    pub fn add_private_channel(&self, name: &str, is_member: bool) -> String {
        self.shared
            .update(|s| methods::new_channel(s, name, true, is_member))
    }

    /// Adds `user` to a channel's members (needed e.g. for
    /// `chat.postEphemeral`, which wants the user in the channel).
    pub fn add_member(&self, channel_id: &str, user: &str) {
        self.shared.update(|s| {
            let c = s
                .channel_mut(channel_id)
                .expect("fake slack: add_member: no such channel");
            if !c.members.iter().any(|m| m == user) {
                c.members.push(user.to_string());
            }
            c.is_member = c.members.iter().any(|m| m == BOT_USER_ID);
        });
    }

    pub fn archive_channel(&self, channel_id: &str) {
        self.shared.update(|s| {
            if let Some(c) = s.channel_mut(channel_id) {
                c.is_archived = true;
            }
        });
    }

    /// A workspace user. Unknown users are `user_not_found` for
    /// `users.info`, `conversations.invite` and `conversations.open`.
    pub fn add_user(&self, id: &str, name: &str) {
        self.shared
            .update(|s| s.users.insert(id.to_string(), name.to_string()));
    }

    /// A guest of the workspace: multi-channel (`is_restricted`) or
    /// single-channel (`is_ultra_restricted`).
    pub fn add_guest(&self, id: &str, name: &str, single_channel: bool) {
        self.shared.update(|s| {
            s.users.insert(id.to_string(), name.to_string());
            s.standings
                .insert(id.to_string(), state::Standing::Guest { single_channel });
        });
    }

    /// A Slack Connect partner: a user whose home team is `team`.
    pub fn add_external_user(&self, id: &str, name: &str, team: &str) {
        self.shared.update(|s| {
            s.users.insert(id.to_string(), name.to_string());
            s.standings.insert(
                id.to_string(),
                state::Standing::External {
                    team: team.to_string(),
                },
            );
        });
    }

    /// A user group; returns its id `S…`.
    pub fn add_usergroup(&self, handle: &str, name: &str, users: &[&str]) -> String {
        self.shared.update(|s| {
            let id = s.new_id("S");
            s.usergroups.push(Usergroup {
                id: id.clone(),
                handle: handle.to_string(),
                name: name.to_string(),
                users: users.iter().map(|u| u.to_string()).collect(),
            });
            id
        })
    }

    /// A message a person wrote (e.g. the one a reaction will point at);
    /// returns its ts. Not recorded as a call.
    pub fn post_as_user(&self, channel_id: &str, user: &str, text: &str) -> String {
        self.shared.update(|s| {
            methods::push_message(s, channel_id, user, Some(text.to_string()), None, None)
        })
    }

    /// A message another app or integration posted (`bot_id`,
    /// `subtype: bot_message`, no `user`); returns its ts. Not recorded as
    /// a call.
    pub fn post_as_bot(&self, channel_id: &str, bot_id: &str, text: &str) -> String {
        self.shared.update(|s| {
            let ts = methods::push_message(s, channel_id, "", Some(text.to_string()), None, None);
            if let Some(m) = s.message_mut(channel_id, &ts) {
                m.other_bot = Some(bot_id.to_string());
            }
            ts
        })
    }

    /// Files uploaded and shared (`files.completeUploadExternal`), in order.
    pub fn shared_files(&self) -> Vec<state::UploadedFile> {
        let s = self.shared.lock();
        s.files
            .iter()
            .filter(|f| f.channel.is_some())
            .cloned()
            .collect()
    }

    /// `user` reacts to a message with `emoji`, as Slack records it (the
    /// test sends the `reaction_added` event itself, or not: a reaction
    /// made while Janus was away).
    pub fn react_as_user(&self, channel_id: &str, ts: &str, user: &str, emoji: &str) {
        self.shared.update(|s| {
            let m = s
                .message_mut(channel_id, ts)
                .unwrap_or_else(|| panic!("fake slack: no message {ts} in {channel_id}"));
            m.user_reactions.push((emoji.to_string(), user.to_string()));
        });
    }

    /// `user` takes their `emoji` off a message.
    pub fn unreact_as_user(&self, channel_id: &str, ts: &str, user: &str, emoji: &str) {
        self.shared.update(|s| {
            if let Some(m) = s.message_mut(channel_id, ts) {
                m.user_reactions.retain(|(n, u)| !(n == emoji && u == user));
            }
        });
    }

    /// A URL to put in a payload's `response_url`; what is POSTed to it is
    /// recorded as an ephemeral with `via: "response_url"`.
    pub fn response_url(&self) -> String {
        let n = self.shared.update(|s| s.new_id("R"));
        format!("http://127.0.0.1:{}/respond/{n}", self.api_port)
    }

    /// A `trigger_id` that `views.open` accepts once, within 3 s (then
    /// `expired_trigger_id`). Trigger ids the fake did not issue are
    /// accepted any time.
    pub fn trigger_id(&self) -> String {
        self.shared.update(|s| {
            let id = format!("{}.fake.{}", s.new_ts(), s.new_id("").to_lowercase());
            let trigger = Trigger {
                issued: Instant::now(),
                used: false,
            };
            s.triggers.insert(id.clone(), trigger);
            id
        })
    }

    // ---- Socket Mode ---------------------------------------------------------

    /// Until `n` sockets are open and have been sent their `hello`.
    pub async fn wait_for_sockets(&self, n: usize, timeout: Duration) {
        let ready = self
            .shared
            .wait_until(timeout, |s| {
                (s.open_sockets().filter(|x| x.hello_sent).count() >= n).then_some(())
            })
            .await;
        if ready.is_none() {
            panic!(
                "fake slack: timed out after {timeout:?} waiting for {n} open socket(s); open: {:?}, \
                 opened in total: {}, refused handshakes: {:?}",
                self.open_sockets(),
                self.sockets_opened_total(),
                self.rejected_handshakes()
            );
        }
    }

    /// Open sockets, in open order.
    pub fn open_sockets(&self) -> Vec<SocketId> {
        self.shared.lock().open_sockets().map(|s| s.id).collect()
    }

    /// When the websocket handshake of `socket` completed.
    pub fn socket_opened_at(&self, socket: SocketId) -> Instant {
        let s = self.shared.lock();
        let rec = s.sockets.iter().find(|x| x.id == socket);
        rec.unwrap_or_else(|| panic!("fake slack: there is no socket {socket}"))
            .opened_at
    }

    pub fn sockets_opened_total(&self) -> usize {
        self.shared.lock().sockets.len()
    }

    /// Sends `frame` as one text frame. An `envelope_id` in it starts the
    /// clock for that envelope's ack latency once the frame is written to
    /// the socket, so the fake's own queue is not charged to the client. A
    /// closed socket drops it.
    pub async fn send_frame(&self, socket: SocketId, frame: Value) {
        let text = frame.to_string();
        match frame.get("envelope_id").and_then(Value::as_str) {
            Some(id) => {
                let id = id.to_string();
                // Stamped now too, in case the write never completes.
                self.shared.update(|s| {
                    s.envelopes_sent.insert(id.clone(), Instant::now());
                    s.envelope_sockets.insert(id.clone(), socket);
                });
                self.command(socket, SocketCmd::Envelope { id, text });
            }
            None => self.command(socket, SocketCmd::Text(text)),
        }
    }

    /// Sends any text, valid JSON or not.
    pub async fn send_text(&self, socket: SocketId, text: &str) {
        self.command(socket, SocketCmd::Text(text.to_string()));
    }

    /// Like Slack, sends the envelope to exactly one open socket (round
    /// robin over sockets that got their hello), waiting up to 5 s for one.
    pub async fn send_envelope(&self, envelope: Value) -> SocketId {
        let socket = self
            .shared
            .wait_until(SOCKET_WAIT, |s| {
                let ready: Vec<SocketId> = s
                    .open_sockets()
                    .filter(|x| x.hello_sent)
                    .map(|x| x.id)
                    .collect();
                (!ready.is_empty()).then_some(ready)
            })
            .await
            .map(|ready| {
                self.shared.update(|s| {
                    s.round_robin += 1;
                    ready[(s.round_robin - 1) % ready.len()]
                })
            })
            .unwrap_or_else(|| {
                panic!("fake slack: send_envelope: no socket open after {SOCKET_WAIT:?}")
            });
        self.send_frame(socket, envelope).await;
        socket
    }

    /// The first ack for `envelope_id`.
    pub async fn wait_ack(&self, envelope_id: &str, timeout: Duration) -> Ack {
        let ack = self
            .shared
            .wait_until(timeout, |s| {
                s.acks
                    .iter()
                    .find(|a| a.envelope_id == envelope_id)
                    .cloned()
            })
            .await;
        ack.unwrap_or_else(|| {
            let seen: Vec<String> = self.acks().into_iter().map(|a| a.envelope_id).collect();
            panic!(
                "fake slack: no ack for {envelope_id} within {timeout:?}; acks seen: {seen:?}; \
                 other client frames: {:?}",
                self.client_garbage()
            )
        })
    }

    /// Waits until every envelope sent on a socket that is still open has
    /// been acked: then Janus has read each of them. Panics after `timeout`.
    pub async fn wait_all_acked(&self, timeout: Duration) {
        let unacked = |s: &state::Inner| -> Vec<String> {
            let acked: std::collections::HashSet<&str> =
                s.acks.iter().map(|a| a.envelope_id.as_str()).collect();
            s.envelope_sockets
                .iter()
                .filter(|(id, socket)| {
                    !acked.contains(id.as_str())
                        && s.sockets.iter().any(|x| x.id == **socket && x.is_open())
                })
                .map(|(id, _)| id.clone())
                .collect()
        };
        let done = self
            .shared
            .wait_until(timeout, |s| unacked(s).is_empty().then_some(()))
            .await;
        if done.is_none() {
            panic!(
                "fake slack: envelopes still unacked after {timeout:?}: {:?}",
                unacked(&self.shared.lock())
            );
        }
    }

    pub fn acks(&self) -> Vec<Ack> {
        self.shared.lock().acks.clone()
    }

    /// How many acks arrived, without cloning them: cheap enough to check
    /// on every change while thousands of envelopes are in flight.
    pub fn ack_count(&self) -> usize {
        self.shared.lock().acks.len()
    }

    /// How many messages `channel_id` holds, without cloning them.
    pub fn message_count(&self, channel_id: &str) -> usize {
        let s = self.shared.lock();
        s.messages
            .iter()
            .filter(|m| m.channel == channel_id)
            .count()
    }

    /// How many ephemerals (and `response_url` answers) were shown.
    pub fn ephemeral_count(&self) -> usize {
        self.shared.lock().ephemerals.len()
    }

    /// How many Web API calls (and `response_url` POSTs) arrived.
    pub fn call_count(&self) -> usize {
        self.shared.lock().calls.len()
    }

    /// Client frames that were not acks (invalid JSON, binary, or JSON
    /// without `envelope_id`), raw.
    pub fn client_garbage(&self) -> Vec<String> {
        self.shared.lock().garbage.clone()
    }

    /// Sends a `disconnect` frame. For `"warning"` the fake then closes the
    /// socket itself after the warning grace (`set_warning_grace`, default
    /// 10 s), unless the client closed it first.
    pub async fn disconnect(&self, socket: SocketId, reason: &str) {
        let frame = json!({
            "type": "disconnect",
            "reason": reason,
            "debug_info": { "host": "applink-fake" }
        });
        self.send_frame(socket, frame).await;
        if reason == "warning" {
            let grace = self.shared.lock().warning_grace;
            let fake = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                fake.close_with(socket, 1000, "warning grace elapsed");
            });
        }
    }

    /// Server-side close (Close frame, code 1000).
    pub async fn close(&self, socket: SocketId) {
        self.close_with(socket, 1000, "");
    }

    fn close_with(&self, socket: SocketId, code: u16, reason: &str) {
        let reason = reason.to_string();
        self.command(socket, SocketCmd::Close { code, reason });
    }

    /// Silent: no more websocket pings on that socket; everything else
    /// (envelopes, pongs to the client's pings, reading acks) goes on.
    pub fn set_silent(&self, socket: SocketId, silent: bool) {
        self.shared.update(|s| {
            if let Some(rec) = s.socket_mut(socket) {
                rec.silent = silent;
            }
        });
    }

    /// Frozen: a zombie connection. The fake stops reading that socket (so
    /// the client's pings get no pong and its acks are not seen until
    /// unfrozen) and stops pinging; frames the test sends still go out.
    pub fn set_frozen(&self, socket: SocketId, frozen: bool) {
        self.command(socket, SocketCmd::Freeze(frozen));
    }

    /// Websocket Ping frames go to every non-silent socket this often
    /// (default 5 s); takes effect at once.
    pub fn set_ping_interval(&self, d: Duration) {
        self.shared.ping_interval.send_replace(d);
    }

    /// How long after a `warning` disconnect the fake closes the socket.
    pub fn set_warning_grace(&self, d: Duration) {
        self.shared.update(|s| s.warning_grace = d);
    }

    /// The next `n` websocket handshakes are refused with HTTP 400 (their
    /// tickets are spent), e.g. to exercise reconnect backoff.
    pub fn reject_next_handshakes(&self, n: usize) {
        self.shared.update(|s| s.handshakes_to_reject = n);
    }

    /// Why each refused handshake was refused (unknown or reused ticket,
    /// injected failure, wrong path).
    pub fn rejected_handshakes(&self) -> Vec<String> {
        self.shared.lock().rejected_handshakes.clone()
    }

    pub fn close_info(&self, socket: SocketId) -> Option<CloseInfo> {
        let s = self.shared.lock();
        s.sockets.iter().find(|x| x.id == socket)?.closed.clone()
    }

    /// Until the socket is closed; says who closed first, and when.
    pub async fn wait_socket_closed(&self, socket: SocketId, timeout: Duration) -> CloseInfo {
        let info = self
            .shared
            .wait_until(timeout, |s| {
                s.sockets.iter().find(|x| x.id == socket)?.closed.clone()
            })
            .await;
        info.unwrap_or_else(|| panic!("fake slack: socket {socket} still open after {timeout:?}"))
    }

    fn command(&self, socket: SocketId, cmd: SocketCmd) {
        let s = self.shared.lock();
        let rec = s
            .sockets
            .iter()
            .find(|x| x.id == socket)
            .unwrap_or_else(|| panic!("fake slack: there is no socket {socket}"));
        // The socket's task is gone once it closed: the command is dropped.
        let _ = rec.tx.send(cmd);
    }
}

static ENVELOPES: AtomicU64 = AtomicU64::new(1);

/// `{"envelope_id": <unique>, "type": kind, "payload": …,
/// "accepts_response_payload": …}`, as Slack frames it.
pub fn envelope(kind: &str, payload: Value, accepts_response_payload: bool) -> Value {
    let n = ENVELOPES.fetch_add(1, Ordering::Relaxed);
    let id = format!("{:08x}-fake-4e5f-8a9b-{n:012x}", std::process::id());
    json!({
        "envelope_id": id,
        "type": kind,
        "payload": payload,
        "accepts_response_payload": accepts_response_payload,
    })
}

pub fn envelope_id_of(envelope: &Value) -> String {
    envelope
        .get("envelope_id")
        .and_then(Value::as_str)
        .expect("envelope without envelope_id")
        .to_string()
}
