//! `burst`: N WebSocket handshakes started at once, each classified by what came back — served
//! (101), refused politely (503 with `Retry-After`), refused or reset at TCP, closed without an
//! answer, or half-open (the TCP connect succeeded and then nothing came back in time).
//!
//! Every socket is created (and bound to its source address) first, then all of them connect
//! together. Each step has its bound — the TCP connect [`BurstOptions::connect_bound`], the
//! handshake's answer and the `hello`'s `welcome` [`BurstOptions::answer_bound`] each — so the
//! run always ends. Served sockets stay open until every connection is classified, as a storm
//! of reconnecting clients would: they keep their slots on the server.
//!
//! **Source addresses.** All of 127.0.0.0/8 is loopback on Linux, so the client can bind
//! 127.0.0.2, 127.0.0.3, … as its source: with [`BurstOptions::sources`] the connections are
//! spread round robin over that many addresses, each one a client as the server's per-address
//! cap and rate limit see it. One source per connection models a reconnect storm of distinct
//! clients (after a restart); one source for all models a single client or a NAT.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::SinkExt;
use serde::Serialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::conn::{self, Ws};
use crate::error::LoadError;
use crate::stats::{Latencies, Summary};
use crate::tally::rounded;
use crate::target::Target;
use crate::wire;

/// A connect this slow had a SYN retransmitted (Linux's first retry is after 1 s): the
/// server's accept queue was full when it came.
pub const SYN_RETRY: Duration = Duration::from_secs(1);

/// The first source address when [`BurstOptions::sources`] is not zero.
const FIRST_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// What to run.
#[derive(Debug, Clone)]
pub struct BurstOptions {
    /// The server.
    pub target: Target,
    /// How many connections start together.
    pub connections: usize,
    /// Over how many source addresses (127.0.0.2 on) they are spread; 0 leaves the source to
    /// the system (127.0.0.1 for a loopback target).
    pub sources: usize,
    /// Sent as `Authorization: Bearer` in each handshake (production servers with keys).
    pub token: Option<String>,
    /// How long a TCP connect may take (SYNs retransmitted included).
    pub connect_bound: Duration,
    /// How long the handshake's answer, then the `welcome`, may take each; a connection that
    /// gets no answer by then is half-open.
    pub answer_bound: Duration,
}

/// What came of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 101; `welcomed` if its `hello` was answered in time.
    Served {
        /// The `hello` got its `welcome`.
        welcomed: bool,
    },
    /// 503 with a `Retry-After` header.
    Refused,
    /// Another HTTP status (or a 503 without `Retry-After`).
    Status(u16),
    /// The TCP connect was refused or reset.
    TcpRefused,
    /// The TCP connect did not complete within its bound.
    ConnectTimeout,
    /// Connected, then closed or reset without an HTTP answer.
    ClosedUnanswered,
    /// Connected, and nothing came back (no answer, no close) within the bound.
    HalfOpen,
    /// Anything else (the text of the error).
    Failed(String),
}

/// The one JSON line of `burst`.
#[derive(Debug, Clone, Serialize)]
pub struct BurstReport {
    /// `"burst"`.
    pub mode: &'static str,
    /// Connections started.
    pub requested: usize,
    /// Source addresses used (0: the system's choice).
    pub sources: usize,
    /// Answered 101.
    pub served: u64,
    /// Of those, how many had their `hello` answered.
    pub welcomed: u64,
    /// Answered 503 with `Retry-After`.
    pub refused_503: u64,
    /// Other HTTP answers, by status.
    pub other_status: BTreeMap<u16, u64>,
    /// Refused or reset at the TCP connect.
    pub tcp_refused: u64,
    /// TCP connects that did not complete in time.
    pub connect_timeout: u64,
    /// Connected, then closed without an answer.
    pub closed_unanswered: u64,
    /// Connected, and nothing came back in time.
    pub half_open: u64,
    /// Other failures.
    pub failed: u64,
    /// The first of those, to tell.
    pub first_failure: Option<String>,
    /// Connections whose task did not end by the run's deadline (a bug if ever non-zero).
    pub unfinished: u64,
    /// TCP connects that took at least [`SYN_RETRY`]: a SYN was dropped (the accept queue was
    /// full) and retried.
    pub slow_connects: u64,
    /// Connects that completed, then waited at least [`SYN_RETRY`] more for their answer: the
    /// client saw a connected socket that the server did not have yet (the handshake's last
    /// ACK was dropped on a full accept queue, and the connection came in with a retransmit).
    pub stalled_after_connect: u64,
    /// TCP connect times of the connects that completed.
    pub connect: Summary,
    /// From the connect's start to the 101.
    pub served_latency: Summary,
    /// From the connect's start to the 503.
    pub refused_latency: Summary,
    /// How long the whole run took, in seconds.
    pub seconds: f64,
}

/// One connection's outcome, its times, and its socket when it was served (kept open).
struct Finished {
    outcome: Outcome,
    connected_after: Option<Duration>,
    answered_after: Option<Duration>,
    socket: Option<Box<Ws>>,
}

