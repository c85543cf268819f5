//! The machine's decisions: which server to try, what a failure means, when to retry.

use super::{Conn, Machine};
use crate::event::{Command, Side, Timer};
use crate::settings::Strategy;

impl Machine {
    /// Begins an attempt: probe local and/or open remote, per strategy.
    pub(super) fn decide(&mut self, now: u64, out: &mut Vec<Command>) {
        self.disarm(Timer::Retry, out);
        self.offline = false;
        self.remote_failed = false;
        match self.settings.strategy {
            Strategy::LocalFirst | Strategy::LocalOnly => {
                if self.probe.is_none() {
                    self.start_probe(now, false, out);
                }
                if self.settings.strategy == Strategy::LocalFirst
                    && self.active.is_none()
                    && self.pending.is_none()
                {
                    if self.settings.local_head_start_ms == 0 {
                        self.open(now, Side::Remote, out);
                    } else {
                        self.arm(
                            now,
                            Timer::HeadStart,
                            self.settings.local_head_start_ms,
                            out,
                        );
                    }
                }
            }
            Strategy::RemoteOnly => {
                if self.active.is_none() && self.pending.is_none() {
                    self.open(now, Side::Remote, out);
                }
            }
        }
    }

    pub(super) fn local_ok(&mut self, now: u64, out: &mut Vec<Command>) {
        self.local_reason = None;
        self.disarm(Timer::HeadStart, out);
        if self.active.as_ref().is_some_and(|c| c.side == Side::Local) {
            return;
        }
        self.open(now, Side::Local, out);
    }

    pub(super) fn local_failed(&mut self, now: u64, reason: String, out: &mut Vec<Command>) {
        self.local_reason = Some(reason);
        self.disarm(Timer::HeadStart, out);
        let on_remote = self.active.as_ref().is_some_and(|c| c.side == Side::Remote);
        match self.settings.strategy {
            Strategy::LocalFirst if on_remote => {
                self.arm(now, Timer::Reprobe, self.settings.reprobe_interval_ms, out);
            }
            Strategy::LocalFirst if self.active.is_none() && self.pending.is_none() => {
                if self.remote_failed {
                    self.attempt_failed(now, out);
                } else {
                    self.open(now, Side::Remote, out);
                }
            }
            Strategy::LocalOnly if self.idle() => self.attempt_failed(now, out),
            _ => {}
        }
    }

    /// A socket that was opening failed.
    pub(super) fn pending_failed(
        &mut self,
        now: u64,
        side: Side,
        why: String,
        out: &mut Vec<Command>,
    ) {
        let on_remote = self.active.as_ref().is_some_and(|c| c.side == Side::Remote);
        match side {
            Side::Local => {
                self.local_reason = Some(why);
                if on_remote {
                    self.arm(now, Timer::Reprobe, self.settings.reprobe_interval_ms, out);
                } else if self.settings.strategy == Strategy::LocalFirst
                    && !self.remote_failed
                    && self.active.is_none()
                {
                    self.open(now, Side::Remote, out);
                } else if self.idle() {
                    self.attempt_failed(now, out);
                }
            }
            Side::Remote => {
                self.remote_reason = Some(why);
                self.remote_failed = true;
                if self.idle() {
                    self.attempt_failed(now, out);
                }
            }
        }
    }

    /// The open socket went away: wait a backoff delay, then decide again.
    pub(super) fn connection_lost(
        &mut self,
        now: u64,
        conn: Conn,
        why: String,
        out: &mut Vec<Command>,
    ) {
        let name = conn.side.name();
        match conn.side {
            Side::Local => self.local_reason = Some(why.clone()),
            Side::Remote => self.remote_reason = Some(why.clone()),
        }
        self.disarm(Timer::Ping, out);
        self.disarm(Timer::PongDeadline, out);
        self.disarm(Timer::Reprobe, out);
        self.disarm(Timer::Check, out);
        self.ping = None;
        self.samples.clear();
        // What it carried waits for the next ready socket (a reply to its events cannot).
        self.unsend(Some(conn.id), out);
        if now.saturating_sub(conn.since) >= self.settings.stable_after_ms {
            self.backoff.reset();
        }
        self.lost_reason = Some(format!("{name} server lost ({why}); reconnecting"));
        if self.pending.is_some() || self.probe.is_some() {
            return;
        }
        self.schedule_retry(now, out);
    }

    /// Every server of this attempt failed.
    pub(super) fn attempt_failed(&mut self, now: u64, out: &mut Vec<Command>) {
        self.offline = true;
        self.lost_reason = None;
        self.disarm(Timer::HeadStart, out);
        self.schedule_retry(now, out);
    }

    pub(super) fn schedule_retry(&mut self, now: u64, out: &mut Vec<Command>) {
        match self.backoff.next_delay(&self.settings.retry) {
            Some(delay) => self.arm(now, Timer::Retry, delay, out),
            // Out of attempts: offline with no Retry armed is what "gave up" means.
            None => self.offline = true,
        }
    }
}
