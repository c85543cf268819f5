//! Client frames: `{"action": "...", "id": "...", "payload": {...}}`, parsed once at the edge.
//!
//! The `action` key is what API Gateway routes on (`$request.body.action`), so it stays a
//! top-level string on the wire; inside Rust it becomes the [`ClientMessage`] enum.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::json;

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
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

/// `requestUpload`: asks the public service for a place to upload an image to (a presigned S3
/// `PUT`), because API Gateway carries at most 128 KB per message. A local server answers it
/// with an error: there the image goes to `POST /images`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadRequest {
    /// The file name the image should keep (`[A-Za-z0-9._-]`, not starting with a dot).
    pub filename: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, 64 lowercase hex digits.
    pub sha256: String,
    /// Its media type: `image/png` (the default), `image/jpeg`, `image/webp` or `image/gif`.
    #[serde(default = "default_content_type")]
    pub content_type: String,
}

fn default_content_type() -> String {
    "image/png".to_owned()
}

/// What a tool publishes to have an image already on the ChatGPT page downloaded.
pub const IMAGE_DOWNLOAD_REQUESTED: &str = "imageDownloadRequested";

/// Events that need the extension to act; published while no extension subscribes to them,
/// they are held (bounded, for a limited time) rather than lost.
pub const EXTENSION_EVENTS: &[&str] = &[IMAGE_DOWNLOAD_REQUESTED, crate::generation::REQUESTED];

/// A file name and nothing else (no path, no leading dot): 1 to 128 ASCII letters, digits or `._-`.
/// What the local server's `POST /images` and the public service's `requestUpload` accept.
pub fn valid_file_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

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
    /// `requestUpload` → `uploadUrl` (public service only).
    RequestUpload(UploadRequest),
    /// `register` → `registered` (a keyless socket on a production server).
    Register(crate::identity::Register),
    /// `pairCode` → `pairCode` (an install's socket).
    PairCode,
    /// `pair` → `paired` (a keyless socket).
    Pair(crate::identity::Pair),
    /// `devices` → `devices` (an install's socket).
    Devices,
    /// `revoke` → `ack` (an install's socket).
    Revoke(crate::identity::Revoke),
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
            ClientMessage::RequestUpload(_) => "requestUpload",
            ClientMessage::Register(_) => "register",
            ClientMessage::PairCode => "pairCode",
            ClientMessage::Pair(_) => "pair",
            ClientMessage::Devices => "devices",
            ClientMessage::Revoke(_) => "revoke",
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

    /// The error code both servers answer this with.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            FrameError::BadJson(_) => crate::ErrorCode::BadJson,
            FrameError::UnknownAction { .. } => crate::ErrorCode::UnknownAction,
            FrameError::BadPayload { .. } => crate::ErrorCode::BadPayload,
        }
    }
}

