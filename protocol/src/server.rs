//! Server frames: `{"type": "...", "replyTo"?: "...", "payload": {...}}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::MAX_ERROR_MESSAGE_CHARS;
use crate::json::{self, Fields, FromFields, ReadError};
use crate::Signature;

/// `welcome`: the answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    /// The server's id for this connection.
    pub connection_id: String,
    /// The same signature `GET /signature` gives.
    pub server: Signature,
    /// How often the server expects to hear from the client.
    pub heartbeat_secs: u64,
}

/// `pong`: the answer to `ping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Pong {
    /// The `t` of the ping, echoed.
    pub t: u64,
    /// The server's clock when it answered, in milliseconds since the Unix epoch.
    pub server_time: u64,
}

/// `ack`: what the server did with a `subscribe`, `unsubscribe`, `publish` or `reply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
pub struct Ack {
    /// The action acknowledged.
    pub action: String,
    /// `subscribe` / `unsubscribe`: the connection's subscriptions now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// `publish`: the id the event got (what a `reply` names in `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `publish` / `reply`: to how many connections it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<usize>,
    /// `publish`: held until an extension subscribes (or `no_extension` when the hold expires).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

impl Ack {
    /// The ack of `action` that says nothing more (e.g. `revoke`).
    pub fn of(action: &str) -> Ack {
        Ack {
            action: action.to_owned(),
            events: None,
            id: None,
            delivered: None,
            held: false,
        }
    }
}

/// `event`: a published event (or a reply to one) delivered to a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct EventPayload {
    /// The event name.
    pub event: String,
    /// This event's id (for a `reply`).
    pub id: String,
    /// The connection id of the sender.
    pub from: String,
    /// What the sender attached: any JSON value.
    #[serde(default)]
    #[cfg_attr(feature = "typescript", tsify(type = "unknown"))]
    pub data: Value,
    /// For a reply: the id of the event it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
}

/// `uploadUrl`: where to upload the image of a `requestUpload` (public service only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct UploadUrl {
    /// The image's id on the service.
    pub image_id: String,
    /// A presigned URL to `PUT` the bytes to, with `Content-Type` as requested.
    pub put_url: String,
    /// A presigned URL to `GET` the image from afterwards.
    pub get_url: String,
    /// How long both URLs stay valid, in seconds.
    pub expires_in_secs: u64,
    /// Headers the `PUT` must carry exactly as given (they are part of its signature:
    /// `content-type`, `content-length` and the checksum S3 verifies).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// The error codes of protocol v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame was not a JSON object with a string `action`.
    BadJson,
    /// The action does not exist.
    UnknownAction,
    /// The action exists but its payload has the wrong shape.
    BadPayload,
    /// A binary frame, where only JSON text frames are spoken.
    BadFrame,
    /// The frame or message is over the size limit.
    TooLarge,
    /// Too many messages or requests.
    RateLimited,
    /// Missing or wrong credentials.
    Unauthorized,
    /// The request needs an extension and none is connected.
    NoExtension,
    /// A pairing code that is wrong, already used or expired.
    InvalidCode,
    /// The server failed; the request may be retried.
    Internal,
}

impl ErrorCode {
    /// Every code of protocol v1, in declaration order.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::BadJson,
        ErrorCode::UnknownAction,
        ErrorCode::BadPayload,
        ErrorCode::BadFrame,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unauthorized,
        ErrorCode::NoExtension,
        ErrorCode::InvalidCode,
        ErrorCode::Internal,
    ];

    /// The code's wire name (`bad_json`, …), as serde writes it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownAction => "unknown_action",
            ErrorCode::BadPayload => "bad_payload",
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NoExtension => "no_extension",
            ErrorCode::InvalidCode => "invalid_code",
            ErrorCode::Internal => "internal",
        }
    }

    /// Reads a code from its wire name.
    fn read(field: &'static str, value: Value) -> Result<ErrorCode, ReadError> {
        json::variant(field, value, &Self::ALL, Self::name)
    }
}

