//! The session: a socket becomes ready on its `welcome`, and every frame the application gives
//! the core is tracked until it is answered — sent again on the next ready socket when the one
//! that carried it dies or is replaced, answered to its caller exactly once, or failed with a
//! reason. See the machine's module docs for the policies.

use semantest_protocol::client::raw_json;
use semantest_protocol::Welcome;

use super::{close, Machine, CHECK_PONG_MS, CLOSE_NORMAL, CLOSE_WRONG_SERVER};
use crate::event::{Command, Side, SocketId, Timer};
use crate::outbox::Tracked;
use crate::request::{FailureCode, RequestError};
use crate::settings::Strategy;
use crate::signature;

/// How many recent event ids are remembered with the socket they came on.
const EVENTS_REMEMBERED: usize = 1024;

impl Machine {
    /// The `welcome` on the opening socket: check it is ours, then make the socket ready.
    pub(super) fn welcomed(&mut self, now: u64, welcome: Welcome, out: &mut Vec<Command>) {
        let Some(mut conn) = self.pending.take() else {
            return;
        };
        if conn.registering.is_some() {
            // A second welcome while registering: the answer is still to come.
            self.pending = Some(conn);
            return;
        }
        if let Err(e) = signature::ours(welcome.server) {
            self.disarm(Timer::ConnectDeadline, out);
            out.push(close(
                conn.id,
                CLOSE_WRONG_SERVER,
                "not a server we can talk to",
            ));
            let why = format!("its welcome is not a Semantest server's: {e}");
            return self.pending_failed(now, conn.side, why, out);
        }
        conn.heartbeat_ms = Some(welcome.heartbeat_secs.saturating_mul(1000)).filter(|ms| *ms > 0);
        if self.must_register(&conn) {
            // Ready once registered, within the same connect deadline.
            self.register(&mut conn, out);
            self.pending = Some(conn);
            return;
        }
        self.ready(now, conn, out);
    }

    /// The welcomed (and, if it had to, registered) socket becomes the ready one.
    pub(super) fn ready(&mut self, now: u64, mut conn: super::Conn, out: &mut Vec<Command>) {
        self.disarm(Timer::ConnectDeadline, out);
        self.disarm(Timer::HeadStart, out);
        self.disarm(Timer::Retry, out);
        if let Some(old) = self.active.take() {
            self.retire(now, old, conn.side, out);
        }
        conn.since = now;
        conn.refused = None;
        match conn.side {
            Side::Local => self.local_reason = None,
            Side::Remote => self.remote_reason = None,
        }
        self.lost_reason = None;
        self.offline = false;
        self.ping = None;
        self.samples.clear();
        let (side, socket) = (conn.side, conn.id);
        self.active = Some(conn);
        self.send_ping(now, self.settings.pong_timeout_ms, out);
        let every = self.ping_every();
        self.arm(now, Timer::Ping, every, out);
        if !self.subscriptions.is_empty() {
            let events: Vec<String> = self.subscriptions.iter().cloned().collect();
            let id = self.frame_id('s');
            let text = raw_json("subscribe", &id, super::events_payload(&events));
            out.push(Command::Send { socket, text });
        }
        self.flush(now, out);
        match side {
            Side::Local => self.disarm(Timer::Reprobe, out),
            Side::Remote => {
                if self.settings.strategy == Strategy::LocalFirst && self.probe.is_none() {
                    self.arm(now, Timer::Reprobe, self.settings.reprobe_interval_ms, out);
                }
            }
        }
    }

    /// The ready socket is replaced: closed now if it owes nothing, else it drains.
    fn retire(&mut self, now: u64, old: super::Conn, to: Side, out: &mut Vec<Command>) {
        if let Some(earlier) = self.draining.take() {
            out.push(close(earlier.id, CLOSE_NORMAL, "superseded"));
            self.unsend(Some(earlier.id), out);
        }
        let owes = self.outbox.iter().any(|f| f.on == Some(old.id));
        if owes && self.settings.drain_ms > 0 {
            self.draining = Some(old);
            self.arm(now, Timer::Drain, self.settings.drain_ms, out);
        } else {
            let reason = format!("switching to the {} server", to.name());
            out.push(close(old.id, CLOSE_NORMAL, &reason));
            self.unsend(Some(old.id), out);
        }
    }

