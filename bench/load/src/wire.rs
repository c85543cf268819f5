//! One measured message on the wire: a [`Probe`] (sequence number, scheduled and actual send
//! times) encoded for each [`Proto`], and the check of its answer.
//!
//! - `semantest`: `{"action":"ping","id":"<seq>.<sent>","payload":{"t":<t>}}`, padded to the
//!   size asked for with an extra top-level `"pad"` key (the protocol's parser ignores unknown
//!   top-level keys; a size too small for the key is not padded). The answer is the `pong`
//!   whose `replyTo` is the id and whose `payload.t` is `t`.
//! - `echo` and `tcp`: the text `<seq>:<t>:<sent>:` padded with `x` to the size; the answer
//!   must be the same bytes (checked by rebuilding them from the header, so the receiver needs
//!   no copy). `tcp` adds the length prefix of [`crate::codec`].
//!
//! `t` (when the message was due) and `sent` (when it actually went out) are microseconds
//! since the run started: the receiver gets them back from the answer itself, which open-loop
//! sending needs (see [`crate::rate`]).

use std::borrow::Cow;

use serde::Deserialize;

use crate::codec::{self, CodecError};
use crate::proto::Proto;

/// What one message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Its number on its connection, from 0.
    pub seq: u64,
    /// When it was due to be sent, in microseconds since the run started.
    pub t_us: u64,
    /// When it was actually sent, in microseconds since the run started.
    pub sent_us: u64,
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A WebSocket text message.
    Text(String),
    /// Bytes for a raw TCP stream, length prefix included.
    Frame(Vec<u8>),
}

impl Outgoing {
    /// Its size on the wire, without WebSocket framing (but with the TCP length prefix).
    pub fn len(&self) -> usize {
        match self {
            Outgoing::Text(text) => text.len(),
            Outgoing::Frame(frame) => frame.len(),
        }
    }

    /// Whether it is empty (it never is).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why an answer is not the one expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not a server frame (`semantest`).
    #[error("not a server frame: {0}")]
    NotAFrame(String),
    /// The server answered with an `error` frame.
    #[error("the server answered an error: {0}")]
    ServerError(String),
    /// A frame of another type, or a pong without its `replyTo` or `t`.
    #[error("expected a pong with replyTo and t, got a '{0}'")]
    Unexpected(String),
    /// Not the bytes sent (`echo`, `tcp`).
    #[error("the echo differs from what was sent ({len} bytes)")]
    NotEcho {
        /// The answer's length.
        len: usize,
    },
    /// The answer is for another message than the one waited for.
    #[error("answer to message {got}, expected {want}")]
    OutOfOrder {
        /// The answer's sequence number.
        got: u64,
        /// The one expected.
        want: u64,
    },
}

/// The message carrying `probe`, about `size` bytes.
pub fn encode(proto: Proto, probe: Probe, size: usize) -> Result<Outgoing, CodecError> {
    Ok(match proto {
        Proto::Semantest => Outgoing::Text(ping(probe, size)),
        Proto::Echo => Outgoing::Text(echo_text(probe, size)),
        Proto::Tcp => Outgoing::Frame(codec::encode(echo_text(probe, size).as_bytes())?),
    })
}

/// The probe an answer carries back (for `tcp`, `answer` is the payload without its prefix),
/// checked against what was sent with `size`.
pub fn decode(proto: Proto, answer: &[u8], size: usize) -> Result<Probe, WireError> {
    match proto {
        Proto::Semantest => pong(answer),
        Proto::Echo | Proto::Tcp => echoed(answer, size),
    }
}

/// The `hello` a connection sends first in `semantest` ramps, with `id` as its frame id.
pub fn hello(id: &str, client_id: &str) -> String {
    use semantest_protocol::{ClientFrame, ClientMessage, Hello, Role};
    ClientFrame::new(
        id,
        ClientMessage::Hello(Hello {
            role: Role::Client,
            client_id: client_id.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            capabilities: Vec::new(),
            token: None,
        }),
    )
    .to_json()
}

