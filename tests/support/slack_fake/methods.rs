//! Web API methods: Slack's meaning (checks, error codes, state changes),
//! with no HTTP in sight. Each handler takes the merged parameters and
//! returns the response fields, or the `error` code of `{"ok":false}`.

use serde_json::{Map, Value, json};

use super::state::{Channel, Ephemeral, Inner, Message, Standing, View, unix_secs};
use super::{APP_ID, APP_TOKEN, BOT_ID, BOT_NAME, BOT_TOKEN, BOT_USER_ID, TEAM_ID};

type Params = Map<String, Value>;
type Reply = Result<Value, &'static str>;
type Handler = fn(&mut Inner, &Params) -> Reply;

/// How long a `trigger_id` issued by `FakeSlack::trigger_id` stays usable.
const TRIGGER_LIFETIME_SECS: u64 = 3;

pub(super) fn dispatch(s: &mut Inner, method: &str, p: &Params, token: Option<&str>) -> Value {
    let Some(handler) = handler(method) else {
        return json!({"ok": false, "error": "unknown_method"});
    };
    let reply = check_auth(s, method, token).and_then(|()| handler(s, p));
    match reply {
        Ok(mut body) => {
            body["ok"] = json!(true);
            body
        }
        Err(code) => json!({"ok": false, "error": code}),
    }
}

fn handler(method: &str) -> Option<Handler> {
    Some(match method {
        "apps.connections.open" => apps_connections_open,
        "auth.test" => auth_test,
        "conversations.create" => conversations_create,
        "conversations.invite" => conversations_invite,
        "conversations.setTopic" => conversations_set_topic,
        "conversations.list" => conversations_list,
        "conversations.info" => conversations_info,
        "conversations.members" => conversations_members,
        "conversations.history" => conversations_history,
        "conversations.replies" => conversations_replies,
        "conversations.join" => conversations_join,
        "conversations.archive" => conversations_archive,
        "conversations.open" => conversations_open,
        "chat.postMessage" => chat_post_message,
        "chat.postEphemeral" => chat_post_ephemeral,
        "chat.update" => chat_update,
        "chat.delete" => chat_delete,
        "chat.getPermalink" => chat_get_permalink,
        "pins.add" => pins_add,
        "reactions.add" => reactions_add,
        "files.getUploadURLExternal" => files_get_upload_url_external,
        "files.completeUploadExternal" => files_complete_upload_external,
        "reactions.remove" => reactions_remove,
        "users.info" => users_info,
        "usergroups.list" => usergroups_list,
        "usergroups.users.list" => usergroups_users_list,
        "views.open" => views_open,
        "views.push" => views_open,
        "views.update" => views_update,
        "bookmarks.add" => bookmarks_add,
        _ => return None,
    })
}

/// `apps.connections.open` wants the app token, everything else the bot
/// token; the other kind of token is `not_allowed_token_type`, as at Slack.
fn check_auth(s: &Inner, method: &str, token: Option<&str>) -> Result<(), &'static str> {
    let (wanted, valid, other) = if method == "apps.connections.open" {
        (APP_TOKEN, s.app_token_valid, BOT_TOKEN)
    } else {
        (BOT_TOKEN, s.bot_token_valid, APP_TOKEN)
    };
    match token {
        None | Some("") => Err("not_authed"),
        Some(t) if t == wanted && valid => Ok(()),
        Some(t) if t == other => Err("not_allowed_token_type"),
        Some(_) => Err("invalid_auth"),
    }
}

// ---- parameters -----------------------------------------------------------

/// A parameter as text (form values are strings already; JSON numbers and
/// booleans are printed).
fn text(p: &Params, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::String(_) | Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn flag(p: &Params, key: &str) -> bool {
    matches!(text(p, key).as_deref(), Some("true" | "1"))
}

fn number(p: &Params, key: &str) -> Option<usize> {
    text(p, key)?.parse().ok()
}

/// A JSON-valued parameter, which a form body carries as a JSON string.
pub(super) fn json_param(p: &Params, key: &str) -> Option<Value> {
    match p.get(key)? {
        Value::String(s) => Some(serde_json::from_str(s).unwrap_or_else(|_| json!(s))),
        Value::Null => None,
        other => Some(other.clone()),
    }
}

/// A comma-separated list, or a JSON array of strings.
fn list(p: &Params, key: &str) -> Vec<String> {
    match p.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => text(p, key)
            .unwrap_or_default()
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect(),
    }
}