/// The frame envelope as it is on the wire, before the action is resolved.
#[derive(Debug, Deserialize)]
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

    /// Reads one text frame. Never panics; every failure says what was wrong, in at most
    /// [`MAX_ERROR_MESSAGE_CHARS`] characters whatever the input. The frame and its payload
    /// must be JSON objects (`payload` may also be absent or `null`, which reads as `{}`).
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let raw: RawClientFrame = read_object(text).map_err(|e| {
            // "malformed frame: {reason}"
            let room = MAX_ERROR_MESSAGE_CHARS - "malformed frame: ".len();
            FrameError::BadJson(e.bounded(room))
        })?;
        let payload = raw.payload.unwrap_or_else(|| Value::Object(Map::new()));
        let bad = |e: NotRead, action: &str, id: &Option<String>| {
            // "bad payload for '{action}': {reason}"
            let room = MAX_ERROR_MESSAGE_CHARS - 20 - action.chars().count();
            FrameError::BadPayload {
                action: action.to_owned(),
                id: id.clone(),
                reason: e.bounded(room),
            }
        };
        let message = match raw.action.as_str() {
            "hello" => {
                ClientMessage::Hello(read_payload(payload).map_err(|e| bad(e, "hello", &raw.id))?)
            }
            "ping" => {
                ClientMessage::Ping(read_payload(payload).map_err(|e| bad(e, "ping", &raw.id))?)
            }
            "subscribe" => ClientMessage::Subscribe(
                read_payload(payload).map_err(|e| bad(e, "subscribe", &raw.id))?,
            ),
            "unsubscribe" => ClientMessage::Unsubscribe(
                read_payload(payload).map_err(|e| bad(e, "unsubscribe", &raw.id))?,
            ),
            "publish" => ClientMessage::Publish(
                read_payload(payload).map_err(|e| bad(e, "publish", &raw.id))?,
            ),
            "reply" => {
                ClientMessage::Reply(read_payload(payload).map_err(|e| bad(e, "reply", &raw.id))?)
            }
            "requestUpload" => ClientMessage::RequestUpload(
                read_payload(payload).map_err(|e| bad(e, "requestUpload", &raw.id))?,
            ),
            "register" => ClientMessage::Register(
                read_payload(payload).map_err(|e| bad(e, "register", &raw.id))?,
            ),
            "pair" => {
                ClientMessage::Pair(read_payload(payload).map_err(|e| bad(e, "pair", &raw.id))?)
            }
            "revoke" => {
                ClientMessage::Revoke(read_payload(payload).map_err(|e| bad(e, "revoke", &raw.id))?)
            }
            "pairCode" | "devices" => {
                read_payload::<Map<String, Value>>(payload)
                    .map_err(|e| bad(e, &raw.action, &raw.id))?;
                if raw.action == "pairCode" {
                    ClientMessage::PairCode
                } else {
                    ClientMessage::Devices
                }
            }
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

    /// The JSON text of this frame, written by hand (the same text serde would write).
    pub fn to_json(&self) -> String {
        let payload = match &self.message {
            ClientMessage::Hello(h) => h.to_value(),
            ClientMessage::Ping(p) => json::object([("t", p.t.into())]),
            ClientMessage::Subscribe(e) | ClientMessage::Unsubscribe(e) => {
                json::object([("events", json::string_array(&e.events))])
            }
            ClientMessage::Publish(p) => {
                json::object([("event", p.event.as_str().into()), ("data", p.data.clone())])
            }
            ClientMessage::Reply(r) => json::object([
                ("to", r.to.as_str().into()),
                ("event", r.event.as_str().into()),
                ("data", r.data.clone()),
            ]),
            ClientMessage::RequestUpload(u) => json::object([
                ("filename", u.filename.as_str().into()),
                ("size", u.size.into()),
                ("sha256", u.sha256.as_str().into()),
                ("contentType", u.content_type.as_str().into()),
            ]),
            ClientMessage::Register(r) => json::object([
                ("role", r.role.name().into()),
                ("name", r.name.as_str().into()),
            ]),
            ClientMessage::Pair(p) => json::object([
                ("code", p.code.as_str().into()),
                ("name", p.name.as_str().into()),
            ]),
            ClientMessage::Revoke(r) => json::object([("deviceId", r.device_id.as_str().into())]),
            ClientMessage::PairCode | ClientMessage::Devices => json::object([]),
        };
        raw_json(self.message.action(), &self.id, payload)
    }
}

impl Role {
    /// The wire name: `extension` or `client`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Extension => "extension",
            Role::Client => "client",
        }
    }

    /// Reads a role from its wire name (the field `field`).
    pub fn read(field: &'static str, value: Value) -> Result<Role, crate::json::ReadError> {
        crate::json::variant(field, value, &[Role::Extension, Role::Client], Role::name)
    }
}

