//! Identity on the socket: what a keyless socket may do (hello, ping, register, pair), and the install's own actions (pairCode, devices, revoke).
//!
//! A keyless socket is one that showed no token in its handshake. Its `hello` with a token
//! authenticates it; its `hello` without one is welcomed and it may then `register` (an
//! extension: a new install) or `pair` (a tool: a device of the install that showed the
//! code). Anything else is answered `unauthorized` and the socket stays open until the auth
//! deadline. Registrations and pairing attempts are limited per client address
//! ([`crate::Config::registrations_per_hour`], [`crate::Config::pair_attempts_per_hour`]): the
//! one over the limit gets `rate_limited` with `retryAfterSecs`.

use std::net::IpAddr;

use semantest_protocol::identity::{
    keyless_may, Identity, Limited, PairingCode, ALREADY_HAS_TOKEN, KEYLESS_REFUSAL,
    ONLY_AN_INSTALL, REVOKED_CLOSE_REASON,
};
use semantest_protocol::{
    Ack, ClientFrame, ClientMessage, ErrorCode, Pong, Role, ServerFrame, ServerMessage, Welcome,
};

use crate::auth::{self, Check};
use crate::identity::BookError;
use crate::metrics::Action;
use crate::reply::Reply;
use crate::AppState;

/// The refusal of `register` on a server run with `--no-registration`.
pub(crate) const REGISTRATION_CLOSED: &str =
    "registration is closed on this server: ask its operator for an API key (the extension's options, Access key)";

/// Who is asking: the server, the connection and the client's address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asker<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) connection_id: &'a str,
    pub(crate) client: IpAddr,
    pub(crate) now_ms: u64,
}

/// What a keyless socket's frame led to.
#[derive(Debug)]
pub(crate) struct Keyless {
    /// The answer.
    pub(crate) reply: Reply,
    /// The socket now is this identity.
    pub(crate) became: Option<Identity>,
    /// The role and client id of its `hello`, to tell the hub once it joins one.
    pub(crate) hello: Option<(Role, String)>,
    /// Close with 1008 and this reason after the answer (a wrong token).
    pub(crate) close: Option<&'static str>,
}

impl Keyless {
    fn answer(action: Action, frame: ServerFrame) -> Self {
        Keyless {
            reply: Reply { action, frame },
            became: None,
            hello: None,
            close: None,
        }
    }
}

/// The `welcome` of this server to connection `connection_id`.
pub(crate) fn welcome(state: &AppState, connection_id: &str) -> ServerMessage {
    ServerMessage::Welcome(Welcome {
        connection_id: connection_id.to_owned(),
        server: state.signature().clone(),
        heartbeat_secs: state.config().heartbeat_secs,
    })
}

