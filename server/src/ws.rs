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
//! | 1008 | `unauthorized: …` — production: a `hello` with a wrong or revoked token |
//! | 1008 | `unauthorized: no token in time` — production: a keyless socket neither showed a token, registered nor paired within the auth deadline |
//! | 1008 | `revoked` — production: the install revoked this socket's device |
//! | 1008 | `message rate limit exceeded` — production: a flood of messages over the limit |
//!
//! In production the handshake is refused with 401 when it carries a wrong key (see
//! [`crate::auth`]); without one, the socket opens keyless (see [`crate::enroll`]) and joins
//! its tenant's hub ([`crate::tenants`]) once it shows a token, registers or pairs.
//! Messages over the rate limit are answered with `rate_limited` and not handled (see
//! `limits`); the error's `replyTo` is the refused frame's id when it has one, so the client
//! can tell which frame was refused.
//!
//! After a 1009 the server does not read on: the rest of the oversized frame is never buffered.
//! A send that does not complete within [`SEND_TIMEOUT`] (a peer that stopped reading) ends the
//! connection without a Close.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use semantest_protocol::identity::Identity;
use semantest_protocol::{frame_id, ErrorCode, Role, ServerFrame, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::{interval_at, MissedTickBehavior};

use crate::auth::{self, Check};
use crate::enroll::{self, Asker};
use crate::heartbeat::{Beat, Heartbeat};
use crate::hub::{Hub, Push};
use crate::limits::{MessageLimiter, Verdict};
use crate::listener::Slot;
use crate::metrics::{Action, LimitScope};
use crate::reply::{binary_refused, handle_text, Reply, Session};
use crate::shutdown::CLOSE_REPLY_WAIT;
use crate::tenants::LOCAL_TENANT;
use crate::AppState;

/// The WebSocket read buffer of one connection (see [`upgrade`]).
const READ_BUFFER: usize = 1024;

/// The longest one send may wait for the peer to make room.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /` with `Upgrade: websocket`: checks a token shown in the handshake, sets the size
/// limits and hands the socket to [`serve`].
pub(crate) async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    slot: Option<Extension<Slot>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = crate::guard::refuse_origin(&state, &headers) {
        return refused;
    }
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0 .0.ip());
    let client = crate::limits::client_ip(peer, &headers, &state.config().trusted_proxies);
    let admitted = if state.config().requires_auth() {
        match auth::check_headers(&state, &headers) {
            Check::Known(identity) => Admitted::As(Some(identity)),
            Check::Missing => Admitted::Keyless,
            // A tool that set Authorization reads the 401.
            refused @ (Check::Invalid | Check::Revoked) if auth::bearer(&headers).is_some() => {
                tracing::warn!("refused a WebSocket with a wrong or revoked token");
                return auth::unauthorized_token(&refused);
            }
            // A browser cannot read a refused handshake's status (its WebSocket only says
            // 1006), so a wrong key in the subprotocol is told in band: the socket opens,
            // gets the `unauthorized` error and a 1008 with the reason, and nothing else.
            refused => {
                tracing::warn!("refused a WebSocket with a wrong or revoked token (subprotocol)");
                let (message, reason) = refused.refusal();
                return ws
                    .protocols([auth::SUBPROTOCOL])
                    .on_upgrade(move |socket| refuse_in_band(socket, message, reason));
            }
        }
    } else {
        Admitted::As(None)
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
            serve(socket, state, requested, admitted, client).await;
            // The connection's slot (see `listener`) is free once the socket is closed.
            drop((held, slot));
        })
}

/// How a socket was let in.
#[derive(Debug)]
enum Admitted {
    /// Authenticated by its handshake as this identity (`None`: the server needs none).
    As(Option<Identity>),
    /// No token yet: it may say hello, ping, register or pair (see [`crate::enroll`]).
    Keyless,
}

/// A socket's place in its tenant's hub.
struct Member {
    hub: Arc<Hub>,
    deliveries: mpsc::Receiver<Push>,
    identity: Option<Identity>,
}

