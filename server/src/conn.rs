//! One WebSocket connection: its state, and what each thing that happens to it leads to — a
//! message to send, an end, or nothing — decided without awaiting anything.
//!
//! The loop in `ws` only waits for the next [`Event`] and sends what [`Conn::on`] says. With
//! every decision here rather than in the loop, the loop's future holds the socket, this state
//! and one send at a time: 960 bytes where it was 2 272, and the socket's whole task 1.2 KB
//! where it was 3.3 KB (see DESIGN.md, "Where an idle socket's bytes go").

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{close_code, Message};
use axum::Extension;
use semantest_protocol::identity::Identity;
use semantest_protocol::{frame_id, ErrorCode, Role, ServerFrame, ServerMessage};
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::auth::Check;
use crate::enroll::{self, Asker};
use crate::heartbeat::{Beat, Heartbeat};
use crate::hub::{Hub, Push};
use crate::inbox::{Inbox, Wake};
use crate::limits::{MessageLimiter, Verdict};
use crate::listener::Slot;
use crate::metrics::{Action, ConnectionGuard, LimitScope};
use crate::reply::{binary_refused, handle_text, Reply, Session};
use crate::tenants::LOCAL_TENANT;
use crate::AppState;

/// How a socket was let in.
#[derive(Debug)]
pub(crate) enum Admitted {
    /// Authenticated by its handshake as this identity (`None`: the server needs none).
    As(Option<Identity>),
    /// No token yet: it may say hello, ping, register or pair (see [`crate::enroll`]).
    Keyless,
}

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    /// The server closes with this code and reason.
    Close(u16, &'static str),
}

/// What happened to a connection.
#[derive(Debug)]
pub(crate) enum Event {
    /// The server is shutting down.
    Shutdown,
    /// The hub or the timer woke it.
    Wake(Wake),
    /// The client sent something, or the socket ended (`None`) or failed.
    Message(Option<Result<Message, axum::Error>>),
}

/// What to do about an event: send `send` (if any), then end with `end` (if any). A failed
/// send ends the connection with `end`, or as [`End::Gone`].
#[derive(Debug, Default)]
pub(crate) struct Step {
    pub(crate) send: Option<Message>,
    pub(crate) end: Option<End>,
    /// `send` is the connection's `welcome`: its handshake time is measured once it is sent.
    pub(crate) welcome: bool,
}

impl Step {
    fn send(message: Message) -> Self {
        Step {
            send: Some(message),
            ..Step::default()
        }
    }

    fn end(end: End) -> Self {
        Step {
            end: Some(end),
            ..Step::default()
        }
    }
}

/// A socket's place in its tenant's hub.
#[derive(Debug)]
struct Member {
    hub: Arc<Hub>,
    identity: Option<Identity>,
}

impl Member {
    /// Joins the hub of `identity`'s tenant (or the server's only one); its frames go to `inbox`.
    fn join(
        state: &AppState,
        connection_id: &str,
        identity: Option<Identity>,
        inbox: &Inbox,
    ) -> Self {
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
        hub.join(connection_id, device, inbox.postbox());
        Member { hub, identity }
    }
}

/// The state of one open connection.
#[derive(Debug)]
pub(crate) struct Conn {
    state: AppState,
    connection_id: String,
    /// Its hub, once it has one (a keyless socket has none yet).
    member: Option<Member>,
    /// Where its hub's frames and its timer's deadlines arrive.
    inbox: Inbox,
    /// A keyless socket's hello, told to its hub when it joins one.
    hello: Option<(Role, String)>,
    heartbeat: Heartbeat,
    limiter: MessageLimiter,
    client: IpAddr,
    requested: Instant,
    welcomed: bool,
    /// Counts it in `connections_open` while it lives.
    _open: ConnectionGuard,
    /// Keeps the server's shutdown waiting, and its listener slot taken, until it is dropped
    /// (after the socket is closed).
    _held: (TaskTrackerToken, Option<Extension<Slot>>),
}

/// A socket's task dropped before it ended (a runtime shutting down) still leaves its hub, so
/// the hub does not keep its inbox (nor the timer its heartbeat). Leaving twice is harmless.
impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(m) = &self.member {
            m.hub.leave(&self.connection_id);
        }
    }
}

impl Conn {
    /// A connection that opens now: it joins its hub (if it has an identity) and the timer.
    pub(crate) fn open(
        state: AppState,
        requested: Instant,
        admitted: Admitted,
        client: IpAddr,
        held: (TaskTrackerToken, Option<Extension<Slot>>),
    ) -> Self {
        let open = state.metrics().connection_opened();
        let connection_id = state.next_connection_id();
        let inbox = Inbox::new();
        let member = match admitted {
            Admitted::As(identity) => Some(Member::join(&state, &connection_id, identity, &inbox)),
            Admitted::Keyless => None,
        };
        state.timers().watch(&inbox, member.is_none());
        tracing::debug!(%connection_id, keyless = member.is_none(), "websocket open");
        Conn {
            limiter: MessageLimiter::new(state.config()),
            state,
            connection_id,
            member,
            inbox,
            hello: None,
            heartbeat: Heartbeat::new(),
            client,
            requested,
            welcomed: false,
            _open: open,
            _held: held,
        }
    }

    /// The server this connection belongs to.
    pub(crate) fn state(&self) -> &AppState {
        &self.state
    }

    /// Where the hub's frames and the timer's deadlines arrive.
    pub(crate) fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// The `welcome` went out: the handshake took this long.
    pub(crate) fn welcomed(&self) {
        self.state.metrics().handshake(self.requested.elapsed());
    }

    /// Leaves its hub: no more frames come. (Dropping it leaves too.)
    pub(crate) fn leave(&self, end: End) {
        if let Some(m) = &self.member {
            m.hub.leave(&self.connection_id);
        }
        tracing::debug!(connection_id = %self.connection_id, ?end, "websocket closing");
    }