/// Answers one text frame of a keyless socket.
pub(crate) fn keyless(text: &str, asker: &Asker<'_>) -> Keyless {
    let frame = match ClientFrame::parse(text) {
        Ok(frame) => frame,
        Err(error) => return Keyless::answer(Action::Unknown, ServerFrame::refusing(&error)),
    };
    let action = Action::from_wire(frame.message.action());
    let id = Some(frame.id.clone());
    let state = asker.state;
    match frame.message {
        ClientMessage::Hello(hello) => {
            let client = (hello.role, hello.client_id.clone());
            let became = match &hello.token {
                None => None,
                Some(token) => match auth::check_token(state, token.expose()) {
                    Check::Known(identity) => Some(identity),
                    refused => {
                        let (message, reason) = refused.refusal();
                        tracing::warn!(connection = asker.connection_id, "{reason}");
                        let mut out = Keyless::answer(
                            action,
                            ServerFrame::error(id, ErrorCode::Unauthorized, message),
                        );
                        out.close = Some(reason);
                        return out;
                    }
                },
            };
            let mut out = Keyless::answer(
                action,
                ServerFrame::reply(id, welcome(state, asker.connection_id)),
            );
            out.became = became;
            out.hello = Some(client);
            out
        }
        ClientMessage::Ping(ping) => Keyless::answer(
            action,
            ServerFrame::reply(
                id,
                ServerMessage::Pong(Pong {
                    t: ping.t,
                    server_time: asker.now_ms,
                }),
            ),
        ),
        ClientMessage::Register(register) => {
            if !state.config().registration {
                let frame = ServerFrame::error(id, ErrorCode::Unauthorized, REGISTRATION_CLOSED);
                return Keyless::answer(action, frame);
            }
            if let Err(wait) = state.registrations().check(asker.client) {
                let per_hour = state.config().registrations_per_hour;
                let frame = Limited::Registrations.refusal(id, per_hour, wait);
                return Keyless::answer(action, frame);
            }
            match state.identities().register(&register.name, asker.now_ms) {
                Ok(registered) => {
                    tracing::info!(install = %registered.install_id, "registered an install");
                    let became = Identity::Install {
                        install_id: registered.install_id.clone(),
                    };
                    let mut out = Keyless::answer(
                        action,
                        ServerFrame::reply(id, ServerMessage::Registered(registered)),
                    );
                    out.became = Some(became);
                    out
                }
                Err(e) => Keyless::answer(action, book_failed(id, &e)),
            }
        }
        ClientMessage::Pair(pair) => {
            if let Err(wait) = state.pair_attempts().check(asker.client) {
                let per_hour = state.config().pair_attempts_per_hour;
                let frame = Limited::PairAttempts.refusal(id, per_hour, wait);
                return Keyless::answer(action, frame);
            }
            let code = match PairingCode::parse(&pair.code) {
                Ok(code) => code,
                Err(e) => {
                    let frame = ServerFrame::error(id, ErrorCode::InvalidCode, e.to_string());
                    return Keyless::answer(action, frame);
                }
            };
            match state.identities().pair(&code, &pair.name, asker.now_ms) {
                Ok(Ok(paired)) => {
                    tracing::info!(install = %paired.install_id, device = %paired.device_id, "paired a device");
                    let became = Identity::Device {
                        install_id: paired.install_id.clone(),
                        device_id: paired.device_id.clone(),
                    };
                    let mut out = Keyless::answer(
                        action,
                        ServerFrame::reply(id, ServerMessage::Paired(paired)),
                    );
                    out.became = Some(became);
                    out
                }
                Ok(Err(refused)) => {
                    tracing::info!(client = %asker.client, "refused a pairing code: {refused}");
                    Keyless::answer(
                        action,
                        ServerFrame::error(id, ErrorCode::InvalidCode, refused.to_string()),
                    )
                }
                Err(e) => Keyless::answer(action, book_failed(id, &e)),
            }
        }
        other => {
            debug_assert!(!keyless_may(other.action()));
            Keyless::answer(
                action,
                ServerFrame::error(id, ErrorCode::Unauthorized, KEYLESS_REFUSAL),
            )
        }
    }
}

/// Answers an identity action on an authenticated socket (`identity`: `None` on a local
/// server, which has no identities).
pub(crate) fn manage(
    frame_id: String,
    message: ClientMessage,
    identity: Option<&Identity>,
    asker: &Asker<'_>,
) -> ServerFrame {
    let id = Some(frame_id);
    let Some(identity) = identity else {
        let text = format!(
            "'{}' is for production servers; a local server needs no identity",
            message.action()
        );
        return ServerFrame::error(id, ErrorCode::UnknownAction, text);
    };
    if matches!(message, ClientMessage::Register(_) | ClientMessage::Pair(_)) {
        return ServerFrame::error(id, ErrorCode::BadPayload, ALREADY_HAS_TOKEN);
    }
    let Some(install) = identity.install() else {
        return ServerFrame::error(id, ErrorCode::Unauthorized, ONLY_AN_INSTALL);
    };
    let state = asker.state;
    match message {
        ClientMessage::PairCode => ServerFrame::reply(
            id,
            ServerMessage::PairCode(state.identities().pair_code(
                install,
                asker.now_ms,
                state.config().pair_code_ttl_secs,
            )),
        ),
        ClientMessage::Devices => ServerFrame::reply(
            id,
            ServerMessage::Devices(state.identities().devices(install)),
        ),
        ClientMessage::Revoke(revoke) => {
            match state.identities().revoke(install, &revoke.device_id) {
                Ok(Ok(())) => {
                    let closed = state.hubs().get(&identity.tenant()).map_or(0, |hub| {
                        hub.close_device(&revoke.device_id, REVOKED_CLOSE_REASON)
                    });
                    tracing::info!(%install, device = %revoke.device_id, closed, "revoked a device");
                    ServerFrame::reply(id, ServerMessage::Ack(Ack::of("revoke")))
                }
                Ok(Err(missing)) => {
                    ServerFrame::error(id, ErrorCode::BadPayload, missing.to_string())
                }
                Err(e) => book_failed(id, &e),
            }
        }
        other => ServerFrame::error(
            id,
            ErrorCode::UnknownAction,
            format!("action '{}' is not served here", other.action()),
        ),
    }
}

fn book_failed(id: Option<String>, error: &BookError) -> ServerFrame {
    tracing::error!("{error}");
    ServerFrame::error(
        id,
        ErrorCode::Internal,
        "the server could not store the identity; retry",
    )
}
