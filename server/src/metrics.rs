//! The server's Prometheus metrics, in a registry of its own.
//!
//! Each [`crate::AppState`] owns one [`Metrics`] (no global recorder), so several servers can
//! run in one process — as they do in the tests. Every name starts with `semantest_`:
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `semantest_connections_open` | gauge | |
//! | `semantest_connections_total` | counter | |
//! | `semantest_connections_refused_total` | counter | TCP connections over a cap (503) |
//! | `semantest_messages_total` | counter | `action`: a known action or `unknown` |
//! | `semantest_errors_total` | counter | `code`: a protocol [`ErrorCode`] |
//! | `semantest_handshake_seconds` | histogram | from the upgrade request to the `welcome` sent |
//! | `semantest_ping_rtt_seconds` | histogram | WebSocket Ping to Pong round trip |
//! | `semantest_image_bytes_total` | counter | `direction`: `upload` (stored images only) or `download` |
//! | `semantest_image_upload_seconds` | histogram | from the start of a `POST /images` to its stored answer |
//! | `semantest_rate_limited_total` | counter | `scope`: `http` or `websocket` |
//!
//! Label values come from closed sets (the actions this server knows, the error codes of the
//! protocol, the two directions and the two scopes), so a client cannot grow the number of
//! series; every labelled series exists at zero from the start.

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
    /// `register`.
    Register,
    /// `pair`.
    Pair,
    /// `pairCode`.
    PairCode,
    /// `devices`.
    Devices,
    /// `revoke`.
    Revoke,
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
            "register" => Action::Register,
            "pair" => Action::Pair,
            "pairCode" => Action::PairCode,
            "devices" => Action::Devices,
            "revoke" => Action::Revoke,
            _ => Action::Unknown,
        }
    }

    /// Every value, so each series exists (at zero) from the start.
    const ALL: [Action; 12] = [
        Action::Hello,
        Action::Ping,
        Action::Subscribe,
        Action::Unsubscribe,
        Action::Publish,
        Action::Reply,
        Action::Register,
        Action::Pair,
        Action::PairCode,
        Action::Devices,
        Action::Revoke,
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
            Action::Register => "register",
            Action::Pair => "pair",
            Action::PairCode => "pairCode",
            Action::Devices => "devices",
            Action::Revoke => "revoke",
            Action::Unknown => "unknown",
        }
    }
}

/// Which way image bytes went, the `direction` label of `semantest_image_bytes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    /// Into the server, `POST /images` (counted once the image is stored).
    Upload,
    /// Out of the server, `GET /images/{id}`.
    Download,
}

impl Direction {
    const ALL: [Direction; 2] = [Direction::Upload, Direction::Download];

    fn as_str(self) -> &'static str {
        match self {
            Direction::Upload => "upload",
            Direction::Download => "download",
        }
    }
}

/// What a refused request was, the `scope` label of `semantest_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LimitScope {
    /// An HTTP request (including a WebSocket upgrade refused before it happens).
    Http,
    /// A message on an open WebSocket.
    WebSocket,
}

impl LimitScope {
    const ALL: [LimitScope; 2] = [LimitScope::Http, LimitScope::WebSocket];

