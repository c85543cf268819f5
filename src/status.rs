//! What the user sees: the mode, the URL, the latency, why, and when the next try is.
//! The indicator, the popup and SDK callers all read this one struct.

use serde::Serialize;

/// Which server the client is using, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify_next::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deciding or (re)connecting; nothing is open yet.
    Connecting,
    /// Connected to the local development server.
    Local,
    /// Connected to the remote (public or custom) server.
    Cloud,
    /// Nothing is connected; `reason` says why and `next_retry_at` when the next try is.
    Offline,
}

/// A snapshot of the connection, for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Which server, if any.
    pub mode: Mode,
    /// The socket URL in use (or being tried).
    pub url: Option<String>,
    /// Last measured ping round trip, in ms.
    pub latency_ms: Option<u64>,
    /// Why the client is where it is, in words (offline: both servers' reasons).
    pub reason: Option<String>,
    /// Why the local server is not in use, when it is not.
    pub local_reason: Option<String>,
    /// Why the remote server is not in use, when it failed.
    pub remote_reason: Option<String>,
    /// When the next attempt is due (ms since the epoch), while waiting.
    pub next_retry_at: Option<u64>,
    /// When `mode` last changed (ms since the epoch).
    pub since: u64,
    /// Messages waiting in the outbox.
    pub queued: usize,
    /// Failed attempts in a row.
    pub failures: u32,
}

impl Status {
    /// Whether `self` and `other` differ in anything but `since`.
    pub fn same_as(&self, other: &Status) -> bool {
        Status {
            since: other.since,
            ..self.clone()
        } == *other
    }
}
