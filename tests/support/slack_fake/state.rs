//! What the fake remembers: the workspace (channels, messages, users, …),
//! every request it received, and every socket it served.
//!
//! The types a test asserts on are public and plain (`Clone`, public
//! fields); the bookkeeping around them is `pub(super)`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::BOT_USER_ID;

/// Socket ids count from 1 in open order and are never reused.
pub type SocketId = u64;

/// One Web API request (or one POST to a `response_url`, with method
/// `"response_url"`), recorded on arrival, before any fault or check.
#[derive(Clone, Debug)]
pub struct ApiCall {
    pub method: String,
    /// Query string, form body and JSON body merged into one object. Form
    /// and query values stay strings, as Slack receives them.
    pub params: Value,
    /// From `Authorization: Bearer …` (or, except for
    /// `apps.connections.open`, a `token` parameter).
    pub token: Option<String>,
    pub at: Instant,
}

impl ApiCall {
    /// A parameter as text: strings as they are, other JSON as JSON.
    pub fn param(&self, name: &str) -> Option<String> {
        match self.params.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

/// A fault queued for one method; each is consumed by one request, FIFO.
#[derive(Clone, Debug)]
pub enum Fault {
    /// HTTP 429, `Retry-After: N`, body `{"ok":false,"error":"ratelimited"}`.
    RateLimited { retry_after_secs: u64 },
    /// HTTP 200 `{"ok":false,"error":…}`; nothing happens.
    Error(String),
    /// Sleep, then handle the request normally.
    Delay(Duration),
    /// Handle the request (its effect happens), then sleep before answering:
    /// a client that times out has still had its effect, as with real Slack.
    ApplyThenDelay(Duration),
    /// That HTTP status with a plain-text body; nothing happens.
    HttpStatus(u16),
    /// Nothing happens and no answer is ever sent; the connection stays
    /// open until the client gives up on it. The request is recorded.
    Hang,
}

impl Fault {
    pub fn error(code: impl Into<String>) -> Fault {
        Fault::Error(code.into())
    }
}

/// A socket-mode ack (any JSON frame from the client with an `envelope_id`).
#[derive(Clone, Debug)]
pub struct Ack {
    pub envelope_id: String,
    pub payload: Option<Value>,
    /// From the moment the envelope was written to the socket to the
    /// moment the ack was read; zero if the fake never sent that id.
    pub latency: Duration,
    pub socket: SocketId,
    pub raw: String,
    pub at: Instant,
}

/// A message as it stands now (after any `chat.update`).
#[derive(Clone, Debug)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub user: String,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub thread_ts: Option<String>,
    /// How many `chat.update` calls changed it.
    pub updated: u32,
    /// Reactions the bot added (`reactions.add`), by name.
    pub reactions: Vec<String>,
    /// People's reactions: (name, user), in the order they were added.
    pub user_reactions: Vec<(String, String)>,
    /// The `bot_id` of another app or integration that posted it
    /// (`subtype: bot_message`, no `user`); `None` for people and Janus.
    pub other_bot: Option<String>,
}

impl Message {
    pub fn is_from_bot(&self) -> bool {
        self.user == BOT_USER_ID
    }
}

/// What a single user was shown: `chat.postEphemeral`, or a POST to a
/// `response_url` (which may also say `response_type: in_channel` or
/// `replace_original`; see `raw`).
#[derive(Clone, Debug)]
pub struct Ephemeral {
    pub channel: Option<String>,
    pub user: Option<String>,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    /// `"chat.postEphemeral"` or `"response_url"`.
    pub via: String,
    pub response_type: Option<String>,
    pub raw: Value,
}

#[derive(Clone, Debug)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub topic: String,
    /// User ids, the bot's included when it is a member.
    pub members: Vec<String>,
    pub is_member: bool,
    pub is_archived: bool,
    pub is_private: bool,
    /// Pinned message ts, in pin order.
    pub pins: Vec<String>,
    /// As returned by `bookmarks.add`.
    pub bookmarks: Vec<Value>,
    pub created: u64,
}

/// A modal opened (`views.open`/`views.push`) and its latest content.
#[derive(Clone, Debug)]
pub struct View {
    pub id: String,
    pub trigger_id: Option<String>,
    pub view: Value,
    pub hash: String,
    pub updated: u32,
}

/// A file on its way in, or shared.
#[derive(Clone, Debug)]
pub struct UploadedFile {
    pub id: String,
    pub filename: String,
    /// What `files.getUploadURLExternal` was told.
    pub length: usize,
    /// What was POSTed to the upload URL.
    pub content: Option<Vec<u8>>,
    /// Set by `files.completeUploadExternal`.
    pub title: Option<String>,
    pub channel: Option<String>,
}