impl Hello {
    /// The payload as a JSON object, `token` only when there is one.
    fn to_value(&self) -> Value {
        let mut payload = json::object([
            ("role", self.role.name().into()),
            ("clientId", self.client_id.as_str().into()),
            ("version", self.version.as_str().into()),
            ("capabilities", json::string_array(&self.capabilities)),
        ]);
        if let (Some(token), Value::Object(map)) = (&self.token, &mut payload) {
            map.insert("token".to_owned(), token.expose().into());
        }
        payload
    }
}

/// The most characters an error message of [`ClientFrame::parse`] or
/// [`ServerFrame::parse`](crate::ServerFrame::parse) has, whatever the input: their reasons
/// may quote the offending input (serde's for a client frame, an unknown name for a server
/// frame), so a long one is cut (see [`shorten`]).
pub const MAX_ERROR_MESSAGE_CHARS: usize = 200;

/// Why a text or a payload could not be read, before it becomes an error message.
#[derive(Debug)]
pub(crate) enum NotRead {
    /// What serde said.
    Serde(serde_json::Error),
    /// Valid JSON, but not the object a frame or a payload must be.
    NotObject {
        /// `"frame"` or `"payload"`.
        what: &'static str,
        /// What it was instead: `an array`, `a string`, ….
        found: &'static str,
    },
}

impl NotRead {
    /// The reason in at most `max` characters (`max` ≥ 80): serde's message with the input it
    /// quotes cut in the middle, and its position (`at line L column C`) kept whole.
    pub(crate) fn bounded(&self, max: usize) -> String {
        match self {
            NotRead::Serde(e) => bounded_reason(e, max),
            NotRead::NotObject { what, found } => {
                format!("a {what} must be a JSON object, not {found}")
            }
        }
    }
}

/// Reads `text` as `T`, which is a struct: only from a JSON object, never from an array (which
/// serde's derived `Deserialize` would take as the fields in order) or any other value.
pub(crate) fn read_object<T: DeserializeOwned>(text: &str) -> Result<T, NotRead> {
    // serde_json skips exactly these before a value, then reads a struct from `{` or `[`.
    let first = text
        .bytes()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    match first {
        Some(b'{') => serde_json::from_str(text).map_err(NotRead::Serde),
        // Not an object: a syntax error (with its position) if it is not JSON at all.
        first => match serde_json::from_str::<IgnoredAny>(text) {
            Err(e) => Err(NotRead::Serde(e)),
            Ok(_) => Err(NotRead::NotObject {
                what: "frame",
                found: json_kind(first),
            }),
        },
    }
}

/// Reads a payload as `T`, which is a struct: only from a JSON object.
pub(crate) fn read_payload<T: DeserializeOwned>(payload: Value) -> Result<T, NotRead> {
    from_object(payload).map_err(|e| match e {
        ObjectError::Serde(e) => NotRead::Serde(e),
        ObjectError::NotObject(found) => NotRead::NotObject {
            what: "payload",
            found,
        },
    })
}