    /// The draining socket closed, or its time is up: what it still owes goes again.
    pub(super) fn drain_over(&mut self, now: u64, out: &mut Vec<Command>) {
        self.disarm(Timer::Drain, out);
        if let Some(old) = self.draining.take() {
            out.push(close(old.id, CLOSE_NORMAL, "switched server"));
            self.unsend(Some(old.id), out);
            self.flush(now, out);
        }
    }

    /// Takes a frame from the application: tracked, and sent now if a socket is ready.
    pub(super) fn track(
        &mut self,
        now: u64,
        action: &str,
        id: &str,
        payload: serde_json::Value,
        timeout_ms: Option<u64>,
        out: &mut Vec<Command>,
    ) -> Result<(), crate::outbox::OutboxFull> {
        // A reply belongs to the server its event came from.
        let pinned = match action {
            "reply" => payload
                .get("to")
                .and_then(|to| to.as_str())
                .and_then(|to| self.events_seen.iter().find(|(e, _)| e == to))
                .map(|(_, socket)| *socket),
            _ => None,
        };
        if pinned.is_some_and(|s| !self.is_live(s)) {
            out.push(gone(id));
            return Ok(());
        }
        let timeout_ms = timeout_ms.unwrap_or(self.settings.request_timeout_ms);
        let frame = Tracked {
            id: id.to_owned(),
            text: raw_json(action, id, payload),
            on: None,
            pinned,
            deadline: now.saturating_add(timeout_ms),
            timeout_ms,
            sent_at: now,
            checked: false,
        };
        self.outbox.push(frame, self.settings.outbox_capacity)?;
        self.flush(now, out);
        self.arm_answers(now, out);
        Ok(())
    }

    /// Whether `socket` is ready or draining.
    fn is_live(&self, socket: SocketId) -> bool {
        [&self.active, &self.draining]
            .into_iter()
            .flatten()
            .any(|c| c.id == socket)
    }

    /// Sends every waiting frame that can go now, in order; a reply whose server is gone fails.
    pub(super) fn flush(&mut self, now: u64, out: &mut Vec<Command>) {
        let Some(active) = self.active.as_ref().map(|c| c.id) else {
            return;
        };
        let draining = self.draining.as_ref().map(|c| c.id);
        let mut failed = Vec::new();
        for frame in self.outbox.iter_mut().filter(|f| f.on.is_none()) {
            let socket = match frame.pinned {
                None => active,
                Some(p) if p == active || Some(p) == draining => p,
                Some(_) => {
                    failed.push(frame.id.clone());
                    continue;
                }
            };
            frame.on = Some(socket);
            frame.sent_at = now;
            frame.checked = false;
            out.push(Command::Send {
                socket,
                text: frame.text.clone(),
            });
        }
        for id in failed {
            self.outbox.take(&id);
            out.push(gone(&id));
        }
        self.arm_check(out, now);
    }

    /// The frames out on `socket` (every frame when `None`) wait again; replies pinned to it
    /// fail, since no other server knows their event.
    pub(super) fn unsend(&mut self, socket: Option<SocketId>, out: &mut Vec<Command>) {
        let mut failed = Vec::new();
        for frame in self.outbox.iter_mut() {
            if frame.pinned.is_some() && (socket.is_none() || frame.pinned == socket) {
                failed.push(frame.id.clone());
            } else if socket.is_none() || frame.on == socket {
                frame.on = None;
            }
        }
        for id in failed {
            self.outbox.take(&id);
            out.push(gone(&id));
        }
    }

    /// Every frame waits again (the target changed).
    pub(super) fn unsend_all(&mut self, out: &mut Vec<Command>) {
        self.unsend(None, out);
    }

