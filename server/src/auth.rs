//! Production authentication: which API keys are valid, where a client may show one, and the
//! HTTP middleware that asks for it.
//!
//! A client shows its key in one of three places:
//! - `Authorization: Bearer <key>` — HTTP requests (uploads, `GET /images/{id}`, `/metrics`) and
//!   WebSocket handshakes from tools that can set headers (the CLI);
//! - `Sec-WebSocket-Protocol: semantest.v1, bearer.<key>` — a browser's WebSocket, which cannot
//!   set headers; the server answers with `semantest.v1` only, never echoing the key;
//! - the first frame, a `hello` with `payload.token`, within [`crate::Config::auth_deadline_ms`]
//!   — so the key never sits in a header that a proxy might log.
//!
//! A key given in the handshake and wrong is refused at once (401). Keys are compared in
//! constant time: both sides are hashed with SHA-256 and every configured key is compared
//! without stopping early, so neither the length nor the prefix of a key leaks through timing.
//! Keys are never logged (see [`semantest_protocol::Token`]).
//!
//! `/signature` and `/health` stay open: a client must be able to recognise the server, and a
//! load balancer to check it, before anyone has a key.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use semantest_protocol::{ClientFrame, ClientMessage, ErrorCode, Hello, ServerFrame};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;

/// The subprotocol a browser offers beside its key, and the one the server selects.
pub const SUBPROTOCOL: &str = "semantest.v1";

/// The prefix of the subprotocol entry that carries a key.
const BEARER_PROTOCOL: &str = "bearer.";

/// The SHA-256 digests of the configured keys.
#[derive(Debug, Default)]
pub(crate) struct ApiKeys(Vec<[u8; 32]>);

impl ApiKeys {
    /// The keys of `config` (none outside production, or when it runs open on purpose).
    pub(crate) fn new(config: &crate::Config) -> Self {
        if !config.requires_auth() {
            return ApiKeys(Vec::new());
        }
        ApiKeys(config.api_keys.iter().map(|k| digest(k.expose())).collect())
    }

    /// Whether `candidate` is one of the keys, in time that does not depend on where (or
    /// whether) it differs.
    pub(crate) fn accepts(&self, candidate: &str) -> bool {
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

/// What a handshake's headers say about the client's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// No key in the headers: the client may still send one in its `hello`.
    Missing,
    /// A key that matches.
    Valid,
    /// A key that does not.
    Invalid,
}

/// Looks for a key in `Authorization: Bearer` or in the `bearer.` subprotocol entry.
pub(crate) fn from_headers(keys: &ApiKeys, headers: &HeaderMap) -> Credentials {
    let candidate = bearer(headers).or_else(|| subprotocol_key(headers));
    match candidate {
        None => Credentials::Missing,
        Some(key) if keys.accepts(key) => Credentials::Valid,
        Some(_) => Credentials::Invalid,
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
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

/// The 401 for a missing or wrong key; the body says which without repeating the key.
pub(crate) fn unauthorized(missing: bool) -> Response {
    let message = if missing {
        "an API key is required: send 'Authorization: Bearer <key>'\n"
    } else {
        "the API key is not valid\n"
    };
    (
        StatusCode::UNAUTHORIZED,
        [
            (
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"semantest\""),
            ),
            // A refused client does not keep its connection (and its slot) for the next guess.
            (header::CONNECTION, HeaderValue::from_static("close")),
        ],
        message,
    )
        .into_response()
}

/// Checks the first frame of a WebSocket that showed no key in its handshake: it must be a
/// `hello` whose `token` is valid. `Err` is the `unauthorized` error to send, and the reason
/// to close with (the client shows it: "unauthorized: API key not valid").
pub(crate) fn first_frame(keys: &ApiKeys, text: &str) -> Result<(), Refusal> {
    let frame = match ClientFrame::parse(text) {
        Ok(frame) => frame,
        Err(error) => return Err(Refusal::not_hello(error.id().map(str::to_owned))),
    };
    let (message, close_reason) = match &frame.message {
        ClientMessage::Hello(Hello {
            token: Some(token), ..
        }) if keys.accepts(token.expose()) => return Ok(()),
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
pub(crate) struct Refusal {
    /// The `unauthorized` error frame to send.
    pub(crate) frame: Box<ServerFrame>,
    /// The reason of the 1008 Close that follows.
    pub(crate) close_reason: &'static str,
}

impl Refusal {
    /// Anything but a `hello` (binary, not JSON, another action) came first.
    pub(crate) fn not_hello(reply_to: Option<String>) -> Self {
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

/// Middleware for the HTTP endpoints that need a key in production (images, metrics).
pub(crate) async fn require(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.config().requires_auth() {
        match bearer(request.headers()) {
            None => return unauthorized(true),
            Some(key) if !state.api_keys().accepts(key) => {
                tracing::warn!(
                    path = request.uri().path(),
                    "refused a request with a wrong API key"
                );
                return unauthorized(false);
            }
            Some(_) => {}
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Environment};

    fn keys() -> ApiKeys {
        ApiKeys::new(&Config {
            environment: Environment::Production,
            api_keys: vec![
                "first-key-0123456789".parse().unwrap(),
                "second-key-0123456789".parse().unwrap(),
            ],
            ..Config::default()
        })
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
        let open = ApiKeys::new(&Config::default());
        assert!(
            !open.accepts("first-key-0123456789"),
            "local mode has no keys"
        );
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
}