/// `"1700000000.000100"` → microseconds, for ordering and windows.
fn ts_key(ts: &str) -> Option<u64> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let frac = format!("{frac:0<6}");
    Some(secs.parse::<u64>().ok()? * 1_000_000 + frac.get(..6)?.parse::<u64>().ok()?)
}

/// `cursor` + `limit` over a prepared list. Cursors are opaque to clients
/// and say "offset N" to us.
fn page(
    items: Vec<Value>,
    p: &Params,
    default_limit: usize,
) -> Result<(Vec<Value>, String), &'static str> {
    let offset = match text(p, "cursor") {
        None => 0,
        Some(c) => c
            .strip_prefix("ZmFrZQ-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or("invalid_cursor")?,
    };
    let limit = number(p, "limit")
        .filter(|n| *n > 0)
        .unwrap_or(default_limit)
        .min(1000);
    let end = (offset + limit).min(items.len());
    let next = if end < items.len() {
        format!("ZmFrZQ-{end}")
    } else {
        String::new()
    };
    Ok((items[offset..end].to_vec(), next))
}

// ---- JSON shapes ------------------------------------------------------------

fn channel_json(c: &Channel) -> Value {
    json!({
        "id": c.id, "name": c.name, "name_normalized": c.name,
        "is_channel": !c.is_private, "is_group": false, "is_im": false, "is_mpim": false,
        "is_private": c.is_private, "is_archived": c.is_archived, "is_general": false,
        "is_shared": false, "is_org_shared": false, "is_member": c.is_member,
        "created": c.created, "creator": BOT_USER_ID,
        "topic": {"value": c.topic, "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "previous_names": [], "num_members": c.members.len(),
    })
}

fn dm_json(s: &Inner, id: &str) -> Value {
    let user = s.dms.iter().find(|(_, d)| *d == id).map(|(u, _)| u.clone());
    json!({"id": id, "created": 0, "is_im": true, "is_org_shared": false,
           "user": user, "is_user_deleted": false, "priority": 0})
}

fn message_json(s: &Inner, m: &Message) -> Value {
    let mut v = json!({"type": "message", "ts": m.ts, "user": m.user, "team": TEAM_ID,
                       "text": m.text.clone().unwrap_or_default()});
    if m.is_from_bot() {
        v["bot_id"] = json!(BOT_ID);
        v["app_id"] = json!(APP_ID);
    }
    if let Some(bot_id) = &m.other_bot {
        // As Slack lists an integration's post: a bot, no person.
        v["bot_id"] = json!(bot_id);
        v["subtype"] = json!("bot_message");
        v["username"] = json!("deploy-bot");
        v.as_object_mut().map(|o| o.remove("user"));
    }
    if let Some(blocks) = &m.blocks {
        v["blocks"] = blocks.clone();
    }
    if let Some(thread_ts) = &m.thread_ts {
        v["thread_ts"] = json!(thread_ts);
    }
    if m.updated > 0 {
        v["edited"] = json!({"user": m.user, "ts": m.ts});
    }
    let replies: Vec<&Message> = s
        .messages
        .iter()
        .filter(|r| r.channel == m.channel && r.thread_ts.as_ref() == Some(&m.ts) && r.ts != m.ts)
        .collect();
    if let Some(last) = replies.last() {
        v["thread_ts"] = json!(m.ts);
        v["reply_count"] = json!(replies.len());
        v["latest_reply"] = json!(last.ts);
    }
    // As Slack lists them: one entry per emoji, with everyone who used it.
    let mut reactions: Vec<(String, Vec<String>)> = Vec::new();
    let all = m.user_reactions.iter().cloned().chain(
        m.reactions
            .iter()
            .map(|n| (n.clone(), BOT_USER_ID.to_string())),
    );
    for (name, user) in all {
        match reactions.iter_mut().find(|(n, _)| *n == name) {
            Some((_, users)) => users.push(user),
            None => reactions.push((name, vec![user])),
        }
    }
    if !reactions.is_empty() {
        let reactions: Vec<Value> = reactions
            .into_iter()
            .map(|(name, users)| json!({"name": name, "count": users.len(), "users": users}))
            .collect();
        v["reactions"] = json!(reactions);
    }
    v
}

fn user_json(id: &str, name: &str) -> Value {
    json!({"id": id, "team_id": TEAM_ID, "name": name, "real_name": name, "deleted": false,
           "is_bot": id == BOT_USER_ID, "is_admin": false, "tz": "Etc/UTC",
           "profile": {"real_name": name, "display_name": name}})
}

// ---- lookups shared by handlers -------------------------------------------

fn channel_param(p: &Params) -> Result<String, &'static str> {
    text(p, "channel").ok_or("channel_not_found")
}

