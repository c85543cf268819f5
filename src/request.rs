//! What a caller of [`crate::Machine::send`] / [`crate::Machine::request`] hears when its frame
//! gets no answer: a [`RequestError`] with a stable [`FailureCode`] and a message for people.
//!
//! A frame that the server answers is reported with [`crate::Command::Answer`] (also when the
//! answer is an `error` frame: the server's code is then in the frame). A frame that cannot be
//! answered is reported once with [`crate::Command::Fail`] and one of these codes.

/// Why a frame got no answer from any server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
#[cfg_attr(target_arch = "wasm32", derive(tsify_next::Tsify))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureCode {
    /// No answer came within the request's time limit.
    Timeout,
    /// The client was closed (or its settings retargeted) before the answer came.
    Closed,
    /// Too many frames are waiting already; this one was not taken.
    OutboxFull,
    /// A `reply` whose event came from a server that is no longer connected: it means nothing
    /// to any other server.
    Gone,
}

impl FailureCode {
    /// The code as JavaScript and JSON see it: `timeout`, `closed`, `outbox_full`, `gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::Timeout => "timeout",
            FailureCode::Closed => "closed",
            FailureCode::OutboxFull => "outbox_full",
            FailureCode::Gone => "gone",
        }
    }
}

/// A frame's failure: the code and what happened, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// Machine-readable.
    pub code: FailureCode,
    /// For people.
    pub message: String,
}

impl RequestError {
    /// A failure with `code` and `message`.
    pub fn new(code: FailureCode, message: impl Into<String>) -> RequestError {
        RequestError {
            code,
            message: message.into(),
        }
    }
}
