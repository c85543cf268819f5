//! The WebSocket on `/`: the upgrade, and the loop that serves one connection.
//!
//! The loop waits for three things at once: a frame from the client (answered by
//! [`crate::reply::handle_text`]), the next heartbeat (see [`crate::heartbeat`]), and the
//! server's shutdown. It ends with a Close frame whose code says why:
//!
//! | code | reason |
//! | --- | --- |
//! | 1001 | `server shutting down` — the shutdown signal fired |
//! | 1008 | `no pong for two heartbeats` — the peer stopped answering Pings |
//! | 1009 | `message too big` — a message or frame over `max_message_bytes` |
//! | 1007 | `invalid UTF-8` — a text frame that is not UTF-8 |
//! | 1008 | `unauthorized: …` — production: the first frame was not a `hello` with a valid key |
//! | 1008 | `unauthorized: no API key in time` — production: no `hello` within the auth deadline |
//! | 1008 | `message rate limit exceeded` — production: a flood of messages over the limit |
//!
//! In production the handshake is refused with 401 when it carries a wrong key (see
//! [`crate::auth`]); without one, the socket opens and the key must come in the first frame.
//! Messages over the rate limit are answered with `rate_limited` and not handled (see
//! `limits`); the error's `replyTo` is the refused frame's id when it has one, so the client
//! can tell which frame was refused.
//!
//! After a 1009 the server does not read on: the rest of the oversized frame is never buffered.
//! A send that does not complete within [`SEND_TIMEOUT`] (a peer that stopped reading) ends the
//! connection without a Close.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use semantest_protocol::{frame_id, ErrorCode, ServerFrame, ServerMessage};
use tokio::time::{interval_at, MissedTickBehavior};

use crate::auth::{self, Credentials};
use crate::heartbeat::{Beat, Heartbeat};
use crate::limits::{MessageLimiter, Verdict};
use crate::listener::Slot;
use crate::metrics::{Action, LimitScope};
use crate::reply::{binary_refused, handle_text, Reply, Session};
use crate::shutdown::CLOSE_REPLY_WAIT;
use crate::AppState;

/// The WebSocket read buffer of one connection (see [`upgrade`]).
const READ_BUFFER: usize = 1024;

/// The longest one send may wait for the peer to make room.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /` with `Upgrade: websocket`: sets the size limits and hands the socket to [`serve`].
pub(crate) async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = crate::guard::refuse_origin(&state, &headers) {
        return refused;
    }
    let authenticated = if state.config().requires_auth() {
        match auth::from_headers(state.api_keys(), &headers) {
            Credentials::Valid => true,
            Credentials::Missing => false,
            // A tool that set Authorization reads the 401.
            Credentials::Invalid if auth::bearer(&headers).is_some() => {
                tracing::warn!("refused a WebSocket with a wrong API key");
                return auth::unauthorized(false);
            }
            // A browser cannot read a refused handshake's status (its WebSocket only says
            // 1006), so a wrong key in the subprotocol is told in band: the socket opens,
            // gets the `unauthorized` error and a 1008 with the reason, and nothing else.
            Credentials::Invalid => {
                tracing::warn!("refused a WebSocket with a wrong API key (subprotocol)");
                return ws.protocols([auth::SUBPROTOCOL]).on_upgrade(refuse_in_band);
            }
        }
    } else {
        true
    };
    let (requested, limit) = (Instant::now(), state.config().max_message_bytes);
    // Held from the request on, so a shutdown that starts during the upgrade still waits for
    // this connection and sends it a 1001.
    let held = state.shutdown().hold();
    ws.protocols([auth::SUBPROTOCOL])
        // The library's default 128 KiB read buffer is zero-filled on the first read, so every
        // idle socket kept 128 KiB resident (137 KB per connection, measured by bench/load's
        // ramp; 7.3 KB with 1 KiB). Protocol frames are small; a message may still be `limit`
        // long, it is read in more calls. Echo throughput measured the same (BENCHMARKS.md).
        .read_buffer_size(READ_BUFFER)
        // Each send is flushed at once anyway: no write buffer kept per socket.
        .write_buffer_size(0)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            serve(socket, state, requested, authenticated).await;
            // The connection's slot (see `listener`) is free once the socket is closed.
            drop((held, slot));
        })
}

