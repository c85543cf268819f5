//! API keys on the server side: which keys are valid, where a client may show one, and the check of a socket's first frame — shared by the server and the public service's Lambda handlers (feature `keys`).
//!
//! A client shows its key in one of three places:
//! - `Authorization: Bearer <key>` — HTTP requests and WebSocket handshakes from tools that can
//!   set headers (the CLI);
//! - `Sec-WebSocket-Protocol: semantest.v1, bearer.<key>` — a browser's WebSocket, which cannot
//!   set headers; the server answers with [`SUBPROTOCOL`] only, never echoing the key;
//! - the first frame, a `hello` with `payload.token` — so the key never sits in a header that a
//!   proxy might log.
//!
//! Keys are compared in constant time: both sides are hashed with SHA-256 and every configured
//! key is compared without stopping early, so neither the length nor the prefix of a key leaks
//! through timing. The Lambda handlers are configured with the digests only
//! ([`ApiKeys::from_sha256_hex`]), so the keys themselves are in no environment variable.

use http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{ClientFrame, ClientMessage, ErrorCode, Hello, ServerFrame, Token};

pub use crate::SUBPROTOCOL;

/// The prefix of the subprotocol entry that carries a key.
const BEARER_PROTOCOL: &str = "bearer.";

/// The SHA-256 digests of the accepted keys.
#[derive(Debug, Default, Clone)]
pub struct ApiKeys(Vec<[u8; 32]>);

/// A key digest list that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("API key digest {index} is not 64 hex digits (the SHA-256 of a key, e.g. `printf %s KEY | sha256sum`)")]
pub struct DigestError {
    /// Which entry of the list, from 1.
    pub index: usize,
}

impl ApiKeys {
    /// The digests of `keys`.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a Token>) -> Self {
        ApiKeys(keys.into_iter().map(|k| digest(k.expose())).collect())
    }

    /// Digests given as comma- or whitespace-separated hex (`sha256sum` of each key); an empty
    /// text is no key at all.
    pub fn from_sha256_hex(text: &str) -> Result<Self, DigestError> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, hex)| parse_sha256_hex(hex).ok_or(DigestError { index: i + 1 }))
            .collect::<Result<_, _>>()
            .map(ApiKeys)
    }

    /// Whether no key is configured (then no key is ever accepted).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `candidate` is one of the keys, in time that does not depend on where (or
    /// whether) it differs.
    pub fn accepts(&self, candidate: &str) -> bool {
        let candidate = digest(candidate);
        let mut found = subtle::Choice::from(0);
        for key in &self.0 {
            found |= key.ct_eq(&candidate);
        }
        found.into()
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// A SHA-256 digest written as 64 hex digits (either case), or `None`.
pub fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// What a handshake's headers say about the client's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// No key in the headers: the client may still send one in its `hello`.
    Missing,
    /// A key that matches.
    Valid,
    /// A key that does not.
    Invalid,
}

/// A short, stable id of `key` that does not reveal it: the first 8 bytes of its SHA-256, in
/// hex. Two connections that showed the same key have the same id (the public service keeps
/// each key's traffic apart with it).
pub fn key_id(key: &str) -> String {
    digest(key)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key a handshake shows, in `Authorization: Bearer` or in the `bearer.` subprotocol entry.
pub fn shown(headers: &HeaderMap) -> Option<&str> {
    bearer(headers).or_else(|| subprotocol_key(headers))
}

/// Looks for a key in `Authorization: Bearer` or in the `bearer.` subprotocol entry.
pub fn from_headers(keys: &ApiKeys, headers: &HeaderMap) -> Credentials {
    match shown(headers) {
        None => Credentials::Missing,
        Some(key) if keys.accepts(key) => Credentials::Valid,
        Some(_) => Credentials::Invalid,
    }
}

/// The key of an `Authorization: Bearer <key>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(key.trim())
}

fn subprotocol_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(BEARER_PROTOCOL))
}

/// Checks the first frame of a WebSocket that showed no key in its handshake: it must be a
/// `hello` whose `token` is valid. `Ok` is that frame; `Err` is the `unauthorized` error to
/// send, and the reason to close with (the client shows it: "unauthorized: API key not valid").
pub fn first_frame(keys: &ApiKeys, text: &str) -> Result<ClientFrame, Refusal> {
    let frame = match ClientFrame::parse(text) {
        Ok(frame) => frame,
        Err(error) => return Err(Refusal::not_hello(error.id().map(str::to_owned))),
    };
    let (message, close_reason) = match &frame.message {
        ClientMessage::Hello(Hello {
            token: Some(token), ..
        }) if keys.accepts(token.expose()) => return Ok(frame),
        ClientMessage::Hello(Hello { token: Some(_), .. }) => (
            "the API key is not valid",
            "unauthorized: API key not valid",
        ),
        ClientMessage::Hello(_) => (
            "an API key is required: send it in payload.token of hello",
            "unauthorized: no API key",
        ),
        _ => return Err(Refusal::not_hello(Some(frame.id))),
    };
    Err(Refusal {
        frame: Box::new(ServerFrame::error(
            Some(frame.id),
            ErrorCode::Unauthorized,
            message,
        )),
        close_reason,
    })
}

