//! server_frame: arbitrary bytes, read as the core reads server text (`ServerFrame::parse`), must give a frame that survives a round trip (floats bit for bit), and an unknown `type` is kept, never an error; only a JSON object is a frame, errors stay short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semantest_fuzz::{kind, same_value};
use semantest_protocol::json::ReadError;
use semantest_protocol::server::KINDS;
use semantest_protocol::{shorten, ServerFrame, ServerMessage, MAX_ERROR_MESSAGE_CHARS};
use serde_json::Value;


fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The parser reads the whole text as one JSON value first (a repeated key keeps its last
    // value, an ignored field must still be a number an f64 holds and nest at most 127 deep),
    // as serde_json reads a `Value`; then the frame from that value.
    let value = serde_json::from_str::<Value>(text).ok();
    // `{"type": string, "replyTo"?: string | null, "payload"?: any}`.
    let envelope = value.as_ref().and_then(|v| {
        let object = v.as_object()?;
        let kind = object.get("type")?.as_str()?;
        let reply_to = match object.get("replyTo") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return None,
        };
        Some((kind, reply_to, object.get("payload")))
    });

    match ServerFrame::parse(text) {
        Ok(frame) => {
            // Only an object is a frame (serde's derived Deserialize alone would also take an
            // array, as the fields in order), and a known type's payload is an object.
            let Some((kind_sent, reply_to, payload)) = envelope else {
                panic!(
                    "{:?} is not a frame object, yet it parsed",
                    shorten(text, 120)
                );
            };
            match &frame.message {
                ServerMessage::Other { kind, .. } => assert!(
                    !KINDS.contains(&kind.as_str()),
                    "known type {kind:?} kept as Other"
                ),
                _ => assert!(
                    payload.is_some_and(Value::is_object),
                    "a {kind_sent} payload that is {} parsed",
                    payload.map_or("missing", kind)
                ),
            }
            assert_eq!(
                frame.message.kind(),
                kind_sent,
                "the frame's type is the one sent"
            );
            assert_eq!(
                frame.reply_to.as_deref(),
                reply_to,
                "replyTo is the one sent"
            );
            let json = frame.to_json();
            let again = ServerFrame::parse(&json)
                .unwrap_or_else(|e| panic!("to_json gave {json:?}, which does not parse: {e}"));
            assert!(
                same_frame(&frame, &again),
                "round trip changed the frame:\n  {frame:?}\n  {again:?}"
            );
        }
        Err(error) => {
            let message = error.to_string();
            let chars = message.chars().count();
            assert!(
                chars <= MAX_ERROR_MESSAGE_CHARS,
                "{chars} characters of error message: {:?}",
                shorten(&message, 120)
            );
            match (&value, envelope) {
                // Not JSON: a syntax error, with serde_json's position.
                (None, _) => {
                    let Err(e) = serde_json::from_str::<Value>(text) else {
                        unreachable!()
                    };
                    let ReadError::Syntax(syntax) = &error else {
                        panic!("text serde_json refuses ({e}) gave {error:?}")
                    };
                    assert_eq!(
                        (message.as_str(), syntax.line, syntax.column),
                        (e.to_string().as_str(), e.line(), e.column()),
                        "the syntax error is serde_json's"
                    );
                }
                // JSON, but not an object: said so, whatever the value.
                (Some(value), _) if !value.is_object() => {
                    let wanted = format!("a frame must be a JSON object, not {}", kind(value));
                    assert_eq!(message, wanted);
                }
                // Only a known type with a payload of the wrong shape is an error.
                (Some(_), Some((kind_sent, _, payload))) => {
                    assert!(
                        KINDS.contains(&kind_sent),
                        "unknown type {kind_sent:?} was not kept: {error}"
                    );
                    match payload.filter(|p| !p.is_object()) {
                        Some(payload) => assert_eq!(
                            message,
                            format!("a payload must be a JSON object, not {}", kind(payload))
                        ),
                        None if payload.is_none() => assert_eq!(
                            message, "a payload must be a JSON object, not null",
                            "a missing payload is null"
                        ),
                        None => {}
                    }
                }
                // An object whose `type` or `replyTo` is wrong.
                (Some(_), None) => {}
            }
        }
    }
});

/// Equal, floats in `data` or an unknown payload bit for bit (see `same_value`).
fn same_frame(a: &ServerFrame, b: &ServerFrame) -> bool {
    a.reply_to == b.reply_to
        && match (&a.message, &b.message) {
            (ServerMessage::Event(x), ServerMessage::Event(y)) => {
                x.event == y.event
                    && x.id == y.id
                    && x.from == y.from
                    && x.in_reply_to == y.in_reply_to
                    && same_value(&x.data, &y.data)
            }
            (
                ServerMessage::Other { kind, payload },
                ServerMessage::Other {
                    kind: kind2,
                    payload: payload2,
                },
            ) => kind == kind2 && same_value(payload, payload2),
            (x, y) => x == y,
        }
}