/// How `users.info` describes someone who is not a full member.
#[derive(Clone, Debug)]
pub enum Standing {
    /// `is_restricted` (multi-channel) or `is_ultra_restricted` (single-channel).
    Guest { single_channel: bool },
    /// A Slack Connect partner: their home team is another organisation's.
    External { team: String },
}

#[derive(Clone, Debug)]
pub struct Usergroup {
    pub id: String,
    pub handle: String,
    pub name: String,
    pub users: Vec<String>,
}

/// How a socket ended: who moved first, and when.
#[derive(Clone, Debug)]
pub struct CloseInfo {
    /// The client closed first (Close frame or dropped connection); `false`:
    /// the fake did (`close`, or the end of a `warning` grace).
    pub by_client: bool,
    pub at: Instant,
    /// The close code of the first Close frame, if there was one (a client
    /// that just drops the TCP connection has none).
    pub code: Option<u16>,
    pub reason: String,
    pub open_for: Duration,
}

pub(super) enum SocketCmd {
    Text(String),
    /// An envelope: its ack-latency clock restarts when it is written.
    Envelope {
        id: String,
        text: String,
    },
    Close {
        code: u16,
        reason: String,
    },
    Freeze(bool),
}

pub(super) struct SocketRec {
    pub id: SocketId,
    pub opened_at: Instant,
    pub hello_sent: bool,
    pub silent: bool,
    pub closed: Option<CloseInfo>,
    pub tx: mpsc::UnboundedSender<SocketCmd>,
}

impl SocketRec {
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    pub fn close(&mut self, by_client: bool, code: Option<u16>, reason: &str) {
        if self.closed.is_none() {
            let at = Instant::now();
            self.closed = Some(CloseInfo {
                by_client,
                at,
                code,
                reason: reason.to_string(),
                open_for: at - self.opened_at,
            });
        }
    }
}

pub(super) struct Trigger {
    pub issued: Instant,
    pub used: bool,
}

/// Everything behind the one lock.
pub(super) struct Inner {
    pub ws_base: String,
    /// `http://127.0.0.1:PORT` of the Web API (upload URLs live there).
    pub api_base: String,
    /// Files uploaded with `files.getUploadURLExternal` and the URL it gave.
    pub files: Vec<UploadedFile>,
    pub calls: Vec<ApiCall>,
    pub faults: HashMap<String, VecDeque<Fault>>,
    /// method → (calls allowed, per window), like Slack's rate tiers.
    pub tiers: HashMap<String, (usize, Duration)>,
    /// method → when its recent calls were served (for `tiers`).
    pub served: HashMap<String, VecDeque<Instant>>,
    pub app_token_valid: bool,
    pub bot_token_valid: bool,
    /// Sent in `x-oauth-scopes` on answers to the bot token, as Slack does.
    pub bot_scopes: Vec<String>,
    next_id: u64,
    last_ts_micros: u64,
    pub channels: Vec<Channel>,
    /// user id → DM channel id.
    pub dms: BTreeMap<String, String>,
    /// All messages of all channels, in post order.
    pub messages: Vec<Message>,
    pub ephemerals: Vec<Ephemeral>,
    /// user id → name.
    pub users: BTreeMap<String, String>,
    /// Users who are not full members of the workspace (see [`Standing`]);
    /// everyone else `users.info` describes is one.
    pub standings: BTreeMap<String, Standing>,
    pub usergroups: Vec<Usergroup>,
    pub views: Vec<View>,
    pub triggers: HashMap<String, Trigger>,
    pub tickets: HashSet<String>,
    pub rejected_handshakes: Vec<String>,
    pub handshakes_to_reject: usize,
    pub sockets: Vec<SocketRec>,
    pub round_robin: usize,
    pub warning_grace: Duration,
    /// envelope id → when it was last handed to a socket.
    pub envelopes_sent: HashMap<String, Instant>,
    /// envelope id → the socket it was last handed to.
    pub envelope_sockets: HashMap<String, SocketId>,
    pub acks: Vec<Ack>,
    pub garbage: Vec<String>,
}