    /// What `event` leads to.
    pub(crate) fn on(&mut self, event: Event) -> Step {
        match event {
            Event::Shutdown => Step::end(End::Close(close_code::AWAY, "server shutting down")),
            Event::Wake(Wake::AuthDeadline) if self.member.is_none() => {
                self.state.metrics().error(ErrorCode::Unauthorized);
                Step::end(End::Close(
                    close_code::POLICY,
                    "unauthorized: no token in time",
                ))
            }
            // It showed a token, registered or paired in time.
            Event::Wake(Wake::AuthDeadline) => Step::default(),
            Event::Wake(Wake::Heartbeat) => match self.heartbeat.tick(Instant::now()) {
                Beat::Ping(payload) => Step::send(Message::Ping(payload.into())),
                Beat::Dead => {
                    Step::end(End::Close(close_code::POLICY, "no pong for two heartbeats"))
                }
            },
            Event::Wake(Wake::Push(Push::Text(text))) => Step::send(Message::Text(text.into())),
            Event::Wake(Wake::Push(Push::Close(reason))) => {
                // The reason first, in band: a browser's close event may not say it.
                let (message, _) = Check::Revoked.refusal();
                let frame = ServerFrame::error(None, ErrorCode::Unauthorized, message);
                Step {
                    send: Some(Message::Text(frame.to_json().into())),
                    end: Some(End::Close(close_code::POLICY, reason)),
                    welcome: false,
                }
            }
            Event::Message(message) => self.on_message(message),
        }
    }

    /// What a message from the client leads to.
    fn on_message(&mut self, message: Option<Result<Message, axum::Error>>) -> Step {
        let metrics = self.state.metrics();
        // Pings count too: the library answers each with a Pong, so they are work.
        if matches!(
            message,
            Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Ping(_)))
        ) {
            match self.limiter.check() {
                Verdict::Handle => {}
                Verdict::Refuse => {
                    metrics.rate_limited(LimitScope::WebSocket);
                    let refused = match &message {
                        Some(Ok(Message::Text(text))) => frame_id(text.as_str()),
                        _ => None,
                    };
                    let answer = rate_limited(self.state.config().messages_per_second, refused);
                    return self.reply(&answer);
                }
                Verdict::Close => {
                    metrics.rate_limited(LimitScope::WebSocket);
                    return Step::end(End::Close(
                        close_code::POLICY,
                        "message rate limit exceeded",
                    ));
                }
            }
        }
        let asker = Asker {
            state: &self.state,
            connection_id: &self.connection_id,
            client: self.client,
            now_ms: now_ms(),
        };
        let reply = match message {
            Some(Ok(Message::Text(text))) => match &self.member {
                Some(m) => {
                    let session = Session {
                        asker,
                        hub: &m.hub,
                        identity: m.identity.as_ref(),
                    };
                    handle_text(text.as_str(), &session)
                }
                None => {
                    let keyless = enroll::keyless(text.as_str(), &asker);
                    if let Some(reason) = keyless.close {
                        let mut step = self.reply(&keyless.reply);
                        step.end = Some(End::Close(close_code::POLICY, reason));
                        return step;
                    }
                    if let Some(said) = keyless.hello {
                        self.hello = Some(said);
                    }
                    if let Some(identity) = keyless.became {
                        let joined = Member::join(
                            &self.state,
                            &self.connection_id,
                            Some(identity),
                            &self.inbox,
                        );
                        if let Some((role, client_id)) = &self.hello {
                            joined.hub.set_role(&self.connection_id, *role, client_id);
                        }
                        self.member = Some(joined);
                    }
                    keyless.reply
                }
            },
            Some(Ok(Message::Binary(_))) => binary_refused(),
            Some(Ok(Message::Pong(payload))) => {
                if let Some(rtt) = self.heartbeat.pong(&payload, Instant::now()) {
                    metrics.ping_rtt(rtt);
                }
                return Step::default();
            }
            // Pings are answered by the WebSocket library itself.
            Some(Ok(Message::Ping(_))) => return Step::default(),
            Some(Ok(Message::Close(_))) | None => return Step::end(End::Gone),
            Some(Err(error)) => return Step::end(read_failed(error, &self.state)),
        };
        let mut step = self.reply(&reply);
        if !self.welcomed && matches!(reply.frame.message, ServerMessage::Welcome(_)) {
            self.welcomed = true;
            step.welcome = true;
        }
        step
    }

    /// Counts `reply` and sends it.
    fn reply(&self, reply: &Reply) -> Step {
        let metrics = self.state.metrics();
        metrics.message(reply.action);
        if let ServerMessage::Error(error) = &reply.frame.message {
            metrics.error(error.code);
        }
        Step::send(Message::Text(reply.frame.to_json().into()))
    }
}

/// The answer to a message over the rate limit; `reply_to` is its frame id, if it has one.
fn rate_limited(per_second: u32, reply_to: Option<String>) -> Reply {
    Reply {
        action: Action::Unknown,
        frame: ServerFrame::error(
            reply_to,
            ErrorCode::RateLimited,
            format!("too many messages: at most {per_second} per second; this one was not handled"),
        ),
    }
}

/// What a read error means: an oversized message is answered with 1009, a text frame that is
/// not UTF-8 with 1007; anything else means the socket is gone.
fn read_failed(error: axum::Error, state: &AppState) -> End {
    let error = error.into_inner();
    if matches!(
        error.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Utf8(_))
    ) {
        tracing::debug!("text frame with invalid UTF-8");
        state.metrics().error(ErrorCode::BadFrame);
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
        state.metrics().error(ErrorCode::TooLarge);
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
