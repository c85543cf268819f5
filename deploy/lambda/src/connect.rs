//! `$connect`: checks an API key shown in the handshake and stores the connection.
//!
//! A key in `Authorization: Bearer` or in the `bearer.` subprotocol entry is checked here: a
//! wrong one refuses the handshake with 401. Without one the socket opens unauthenticated and
//! its first frame must be a `hello` with `payload.token` ([`crate::message`]). A browser that
//! offers `semantest.v1` gets it selected (the key entry is never echoed).

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::{header, HeaderMap, HeaderValue};
use semantest_protocol::keys::{self, Credentials, SUBPROTOCOL};

use crate::reply::ws_status;
use crate::{Config, Services};

/// What the handshake's headers decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Refuse the handshake with this status and reason.
    Refuse(i64, &'static str),
    /// Open the socket; `authed` says whether it still owes a key.
    Accept {
        /// A valid key was shown (or none is needed).
        authed: bool,
        /// Select `semantest.v1` (the client offered it).
        subprotocol: bool,
    },
}

/// Decides from the handshake's headers alone (no AWS call).
pub fn admit(config: &Config, headers: &HeaderMap) -> Admission {
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !config.requires_key() {
        return Admission::Accept {
            authed: true,
            subprotocol: offered,
        };
    }
    match keys::from_headers(&config.keys, headers) {
        Credentials::Invalid => Admission::Refuse(401, "the API key is not valid"),
        Credentials::Valid => Admission::Accept {
            authed: true,
            subprotocol: offered,
        },
        Credentials::Missing => Admission::Accept {
            authed: false,
            subprotocol: offered,
        },
    }
}

/// The `$connect` handler.
pub async fn handle(
    services: &Services,
    event: &ApiGatewayWebsocketProxyRequest,
    now_ms: u64,
) -> ApiGatewayProxyResponse {
    let Some(id) = event.request_context.connection_id.as_deref() else {
        return ws_status(400, Some("no connection id".to_owned()), HeaderMap::new());
    };
    match admit(&services.config, &event.headers) {
        Admission::Refuse(status, reason) => {
            tracing::warn!(connection = id, "refused a handshake: {reason}");
            ws_status(status, Some(reason.to_owned()), HeaderMap::new())
        }
        Admission::Accept {
            authed,
            subprotocol,
        } => {
            if let Err(e) = services.store.put_connection(id, authed, now_ms).await {
                tracing::error!(connection = id, "{e}");
                return ws_status(
                    500,
                    Some("the service could not store the connection; retry".to_owned()),
                    HeaderMap::new(),
                );
            }
            tracing::info!(connection = id, authed, "connected");
            let mut headers = HeaderMap::new();
            if subprotocol {
                headers.insert(
                    header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_static(SUBPROTOCOL),
                );
            }
            ws_status(200, None, headers)
        }
    }
}
