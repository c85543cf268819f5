//! One load connection: opened (a WebSocket with small buffers, or raw TCP), greeted when it
//! speaks Semantest, and split into a [`Sender`] and a [`Receiver`].
//!
//! The WebSocket keeps a 4 KiB read buffer and writes each message at once (tungstenite's
//! defaults are 128 KiB each way), so 15 000 connections stay cheap on the client side.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

use crate::codec::{FrameReader, MAX_FRAME};
use crate::error::LoadError;
use crate::proto::Proto;
use crate::target::Target;
use crate::wire::{self, Outgoing};

/// The longest opening one connection (TCP, handshake and `hello`) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections are opened at once.
pub const BATCH: usize = 500;

/// A client WebSocket over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;

/// The client's WebSocket settings: a 4 KiB read buffer, no write buffering.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME))
}

/// An open connection.
#[derive(Debug)]
pub enum Conn {
    /// A WebSocket (`semantest`, `echo`).
    Ws(Box<Ws>),
    /// A raw TCP stream (`tcp`).
    Tcp(TcpStream),
}

/// Opens connection number `n` to `target`; a `semantest` one says `hello` and waits for its
/// `welcome`. Bounded by [`CONNECT_TIMEOUT`].
pub async fn open(target: &Target, proto: Proto, n: usize) -> Result<Conn, LoadError> {
    let opening = async {
        let tcp = TcpStream::connect(target.addr)
            .await
            .map_err(LoadError::io("connect"))?;
        tcp.set_nodelay(true)
            .map_err(LoadError::io("set TCP_NODELAY"))?;
        if !proto.is_websocket() {
            return Ok(Conn::Tcp(tcp));
        }
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(
            target.url.as_str(),
            tcp,
            Some(ws_config()),
        )
        .await?;
        if proto == Proto::Semantest {
            let id = format!("hello-{n}");
            ws.send(Message::text(wire::hello(&id, &format!("load-{n}"))))
                .await?;
            let answer = next_data(&mut ws).await?;
            wire::is_welcome(&answer, &id)?;
        }
        Ok(Conn::Ws(Box::new(ws)))
    };
    tokio::time::timeout(CONNECT_TIMEOUT, opening)
        .await
        .map_err(|_| LoadError::Timeout {
            what: "open a connection",
            after: CONNECT_TIMEOUT,
        })?
}

/// What `echo` and `rate` do first: check `count`, make room for that many open files, and
/// open them ([`open_many`]); an error if none opened.
pub async fn open_for_run(
    target: &Target,
    proto: Proto,
    count: usize,
) -> Result<(Vec<Conn>, Vec<LoadError>), LoadError> {
    LoadError::check_connections(count)?;
    crate::fdlimit::ensure(count as u64)?;
    let (conns, errors) = open_many(target, proto, count).await;
    if conns.is_empty() {
        return Err(no_connection(errors));
    }
    Ok((conns, errors))
}

/// The error for a run where no connection opened, after telling how many failed.
pub fn no_connection(errors: Vec<LoadError>) -> LoadError {
    let count = errors.len();
    let first = errors.into_iter().next().unwrap_or(LoadError::Closed);
    eprintln!("all {count} connections failed");
    LoadError::NoConnection(Box::new(first))
}

/// Opens `count` connections, [`BATCH`] at a time; the ones that opened and the errors of the
/// others. Progress goes to stderr.
pub async fn open_many(target: &Target, proto: Proto, count: usize) -> (Vec<Conn>, Vec<LoadError>) {
    let mut open_ones = Vec::with_capacity(count);
    let mut errors = Vec::new();
    let mut next = 0;
    while next < count {
        let batch = (next..count.min(next + BATCH)).map(|n| open(target, proto, n));
        for result in futures_util::future::join_all(batch).await {
            match result {
                Ok(conn) => open_ones.push(conn),
                Err(e) => errors.push(e),
            }
        }
        next = count.min(next + BATCH);
        if count > BATCH {
            eprintln!(
                "opened {} of {count} ({} failed)",
                open_ones.len(),
                errors.len()
            );
        }
    }
    (open_ones, errors)
}

/// The next data message's bytes (Ping and Pong are answered by the library and skipped).
async fn next_data(ws: &mut Ws) -> Result<Bytes, LoadError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.into()),
            Some(Ok(Message::Binary(bytes))) => return Ok(bytes),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(_))) | None => return Err(LoadError::Closed),
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

impl Conn {
    /// Its sending and receiving halves.
    pub fn split(self) -> (Sender, Receiver) {
        match self {
            Conn::Ws(ws) => {
                let (sink, stream) = (*ws).split();
                (
                    Sender::Ws(sink),
                    Receiver::Ws {
                        stream,
                        last: Bytes::new(),
                    },
                )
            }
            Conn::Tcp(tcp) => {
                let (read, write) = tcp.into_split();
                (Sender::Tcp(write), Receiver::Tcp(FrameReader::new(read)))
            }
        }
    }

    /// Waits until the peer closes the connection (or it fails), answering Pings meanwhile.
    pub async fn idle(self) {
        match self {
            Conn::Ws(mut ws) => while let Some(Ok(_)) = ws.next().await {},
            Conn::Tcp(tcp) => {
                let mut reader = FrameReader::new(tcp);
                while let Ok(Some(_)) = reader.next_frame().await {}
            }
        }
    }
}

/// The sending half of a connection.
#[derive(Debug)]
pub enum Sender {
    /// Of a WebSocket.
    Ws(SplitSink<Ws, Message>),
    /// Of a TCP stream.
    Tcp(OwnedWriteHalf),
}

impl Sender {
    /// Sends one message and flushes it.
    pub async fn send(&mut self, message: Outgoing) -> Result<(), LoadError> {
        match (self, message) {
            (Sender::Ws(sink), Outgoing::Text(text)) => Ok(sink.send(Message::text(text)).await?),
            (Sender::Ws(sink), Outgoing::Frame(bytes)) => {
                Ok(sink.send(Message::binary(bytes)).await?)
            }
            (Sender::Tcp(tcp), Outgoing::Frame(bytes)) => {
                tcp.write_all(&bytes).await.map_err(LoadError::io("write"))
            }
            (Sender::Tcp(tcp), Outgoing::Text(text)) => tcp
                .write_all(text.as_bytes())
                .await
                .map_err(LoadError::io("write")),
        }
    }

    /// Drops this half without shutting the stream down: a TCP stream stays open for writing
    /// until its receiving half is dropped too.
    pub fn release(self) {
        match self {
            Sender::Ws(_) => {}
            Sender::Tcp(write) => write.forget(),
        }
    }
}

/// The receiving half of a connection.
#[derive(Debug)]
pub enum Receiver {
    /// Of a WebSocket.
    Ws {
        /// The messages.
        stream: SplitStream<Ws>,
        /// The last message received, lent out by [`Receiver::recv`].
        last: Bytes,
    },
    /// Of a TCP stream.
    Tcp(FrameReader<OwnedReadHalf>),
}

impl Receiver {
    /// The next message's bytes (for `tcp`, a frame's payload). Cancel-safe.
    pub async fn recv(&mut self) -> Result<&[u8], LoadError> {
        match self {
            Receiver::Ws { stream, last } => loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => *last = text.into(),
                    Some(Ok(Message::Binary(bytes))) => *last = bytes,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => return Err(LoadError::Closed),
                    Some(Err(e)) => return Err(e.into()),
                }
                return Ok(last);
            },
            Receiver::Tcp(reader) => reader.next_frame().await?.ok_or(LoadError::Closed),
        }
    }
}
