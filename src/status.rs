//! What the user sees: the mode, the URL, the latency, why, and when the next try is.
//! The indicator, the popup and SDK callers all read this one struct.

use semantest_protocol::json;
use serde_json::Value;

/// Which server the client is using, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
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
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
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

impl Mode {
    /// The name JSON and JavaScript know it by: `connecting`, `local`, `cloud`, `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Connecting => "connecting",
            Mode::Local => "local",
            Mode::Cloud => "cloud",
            Mode::Offline => "offline",
        }
    }
}

impl Status {
    /// The status as JavaScript sees it: every field, `null` for what is not known.
    pub fn to_json(&self) -> Value {
        json::object([
            ("mode", Value::from(self.mode.as_str())),
            ("url", Value::from(self.url.clone())),
            ("latencyMs", Value::from(self.latency_ms)),
            ("reason", Value::from(self.reason.clone())),
            ("localReason", Value::from(self.local_reason.clone())),
            ("remoteReason", Value::from(self.remote_reason.clone())),
            ("nextRetryAt", Value::from(self.next_retry_at)),
            ("since", Value::from(self.since)),
            ("queued", Value::from(self.queued)),
            ("failures", Value::from(self.failures)),
        ])
    }

    /// Whether `self` and `other` differ in anything but `since`.
    pub fn same_as(&self, other: &Status) -> bool {
        Status {
            since: other.since,
            ..self.clone()
        } == *other
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn status_is_written_as_serde_wrote_it() {
        let bare = Status {
            mode: Mode::Connecting,
            url: None,
            latency_ms: None,
            reason: None,
            local_reason: None,
            remote_reason: None,
            next_retry_at: None,
            since: 0,
            queued: 0,
            failures: 0,
        };
        let full = Status {
            mode: Mode::Offline,
            url: Some("wss://example.org/\u{1}\"".into()),
            latency_ms: Some(12),
            reason: Some("both failed".into()),
            local_reason: Some("connection refused".into()),
            remote_reason: Some("HTTP 503".into()),
            next_retry_at: Some(u64::MAX),
            since: 1_700_000_000_000,
            queued: 3,
            failures: u32::MAX,
        };
        for mode in [Mode::Connecting, Mode::Local, Mode::Cloud, Mode::Offline] {
            for status in [&bare, &full] {
                let status = Status {
                    mode,
                    ..status.clone()
                };
                assert_eq!(status.to_json(), serde_json::to_value(&status).unwrap());
            }
        }
    }
}
