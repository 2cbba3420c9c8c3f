//! The Socket Mode side: a websocket listener at `/link/?ticket=…`, one task
//! per socket that sends `hello`, pings, forwards what the test sends and
//! records what the client sends (acks, garbage, close).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::http;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::APP_ID;
use super::state::{Ack, Shared, SocketCmd, SocketId, SocketRec};

/// Who closed first, for `mark_closed`.
const CLIENT: bool = true;
const SERVER: bool = false;

/// How long a server-initiated close waits for the client's Close reply
/// before dropping the connection.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(2);
/// Most envelopes queued for one socket that go out in one write.
const ENVELOPES_PER_WRITE: usize = 64;

pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        // Envelopes go out the moment they are sent, as separate frames:
        // Nagle's algorithm would hold one back until the client's TCP ACK,
        // and charge the wait to the bot's ack latency.
        let _ = stream.set_nodelay(true);
        tokio::spawn(run_socket(stream, shared.clone()));
    }
}

/// Checks path and one-use ticket during the websocket handshake.
fn check_handshake(shared: &Shared, req: &Request) -> Result<(), String> {
    let path = req.uri().path();
    if path != "/link/" && path != "/link" {
        return Err(format!("no websocket at {path}"));
    }
    let ticket = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "ticket")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    shared.update(|s| {
        // The ticket is spent even when the handshake is then refused.
        let known = s.tickets.remove(&ticket);
        if !known {
            return Err(format!("unknown or used ticket {ticket:?}"));
        }
        if s.handshakes_to_reject > 0 {
            s.handshakes_to_reject -= 1;
            return Err(format!("injected handshake failure (ticket {ticket})"));
        }
        Ok(())
    })
}

/// The handshake callback: accepts a valid ticket, refuses (HTTP 400) and
/// records anything else.
struct TicketCheck<'a>(&'a Shared);

impl Callback for TicketCheck<'_> {
    fn on_request(self, req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
        check_handshake(self.0, req).map(|()| resp).map_err(|why| {
            self.0.update(|s| s.rejected_handshakes.push(why.clone()));
            let mut refusal = ErrorResponse::new(Some(why));
            *refusal.status_mut() = http::StatusCode::BAD_REQUEST;
            refusal
        })
    }
}