/// Whether `answer` is the `welcome` to the frame `id`.
pub fn is_welcome(answer: &[u8], id: &str) -> Result<(), WireError> {
    let frame = frame(answer)?;
    match frame.kind.as_ref() {
        "welcome" if frame.reply_to.as_deref() == Some(id) => Ok(()),
        "error" => Err(server_error(frame)),
        other => Err(WireError::Unexpected(other.to_owned())),
    }
}

fn ping(probe: Probe, size: usize) -> String {
    let base = format!(
        r#"{{"action":"ping","id":"{}.{}","payload":{{"t":{}}}"#,
        probe.seq, probe.sent_us, probe.t_us
    );
    // `base` + `,"pad":"` + padding + `"}`, or `base` + `}` when there is no room.
    const PAD_OVERHEAD: usize = r#","pad":"""#.len();
    let mut text = base;
    if size > text.len() + PAD_OVERHEAD {
        let padding = size - text.len() - PAD_OVERHEAD - 1;
        text.reserve(size - text.len());
        text.push_str(r#","pad":""#);
        text.extend(std::iter::repeat_n('x', padding));
        text.push('"');
    }
    text.push('}');
    text
}

fn echo_text(probe: Probe, size: usize) -> String {
    let mut text = format!("{}:{}:{}:", probe.seq, probe.t_us, probe.sent_us);
    if size > text.len() {
        let padding = size - text.len();
        text.extend(std::iter::repeat_n('x', padding));
    }
    text
}

fn echoed(answer: &[u8], size: usize) -> Result<Probe, WireError> {
    let not_echo = || WireError::NotEcho { len: answer.len() };
    let mut parts = answer.splitn(4, |&b| b == b':');
    let mut number = || -> Option<u64> { std::str::from_utf8(parts.next()?).ok()?.parse().ok() };
    let (Some(seq), Some(t_us), Some(sent_us)) = (number(), number(), number()) else {
        return Err(not_echo());
    };
    let probe = Probe { seq, t_us, sent_us };
    // Rebuilt exactly as it was sent: same header, same padding, same length.
    if echo_text(probe, size).as_bytes() != answer {
        return Err(not_echo());
    }
    Ok(probe)
}

/// A server frame, read only as far as the check needs.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(rename = "replyTo", default, borrow)]
    reply_to: Option<Cow<'a, str>>,
    #[serde(default)]
    payload: Option<Payload>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    t: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

fn frame(answer: &[u8]) -> Result<Frame<'_>, WireError> {
    serde_json::from_slice(answer).map_err(|e| WireError::NotAFrame(e.to_string()))
}

fn server_error(frame: Frame<'_>) -> WireError {
    let message = frame.payload.and_then(|p| p.message).unwrap_or_default();
    WireError::ServerError(semantest_protocol::shorten(&message, 200))
}

