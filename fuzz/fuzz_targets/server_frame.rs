//! server_frame: arbitrary bytes, read as the core reads server text (`ServerFrame::parse`), must give a frame that survives a round trip (floats bit for bit), and an unknown `type` is kept, never an error; only a JSON object is a frame, errors stay short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semantest_fuzz::{kind, same_value, TopLevel};
use semantest_protocol::{shorten, ServerFrame, ServerMessage, MAX_ERROR_MESSAGE_CHARS};
use serde_json::Value;

/// The message types of protocol v1; anything else is `ServerMessage::Other`.
const KINDS: &[&str] = &["welcome", "pong", "ack", "event", "error"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let top = TopLevel::read(text);
    // `{"type": string, "replyTo"?: string | null, "payload"?: any}`, each key once.
    let envelope = top.as_ref().and_then(|t| t.envelope("type", "replyTo"));

    // `payload` when it occurs once.
    let payload = top.as_ref().and_then(|t| t.single("payload"));

    match ServerFrame::parse(text) {
        Ok(frame) => {
            // Only an object is a frame (serde's derived Deserialize alone would also take an
            // array, as the fields in order), and a known type's payload is an object.
            let Some((kind_sent, reply_to)) = envelope else {
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
            if let Some((kind_sent, _)) = envelope {
                // Only a known type with a payload of the wrong shape is an error.
                assert!(
                    KINDS.contains(&kind_sent),
                    "unknown type {kind_sent:?} was not kept: {error}"
                );
                if let Some(payload) = payload.filter(|p| !p.is_object()) {
                    let wanted = format!("a payload must be a JSON object, not {}", kind(payload));
                    assert_eq!(message, wanted);
                }
            } else if top.is_none() {
                // JSON, but not an object: said so, whatever the value.
                if let Ok(value) = serde_json::from_str::<Value>(text) {
                    let wanted = format!("a frame must be a JSON object, not {}", kind(&value));
                    assert_eq!(message, wanted);
                }
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
