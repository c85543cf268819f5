//! `semantest-load`: a load client for the Semantest server, on loopback only.
//!
//! Every mode prints one JSON line on stdout (its report) and its progress and errors on
//! stderr; every loop ends within its time.
//!
//! # Layout
//! - [`echo`]: the closed loop — send, wait for the answer, send the next.
//! - [`rate`]: the open loop — a fixed rate, latency from the scheduled send.
//! - [`ramp`]: many idle connections and the server's RSS per connection.
//! - [`image`]: `POST /images` and `GET /images/{id}` round trips.
//! - [`burst`]: many handshakes at once, each classified (served, 503, reset, half-open).
//! - [`tcp_server`]: a raw TCP echo server, the machine's ceiling for the `tcp` proto.
//! - [`conn`]: opening connections (small WebSocket buffers) and their halves.
//! - [`wire`]: what one measured message looks like for each [`proto::Proto`], and its check.
//! - [`codec`]: the `tcp` proto's 4-byte length prefix.
//! - [`stats`]: latencies in an HDR histogram and their percentiles.
//! - [`tally`]: per-connection counts.
//! - [`target`]: the URL, resolved once, loopback only.
//! - [`fdlimit`]: the open-file limit, raised and checked.
//! - [`rss`]: a process's `VmRSS`.
//! - [`error`]: what can go wrong, as [`error::LoadError`].

pub mod burst;
pub mod codec;
pub mod conn;
pub mod echo;
pub mod error;
pub mod fdlimit;
pub mod image;
pub mod proto;
pub mod ramp;
pub mod rate;
pub mod rss;
pub mod stats;
pub mod tally;
pub mod target;
pub mod tcp_server;
pub mod wire;
