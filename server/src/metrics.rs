//! The server's Prometheus metrics, in a registry of its own.
//!
//! Each [`crate::AppState`] owns one [`Metrics`] (no global recorder), so several servers can
//! run in one process — as they do in the tests. Every name starts with `semantest_`:
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `semantest_connections_open` | gauge | |
//! | `semantest_connections_total` | counter | |
//! | `semantest_messages_total` | counter | `action`: a known action or `unknown` |
//! | `semantest_errors_total` | counter | `code`: a protocol [`ErrorCode`] |
//! | `semantest_handshake_seconds` | histogram | from the upgrade request to the `welcome` sent |
//! | `semantest_ping_rtt_seconds` | histogram | WebSocket Ping to Pong round trip |
//!
//! Label values come from closed sets (the actions this server knows, the error codes of the
//! protocol), so a client cannot grow the number of series.

use std::time::Duration;

use prometheus_client::encoding::{text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use semantest_protocol::ErrorCode;

/// The content type of [`Metrics::encode`]'s output (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The action label of a received message. Only actions this server knows get their own value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    /// `hello`.
    Hello,
    /// `ping`.
    Ping,
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
    /// `publish`.
    Publish,
    /// `reply`.
    Reply,
    /// Anything else: unknown actions, text that is not a frame, binary frames.
    Unknown,
}

impl Action {
    /// The label value of an action name as sent by a client.
    pub(crate) fn from_wire(action: &str) -> Self {
        match action {
            "hello" => Action::Hello,
            "ping" => Action::Ping,
            "subscribe" => Action::Subscribe,
            "unsubscribe" => Action::Unsubscribe,
            "publish" => Action::Publish,
            "reply" => Action::Reply,
            _ => Action::Unknown,
        }
    }

    /// Every value, so each series exists (at zero) from the start.
    const ALL: [Action; 7] = [
        Action::Hello,
        Action::Ping,
        Action::Subscribe,
        Action::Unsubscribe,
        Action::Publish,
        Action::Reply,
        Action::Unknown,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Action::Hello => "hello",
            Action::Ping => "ping",
            Action::Subscribe => "subscribe",
            Action::Unsubscribe => "unsubscribe",
            Action::Publish => "publish",
            Action::Reply => "reply",
            Action::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

/// The metrics of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections_open: Gauge,
    connections_total: Counter,
    messages: Family<ActionLabels, Counter>,
    errors: Family<CodeLabels, Counter>,
    handshake: Histogram,
    ping_rtt: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("semantest");
        let connections_open = Gauge::default();
        let connections_total = Counter::default();
        let messages = Family::<ActionLabels, Counter>::default();
        let errors = Family::<CodeLabels, Counter>::default();
        // 1 ms … ~16 s: loopback handshakes are sub-millisecond, a client may wait to say hello.
        let handshake = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        // 0.5 ms … ~8 s: loopback pongs to a slow mobile network.
        let ping_rtt = Histogram::new(exponential_buckets(0.0005, 2.0, 15));
        registry.register(
            "connections_open",
            "WebSocket connections open now",
            connections_open.clone(),
        );
        registry.register(
            "connections",
            "WebSocket connections accepted",
            connections_total.clone(),
        );
        registry.register(
            "messages",
            "WebSocket messages received, by action",
            messages.clone(),
        );
        registry.register(
            "errors",
            "Protocol error frames sent, by code",
            errors.clone(),
        );
        registry.register(
            "handshake_seconds",
            "Time from the WebSocket upgrade request to the welcome frame",
            handshake.clone(),
        );
        registry.register(
            "ping_rtt_seconds",
            "Round trip of the server's WebSocket Ping",
            ping_rtt.clone(),
        );
        let metrics = Metrics {
            registry,
            connections_open,
            connections_total,
            messages,
            errors,
            handshake,
            ping_rtt,
        };
        // Series at zero from the start: `rate()` needs a first sample, and the names show up
        // on `/metrics` before any traffic.
        for action in Action::ALL {
            let _ = metrics.messages.get_or_create(&ActionLabels {
                action: action.as_str(),
            });
        }
        for code in KNOWN_CODES {
            let _ = metrics.errors.get_or_create(&CodeLabels {
                code: code_label(code),
            });
        }
        metrics
    }

    /// Counts a new connection; the returned guard counts it closed when dropped.
    pub(crate) fn connection_opened(&self) -> ConnectionGuard {
        self.connections_total.inc();
        self.connections_open.inc();
        ConnectionGuard {
            open: self.connections_open.clone(),
        }
    }

    /// How many WebSocket connections are open now.
    pub fn connections_open(&self) -> i64 {
        self.connections_open.get()
    }

    /// Counts one received message.
    pub(crate) fn message(&self, action: Action) {
        self.messages
            .get_or_create(&ActionLabels {
                action: action.as_str(),
            })
            .inc();
    }

    /// Counts one error frame sent.
    pub(crate) fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&CodeLabels {
                code: code_label(code),
            })
            .inc();
    }

    /// Records the time from an upgrade request to its `welcome`.
    pub(crate) fn handshake(&self, took: Duration) {
        self.handshake.observe(took.as_secs_f64());
    }

    /// Records one Ping→Pong round trip.
    pub(crate) fn ping_rtt(&self, took: Duration) {
        self.ping_rtt.observe(took.as_secs_f64());
    }

    /// The registry in the text exposition format (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = text::encode(&mut out, &self.registry);
        out
    }
}

/// The error codes of protocol v1, pre-created as series at zero.
const KNOWN_CODES: [ErrorCode; 9] = [
    ErrorCode::BadJson,
    ErrorCode::UnknownAction,
    ErrorCode::BadPayload,
    ErrorCode::BadFrame,
    ErrorCode::TooLarge,
    ErrorCode::RateLimited,
    ErrorCode::Unauthorized,
    ErrorCode::NoExtension,
    ErrorCode::Internal,
];

/// The wire name of an error code (`bad_json`, …): a closed set, since `ErrorCode` is an enum.
fn code_label(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "internal".to_owned())
}

/// Keeps one connection counted in `semantest_connections_open` while it lives.
#[derive(Debug)]
#[must_use = "the connection is counted closed when the guard drops"]
pub(crate) struct ConnectionGuard {
    open: Gauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.open.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_counters_move() {
        let m = Metrics::new();
        {
            let _guard = m.connection_opened();
            assert_eq!(m.connections_open(), 1);
            m.message(Action::from_wire("ping"));
            m.message(Action::from_wire("whatever-a-client-invents"));
            m.error(ErrorCode::UnknownAction);
        }
        assert_eq!(m.connections_open(), 0);
        let text = m.encode();
        assert!(text.contains("semantest_connections_total 1"), "{text}");
        assert!(text.contains("semantest_connections_open 0"), "{text}");
        assert!(
            text.contains(r#"semantest_messages_total{action="ping"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"semantest_messages_total{action="unknown"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"semantest_messages_total{action="hello"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"semantest_errors_total{code="bad_json"} 0"#),
            "{text}"
        );
        assert!(!text.contains("whatever"), "{text}");
        assert!(
            text.contains(r#"semantest_errors_total{code="unknown_action"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("semantest_handshake_seconds_count 0"),
            "{text}"
        );
        assert!(
            text.contains("semantest_ping_rtt_seconds_count 0"),
            "{text}"
        );
    }
}
