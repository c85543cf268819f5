//! The sans-IO connection state machine: every connection decision of Semantest Connect,
//! with no socket, no clock and no randomness of its own.
//!
//! A driver calls [`Machine::handle`] with the current time and what happened, and executes the
//! [`Command`]s it gets back. The policies (all timings come from [`Settings`]):
//! - **Probe**: `GET {local}/signature`, then `/semantest-signature` if that is a 404; a probe
//!   that has not answered after `probe_timeout_ms` is cancelled and counts as a timeout.
//! - **Choose**: local first: the probe runs alone for `local_head_start_ms`; if it fails
//!   sooner (refused costs milliseconds), the remote is opened at once; if it is still out when
//!   the head start ends (a hung local server), the remote is opened alongside, and the client
//!   moves to local if the probe answers later. Remote only: no probe at all.
//! - **Keep**: on open, `hello` then a `ping`; a ping every `ping_interval_ms`; no pong within
//!   `pong_timeout_ms` means the socket is dead. Pongs to our pings give the latency.
//! - **Recover**: a lost connection waits a [`Backoff`] delay (reset first if the connection was
//!   up for `stable_after_ms`) and then decides again from the start, probe included. While on the
//!   remote with local first, the local server is probed every `reprobe_interval_ms` and the
//!   client moves back when it answers; the remote socket is closed only once the local is open.
//! - **Give up honestly**: when every server of an attempt failed, the status is `offline` with
//!   each server's reason and the time of the next try; after `retry.max_attempts` failures in a
//!   row it stays offline with no next try until [`Event::Start`] or [`Event::Online`].
//! - **Outbox**: frames sent while nothing is open wait (bounded) and go out in order on open.
//!
//! At most one socket is open and at most one is opening; the old one is closed as soon as the
//! new one is open.

use std::collections::{BTreeMap, BTreeSet};

use semantest_protocol::client::raw_json;
use semantest_protocol::{
    ClientFrame, ClientMessage, ErrorCode, Hello, ServerFrame, ServerMessage,
};

use crate::backoff::Backoff;
use crate::event::{Command, Event, ProbeId, Side, SocketId, Timer};
use crate::outbox::{Outbox, OutboxFull};
use crate::settings::{Settings, Strategy};
use crate::signature;
use crate::status::Status;

mod decide;
mod effects;
mod view;

/// Close code for closes the client starts for ordinary reasons.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code when the server missed its pong deadline.
pub const CLOSE_NO_PONG: u16 = 4000;
/// Close code when the socket did not open in time.
pub const CLOSE_CONNECT_TIMEOUT: u16 = 4001;

#[derive(Debug, Clone)]
struct ProbeState {
    id: ProbeId,
    fallback: bool,
}

#[derive(Debug, Clone)]
struct Conn {
    id: SocketId,
    side: Side,
    url: String,
    since: u64,
    /// The message of an `error unauthorized` the server sent on this socket: the reason to
    /// show if it then closes without one (the public service closes through API Gateway,
    /// which cannot give a close reason).
    refused: Option<String>,
}

#[derive(Debug, Clone)]
struct OutstandingPing {
    id: String,
    sent_at: u64,
}

/// The connection core. See the module docs for its policies.
#[derive(Debug, Clone)]
pub struct Machine {
    settings: Settings,
    running: bool,
    next_id: u64,
    probe: Option<ProbeState>,
    active: Option<Conn>,
    pending: Option<Conn>,
    /// Armed timers and when they are due.
    timers: BTreeMap<Timer, u64>,
    ping: Option<OutstandingPing>,
    latency_ms: Option<u64>,
    local_reason: Option<String>,
    remote_reason: Option<String>,
    /// Why the client is reconnecting, while it waits to decide again.
    lost_reason: Option<String>,
    /// The remote already failed in this attempt (so a failed probe ends the attempt).
    remote_failed: bool,
    /// Every server of the last attempt failed (with no Retry armed: it gave up).
    offline: bool,
    backoff: Backoff,
    outbox: Outbox,
    /// Event names this client listens to: subscribed again on every new socket.
    subscriptions: BTreeSet<String>,
    last_status: Option<Status>,
}

/// Why [`Machine::send`] refused a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Nothing is connected and the outbox is full.
    #[error(transparent)]
    OutboxFull(#[from] OutboxFull),
    /// The action was empty.
    #[error("action must not be empty")]
    EmptyAction,
}

