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
//! - **Ready means welcomed**: on open, `hello`; the socket is ready (status `local`/`cloud`)
//!   only when the server's `welcome` arrives with our signature (service `semantest`, a
//!   compatible version), within `connect_timeout_ms` of the open request. A wrong signature,
//!   no welcome in time, or a refusal (`error unauthorized`, then a close) is a failure of that
//!   server with its own reason, and the status never shows it as connected.
//! - **Keep**: once ready, a `ping`; a ping every `ping_interval_ms` (or the welcome's
//!   `heartbeatSecs`, if shorter); no pong within `pong_timeout_ms` means the socket is dead.
//!   The first pong is a warm-up and is followed by a second ping at once; the latency shown
//!   is the median of the last [`LATENCY_SAMPLES`] round trips after it.
//! - **Recover**: a lost connection waits a [`Backoff`] delay (reset first if the connection was
//!   up for `stable_after_ms`) and then decides again from the start, probe included. While on the
//!   remote with local first, the local server is probed every `reprobe_interval_ms` and the
//!   client moves back when it answers; the remote socket is closed only once the local is open.
//! - **Give up honestly**: when every server of an attempt failed, the status is `offline` with
//!   each server's reason and the time of the next try; after `retry.max_attempts` failures in a
//!   row it stays offline with no next try until [`Event::Start`] or [`Event::Online`].
//! - **Session** (see `session`): every frame given to [`Machine::send`] or
//!   [`Machine::request`] is tracked until a server answers it (`replyTo`). Its caller hears the
//!   first answer once ([`Command::Answer`]) or one failure ([`Command::Fail`]: `timeout` after
//!   `request_timeout_ms`, `closed`, `gone`). A frame whose socket dies or is replaced before
//!   its answer goes out again, in order and with the same id, on the next ready socket, except
//!   a `reply`, which only its event's server can use (`gone` when that server is). A frame out
//!   for `answer_check_ms` with no answer makes the machine check the socket at once: a ping
//!   with a deadline of at most [`CHECK_PONG_MS`]. Frame ids carry a per-instance random part,
//!   so a restarted client never reuses one.
//!
//! At most one socket is ready and at most one is opening. When the opening one is welcomed,
//! the old ready one is closed at once if it owes no answers, or else *drains*: it stays open
//! for at most `drain_ms` for those answers, then closes, and what it still owed goes again on
//! the new socket.
//!
//! **Time** is the driver's monotonic clock in milliseconds: deadlines and latency never move
//! with the wall clock. A timer that fires before its due time (a late fire of a replaced
//! timer, a driver's early wake) is not run: the machine asks for it again for the rest of the
//! time, so drivers need no generation counters.

use crate::sorted::{SortedMap, SortedSet};

use semantest_protocol::client::raw_json;
use semantest_protocol::{
    ClientFrame, ClientMessage, ErrorCode, Hello, ServerFrame, ServerMessage,
};

use crate::backoff::Backoff;
use crate::event::{Command, Event, ProbeId, Side, SocketId, Timer};
use crate::outbox::{Outbox, OutboxFull};
use crate::request::FailureCode;
use crate::settings::{Settings, Strategy};
use crate::signature;
use crate::status::Status;

mod decide;
mod effects;
mod identity;
mod session;
mod view;