/// Why a socket's first frame did not authenticate it.
#[derive(Debug)]
pub struct Refusal {
    /// The `unauthorized` error frame to send.
    pub frame: Box<ServerFrame>,
    /// The reason of the 1008 Close that follows.
    pub close_reason: &'static str,
}

impl Refusal {
    /// Anything but a `hello` (binary, not JSON, another action) came first.
    pub fn not_hello(reply_to: Option<String>) -> Self {
        Refusal {
            frame: Box::new(ServerFrame::error(
                reply_to,
                ErrorCode::Unauthorized,
                "send a hello with your API key in payload.token first",
            )),
            close_reason: "unauthorized: hello with an API key must come first",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn keys() -> ApiKeys {
        let keys: Vec<Token> = vec![
            "first-key-0123456789".parse().unwrap(),
            "second-key-0123456789".parse().unwrap(),
        ];
        ApiKeys::from_keys(&keys)
    }

    #[test]
    fn every_configured_key_is_accepted_and_nothing_else() {
        let keys = keys();
        assert!(keys.accepts("first-key-0123456789"));
        assert!(keys.accepts("second-key-0123456789"));
        for bad in [
            "",
            "first-key-012345678",
            "first-key-0123456789x",
            "FIRST-KEY-0123456789",
        ] {
            assert!(!keys.accepts(bad), "{bad}");
        }
        assert!(!ApiKeys::default().accepts("first-key-0123456789"));
    }

    #[test]
    fn digests_read_from_hex_accept_the_same_keys() {
        // printf %s first-key-0123456789 | sha256sum
        let hex = format!(
            "{}, {}",
            hex_of(&digest("first-key-0123456789")),
            hex_of(&digest("second-key-0123456789")).to_uppercase()
        );
        let keys = ApiKeys::from_sha256_hex(&hex).unwrap();
        assert!(keys.accepts("first-key-0123456789"));
        assert!(keys.accepts("second-key-0123456789"));
        assert!(!keys.accepts("third-key-0123456789"));
        assert!(ApiKeys::from_sha256_hex(" ").unwrap().is_empty());
        assert_eq!(
            ApiKeys::from_sha256_hex(&format!("{},abc", hex_of(&digest("x")))).unwrap_err(),
            DigestError { index: 2 }
        );
        assert!(ApiKeys::from_sha256_hex(&"é".repeat(32)).is_err());
    }

    #[test]
    fn a_key_id_is_stable_short_and_not_the_key() {
        let id = key_id("first-key-0123456789");
        assert_eq!(id, key_id("first-key-0123456789"));
        assert_eq!(id.len(), 16);
        assert_ne!(id, key_id("second-key-0123456789"));
        assert_eq!(id, hex_of(&digest("first-key-0123456789"))[..16]);
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn keys_are_found_in_the_bearer_header_or_the_subprotocol_list() {
        let keys = keys();
        let mut h = HeaderMap::new();
        assert_eq!(from_headers(&keys, &h), Credentials::Missing);
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("semantest.v1"),
        );
        assert_eq!(from_headers(&keys, &h), Credentials::Missing);
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("semantest.v1, bearer.second-key-0123456789"),
        );
        assert_eq!(from_headers(&keys, &h), Credentials::Valid);
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("semantest.v1, bearer.guess-0123456789abc"),
        );
        assert_eq!(from_headers(&keys, &h), Credentials::Invalid);
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer first-key-0123456789"),
        );
        assert_eq!(from_headers(&keys, &h), Credentials::Valid);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zmlyc3Q6a2V5"),
        );
        assert_eq!(from_headers(&keys, &h), Credentials::Missing);
    }

    #[test]
    fn the_first_frame_must_be_a_hello_with_a_valid_key() {
        let keys = keys();
        let hello = |token: &str| {
            format!(
                r#"{{"action":"hello","id":"h1","payload":{{"role":"client","clientId":"c","version":"1"{token}}}}}"#
            )
        };
        let ok = first_frame(&keys, &hello(r#","token":"first-key-0123456789""#)).unwrap();
        assert_eq!(ok.id, "h1");
        let wrong = first_frame(&keys, &hello(r#","token":"wrong-key-0123456789""#)).unwrap_err();
        assert_eq!(wrong.close_reason, "unauthorized: API key not valid");
        assert_eq!(wrong.frame.reply_to.as_deref(), Some("h1"));
        let none = first_frame(&keys, &hello("")).unwrap_err();
        assert_eq!(none.close_reason, "unauthorized: no API key");
        let ping =
            first_frame(&keys, r#"{"action":"ping","id":"p","payload":{"t":1}}"#).unwrap_err();
        assert_eq!(
            ping.close_reason,
            "unauthorized: hello with an API key must come first"
        );
        assert_eq!(ping.frame.reply_to.as_deref(), Some("p"));
        let garbage = first_frame(&keys, "{nope").unwrap_err();
        assert_eq!(garbage.frame.reply_to, None);
    }
}