/// `error {code, message, retryAfterSecs?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct ErrorPayload {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// What went wrong, for a person.
    pub message: String,
    /// `rate_limited`: how long to wait before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl FromFields for Welcome {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(Welcome {
            connection_id: f.string("connectionId")?,
            server: f.with("server", Signature::field)?,
            heartbeat_secs: f.u64("heartbeatSecs")?,
        })
    }
}

impl FromFields for Pong {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(Pong {
            t: f.u64("t")?,
            server_time: f.u64("serverTime")?,
        })
    }
}

impl FromFields for Ack {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(Ack {
            action: f.string("action")?,
            events: f.opt_strings("events")?,
            id: f.opt_string("id")?,
            delivered: f.optional("delivered", json::fitting)?,
            held: f.bool_or_false("held")?,
        })
    }
}

impl FromFields for EventPayload {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(EventPayload {
            event: f.string("event")?,
            id: f.string("id")?,
            from: f.string("from")?,
            data: f.value("data"),
            in_reply_to: f.opt_string("inReplyTo")?,
        })
    }
}

impl FromFields for UploadUrl {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(UploadUrl {
            image_id: f.string("imageId")?,
            put_url: f.string("putUrl")?,
            get_url: f.string("getUrl")?,
            expires_in_secs: f.u64("expiresInSecs")?,
            headers: match f.take("headers") {
                None => BTreeMap::new(),
                Some(v) => string_map("headers", v)?,
            },
        })
    }
}

impl FromFields for ErrorPayload {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(ErrorPayload {
            code: f.with("code", ErrorCode::read)?,
            message: f.string("message")?,
            retry_after_secs: f.opt_u64("retryAfterSecs")?,
        })
    }
}

/// `value` as an object of strings.
fn string_map(field: &'static str, value: Value) -> Result<BTreeMap<String, String>, ReadError> {
    match value {
        Value::Object(map) => {
            // One insert at a time: collecting sorts the pairs first, and the sort was 3 KB
            // of the .wasm.
            let mut strings = BTreeMap::new();
            for (k, v) in map {
                strings.insert(k, json::string(field, v)?);
            }
            Ok(strings)
        }
        other => Err(json::wrong(field, "an object of strings", &other)),
    }
}

/// The server message types of protocol v1 (every other `type` is [`ServerMessage::Other`]).
pub const KINDS: &[&str] = &[
    "welcome",
    "pong",
    "ack",
    "event",
    "uploadUrl",
    "registered",
    "pairCode",
    "paired",
    "devices",
    "error",
];

/// The server message types that [`ServerFrame::parse_for_core`] reads typed.
pub const CORE_KINDS: &[&str] = &["welcome", "pong", "event", "registered", "paired", "error"];

/// The server messages of protocol v1 that this crate knows.
// The envelope is not a serde type: `ServerFrame::to_json` writes it around each payload's
// serde form, `ServerFrame::parse` reads it by hand. The `serde` attributes here are read only
// by Tsify (feature `typescript`), to describe the wire shape `{"type": "pong", "payload":
// {…}}` to TypeScript.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "typescript",
    derive(tsify_next::Tsify),
    serde(tag = "type", content = "payload", rename_all = "camelCase")
)]
#[non_exhaustive]
pub enum ServerMessage {
    /// Answer to `hello`.
    Welcome(Welcome),
    /// Answer to `ping`.
    Pong(Pong),
    /// Answer to `subscribe`, `unsubscribe`, `publish`, `reply`.
    Ack(Ack),
    /// A published event or a reply, for its subscribers or its publisher.
    Event(EventPayload),
    /// Answer to `requestUpload`.
    UploadUrl(UploadUrl),
    /// Answer to `register`.
    Registered(crate::identity::Registered),
    /// Answer to `pairCode`.
    PairCode(crate::identity::PairCodeIssued),
    /// Answer to `pair`.
    Paired(crate::identity::Paired),
    /// Answer to `devices`.
    Devices(crate::identity::DeviceList),
    /// Something the client sent was wrong; the connection stays open unless said otherwise.
    Error(ErrorPayload),
    /// A message type this crate does not model (newer server); kept as raw JSON.
    #[cfg_attr(feature = "typescript", serde(skip))]
    Other {
        /// The `type` as sent.
        kind: String,
        /// The payload as sent.
        payload: Value,
    },
}

