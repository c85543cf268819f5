//! What the server answers to one text frame: a function of the text and the session.
//!
//! No socket, no clock: the caller passes the current time, sends the frame and counts the
//! metrics; subscriptions and events go through the [`Hub`], which only queues frames. Every error is answered with an `error` frame and the connection stays open.

use semantest_protocol::identity::Identity;
use semantest_protocol::{
    ClientFrame, ClientMessage, ErrorCode, FrameError, Pong, ServerFrame, ServerMessage,
};

use crate::enroll::{self, Asker};
use crate::hub::Hub;
use crate::metrics::Action;

/// What an authenticated connection knows that its replies need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session<'a> {
    /// The server, the connection and the client's address.
    pub(crate) asker: Asker<'a>,
    /// Its tenant's hub: where subscriptions, events and replies go.
    pub(crate) hub: &'a Hub,
    /// Who it authenticated as (`None` on a server without identities).
    pub(crate) identity: Option<&'a Identity>,
}

/// The answer to one frame and the action label to count it under.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// The action the frame asked for (bounded: unknown names become [`Action::Unknown`]).
    pub(crate) action: Action,
    /// The frame to send back.
    pub(crate) frame: ServerFrame,
}

/// Answers one text frame (received at `session.asker.now_ms`).
pub(crate) fn handle_text(text: &str, session: &Session<'_>) -> Reply {
    match ClientFrame::parse(text) {
        Ok(frame) => {
            let action = Action::from_wire(frame.message.action());
            Reply {
                action,
                frame: answer(frame, session),
            }
        }
        Err(error) => refuse(&error),
    }
}

/// The answer to a binary frame: this protocol speaks JSON text only.
pub(crate) fn binary_refused() -> Reply {
    Reply {
        action: Action::Unknown,
        frame: ServerFrame::error(
            None,
            ErrorCode::BadFrame,
            "binary frames are not supported; send JSON text",
        ),
    }
}

fn answer(frame: ClientFrame, session: &Session<'_>) -> ServerFrame {
    let id = frame.id;
    let hub = session.hub;
    let conn = session.asker.connection_id;
    let message = match frame.message {
        ClientMessage::Subscribe(e) => return hub.subscribe(conn, &id, e.events, true),
        ClientMessage::Unsubscribe(e) => return hub.subscribe(conn, &id, e.events, false),
        ClientMessage::Publish(p) => return hub.publish(conn, &id, p.event, p.data),
        ClientMessage::Reply(r) => return hub.reply(conn, &id, r.to, r.event, r.data),
        ClientMessage::Hello(hello) => {
            hub.set_role(conn, hello.role, &hello.client_id);
            enroll::welcome(session.asker.state, conn)
        }
        ClientMessage::Ping(ping) => ServerMessage::Pong(Pong {
            t: ping.t,
            server_time: session.asker.now_ms,
        }),
        message @ (ClientMessage::Register(_)
        | ClientMessage::Pair(_)
        | ClientMessage::PairCode
        | ClientMessage::Devices
        | ClientMessage::Revoke(_)) => {
            return enroll::manage(id, message, session.identity, &session.asker)
        }
        ClientMessage::RequestUpload(_) => {
            let text =
                "requestUpload is for the public service; upload to POST /images on this server";
            return ServerFrame::error(Some(id), ErrorCode::UnknownAction, text);
        }
        // An action the protocol crate learned but this server does not serve yet.
        other => {
            let text = format!("action '{}' is not served here", other.action());
            return ServerFrame::error(Some(id), ErrorCode::UnknownAction, text);
        }
    };
    ServerFrame::reply(Some(id), message)
}

fn refuse(error: &FrameError) -> Reply {
    let action = match error {
        FrameError::BadPayload { action, .. } => Action::from_wire(action),
        _ => Action::Unknown,
    };
    Reply {
        action,
        frame: ServerFrame::refusing(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> Reply {
        let state = crate::AppState::new(crate::Config {
            heartbeat_secs: 20,
            ..crate::Config::default()
        });
        let hub = Hub::new(4, std::time::Duration::from_secs(1));
        let session = Session {
            asker: Asker {
                state: &state,
                connection_id: "c-1",
                client: std::net::Ipv4Addr::LOCALHOST.into(),
                now_ms: 1_732_240_000_003,
            },
            hub: &hub,
            identity: None,
        };
        handle_text(text, &session)
    }

    #[test]
    fn ping_gets_the_pong_of_the_design_doc() {
        let r = reply(r#"{"action":"ping","id":"c2","payload":{"t":1732240000000}}"#);
        assert_eq!(r.action, Action::Ping);
        // Compared as JSON values: the key order inside `payload` is serde_json's, not ours.
        let wire: serde_json::Value = serde_json::from_str(&r.frame.to_json()).unwrap();
        let expected: serde_json::Value = serde_json::from_str(
            r#"{"type":"pong","replyTo":"c2","payload":{"t":1732240000000,"serverTime":1732240000003}}"#,
        )
        .unwrap();
        assert_eq!(wire, expected);
    }

    #[test]
    fn hello_gets_welcome_with_the_signature() {
        let r = reply(
            r#"{"action":"hello","id":"h","payload":{"role":"client","clientId":"x","version":"1"}}"#,
        );
        assert_eq!(r.action, Action::Hello);
        assert_eq!(r.frame.reply_to.as_deref(), Some("h"));
        match r.frame.message {
            ServerMessage::Welcome(w) => {
                assert_eq!(w.connection_id, "c-1");
                assert_eq!(w.heartbeat_secs, 20);
                assert_eq!(w.server.service, "semantest");
            }
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    #[test]
    fn errors_carry_their_code_and_reply_to() {
        let r = reply(r#"{"action":"nope","id":"c3","payload":{}}"#);
        assert_eq!(
            r.frame.to_json(),
            r#"{"type":"error","replyTo":"c3","payload":{"code":"unknown_action","message":"unknown action 'nope'"}}"#
        );
        assert_eq!(r.action, Action::Unknown);

        let r = reply("{not json");
        assert!(r.frame.to_json().contains(r#""code":"bad_json""#));
        assert_eq!(r.frame.reply_to, None);

        let r = reply(r#"{"action":"ping","id":"p","payload":{"t":"soon"}}"#);
        assert!(r.frame.to_json().contains(r#""code":"bad_payload""#));
        assert_eq!(r.frame.reply_to.as_deref(), Some("p"));
        assert_eq!(r.action, Action::Ping);

        assert!(binary_refused()
            .frame
            .to_json()
            .contains(r#""code":"bad_frame""#));
    }
}
