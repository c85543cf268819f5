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
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use semantest_protocol::identity::Identity;
pub(crate) use semantest_protocol::keys::{bearer, ApiKeys, SUBPROTOCOL};

use crate::identity::Lookup;
use crate::AppState;

/// What a shown token (an operator key, an install's or a device's token) is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing was shown.
    Missing,
    /// It belongs to this identity.
    Known(Identity),
    /// A device token whose device was revoked.
    Revoked,
    /// Nobody's.
    Invalid,
}

impl Check {
    /// The message of the `unauthorized` error for a refused token, and the 1008 reason.
    pub(crate) fn refusal(&self) -> (&'static str, &'static str) {
        match self {
            Check::Revoked => (
                semantest_protocol::identity::REVOKED_MESSAGE,
                "unauthorized: revoked",
            ),
            _ => (
                "the API key is not valid",
                "unauthorized: API key not valid",
            ),
        }
    }
}

/// Who `token` belongs to: an operator key (compared in constant time against every
/// configured key), else an issued token (looked up by its digest).
pub(crate) fn check_token(state: &AppState, token: &str) -> Check {
    if state.api_keys().accepts(token) {
        return Check::Known(Identity::Operator {
            key_id: semantest_protocol::keys::key_id(token),
        });
    }
    match state.identities().lookup(token) {
        Lookup::Known(identity) => Check::Known(identity),
        Lookup::Revoked => Check::Revoked,
        Lookup::Unknown => Check::Invalid,
    }
}

/// The token a handshake shows (`Authorization: Bearer` or the `bearer.` subprotocol entry),
/// checked.
pub(crate) fn check_headers(state: &AppState, headers: &axum::http::HeaderMap) -> Check {
    match semantest_protocol::keys::shown(headers) {
        None => Check::Missing,
        Some(token) => check_token(state, token),
    }
}

/// The tenant an HTTP request was authenticated as (production), for the image endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tenant(pub(crate) String);

/// The keys of `config` (none outside production, or when it runs open on purpose).
pub(crate) fn keys_of(config: &crate::Config) -> ApiKeys {
    if !config.requires_auth() {
        return ApiKeys::default();
    }
    ApiKeys::from_keys(&config.api_keys)
}

/// The 401 for a missing or wrong key; the body says which without repeating the key.
pub(crate) fn unauthorized(missing: bool) -> Response {
    refused(if missing {
        "an API key is required: send 'Authorization: Bearer <key>'\n".to_owned()
    } else {
        "the API key is not valid\n".to_owned()
    })
}

/// The 401 for the token `check` refused (a revoked device is told so).
pub(crate) fn unauthorized_token(check: &Check) -> Response {
    match check {
        Check::Revoked => refused(format!(
            "{}\n",
            semantest_protocol::identity::REVOKED_MESSAGE
        )),
        _ => unauthorized(false),
    }
}

fn refused(message: String) -> Response {
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

/// Middleware for `/metrics` in production: an operator key only (an install's or a device's
/// token, which anyone can get by registering, is refused: the figures are every tenant's).
pub(crate) async fn require_operator(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.config().requires_auth() {
        let operator = bearer(request.headers()).map(|token| check_token(&state, token));
        match operator {
            Some(Check::Known(Identity::Operator { .. })) => {}
            None => return unauthorized(true),
            Some(_) => return unauthorized(false),
        }
    }
    next.run(request).await
}

/// Middleware for the HTTP endpoints that need a token in production (images): the request
/// goes on with its [`Tenant`].
pub(crate) async fn require(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if state.config().requires_auth() {
        let Some(token) = bearer(request.headers()) else {
            return unauthorized(true);
        };
        match check_token(&state, token) {
            Check::Known(identity) => {
                request.extensions_mut().insert(Tenant(identity.tenant()));
            }
            refused => {
                tracing::warn!(
                    path = request.uri().path(),
                    "refused a request with a wrong API key"
                );
                return unauthorized_token(&refused);
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Environment};

    #[test]
    fn only_a_production_server_has_keys() {
        let config = Config {
            environment: Environment::Production,
            api_keys: vec!["first-key-0123456789".parse().unwrap()],
            ..Config::default()
        };
        assert!(keys_of(&config).accepts("first-key-0123456789"));
        let local = Config {
            api_keys: config.api_keys.clone(),
            ..Config::default()
        };
        assert!(keys_of(&local).is_empty(), "local mode has no keys");
    }
}
