//! Semantest wire protocol v1: the typed frames that the core, the server and the tools exchange.
//!
//! # Layout
//! - [`signature`]: the answer of `GET /signature`, which tells a Semantest server from anything else.
//! - [`client`]: frames a client sends (`{"action", "id", "payload"}`), parsed once at the edge
//!   into [`ClientMessage`].
//! - [`server`]: frames a server sends (`{"type", "replyTo"?, "payload"}`), including the
//!   `error` frame and its [`ErrorCode`]s.
//! - [`token`]: [`Token`], the API key a client shows a production server, never printed.
//! - `keys` (feature `keys`, servers only): which keys are valid and where a client shows one.
//! - [`generation`]: image generation through a ChatGPT tab: its events, stages and limits.
//! - [`identity`]: installs, paired devices, pairing codes, and what a keyless socket may do.
//! - [`rules`]: the rules of routing both servers follow (subscription cap, names, errors).
//! - [`dedupe`]: the repeat rule of both servers ([`DEDUPE_WINDOW_SECS`]).
//! - [`json`]: JSON text to `serde_json::Value` and back, and typed reads of an object's
//!   fields, by hand: how the client (the .wasm) reads and writes without serde's code.
//!
//! JSON text frames only, each a JSON object. Servers read client frames with serde; the client
//! reads server frames and writes its own by hand ([`json`]), checked against serde by tests.
//! Parsing never panics: anything that is not a valid frame becomes an error that names what
//! is wrong ([`FrameError`] for a client frame, [`json::ReadError`] for a server frame), in at
//! most [`MAX_ERROR_MESSAGE_CHARS`] characters, so the receiver can answer with an `error` frame.

pub mod client;
pub mod dedupe;
pub mod generation;
pub mod identity;
pub mod json;
#[cfg(feature = "keys")]
pub mod keys;
pub mod rules;
pub mod server;
pub mod signature;
pub mod token;

pub use client::{
    frame_id, shorten, valid_event_name, valid_file_name, ClientFrame, ClientMessage, Events,
    FrameError, Hello, Ping, Publish, Reply, Role, UploadRequest, EXTENSION_EVENTS,
    IMAGE_DOWNLOAD_REQUESTED, MAX_ERROR_MESSAGE_CHARS,
};
#[cfg(feature = "keys")]
pub use dedupe::dedupe_key;
pub use dedupe::DEDUPE_WINDOW_SECS;
pub use server::{
    Ack, ErrorCode, ErrorPayload, EventPayload, Pong, ServerFrame, ServerMessage, UploadUrl,
    Welcome,
};
pub use signature::{Signature, SERVICE_NAME};
pub use token::{Token, TokenError};

/// The WebSocket subprotocol of protocol v1. A client with an API key offers it beside
/// `bearer.<key>`; the server selects it (never the key entry).
pub const SUBPROTOCOL: &str = "semantest.v1";

/// The protocol and signature version this code speaks.
pub const PROTOCOL_VERSION: &str = "1.0.0";
