//! Client frames: `{"action": "...", "id": "...", "payload": {...}}`, parsed once at the edge.
//!
//! The `action` key is what API Gateway routes on (`$request.body.action`), so it stays a
//! top-level string on the wire; inside Rust it becomes the [`ClientMessage`] enum.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// The Chrome extension, which can act on the ChatGPT page.
    Extension,
    /// A tool, SDK or web page that asks the extension to do things.
    Client,
}

/// `hello`: the first frame a client sends after the socket opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    /// Extension or client.
    pub role: Role,
    /// A stable id of this client (survives reconnects).
    pub client_id: String,
    /// The client's own version.
    pub version: String,
    /// What the client can do.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The API key, for a server that asks for one (production) and was not given it in the
    /// handshake's headers. Sent only to the remote server, never to a local one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<crate::Token>,
}

/// `ping`: keepalive and latency probe; the server echoes `t` back in its `pong`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// The client's clock when it sent the ping, in milliseconds.
    pub t: u64,
}

/// `subscribe` / `unsubscribe`: the event names to start or stop receiving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    /// Event names (see [`valid_event_name`]).
    pub events: Vec<String>,
}

/// `publish`: an event for every subscriber (but the publisher).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publish {
    /// The event name, e.g. `imageDownloadRequested`.
    pub event: String,
    /// Anything JSON.
    #[serde(default)]
    pub data: Value,
}

/// `reply`: an answer to one published event, routed back to its publisher only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The `id` of the event answered (from the `event` frame).
    pub to: String,
    /// The reply's event name, e.g. `imageDownloaded`.
    pub event: String,
    /// Anything JSON.
    #[serde(default)]
    pub data: Value,
}

/// Events that need the extension to act; published while no extension subscribes to them,
/// they are held (bounded, for a limited time) rather than lost.
pub const EXTENSION_EVENTS: &[&str] = &["imageDownloadRequested", "imageGenerationRequested"];

/// Event names are 1 to 64 characters of ASCII letters, digits and `._:-`.
pub fn valid_event_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// The actions of protocol v1 that this crate knows.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// `hello` → `welcome`.
    Hello(Hello),
    /// `ping` → `pong`.
    Ping(Ping),
    /// `subscribe` → `ack`.
    Subscribe(Events),
    /// `unsubscribe` → `ack`.
    Unsubscribe(Events),
    /// `publish` → `ack` (and `event` to each subscriber).
    Publish(Publish),
    /// `reply` → `ack` (and `event` to the publisher of `to`).
    Reply(Reply),
}

impl ClientMessage {
    /// The wire name of this action.
    pub fn action(&self) -> &'static str {
        match self {
            ClientMessage::Hello(_) => "hello",
            ClientMessage::Ping(_) => "ping",
            ClientMessage::Subscribe(_) => "subscribe",
            ClientMessage::Unsubscribe(_) => "unsubscribe",
            ClientMessage::Publish(_) => "publish",
            ClientMessage::Reply(_) => "reply",
        }
    }
}

/// A parsed client frame: the message and the id the reply will carry as `replyTo`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    /// Chosen by the client, echoed as `replyTo`.
    pub id: String,
    /// What the client asks for.
    pub message: ClientMessage,
}

/// Why a text could not be read as a client frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Not JSON, or JSON that is not an object with a string `action`.
    #[error("malformed frame: {0}")]
    BadJson(String),
    /// A well-formed frame whose action this protocol does not have.
    #[error("unknown action '{action}'")]
    UnknownAction {
        /// The action as sent.
        action: String,
        /// The frame's id, if it had one, for `replyTo`.
        id: Option<String>,
    },
    /// A known action whose payload has the wrong shape.
    #[error("bad payload for '{action}': {reason}")]
    BadPayload {
        /// The action as sent.
        action: String,
        /// The frame's id, if it had one.
        id: Option<String>,
        /// What serde said about the payload.
        reason: String,
    },
}

impl FrameError {
    /// The id of the offending frame, when it could be read, for the error's `replyTo`.
    pub fn id(&self) -> Option<&str> {
        match self {
            FrameError::BadJson(_) => None,
            FrameError::UnknownAction { id, .. } | FrameError::BadPayload { id, .. } => {
                id.as_deref()
            }
        }
    }
}

/// The frame envelope as it is on the wire, before the action is resolved.
#[derive(Debug, Serialize, Deserialize)]
struct RawClientFrame {
    action: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
}

impl ClientFrame {
    /// A frame with `id` carrying `message`.
    pub fn new(id: impl Into<String>, message: ClientMessage) -> Self {
        ClientFrame {
            id: id.into(),
            message,
        }
    }

