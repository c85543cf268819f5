//! The WebSocket on `/`: the upgrade, and the loop that serves one connection.
//!
//! The loop waits for three things at once: a frame from the client (answered by
//! [`crate::reply::handle_text`]), the socket's inbox (frames from its hub, and its heartbeat
//! and auth deadline from the server's one timer, see [`crate::timers`]), and the server's
//! shutdown; what each leads to is decided in [`crate::conn`], and the loop only sends it. It
//! ends with a Close frame whose code says why:
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

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use semantest_protocol::{ErrorCode, ServerFrame};

use crate::auth::{self, Check};
use crate::conn::{Admitted, Conn, End, Event};
use crate::listener::Slot;
use crate::shutdown::CLOSE_REPLY_WAIT;
use crate::AppState;

/// The WebSocket read buffer of one connection (see [`upgrade`]).
const READ_BUFFER: usize = 512;

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
        // ramp; 7.3 KB with 1 KiB, and 512 B saves another 0.5 KB). Protocol frames are small
        // (a `hello` is about 150 B); a message may still be `limit` long, it is read in more
        // calls (one per 512 B). Echo throughput measured the same (BENCHMARKS.md).
        .read_buffer_size(READ_BUFFER)
        // Each send is flushed at once anyway: no write buffer kept per socket.
        .write_buffer_size(0)
        .max_message_size(limit)
        .max_frame_size(limit)
        // The connection's slot (see `listener`) is free once the socket is closed: `Conn`
        // keeps it. The closure returns `serve`'s future itself, so the task holds no second
        // copy of the socket; and what it captures is boxed, because axum keeps the closure's
        // place in the task for the socket's whole life (8 bytes instead of 112).
        .on_upgrade({
            let opening = Box::new((state, requested, admitted, client, (held, slot)));
            move |socket| {
                let (state, requested, admitted, client, held) = *opening;
                serve(socket, Conn::open(state, requested, admitted, client, held))
            }
        })
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

