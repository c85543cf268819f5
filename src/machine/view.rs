//! What the machine shows: the [`Status`] derived from its state, for people.

use super::Machine;
use crate::event::{Side, Timer};
use crate::settings::Strategy;
use crate::status::{Mode, Status};

impl Machine {
    /// Out of attempts: offline, and no next try scheduled.
    fn gave_up(&self) -> bool {
        self.offline && !self.timers.contains_key(&Timer::Retry)
    }

    /// The median of the last round trips, once there is one after the warm-up.
    fn latency(&self) -> Option<u64> {
        // The samples are few (`LATENCY_SAMPLES`): an insertion sort, where `sort_unstable`
        // brought 5 KB of quicksort into the .wasm.
        let mut sorted: Vec<u64> = Vec::with_capacity(self.samples.len());
        for &sample in &self.samples {
            let at = sorted.partition_point(|&s| s <= sample);
            sorted.insert(at, sample);
        }
        sorted.get(sorted.len() / 2).copied()
    }

    /// The status as of `now`.
    pub fn status(&self, now: u64) -> Status {
        let local_reason = match self.settings.strategy {
            Strategy::RemoteOnly => None,
            _ => self.local_reason.clone(),
        };
        let (mode, url, reason) = if let Some(c) = &self.active {
            let reason = match (c.side, self.settings.strategy) {
                (Side::Local, _) => None,
                (Side::Remote, Strategy::RemoteOnly) => Some("prefer-local is off".to_owned()),
                (Side::Remote, _) => local_reason
                    .as_ref()
                    .map(|r| format!("local server not used: {r}")),
            };
            let mode = if c.side == Side::Local {
                Mode::Local
            } else {
                Mode::Cloud
            };
            (mode, Some(c.url.clone()), reason)
        } else if !self.running {
            (Mode::Offline, None, Some("not connected".to_owned()))
        } else if self.offline {
            let mut parts = Vec::new();
            if let Some(r) = &local_reason {
                parts.push(format!("local: {r}"));
            }
            if let Some(r) = &self.remote_reason {
                parts.push(format!("remote: {r}"));
            }
            let mut reason = parts.join("; ");
            if self.gave_up() {
                reason = format!(
                    "gave up after {} attempts; {reason}",
                    self.backoff.failures()
                );
            }
            (Mode::Offline, None, Some(reason))
        } else {
            let url = self.pending.as_ref().map(|c| c.url.clone());
            let reason = self
                .lost_reason
                .clone()
                .or_else(|| match (&self.pending, &self.probe) {
                    (Some(c), _) => Some(format!("connecting to {}", c.url)),
                    (None, Some(_)) => Some("looking for the local server".to_owned()),
                    (None, None) => None,
                });
            (Mode::Connecting, url, reason)
        };
        let since = match &self.last_status {
            Some(last) if last.mode == mode => last.since,
            _ => now,
        };
        Status {
            mode,
            url,
            latency_ms: self.active.as_ref().and(self.latency()),
            reason,
            local_reason,
            remote_reason: self.remote_reason.clone(),
            next_retry_at: self.timers.get(&Timer::Retry).copied(),
            since,
            queued: self.outbox.waiting(),
            failures: self.backoff.failures(),
        }
    }
}