impl Member {
    /// Joins the hub of `identity`'s tenant (or the server's only one).
    fn join(state: &AppState, connection_id: &str, identity: Option<Identity>) -> Self {
        // Only a local server admits a socket without an identity.
        let tenant = identity
            .as_ref()
            .map_or_else(|| LOCAL_TENANT.to_owned(), Identity::tenant);
        let device = identity
            .as_ref()
            .and_then(Identity::device)
            .map(str::to_owned);
        if let Some(device) = &device {
            state.identities().seen(device, now_ms());
        }
        let hub = state.hubs().of(&tenant);
        let deliveries = hub.join(connection_id, device);
        Member {
            hub,
            deliveries,
            identity,
        }
    }
}

/// The next frame the hub has for `member`; never, for a socket that is in no hub yet.
async fn next_push(member: &mut Option<Member>) -> Option<Push> {
    match member {
        Some(m) => m.deliveries.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends a socket whose handshake showed a wrong key the reason, and closes it. The client may
/// already be sending its first frames: they are read and dropped until its Close comes (at
/// most [`CLOSE_REPLY_WAIT`]), so its writes do not meet a reset connection before it has read
/// the reason.
async fn refuse_in_band(mut socket: WebSocket, message: &'static str, reason: &'static str) {
    let frame = ServerFrame::error(None, ErrorCode::Unauthorized, message);
    let close = Message::Close(Some(CloseFrame {
        code: close_code::POLICY,
        reason: reason.into(),
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
async fn serve<S>(
    mut socket: S,
    state: AppState,
    requested: Instant,
    admitted: Admitted,
    client: IpAddr,
) where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let metrics = state.metrics();
    let _open = metrics.connection_opened();
    let connection_id = state.next_connection_id();
    let mut member = match admitted {
        Admitted::As(identity) => Some(Member::join(&state, &connection_id, identity)),
        Admitted::Keyless => None,
    };
    // A keyless socket's hello, told to its hub when it joins one.
    let mut hello: Option<(Role, String)> = None;
    let period = Duration::from_secs(state.config().heartbeat_secs.max(1));
    let mut ticker = interval_at((Instant::now() + period).into(), period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut heartbeat = Heartbeat::new();
    let mut welcomed = false;
    let mut limiter = MessageLimiter::new(state.config());
    let auth_deadline = tokio::time::sleep(Duration::from_millis(state.config().auth_deadline_ms));
    tokio::pin!(auth_deadline);
    tracing::debug!(%connection_id, keyless = member.is_none(), "websocket open");

    let end = loop {
        tokio::select! {
            () = state.shutdown().triggered() => break End::Close(close_code::AWAY, "server shutting down"),
            () = &mut auth_deadline, if member.is_none() => {
                state.metrics().error(semantest_protocol::ErrorCode::Unauthorized);
                break End::Close(close_code::POLICY, "unauthorized: no token in time");
            }
            Some(push) = next_push(&mut member) => match push {
                Push::Text(text) => {
                    if send(&mut socket, Message::Text(text.into())).await.is_err() {
                        break End::Gone;
                    }
                }
                Push::Close(reason) => {
                    // The reason first, in band: a browser's close event may not say it.
                    let (message, _) = Check::Revoked.refusal();
                    let frame = ServerFrame::error(None, ErrorCode::Unauthorized, message);
                    let _ = send(&mut socket, Message::Text(frame.to_json().into())).await;
                    break End::Close(close_code::POLICY, reason);
                }
            },
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
                let asker = Asker { state: &state, connection_id: &connection_id, client, now_ms: now_ms() };
                let reply = match message {
                    Some(Ok(Message::Text(text))) => match &member {
                        Some(m) => {
                            let session = Session { asker, hub: &m.hub, identity: m.identity.as_ref() };
                            handle_text(text.as_str(), &session)
                        }
                        None => {
                            let keyless = enroll::keyless(text.as_str(), &asker);
                            if let Some(reason) = keyless.close {
                                let _ = send_reply(&mut socket, &keyless.reply, &state).await;
                                break End::Close(close_code::POLICY, reason);
                            }
                            if let Some(said) = keyless.hello {
                                hello = Some(said);
                            }
                            if let Some(identity) = keyless.became {
                                let joined = Member::join(&state, &connection_id, Some(identity));
                                if let Some((role, client_id)) = &hello {
                                    joined.hub.set_role(&connection_id, *role, client_id);
                                }
                                member = Some(joined);
                            }
                            keyless.reply
                        }
                    },
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
    if let Some(m) = &member {
        m.hub.leave(&connection_id);
    }
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
