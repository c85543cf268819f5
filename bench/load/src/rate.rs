//! `rate`: the open loop. R messages per second, spread evenly over N connections: connection
//! `i` sends message `k` at `start + (i + k·N) / R`, whether or not earlier ones were answered.
//!
//! Latency runs from the *scheduled* send time to the answer, so a server (or client) that
//! falls behind shows in the latencies instead of slowing the load down (no coordinated
//! omission). The scheduled time travels in the message and comes back in the answer. How late
//! the sends actually went out is reported too (`send_lag_*`): tokio's timer has a 1 ms
//! granularity, so about 1 ms of every such latency is the client's own timer. The
//! `from_send_*` latencies run from the actual send instead: the server's answer time without
//! that timer, but blind to any backlog in the client.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn::{self, Receiver, Sender};
use crate::echo::GRACE;
use crate::error::LoadError;
use crate::proto::Proto;
use crate::stats::{Latencies, Recorder};
use crate::tally::{micros, per_second, rounded, Tally};
use crate::target::Target;
use crate::wire::{self, Probe, WireError};

/// How long after the connections open the first message is due, so every task has started.
const LEAD: Duration = Duration::from_millis(50);

/// What to run.
#[derive(Debug, Clone)]
pub struct RateOptions {
    /// The server.
    pub target: Target,
    /// What the connections speak.
    pub proto: Proto,
    /// How many connections.
    pub connections: usize,
    /// Messages per second, all connections together.
    pub rate: f64,
    /// How long to send, in seconds.
    pub duration: Duration,
    /// About how big each message is, in bytes.
    pub size: usize,
}

/// The one JSON line of `rate`.
#[derive(Debug, Clone, Serialize)]
pub struct RateReport {
    /// `"rate"`.
    pub mode: &'static str,
    /// What the connections spoke.
    pub proto: Proto,
    /// Connections that opened.
    pub connections: usize,
    /// Connections that did not.
    pub connect_errors: usize,
    /// The rate asked for, messages per second.
    pub target_rate: f64,
    /// How long messages were sent, in seconds.
    pub seconds: f64,
    /// Messages sent.
    pub sent: u64,
    /// Messages answered (correctly, within the grace after the end).
    pub answered: u64,
    /// Sent per second: the rate achieved.
    pub sent_per_s: f64,
    /// Answered per second.
    pub answered_per_s: f64,
    /// Median latency from the scheduled send.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Median latency from the actual send.
    pub from_send_p50_us: u64,
    /// 99th percentile from the actual send.
    pub from_send_p99_us: u64,
    /// 99.9th percentile from the actual send.
    pub from_send_p999_us: u64,
    /// Largest from the actual send.
    pub from_send_max_us: u64,
    /// Median delay of the actual send after its scheduled time.
    pub send_lag_p50_us: u64,
    /// 99th percentile of that delay.
    pub send_lag_p99_us: u64,
    /// Largest such delay.
    pub send_lag_max_us: u64,
    /// Errors: failed sends, wrong answers, connections lost.
    pub errors: u64,
    /// Sent but never answered.
    pub unanswered: u64,
    /// The average message size sent, in bytes.
    pub message_bytes: u64,
}

/// Runs the open loop.
pub async fn run(options: &RateOptions) -> Result<RateReport, LoadError> {
    if !(options.rate.is_finite() && options.rate > 0.0) {
        return Err(LoadError::BadOption(format!(
            "--rate must be above 0, not {}",
            options.rate
        )));
    }
    let (conns, connect_errors) =
        conn::open_for_run(&options.target, options.proto, options.connections).await?;
    let latencies = Latencies::new();
    let from_send = Latencies::new();
    let lags = Latencies::new();
    let start = Instant::now() + LEAD;
    let end = start + options.duration;
    let count = conns.len();
    let mut tasks = Vec::with_capacity(2 * count);
    for (i, conn) in conns.into_iter().enumerate() {
        let (sender, receiver) = conn.split();
        let (done, finished) = watch::channel(None);
        let schedule = Schedule {
            first: i as u64,
            step: count as u64,
            rate: options.rate,
            start,
            end,
        };
        let (proto, size) = (options.proto, options.size);
        tasks.push(tokio::spawn(send_loop(
            sender,
            proto,
            size,
            schedule,
            lags.recorder(),
            done,
        )));
        tasks.push(tokio::spawn(receive_loop(
            receiver,
            proto,
            size,
            (start, end + GRACE),
            (latencies.recorder(), from_send.recorder()),
            finished,
        )));
    }
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok(one) => tally.add(one),
            Err(e) => tally.error(&LoadError::Task(e.to_string())),
        }
    }
    tally.tell("rate");
    let summary = latencies.summary();
    let lag = lags.summary();
    let sent = from_send.summary();
    let seconds = options.duration.as_secs_f64();
    Ok(RateReport {
        mode: "rate",
        proto: options.proto,
        connections: count,
        connect_errors: connect_errors.len(),
        target_rate: options.rate,
        seconds,
        sent: tally.sent,
        answered: tally.answered,
        sent_per_s: rounded(per_second(tally.sent, seconds), 1),
        answered_per_s: rounded(per_second(tally.answered, seconds), 1),
        p50_us: summary.p50_us,
        p99_us: summary.p99_us,
        p999_us: summary.p999_us,
        max_us: summary.max_us,
        from_send_p50_us: sent.p50_us,
        from_send_p99_us: sent.p99_us,
        from_send_p999_us: sent.p999_us,
        from_send_max_us: sent.max_us,
        send_lag_p50_us: lag.p50_us,
        send_lag_p99_us: lag.p99_us,
        send_lag_max_us: lag.max_us,
        errors: tally.errors,
        unanswered: tally.sent.saturating_sub(tally.answered),
        message_bytes: tally.message_bytes(),
    })
}

