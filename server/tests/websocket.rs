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

/// A raw WebSocket client over TCP, to send what a well-behaved library will not.
mod raw {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Opens `/` with a hand-written upgrade request and reads the 101.
    pub(super) async fn open(addr: std::net::SocketAddr) -> TcpStream {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            tcp.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        tcp
    }

    /// One masked client frame.
    pub(super) fn frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![first_byte];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// Reads frames until a Close; its code and reason (bounded by the caller's timeout).
    pub(super) async fn close_of(tcp: &mut TcpStream) -> (u16, String) {
        loop {
            let mut head = [0u8; 2];
            tcp.read_exact(&mut head).await.unwrap();
            let len = match head[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    tcp.read_exact(&mut l).await.unwrap();
                    usize::from(u16::from_be_bytes(l))
                }
                n => usize::from(n),
            };
            let mut payload = vec![0u8; len];
            tcp.read_exact(&mut payload).await.unwrap();
            if head[0] & 0x0f == 0x8 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, String::from_utf8_lossy(&payload[2..]).into_owned());
            }
        }
    }
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007_and_others_go_on() {
    let server = TestServer::start(Config::default()).await;
    let mut other = server.connect().await;
    let mut tcp = raw::open(server.addr).await;
    use tokio::io::AsyncWriteExt;
    tcp.write_all(&raw::frame(0x81, &[b'{', 0xff, 0xfe, b'}']))
        .await
        .unwrap();
    let (code, reason) = tokio::time::timeout(common::WAIT, raw::close_of(&mut tcp))
        .await
        .expect("a close in time");
    assert_eq!((code, reason.as_str()), (1007, "invalid UTF-8"));
    let frame = round_trip(
        &mut other,
        r#"{"action":"ping","id":"p","payload":{"t":1}}"#,
    )
    .await;
    assert!(matches!(frame.message, ServerMessage::Pong(_)), "{frame:?}");
}

#[tokio::test]
async fn a_message_over_the_limit_in_small_fragments_closes_with_1009() {
    let server = TestServer::start(Config {
        max_message_bytes: 1024,
        ..Config::default()
    })
    .await;
    let mut other = server.connect().await;
    let mut tcp = raw::open(server.addr).await;
    use tokio::io::AsyncWriteExt;
    // Three 500-byte fragments: each frame is under the limit, the message is not.
    let chunk = vec![b'x'; 500];
    let mut frames = raw::frame(0x01, &chunk); // text, not final
    frames.extend(raw::frame(0x00, &chunk)); // continuation
    frames.extend(raw::frame(0x80, &chunk)); // continuation, final
    let _ = tcp.write_all(&frames).await;
    let (code, reason) = tokio::time::timeout(common::WAIT, raw::close_of(&mut tcp))
        .await
        .expect("a close in time");
    assert_eq!((code, reason.as_str()), (1009, "message too big"));
    let frame = round_trip(
        &mut other,
        r#"{"action":"ping","id":"p","payload":{"t":1}}"#,
    )
    .await;
    assert!(matches!(frame.message, ServerMessage::Pong(_)), "{frame:?}");
}