impl Machine {
    /// A stopped machine with `settings`; `seed` drives the backoff jitter.
    pub fn new(settings: Settings, seed: u64) -> Machine {
        Machine {
            settings,
            running: false,
            next_id: 1,
            probe: None,
            active: None,
            pending: None,
            timers: BTreeMap::new(),
            ping: None,
            latency_ms: None,
            local_reason: None,
            remote_reason: None,
            lost_reason: None,
            remote_failed: false,
            offline: false,
            backoff: Backoff::new(seed),
            outbox: Outbox::default(),
            subscriptions: BTreeSet::new(),
            last_status: None,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The timers that are armed, for drivers' and tests' checks.
    pub fn armed_timers(&self) -> Vec<Timer> {
        self.timers.keys().copied().collect()
    }

    /// Feeds one event at time `now` (ms) and returns what to do, in order.
    pub fn handle(&mut self, now: u64, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        match event {
            Event::Start => self.start(now, &mut out),
            Event::SettingsChanged(s) => self.settings_changed(now, *s, &mut out),
            Event::ProbeAnswered {
                probe,
                status,
                body,
            } => self.probe_answered(now, probe, status, &body, &mut out),
            Event::ProbeFailed { probe, error } => {
                if self.is_probe(probe) {
                    self.finish_probe(&mut out);
                    self.local_failed(now, error.to_string(), &mut out);
                }
            }
            Event::SocketOpened(id) => self.socket_opened(now, id, &mut out),
            Event::SocketClosed {
                socket,
                code,
                reason,
            } => self.socket_closed(now, socket, code, &reason, &mut out),
            Event::MessageReceived { socket, text } => self.message(now, socket, text, &mut out),
            Event::TimerFired(t) => self.timer_fired(now, t, &mut out),
            Event::Online => {
                if self.running && self.idle() {
                    self.backoff.reset();
                    self.decide(now, &mut out);
                }
            }
            Event::Wake => {
                let due: Vec<Timer> = self
                    .timers
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(t, _)| *t)
                    .collect();
                for timer in due {
                    self.timer_fired(now, timer, &mut out);
                }
            }
            Event::Close => {
                self.teardown("closed by the application", &mut out);
                self.running = false;
            }
        }
        self.emit_status(now, &mut out);
        out
    }

    /// Listens to `events` (`subscribe` now if connected) and again on every later socket, so a
    /// reconnect or a switch between servers keeps the subscriptions. `on: false` stops.
    pub fn subscribe(&mut self, now: u64, events: &[String], on: bool) -> Vec<Command> {
        let changed: Vec<String> = events
            .iter()
            .filter(|e| {
                if on {
                    self.subscriptions.insert((*e).clone())
                } else {
                    self.subscriptions.remove(*e)
                }
            })
            .cloned()
            .collect();
        let mut out = Vec::new();
        if let (Some(conn), false) = (&self.active, changed.is_empty()) {
            let socket = conn.id;
            let action = if on { "subscribe" } else { "unsubscribe" };
            let id = format!("s{}", self.fresh());
            let text = raw_json(action, &id, serde_json::json!({ "events": changed }));
            out.push(Command::Send { socket, text });
        }
        self.emit_status(now, &mut out);
        out
    }

    /// Sends `action` with `payload` now, or queues it until a socket is open. Returns the
    /// frame's id (the server's reply carries it as `replyTo`).
    pub fn send(
        &mut self,
        now: u64,
        action: &str,
        payload: serde_json::Value,
    ) -> Result<(String, Vec<Command>), SendError> {
        if action.is_empty() {
            return Err(SendError::EmptyAction);
        }
        let id = format!("c{}", self.fresh());
        let text = raw_json(action, &id, payload);
        let mut out = Vec::new();
        match &self.active {
            Some(conn) => out.push(Command::Send {
                socket: conn.id,
                text,
            }),
            None => self.outbox.push(text, self.settings.outbox_capacity)?,
        }
        self.emit_status(now, &mut out);
        Ok((id, out))
    }

    /// Like [`Machine::send`], but the frame fails with [`crate::FailureCode::Timeout`] when no
    /// answer came within `timeout_ms` (the settings' `request_timeout_ms` when `None`).
    pub fn request(
        &mut self,
        now: u64,
        action: &str,
        payload: serde_json::Value,
        timeout_ms: Option<u64>,
    ) -> Result<(String, Vec<Command>), SendError> {
        let _ = timeout_ms;
        self.send(now, action, payload)
    }

    fn start(&mut self, now: u64, out: &mut Vec<Command>) {
        // An explicit start (the user's "reconnect") begins a fresh schedule, even after giving up.
        if !self.running || self.idle() {
            self.running = true;
            self.backoff.reset();
            self.decide(now, out);
        }
    }

    fn settings_changed(&mut self, now: u64, new: Settings, out: &mut Vec<Command>) {
        let retarget = self.settings.changes_target(&new);
        let old = std::mem::replace(&mut self.settings, new);
        if !self.running {
            return;
        }
        if retarget {
            self.teardown("settings changed", out);
            self.local_reason = None;
            self.remote_reason = None;
            self.backoff.reset();
            self.decide(now, out);
        } else {
            // Only a changed interval restarts its timer; a settings sync must not postpone pings.
            if self.active.is_some() && old.ping_interval_ms != self.settings.ping_interval_ms {
                self.arm(now, Timer::Ping, self.settings.ping_interval_ms, out);
            }
            if self.timers.contains_key(&Timer::Reprobe)
                && old.reprobe_interval_ms != self.settings.reprobe_interval_ms
            {
                self.arm(now, Timer::Reprobe, self.settings.reprobe_interval_ms, out);
            }
        }
    }

    fn probe_answered(
        &mut self,
        now: u64,
        id: ProbeId,
        status: u16,
        body: &[u8],
        out: &mut Vec<Command>,
    ) {
        let Some(probe) = self.probe.clone().filter(|p| p.id == id) else {
            return;
        };
        self.finish_probe(out);
        if status == 404 && !probe.fallback {
            self.start_probe(now, true, out);
            return;
        }
        match signature::check(status, body) {
            Ok(_) => self.local_ok(now, out),
            Err(e) => self.local_failed(now, e.to_string(), out),
        }
    }

    fn socket_opened(&mut self, now: u64, id: SocketId, out: &mut Vec<Command>) {
        let Some(mut conn) = self.pending.take_if(|c| c.id == id) else {
            return;
        };
        self.disarm(Timer::ConnectDeadline, out);
        self.disarm(Timer::HeadStart, out);
        self.disarm(Timer::Retry, out);
        if let Some(old) = self.active.take() {
            let to = conn.side.name();
            out.push(close(
                old.id,
                CLOSE_NORMAL,
                &format!("switching to the {to} server"),
            ));
        }
        conn.since = now;
        match conn.side {
            Side::Local => self.local_reason = None,
            Side::Remote => self.remote_reason = None,
        }
        self.lost_reason = None;
        self.offline = false;
        self.ping = None;
        self.latency_ms = None;
        let hello = Hello {
            role: self.settings.role,
            client_id: self.settings.client_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            capabilities: Vec::new(),
            // The key is for the remote server; whatever answers on the local port never sees it.
            token: match conn.side {
                Side::Remote => self.settings.token.clone(),
                Side::Local => None,
            },
        };
        let hello = ClientFrame::new(format!("h{}", self.fresh()), ClientMessage::Hello(hello));
        out.push(Command::Send {
            socket: conn.id,
            text: hello.to_json(),
        });
        let side = conn.side;
        let socket = conn.id;
        self.active = Some(conn);
        self.send_ping(now, out);
        self.arm(now, Timer::Ping, self.settings.ping_interval_ms, out);
        if !self.subscriptions.is_empty() {
            let events: Vec<String> = self.subscriptions.iter().cloned().collect();
            let id = format!("s{}", self.fresh());
            let text = raw_json("subscribe", &id, serde_json::json!({ "events": events }));
            out.push(Command::Send { socket, text });
        }
        for text in self.outbox.drain() {
            out.push(Command::Send { socket, text });
        }
        match side {
            Side::Local => self.disarm(Timer::Reprobe, out),
            Side::Remote => {
                if self.settings.strategy == Strategy::LocalFirst && self.probe.is_none() {
                    self.arm(now, Timer::Reprobe, self.settings.reprobe_interval_ms, out);
                }
            }
        }
    }

    fn socket_closed(
        &mut self,
        now: u64,
        id: SocketId,
        code: u16,
        reason: &str,
        out: &mut Vec<Command>,
    ) {
        let why = if reason.is_empty() {
            format!("connection closed (code {code})")
        } else {
            format!("connection closed (code {code}: {reason})")
        };
        if let Some(conn) = self.pending.take_if(|c| c.id == id) {
            self.disarm(Timer::ConnectDeadline, out);
            let why = if code == 1006 {
                "could not connect".to_owned()
            } else {
                why
            };
            self.pending_failed(now, conn.side, why, out);
        } else if let Some(conn) = self.active.take_if(|c| c.id == id) {
            // A close without a reason, or a transport failure (1006: the refusing server's
            // close raced the client's own writes): the refusal read before it is the reason.
            let why = match &conn.refused {
                Some(refused) if reason.is_empty() || code == 1006 => {
                    format!("connection closed (code {code}: unauthorized: {refused})")
                }
                _ => why,
            };
            self.connection_lost(now, conn, why, out);
        }
    }

    fn message(&mut self, now: u64, id: SocketId, text: String, out: &mut Vec<Command>) {
        if self.active.as_ref().is_none_or(|c| c.id != id) {
            return;
        }
        match ServerFrame::parse(&text) {
            Ok(ServerFrame {
                reply_to: Some(to),
                message: ServerMessage::Pong(_),
            }) => {
                if let Some(ping) = self.ping.take_if(|p| p.id == to) {
                    self.latency_ms = Some(now.saturating_sub(ping.sent_at));
                    self.disarm(Timer::PongDeadline, out);
                    return;
                }
            }
            Ok(ServerFrame {
                message: ServerMessage::Error(e),
                ..
            }) if e.code == ErrorCode::Unauthorized => {
                if let Some(conn) = self.active.as_mut() {
                    conn.refused = Some(semantest_protocol::shorten(&e.message, 120));
                }
            }
            Ok(ServerFrame {
                message: ServerMessage::Welcome(_),
                ..
            }) => {
                if let Some(conn) = self.active.as_mut() {
                    conn.refused = None;
                }
            }
            _ => {}
        }
        out.push(Command::Deliver(text));
    }

    fn timer_fired(&mut self, now: u64, timer: Timer, out: &mut Vec<Command>) {
        if self.timers.remove(&timer).is_none() {
            return; // cancelled or replaced: stale
        }
        match timer {
            Timer::HeadStart => {
                if self.active.is_none() && self.pending.is_none() && !self.remote_failed {
                    self.open(now, Side::Remote, out);
                }
            }
            Timer::ProbeDeadline => {
                if let Some(p) = self.probe.take() {
                    out.push(Command::CancelProbe(p.id));
                    let e = signature::ProbeError::Timeout {
                        ms: self.settings.probe_timeout_ms,
                    };
                    self.local_failed(now, e.to_string(), out);
                }
            }
            Timer::ConnectDeadline => {
                if let Some(conn) = self.pending.take() {
                    out.push(close(conn.id, CLOSE_CONNECT_TIMEOUT, "connect timeout"));
                    let why = format!(
                        "socket did not open within {} ms",
                        self.settings.connect_timeout_ms
                    );
                    self.pending_failed(now, conn.side, why, out);
                }
            }
            Timer::Retry => self.decide(now, out),
            Timer::Reprobe => {
                let on_remote = self.active.as_ref().is_some_and(|c| c.side == Side::Remote);
                if self.settings.strategy == Strategy::LocalFirst
                    && on_remote
                    && self.probe.is_none()
                    && self.pending.is_none()
                {
                    self.start_probe(now, false, out);
                }
            }
            Timer::Ping => {
                if self.active.is_some() {
                    if self.ping.is_none() {
                        self.send_ping(now, out);
                    }
                    self.arm(now, Timer::Ping, self.settings.ping_interval_ms, out);
                }
            }
            Timer::PongDeadline => {
                if let Some(conn) = self.active.take() {
                    out.push(close(conn.id, CLOSE_NO_PONG, "no pong"));
                    let why = format!("no pong within {} ms", self.settings.pong_timeout_ms);
                    self.connection_lost(now, conn, why, out);
                }
            }
        }
    }

    /// Nothing open, opening or probing.
    fn idle(&self) -> bool {
        self.active.is_none() && self.pending.is_none() && self.probe.is_none()
    }

    fn is_probe(&self, id: ProbeId) -> bool {
        self.probe.as_ref().is_some_and(|p| p.id == id)
    }

    fn fresh(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

fn close(socket: SocketId, code: u16, reason: &str) -> Command {
    Command::CloseSocket {
        socket,
        code,
        reason: reason.to_owned(),
    }
}
