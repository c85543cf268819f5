//! The server's WebSocket Ping heartbeat, on a real socket with a one-second heartbeat.

mod common;

use std::time::Duration;

use common::{TestServer, WAIT};
use futures_util::StreamExt;
use semantest_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn one_second() -> Config {
    Config {
        heartbeat_secs: 1,
        ..Config::default()
    }
}

/// A client that answers Pings (tungstenite does so while it reads) stays, and its round trips
/// are measured.
#[tokio::test]
async fn pongs_are_measured_and_keep_the_connection() {
    let server = TestServer::start(one_second()).await;
    let client = server.connect().await;
    // Keep reading, so the client library answers every Ping.
    let reader = tokio::spawn(async move {
        let mut client = client;
        while let Some(Ok(_)) = client.next().await {}
    });
    let measured = tokio::time::timeout(WAIT, async {
        loop {
            let text = server.state.metrics().encode();
            if common::sample(&text, "semantest_ping_rtt_seconds_count").unwrap_or(0.0) >= 2.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        measured.is_ok(),
        "two round trips measured: {}",
        server.state.metrics().encode()
    );
    assert_eq!(
        server.state.metrics().connections_open(),
        1,
        "a ponging client is not closed"
    );
    reader.abort();
}

/// A client that never answers a Ping is closed with 1008 after two missed heartbeats. The
/// client here speaks raw WebSocket over TCP, since client libraries answer Pings by themselves.
#[tokio::test]
async fn a_silent_client_is_closed_after_two_heartbeats() {
    let server = TestServer::start(one_second()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();

    let (pings, close) = tokio::time::timeout(WAIT, async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the upgrade answer");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                assert!(
                    buf.starts_with(b"HTTP/1.1 101"),
                    "{}",
                    String::from_utf8_lossy(&buf)
                );
                buf.drain(..end + 4);
                break;
            }
        }
        let mut pings = 0;
        loop {
            // Server frames are unmasked and, here, short: [opcode byte, length byte, payload].
            while buf.len() < 2 || buf.len() < 2 + usize::from(buf[1] & 0x7f) {
                let n = tcp.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed without a Close frame after {pings} pings");
                buf.extend_from_slice(&chunk[..n]);
            }
            let (opcode, len) = (buf[0] & 0x0f, usize::from(buf[1] & 0x7f));
            let frame: Vec<u8> = buf.drain(..2 + len).collect();
            let payload = &frame[2..];
            match opcode {
                0x9 => pings += 1,
                0x8 => return (pings, u16::from_be_bytes([payload[0], payload[1]])),
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(close, 1008);
    assert_eq!(pings, 2, "two Pings went unanswered before the close");
}
