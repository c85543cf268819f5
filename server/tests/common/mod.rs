//! Helpers shared by the integration tests: a real server on `127.0.0.1:0`, a real WebSocket
//! client, and bounded reads. Every wait has a timeout, so a broken server fails a test instead
//! of hanging it.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use semantest_protocol::ServerFrame;
use semantest_server::{serve_state, AppState, Config};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait in a test may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A WebSocket client connection.
pub(crate) type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A server running in this process.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    /// Starts a server with `config` on a free loopback port.
    pub(crate) async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = AppState::new(config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_state(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The WebSocket URL of this server.
    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Opens a WebSocket to this server.
    pub(crate) async fn connect(&self) -> Client {
        let (client, response) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(self.ws_url()))
                .await
                .expect("connect timed out")
                .expect("connect");
        assert_eq!(response.status(), 101);
        client
    }

    /// Resolves the shutdown future and waits (bounded) for `serve` to return.
    pub(crate) async fn stop(mut self) -> io::Result<()> {
        let _ = self.stop.take().expect("stopped once").send(());
        let task = self.task.take().expect("stopped once");
        tokio::time::timeout(WAIT, task)
            .await
            .expect("serve did not return in time")
            .expect("serve panicked")
    }
}

/// A TCP connection to `addr` from the source address `from` (all of 127.0.0.0/8 is loopback,
/// so each address is another client to the server's per-address limits).
pub(crate) async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::new(from.parse().expect("an IPv4 address"), 0))
        .expect("bind the source address");
    tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .expect("connected in time")
        .expect("connect")
}

/// Sends one text frame.
pub(crate) async fn send_text(client: &mut Client, text: &str) {
    client.send(Message::text(text)).await.expect("send");
}

/// The next message that is not a Ping/Pong control frame (bounded).
pub(crate) async fn next_message(client: &mut Client) -> Option<Message> {
    tokio::time::timeout(WAIT, async {
        loop {
            match client.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(e)) => panic!("websocket error: {e}"),
                None => return None,
            }
        }
    })
    .await
    .expect("no message in time")
}

/// The next server frame, parsed.
pub(crate) async fn next_frame(client: &mut Client) -> ServerFrame {
    match next_message(client).await {
        Some(Message::Text(text)) => ServerFrame::parse(text.as_str()).expect("a server frame"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Sends `text` and returns the server's answer.
pub(crate) async fn round_trip(client: &mut Client, text: &str) -> ServerFrame {
    send_text(client, text).await;
    next_frame(client).await
}

/// The value of the sample `name` (with its labels, exactly as exposed) in a metrics text.
pub(crate) fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}
