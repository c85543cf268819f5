//! [`Proto`]: what a connection speaks — the Semantest protocol, plain WebSocket echo, or raw TCP.

use serde::Serialize;

/// What a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// Semantest protocol v1 over WebSocket: `ping` answered by `pong`.
    Semantest,
    /// A generic WebSocket echo server: a text message answered by the same text.
    Echo,
    /// Raw TCP, no WebSocket: length-prefixed frames echoed back (see [`crate::codec`]).
    Tcp,
}

impl Proto {
    /// Whether it runs over a WebSocket.
    pub fn is_websocket(self) -> bool {
        self != Proto::Tcp
    }
}
