//! The machine's vocabulary: the [`Event`]s a driver feeds in and the [`Command`]s it gets back.
//! Drivers execute commands literally and report what happened as events; ids tie them together
//! so that late news about an old socket or probe is recognised and ignored.

use crate::settings::Settings;
use crate::signature::ProbeError;
use crate::status::Status;

/// Which server a socket or probe is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The local development server.
    Local,
    /// The remote (public or custom) server.
    Remote,
}

impl Side {
    /// `"local"` or `"remote"`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Side::Local => "local",
            Side::Remote => "remote",
        }
    }
}

/// Names one socket for its whole life. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u64);

/// Names one probe request. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(pub u64);

/// The machine's timers. At most one of each kind is armed; arming again replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// The local probe's head start is over: start the remote too.
    HeadStart,
    /// The probe took too long.
    ProbeDeadline,
    /// The opening socket took too long.
    ConnectDeadline,
    /// Time for the next attempt after a failure.
    Retry,
    /// Time to look for the local server again while on the remote.
    Reprobe,
    /// Time to send a keepalive ping.
    Ping,
    /// The ping's pong is overdue.
    PongDeadline,
    /// The earliest deadline of an unanswered frame.
    Answers,
    /// A frame has been out this long with no answer: check the socket.
    Check,
    /// The old socket of a switch has had its time to answer what it owes.
    Drain,
}

/// Something that happened, reported to [`crate::Machine::handle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Begin (or, while waiting to retry, retry now). A no-op while connected.
    Start,
    /// New validated settings; they apply at once.
    SettingsChanged(Box<Settings>),
    /// The probe got an HTTP answer (any status). `body` is at most
    /// [`crate::signature::MAX_SIGNATURE_BYTES`] + 1 bytes: drivers cap what they read.
    ProbeAnswered {
        /// Which probe.
        probe: ProbeId,
        /// HTTP status.
        status: u16,
        /// The (capped) body.
        body: Vec<u8>,
    },
    /// The probe failed below HTTP (refused, network error).
    ProbeFailed {
        /// Which probe.
        probe: ProbeId,
        /// Why.
        error: ProbeError,
    },
    /// The socket finished its opening handshake (it is *ready* only once the server's
    /// `welcome` arrives).
    SocketOpened(SocketId),
    /// The socket closed (or failed to open).
    SocketClosed {
        /// Which socket.
        socket: SocketId,
        /// The close code (1006 when there was no close frame).
        code: u16,
        /// The close reason, possibly empty.
        reason: String,
    },
    /// A text frame arrived.
    MessageReceived {
        /// On which socket.
        socket: SocketId,
        /// The frame.
        text: String,
    },
    /// A timer set by [`Command::SetTimer`] ran out.
    TimerFired(Timer),
    /// The browser says the network is back: a waiting client tries again at once.
    Online,
    /// A backstop woke the driver (the extension's keepalive alarm, a restarted worker): run
    /// whatever is due now — a retry whose time has come, a timer the driver lost — and nothing
    /// else. Unlike [`Event::Start`] it never resets the backoff.
    Wake,
    /// Stop: close everything, cancel every timer.
    Close,
}

/// Something the driver must do, returned by [`crate::Machine::handle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `GET url` and report [`Event::ProbeAnswered`] or [`Event::ProbeFailed`].
    Probe {
        /// Its id, for the answer.
        probe: ProbeId,
        /// The full URL to fetch.
        url: String,
    },
    /// Abort the probe; report nothing more about it.
    CancelProbe(ProbeId),
    /// Open a WebSocket and report [`Event::SocketOpened`] / [`Event::SocketClosed`].
    OpenSocket {
        /// Its id.
        socket: SocketId,
        /// Where.
        url: String,
        /// The key to show in the handshake (remote sockets only): the driver offers the
        /// subprotocols [`SUBPROTOCOL`](crate::SUBPROTOCOL) and `bearer.<key>`, so the server
        /// knows the client before the first frame. The public service needs that: API Gateway
        /// may hand a socket's first frames to its handlers out of order.
        token: Option<semantest_protocol::Token>,
    },
    /// Close the socket with a close frame; report nothing more about it.
    CloseSocket {
        /// Which.
        socket: SocketId,
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Send a text frame on an open socket.
    Send {
        /// Which socket.
        socket: SocketId,
        /// The frame.
        text: String,
    },
    /// Arm `timer` to fire after `after_ms`, replacing any armed timer of that kind.
    SetTimer {
        /// Which.
        timer: Timer,
        /// Delay in ms.
        after_ms: u64,
    },
    /// Disarm `timer`.
    CancelTimer(Timer),
    /// Hand a server frame to the application.
    Deliver(String),
    /// The first answer (the server frame whose `replyTo` is `id`) to a frame given to
    /// [`crate::Machine::send`] or [`crate::Machine::request`]; an `error` frame is an answer
    /// too. Exactly once per frame, and never after a [`Command::Fail`] for it. The same text
    /// also comes as a [`Command::Deliver`] just before.
    Answer {
        /// The frame's id.
        id: String,
        /// The answering server frame.
        text: String,
    },
    /// A frame given to `send` or `request` will get no answer: why. Exactly once, never after
    /// an [`Command::Answer`] for it.
    Fail {
        /// The frame's id.
        id: String,
        /// Why.
        error: crate::request::RequestError,
    },
    /// The status changed; show it.
    Status(Status),
    /// This client has a token now (`Some`: store it where no page can read it, and give it
    /// back as the token setting next time), or must forget the stored one (`None`: the
    /// service no longer knows it).
    Credentials(Option<Credentials>),
}

/// A token the remote server issued to this client (by `register` or `pair`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The token (never printed).
    pub token: semantest_protocol::Token,
    /// The install this client is, or is paired to.
    pub install_id: String,
    /// For a paired device, its id.
    pub device_id: Option<String>,
}