    /// Every frame fails with `code`.
    pub(super) fn fail_all(&mut self, code: FailureCode, message: &str, out: &mut Vec<Command>) {
        for frame in self.outbox.take_where(|_| true) {
            out.push(Command::Fail {
                id: frame.id,
                error: RequestError::new(code, message),
            });
        }
    }

    /// A server frame answering `to`: the caller's answer, if `to` is still tracked.
    pub(super) fn answered(&mut self, now: u64, to: &str, text: String, out: &mut Vec<Command>) {
        if self.outbox.take(to).is_none() {
            return; // not ours, or answered already (a later frame about the same request)
        }
        out.push(Command::Answer {
            id: to.to_owned(),
            text,
        });
        if let Some(old) = self.draining.as_ref().map(|c| c.id) {
            if !self.outbox.iter().any(|f| f.on == Some(old)) {
                self.drain_over(now, out);
            }
        }
        self.arm_answers(now, out);
        self.arm_check(out, now);
    }

    /// Remembers that event `id` came on `socket`, for the reply to it.
    pub(super) fn saw_event(&mut self, id: &str, socket: SocketId) {
        self.events_seen.push_back((id.to_owned(), socket));
        while self.events_seen.len() > EVENTS_REMEMBERED {
            self.events_seen.pop_front();
        }
    }

    /// Fails the frames whose deadline has come.
    pub(super) fn answers_due(&mut self, now: u64, out: &mut Vec<Command>) {
        for frame in self.outbox.take_where(|f| f.deadline <= now) {
            let message = format!("no answer within {} ms", frame.timeout_ms);
            out.push(Command::Fail {
                id: frame.id,
                error: RequestError::new(FailureCode::Timeout, message),
            });
        }
        self.arm_answers(now, out);
    }

    /// Arms [`Timer::Answers`] for the earliest deadline, or disarms it.
    pub(super) fn arm_answers(&mut self, now: u64, out: &mut Vec<Command>) {
        match self.outbox.iter().map(|f| f.deadline).min() {
            Some(due) => self.arm_at(now, Timer::Answers, due, out),
            None => self.disarm(Timer::Answers, out),
        }
    }

    /// Frames out on the ready socket for `answer_check_ms` with no answer: check the socket.
    pub(super) fn check_due(&mut self, now: u64, out: &mut Vec<Command>) {
        let Some(active) = self.active.as_ref().map(|c| c.id) else {
            return;
        };
        let after = self.settings.answer_check_ms;
        let mut overdue = false;
        for frame in self.outbox.iter_mut() {
            if frame.on == Some(active) && !frame.checked && frame.sent_at + after <= now {
                frame.checked = true;
                overdue = true;
            }
        }
        if overdue {
            let limit = self.settings.pong_timeout_ms.min(CHECK_PONG_MS);
            if self.ping.is_some() {
                // A ping is out already: it now has at most `limit` left.
                let sooner = now + limit;
                let due = self.timers.get(&Timer::PongDeadline).copied();
                if due.is_none_or(|d| d > sooner) {
                    self.arm_at(now, Timer::PongDeadline, sooner, out);
                }
            } else {
                self.send_ping(now, limit, out);
            }
        }
        self.arm_check(out, now);
    }

    /// Arms [`Timer::Check`] for the oldest unchecked frame out on the ready socket.
    fn arm_check(&mut self, out: &mut Vec<Command>, now: u64) {
        let active = self.active.as_ref().map(|c| c.id);
        let next = self
            .outbox
            .iter()
            .filter(|f| f.on.is_some() && f.on == active && !f.checked)
            .map(|f| f.sent_at + self.settings.answer_check_ms)
            .min();
        match next {
            Some(due) => self.arm_at(now, Timer::Check, due, out),
            None => self.disarm(Timer::Check, out),
        }
    }
}

fn gone(id: &str) -> Command {
    Command::Fail {
        id: id.to_owned(),
        error: RequestError::new(
            FailureCode::Gone,
            "the server whose event this answers is no longer connected",
        ),
    }
}