/// How many round trips the shown latency is the median of.
pub const LATENCY_SAMPLES: usize = 5;
/// The longest a check of a socket with an unanswered frame waits for its pong.
pub const CHECK_PONG_MS: u64 = 3_000;
/// Close code when the server's welcome did not show a Semantest server we can talk to.
pub const CLOSE_WRONG_SERVER: u16 = 4002;

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
    /// The opening handshake is done and `hello` went out: waiting for the `welcome`.
    opened: bool,
    /// The welcome's `heartbeatSecs` in ms, which bounds the ping interval.
    heartbeat_ms: Option<u64>,
    /// Pongs to our pings on this socket (the first is a warm-up).
    pongs: u32,
    /// The id of the `register` this socket sent and waits for (see `identity`).
    registering: Option<String>,
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
    timers: SortedMap<Timer, u64>,
    /// The ready socket of before a switch, still owed answers (see the module docs).
    draining: Option<Conn>,
    ping: Option<OutstandingPing>,
    /// The last round trips of the ready socket, newest last.
    samples: std::collections::VecDeque<u64>,
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
    subscriptions: SortedSet<String>,
    /// The ids of recent events and the socket each came on: where a `reply` to it must go.
    events_seen: std::collections::VecDeque<(String, SocketId)>,
    /// This instance's random part of every frame id.
    session: String,
    /// A schedule to continue on the first start (see [`Machine::resume`]).
    resume: Option<(u32, Option<u64>)>,
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
            timers: SortedMap::default(),
            draining: None,
            ping: None,
            samples: std::collections::VecDeque::new(),
            local_reason: None,
            remote_reason: None,
            lost_reason: None,
            remote_failed: false,
            offline: false,
            backoff: Backoff::new(seed),
            outbox: Outbox::default(),
            subscriptions: SortedSet::default(),
            events_seen: std::collections::VecDeque::new(),
            session: session_tag(seed),
            resume: None,
            last_status: None,
        }
    }

    /// Continues the retry schedule of an earlier instance (a service worker that Chrome
    /// stopped and started again), on the first [`Event::Start`]: `failures` in a row so far,
    /// and the next try due at `retry_at` (this machine's clock) or, when `None`, now. A
    /// schedule that had run out of attempts stays given up until the next start. Later
    /// starts (the user's Reconnect) begin afresh, as always.
    pub fn resume(&mut self, failures: u32, retry_at: Option<u64>) {
        self.resume = Some((failures, retry_at));
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
                    // An earlier one of these may have disarmed or moved it.
                    if self.timers.get(&timer).is_none_or(|at| *at > now) {
                        continue;
                    }
                    // The driver's own timer for it, if it still has one, is not needed now.
                    out.push(Command::CancelTimer(timer));
                    self.timer_fired(now, timer, &mut out);
                }
            }
            Event::Close => {
                self.teardown("closed by the application", &mut out);
                self.fail_all(FailureCode::Closed, "the client was closed", &mut out);
                self.running = false;
            }
        }
        self.emit_status(now, &mut out);
        out
    }

    /// Listens to `events` (`subscribe` now if connected) and again on every later socket, so a
    /// reconnect or a switch between servers keeps the subscriptions. `on: false` stops.
    pub fn subscribe(&mut self, now: u64, events: &[String], on: bool) -> Vec<Command> {
        let mut changed = Vec::new();
        for event in events {
            let change = if on {
                self.subscriptions.insert(event.clone())
            } else {
                self.subscriptions.remove(event)
            };
            if change {
                changed.push(event.clone());
            }
        }
        let mut out = Vec::new();
        if let (Some(conn), false) = (&self.active, changed.is_empty()) {
            let socket = conn.id;
            let action = if on { "subscribe" } else { "unsubscribe" };
            let id = format!("s{}", self.fresh());
            let text = raw_json(action, &id, events_payload(&changed));
            out.push(Command::Send { socket, text });
        }
        self.emit_status(now, &mut out);
        out
    }

    /// Sends `action` with `payload` now, or once a socket is ready, and tracks it until it is
    /// answered (see the module docs): [`Command::Answer`] or [`Command::Fail`] follow, once.
    /// Returns the frame's id (the answer carries it as `replyTo`). Fails with `timeout` after
    /// the settings' `request_timeout_ms`.
    pub fn send(
        &mut self,
        now: u64,
        action: &str,
        payload: serde_json::Value,
    ) -> Result<(String, Vec<Command>), SendError> {
        self.request(now, action, payload, None)
    }

    /// Like [`Machine::send`], failing with [`FailureCode::Timeout`] when no answer came
    /// within `timeout_ms` (the settings' `request_timeout_ms` when `None`).
    pub fn request(
        &mut self,
        now: u64,
        action: &str,
        payload: serde_json::Value,
        timeout_ms: Option<u64>,
    ) -> Result<(String, Vec<Command>), SendError> {
        if action.is_empty() {
            return Err(SendError::EmptyAction);
        }
        let mut out = Vec::new();
        let id = self.frame_id('c');
        self.track(now, action, &id, payload, timeout_ms, &mut out)?;
        self.emit_status(now, &mut out);
        Ok((id, out))
    }

    fn start(&mut self, now: u64, out: &mut Vec<Command>) {
        if let Some((failures, retry_at)) = self.resume.take().filter(|_| !self.running) {
            self.running = true;
            self.backoff.resume(failures);
            if failures > 0 && self.backoff.exhausted(&self.settings.retry) {
                self.offline = true; // it had given up: it stays so until the next start
                return;
            }
            if let Some(at) = retry_at.filter(|at| *at > now && failures > 0) {
                self.offline = true;
                self.arm(now, Timer::Retry, at - now, out);
                return;
            }
            self.decide(now, out);
            return;
        }
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
            self.unsend_all(out);
            self.local_reason = None;
            self.remote_reason = None;
            self.backoff.reset();
            self.decide(now, out);
            self.arm_answers(now, out);
        } else {
            // Only a changed interval restarts its timer; a settings sync must not postpone pings.
            if self.active.is_some() && old.ping_interval_ms != self.settings.ping_interval_ms {
                let every = self.ping_every();
                self.arm(now, Timer::Ping, every, out);
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

    /// The handshake is done: say `hello`; the socket is ready when the `welcome` comes.
    fn socket_opened(&mut self, _now: u64, id: SocketId, out: &mut Vec<Command>) {
        let hello_id = self.frame_id('h');
        let Some(conn) = self.pending.as_mut().filter(|c| c.id == id && !c.opened) else {
            return;
        };
        conn.opened = true;
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
        let hello = ClientFrame::new(hello_id, ClientMessage::Hello(hello));
        out.push(Command::Send {
            socket: id,
            text: hello.to_json(),
        });
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
            let why = match &conn.refused {
                Some(refused) if reason.is_empty() || code == 1006 => {
                    format!("connection closed (code {code}: unauthorized: {refused})")
                }
                Some(_) => why,
                None if code == 1006 && !conn.opened => "could not connect".to_owned(),
                None if conn.opened => format!("{why} before the server's welcome"),
                _ => why,
            };
            self.pending_failed(now, conn.side, why, out);
        } else if self.draining.as_ref().is_some_and(|c| c.id == id) {
            self.drain_over(now, out);
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
        if self.pending.as_ref().is_some_and(|c| c.id == id) {
            return self.pending_message(now, text, out);
        }
        let on_active = self.active.as_ref().is_some_and(|c| c.id == id);
        let on_draining = self.draining.as_ref().is_some_and(|c| c.id == id);
        if !on_active && !on_draining {
            return;
        }
        let frame = ServerFrame::parse_for_core(&text).ok();
        match &frame {
            Some(ServerFrame {
                reply_to: Some(to),
                message: ServerMessage::Pong(_),
            }) if on_active && self.ping.as_ref().is_some_and(|p| &p.id == to) => {
                return self.pong(now, out);
            }
            Some(ServerFrame {
                message: ServerMessage::Error(e),
                ..
            }) if e.code == ErrorCode::Unauthorized => {
                let conn = if on_active {
                    self.active.as_mut()
                } else {
                    self.draining.as_mut()
                };
                if let Some(conn) = conn {
                    conn.refused = Some(semantest_protocol::shorten(&e.message, 120));
                }
            }
            Some(ServerFrame {
                message: ServerMessage::Welcome(_),
                ..
            }) => {
                // A second welcome (a server that asked for the key again) clears a refusal.
                if let Some(conn) = self.active.as_mut().filter(|c| c.id == id) {
                    conn.refused = None;
                }
            }
            Some(ServerFrame {
                message: ServerMessage::Event(e),
                ..
            }) => self.saw_event(&e.id, id),
            Some(ServerFrame {
                reply_to: Some(to),
                message: message @ (ServerMessage::Registered(_) | ServerMessage::Paired(_)),
            }) if on_active => {
                // Only the answer to this client's own `register` or `pair`, from the remote:
                // whatever answers on the local port cannot hand the client a token.
                let remote = self.active.as_ref().is_some_and(|c| c.side == Side::Remote);
                if remote && self.asked_for_a_token(to) {
                    self.adopt(message, out);
                }
            }
            _ => {}
        }
        let answers = frame.as_ref().and_then(|f| f.reply_to.clone());
        out.push(Command::Deliver(text.clone()));
        if let Some(to) = answers {
            self.answered(now, &to, text, out);
        }
    }

    /// A frame on the socket that is not ready yet: only the `welcome` (or a refusal), and
    /// the answer to its `register`, matter.
    fn pending_message(&mut self, now: u64, text: String, out: &mut Vec<Command>) {
        let frame = ServerFrame::parse_for_core(&text);
        if let Ok(frame) = &frame {
            if self.registration_answered(now, frame, out) {
                return;
            }
        }
        match frame {
            Ok(ServerFrame {
                message: ServerMessage::Welcome(w),
                ..
            }) => {
                out.push(Command::Deliver(text));
                self.welcomed(now, w, out);
            }
            Ok(ServerFrame {
                message: ServerMessage::Error(e),
                ..
            }) => {
                let mut refused_on = None;
                if let Some(conn) = self.pending.as_mut() {
                    if e.code == ErrorCode::Unauthorized {
                        conn.refused = Some(semantest_protocol::shorten(&e.message, 120));
                        refused_on = Some(conn.side);
                    }
                }
                if let Some(side) = refused_on {
                    self.refused_token(side, &e.message, out);
                }
                out.push(Command::Deliver(text));
            }
            // Anything else before the welcome is not for this client yet.
            _ => {}
        }
    }

    /// A pong to our own ping on the ready socket.
    fn pong(&mut self, now: u64, out: &mut Vec<Command>) {
        let Some(ping) = self.ping.take() else {
            return;
        };
        self.disarm(Timer::PongDeadline, out);
        let Some(conn) = self.active.as_mut() else {
            return;
        };
        conn.pongs += 1;
        if conn.pongs == 1 {
            // The first round trip of a socket pays for warming up (9 ms, then 1 ms, measured
            // on an idle machine): it is not shown; a second ping follows at once.
            self.send_ping(now, self.settings.pong_timeout_ms, out);
            return;
        }
        self.samples.push_back(now.saturating_sub(ping.sent_at));
        while self.samples.len() > LATENCY_SAMPLES {
            self.samples.pop_front();
        }
    }

    fn timer_fired(&mut self, now: u64, timer: Timer, out: &mut Vec<Command>) {
        match self.timers.get(&timer) {
            None => return, // cancelled: stale
            Some(due) if *due > now => {
                // Early: a replaced timer's late fire, or a driver that woke too soon. The
                // timer stays armed; the driver is asked for it again for the rest.
                let after_ms = *due - now;
                out.push(Command::SetTimer { timer, after_ms });
                return;
            }
            Some(_) => {
                self.timers.remove(&timer);
            }
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
                    let what = if conn.registering.is_some() {
                        "no answer to register from the server"
                    } else if conn.opened {
                        "no welcome from the server"
                    } else {
                        "socket did not open"
                    };
                    let why = format!("{what} within {} ms", self.settings.connect_timeout_ms);
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
                        self.send_ping(now, self.settings.pong_timeout_ms, out);
                    }
                    let every = self.ping_every();
                    self.arm(now, Timer::Ping, every, out);
                }
            }
            Timer::PongDeadline => {
                if let Some(conn) = self.active.take() {
                    out.push(close(conn.id, CLOSE_NO_PONG, "no pong"));
                    let waited = self.ping.as_ref().map_or(0, |p| now - p.sent_at);
                    let why = format!("no pong within {waited} ms");
                    self.connection_lost(now, conn, why, out);
                }
            }
            Timer::Answers => self.answers_due(now, out),
            Timer::Check => self.check_due(now, out),
            Timer::Drain => self.drain_over(now, out),
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

    /// A frame id never used by any instance: `kind`, a counter and this instance's tag.
    fn frame_id(&mut self, kind: char) -> String {
        let n = self.fresh();
        format!("{kind}{n}-{}", self.session)
    }

    /// The ping interval of the ready socket: the settings', or the server's heartbeat if
    /// that is shorter.
    fn ping_every(&self) -> u64 {
        let interval = self.settings.ping_interval_ms;
        match self.active.as_ref().and_then(|c| c.heartbeat_ms) {
            Some(beat) if beat > 0 => interval.min(beat),
            _ => interval,
        }
    }
}

/// The payload of `subscribe` and `unsubscribe`: `{"events": [...]}`.
fn events_payload(events: &[String]) -> serde_json::Value {
    semantest_protocol::json::object([("events", semantest_protocol::json::string_array(events))])
}

/// Eight base-36 characters from `seed`, mixed so that close seeds give unrelated tags.
fn session_tag(seed: u64) -> String {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..8)
        .map(|_| {
            let d = digits[(x % 36) as usize] as char;
            x /= 36;
            d
        })
        .collect()
}

fn close(socket: SocketId, code: u16, reason: &str) -> Command {
    Command::CloseSocket {
        socket,
        code,
        reason: reason.to_owned(),
    }
}