/// Why [`from_object`] could not read a value.
#[derive(Debug)]
pub enum ObjectError {
    /// It is not a JSON object but this: `an array`, `a string`, `a boolean`, `a number`, `null`.
    NotObject(&'static str),
    /// What serde said of the object.
    Serde(serde_json::Error),
}

/// Reads `value`, which must be a JSON object, as `T` through its serde derive: how the servers
/// read a client frame's payload. From the object's map itself, not the value: a map's
/// deserializer only ever offers a map, so a struct is never read from an array. (The client
/// reads by hand instead, [`crate::json`]; its tests use this as the old path to agree with.)
pub fn from_object<T: DeserializeOwned>(value: Value) -> Result<T, ObjectError> {
    match value {
        Value::Object(map) => T::deserialize(map).map_err(ObjectError::Serde),
        other => Err(ObjectError::NotObject(crate::json::kind(&other))),
    }
}

/// The kind of the JSON value that starts with `first`.
fn json_kind(first: Option<u8>) -> &'static str {
    match first {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// serde's message for `e` in at most `max` characters (`max` ≥ 80). serde quotes the
/// offending input whole (`invalid type: string "…"`, ``unknown variant `…` ``), so a long
/// message keeps its start (what is wrong), the end of the quoted input, what was expected,
/// and where (`at line L column C`, which serde_json adds for text, not for a `Value`).
pub(crate) fn bounded_reason(e: &serde_json::Error, max: usize) -> String {
    let full = e.to_string();
    if full.chars().count() <= max {
        return full;
    }
    let position = if e.line() > 0 {
        format!(" at line {} column {}", e.line(), e.column())
    } else {
        String::new()
    };
    let (what, position) = match full.strip_suffix(position.as_str()) {
        Some(what) => (what, position.as_str()),
        None => (full.as_str(), ""),
    };
    // A position is at most 57 characters (two 20-digit numbers), so `room` is at least 23.
    let room = max.saturating_sub(position.chars().count());
    // The last ", expected " (a byte search: `str::rfind` costs the wasm build about 1 KiB).
    const EXPECTED: &[u8] = b", expected ";
    let mut windows = what.as_bytes().windows(EXPECTED.len());
    let expected_at = windows.rposition(|w| w == EXPECTED);
    let what = match expected_at {
        // "<what is wrong, quoting the input>, expected <what the type wanted>": the second
        // part is this crate's own text (a list of variants can be long), so it gets what it
        // needs as long as the first keeps 40 characters.
        Some(at) if at > 0 => {
            let (found, expected) = what.split_at(at);
            let expected = cut_end(expected, room.saturating_sub(40));
            let room = (room - expected.chars().count()).min(FOUND_CHARS);
            cut_middle(found, room) + &expected
        }
        _ => cut_middle(what, room.min(FOUND_CHARS)),
    };
    what + position
}

/// The most characters of serde's "what is wrong" part (before `, expected …`) that
/// [`bounded_reason`] keeps of a message that is too long, the quoted input included: enough
/// to recognise the input by its start and its end.
const FOUND_CHARS: usize = 72;

/// `text` in at most `max` characters: its start and its end with `…` between.
fn cut_middle(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let keep = max - 1;
    let head = keep / 2;
    // Byte offsets of the `head`-th character and of the first of the last `keep - head`.
    let at = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
    let (head_end, tail_start) = (at(head), at(count - (keep - head)));
    let mut cut = String::with_capacity(head_end + 3 + text.len() - tail_start);
    cut.push_str(&text[..head_end]);
    cut.push('…');
    cut.push_str(&text[tail_start..]);
    cut
}

/// `text` in at most `max` characters: its start and `…`.
fn cut_end(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    match max {
        0 => String::new(),
        _ => shorten(text, max - 1),
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
    let mut out = String::from("{\"action\":");
    json::write_str(&mut out, action);
    out.push_str(",\"id\":");
    json::write_str(&mut out, id);
    out.push_str(",\"payload\":");
    json::write_to(&mut out, &payload);
    out.push('}');
    out
}

/// The `id` of a client frame's text, read without reading its payload into values: for
/// the answer to a frame that is refused before it is handled (over a rate limit, a service
/// failure), so the client can tell which frame it was. `None` when the text is not a JSON
/// object or its `id` is not a string.
pub fn frame_id(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: Option<String>,
    }
    serde_json::from_str::<IdOnly>(text).ok()?.id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_written_and_read_by_their_serde_names() {
        for role in [Role::Extension, Role::Client] {
            assert_eq!(serde_json::to_value(role).unwrap(), role.name());
            assert_eq!(Role::read("role", Value::from(role.name())), Ok(role));
        }
        assert!(Role::read("role", Value::from("Extension")).is_err());
    }

    #[test]
    fn frame_id_reads_only_the_id() {
        assert_eq!(
            frame_id(
                r#"{"action":"publish","id":"c7-k3x9q2","payload":{"event":"x","data":[1,2]}}"#
            ),
            Some("c7-k3x9q2".to_owned())
        );
        assert_eq!(frame_id(r#"{"action":"nope","payload":{}}"#), None);
        assert_eq!(frame_id(r#"{"action":"ping","id":7}"#), None);
        assert_eq!(frame_id("{not json"), None);
        assert_eq!(frame_id("[1]"), None);
    }

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

    /// Frames whose error serde would describe by quoting 500 characters of them (or a
    /// position 100 000 lines down).
    fn long_inputs() -> Vec<String> {
        let long = "a".repeat(500);
        vec![
            format!(r#""{long}""#),
            format!(r#"{{"action":"ping","id":"{long}"x}}"#),
            format!(r#"{{"action":"ping","id":"c1","{long}":1,}}"#),
            format!(r#"{{"action":["{long}"]}}"#),
            format!(r#"{{"action":"ping","id":"{long}","payload":{{"t":"{long}"}}}}"#),
            format!(r#"{{"action":"ping","payload":{{"t":1e300}}}}"#),
            format!(
                r#"{{"action":"hello","payload":{{"role":"{long}","clientId":"x","version":"1"}}}}"#
            ),
            format!(
                r#"{{"action":"subscribe","payload":{{"events":"{}"}}}}"#,
                "é".repeat(500)
            ),
            format!(r#"{{"action":"{long}","id":"x"}}"#),
            format!("{}{{\"action\":\"ping\"", "\n".repeat(100_000)),
        ]
    }

    #[test]
    fn error_messages_are_bounded_whatever_the_input() {
        for text in long_inputs() {
            let e = ClientFrame::parse(&text).unwrap_err();
            let message = e.to_string();
            assert!(
                message.chars().count() <= MAX_ERROR_MESSAGE_CHARS,
                "{} characters: {message}",
                message.chars().count()
            );
        }
        // Still saying what is wrong, what was expected and where.
        let long = "a".repeat(500);
        let e = ClientFrame::parse(&format!(
            r#"{{"action":"ping","id":"c1","payload":{{"t":"{long}"}}}}"#
        ))
        .unwrap_err();
        let message = e.to_string();
        assert!(
            message.starts_with(r#"bad payload for 'ping': invalid type: string "aaa"#),
            "{message}"
        );
        assert!(message.ends_with(r#"aaa", expected u64"#), "{message}");
        assert!(message.contains('…'), "{message}");
        assert_eq!(e.id(), Some("c1"));
        let role = format!(
            r#"{{"action":"hello","payload":{{"role":"{long}","clientId":"x","version":"1"}}}}"#
        );
        let message = ClientFrame::parse(&role).unwrap_err().to_string();
        assert!(
            message.starts_with("bad payload for 'hello': unknown variant `aaa"),
            "{message}"
        );
        assert!(
            message.ends_with("aaa`, expected `extension` or `client`"),
            "{message}"
        );
        let json = format!(r#"{{"action":"{long}""#);
        let message = ClientFrame::parse(&(json + " x")).unwrap_err().to_string();
        assert_eq!(
            message,
            "malformed frame: expected `,` or `}` at line 1 column 514"
        );
        let field = format!(r#"{{"action":7,"id":"{long}"}}"#);
        let message = ClientFrame::parse(&field).unwrap_err().to_string();
        assert_eq!(
            message,
            "malformed frame: invalid type: integer `7`, expected a string at line 1 column 11"
        );
        let id = format!(r#"{{"action":"ping","id":["{long}"]}}"#);
        let message = ClientFrame::parse(&id).unwrap_err().to_string();
        assert!(
            message.starts_with(
                "malformed frame: invalid type: sequence, expected a string at line 1 column "
            ),
            "{message}"
        );
    }

    #[test]
    fn a_long_reason_keeps_its_position() {
        let long = "a".repeat(500);
        let e = serde_json::from_str::<u64>(&format!("\n\n  \"{long}\"")).unwrap_err();
        assert_eq!(e.line(), 3);
        let message = bounded_reason(&e, 100);
        assert!(message.chars().count() <= 100, "{message}");
        assert!(
            message.starts_with(r#"invalid type: string "aaa"#),
            "{message}"
        );
        assert!(
            message.ends_with(r#"aaa", expected u64 at line 3 column 504"#),
            "{message}"
        );
        // What needs no cut is left alone.
        let e = serde_json::from_str::<u64>(r#""soon""#).unwrap_err();
        assert_eq!(bounded_reason(&e, 100), e.to_string());
    }

    #[test]
    fn a_frame_must_be_a_json_object() {
        // serde's derived Deserialize would read an array as the fields in order.
        for (text, found) in [
            (r#"["ping","a",{"t":1}]"#, "an array"),
            (r#" ["ping"]"#, "an array"),
            (r#""ping""#, "a string"),
            ("true", "a boolean"),
            ("null", "null"),
            ("-4.5", "a number"),
        ] {
            let e = ClientFrame::parse(text).unwrap_err();
            assert_eq!(
                e,
                FrameError::BadJson(format!("a frame must be a JSON object, not {found}")),
                "{text}"
            );
            assert_eq!(
                e.to_string(),
                format!("malformed frame: a frame must be a JSON object, not {found}")
            );
        }
        // Text that is not JSON at all is a syntax error with its position.
        let e = ClientFrame::parse(r#"["ping","a""#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed frame: EOF while parsing a list at line 1 column 11"
        );
        // The payload too.
        for payload in ["[1]", r#""t""#, "7", "false"] {
            let text = format!(r#"{{"action":"ping","id":"p1","payload":{payload}}}"#);
            let e = ClientFrame::parse(&text).unwrap_err();
            assert!(matches!(e, FrameError::BadPayload { .. }), "{e:?}");
            assert!(
                e.to_string()
                    .starts_with("bad payload for 'ping': a payload must be a JSON object, not "),
                "{e}"
            );
            assert_eq!(e.id(), Some("p1"));
        }
        let e = ClientFrame::parse(r#"{"action":"hello","payload":["client","x","1",[],null]}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad payload for 'hello': a payload must be a JSON object, not an array"
        );
        // An absent or null payload reads as `{}`.
        assert!(ClientFrame::parse(r#"{"action":"publish","payload":null}"#).is_err());
        let f = ClientFrame::parse(r#"{"action":"unsubscribe","payload":{"events":[]}}"#).unwrap();
        assert_eq!(
            f.message,
            ClientMessage::Unsubscribe(Events { events: vec![] })
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn floats_round_trip_exactly() {
        for float in [
            "1.7275580049601788e-9",
            "-0.0009979823645894575",
            "2.2250738585072014e-308",
            "1.7976931348623157e308",
            "5e-324",
            "0.30000000000000004",
            "-0.0",
        ] {
            let wanted: f64 = float.parse().unwrap();
            let text = format!(
                r#"{{"action":"publish","id":"c9","payload":{{"event":"x","data":[{float}]}}}}"#
            );
            let frame = ClientFrame::parse(&text).unwrap();
            let ClientMessage::Publish(p) = &frame.message else {
                panic!("{frame:?}")
            };
            let read = p.data[0].as_f64().unwrap();
            assert_eq!(read.to_bits(), wanted.to_bits(), "{float} read as {read:e}");
            let again = ClientFrame::parse(&frame.to_json()).unwrap();
            let ClientMessage::Publish(q) = &again.message else {
                panic!("{again:?}")
            };
            let back = q.data[0].as_f64().unwrap();
            assert_eq!(
                back.to_bits(),
                wanted.to_bits(),
                "{float} came back as {back:e}"
            );
        }
    }
}