/// Runs the burst.
pub async fn run(options: &BurstOptions) -> Result<BurstReport, LoadError> {
    LoadError::check_connections(options.connections)?;
    crate::fdlimit::ensure(options.connections as u64)?;
    let sockets = (0..options.connections)
        .map(|n| socket(options, n))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(n, socket)| tokio::spawn(one(options.clone(), socket, n)))
        .collect();
    let deadline = started + options.connect_bound + options.answer_bound * 2 + SLACK;
    let mut report = BurstReport::new(options);
    let (connect, served, refused) = (Latencies::new(), Latencies::new(), Latencies::new());
    let (mut connect_rec, mut served_rec, mut refused_rec) =
        (connect.recorder(), served.recorder(), refused.recorder());
    let mut held = Vec::new();
    for mut task in tasks {
        let finished = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(finished)) => finished,
            Ok(Err(e)) => Finished::failed(LoadError::Task(e.to_string())),
            Err(_) => {
                task.abort();
                report.unfinished += 1;
                continue;
            }
        };
        if let Some(after) = finished.connected_after {
            connect_rec.record(after);
            report.slow_connects += u64::from(after >= SYN_RETRY);
            let answer_wait = finished.answered_after.map(|answered| answered - after);
            report.stalled_after_connect += u64::from(answer_wait >= Some(SYN_RETRY));
        }
        match (&finished.outcome, finished.answered_after) {
            (Outcome::Served { .. }, Some(after)) => served_rec.record(after),
            (Outcome::Refused, Some(after)) => refused_rec.record(after),
            _ => {}
        }
        report.count(finished.outcome);
        held.extend(finished.socket);
    }
    report.seconds = rounded(started.elapsed().as_secs_f64(), 3);
    drop((connect_rec, served_rec, refused_rec));
    (
        report.connect,
        report.served_latency,
        report.refused_latency,
    ) = (connect.summary(), served.summary(), refused.summary());
    drop(held);
    Ok(report)
}

/// Time for the tasks to report after their last bound.
const SLACK: Duration = Duration::from_secs(5);

/// Connection `n`'s socket, bound to its source address when there are several.
fn socket(options: &BurstOptions, n: usize) -> Result<TcpSocket, LoadError> {
    let socket = match options.target.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(LoadError::io("socket"))?;
    if let Some(source) = source(options.sources, n) {
        if options.target.addr.is_ipv6() {
            return Err(LoadError::BadOption(
                "--sources needs an IPv4 target (127.0.0.1)".to_owned(),
            ));
        }
        socket
            .bind(SocketAddr::new(IpAddr::V4(source), 0))
            .map_err(LoadError::io("bind a source address"))?;
    }
    Ok(socket)
}

/// The source address of connection `n` over `sources` addresses (none for 0).
pub fn source(sources: usize, n: usize) -> Option<Ipv4Addr> {
    let k = u32::try_from(n.checked_rem(sources)?).ok()?;
    Some(Ipv4Addr::from(u32::from(FIRST_SOURCE).checked_add(k)?))
}

/// Connects, shakes hands, says `hello`: what came of it.
async fn one(options: BurstOptions, socket: TcpSocket, n: usize) -> Finished {
    let start = Instant::now();
    let tcp = match tokio::time::timeout(options.connect_bound, socket.connect(options.target.addr))
        .await
    {
        Err(_) => return Finished::outcome(Outcome::ConnectTimeout),
        Ok(Err(e)) => return Finished::outcome(connect_failure(&e)),
        Ok(Ok(tcp)) => tcp,
    };
    let connected_after = Some(start.elapsed());
    let _ = tcp.set_nodelay(true);
    let handshake = handshake(&options, tcp);
    let result = match tokio::time::timeout(options.answer_bound, handshake).await {
        Err(_) => Err(None),
        Ok(result) => result.map_err(Some),
    };
    let answered_after = Some(start.elapsed());
    let mut ws = match result {
        Ok(ws) => ws,
        Err(error) => {
            return Finished {
                outcome: classify(error.as_ref()),
                connected_after,
                answered_after: error.is_some().then_some(answered_after).flatten(),
                socket: None,
            }
        }
    };
    let welcomed = tokio::time::timeout(options.answer_bound, welcome(&mut ws, n))
        .await
        .is_ok_and(|ok| ok);
    Finished {
        outcome: Outcome::Served { welcomed },
        connected_after,
        answered_after,
        socket: Some(Box::new(ws)),
    }
}

/// The WebSocket handshake, with the token when there is one.
async fn handshake(options: &BurstOptions, tcp: TcpStream) -> Result<Ws, WsError> {
    let mut request = options.target.url.as_str().into_client_request()?;
    if let Some(token) = &options.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| WsError::HttpFormat(e.into()))?;
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(request, tcp, Some(conn::ws_config())).await?;
    Ok(ws)
}

/// Says `hello`; whether its `welcome` came.
async fn welcome(ws: &mut Ws, n: usize) -> bool {
    use futures_util::StreamExt;
    let id = format!("burst-{n}");
    if ws
        .send(Message::text(wire::hello(&id, &format!("burst-{n}"))))
        .await
        .is_err()
    {
        return false;
    }
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            return wire::is_welcome(text.as_bytes(), &id).is_ok();
        }
    }
    false
}

