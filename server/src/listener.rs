//! The accept loop: connection caps, TLS, the header-read timeout, and HTTP/1.1 with upgrades
//! (hyper), in place of `axum::serve`, which has none of these knobs.
//!
//! The policies:
//! - **Caps.** At most [`crate::Config::max_connections`] TCP connections at once, and
//!   [`crate::Config::max_connections_per_ip`] from one peer address, an IPv6 /64 counting as one (trusted proxies are
//!   exempt: many clients share them). A WebSocket keeps its connection's slot until it closes.
//! - **Refusals.** A connection over a cap is answered `503 Service Unavailable` with
//!   `Retry-After: 5` right in the accept loop: one non-blocking write of a static answer (a
//!   new connection's send buffer always has room for it), then the write side is shut, so a
//!   FIN follows the answer. The socket then goes to the listener's one `linger` task, which
//!   reads and drops what the client sends next (its request, usually, which had not arrived at
//!   accept) and closes it at the client's end of stream or after 1 s, so that the late request
//!   is read instead of drawing a reset, which would make Windows drop the unread answer. The
//!   linger holds 4096 sockets at most; past that a refused socket is still answered, what the
//!   client already sent is read and dropped, and it is closed at once (a request arriving
//!   after that draws a reset). So every refusal is answered, however many come, and a flood
//!   costs bounded memory and file descriptors. On a TLS listener a refusal is closed
//!   unanswered. The log says how many were refused, and how many of them were closed at once,
//!   once a second at most.
//! - **Slowloris and idle keep-alive.** A client has [`crate::Config::header_read_timeout_ms`]
//!   to send a request's headers, and as long again for a TLS handshake; then the connection is
//!   closed. hyper starts that clock again whenever it waits for the next request on a kept-alive
//!   connection, so an idle connection is closed after as long (tested).
//! - **Accept errors** that concern the server (out of file descriptors, say) are logged and
//!   retried after 100 ms, rather than ending the server or spinning; a connection reset before
//!   it was accepted is skipped at once.
//! - **Shutdown.** Stops accepting; each connection finishes its request in flight and closes
//!   (WebSockets close themselves with 1001; see `ws`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::linger::Linger;
use crate::AppState;

/// The open connections, in all and per peer address.
#[derive(Debug)]
pub(crate) struct Caps {
    total: usize,
    per_ip: usize,
    trusted: Vec<IpAddr>,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection's slot; freed on drop. Shared with the WebSocket that the
/// connection becomes, so the slot lives as long as the socket.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    _inner: Arc<SlotInner>,
}