fn pong(answer: &[u8]) -> Result<Probe, WireError> {
    let frame = frame(answer)?;
    match frame.kind.as_ref() {
        "pong" => {
            let id = frame.reply_to.as_deref().and_then(|id| id.split_once('.'));
            let seq = id.and_then(|(seq, _)| seq.parse().ok());
            let sent_us = id.and_then(|(_, sent)| sent.parse().ok());
            let t_us = frame.payload.as_ref().and_then(|p| p.t);
            match (seq, t_us, sent_us) {
                (Some(seq), Some(t_us), Some(sent_us)) => Ok(Probe { seq, t_us, sent_us }),
                _ => Err(WireError::Unexpected("pong".to_owned())),
            }
        }
        "error" => Err(server_error(frame)),
        other => Err(WireError::Unexpected(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use semantest_protocol::{
        ClientFrame, ClientMessage, ErrorCode, Pong, ServerFrame, ServerMessage,
    };

    use super::*;

    const PROBE: Probe = Probe {
        seq: 42,
        t_us: 1_234_567,
        sent_us: 1_235_000,
    };

    fn text(out: Outgoing) -> String {
        match out {
            Outgoing::Text(text) => text,
            Outgoing::Frame(_) => panic!("a frame"),
        }
    }

    #[test]
    fn a_padded_ping_has_the_size_asked_and_the_real_parser_takes_it() {
        for size in [100, 1000, 16 * 1024] {
            let ping = text(encode(Proto::Semantest, PROBE, size).unwrap());
            assert_eq!(ping.len(), size);
            let frame = ClientFrame::parse(&ping).expect("the server's parser accepts it");
            assert_eq!(frame.id, "42.1235000");
            match frame.message {
                ClientMessage::Ping(p) => assert_eq!(p.t, 1_234_567),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_size_too_small_to_pad_sends_the_bare_ping() {
        let bare = r#"{"action":"ping","id":"42.1235000","payload":{"t":1234567}}"#;
        for size in [0, bare.len(), bare.len() + 8] {
            assert_eq!(text(encode(Proto::Semantest, PROBE, size).unwrap()), bare);
        }
        // The smallest padded one: an empty pad.
        let padded = text(encode(Proto::Semantest, PROBE, bare.len() + 9).unwrap());
        assert_eq!(padded.len(), bare.len() + 9);
        assert!(padded.ends_with(r#","pad":""}"#), "{padded}");
        assert!(ClientFrame::parse(&padded).is_ok());
    }

    #[test]
    fn the_servers_pong_gives_the_probe_back() {
        let pong = ServerFrame::reply(
            Some("42.1235000".into()),
            ServerMessage::Pong(Pong {
                t: 1_234_567,
                server_time: 9,
            }),
        )
        .to_json();
        assert_eq!(decode(Proto::Semantest, pong.as_bytes(), 64), Ok(PROBE));
        let error = ServerFrame::error(Some("42.1".into()), ErrorCode::BadJson, "nope").to_json();
        assert_eq!(
            decode(Proto::Semantest, error.as_bytes(), 64),
            Err(WireError::ServerError("nope".into()))
        );
        let no_id = ServerFrame::reply(
            None,
            ServerMessage::Pong(Pong {
                t: 1,
                server_time: 2,
            }),
        );
        assert!(decode(Proto::Semantest, no_id.to_json().as_bytes(), 64).is_err());
        let no_sent = ServerFrame::reply(
            Some("42".into()),
            ServerMessage::Pong(Pong {
                t: 1,
                server_time: 2,
            }),
        );
        assert!(decode(Proto::Semantest, no_sent.to_json().as_bytes(), 64).is_err());
        assert!(decode(Proto::Semantest, b"not json", 64).is_err());
    }

    #[test]
    fn an_echo_must_be_the_same_bytes() {
        for size in [0, 5, 64, 4096] {
            let sent = text(encode(Proto::Echo, PROBE, size).unwrap());
            assert_eq!(sent.len(), size.max("42:1234567:1235000:".len()));
            assert_eq!(decode(Proto::Echo, sent.as_bytes(), size), Ok(PROBE));
            // One byte changed, one missing, one more: all refused.
            let mut changed = sent.clone().into_bytes();
            let last = changed.len() - 1;
            changed[last] ^= 1;
            assert!(decode(Proto::Echo, &changed, size).is_err());
            assert!(decode(Proto::Echo, &sent.as_bytes()[..last], size).is_err());
            assert!(decode(Proto::Echo, format!("{sent}x").as_bytes(), size).is_err());
        }
    }

    #[test]
    fn a_tcp_message_is_the_echo_text_with_its_length_prefix() {
        let Outgoing::Frame(frame) = encode(Proto::Tcp, PROBE, 100).unwrap() else {
            panic!("not a frame");
        };
        assert_eq!(frame.len(), 104);
        assert_eq!(frame[..4], [0, 0, 0, 100]);
        assert_eq!(decode(Proto::Tcp, &frame[4..], 100), Ok(PROBE));
    }

    #[test]
    fn hello_and_welcome() {
        let hello = hello("h", "load-1");
        match ClientFrame::parse(&hello).unwrap().message {
            ClientMessage::Hello(h) => assert_eq!(h.client_id, "load-1"),
            other => panic!("{other:?}"),
        }
        let welcome = r#"{"type":"welcome","replyTo":"h","payload":{}}"#;
        assert_eq!(is_welcome(welcome.as_bytes(), "h"), Ok(()));
        assert!(is_welcome(welcome.as_bytes(), "other").is_err());
    }
}
