//! server_frame: arbitrary bytes, read as the core reads server text (`ServerFrame::parse`), must give a frame that survives a round trip, and an unknown `type` is kept, never an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semantest_fuzz::{same_value, TopLevel};
use semantest_protocol::{ServerFrame, ServerMessage};

/// The message types of protocol v1; anything else is `ServerMessage::Other`.
const KINDS: &[&str] = &["welcome", "pong", "ack", "event", "error"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let top = TopLevel::read(text);
    // `{"type": string, "replyTo"?: string | null, "payload"?: any}`, each key once.
    let envelope = top.as_ref().and_then(|t| t.envelope("type", "replyTo"));

    match ServerFrame::parse(text) {
        Ok(frame) => {
            if let ServerMessage::Other { kind, .. } = &frame.message {
                assert!(
                    !KINDS.contains(&kind.as_str()),
                    "known type {kind:?} kept as Other"
                );
            }
            if let Some((kind, reply_to)) = envelope {
                assert_eq!(
                    frame.message.kind(),
                    kind,
                    "the frame's type is the one sent"
                );
                assert_eq!(
                    frame.reply_to.as_deref(),
                    reply_to,
                    "replyTo is the one sent"
                );
            }
            let json = frame.to_json();
            let again = ServerFrame::parse(&json)
                .unwrap_or_else(|e| panic!("to_json gave {json:?}, which does not parse: {e}"));
            assert!(
                same_frame(&frame, &again),
                "round trip changed the frame:\n  {frame:?}\n  {again:?}"
            );
        }
        Err(error) => {
            if let Some((kind, _)) = envelope {
                // Only a known type with a payload of the wrong shape is an error.
                assert!(
                    KINDS.contains(&kind),
                    "unknown type {kind:?} was not kept: {error}"
                );
            }
        }
    }
});

/// Equal, except that a float in `data` or an unknown payload may move in its last bits.
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