    fn as_str(self) -> &'static str {
        match self {
            LimitScope::Http => "http",
            LimitScope::WebSocket => "websocket",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

/// The metrics of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections_open: Gauge,
    connections_total: Counter,
    connections_refused: Counter,
    messages: Family<ActionLabels, Counter>,
    errors: Family<CodeLabels, Counter>,
    handshake: Histogram,
    ping_rtt: Histogram,
    image_bytes: Family<DirectionLabels, Counter>,
    image_upload: Histogram,
    rate_limited: Family<ScopeLabels, Counter>,
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
        let connections_refused = Counter::default();
        let messages = Family::<ActionLabels, Counter>::default();
        let errors = Family::<CodeLabels, Counter>::default();
        // 1 ms … ~16 s: loopback handshakes are sub-millisecond, a client may wait to say hello.
        let handshake = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        // 0.5 ms … ~8 s: loopback pongs to a slow mobile network.
        let ping_rtt = Histogram::new(exponential_buckets(0.0005, 2.0, 15));
        let image_bytes = Family::<DirectionLabels, Counter>::default();
        // 1 ms … ~65 s: a small image over loopback to 16 MiB over a slow link.
        let image_upload = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        let rate_limited = Family::<ScopeLabels, Counter>::default();
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
            "connections_refused",
            "TCP connections refused by a connection cap (answered 503)",
            connections_refused.clone(),
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
        registry.register(
            "image_bytes",
            "Image bytes stored (upload) and served (download)",
            image_bytes.clone(),
        );
        registry.register(
            "image_upload_seconds",
            "Time from the start of a POST /images to its stored answer",
            image_upload.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests and messages refused by a rate limit, by scope",
            rate_limited.clone(),
        );
        let metrics = Metrics {
            registry,
            connections_open,
            connections_total,
            connections_refused,
            messages,
            errors,
            handshake,
            ping_rtt,
            image_bytes,
            image_upload,
            rate_limited,
        };
        // Series at zero from the start: `rate()` needs a first sample, and the names show up
        // on `/metrics` before any traffic.
        for action in Action::ALL {
            let _ = metrics.messages.get_or_create(&ActionLabels {
                action: action.as_str(),
            });
        }
        for code in ErrorCode::ALL {
            let _ = metrics
                .errors
                .get_or_create(&CodeLabels { code: code.name() });
        }
        for direction in Direction::ALL {
            let _ = metrics.image_bytes.get_or_create(&DirectionLabels {
                direction: direction.as_str(),
            });
        }
        for scope in LimitScope::ALL {
            let _ = metrics.rate_limited.get_or_create(&ScopeLabels {
                scope: scope.as_str(),
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

    /// Counts a TCP connection refused by a connection cap.
    pub(crate) fn connection_refused(&self) {
        self.connections_refused.inc();
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
            .get_or_create(&CodeLabels { code: code.name() })
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

    /// Counts image bytes stored or served.
    pub(crate) fn image_bytes(&self, direction: Direction, bytes: u64) {
        self.image_bytes
            .get_or_create(&DirectionLabels {
                direction: direction.as_str(),
            })
            .inc_by(bytes);
    }

    /// Records the time from the start of an upload to its stored answer.
    pub(crate) fn image_upload(&self, took: Duration) {
        self.image_upload.observe(took.as_secs_f64());
    }

    /// Counts one request or message refused by a rate limit.
    pub(crate) fn rate_limited(&self, scope: LimitScope) {
        self.rate_limited
            .get_or_create(&ScopeLabels {
                scope: scope.as_str(),
            })
            .inc();
    }

    /// The registry in the text exposition format (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = text::encode(&mut out, &self.registry);
        out
    }
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
        for zero in [
            r#"semantest_image_bytes_total{direction="upload"} 0"#,
            r#"semantest_image_bytes_total{direction="download"} 0"#,
            r#"semantest_rate_limited_total{scope="http"} 0"#,
            r#"semantest_rate_limited_total{scope="websocket"} 0"#,
            "semantest_image_upload_seconds_count 0",
        ] {
            assert!(text.contains(zero), "{zero} missing from:\n{text}");
        }
    }

    #[test]
    fn image_bytes_upload_time_and_rate_limits_move() {
        let m = Metrics::new();
        m.image_bytes(Direction::Upload, 1000);
        m.image_bytes(Direction::Download, 1000);
        m.image_bytes(Direction::Download, 24);
        m.image_upload(Duration::from_millis(3));
        m.rate_limited(LimitScope::Http);
        m.rate_limited(LimitScope::WebSocket);
        m.rate_limited(LimitScope::WebSocket);
        let text = m.encode();
        for line in [
            r#"semantest_image_bytes_total{direction="upload"} 1000"#,
            r#"semantest_image_bytes_total{direction="download"} 1024"#,
            r#"semantest_rate_limited_total{scope="http"} 1"#,
            r#"semantest_rate_limited_total{scope="websocket"} 2"#,
            "semantest_image_upload_seconds_count 1",
            r#"semantest_image_upload_seconds_bucket{le="0.002"} 0"#,
            r#"semantest_image_upload_seconds_bucket{le="0.004"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