async fn run_socket(stream: TcpStream, shared: Arc<Shared>) {
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, TicketCheck(&shared)).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, num_connections) = shared.update(|s| {
        let id = s.sockets.len() as SocketId + 1;
        s.sockets.push(SocketRec {
            id,
            opened_at: Instant::now(),
            hello_sent: false,
            silent: false,
            closed: None,
            tx,
        });
        (id, s.open_sockets().count())
    });
    let (mut sink, mut stream) = ws.split();

    let hello = json!({
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {
            "host": "applink-fake",
            "build_number": 10,
            "approximate_connection_time": 18060
        },
        "connection_info": { "app_id": APP_ID }
    });
    if sink.send(WsMessage::text(hello.to_string())).await.is_err() {
        mark_closed(&shared, id, CLIENT, None, "gone before hello");
        return;
    }
    shared.update(|s| {
        if let Some(rec) = s.socket_mut(id) {
            rec.hello_sent = true;
        }
    });

    let mut interval_rx = shared.ping_interval.subscribe();
    let mut next_ping = tokio::time::Instant::now() + *interval_rx.borrow_and_update();
    let mut frozen = false;
    // Set once the server sent its Close: from then on only the client's
    // reply (or this deadline) is awaited.
    let mut closing: Option<tokio::time::Instant> = None;
    let far_future = tokio::time::Instant::now() + Duration::from_secs(86_400);

    loop {
        tokio::select! {
            frame = stream.next(), if !frozen => match frame {
                Some(Ok(WsMessage::Text(text))) => record_client_text(&shared, id, text.as_str()),
                Some(Ok(WsMessage::Binary(bytes))) => shared.update(|s| {
                    s.garbage.push(String::from_utf8_lossy(&bytes).into_owned())
                }),
                Some(Ok(WsMessage::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (Some(u16::from(f.code)), f.reason.to_string()))
                        .unwrap_or((None, String::new()));
                    mark_closed(&shared, id, CLIENT, code, &reason);
                    // tungstenite queues the Close reply; the next read
                    // flushes it and then ends the stream.
                }
                Some(Ok(_)) => {} // Ping (answered by tungstenite), Pong
                Some(Err(_)) | None => {
                    mark_closed(&shared, id, CLIENT, None, "connection dropped");
                    break;
                }
            },
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                // Envelopes queued together go out in one write, as a busy
                // server sends them, each stamped once it is out: the fake
                // then spends its time reading acks, not in write syscalls.
                let mut batch = vec![cmd];
                while batch.len() < ENVELOPES_PER_WRITE {
                    match rx.try_recv() {
                        Ok(cmd) => batch.push(cmd),
                        Err(_) => break,
                    }
                }
                let mut unflushed = Vec::new();
                for cmd in batch {
                    if let SocketCmd::Envelope { id, text } = cmd {
                        if sink.feed(WsMessage::text(text)).await.is_ok() {
                            unflushed.push(id);
                        }
                        continue;
                    }
                    flush_envelopes(&mut sink, &shared, &mut unflushed).await;
                    match cmd {
                        SocketCmd::Text(text) => {
                            let _ = sink.send(WsMessage::text(text)).await;
                        }
                        SocketCmd::Close { code, reason } => {
                            if closing.is_some() || !is_open(&shared, id) {
                                continue;
                            }
                            mark_closed(&shared, id, SERVER, Some(code), &reason);
                            let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                            let _ = sink.send(WsMessage::Close(Some(frame))).await;
                            closing = Some(tokio::time::Instant::now() + CLOSE_REPLY_WAIT);
                            frozen = false;
                        }
                        SocketCmd::Freeze(f) => frozen = f,
                        SocketCmd::Envelope { .. } => unreachable!("fed above"),
                    }
                }
                flush_envelopes(&mut sink, &shared, &mut unflushed).await;
            },
            _ = sleep_until(next_ping), if closing.is_none() => {
                if !frozen && !is_silent(&shared, id) {
                    let _ = sink.send(WsMessage::Ping(b"fake-slack".as_slice().into())).await;
                }
                next_ping = tokio::time::Instant::now() + *interval_rx.borrow_and_update();
            },
            Ok(()) = interval_rx.changed() => {
                next_ping = tokio::time::Instant::now() + *interval_rx.borrow_and_update();
            },
            _ = sleep_until(closing.unwrap_or(far_future)), if closing.is_some() => break,
        }
    }
    mark_closed(&shared, id, CLIENT, None, "connection dropped");
}

/// Flushes envelopes fed to `sink` and stamps them written.
async fn flush_envelopes<S>(sink: &mut S, shared: &Shared, unflushed: &mut Vec<String>)
where
    S: futures_util::Sink<WsMessage> + Unpin,
{
    if unflushed.is_empty() {
        return;
    }
    if sink.flush().await.is_ok() {
        let written = Instant::now();
        shared.update(|s| {
            for id in unflushed.drain(..) {
                s.envelopes_sent.insert(id, written);
            }
        });
    }
    unflushed.clear();
}

fn is_open(shared: &Shared, id: SocketId) -> bool {
    shared
        .lock()
        .sockets
        .iter()
        .any(|s| s.id == id && s.is_open())
}

fn is_silent(shared: &Shared, id: SocketId) -> bool {
    shared.lock().sockets.iter().any(|s| s.id == id && s.silent)
}

/// Records the first close only: later calls keep who moved first.
fn mark_closed(shared: &Shared, id: SocketId, by_client: bool, code: Option<u16>, reason: &str) {
    shared.update(|s| {
        if let Some(rec) = s.socket_mut(id) {
            rec.close(by_client, code, reason);
        }
    });
}

/// A JSON object with an `envelope_id` is an ack; anything else is kept,
/// raw, in the garbage list.
fn record_client_text(shared: &Shared, socket: SocketId, text: &str) {
    let now = Instant::now();
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let envelope_id = parsed
        .as_ref()
        .and_then(|v| v.get("envelope_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    shared.update(|s| match envelope_id {
        Some(envelope_id) => {
            let latency = s
                .envelopes_sent
                .get(&envelope_id)
                .map(|sent| now.saturating_duration_since(*sent))
                .unwrap_or_default();
            let payload = parsed.as_ref().and_then(|v| v.get("payload")).cloned();
            s.acks.push(Ack {
                envelope_id,
                payload,
                latency,
                socket,
                raw: text.to_string(),
                at: now,
            });
        }
        None => s.garbage.push(text.to_string()),
    });
}