    /// Reads one text frame. Never panics; every failure says what was wrong.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let raw: RawClientFrame =
            serde_json::from_str(text).map_err(|e| FrameError::BadJson(e.to_string()))?;
        let payload = raw.payload.unwrap_or_else(|| Value::Object(Map::new()));
        let bad =
            |e: serde_json::Error, action: &str, id: &Option<String>| FrameError::BadPayload {
                action: action.to_owned(),
                id: id.clone(),
                reason: e.to_string(),
            };
        let message = match raw.action.as_str() {
            "hello" => ClientMessage::Hello(
                serde_json::from_value(payload).map_err(|e| bad(e, "hello", &raw.id))?,
            ),
            "ping" => ClientMessage::Ping(
                serde_json::from_value(payload).map_err(|e| bad(e, "ping", &raw.id))?,
            ),
            "subscribe" => ClientMessage::Subscribe(
                serde_json::from_value(payload).map_err(|e| bad(e, "subscribe", &raw.id))?,
            ),
            "unsubscribe" => ClientMessage::Unsubscribe(
                serde_json::from_value(payload).map_err(|e| bad(e, "unsubscribe", &raw.id))?,
            ),
            "publish" => ClientMessage::Publish(
                serde_json::from_value(payload).map_err(|e| bad(e, "publish", &raw.id))?,
            ),
            "reply" => ClientMessage::Reply(
                serde_json::from_value(payload).map_err(|e| bad(e, "reply", &raw.id))?,
            ),
            _ => {
                return Err(FrameError::UnknownAction {
                    action: shorten(&raw.action, 64),
                    id: raw.id,
                })
            }
        };
        Ok(ClientFrame {
            id: raw.id.unwrap_or_default(),
            message,
        })
    }

    /// The JSON text of this frame.
    pub fn to_json(&self) -> String {
        let payload = match &self.message {
            ClientMessage::Hello(h) => serde_json::to_value(h),
            ClientMessage::Ping(p) => serde_json::to_value(p),
            ClientMessage::Subscribe(e) | ClientMessage::Unsubscribe(e) => serde_json::to_value(e),
            ClientMessage::Publish(p) => serde_json::to_value(p),
            ClientMessage::Reply(r) => serde_json::to_value(r),
        }
        .unwrap_or(Value::Null);
        raw_json(self.message.action(), &self.id, payload)
    }
}

/// Text from a stranger cut to `max` characters (with `…` when cut), so that an error or a
/// status never echoes a huge input back.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The JSON text of a frame with any action: how SDKs send actions this crate does not model.
pub fn raw_json(action: &str, id: &str, payload: Value) -> String {
    let raw = RawClientFrame {
        action: action.to_owned(),
        id: Some(id.to_owned()),
        payload: Some(payload),
    };
    serde_json::to_string(&raw).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_round_trips() {
        let f = ClientFrame::new(
            "c2",
            ClientMessage::Ping(Ping {
                t: 1_732_240_000_000,
            }),
        );
        let text = f.to_json();
        assert_eq!(
            text,
            r#"{"action":"ping","id":"c2","payload":{"t":1732240000000}}"#
        );
        assert_eq!(ClientFrame::parse(&text).unwrap(), f);
    }

    #[test]
    fn hello_parses_camel_case() {
        let f = ClientFrame::parse(
            r#"{"action":"hello","id":"1","payload":{"role":"extension","clientId":"x","version":"0.1.0"}}"#,
        )
        .unwrap();
        match f.message {
            ClientMessage::Hello(h) => {
                assert_eq!(h.role, Role::Extension);
                assert_eq!(h.client_id, "x");
                assert!(h.capabilities.is_empty());
            }
            other => panic!("expected hello, got {other:?}"),
        }
    }

    #[test]
    fn unknown_action_keeps_the_id() {
        let e = ClientFrame::parse(r#"{"action":"nope","id":"c3","payload":{}}"#).unwrap_err();
        assert_eq!(e.to_string(), "unknown action 'nope'");
        assert_eq!(e.id(), Some("c3"));
    }

    #[test]
    fn a_huge_unknown_action_is_not_echoed_whole() {
        let frame = format!(r#"{{"action":"{}","id":"x"}}"#, "a".repeat(60_000));
        let e = ClientFrame::parse(&frame).unwrap_err();
        assert!(e.to_string().len() < 100, "{e}");
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        for text in [
            "",
            "{",
            "null",
            "[]",
            "42",
            r#"{"id":"x"}"#,
            r#"{"action":7}"#,
            "\u{0}",
        ] {
            assert!(
                matches!(ClientFrame::parse(text), Err(FrameError::BadJson(_))),
                "{text:?}"
            );
        }
        let e =
            ClientFrame::parse(r#"{"action":"ping","id":"a","payload":{"t":"soon"}}"#).unwrap_err();
        assert!(matches!(e, FrameError::BadPayload { .. }), "{e:?}");
        assert_eq!(e.id(), Some("a"));
    }
}
