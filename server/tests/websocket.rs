//! The protocol on a real socket: a server on `127.0.0.1:0` and a `tokio-tungstenite` client.

mod common;

use common::{next_frame, round_trip, TestServer};
use futures_util::{SinkExt, StreamExt};
use semantest_protocol::{ErrorCode, ServerFrame, ServerMessage};
use semantest_server::Config;
use tokio_tungstenite::tungstenite::Message;

const HELLO: &str = r#"{"action":"hello","id":"h1","payload":{"role":"extension","clientId":"ext-1","version":"0.1.0","capabilities":["imageDownload"]}}"#;

fn error_of(frame: &ServerFrame) -> (ErrorCode, String) {
    match &frame.message {
        ServerMessage::Error(e) => (e.code, e.message.clone()),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn hello_gets_welcome() {
    let server = TestServer::start(Config {
        heartbeat_secs: 7,
        ..Config::default()
    })
    .await;
    let mut client = server.connect().await;
    let frame = round_trip(&mut client, HELLO).await;
    assert_eq!(frame.reply_to.as_deref(), Some("h1"));
    let ServerMessage::Welcome(welcome) = frame.message else {
        panic!("expected welcome, got {frame:?}")
    };
    assert!(!welcome.connection_id.is_empty());
    assert_eq!(welcome.heartbeat_secs, 7);
    assert_eq!(welcome.server, server.state.signature().clone());
    assert_eq!(welcome.server.service, "semantest");
    assert_eq!(welcome.server.environment, "local");

    let mut other = server.connect().await;
    let ServerMessage::Welcome(second) = round_trip(&mut other, HELLO).await.message else {
        panic!()
    };
    assert_ne!(
        second.connection_id, welcome.connection_id,
        "each connection has its own id"
    );
}

#[tokio::test]
async fn ping_gets_pong_with_t_echoed() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let frame = round_trip(
        &mut client,
        r#"{"action":"ping","id":"c2","payload":{"t":1732240000000}}"#,
    )
    .await;
    assert_eq!(frame.reply_to.as_deref(), Some("c2"));
    let ServerMessage::Pong(pong) = frame.message else {
        panic!("expected pong, got {frame:?}")
    };
    assert_eq!(pong.t, 1_732_240_000_000);
    assert!(
        pong.server_time > 1_700_000_000_000,
        "server time is ms since the epoch: {}",
        pong.server_time
    );
}

#[tokio::test]
async fn malformed_json_is_an_error_and_the_connection_stays_open() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let frame = round_trip(&mut client, "{this is not json").await;
    assert_eq!(error_of(&frame).0, ErrorCode::BadJson);
    assert_eq!(frame.reply_to, None);

    let frame = round_trip(
        &mut client,
        r#"{"action":"ping","id":"after","payload":{"t":5}}"#,
    )
    .await;
    assert_eq!(frame.reply_to.as_deref(), Some("after"));
    assert!(matches!(frame.message, ServerMessage::Pong(p) if p.t == 5));
}

#[tokio::test]
async fn unknown_action_names_the_action_and_replies_to_the_frame() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let frame = round_trip(&mut client, r#"{"action":"nope","id":"c3","payload":{}}"#).await;
    assert_eq!(
        frame.to_json(),
        r#"{"type":"error","replyTo":"c3","payload":{"code":"unknown_action","message":"unknown action 'nope'"}}"#
    );
}

#[tokio::test]
async fn bad_payload_is_an_error_with_reply_to() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let frame = round_trip(
        &mut client,
        r#"{"action":"ping","id":"p","payload":{"t":"soon"}}"#,
    )
    .await;
    assert_eq!(error_of(&frame).0, ErrorCode::BadPayload);
    assert_eq!(frame.reply_to.as_deref(), Some("p"));
}

#[tokio::test]
async fn binary_frames_are_refused_and_the_connection_stays_open() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    client.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    let frame = next_frame(&mut client).await;
    assert_eq!(error_of(&frame).0, ErrorCode::BadFrame);

    let frame = round_trip(
        &mut client,
        r#"{"action":"ping","id":"b","payload":{"t":9}}"#,
    )
    .await;
    assert!(matches!(frame.message, ServerMessage::Pong(_)), "{frame:?}");
}

/// What really happens (observed on Linux loopback): the server's WebSocket library refuses the
/// frame as soon as its header announces more than `max_message_bytes`; the server sends Close
/// 1009 ("message too big") and drops the connection without reading the rest (so an attacker
/// cannot make it buffer the oversized frame) and without waiting for the client's Close. The
/// client reads the Close frame, then the socket ends — usually with "connection reset by
/// peer", since unread bytes were still queued at the server. For a message of several MB the
/// client's own `send` can already fail with that reset; the Close is still readable after it.
/// A message exactly at the limit passes.
#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let server = TestServer::start(Config {
        max_message_bytes: 1024,
        ..Config::default()
    })
    .await;
    let mut client = server.connect().await;

    let at_limit = format!(
        r#"{{"action":"ping","id":"big","payload":{{"t":1}},"pad":"{}"}}"#,
        "x".repeat(1024 - 55)
    );
    assert_eq!(at_limit.len(), 1024);
    let frame = round_trip(&mut client, &at_limit).await;
    assert!(matches!(frame.message, ServerMessage::Pong(_)), "{frame:?}");

    for size in [1025, 200_000, 5_000_000] {
        let mut client = server.connect().await;
        // A send error here is the reset described above; the Close is still read below.
        let _ = client.send(Message::text("x".repeat(size))).await;
        let first = tokio::time::timeout(common::WAIT, client.next())
            .await
            .expect("an answer in time");
        match first {
            Some(Ok(Message::Close(Some(close)))) => {
                assert_eq!(u16::from(close.code), 1009, "{size}");
                assert_eq!(close.reason.as_str(), "message too big");
            }
            other => panic!("{size} bytes: expected Close 1009, got {other:?}"),
        }
        let after = tokio::time::timeout(common::WAIT, client.next())
            .await
            .expect("the socket ends in time");
        assert!(
            !matches!(after, Some(Ok(_))),
            "{size} bytes: nothing after the Close, got {after:?}"
        );
    }
    let text = server.state.metrics().encode();
    assert_eq!(
        common::sample(&text, r#"semantest_errors_total{code="too_large"}"#),
        Some(3.0),
        "{text}"
    );
}

/// The close handshake completes: a client that closes gets the server's Close back, not a reset.
#[tokio::test]
async fn a_client_close_is_answered_with_a_close() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    round_trip(&mut client, HELLO).await;
    client
        .send(Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: 1000u16.into(),
                reason: "bye".into(),
            },
        )))
        .await
        .unwrap();
    let reply = tokio::time::timeout(common::WAIT, client.next())
        .await
        .expect("the server answered in time");
    match reply {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("expected the server's Close, got {other:?}"),
    }
}
