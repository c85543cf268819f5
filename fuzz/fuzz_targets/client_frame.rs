//! client_frame: arbitrary bytes, read as the server reads a text frame (`ClientFrame::parse`), must give a frame that survives a round trip (floats bit for bit) or an error that keeps the frame's id and stays short; only a JSON object is a frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semantest_fuzz::{kind, same_value, TopLevel};
use semantest_protocol::{
    shorten, ClientFrame, ClientMessage, ErrorCode, FrameError, ServerFrame, ServerMessage,
    MAX_ERROR_MESSAGE_CHARS,
};
use serde_json::Value;

/// The actions of protocol v1.
const ACTIONS: &[&str] = &[
    "hello",
    "ping",
    "subscribe",
    "unsubscribe",
    "publish",
    "reply",
];

/// `FrameError::UnknownAction` names the action through `shorten(action, 64)`: at most 64
/// characters and `…`.
const ACTION_CHARS: usize = 64 + 1;

/// "unknown action '" (16 characters) + the shortened action + "'".
const UNKNOWN_ACTION_MESSAGE_CHARS: usize = 16 + ACTION_CHARS + 1;

fuzz_target!(|data: &[u8]| {
    // A WebSocket text frame is UTF-8 by definition; the server never sees anything else.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let top = TopLevel::read(text);
    // `{"action": string, "id"?: string | null, "payload"?: any}`, each key once.
    let envelope = top.as_ref().and_then(|t| t.envelope("action", "id"));

    // `payload` when it occurs once.
    let payload = top.as_ref().and_then(|t| t.single("payload"));

    match ClientFrame::parse(text) {
        Ok(frame) => {
            // Only an object is a frame (serde's derived Deserialize alone would also take an
            // array, as the fields in order), and its payload is an object, null or absent.
            let Some((sent, id)) = envelope else {
                panic!(
                    "{:?} is not a frame object, yet it parsed",
                    shorten(text, 120)
                );
            };
            if let Some(payload) = payload {
                assert!(
                    matches!(payload, Value::Null | Value::Object(_)),
                    "a payload that is {} parsed",
                    kind(payload)
                );
            }
            let action = frame.message.action();
            assert!(ACTIONS.contains(&action), "action {action:?}");
            assert_eq!(action, sent, "the frame's action is the one sent");
            assert_eq!(
                frame.id,
                id.unwrap_or_default(),
                "the frame's id is the one sent"
            );
            let json = frame.to_json();
            let again = ClientFrame::parse(&json)
                .unwrap_or_else(|e| panic!("to_json gave {json:?}, which does not parse: {e}"));
            assert!(
                same_frame(&frame, &again),
                "round trip changed the frame:\n  {frame:?}\n  {again:?}"
            );
        }
        Err(error) => {
            if let Some((sent, id)) = envelope {
                // The envelope was readable, so the error is about the action or the payload,
                // and the error frame can answer the frame by its id.
                assert_eq!(error.id(), id, "{error:?} lost the id");
                match &error {
                    FrameError::BadPayload { action, reason, .. } => {
                        assert_eq!(action, sent);
                        if let Some(payload) = payload.filter(|p| !p.is_object() && !p.is_null()) {
                            let wanted =
                                format!("a payload must be a JSON object, not {}", kind(payload));
                            assert_eq!(*reason, wanted);
                        }
                    }
                    FrameError::UnknownAction { action, .. } => {
                        assert!(!ACTIONS.contains(&sent), "{sent:?} is known");
                        assert_eq!(*action, shorten(sent, 64));
                    }
                    other => panic!("a readable envelope gave {other:?}"),
                }
            } else if top.is_none() {
                // JSON, but not an object: said so, whatever the value.
                if let Ok(value) = serde_json::from_str::<Value>(text) {
                    let wanted = format!("a frame must be a JSON object, not {}", kind(&value));
                    assert_eq!(error, FrameError::BadJson(wanted));
                }
            }
            check_error(&error);
        }
    }
});

/// Properties of every error, whatever the input.
fn check_error(error: &FrameError) {
    let message = error.to_string();
    let code = match error {
        FrameError::BadJson(_) => ErrorCode::BadJson,
        FrameError::UnknownAction { action, .. } => {
            assert!(action.chars().count() <= ACTION_CHARS, "{action:?}");
            assert!(
                message.chars().count() <= UNKNOWN_ACTION_MESSAGE_CHARS,
                "{message:?}"
            );
            ErrorCode::UnknownAction
        }
        FrameError::BadPayload { action, .. } => {
            assert!(ACTIONS.contains(&action.as_str()), "{action:?}");
            ErrorCode::BadPayload
        }
        other => panic!("a FrameError this target does not know: {other:?}"),
    };
    // serde's reasons (BadJson, BadPayload) quote the offending input; the protocol cuts them.
    let chars = message.chars().count();
    assert!(
        chars <= MAX_ERROR_MESSAGE_CHARS,
        "{chars} characters of error message: {:?}",
        shorten(&message, 120)
    );
    // What the server answers (server/src/reply.rs): an `error` frame that a client reads back
    // unchanged.
    let answer = ServerFrame::error(error.id().map(str::to_owned), code, message);
    let json = answer.to_json();
    let read = ServerFrame::parse(&json)
        .unwrap_or_else(|e| panic!("error frame {json:?} does not parse: {e}"));
    assert_eq!(read, answer);
    assert!(matches!(read.message, ServerMessage::Error(_)));
}

/// Equal, floats in `data` bit for bit (see `same_value`).
fn same_frame(a: &ClientFrame, b: &ClientFrame) -> bool {
    a.id == b.id
        && match (&a.message, &b.message) {
            (ClientMessage::Publish(x), ClientMessage::Publish(y)) => {
                x.event == y.event && same_value(&x.data, &y.data)
            }
            (ClientMessage::Reply(x), ClientMessage::Reply(y)) => {
                x.to == y.to && x.event == y.event && same_value(&x.data, &y.data)
            }
            (x, y) => x == y,
        }
}