#[derive(Debug)]
struct SlotInner {
    caps: Arc<Caps>,
    ip: IpAddr,
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        let mut open = self
            .caps
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

impl Caps {
    pub(crate) fn new(config: &crate::Config) -> Arc<Self> {
        Arc::new(Caps {
            total: config.max_connections,
            per_ip: config.max_connections_per_ip,
            trusted: config
                .trusted_proxies
                .iter()
                .map(|ip| crate::limits::bucket(*ip))
                .collect(),
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A slot for a connection from `ip`, or `None` when a cap is reached.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let ip = crate::limits::bucket(ip);
        let from_ip = open.1.get(&ip).copied().unwrap_or(0);
        if open.0 >= self.total || (from_ip >= self.per_ip && !self.trusted.contains(&ip)) {
            return None;
        }
        open.0 += 1;
        *open.1.entry(ip).or_insert(0) += 1;
        Some(Slot {
            _inner: Arc::new(SlotInner {
                caps: Arc::clone(self),
                ip,
            }),
        })
    }
}

/// Accepts on `listener` until the state's shutdown fires, serving `app` on each connection.
pub(crate) async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    state: AppState,
) {
    let caps = Caps::new(state.config());
    let mut refusals = RefusalLog::default();
    // Dropped when this loop ends, which ends its task.
    let linger = tls.is_none().then(Linger::spawn);
    let header_timeout = Duration::from_millis(state.config().header_read_timeout_ms);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    loop {
        let accepted = tokio::select! {
            () = state.shutdown().triggered() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_per_connection(&error) => {
                tracing::debug!(%error, "a connection failed before it was accepted");
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed; retrying in 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = caps.admit(peer.ip()) else {
            state.metrics().connection_refused();
            // On a TLS listener `tcp` is dropped here: closed unanswered.
            let closed = match &linger {
                Some(linger) => refuse(tcp, linger),
                None => Closed::Unanswered,
            };
            if let Some(count) = refusals.note(Instant::now(), closed) {
                tracing::warn!(
                    %peer,
                    refused = count.refused,
                    closed_at_once = count.closed_at_once,
                    "connections refused (503): a connection cap is reached"
                );
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let connection = Connection {
            app: app.clone(),
            state: state.clone(),
            http: http.clone(),
            peer,
            slot,
        };
        match &tls {
            None => {
                tokio::spawn(connection.serve(tcp));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => connection.serve(stream).await,
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

/// What a refused connection reads on a plain listener.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain\r\nContent-Length: 29\r\nConnection: close\r\n\r\ntoo many connections; retry\r\n";

/// How much of what a refused client already sent is read and dropped before a close at once:
/// a WebSocket handshake or an HTTP request's headers.
const REFUSAL_DRAIN: usize = 16 * 1024;

/// How a refused connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// Answered, and held by the linger until the client's end of stream or its deadline.
    Lingering,
    /// Answered, and closed at once: the linger was full.
    AtOnce,
    /// Closed unanswered (a TLS listener).
    Unanswered,
}

/// Answers a refused connection in place, without a task of its own: [`BUSY`] in one
/// non-blocking write, and the write side shut so that a FIN follows the answer. Then the
/// socket goes to the linger, which reads what the client sends next instead of letting it
/// draw a reset (on which the client's system may drop the answer unread). When the linger is
/// full, what the client has sent so far (up to [`REFUSAL_DRAIN`]) is read and dropped, since
/// closing with unread data sends a reset, and the socket is closed at once: a request that
/// arrives after that close still draws a reset.
fn refuse(tcp: TcpStream, linger: &Linger) -> Closed {
    use std::io::Write;
    {
        // Straight to the socket: tokio's `try_write` answers WouldBlock until its reactor has
        // seen the socket writable once, which a socket accepted this instant has not.
        let socket = socket2::SockRef::from(&tcp);
        let _ = (&*socket).write(BUSY);
        let _ = socket.shutdown(std::net::Shutdown::Write);
    }
    match linger.hold(tcp) {
        Ok(()) => Closed::Lingering,
        Err(tcp) => {
            drain(&tcp);
            Closed::AtOnce
        }
    }
}

/// Reads and drops what the client has sent so far, up to [`REFUSAL_DRAIN`], without waiting.
fn drain(tcp: &TcpStream) {
    use std::io::Read;
    let socket = socket2::SockRef::from(tcp);
    let mut sink = [0u8; 4096];
    let mut left = REFUSAL_DRAIN;
    while left > 0 {
        match (&*socket).read(&mut sink) {
            Ok(n) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}

/// The log of refusals: the first one, then at most one line a second with how many there were
/// since the last line, so that a flood of connects is not a flood of log lines.
#[derive(Debug, Default)]
struct RefusalLog {
    last_line: Option<Instant>,
    unlogged: RefusalCount,
}

/// The refusals since the last line of the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct RefusalCount {
    /// In all.
    refused: u64,
    /// Of those, the ones answered and closed at once because the linger was full: their
    /// client may see a reset instead of the answer if it writes after the close.
    closed_at_once: u64,
}

impl RefusalLog {
    /// How long between two lines.
    const EVERY: Duration = Duration::from_secs(1);

    /// Counts one refusal at `now`, closed as `closed`; what to log (this one and those since
    /// the last line) when a line is due.
    fn note(&mut self, now: Instant, closed: Closed) -> Option<RefusalCount> {
        self.unlogged.refused += 1;
        if closed == Closed::AtOnce {
            self.unlogged.closed_at_once += 1;
        }
        if self
            .last_line
            .is_some_and(|last| now.duration_since(last) < Self::EVERY)
        {
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// Accept errors that concern one connection (it was reset before it was accepted), as
/// opposed to the server's resources (out of file descriptors or memory), which need a pause.
fn is_per_connection(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::Interrupted
    )
}

/// One accepted connection and what it needs to be served.
struct Connection {
    app: Router,
    state: AppState,
    http: hyper::server::conn::http1::Builder,
    peer: SocketAddr,
    slot: Slot,
}

impl Connection {
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            app,
            state,
            http,
            peer,
            slot,
        } = self;
        // Shutdown waits for this connection's request in flight.
        let _held = state.shutdown().hold();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(slot.clone());
            app.clone().oneshot(request)
        });
        let connection = http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = state.shutdown().triggered() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = result {
            tracing::debug!(%peer, %error, "connection ended with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn caps_count_per_address_and_in_all_and_free_on_drop() {
        let caps = Caps::new(&Config {
            max_connections: 3,
            max_connections_per_ip: 2,
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
            ..Config::default()
        });
        let (a, b, proxy): (IpAddr, IpAddr, IpAddr) = (
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
        );
        let a1 = caps.admit(a).unwrap();
        let a2 = caps.admit(a).unwrap();
        assert!(caps.admit(a).is_none(), "per address");
        let b1 = caps.admit(b).unwrap();
        assert!(caps.admit(b).is_none(), "in all");
        drop(a1);
        let p1 = caps.admit(proxy).unwrap();
        drop((a2, b1));
        let p2 = caps.admit(proxy).unwrap();
        let _p3 = caps
            .admit(proxy)
            .expect("a trusted proxy is not capped per address");
        assert!(caps.admit(proxy).is_none(), "but counts in all");
        drop((p1, p2));
        let clone = caps.admit(a).unwrap();
        let kept = clone.clone();
        drop(clone);
        assert_eq!(caps.open.lock().unwrap().0, 2, "a clone keeps the slot");
        drop(kept);
        assert_eq!(caps.open.lock().unwrap().1.get(&a), None);
    }

    #[test]
    fn refusals_are_logged_once_a_second_with_their_count() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let count = |refused, closed_at_once| {
            Some(RefusalCount {
                refused,
                closed_at_once,
            })
        };
        assert_eq!(
            log.note(at(0), Closed::Lingering),
            count(1, 0),
            "the first at once"
        );
        assert_eq!(log.note(at(10), Closed::AtOnce), None);
        assert_eq!(log.note(at(999), Closed::Unanswered), None);
        assert_eq!(
            log.note(at(1000), Closed::Lingering),
            count(3, 1),
            "then the count of the second, and how many the full linger closed at once"
        );
        assert_eq!(log.note(at(5000), Closed::AtOnce), count(1, 1));
    }
}