/// Sends a socket whose handshake showed a wrong key the reason, and closes it. The client may
/// already be sending its first frames: they are read and dropped until its Close comes (at
/// most [`CLOSE_REPLY_WAIT`]), so its writes do not meet a reset connection before it has read
/// the reason.
async fn refuse_in_band(mut socket: WebSocket) {
    let frame = ServerFrame::error(None, ErrorCode::Unauthorized, "the API key is not valid");
    let close = Message::Close(Some(CloseFrame {
        code: close_code::POLICY,
        reason: "unauthorized: API key not valid".into(),
    }));
    if socket
        .send(Message::Text(frame.to_json().into()))
        .await
        .is_ok()
        && socket.send(close).await.is_ok()
    {
        let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
            while let Some(Ok(_)) = socket.next().await {}
        })
        .await;
    }
}

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    /// The server closes with this code and reason.
    Close(u16, &'static str),
}

/// Serves one connection until the client leaves, stops answering, or the server shuts down.
///
/// Generic over the socket so any `Stream + Sink` of messages can stand in for a real one.
async fn serve<S>(mut socket: S, state: AppState, requested: Instant, mut authenticated: bool)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let metrics = state.metrics();
    let _open = metrics.connection_opened();
    let connection_id = state.next_connection_id();
    let heartbeat_secs = state.config().heartbeat_secs;
    let mut deliveries = state.hub().join(&connection_id);
    let session = Session {
        connection_id: &connection_id,
        signature: state.signature(),
        heartbeat_secs,
        hub: state.hub(),
    };
    let period = Duration::from_secs(heartbeat_secs.max(1));
    let mut ticker = interval_at((Instant::now() + period).into(), period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut heartbeat = Heartbeat::new();
    let mut welcomed = false;
    let mut limiter = MessageLimiter::new(state.config());
    let auth_deadline = tokio::time::sleep(Duration::from_millis(state.config().auth_deadline_ms));
    tokio::pin!(auth_deadline);
    tracing::debug!(%connection_id, authenticated, "websocket open");

    let end = loop {
        tokio::select! {
            () = state.shutdown().triggered() => break End::Close(close_code::AWAY, "server shutting down"),
            () = &mut auth_deadline, if !authenticated => {
                state.metrics().error(semantest_protocol::ErrorCode::Unauthorized);
                break End::Close(close_code::POLICY, "unauthorized: no API key in time");
            }
            Some(text) = deliveries.recv() => {
                if send(&mut socket, Message::Text(text.into())).await.is_err() {
                    break End::Gone;
                }
            }
            _ = ticker.tick() => match heartbeat.tick(Instant::now()) {
                Beat::Ping(payload) => {
                    if send(&mut socket, Message::Ping(payload.into())).await.is_err() {
                        break End::Gone;
                    }
                }
                Beat::Dead => break End::Close(close_code::POLICY, "no pong for two heartbeats"),
            },
            message = socket.next() => {
                // Pings count too: the library answers each with a Pong, so they are work.
                if matches!(message, Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Ping(_)))) {
                    match limiter.check() {
                        Verdict::Handle => {}
                        Verdict::Refuse => {
                            metrics.rate_limited(LimitScope::WebSocket);
                            let refused = match &message {
                                Some(Ok(Message::Text(text))) => frame_id(text.as_str()),
                                _ => None,
                            };
                            let answer = rate_limited(state.config().messages_per_second, refused);
                            if send_reply(&mut socket, &answer, &state).await.is_err() {
                                break End::Gone;
                            }
                            continue;
                        }
                        Verdict::Close => {
                            metrics.rate_limited(LimitScope::WebSocket);
                            break End::Close(close_code::POLICY, "message rate limit exceeded");
                        }
                    }
                }
                if !authenticated {
                    match first_frame(message.as_ref(), &state) {
                        FirstFrame::Accepted => authenticated = true,
                        FirstFrame::NotData => {}
                        FirstFrame::Refused(refused, reason) => {
                            let _ = send_reply(&mut socket, &refused, &state).await;
                            break End::Close(close_code::POLICY, reason);
                        }
                    }
                }
                let reply = match message {
                    Some(Ok(Message::Text(text))) => handle_text(text.as_str(), &session, now_ms()),
                    Some(Ok(Message::Binary(_))) => binary_refused(),
                    Some(Ok(Message::Pong(payload))) => {
                        if let Some(rtt) = heartbeat.pong(&payload, Instant::now()) {
                            metrics.ping_rtt(rtt);
                        }
                        continue;
                    }
                    // Pings are answered by the WebSocket library itself.
                    Some(Ok(Message::Ping(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break End::Gone,
                    Some(Err(error)) => break read_failed(error, &state),
                };
                if send_reply(&mut socket, &reply, &state).await.is_err() {
                    break End::Gone;
                }
                if !welcomed && matches!(reply.frame.message, ServerMessage::Welcome(_)) {
                    welcomed = true;
                    metrics.handshake(requested.elapsed());
                }
            }
        }
    };
    state.hub().leave(&connection_id);
    tracing::debug!(%connection_id, ?end, "websocket closing");
    if end == End::Gone {
        // Flushes the Close reply the library queued when the client's Close arrived.
        let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, socket.close()).await;
    }
    if let End::Close(code, reason) = end {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if send(&mut socket, Message::Close(Some(frame))).await.is_ok() && code != close_code::SIZE
        {
            // Give the peer a moment to answer the close handshake; never wait forever.
            let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
                while let Some(Ok(_)) = socket.next().await {}
            })
            .await;
        }
    }
}

