//! Identity: an extension without a token registers on the remote server's first keyless socket before that socket is ready, and any client adopts the token a `registered` or `paired` answer brings.
//!
//! - **Register.** A remote socket welcomed while the client is an extension (role
//!   `extension`) with no token, and the remote URL may carry a key (`wss://`, or `ws://` to
//!   this machine), sends `register {role, name}` and is ready only when `registered` comes
//!   (within the same `connect_timeout_ms`). The token is kept for the next sockets and
//!   handed to the driver ([`Command::Credentials`]) to store where no page can read it. A
//!   refusal (`rate_limited` with its wait, …) is a failure of the remote with that reason; a
//!   server that has no `register` (`unknown_action`: an older or open server) lets the
//!   socket be ready without a token.
//! - **Adopt.** The `registered` or `paired` answer, on the ready remote socket, to this
//!   client's own `register` or `pair` request (e.g. the SDK's `pair(code)`) gives its token the
//!   same way, and the subscriptions go out again (the keyless socket was refused them). Any
//!   other such frame — unasked, or from a local server — is ignored.
//! - **Forget.** When the remote refuses an install token the core was given
//!   ([`INSTALL_TOKEN_PREFIX`]) as not valid — the service does not know it any more — an
//!   extension forgets it ([`Command::Credentials`] with `None`), so its next attempt
//!   registers afresh. A revoked or an operator's key is never forgotten by the core.
//!
//! A `registered` frame the core asked for is not delivered to the application: the token
//! goes only to the driver.

use semantest_protocol::identity::{Paired, Registered, INSTALL_TOKEN_PREFIX};
use semantest_protocol::{ClientFrame, ClientMessage, ErrorCode, Role, ServerFrame, ServerMessage};

use super::{close, Conn, Machine, CLOSE_NORMAL};
use crate::event::{Command, Credentials, Side};

impl Machine {
    /// Whether `conn`, just welcomed, must register before it is ready.
    pub(super) fn must_register(&self, conn: &Conn) -> bool {
        conn.side == Side::Remote
            && self.settings.token.is_none()
            && self.settings.role == Role::Extension
            && self.settings.may_carry_a_key()
    }

    /// Sends `register` on `conn`, which stays pending until the answer.
    pub(super) fn register(&mut self, conn: &mut Conn, out: &mut Vec<Command>) {
        let id = self.frame_id('r');
        let register = semantest_protocol::identity::Register {
            role: self.settings.role,
            name: self.settings.name.clone(),
        };
        let frame = ClientFrame::new(id.clone(), ClientMessage::Register(register));
        out.push(Command::Send {
            socket: conn.id,
            text: frame.to_json(),
        });
        conn.registering = Some(id);
    }

    /// A frame on the pending socket that is registering: the answer to its `register`
    /// makes it ready, or fails the remote. `false`: not that answer.
    pub(super) fn registration_answered(
        &mut self,
        now: u64,
        frame: &ServerFrame,
        out: &mut Vec<Command>,
    ) -> bool {
        let Some(conn) = self.pending.as_ref() else {
            return false;
        };
        if conn.registering.is_none() || conn.registering != frame.reply_to {
            return false;
        }
        let Some(mut conn) = self.pending.take() else {
            return false;
        };
        conn.registering = None;
        match &frame.message {
            ServerMessage::Registered(r) => {
                self.adopt_registered(r, out);
                self.ready(now, conn, out);
            }
            // A server without identities: the socket is what it is.
            ServerMessage::Error(e) if e.code == ErrorCode::UnknownAction => {
                self.ready(now, conn, out);
            }
            ServerMessage::Error(e) => {
                self.disarm(crate::event::Timer::ConnectDeadline, out);
                out.push(close(conn.id, CLOSE_NORMAL, "registration refused"));
                let wait = e
                    .retry_after_secs
                    .map(|s| format!(" (retry in {s} s)"))
                    .unwrap_or_default();
                let why = format!(
                    "the server refused to register this extension: {}{wait}",
                    semantest_protocol::shorten(&e.message, 120)
                );
                self.pending_failed(now, conn.side, why, out);
            }
            _ => {
                // Not an answer a register can have: treat as a refusal without a reason.
                self.disarm(crate::event::Timer::ConnectDeadline, out);
                out.push(close(conn.id, CLOSE_NORMAL, "registration failed"));
                let why = "the server answered register with something else".to_owned();
                self.pending_failed(now, conn.side, why, out);
            }
        }
        true
    }

    /// Whether frame `id`, still unanswered, is this client's own `register` or `pair` (its
    /// text is the core's own: the action comes first).
    pub(super) fn asked_for_a_token(&self, id: &str) -> bool {
        self.outbox.iter().any(|f| {
            f.id == id
                && (f.text.starts_with(r#"{"action":"pair","#)
                    || f.text.starts_with(r#"{"action":"register","#))
        })
    }

    /// The `registered` or `paired` answer to this client's own request on the ready remote
    /// socket: its token is this client's now, and the subscriptions the keyless socket was
    /// refused go out again.
    pub(super) fn adopt(&mut self, message: &ServerMessage, out: &mut Vec<Command>) {
        match message {
            ServerMessage::Registered(r) => self.adopt_registered(r, out),
            ServerMessage::Paired(p) => self.adopt_paired(p, out),
            _ => return,
        }
        if let Some(socket) = self.active.as_ref().map(|c| c.id) {
            if !self.subscriptions.is_empty() {
                let events: Vec<String> = self.subscriptions.iter().cloned().collect();
                let id = self.frame_id('s');
                let text = semantest_protocol::client::raw_json(
                    "subscribe",
                    &id,
                    super::events_payload(&events),
                );
                out.push(Command::Send { socket, text });
            }
        }
    }

    fn adopt_registered(&mut self, r: &Registered, out: &mut Vec<Command>) {
        self.settings.token = Some(r.token.clone());
        out.push(Command::Credentials(Some(Credentials {
            token: r.token.clone(),
            install_id: r.install_id.clone(),
            device_id: None,
        })));
    }

    fn adopt_paired(&mut self, p: &Paired, out: &mut Vec<Command>) {
        self.settings.token = Some(p.token.clone());
        out.push(Command::Credentials(Some(Credentials {
            token: p.token.clone(),
            install_id: p.install_id.clone(),
            device_id: Some(p.device_id.clone()),
        })));
    }

    /// The remote refused the token this socket showed with `message`: an extension forgets
    /// an install token the service no longer knows, so the next attempt registers.
    pub(super) fn refused_token(&mut self, side: Side, message: &str, out: &mut Vec<Command>) {
        let stale = side == Side::Remote
            && self.settings.role == Role::Extension
            && message == "the API key is not valid"
            && self
                .settings
                .token
                .as_ref()
                .is_some_and(|t| t.expose().starts_with(INSTALL_TOKEN_PREFIX));
        if stale {
            self.settings.token = None;
            out.push(Command::Credentials(None));
        }
    }
}
