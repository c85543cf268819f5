//! The machine's effects: the commands that probe, open, ping, arm timers and report status,
//! each keeping the machine's own record of what is out in step with what it asked for.

use semantest_protocol::{ClientFrame, ClientMessage, Ping};

use super::{close, Conn, Machine, OutstandingPing, ProbeState, CLOSE_NORMAL};
use crate::event::{Command, ProbeId, Side, SocketId, Timer};

impl Machine {
    pub(super) fn start_probe(&mut self, now: u64, fallback: bool, out: &mut Vec<Command>) {
        let id = ProbeId(self.fresh());
        let path = if fallback {
            "/semantest-signature"
        } else {
            "/signature"
        };
        out.push(Command::Probe {
            probe: id,
            url: format!("{}{path}", self.settings.local_url),
        });
        self.probe = Some(ProbeState { id, fallback });
        self.arm(
            now,
            Timer::ProbeDeadline,
            self.settings.probe_timeout_ms,
            out,
        );
    }

    pub(super) fn finish_probe(&mut self, out: &mut Vec<Command>) {
        self.probe = None;
        self.disarm(Timer::ProbeDeadline, out);
    }

    pub(super) fn open(&mut self, now: u64, side: Side, out: &mut Vec<Command>) {
        if let Some(old) = self.pending.take() {
            out.push(close(old.id, CLOSE_NORMAL, "superseded"));
        }
        let url = match side {
            Side::Local => self.settings.local_ws_url(),
            Side::Remote => self.settings.effective_remote_url().to_owned(),
        };
        let id = SocketId(self.fresh());
        out.push(Command::OpenSocket {
            socket: id,
            url: url.clone(),
            // The key is for the remote server; whatever answers on the local port never sees it.
            token: match side {
                Side::Remote => self.settings.token.clone(),
                Side::Local => None,
            },
        });
        self.pending = Some(Conn {
            id,
            side,
            url,
            since: now,
            refused: None,
            opened: false,
            heartbeat_ms: None,
            pongs: 0,
            registering: None,
        });
        self.arm(
            now,
            Timer::ConnectDeadline,
            self.settings.connect_timeout_ms,
            out,
        );
    }

    /// A keepalive ping on the ready socket, dead unless answered within `deadline_ms`.
    pub(super) fn send_ping(&mut self, now: u64, deadline_ms: u64, out: &mut Vec<Command>) {
        let Some(socket) = self.active.as_ref().map(|c| c.id) else {
            return;
        };
        let id = self.frame_id('k');
        let text = ClientFrame::new(id.clone(), ClientMessage::Ping(Ping { t: now })).to_json();
        out.push(Command::Send { socket, text });
        self.ping = Some(OutstandingPing { id, sent_at: now });
        self.arm(now, Timer::PongDeadline, deadline_ms, out);
    }

    /// Closes everything and disarms every timer.
    pub(super) fn teardown(&mut self, reason: &str, out: &mut Vec<Command>) {
        if let Some(p) = self.probe.take() {
            out.push(Command::CancelProbe(p.id));
        }
        for conn in [
            self.pending.take(),
            self.active.take(),
            self.draining.take(),
        ]
        .into_iter()
        .flatten()
        {
            out.push(close(conn.id, CLOSE_NORMAL, reason));
        }
        for timer in std::mem::take(&mut self.timers).into_keys() {
            out.push(Command::CancelTimer(timer));
        }
        self.ping = None;
        self.samples.clear();
        self.lost_reason = None;
        self.offline = false;
    }

    /// Arms `timer` for `due` (this machine's clock), at once if that has passed.
    pub(super) fn arm_at(&mut self, now: u64, timer: Timer, due: u64, out: &mut Vec<Command>) {
        if self.timers.get(&timer) != Some(&due) {
            self.arm(now, timer, due.saturating_sub(now), out);
        }
    }

    pub(super) fn arm(&mut self, now: u64, timer: Timer, after_ms: u64, out: &mut Vec<Command>) {
        self.timers.insert(timer, now.saturating_add(after_ms));
        out.push(Command::SetTimer { timer, after_ms });
    }

    pub(super) fn disarm(&mut self, timer: Timer, out: &mut Vec<Command>) {
        if self.timers.remove(&timer).is_some() {
            out.push(Command::CancelTimer(timer));
        }
    }

    pub(super) fn emit_status(&mut self, now: u64, out: &mut Vec<Command>) {
        let status = self.status(now);
        if self
            .last_status
            .as_ref()
            .is_none_or(|last| !last.same_as(&status))
        {
            self.last_status = Some(status.clone());
            out.push(Command::Status(status));
        }
    }
}