/// Counts and sends one reply.
async fn send_reply<S>(socket: &mut S, reply: &Reply, state: &AppState) -> Result<(), SendFailed>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    state.metrics().message(reply.action);
    if let ServerMessage::Error(error) = &reply.frame.message {
        state.metrics().error(error.code);
    }
    send(socket, Message::Text(reply.frame.to_json().into())).await
}

/// The answer to a message over the rate limit; `reply_to` is its frame id, if it has one.
fn rate_limited(per_second: u32, reply_to: Option<String>) -> Reply {
    Reply {
        action: Action::Unknown,
        frame: semantest_protocol::ServerFrame::error(
            reply_to,
            semantest_protocol::ErrorCode::RateLimited,
            format!("too many messages: at most {per_second} per second; this one was not handled"),
        ),
    }
}

/// What the first data frame of a socket without a key in its handshake says.
enum FirstFrame {
    /// A `hello` with a valid key.
    Accepted,
    /// Not a data frame (a control frame, the end, an error): handled as usual.
    NotData,
    /// Anything else: this `unauthorized` error, then close with this reason.
    Refused(Reply, &'static str),
}

fn first_frame(message: Option<&Result<Message, axum::Error>>, state: &AppState) -> FirstFrame {
    let checked = match message {
        Some(Ok(Message::Text(text))) => auth::first_frame(state.api_keys(), text.as_str()),
        Some(Ok(Message::Binary(_))) => Err(auth::Refusal::not_hello(None)),
        _ => return FirstFrame::NotData,
    };
    match checked {
        Ok(_) => FirstFrame::Accepted,
        Err(refusal) => FirstFrame::Refused(
            Reply {
                action: Action::Hello,
                frame: *refusal.frame,
            },
            refusal.close_reason,
        ),
    }
}

/// Sends one message, giving up after [`SEND_TIMEOUT`].
async fn send<S>(socket: &mut S, message: Message) -> Result<(), SendFailed>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::debug!(%error, "websocket send failed");
            Err(SendFailed)
        }
        Err(_) => {
            tracing::debug!("websocket send timed out");
            Err(SendFailed)
        }
    }
}

/// A send failed or timed out: the connection is gone.
#[derive(Debug)]
struct SendFailed;

/// What a read error means: an oversized message is answered with 1009, a text frame that is
/// not UTF-8 with 1007; anything else means the socket is gone.
fn read_failed(error: axum::Error, state: &AppState) -> End {
    let error = error.into_inner();
    if matches!(
        error.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Utf8(_))
    ) {
        tracing::debug!("text frame with invalid UTF-8");
        state
            .metrics()
            .error(semantest_protocol::ErrorCode::BadFrame);
        return End::Close(close_code::INVALID, "invalid UTF-8");
    }
    let too_big = matches!(
        error.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(
            tungstenite::error::CapacityError::MessageTooLong { .. }
        ))
    );
    if too_big {
        tracing::debug!(%error, "message over the limit");
        state
            .metrics()
            .error(semantest_protocol::ErrorCode::TooLarge);
        End::Close(close_code::SIZE, "message too big")
    } else {
        tracing::debug!(%error, "websocket read failed");
        End::Gone
    }
}

/// Milliseconds since the Unix epoch, for `pong.serverTime`.
fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}