impl ServerMessage {
    /// The wire name of this message type.
    pub fn kind(&self) -> &str {
        match self {
            ServerMessage::Welcome(_) => "welcome",
            ServerMessage::Pong(_) => "pong",
            ServerMessage::Ack(_) => "ack",
            ServerMessage::Event(_) => "event",
            ServerMessage::UploadUrl(_) => "uploadUrl",
            ServerMessage::Registered(_) => "registered",
            ServerMessage::PairCode(_) => "pairCode",
            ServerMessage::Paired(_) => "paired",
            ServerMessage::Devices(_) => "devices",
            ServerMessage::Error(_) => "error",
            ServerMessage::Other { kind, .. } => kind,
        }
    }
}

/// A server frame: the message and, for replies, the id of the client frame it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerFrame {
    /// The `id` of the client frame this answers.
    pub reply_to: Option<String>,
    /// The message.
    pub message: ServerMessage,
}

/// The frame as serde writes it (servers).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RawServerFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_to: Option<String>,
    #[serde(default)]
    payload: Value,
}

impl ServerFrame {
    /// A reply to the client frame `reply_to`.
    pub fn reply(reply_to: Option<String>, message: ServerMessage) -> Self {
        ServerFrame { reply_to, message }
    }

    /// An `error` frame answering `reply_to`.
    pub fn error(reply_to: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::reply(
            reply_to,
            ServerMessage::Error(ErrorPayload {
                code,
                message: message.into(),
                retry_after_secs: None,
            }),
        )
    }

    /// A `rate_limited` error answering `reply_to` that says when to try again.
    pub fn rate_limited(
        reply_to: Option<String>,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        ServerFrame::reply(
            reply_to,
            ServerMessage::Error(ErrorPayload {
                code: ErrorCode::RateLimited,
                message: message.into(),
                retry_after_secs: Some(retry_after_secs),
            }),
        )
    }

    /// The error answering a frame that could not be read: its code and reason, and its id
    /// when the text had one.
    pub fn refusing(error: &crate::FrameError) -> Self {
        ServerFrame::error(
            error.id().map(str::to_owned),
            error.code(),
            error.to_string(),
        )
    }

    /// The JSON text of this frame.
    pub fn to_json(&self) -> String {
        let payload = match &self.message {
            ServerMessage::Welcome(w) => serde_json::to_value(w),
            ServerMessage::Pong(p) => serde_json::to_value(p),
            ServerMessage::Ack(a) => serde_json::to_value(a),
            ServerMessage::Event(e) => serde_json::to_value(e),
            ServerMessage::UploadUrl(u) => serde_json::to_value(u),
            ServerMessage::Registered(r) => serde_json::to_value(r),
            ServerMessage::PairCode(c) => serde_json::to_value(c),
            ServerMessage::Paired(p) => serde_json::to_value(p),
            ServerMessage::Devices(d) => serde_json::to_value(d),
            ServerMessage::Error(e) => serde_json::to_value(e),
            ServerMessage::Other { payload, .. } => Ok(payload.clone()),
        }
        .unwrap_or(Value::Null);
        let raw = RawServerFrame {
            kind: self.message.kind().to_owned(),
            reply_to: self.reply_to.clone(),
            payload,
        };
        serde_json::to_string(&raw).unwrap_or_default()
    }

    /// Reads one server frame. Unknown types become [`ServerMessage::Other`]; a known type with
    /// a malformed payload or text that is not a frame at all is an error. The frame, and the
    /// payload of a known type, must be JSON objects. The error's message is at most
    /// [`MAX_ERROR_MESSAGE_CHARS`] characters whatever the text.
    ///
    /// Read by hand ([`crate::json`]), which accepts what the payloads' serde derives accept
    /// and reads the same values (tests/wire.rs), with these differences from the serde reader
    /// it replaced: a repeated key takes its last value (serde refused a repeated `type`,
    /// `replyTo` or `payload`); a nested struct given as an array (`server`, an item of
    /// `items`) is refused, as payloads already were; an `ErrorCode` is read only from its
    /// name (serde also took `{"bad_json": null}`); and the whole text is read as JSON first,
    /// so an over-large number or over-deep nesting anywhere is a syntax error.
    pub fn parse(text: &str) -> Result<Self, ReadError> {
        Self::read::<true>(text).map_err(bounded)
    }

