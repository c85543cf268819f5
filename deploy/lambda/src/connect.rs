//! `$connect`: checks an API key shown in the handshake and stores the connection.
//!
//! A key in `Authorization: Bearer` or in the `bearer.` subprotocol entry is checked here: a
//! wrong one in `Authorization` refuses the handshake with 401; a wrong one in the subprotocol
//! (a browser, which cannot read a 401) is told on the socket's first frame, then closed. Without one the socket opens unauthenticated and
//! its first frame must be a `hello` with `payload.token` ([`crate::message`]). A browser that
//! offers `semantest.v1` gets it selected (the key entry is never echoed).

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::{header, HeaderMap, HeaderValue};
use semantest_protocol::keys::{self, Credentials, SUBPROTOCOL};

use crate::reply::ws_status;
use crate::store::{NewConnection, OPEN_TENANT};
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
        /// The id of that key ([`OPEN_TENANT`] without keys): the connection's tenant.
        tenant: Option<String>,
        /// A wrong key came in the subprotocol: a browser cannot read a refused handshake's
        /// status, so the socket opens and its first frame gets the reason, then a close.
        wrong_key: bool,
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
    let accept = |authed, tenant: Option<String>, wrong_key| Admission::Accept {
        authed,
        tenant,
        wrong_key,
        subprotocol: offered,
    };
    if !config.requires_key() {
        return accept(true, Some(OPEN_TENANT.to_owned()), false);
    }
    match keys::from_headers(&config.keys, headers) {
        // A tool that set Authorization reads the 401.
        Credentials::Invalid if keys::bearer(headers).is_some() => {
            Admission::Refuse(401, "the API key is not valid")
        }
        Credentials::Invalid => accept(false, None, true),
        Credentials::Valid => accept(true, keys::shown(headers).map(keys::key_id), false),
        Credentials::Missing => accept(false, None, false),
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
            tenant,
            wrong_key,
            subprotocol,
        } => {
            let new = NewConnection {
                authed,
                wrong_key,
                tenant,
            };
            let stored = services.store.put_connection(id, &new, now_ms);
            if let Err(e) = stored.await {
                tracing::error!(connection = id, "{e}");
                return ws_status(
                    500,
                    Some("the service could not store the connection; retry".to_owned()),
                    HeaderMap::new(),
                );
            }
            tracing::info!(connection = id, authed, wrong_key, "connected");
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