/// Serves one connection until the client leaves, stops answering, or the server shuts down.
///
/// Generic over the socket so any `Stream + Sink` of messages can stand in for a real one. Not
/// an `async fn`: its future uses the socket and the connection where they were captured,
/// rather than keeping a copy of each as an argument too.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would keep its socket and connection twice in its future"
)]
fn serve<S>(mut socket: S, mut conn: Conn) -> impl Future<Output = ()>
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    async move {
        let end = loop {
            let event = tokio::select! {
                () = conn.state().shutdown().triggered() => Event::Shutdown,
                wake = conn.inbox().next() => Event::Wake(wake),
                message = socket.next() => Event::Message(message),
            };
            let step = conn.on(event);
            if let Some(message) = step.send {
                if send(&mut socket, message).await.is_err() {
                    break step.end.unwrap_or(End::Gone);
                }
                if step.welcome {
                    conn.welcomed();
                }
            }
            if let Some(end) = step.end {
                break end;
            }
        };
        conn.leave(end);
        if end == End::Gone {
            // Flushes the Close reply the library queued when the client's Close arrived.
            let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, socket.close()).await;
        }
        if let End::Close(code, reason) = end {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            if send(&mut socket, Message::Close(Some(frame))).await.is_ok()
                && code != close_code::SIZE
            {
                // Give the peer a moment to answer the close handshake; never wait forever.
                let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
                    while let Some(Ok(_)) = socket.next().await {}
                })
                .await;
            }
        }
        // The socket is closed before the connection's slot and shutdown hold go.
        drop(socket);
        drop(conn);
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

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc;

    use super::*;
    use crate::{Config, Environment};

    /// A socket in memory: what the test sends comes in, what the server sends goes out.
    struct Fake {
        incoming: mpsc::UnboundedReceiver<Result<Message, axum::Error>>,
        outgoing: mpsc::UnboundedSender<Message>,
    }

    impl Stream for Fake {
        type Item = Result<Message, axum::Error>;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.incoming.poll_recv(cx)
        }
    }

    impl Sink<Message> for Fake {
        type Error = axum::Error;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            self.outgoing.send(item).map_err(axum::Error::new)
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A server's state with its timer running, and a socket served on it: the client's
    /// sender (kept open: the client never closes) and what the server sends it.
    struct Served {
        state: AppState,
        _client: mpsc::UnboundedSender<Result<Message, axum::Error>>,
        from_server: mpsc::UnboundedReceiver<Message>,
        task: tokio::task::JoinHandle<()>,
    }

    fn served(config: Config, admitted: Admitted) -> Served {
        let state = AppState::new(config);
        let timers = state.clone();
        tokio::spawn(async move { timers.timers().run().await });
        let (client, incoming) = mpsc::unbounded_channel();
        let (outgoing, from_server) = mpsc::unbounded_channel();
        let held = (state.shutdown().hold(), None);
        let conn = Conn::open(
            state.clone(),
            Instant::now(),
            admitted,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            held,
        );
        let task = tokio::spawn(serve(Fake { incoming, outgoing }, conn));
        Served {
            state,
            _client: client,
            from_server,
            task,
        }
    }

    /// The next message from the server, and the (paused) time it came at since `start`.
    async fn next(served: &mut Served, start: tokio::time::Instant) -> (Message, Duration) {
        let message = served.from_server.recv().await.expect("a message");
        (message, start.elapsed())
    }

    fn close_of(message: &Message) -> Option<(u16, &str)> {
        match message {
            Message::Close(Some(frame)) => Some((frame.code, frame.reason.as_str())),
            _ => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_stops_answering_pings_is_closed_after_two_heartbeats() {
        let start = tokio::time::Instant::now();
        let beat = Duration::from_secs(20);
        let mut served = served(
            Config {
                heartbeat_secs: 20,
                ..Config::default()
            },
            Admitted::As(None),
        );
        for n in 1..=2u32 {
            let (ping, at) = next(&mut served, start).await;
            assert!(matches!(ping, Message::Ping(_)), "{ping:?}");
            assert_eq!(at, beat * n, "ping {n} at its heartbeat");
        }
        let (close, at) = next(&mut served, start).await;
        assert_eq!(close_of(&close), Some((1008, "no pong for two heartbeats")));
        assert_eq!(at, beat * 3);
        served.task.await.unwrap();
        assert!(
            served
                .state
                .hubs()
                .of(crate::tenants::LOCAL_TENANT)
                .settled(std::time::Instant::now()),
            "it left its hub"
        );
        tokio::time::sleep(beat).await;
        assert_eq!(served.state.timers().len(), 0, "and the timer");
    }

    #[tokio::test(start_paused = true)]
    async fn a_keyless_socket_without_a_token_is_closed_at_the_auth_deadline() {
        let start = tokio::time::Instant::now();
        let mut served = served(
            Config {
                environment: Environment::Production,
                auth_deadline_ms: 5_000,
                ..Config::default()
            },
            Admitted::Keyless,
        );
        let (close, at) = next(&mut served, start).await;
        assert_eq!(
            close_of(&close),
            Some((1008, "unauthorized: no token in time"))
        );
        assert_eq!(at, Duration::from_secs(5));
        served.task.await.unwrap();
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(served.state.timers().len(), 0, "no entry is left behind");
    }

    /// An idle socket's bytes are mostly this future (DESIGN.md, "Where an idle socket's bytes
    /// go"): it was 2 272 bytes when it kept the socket twice and every reply future side by
    /// side.
    #[test]
    fn the_loop_future_stays_small() {
        fn size<S, F: Future>(_: fn(S, Conn) -> F) -> usize {
            std::mem::size_of::<F>()
        }
        let bytes = size(serve::<WebSocket>);
        assert!(bytes <= 1024, "the loop's future grew to {bytes} bytes");
    }
}