/// When one connection's messages are due: message `k` at `start + (first + k·step) / rate`,
/// before `end`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// This connection's index: its offset in the global sequence.
    pub first: u64,
    /// The number of connections: the stride in the global sequence.
    pub step: u64,
    /// Messages per second, all connections together.
    pub rate: f64,
    /// When message 0 of connection 0 is due.
    pub start: Instant,
    /// No message is due at or after this.
    pub end: Instant,
}

impl Schedule {
    /// When message `k` is due, or `None` once that is past the end.
    pub fn due(&self, k: u64) -> Option<Instant> {
        let global = self.first + k * self.step;
        let nanos = (global as f64 * 1e9 / self.rate).round();
        let due = self.start + Duration::from_nanos(nanos as u64);
        (due < self.end).then_some(due)
    }
}

/// Sends every message of `schedule` at its time; then tells the receiver how many went out.
async fn send_loop(
    mut sender: Sender,
    proto: Proto,
    size: usize,
    schedule: Schedule,
    mut lags: Recorder,
    done: watch::Sender<Option<u64>>,
) -> Tally {
    let mut tally = Tally::default();
    let mut k = 0;
    while let Some(due) = schedule.due(k) {
        tokio::time::sleep_until(due).await;
        let now = Instant::now();
        lags.record(now - due);
        let probe = Probe {
            seq: k,
            t_us: micros(due - schedule.start),
            sent_us: micros(now - schedule.start),
        };
        k += 1;
        let message = match wire::encode(proto, probe, size) {
            Ok(message) => message,
            Err(e) => {
                tally.error(&e.into());
                break;
            }
        };
        tally.bytes += message.len() as u64;
        tally.sent += 1;
        if let Err(e) = sender.send(message).await {
            tally.error(&e);
            break;
        }
    }
    done.send_replace(Some(tally.sent));
    // Not shut down: a TCP echo server would close before the last answers are read.
    sender.release();
    tally
}

/// Takes answers until all that were sent are in, the connection ends, or `deadline`.
async fn receive_loop(
    mut receiver: Receiver,
    proto: Proto,
    size: usize,
    (start, deadline): (Instant, Instant),
    (mut latencies, mut from_send): (Recorder, Recorder),
    mut finished: watch::Receiver<Option<u64>>,
) -> Tally {
    let mut tally = Tally::default();
    let mut expected = 0;
    let mut total = None;
    loop {
        if total.is_some_and(|total| tally.answered >= total) {
            break;
        }
        tokio::select! {
            answer = receiver.recv() => {
                let probe = match answer {
                    Ok(bytes) => wire::decode(proto, bytes, size),
                    Err(e) => {
                        tally.error(&e);
                        break;
                    }
                };
                match probe {
                    Ok(probe) => {
                        let now = Instant::now();
                        let due = start + Duration::from_micros(probe.t_us);
                        let sent = start + Duration::from_micros(probe.sent_us);
                        latencies.record(now.saturating_duration_since(due));
                        from_send.record(now.saturating_duration_since(sent));
                        tally.answered += 1;
                        if probe.seq != expected {
                            let e = WireError::OutOfOrder { got: probe.seq, want: expected };
                            tally.error(&e.into());
                        }
                        expected = probe.seq + 1;
                    }
                    Err(e) => tally.error(&e.into()),
                }
            }
            _ = finished.changed(), if total.is_none() => {
                // The sender sets the count before it ends; if it died, count what arrived.
                total = Some(finished.borrow().unwrap_or(tally.answered));
            }
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_interleave_evenly_and_stop_at_the_end() {
        let start = Instant::now();
        let schedule = |first| Schedule {
            first,
            step: 4,
            rate: 1000.0,
            start,
            end: start + Duration::from_millis(10),
        };
        // 1000/s over 4 connections: every 1 ms one of them, each every 4 ms.
        let mut all: Vec<Duration> = (0..4)
            .flat_map(|i| {
                let s = schedule(i);
                (0..).map_while(move |k| s.due(k)).map(move |t| t - start)
            })
            .collect();
        all.sort();
        let want: Vec<Duration> = (0..10).map(Duration::from_millis).collect();
        assert_eq!(all, want);
        assert_eq!(schedule(1).due(1), Some(start + Duration::from_millis(5)));
        assert_eq!(schedule(3).due(2), None, "11 ms is past the end");
    }
}
