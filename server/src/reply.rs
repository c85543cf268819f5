//! What the server answers to one text frame: a function of the text and the session.
//!
//! No socket, no clock: the caller passes the current time, sends the frame and counts the
//! metrics; subscriptions and events go through the [`Hub`], which only queues frames. Every error is answered with an `error` frame and the connection stays open.

use semantest_protocol::{
    ClientFrame, ClientMessage, ErrorCode, FrameError, Pong, ServerFrame, ServerMessage, Signature,
    Welcome,
};

use crate::hub::Hub;
use crate::metrics::Action;

/// What a connection knows that its replies need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session<'a> {
    /// This connection's id, sent in `welcome`.
    pub(crate) connection_id: &'a str,
    /// The server signature, sent in `welcome`.
    pub(crate) signature: &'a Signature,
    /// The heartbeat interval, sent in `welcome`.
    pub(crate) heartbeat_secs: u64,
    /// Where subscriptions, events and replies go.
    pub(crate) hub: &'a Hub,
}

/// The answer to one frame and the action label to count it under.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// The action the frame asked for (bounded: unknown names become [`Action::Unknown`]).
    pub(crate) action: Action,
    /// The frame to send back.
    pub(crate) frame: ServerFrame,
}

/// Answers one text frame received at `now_ms` (milliseconds since the Unix epoch).
pub(crate) fn handle_text(text: &str, session: &Session<'_>, now_ms: u64) -> Reply {
    match ClientFrame::parse(text) {
        Ok(frame) => {
            let action = Action::from_wire(frame.message.action());
            Reply {
                action,
                frame: answer(frame, session, now_ms),
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

fn answer(frame: ClientFrame, session: &Session<'_>, now_ms: u64) -> ServerFrame {
    let id = frame.id;
    let hub = session.hub;
    let conn = session.connection_id;
    let message = match frame.message {
        ClientMessage::Subscribe(e) => return hub.subscribe(conn, &id, e.events, true),
        ClientMessage::Unsubscribe(e) => return hub.subscribe(conn, &id, e.events, false),
        ClientMessage::Publish(p) => return hub.publish(conn, &id, p.event, p.data),
        ClientMessage::Reply(r) => return hub.reply(conn, &id, r.to, r.event, r.data),
        ClientMessage::Hello(hello) => {
            hub.set_role(conn, hello.role, &hello.client_id);
            ServerMessage::Welcome(Welcome {
                connection_id: session.connection_id.to_owned(),
                server: session.signature.clone(),
                heartbeat_secs: session.heartbeat_secs,
            })
        }
        ClientMessage::Ping(ping) => ServerMessage::Pong(Pong {
            t: ping.t,
            server_time: now_ms,
        }),
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
    let reply_to = error.id().map(str::to_owned);
    let (action, code) = match error {
        FrameError::BadJson(_) => (Action::Unknown, ErrorCode::BadJson),
        FrameError::UnknownAction { .. } => (Action::Unknown, ErrorCode::UnknownAction),
        FrameError::BadPayload { action, .. } => (Action::from_wire(action), ErrorCode::BadPayload),
        _ => (Action::Unknown, ErrorCode::BadJson),
    };
    Reply {
        action,
        frame: ServerFrame::error(reply_to, code, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session<'a>(signature: &'a Signature, hub: &'a Hub) -> Session<'a> {
        Session {
            connection_id: "c-1",
            signature,
            heartbeat_secs: 20,
            hub,
        }
    }

    fn reply(text: &str) -> Reply {
        let signature = Signature::new("local", &["imageGeneration"]);
        let hub = Hub::new(4, std::time::Duration::from_secs(1));
        handle_text(text, &session(&signature, &hub), 1_732_240_000_003)
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
