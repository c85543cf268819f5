//! `echo`: the closed loop. Each connection sends one message, waits for its answer, and sends
//! the next, for the whole run; latency is from the send to the answer. Answers to messages
//! sent during the warm-up are not counted.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::conn::{self, Conn};
use crate::error::LoadError;
use crate::proto::Proto;
use crate::stats::{Latencies, Recorder};
use crate::tally::{micros, per_second, rounded, Tally};
use crate::target::Target;
use crate::wire::{self, Probe, WireError};

/// How long after the end an answer is still waited for.
pub const GRACE: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Debug, Clone)]
pub struct EchoOptions {
    /// The server.
    pub target: Target,
    /// What the connections speak.
    pub proto: Proto,
    /// How many connections.
    pub connections: usize,
    /// How long to measure, after the warm-up.
    pub duration: Duration,
    /// How long to run before measuring.
    pub warmup: Duration,
    /// About how big each message is, in bytes.
    pub size: usize,
}

/// The one JSON line of `echo`.
#[derive(Debug, Clone, Serialize)]
pub struct EchoReport {
    /// `"echo"`.
    pub mode: &'static str,
    /// What the connections spoke.
    pub proto: Proto,
    /// Connections that opened.
    pub connections: usize,
    /// Connections that did not.
    pub connect_errors: usize,
    /// The measured time (the warm-up excluded), in seconds.
    pub seconds: f64,
    /// Answers counted in that time.
    pub messages: u64,
    /// Messages per second.
    pub msg_per_s: f64,
    /// Median latency.
    pub p50_us: u64,
    /// 99th percentile latency.
    pub p99_us: u64,
    /// 99.9th percentile latency.
    pub p999_us: u64,
    /// Largest latency.
    pub max_us: u64,
    /// Errors during the run, the warm-up included.
    pub errors: u64,
    /// The average message size sent, in bytes.
    pub message_bytes: u64,
}

/// Runs the closed loop.
pub async fn run(options: &EchoOptions) -> Result<EchoReport, LoadError> {
    let (conns, connect_errors) =
        conn::open_for_run(&options.target, options.proto, options.connections).await?;
    let latencies = Latencies::new();
    let start = Instant::now();
    let measure_from = start + options.warmup;
    let end = measure_from + options.duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            let recorder = latencies.recorder();
            let (proto, size) = (options.proto, options.size);
            tokio::spawn(closed_loop(
                conn,
                proto,
                size,
                (start, measure_from, end),
                recorder,
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok(one) => tally.add(one),
            Err(e) => tally.error(&LoadError::Task(e.to_string())),
        }
    }
    tally.tell("echo");
    let summary = latencies.summary();
    let seconds = options.duration.as_secs_f64();
    Ok(EchoReport {
        mode: "echo",
        proto: options.proto,
        connections: options.connections - connect_errors.len(),
        connect_errors: connect_errors.len(),
        seconds,
        messages: summary.count,
        msg_per_s: rounded(per_second(summary.count, seconds), 1),
        p50_us: summary.p50_us,
        p99_us: summary.p99_us,
        p999_us: summary.p999_us,
        max_us: summary.max_us,
        errors: tally.errors,
        message_bytes: tally.message_bytes(),
    })
}

/// One connection's loop until `end`.
async fn closed_loop(
    conn: Conn,
    proto: Proto,
    size: usize,
    (start, measure_from, end): (Instant, Instant, Instant),
    mut recorder: Recorder,
) -> Tally {
    let (mut sender, mut receiver) = conn.split();
    let mut tally = Tally::default();
    let mut seq = 0;
    while Instant::now() < end {
        let sent_at = Instant::now();
        let t_us = micros(sent_at - start);
        let probe = Probe {
            seq,
            t_us,
            sent_us: t_us,
        };
        seq += 1;
        let message = match wire::encode(proto, probe, size) {
            Ok(message) => message,
            Err(e) => {
                tally.error(&e.into());
                break;
            }
        };
        tally.sent += 1;
        tally.bytes += message.len() as u64;
        if let Err(e) = sender.send(message).await {
            tally.error(&e);
            break;
        }
        let answer = async {
            let bytes = receiver.recv().await?;
            let got = wire::decode(proto, bytes, size)?;
            if got.seq != probe.seq {
                return Err(WireError::OutOfOrder {
                    got: got.seq,
                    want: probe.seq,
                }
                .into());
            }
            Ok::<_, LoadError>(())
        };
        match tokio::time::timeout_at(end + GRACE, answer).await {
            Ok(Ok(())) => {
                if sent_at >= measure_from {
                    recorder.record(sent_at.elapsed());
                    tally.answered += 1;
                }
            }
            // A wrong answer: the connection still works.
            Ok(Err(e @ LoadError::Wire(_))) => tally.error(&e),
            Ok(Err(e)) => {
                tally.error(&e);
                break;
            }
            Err(_) => {
                tally.error(&LoadError::Timeout {
                    what: "an answer",
                    after: GRACE,
                });
                break;
            }
        }
    }
    tally
}