/// A channel the bot can act in: exists, not archived, bot is a member.
fn usable_channel<'a>(s: &'a mut Inner, id: &str) -> Result<&'a mut Channel, &'static str> {
    let c = s.channel_mut(id).ok_or("channel_not_found")?;
    if c.is_archived {
        return Err("is_archived");
    }
    if !c.is_member {
        return Err("not_in_channel");
    }
    Ok(c)
}

/// Where a message for `target` goes: a DM id, a user id (their DM with the
/// bot) or a channel the bot is in.
fn post_target(s: &mut Inner, target: &str) -> Result<String, &'static str> {
    if s.is_dm(target) {
        return Ok(target.to_string());
    }
    if s.users.contains_key(target) {
        return Ok(s.dm_with(target).0);
    }
    usable_channel(s, target).map(|c| c.id.clone())
}

/// A conversation the bot may read: a DM, or a channel it is a member of.
fn readable(s: &Inner, id: &str) -> Result<(), &'static str> {
    if s.is_dm(id) {
        return Ok(());
    }
    match s.channel(id) {
        None => Err("channel_not_found"),
        Some(c) if !c.is_member => Err("not_in_channel"),
        Some(_) => Ok(()),
    }
}

fn join(c: &mut Channel, user: &str) {
    if !c.members.iter().any(|m| m == user) {
        c.members.push(user.to_string());
    }
    c.is_member = c.members.iter().any(|m| m == BOT_USER_ID);
}

/// The `text` and `blocks` of a message; at least one is needed.
fn content(p: &Params) -> Result<(Option<String>, Option<Value>), &'static str> {
    let text = text(p, "text");
    let blocks = json_param(p, "blocks");
    if let Some(b) = &blocks {
        validate_blocks(b, 50)?;
    }
    let has_blocks = blocks
        .as_ref()
        .and_then(Value::as_array)
        .is_some_and(|b| !b.is_empty());
    if text.is_none() && !has_blocks && p.get("attachments").is_none() {
        return Err("no_text");
    }
    Ok((text, blocks))
}

/// Block Kit limits Slack enforces (see SLACK.md): block count, text
/// lengths, ids, button text and value.
fn validate_blocks(blocks: &Value, max: usize) -> Result<(), &'static str> {
    let blocks = blocks.as_array().ok_or("invalid_blocks")?;
    if blocks.len() > max || !blocks.iter().all(valid_block) {
        return Err("invalid_blocks");
    }
    Ok(())
}

fn valid_block(b: &Value) -> bool {
    let chars = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, |s| s.chars().count());
    let inner_text = |v: &Value| chars(v.get("text").and_then(|t| t.get("text")));
    let Some(kind) = b.get("type").and_then(Value::as_str) else {
        return false;
    };
    let max_text = if kind == "header" { 150 } else { 3000 };
    let mut elements: Vec<&Value> = b
        .get("elements")
        .and_then(Value::as_array)
        .map(|e| e.iter().collect())
        .unwrap_or_default();
    elements.extend(b.get("accessory"));
    inner_text(b) <= max_text
        && chars(b.get("block_id")) <= 255
        && elements.iter().all(|e| {
            let is_button = e.get("type").and_then(Value::as_str) == Some("button");
            chars(e.get("action_id")) <= 255
                && (!is_button || (inner_text(e) <= 75 && chars(e.get("value")) <= 2000))
        })
}

fn valid_view(view: &Value) -> bool {
    let title_ok = |k: &str| {
        view.get(k)
            .and_then(|t| t.get("text"))
            .and_then(Value::as_str)
            .is_none_or(|t| t.chars().count() <= 24)
    };
    view.get("type").and_then(Value::as_str).is_some()
        && view
            .get("blocks")
            .is_some_and(|b| validate_blocks(b, 100).is_ok())
        && ["title", "submit", "close"].iter().all(|k| title_ok(k))
}

/// Channel names: lowercase letters, digits, `-`, `_`, at most 80.
fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("invalid_name_required");
    }
    if name.chars().count() > 80 {
        return Err("invalid_name_maxlength");
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if !name.chars().all(allowed) {
        return Err("invalid_name_specials");
    }
    if !name.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err("invalid_name_punctuation");
    }
    Ok(())
}