/// What a failed TCP connect means.
fn connect_failure(error: &std::io::Error) -> Outcome {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => Outcome::TcpRefused,
        ErrorKind::TimedOut => Outcome::ConnectTimeout,
        _ => Outcome::Failed(format!("connect: {error}")),
    }
}

/// What a handshake that did not give a WebSocket means; `None` is no answer in time.
pub fn classify(error: Option<&WsError>) -> Outcome {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    let Some(error) = error else {
        return Outcome::HalfOpen;
    };
    match error {
        WsError::Http(response) => {
            let status = response.status().as_u16();
            if status == 503 && response.headers().contains_key(header::RETRY_AFTER) {
                Outcome::Refused
            } else {
                Outcome::Status(status)
            }
        }
        WsError::Io(_)
        | WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::HandshakeIncomplete) => Outcome::ClosedUnanswered,
        other => Outcome::Failed(other.to_string()),
    }
}

impl Finished {
    fn outcome(outcome: Outcome) -> Self {
        Finished {
            outcome,
            connected_after: None,
            answered_after: None,
            socket: None,
        }
    }

    fn failed(error: LoadError) -> Self {
        Finished::outcome(Outcome::Failed(error.to_string()))
    }
}

impl BurstReport {
    fn new(options: &BurstOptions) -> Self {
        BurstReport {
            mode: "burst",
            requested: options.connections,
            sources: options.sources,
            served: 0,
            welcomed: 0,
            refused_503: 0,
            other_status: BTreeMap::new(),
            tcp_refused: 0,
            connect_timeout: 0,
            closed_unanswered: 0,
            half_open: 0,
            failed: 0,
            first_failure: None,
            unfinished: 0,
            slow_connects: 0,
            stalled_after_connect: 0,
            connect: Summary::default(),
            served_latency: Summary::default(),
            refused_latency: Summary::default(),
            seconds: 0.0,
        }
    }

    /// Adds one outcome to the counts.
    pub fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Served { welcomed } => {
                self.served += 1;
                self.welcomed += u64::from(welcomed);
            }
            Outcome::Refused => self.refused_503 += 1,
            Outcome::Status(status) => *self.other_status.entry(status).or_insert(0) += 1,
            Outcome::TcpRefused => self.tcp_refused += 1,
            Outcome::ConnectTimeout => self.connect_timeout += 1,
            Outcome::ClosedUnanswered => self.closed_unanswered += 1,
            Outcome::HalfOpen => self.half_open += 1,
            Outcome::Failed(text) => {
                self.failed += 1;
                self.first_failure.get_or_insert(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::http::Response;

    #[test]
    fn sources_go_round_robin_from_127_0_0_2() {
        assert_eq!(source(0, 5), None);
        assert_eq!(source(1, 5), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(source(3, 4), Some(Ipv4Addr::new(127, 0, 0, 3)));
        assert_eq!(source(5000, 4999), Some(Ipv4Addr::new(127, 0, 19, 137)));
    }

    #[test]
    fn handshake_failures_are_classified() {
        let answer = |status: u16, retry: bool| {
            let mut response = Response::builder().status(status);
            if retry {
                response = response.header("Retry-After", "5");
            }
            WsError::Http(Box::new(response.body(None).unwrap()))
        };
        assert_eq!(classify(Some(&answer(503, true))), Outcome::Refused);
        assert_eq!(classify(Some(&answer(503, false))), Outcome::Status(503));
        assert_eq!(classify(Some(&answer(429, true))), Outcome::Status(429));
        assert_eq!(classify(None), Outcome::HalfOpen);
        let reset = WsError::Io(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(classify(Some(&reset)), Outcome::ClosedUnanswered);
        assert_eq!(
            connect_failure(&std::io::ErrorKind::ConnectionRefused.into()),
            Outcome::TcpRefused
        );
    }

    #[test]
    fn outcomes_add_up() {
        let mut report = BurstReport::new(&BurstOptions {
            target: Target {
                url: "ws://127.0.0.1:1/".into(),
                addr: "127.0.0.1:1".parse().unwrap(),
            },
            connections: 6,
            sources: 0,
            token: None,
            connect_bound: Duration::ZERO,
            answer_bound: Duration::ZERO,
        });
        for outcome in [
            Outcome::Served { welcomed: true },
            Outcome::Served { welcomed: false },
            Outcome::Refused,
            Outcome::Status(429),
            Outcome::HalfOpen,
            Outcome::Failed("first".into()),
            Outcome::Failed("second".into()),
        ] {
            report.count(outcome);
        }
        assert_eq!(
            (report.served, report.welcomed, report.refused_503),
            (2, 1, 1)
        );
        assert_eq!(report.other_status.get(&429), Some(&1));
        assert_eq!((report.half_open, report.failed), (1, 2));
        assert_eq!(report.first_failure.as_deref(), Some("first"));
    }
}
