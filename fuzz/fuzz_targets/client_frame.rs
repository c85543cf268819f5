//! client_frame: arbitrary bytes, read as the server reads a text frame (`ClientFrame::parse`), must give a frame that survives a round trip or an error that keeps the frame's id and stays short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semantest_fuzz::{same_value, strict, TopLevel, STRICT_MESSAGE_CHARS};
use semantest_protocol::{
    shorten, ClientFrame, ClientMessage, ErrorCode, FrameError, ServerFrame, ServerMessage,
};

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

    match ClientFrame::parse(text) {
        Ok(frame) => {
            let action = frame.message.action();
            assert!(ACTIONS.contains(&action), "action {action:?}");
            if let Some((sent, id)) = envelope {
                assert_eq!(action, sent, "the frame's action is the one sent");
                assert_eq!(
                    frame.id,
                    id.unwrap_or_default(),
                    "the frame's id is the one sent"
                );
            }
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
                    FrameError::BadPayload { action, .. } => assert_eq!(action, sent),
                    FrameError::UnknownAction { action, .. } => {
                        assert!(!ACTIONS.contains(&sent), "{sent:?} is known");
                        assert_eq!(*action, shorten(sent, 64));
                    }
                    other => panic!("a readable envelope gave {other:?}"),
                }
            }
            check_error(text, &error);
        }
    }
});

/// Properties of every error, whatever the input.
fn check_error(text: &str, error: &FrameError) {
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
    // serde's reasons (BadJson, BadPayload) quote the offending input unshortened, escaped with
    // `{:?}`, which turns one input byte into at most six (`\u{7f}`). So the guaranteed bound
    // is linear: no amplification, plus serde's fixed text and a line and column.
    assert!(
        message.len() <= 6 * text.len() + 256,
        "{} bytes of message for {} bytes of input",
        message.len(),
        text.len()
    );
    if strict() {
        let chars = message.chars().count();
        assert!(
            chars <= STRICT_MESSAGE_CHARS,
            "{chars} characters of error message: {:?}",
            shorten(&message, 120)
        );
    }
    // What the server answers (server/src/reply.rs): an `error` frame that a client reads back
    // unchanged.
    let answer = ServerFrame::error(error.id().map(str::to_owned), code, message);
    let json = answer.to_json();
    let read = ServerFrame::parse(&json)
        .unwrap_or_else(|e| panic!("error frame {json:?} does not parse: {e}"));
    assert_eq!(read, answer);
    assert!(matches!(read.message, ServerMessage::Error(_)));
}

/// Equal, except that a float in `data` may move in its last bits (see `same_value`).
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