pub(super) fn new_channel(s: &mut Inner, name: &str, is_private: bool, bot_member: bool) -> String {
    let id = s.new_id("C");
    let mut channel = Channel {
        id: id.clone(),
        name: name.to_string(),
        topic: String::new(),
        members: Vec::new(),
        is_member: false,
        is_archived: false,
        is_private,
        pins: Vec::new(),
        bookmarks: Vec::new(),
        created: unix_secs(),
    };
    if bot_member {
        join(&mut channel, BOT_USER_ID);
    }
    s.channels.push(channel);
    id
}

pub(super) fn push_message(
    s: &mut Inner,
    channel: &str,
    user: &str,
    text: Option<String>,
    blocks: Option<Value>,
    thread_ts: Option<String>,
) -> String {
    let ts = s.new_ts();
    s.messages.push(Message {
        channel: channel.to_string(),
        ts: ts.clone(),
        user: user.to_string(),
        text,
        blocks,
        thread_ts,
        updated: 0,
        reactions: Vec::new(),
        user_reactions: Vec::new(),
        other_bot: None,
    });
    ts
}

// ---- handlers ---------------------------------------------------------------

fn apps_connections_open(s: &mut Inner, _: &Params) -> Reply {
    let ticket = format!("fake-ticket-{}", s.new_id("").to_lowercase());
    s.tickets.insert(ticket.clone());
    Ok(json!({"url": format!("{}/link/?ticket={ticket}&app_id={APP_ID}", s.ws_base)}))
}