    /// Reads one server frame as the core needs it: like [`ServerFrame::parse`], but only the
    /// types the core acts on ([`CORE_KINDS`]: `welcome`, `pong`, `event`, `registered`,
    /// `paired`, `error`) are typed; `ack`, `uploadUrl`, `pairCode` and `devices` stay
    /// [`ServerMessage::Other`] with their payload as sent (the core only hands their text on,
    /// and its requester reads them). The readers of those four were 9.6 KB of the .wasm.
    pub fn parse_for_core(text: &str) -> Result<Self, ReadError> {
        Self::read::<false>(text).map_err(bounded)
    }

    /// `ALL`: every known type typed; else only [`CORE_KINDS`] (the others' code is then
    /// never compiled).
    fn read<const ALL: bool>(text: &str) -> Result<Self, ReadError> {
        let mut f = Fields::parse(text, "frame")?;
        let kind = f.string("type")?;
        let reply_to = f.opt_string("replyTo")?;
        let payload = f.value("payload");
        let message = match kind.as_str() {
            "welcome" => ServerMessage::Welcome(Welcome::read(payload, "payload")?),
            "pong" => ServerMessage::Pong(Pong::read(payload, "payload")?),
            "ack" if ALL => ServerMessage::Ack(Ack::read(payload, "payload")?),
            "event" => ServerMessage::Event(EventPayload::read(payload, "payload")?),
            "uploadUrl" if ALL => ServerMessage::UploadUrl(UploadUrl::read(payload, "payload")?),
            "registered" => ServerMessage::Registered(FromFields::read(payload, "payload")?),
            "pairCode" if ALL => ServerMessage::PairCode(FromFields::read(payload, "payload")?),
            "paired" => ServerMessage::Paired(FromFields::read(payload, "payload")?),
            "devices" if ALL => ServerMessage::Devices(FromFields::read(payload, "payload")?),
            "error" => ServerMessage::Error(ErrorPayload::read(payload, "payload")?),
            _ => ServerMessage::Other { kind, payload },
        };
        Ok(ServerFrame { reply_to, message })
    }
}