impl Inner {
    fn new(ws_base: String) -> Inner {
        let mut users = BTreeMap::new();
        users.insert(BOT_USER_ID.to_string(), "janus".to_string());
        Inner {
            ws_base,
            api_base: String::new(),
            files: Vec::new(),
            calls: Vec::new(),
            faults: HashMap::new(),
            tiers: HashMap::new(),
            served: HashMap::new(),
            app_token_valid: true,
            bot_token_valid: true,
            bot_scopes: janus::doctor::REQUIRED_BOT_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            next_id: 0,
            last_ts_micros: 0,
            channels: Vec::new(),
            dms: BTreeMap::new(),
            messages: Vec::new(),
            ephemerals: Vec::new(),
            users,
            standings: BTreeMap::new(),
            usergroups: Vec::new(),
            views: Vec::new(),
            triggers: HashMap::new(),
            tickets: HashSet::new(),
            rejected_handshakes: Vec::new(),
            handshakes_to_reject: 0,
            sockets: Vec::new(),
            round_robin: 0,
            warning_grace: Duration::from_secs(10),
            envelopes_sent: HashMap::new(),
            envelope_sockets: HashMap::new(),
            acks: Vec::new(),
            garbage: Vec::new(),
        }
    }

    /// `prefix` + 10 uppercase alphanumerics, unique within this fake
    /// (Slack's id shape: `C0123ABCDEF`).
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        let mut n = self.next_id;
        let mut digits = [b'0'; 10];
        for d in digits.iter_mut().rev() {
            *d = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(n % 36) as usize];
            n /= 36;
        }
        format!("{prefix}{}", String::from_utf8_lossy(&digits))
    }

    /// A message ts from the wall clock, strictly increasing.
    pub fn new_ts(&mut self) -> String {
        let now = unix_micros();
        self.last_ts_micros = now.max(self.last_ts_micros + 1);
        format!(
            "{}.{:06}",
            self.last_ts_micros / 1_000_000,
            self.last_ts_micros % 1_000_000
        )
    }

    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    pub fn channel_mut(&mut self, id: &str) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.id == id)
    }

    pub fn is_dm(&self, id: &str) -> bool {
        self.dms.values().any(|d| d == id)
    }

    /// The DM channel with `user`, opened on first use.
    pub fn dm_with(&mut self, user: &str) -> (String, bool) {
        if let Some(id) = self.dms.get(user) {
            return (id.clone(), true);
        }
        let id = self.new_id("D");
        self.dms.insert(user.to_string(), id.clone());
        (id, false)
    }

    pub fn message(&self, channel: &str, ts: &str) -> Option<&Message> {
        self.messages
            .iter()
            .find(|m| m.channel == channel && m.ts == ts)
    }

    pub fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut Message> {
        self.messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts)
    }

    pub fn open_sockets(&self) -> impl Iterator<Item = &SocketRec> {
        self.sockets.iter().filter(|s| s.is_open())
    }

    pub fn socket_mut(&mut self, id: SocketId) -> Option<&mut SocketRec> {
        self.sockets.iter_mut().find(|s| s.id == id)
    }
}

pub(super) fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

pub(super) fn unix_secs() -> u64 {
    unix_micros() / 1_000_000
}

/// The state shared by the HTTP handlers, the socket tasks and the test.
///
/// A std `Mutex`, not a tokio one: every critical section is a few field
/// updates that never await, and the test-facing accessors (`calls()`,
/// `messages()`) are plain functions that must not need a runtime.
pub(super) struct Shared {
    inner: Mutex<Inner>,
    /// Bumped after every change so that `wait_until` wakes up and re-checks
    /// instead of polling. A watch channel cannot lose a wake-up: a change
    /// between "check" and "await" is seen by `changed()`.
    changed: watch::Sender<u64>,
    pub ping_interval: watch::Sender<Duration>,
}

impl Shared {
    pub fn new(ws_base: String) -> Shared {
        Shared {
            inner: Mutex::new(Inner::new(ws_base)),
            changed: watch::channel(0).0,
            ping_interval: watch::channel(Duration::from_secs(5)).0,
        }
    }

    /// Read-only access. A test that panicked while holding the lock must not
    /// turn every later assertion into a poison error, hence `into_inner`.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Change the state and wake every waiter.
    pub fn update<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let r = f(&mut self.lock());
        self.changed.send_modify(|n| *n += 1);
        r
    }

    /// A receiver that sees every later `update`.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Until `check` returns `Some`, or `None` at the deadline.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Inner) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.changed.subscribe();
        loop {
            if let Some(t) = check(&self.lock()) {
                return Some(t);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `self`, so `Err` cannot happen; a
                // timeout gets one last check.
                Ok(Err(_)) | Err(_) => return check(&self.lock()),
            }
        }
    }
}