fn auth_test(_: &mut Inner, _: &Params) -> Reply {
    Ok(
        json!({"url": "https://fake.slack.com/", "team": "Fake", "user": BOT_NAME,
              "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID}),
    )
}

fn conversations_create(s: &mut Inner, p: &Params) -> Reply {
    let name = text(p, "name").unwrap_or_default();
    validate_name(&name)?;
    // Archived channels keep their names forever.
    if s.channels.iter().any(|c| c.name == name) {
        return Err("name_taken");
    }
    let id = new_channel(s, &name, flag(p, "is_private"), true);
    Ok(json!({"channel": channel_json(s.channel(&id).expect("just created"))}))
}

fn conversations_invite(s: &mut Inner, p: &Params) -> Reply {
    let id = channel_param(p)?;
    usable_channel(s, &id)?;
    let users = list(p, "users");
    if users.is_empty() {
        return Err("no_user");
    }
    if users.iter().any(|u| u == BOT_USER_ID) {
        return Err("cant_invite_self");
    }
    if users.iter().any(|u| !s.users.contains_key(u)) {
        return Err("user_not_found");
    }
    let c = s.channel_mut(&id).expect("checked above");
    if users.iter().all(|u| c.members.contains(u)) {
        return Err("already_in_channel");
    }
    users.iter().for_each(|u| join(c, u));
    Ok(json!({"channel": channel_json(c)}))
}

fn conversations_set_topic(s: &mut Inner, p: &Params) -> Reply {
    let id = channel_param(p)?;
    let topic = text(p, "topic").unwrap_or_default();
    let c = usable_channel(s, &id)?;
    if topic.chars().count() > 250 {
        return Err("too_long");
    }
    c.topic = topic;
    Ok(json!({"channel": channel_json(c)}))
}

fn conversations_list(s: &mut Inner, p: &Params) -> Reply {
    let types = list(p, "types");
    let wants =
        |t: &str| types.iter().any(|x| x == t) || (types.is_empty() && t == "public_channel");
    let exclude_archived = flag(p, "exclude_archived");
    let mut all: Vec<Value> = s
        .channels
        .iter()
        .filter(|c| !(exclude_archived && c.is_archived))
        .filter(|c| {
            if c.is_private {
                wants("private_channel") && c.is_member
            } else {
                wants("public_channel")
            }
        })
        .map(channel_json)
        .collect();
    if wants("im") {
        all.extend(s.dms.values().map(|d| dm_json(s, d)));
    }
    let (channels, next) = page(all, p, 100)?;
    Ok(json!({"channels": channels, "response_metadata": {"next_cursor": next}}))
}

fn conversations_info(s: &mut Inner, p: &Params) -> Reply {
    let id = channel_param(p)?;
    if s.is_dm(&id) {
        return Ok(json!({"channel": dm_json(s, &id)}));
    }
    let c = s.channel(&id).ok_or("channel_not_found")?;
    Ok(json!({"channel": channel_json(c)}))
}

/// `oldest < ts < latest`, both ends included with `inclusive`.
fn in_window(ts: &str, p: &Params) -> bool {
    let key = ts_key(ts).unwrap_or(0);
    let inclusive = flag(p, "inclusive");
    let after = text(p, "oldest")
        .and_then(|o| ts_key(&o))
        .is_none_or(|o| key > o || (inclusive && key == o));
    let before = text(p, "latest")
        .and_then(|l| ts_key(&l))
        .is_none_or(|l| key < l || (inclusive && key == l));
    after && before
}

fn conversations_history(s: &mut Inner, p: &Params) -> Reply {
    let id = channel_param(p)?;
    readable(s, &id)?;
    let top_level = |m: &&Message| m.thread_ts.as_ref().is_none_or(|t| *t == m.ts);
    let mut found: Vec<&Message> = s
        .messages
        .iter()
        .filter(|m| m.channel == id && in_window(&m.ts, p))
        .filter(top_level)
        .collect();
    found.reverse(); // newest first
    let all = found.into_iter().map(|m| message_json(s, m)).collect();
    let (messages, next) = page(all, p, 100)?;
    let pin_count = s.channel(&id).map_or(0, |c| c.pins.len());
    Ok(
        json!({"messages": messages, "has_more": !next.is_empty(), "pin_count": pin_count,
              "response_metadata": {"next_cursor": next}}),
    )
}

fn conversations_replies(s: &mut Inner, p: &Params) -> Reply {
    let id = channel_param(p)?;
    readable(s, &id)?;
    let ts = text(p, "ts").ok_or("thread_not_found")?;
    let parent = s.message(&id, &ts).ok_or("thread_not_found")?;
    let mut all = vec![message_json(s, parent)];
    all.extend(
        s.messages
            .iter()
            .filter(|m| m.channel == id && m.thread_ts.as_deref() == Some(&ts) && m.ts != ts)
            .filter(|m| in_window(&m.ts, p))
            .map(|m| message_json(s, m)),
    );
    let (messages, next) = page(all, p, 1000)?;
    Ok(json!({"messages": messages, "has_more": !next.is_empty(),
              "response_metadata": {"next_cursor": next}}))
}

fn conversations_join(s: &mut Inner, p: &Params) -> Reply {
    let id = channel_param(p)?;
    if s.is_dm(&id) {
        return Err("method_not_supported_for_channel_type");
    }
    let c = s.channel_mut(&id).ok_or("channel_not_found")?;
    if c.is_archived {
        return Err("is_archived");
    }
    if c.is_private {
        return Err("method_not_supported_for_channel_type");
    }
    let already = c.is_member;
    join(c, BOT_USER_ID);
    let mut body = json!({"channel": channel_json(c)});
    if already {
        body["warning"] = json!("already_in_channel");
        body["response_metadata"] = json!({"warnings": ["already_in_channel"]});
    }
    Ok(body)
}

fn conversations_archive(s: &mut Inner, p: &Params) -> Reply {
    let id = channel_param(p)?;
    let c = s.channel_mut(&id).ok_or("channel_not_found")?;
    if c.is_archived {
        return Err("already_archived");
    }
    c.is_archived = true;
    Ok(json!({}))
}

fn conversations_open(s: &mut Inner, p: &Params) -> Reply {
    if let Some(id) = text(p, "channel") {
        return match s.is_dm(&id) {
            true => Ok(json!({"channel": dm_json(s, &id), "already_open": true, "no_op": true})),
            false => Err("channel_not_found"),
        };
    }
    let users = list(p, "users");
    let [user] = users.as_slice() else {
        // Group DMs (mpim) are not modelled.
        return Err(if users.is_empty() {
            "users_list_not_supplied"
        } else {
            "fake_does_not_support_mpim"
        });
    };
    if user == BOT_USER_ID {
        return Err("cannot_dm_bot");
    }
    if !s.users.contains_key(user) {
        return Err("user_not_found");
    }
    let (id, existed) = s.dm_with(user);
    Ok(json!({"channel": dm_json(s, &id), "already_open": existed, "no_op": existed}))
}

fn chat_post_message(s: &mut Inner, p: &Params) -> Reply {
    let target = channel_param(p)?;
    let channel = post_target(s, &target)?;
    let (text, blocks) = content(p)?;
    let thread_ts = ts_param(p, "thread_ts");
    let ts = push_message(s, &channel, BOT_USER_ID, text, blocks, thread_ts);
    let message = message_json(s, s.message(&channel, &ts).expect("just posted"));
    Ok(json!({"channel": channel, "ts": ts, "message": message}))
}

fn ts_param(p: &Params, key: &str) -> Option<String> {
    text(p, key).filter(|t| ts_key(t).is_some())
}

fn chat_post_ephemeral(s: &mut Inner, p: &Params) -> Reply {
    let channel = channel_param(p)?;
    let user = text(p, "user").ok_or("user_not_found")?;
    if !s.is_dm(&channel) {
        let c = s.channel(&channel).ok_or("channel_not_found")?;
        if !s.users.contains_key(&user) {
            return Err("user_not_found");
        }
        if !c.members.contains(&user) {
            return Err("user_not_in_channel");
        }
    }
    let (text, blocks) = content(p)?;
    s.ephemerals.push(Ephemeral {
        channel: Some(channel),
        user: Some(user),
        text,
        blocks,
        via: "chat.postEphemeral".to_string(),
        response_type: None,
        raw: Value::Object(p.clone()),
    });
    Ok(json!({"message_ts": s.new_ts()}))
}

fn chat_delete(s: &mut Inner, p: &Params) -> Reply {
    let channel = channel_param(p)?;
    let ts = text(p, "ts").ok_or("message_not_found")?;
    let m = s.message(&channel, &ts).ok_or("message_not_found")?;
    if !m.is_from_bot() {
        return Err("cant_delete_message");
    }
    s.messages.retain(|m| !(m.channel == channel && m.ts == ts));
    if let Some(c) = s.channel_mut(&channel) {
        c.pins.retain(|pinned| *pinned != ts);
    }
    Ok(json!({"channel": channel, "ts": ts}))
}

fn chat_update(s: &mut Inner, p: &Params) -> Reply {
    let channel = channel_param(p)?;
    if !s.is_dm(&channel) && s.channel(&channel).is_none() {
        return Err("channel_not_found");
    }
    let ts = text(p, "ts").ok_or("message_not_found")?;
    let (text, blocks) = content(p)?;
    let m = s.message_mut(&channel, &ts).ok_or("message_not_found")?;
    if !m.is_from_bot() {
        return Err("cant_update_message");
    }
    if text.is_some() {
        m.text = text;
    }
    // Leaving `blocks` out keeps the old ones; `[]` removes them.
    match blocks {
        Some(b) if b.as_array().is_some_and(Vec::is_empty) => m.blocks = None,
        Some(b) => m.blocks = Some(b),
        None => {}
    }
    m.updated += 1;
    let m = s.message(&channel, &ts).expect("just updated");
    Ok(
        json!({"channel": channel, "ts": ts, "text": m.text.clone().unwrap_or_default(),
              "message": message_json(s, m)}),
    )
}

fn chat_get_permalink(s: &mut Inner, p: &Params) -> Reply {
    let channel = channel_param(p)?;
    if !s.is_dm(&channel) && s.channel(&channel).is_none() {
        return Err("channel_not_found");
    }
    let ts = text(p, "message_ts").ok_or("message_not_found")?;
    let m = s.message(&channel, &ts).ok_or("message_not_found")?;
    let mut link = format!(
        "https://fake.slack.com/archives/{channel}/p{}",
        ts.replace('.', "")
    );
    if let Some(thread_ts) = m.thread_ts.as_ref().filter(|t| **t != ts) {
        link.push_str(&format!("?thread_ts={thread_ts}&cid={channel}"));
    }
    Ok(json!({"channel": channel, "permalink": link}))
}

fn pins_add(s: &mut Inner, p: &Params) -> Reply {
    let channel = channel_param(p)?;
    let ts = text(p, "timestamp").ok_or("no_item_specified")?;
    usable_channel(s, &channel)?;
    s.message(&channel, &ts).ok_or("message_not_found")?;
    let c = s.channel_mut(&channel).expect("checked above");
    if c.pins.contains(&ts) {
        return Err("already_pinned");
    }
    c.pins.push(ts);
    Ok(json!({}))
}

fn files_get_upload_url_external(s: &mut Inner, p: &Params) -> Reply {
    let filename = text(p, "filename").ok_or("invalid_arguments")?;
    let length: usize = text(p, "length")
        .and_then(|l| l.parse().ok())
        .ok_or("invalid_arguments")?;
    let id = s.new_id("F");
    s.files.push(super::state::UploadedFile {
        id: id.clone(),
        filename,
        length,
        content: None,
        title: None,
        channel: None,
    });
    Ok(json!({"upload_url": format!("{}/upload/{id}", s.api_base), "file_id": id}))
}

/// Shares uploaded files in `channel_id`: each must have been uploaded in
/// full (as many bytes as announced), as Slack checks.
fn files_complete_upload_external(s: &mut Inner, p: &Params) -> Reply {
    let files = json_param(p, "files").ok_or("invalid_arguments")?;
    let channel = text(p, "channel_id").ok_or("invalid_arguments")?;
    usable_channel(s, &channel)?;
    let mut shared = Vec::new();
    for f in files.as_array().ok_or("invalid_arguments")? {
        let id = f
            .get("id")
            .and_then(Value::as_str)
            .ok_or("invalid_arguments")?;
        let title = f.get("title").and_then(Value::as_str).map(str::to_owned);
        let file = s
            .files
            .iter_mut()
            .find(|x| x.id == id)
            .ok_or("file_not_found")?;
        if file.content.as_ref().map(Vec::len) != Some(file.length) {
            return Err("file_upload_size_mismatch");
        }
        file.title = title.clone().or_else(|| Some(file.filename.clone()));
        file.channel = Some(channel.clone());
        shared.push(json!({"id": id, "title": file.title}));
    }
    Ok(json!({"files": shared}))
}

fn reactions_remove(s: &mut Inner, p: &Params) -> Reply {
    let channel = channel_param(p)?;
    let ts = text(p, "timestamp").ok_or("no_item_specified")?;
    let name = text(p, "name").unwrap_or_default();
    readable(s, &channel)?;
    let m = s.message_mut(&channel, &ts).ok_or("message_not_found")?;
    let before = m.reactions.len();
    m.reactions.retain(|r| *r != name);
    if m.reactions.len() == before {
        return Err("no_reaction");
    }
    Ok(json!({}))
}

fn reactions_add(s: &mut Inner, p: &Params) -> Reply {
    let channel = channel_param(p)?;
    let ts = text(p, "timestamp").ok_or("no_item_specified")?;
    let name = text(p, "name").unwrap_or_default();
    if name.is_empty() || name.contains([':', ' ']) {
        return Err("invalid_name");
    }
    readable(s, &channel)?;
    let m = s.message_mut(&channel, &ts).ok_or("message_not_found")?;
    if m.reactions.contains(&name) {
        return Err("already_reacted");
    }
    m.reactions.push(name);
    Ok(json!({}))
}

/// Slack delivers payloads only from people who exist, so a user id the
/// fake was not told about (tests use many) is described as a full member
/// of the workspace; ids that are not user-shaped are `user_not_found`.
fn users_info(s: &mut Inner, p: &Params) -> Reply {
    let id = text(p, "user").unwrap_or_default();
    let shaped = (id.starts_with('U') || id.starts_with('W'))
        && id.len() >= 5
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let name = match s.users.get(&id) {
        Some(name) => name.clone(),
        None if shaped => id.to_lowercase(),
        None => return Err("user_not_found"),
    };
    let mut user = user_json(&id, &name);
    user["is_restricted"] = json!(false);
    user["is_ultra_restricted"] = json!(false);
    match s.standings.get(&id) {
        Some(Standing::Guest { single_channel }) => {
            user["is_restricted"] = json!(!single_channel);
            user["is_ultra_restricted"] = json!(single_channel);
        }
        Some(Standing::External { team }) => {
            user["team_id"] = json!(team);
            user["is_stranger"] = json!(true);
        }
        None => {}
    }
    Ok(json!({"user": user}))
}

/// `conversations.members`: the members of a channel the bot can see (one
/// page: the fake's channels are small).
fn conversations_members(s: &mut Inner, p: &Params) -> Reply {
    let id = channel_param(p)?;
    let c = s.channel(&id).ok_or("channel_not_found")?;
    if c.is_private && !c.is_member {
        return Err("channel_not_found");
    }
    Ok(json!({"members": c.members, "response_metadata": {"next_cursor": ""}}))
}

fn usergroups_list(s: &mut Inner, p: &Params) -> Reply {
    let include_users = flag(p, "include_users");
    let groups: Vec<Value> = s
        .usergroups
        .iter()
        .map(|g| {
            let mut v = json!({
                "id": g.id, "team_id": TEAM_ID, "is_usergroup": true, "is_subteam": true,
                "name": g.name, "description": "", "handle": g.handle, "is_external": false,
                "date_create": 1_700_000_000, "date_update": 1_700_000_000, "date_delete": 0,
                "created_by": "U0FAKEADMIN", "updated_by": "U0FAKEADMIN",
                "prefs": {"channels": [], "groups": []}, "user_count": g.users.len(),
            });
            if include_users {
                v["users"] = json!(g.users);
            }
            v
        })
        .collect();
    Ok(json!({"usergroups": groups}))
}

fn usergroups_users_list(s: &mut Inner, p: &Params) -> Reply {
    let id = text(p, "usergroup").unwrap_or_default();
    let g = s
        .usergroups
        .iter()
        .find(|g| g.id == id)
        .ok_or("no_such_subteam")?;
    Ok(json!({"users": g.users}))
}

/// `views.open` and `views.push`. A trigger id the fake issued
/// (`FakeSlack::trigger_id`) works once, within 3 s; any other non-empty
/// trigger id (e.g. from a fixture) is accepted.
fn views_open(s: &mut Inner, p: &Params) -> Reply {
    let trigger_id = text(p, "trigger_id").ok_or("invalid_arguments")?;
    let view = json_param(p, "view").ok_or("invalid_arguments")?;
    if let Some(t) = s.triggers.get_mut(&trigger_id) {
        if t.used || t.issued.elapsed().as_secs() >= TRIGGER_LIFETIME_SECS {
            return Err("expired_trigger_id");
        }
        t.used = true;
    }
    if !valid_view(&view) {
        return Err("invalid_arguments");
    }
    let id = s.new_id("V");
    let hash = format!("{}.fakehash", s.new_ts());
    s.views.push(View {
        id: id.clone(),
        trigger_id: Some(trigger_id),
        view,
        hash,
        updated: 0,
    });
    Ok(json!({"view": view_json(s.views.last().expect("just pushed"))}))
}

fn views_update(s: &mut Inner, p: &Params) -> Reply {
    let view = json_param(p, "view").ok_or("invalid_arguments")?;
    if !valid_view(&view) {
        return Err("invalid_arguments");
    }
    let id = text(p, "view_id");
    let external_id = text(p, "external_id");
    let hash = format!("{}.fakehash", s.new_ts());
    let v = s
        .views
        .iter_mut()
        .find(|v| {
            Some(&v.id) == id.as_ref()
                || (external_id.is_some()
                    && v.view.get("external_id").and_then(Value::as_str) == external_id.as_deref())
        })
        .ok_or("not_found")?;
    if text(p, "hash").is_some_and(|h| h != v.hash) {
        return Err("hash_conflict");
    }
    v.view = view;
    v.hash = hash;
    v.updated += 1;
    Ok(json!({"view": view_json(v)}))
}

fn view_json(v: &View) -> Value {
    let mut out = v.view.clone();
    let extra = json!({"id": v.id, "team_id": TEAM_ID, "hash": v.hash, "app_id": APP_ID,
                       "bot_id": BOT_ID, "root_view_id": v.id, "previous_view_id": null,
                       "state": {"values": {}}});
    if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    out
}

fn bookmarks_add(s: &mut Inner, p: &Params) -> Reply {
    let channel = text(p, "channel_id").ok_or("channel_not_found")?;
    let title = text(p, "title").ok_or("invalid_arguments")?;
    let kind = text(p, "type").unwrap_or_default();
    let link = text(p, "link").unwrap_or_default();
    if kind != "link" {
        return Err("invalid_bookmark_type");
    }
    if !(link.starts_with("https://") || link.starts_with("http://")) {
        return Err("invalid_link");
    }
    let id = s.new_id("Bk");
    let c = usable_channel(s, &channel)?;
    let bookmark = json!({"id": id, "channel_id": channel, "title": title, "link": link,
                          "emoji": text(p, "emoji"), "type": "link", "entity_id": null,
                          "date_created": unix_secs(), "date_updated": 0, "rank": "U",
                          "last_updated_by_user_id": BOT_USER_ID, "last_updated_by_team_id": TEAM_ID,
                          "shortcut_id": null, "app_id": APP_ID});
    c.bookmarks.push(bookmark.clone());
    Ok(json!({"bookmark": bookmark}))
}
