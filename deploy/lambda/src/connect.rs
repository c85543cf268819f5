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

use semantest_protocol::identity::{Identity, Lookup};

use crate::reply::ws_status;
use crate::store::NewConnection;
use crate::{Config, Services};

/// What the handshake's headers decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Refuse the handshake with this status and reason.
    Refuse(i64, &'static str),
    /// A token that is no operator key: look it up in the table, then decide.
    Lookup {
        /// The token shown.
        token: String,
        /// It came in `Authorization` (a tool, which reads a 401), not the subprotocol.
        in_authorization: bool,
        /// Select `semantest.v1` (the client offered it).
        subprotocol: bool,
    },
    /// Open the socket; `authed` says whether it still owes a key.
    Accept {
        /// A valid key was shown (or none is needed).
        authed: bool,
        /// The connection's tenant: its operator key's.
        tenant: Option<String>,
        /// The operator key's identity, when one was shown.
        identity: Option<Identity>,
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
    let accept = |authed, identity: Option<Identity>, wrong_key| Admission::Accept {
        authed,
        tenant: identity.as_ref().map(Identity::tenant),
        identity,
        wrong_key,
        subprotocol: offered,
    };
    match keys::from_headers(&config.keys, headers) {
        Credentials::Invalid => Admission::Lookup {
            token: keys::shown(headers).unwrap_or_default().to_owned(),
            in_authorization: keys::bearer(headers).is_some(),
            subprotocol: offered,
        },
        Credentials::Valid => accept(
            true,
            keys::shown(headers).map(|key| Identity::Operator {
                key_id: keys::key_id(key),
            }),
            false,
        ),
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
    let (new, subprotocol) = match admit(&services.config, &event.headers) {
        Admission::Refuse(status, reason) => {
            tracing::warn!(connection = id, "refused a handshake: {reason}");
            return ws_status(status, Some(reason.to_owned()), HeaderMap::new());
        }
        Admission::Lookup {
            token,
            in_authorization,
            subprotocol,
        } => {
            let found = match services.store.lookup_token(&token).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::error!(connection = id, "{e}");
                    return ws_status(
                        500,
                        Some("the service could not check the token; retry".to_owned()),
                        HeaderMap::new(),
                    );
                }
            };
            let revoked = found == Lookup::Revoked;
            match found {
                Lookup::Known(identity) => {
                    let new = NewConnection {
                        authed: true,
                        wrong_key: false,
                        revoked: false,
                        tenant: None,
                        identity: Some(identity),
                    };
                    (new, subprotocol)
                }
                // A tool that set Authorization reads the 401.
                _ if in_authorization => {
                    let reason = if revoked {
                        semantest_protocol::identity::REVOKED_MESSAGE
                    } else {
                        "the API key is not valid"
                    };
                    tracing::warn!(connection = id, "refused a handshake: {reason}");
                    return ws_status(401, Some(reason.to_owned()), HeaderMap::new());
                }
                _ => {
                    let new = NewConnection {
                        authed: false,
                        wrong_key: true,
                        revoked,
                        tenant: None,
                        identity: None,
                    };
                    (new, subprotocol)
                }
            }
        }
        Admission::Accept {
            authed,
            tenant,
            identity,
            wrong_key,
            subprotocol,
        } => {
            let new = NewConnection {
                authed,
                wrong_key,
                revoked: false,
                tenant,
                identity,
            };
            (new, subprotocol)
        }
    };
    let stored = services.store.put_connection(id, &new, now_ms).await;
    let noted = match (&stored, &new.identity) {
        (Ok(()), Some(identity)) => services.store.device_socket(identity, id, now_ms).await,
        _ => Ok(()),
    };
    if let Err(e) = stored.and(noted) {
        tracing::error!(connection = id, "{e}");
        return ws_status(
            500,
            Some("the service could not store the connection; retry".to_owned()),
            HeaderMap::new(),
        );
    }
    tracing::info!(
        connection = id,
        authed = new.authed,
        wrong_key = new.wrong_key,
        "connected"
    );
    let mut headers = HeaderMap::new();
    if subprotocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    ws_status(200, None, headers)
}