/// `e` with a message of at most [`MAX_ERROR_MESSAGE_CHARS`] characters: only a reason can be
/// longer (an unknown error code is quoted, then all the codes are listed), so it is cut.
fn bounded(e: ReadError) -> ReadError {
    match e {
        ReadError::Invalid { field, reason } => {
            // "invalid `{field}`: {reason}"
            let room = MAX_ERROR_MESSAGE_CHARS - 12 - field.chars().count();
            ReadError::Invalid {
                field,
                reason: crate::shorten(&reason, room - 1),
            }
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_frame_matches_the_design_doc() {
        let f = ServerFrame::error(
            Some("c3".into()),
            ErrorCode::UnknownAction,
            "unknown action 'nope'",
        );
        assert_eq!(
            f.to_json(),
            r#"{"type":"error","replyTo":"c3","payload":{"code":"unknown_action","message":"unknown action 'nope'"}}"#
        );
        assert_eq!(ServerFrame::parse(&f.to_json()).unwrap(), f);
    }

    #[test]
    fn pong_round_trips() {
        let f = ServerFrame::reply(
            Some("c2".into()),
            ServerMessage::Pong(Pong {
                t: 1_732_240_000_000,
                server_time: 1_732_240_000_003,
            }),
        );
        let wire: Value = serde_json::from_str(&f.to_json()).unwrap();
        let expected: Value = serde_json::from_str(
            r#"{"type":"pong","replyTo":"c2","payload":{"t":1732240000000,"serverTime":1732240000003}}"#,
        )
        .unwrap();
        assert_eq!(wire, expected);
        assert_eq!(ServerFrame::parse(&f.to_json()).unwrap(), f);
    }

    #[test]
    fn unknown_types_are_kept() {
        let f = ServerFrame::parse(r#"{"type":"newThing","payload":{"event":"x"}}"#).unwrap();
        assert_eq!(f.message.kind(), "newThing");
        assert!(ServerFrame::parse("nope").is_err());
    }

    #[test]
    fn a_frame_and_a_known_payload_must_be_json_objects() {
        // serde's derived Deserialize would read these arrays as the fields in order.
        let e = ServerFrame::parse(r#"["pong","c2",{"t":1,"serverTime":2}]"#).unwrap_err();
        assert_eq!(e.to_string(), "a frame must be a JSON object, not an array");
        let e =
            ServerFrame::parse(r#"{"type":"pong","replyTo":"c2","payload":[1,2]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a payload must be a JSON object, not an array"
        );
        let e = ServerFrame::parse("42").unwrap_err();
        assert_eq!(e.to_string(), "a frame must be a JSON object, not a number");
        // Not JSON at all: a syntax error, with its position.
        let e = ServerFrame::parse("[1,").unwrap_err();
        assert_eq!(
            e.to_string(),
            "EOF while parsing a value at line 1 column 3"
        );
        assert!(matches!(e, ReadError::Syntax(_)), "{e:?}");
        // An unknown type keeps whatever payload it has.
        let f = ServerFrame::parse(r#"{"type":"newThing","payload":[1]}"#).unwrap();
        assert_eq!(f.message.kind(), "newThing");
    }

    #[test]
    fn error_codes_are_read_by_their_serde_names() {
        for code in ErrorCode::ALL {
            let name = code.name();
            assert_eq!(serde_json::to_value(code).unwrap(), name);
            assert_eq!(ErrorCode::read("code", Value::from(name)), Ok(code));
        }
        let e = ErrorCode::read("code", Value::from("Bad_json")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid `code`: unknown variant `Bad_json`, expected `bad_json`, "),
            "{e}"
        );
    }

    #[test]
    fn a_payload_error_names_the_field() {
        let e = ServerFrame::parse(r#"{"type":"ack","payload":{"held":null,"action":"x"}}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid type for `held`: null, expected a boolean"
        );
        let e = ServerFrame::parse(r#"{"type":"pong","payload":{"t":1}}"#).unwrap_err();
        assert_eq!(e, ReadError::Missing("serverTime"));
        let e = ServerFrame::parse(r#"{"replyTo":"c1","payload":{}}"#).unwrap_err();
        assert_eq!(e.to_string(), "missing field `type`");
        let e = ServerFrame::parse(r#"{"type":"x","replyTo":7}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid type for `replyTo`: a number, expected a string"
        );
        let f = ServerFrame::parse(r#"{"type":"x","replyTo":null}"#).unwrap();
        assert_eq!(f.reply_to, None);
        assert_eq!(
            f.message,
            ServerMessage::Other {
                kind: "x".into(),
                payload: Value::Null
            }
        );
    }

    #[test]
    fn error_messages_are_bounded_whatever_the_text() {
        let long = "a".repeat(500);
        let texts = [
            format!(r#"{{"type":"error","payload":{{"code":"{long}","message":"x"}}}}"#),
            format!(r#"{{"type":"pong","payload":{{"t":"{long}","serverTime":1}}}}"#),
            format!(r#"{{"type":"ack","payload":{{"action":"{long}","events":"{long}"}}}}"#),
            format!(r#""{long}""#),
            format!(r#"{{"type":"{long}" "#),
        ];
        for text in &texts {
            let e = ServerFrame::parse(text).unwrap_err();
            let message = e.to_string();
            assert!(
                message.chars().count() <= MAX_ERROR_MESSAGE_CHARS,
                "{} characters: {message}",
                message.chars().count()
            );
        }
        let message = ServerFrame::parse(&texts[0]).unwrap_err().to_string();
        assert!(
            message.starts_with("invalid `code`: unknown variant `aa"),
            "{message}"
        );
        assert!(
            message.contains("…`, expected `bad_json`, `unknown_action`, `bad_payload`"),
            "{message}"
        );
        assert!(message.ends_with('…'), "{message}");
        let message = ServerFrame::parse(&texts[1]).unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid type for `t`: a string, expected an unsigned integer"
        );
        // A cut message keeps its position.
        let e = ServerFrame::parse(&format!("\n{{\"type\":\"x\"}} \"{long}\"")).unwrap_err();
        assert_eq!(e.to_string(), "trailing characters at line 2 column 14");
    }
}
