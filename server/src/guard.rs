//! Who may talk to the server: the `Host` check (DNS rebinding) and the WebSocket `Origin`
//! allowlist.
//!
//! - **Host** (local mode only): a local server answers only requests addressed to
//!   `localhost`, `127.0.0.1` or `[::1]` (any port). A web page that rebinds its own domain to
//!   127.0.0.1 still sends its domain as `Host`, and gets 403. A missing or empty `Host` is
//!   refused too.
//! - **Origin** (both modes): browsers send `Origin` on every WebSocket handshake, and CORS does
//!   not apply to WebSockets, so the server checks it itself. Allowed: the development
//!   extension's origin ([`dev_extension_origin`]) and the configured `--allow-origin`s, compared
//!   exactly. A client without `Origin` (a CLI, an SDK in Node) is not a browser and is let in.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{AppState, Environment};

/// The id that the manifest `key` pins for the unpacked development extension.
const DEV_EXTENSION_ID: &str = include_str!("../../extension/EXTENSION_ID");

/// `chrome-extension://<id>` of the development extension, always allowed.
pub fn dev_extension_origin() -> String {
    format!("chrome-extension://{}", DEV_EXTENSION_ID.trim())
}

/// Whether a `Host` header value names this machine's loopback (`localhost`, `127.0.0.1`,
/// `[::1]`, each with or without a port).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, port)) if port.is_empty() || is_port(port) => return inside == "::1",
            _ => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1"
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':').unwrap_or(s).parse::<u16>().is_ok()
}

/// Middleware: in local mode, 403 for any `Host` that is not loopback.
pub(crate) async fn host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.config().environment == Environment::Local {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_host(host) {
            tracing::warn!(host, "refused a request for a foreign Host");
            let body = format!(
                "host '{host}' is not allowed: this local server answers only localhost, 127.0.0.1 and [::1]\n"
            );
            return (StatusCode::FORBIDDEN, body).into_response();
        }
    }
    next.run(request).await
}

/// The WebSocket handshake's `Origin` check: the 403 to answer when a browser origin is not
/// allowed, `None` when the handshake may go on.
pub(crate) fn refuse_origin(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("");
    if state.config().origin_allowed(origin) {
        return None;
    }
    tracing::warn!(origin, "refused a WebSocket from a foreign Origin");
    let body = format!(
        "origin '{origin}' is not allowed; start the server with --allow-origin {origin}\n"
    );
    Some((StatusCode::FORBIDDEN, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:3003",
            "LOCALHOST:1",
            "127.0.0.1",
            "127.0.0.1:3003",
            "[::1]",
            "[::1]:3003",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:3003",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "127.0.0.2",
            "[::2]:3003",
            "localhost:notaport",
            "localhost:3003:1",
            "[::1]x",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn the_dev_extension_origin_is_a_real_id() {
        let origin = dev_extension_origin();
        let id = origin.strip_prefix("chrome-extension://").unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| ('a'..='p').contains(&c)), "{id}");
    }
}
