//! Identity on the public service's sockets: what a keyless socket may do (hello, ping, register, pair), and an install's own actions (pairCode, devices, revoke) — the same rules as the local production server's, from `semantest_protocol::identity`.
//!
//! Registrations and pairing attempts are counted per client address in the table
//! ([`crate::identity`]); the one over the limit gets `rate_limited` with `retryAfterSecs`.
//! A revoked device's sockets get the `unauthorized` reason and are closed through the
//! management API (which carries no close reason).

use std::net::IpAddr;

use semantest_protocol::identity::{
    keyless_may, no_such_device, Identity, Limited, Lookup, PairingCode, ALREADY_HAS_TOKEN,
    KEYLESS_REFUSAL, ONLY_AN_INSTALL, REVOKED_MESSAGE,
};
use semantest_protocol::keys;
use semantest_protocol::{
    Ack, ClientFrame, ClientMessage, ErrorCode, Pong, ServerFrame, ServerMessage,
};

use crate::message::welcome;
use crate::store::{Connection, StoreError};
use crate::Services;

/// Who is asking: the connection, what the table knows of it, and its address.
pub(crate) struct Asker<'a> {
    pub(crate) id: &'a str,
    pub(crate) connection: &'a Connection,
    pub(crate) client: IpAddr,
    pub(crate) now_ms: u64,
}

/// Answers one frame of a keyless socket (`None`: nothing to send back).
pub(crate) async fn keyless(
    services: &Services,
    asker: &Asker<'_>,
    text: &str,
) -> Result<Option<ServerFrame>, StoreError> {
    let frame = match ClientFrame::parse(text) {
        Ok(frame) => frame,
        Err(error) => return Ok(Some(ServerFrame::refusing(&error))),
    };
    let (id, store, config) = (asker.id, &services.store, &services.config);
    let fid = Some(frame.id.clone());
    let reply = |m| Ok(Some(ServerFrame::reply(fid.clone(), m)));
    match frame.message {
        ClientMessage::Hello(hello) => {
            let identity = match &hello.token {
                None => None,
                Some(token) if config.keys.accepts(token.expose()) => Some(Identity::Operator {
                    key_id: keys::key_id(token.expose()),
                }),
                Some(token) => match store.lookup_token(token.expose()).await? {
                    Lookup::Known(identity) => Some(identity),
                    refused => {
                        // The error goes out before the close, so the client can say why (a
                        // close through the management API carries no reason).
                        let message = if refused == Lookup::Revoked {
                            REVOKED_MESSAGE
                        } else {
                            "the API key is not valid"
                        };
                        tracing::warn!(connection = id, "unauthorized: {message}");
                        let frame = ServerFrame::error(fid, ErrorCode::Unauthorized, message);
                        services.push.post(id, &frame.to_json()).await;
                        services.push.close(id).await;
                        return Ok(None);
                    }
                },
            };
            let stored = store
                .hello(id, hello.role, &hello.client_id, identity.as_ref())
                .await?;
            if !stored {
                return Ok(None); // the socket is gone
            }
            if let Some(identity) = &identity {
                store.device_socket(identity, id, asker.now_ms).await?;
            }
            reply(welcome(services, id))
        }
        ClientMessage::Ping(ping) => reply(ServerMessage::Pong(Pong {
            t: ping.t,
            server_time: asker.now_ms,
        })),
        ClientMessage::Register(register) => {
            let limit = config.registrations_per_hour;
            if let Some(refused) =
                over(services, asker, Limited::Registrations, limit, &fid).await?
            {
                tracing::warn!(connection = id, "registration rate limited");
                return Ok(Some(refused));
            }
            let registered = store.register(&register.name, asker.now_ms).await?;
            let identity = Identity::Install {
                install_id: registered.install_id.clone(),
            };
            if !store.authenticate(id, &identity).await? {
                return Ok(None);
            }
            tracing::info!(connection = id, install = %registered.install_id, "registered an install");
            reply(ServerMessage::Registered(registered))
        }
        ClientMessage::Pair(pair) => {
            let limit = config.pair_attempts_per_hour;
            if let Some(refused) = over(services, asker, Limited::PairAttempts, limit, &fid).await?
            {
                // Counted by the stack's PairingFailures metric filter (deploy/pulumi/src/alarms.ts).
                tracing::warn!(connection = id, "pairing rate limited");
                return Ok(Some(refused));
            }
            let code = match PairingCode::parse(&pair.code) {
                Ok(code) => code,
                Err(e) => {
                    let frame = ServerFrame::error(fid, ErrorCode::InvalidCode, e.to_string());
                    return Ok(Some(frame));
                }
            };
            match store.pair(&code, &pair.name, asker.now_ms).await? {
                Ok(paired) => {
                    let identity = Identity::Device {
                        install_id: paired.install_id.clone(),
                        device_id: paired.device_id.clone(),
                    };
                    if !store.authenticate(id, &identity).await? {
                        return Ok(None);
                    }
                    store.device_socket(&identity, id, asker.now_ms).await?;
                    tracing::info!(connection = id, install = %paired.install_id, device = %paired.device_id, "paired a device");
                    reply(ServerMessage::Paired(paired))
                }
                Err(refused) => {
                    tracing::info!(connection = id, "refused a pairing code: {refused}");
                    let frame =
                        ServerFrame::error(fid, ErrorCode::InvalidCode, refused.to_string());
                    Ok(Some(frame))
                }
            }
        }
        // Anything else before a token only gets this frame refused: API Gateway may hand a
        // socket's frames to the handlers out of order, so the hello with the token may still
        // be on its way. Such a socket can do nothing, and API Gateway closes it after 10
        // idle minutes.
        other => {
            debug_assert!(!keyless_may(other.action()));
            Ok(Some(ServerFrame::error(
                fid,
                ErrorCode::Unauthorized,
                KEYLESS_REFUSAL,
            )))
        }
    }
}

