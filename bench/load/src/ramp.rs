//! `ramp`: opens many idle connections (in batches, each bounded in time), holds them, and
//! reads how much resident memory the server grew by: `VmRSS` of its process before the first
//! connection, once all are open, and after the hold.
//!
//! With `semantest`, each connection says `hello` and gets its `welcome` first, so the
//! server's per-connection state is the real one. Held connections keep reading, so the
//! server's heartbeat Pings are answered and a long hold does not get them closed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn;
use crate::conn::no_connection;
use crate::error::LoadError;
use crate::proto::Proto;
use crate::rss;
use crate::tally::{rounded, Tally};
use crate::target::Target;

/// What to run.
#[derive(Debug, Clone)]
pub struct RampOptions {
    /// The server.
    pub target: Target,
    /// What the connections speak.
    pub proto: Proto,
    /// How many connections to open.
    pub connections: usize,
    /// The server's process id, whose RSS is read.
    pub pid: u32,
    /// How long to hold them before the last reading.
    pub hold: Duration,
}

/// The one JSON line of `ramp`.
#[derive(Debug, Clone, Serialize)]
pub struct RampReport {
    /// `"ramp"`.
    pub mode: &'static str,
    /// What the connections spoke.
    pub proto: Proto,
    /// Connections asked for.
    pub requested: usize,
    /// Connections open (and greeted, for `semantest`).
    pub held: usize,
    /// Connections that could not be opened.
    pub failed: usize,
    /// How long opening them all took, in seconds.
    pub open_seconds: f64,
    /// The server's RSS before, in KiB.
    pub rss_before_kib: u64,
    /// The server's RSS once all were open, in KiB.
    pub rss_after_kib: u64,
    /// `(rss_after - rss_before) / held`, in bytes.
    pub per_connection_bytes: i64,
    /// How long they were held, in seconds.
    pub hold_seconds: f64,
    /// The server's RSS after the hold, in KiB (only with a hold).
    pub rss_hold_kib: Option<u64>,
    /// `(rss_hold - rss_before) / held`, in bytes (only with a hold).
    pub per_connection_bytes_hold: Option<i64>,
    /// Connections still open after the hold.
    pub alive_after_hold: usize,
    /// This client's own RSS with all of them open, in KiB.
    pub client_rss_kib: u64,
    /// This client's soft limit of open files.
    pub fd_limit: u64,
}

/// Runs the ramp.
pub async fn run(options: &RampOptions) -> Result<RampReport, LoadError> {
    LoadError::check_connections(options.connections)?;
    let limit = crate::fdlimit::ensure(options.connections as u64)?;
    let rss_before_kib = rss::rss_kib(options.pid)?;
    let started = Instant::now();
    let (conns, errors) =
        conn::open_many(&options.target, options.proto, options.connections).await;
    let open_seconds = rounded(started.elapsed().as_secs_f64(), 3);
    if conns.is_empty() {
        return Err(no_connection(errors));
    }
    let mut failures = Tally::default();
    errors.iter().for_each(|e| failures.error(e));
    failures.tell("ramp");
    let held = conns.len();
    let (stop, stopped) = watch::channel(false);
    let closed = Arc::new(AtomicU64::new(0));
    for conn in conns {
        let mut stopped = stopped.clone();
        let closed = Arc::clone(&closed);
        tokio::spawn(async move {
            tokio::select! {
                () = conn.idle() => { closed.fetch_add(1, Ordering::Relaxed); }
                _ = stopped.wait_for(|stop| *stop) => {}
            }
        });
    }
    let rss_after_kib = rss::rss_kib(options.pid)?;
    let client_rss_kib = rss::own_rss_kib()?;
    let per_connection = |kib: u64| {
        let grown = kib as i64 - rss_before_kib as i64;
        (grown as f64 * 1024.0 / held as f64).round() as i64
    };
    let (rss_hold_kib, per_connection_bytes_hold) = if options.hold.is_zero() {
        (None, None)
    } else {
        eprintln!(
            "holding {held} connections for {} s",
            options.hold.as_secs_f64()
        );
        tokio::time::sleep(options.hold).await;
        let kib = rss::rss_kib(options.pid)?;
        (Some(kib), Some(per_connection(kib)))
    };
    let alive_after_hold = held - closed.load(Ordering::Relaxed) as usize;
    stop.send_replace(true);
    Ok(RampReport {
        mode: "ramp",
        proto: options.proto,
        requested: options.connections,
        held,
        failed: errors.len(),
        open_seconds,
        rss_before_kib,
        rss_after_kib,
        per_connection_bytes: per_connection(rss_after_kib),
        hold_seconds: options.hold.as_secs_f64(),
        rss_hold_kib,
        per_connection_bytes_hold,
        alive_after_hold,
        client_rss_kib,
        fd_limit: limit.soft,
    })
}