/// Counts one `what` from the asker's address: the `rate_limited` answer when that makes more
/// than `per_hour` this hour.
async fn over(
    services: &Services,
    asker: &Asker<'_>,
    what: Limited,
    per_hour: u32,
    fid: &Option<String>,
) -> Result<Option<ServerFrame>, StoreError> {
    let counted = services
        .store
        .count(what, asker.client, per_hour, asker.now_ms)
        .await?;
    Ok(counted
        .err()
        .map(|wait| what.refusal(fid.clone(), per_hour, wait)))
}

/// Answers an identity action on an authenticated socket.
pub(crate) async fn manage(
    services: &Services,
    asker: &Asker<'_>,
    frame_id: String,
    message: ClientMessage,
) -> Result<ServerFrame, StoreError> {
    let id = Some(frame_id);
    let Some(identity) = &asker.connection.identity else {
        let text = format!(
            "'{}' needs a stack with identities; this one runs open",
            message.action()
        );
        return Ok(ServerFrame::error(id, ErrorCode::UnknownAction, text));
    };
    if matches!(message, ClientMessage::Register(_) | ClientMessage::Pair(_)) {
        return Ok(ServerFrame::error(
            id,
            ErrorCode::BadPayload,
            ALREADY_HAS_TOKEN,
        ));
    }
    let Some(install) = identity.install() else {
        return Ok(ServerFrame::error(
            id,
            ErrorCode::Unauthorized,
            ONLY_AN_INSTALL,
        ));
    };
    let store = &services.store;
    Ok(match message {
        ClientMessage::PairCode => ServerFrame::reply(
            id,
            ServerMessage::PairCode(store.issue_pair_code(install, asker.now_ms).await?),
        ),
        ClientMessage::Devices => {
            ServerFrame::reply(id, ServerMessage::Devices(store.devices(install).await?))
        }
        ClientMessage::Revoke(revoke) => {
            if !store.revoke(install, &revoke.device_id).await? {
                let text = no_such_device(&revoke.device_id);
                return Ok(ServerFrame::error(id, ErrorCode::BadPayload, text));
            }
            let notice =
                ServerFrame::error(None, ErrorCode::Unauthorized, REVOKED_MESSAGE).to_json();
            let sockets = store.device_sockets(&revoke.device_id).await?;
            for socket in &sockets {
                // A socket that is gone answers 410; nothing to do for it.
                services.push.post(socket, &notice).await;
                services.push.close(socket).await;
            }
            tracing::info!(%install, device = %revoke.device_id, sockets = sockets.len(), "revoked a device");
            ServerFrame::reply(id, ServerMessage::Ack(Ack::of("revoke")))
        }
        other => ServerFrame::error(
            id,
            ErrorCode::UnknownAction,
            format!("action '{}' is not served here", other.action()),
        ),
    })
}
