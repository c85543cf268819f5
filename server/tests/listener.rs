//! The accept loop at its bounds, on a real server on loopback: every connection over a cap is
//! answered 503 (however many come at once), and what it sends after the answer is read, not
//! reset; an idle kept-alive connection, or one whose next request dribbles in, is closed after
//! the header-read timeout (paused time). The caps themselves, per address and in all, are in
//! `production.rs`.

mod common;

use std::time::Duration;

use common::{connect_from, TestServer, WAIT};
use semantest_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A keep-alive request (local mode: the `Host` is loopback).
const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Sends `HEALTH` and reads one whole answer (its head, and its body by `Content-Length`),
/// leaving the connection open.
async fn ask(tcp: &mut TcpStream) -> String {
    tcp.write_all(HEALTH).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a whole answer");
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if answer.len() >= end + 4 + length {
                    return;
                }
            }
        }
    })
    .await
    .expect("an answer in time");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Everything the server sends until it closes (a reset after the answer counts as a close).
async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        while let Ok(n @ 1..) = tcp.read(&mut buf).await {
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("closed in time");
    String::from_utf8_lossy(&answer).into_owned()
}

/// More refusals at once than the 256 the server once answered (past those it closed them
/// unanswered): each one reads its 503 with `Retry-After`, and the admitted ones are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_over_a_cap_is_answered_503_however_many_at_once() {
    const REFUSED: usize = 300;
    let server = TestServer::start(Config {
        max_connections_per_ip: 2,
        ..Config::default()
    })
    .await;
    let mut admitted = Vec::new();
    for _ in 0..2 {
        let mut tcp = connect_from("127.0.0.2", server.addr).await;
        assert!(ask(&mut tcp).await.starts_with("HTTP/1.1 200"));
        admitted.push(tcp);
    }
    // All connected (and their requests sent) before any reads its answer.
    let mut flood = Vec::new();
    for _ in 0..REFUSED {
        let mut tcp = connect_from("127.0.0.2", server.addr).await;
        tcp.write_all(HEALTH).await.unwrap();
        flood.push(tcp);
    }
    let answers = futures_util::future::join_all(flood.iter_mut().map(read_to_close)).await;
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
        assert!(answer.contains("\r\nRetry-After: 5\r\n"), "{answer}");
    }
    for tcp in &mut admitted {
        assert!(ask(tcp).await.starts_with("HTTP/1.1 200"), "still served");
    }
}

/// A refused client that sends its request only after reading the 503 and the server's FIN (a
/// slow client, or one that connected ahead of writing) is read, not reset: its next write goes
/// through, and it reads the end of the stream. A reset would make Windows drop the 503 unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_that_writes_after_the_503_is_not_reset() {
    let server = TestServer::start(Config {
        max_connections_per_ip: 1,
        ..Config::default()
    })
    .await;
    let mut admitted = connect_from("127.0.0.3", server.addr).await;
    assert!(ask(&mut admitted).await.starts_with("HTTP/1.1 200"));
    let mut refused = connect_from("127.0.0.3", server.addr).await;
    let answer = read_to_close(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
    assert!(answer.contains("\r\nRetry-After: 5\r\n"), "{answer}");
    refused.write_all(HEALTH).await.expect("the late request");
    // Long enough on loopback for the request to arrive and a reset, if any, to come back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    refused
        .write_all(HEALTH)
        .await
        .expect("a second write after the late request: not reset");
    refused.shutdown().await.expect("the client's FIN");
    let mut buf = [0u8; 64];
    let end = tokio::time::timeout(WAIT, refused.read(&mut buf))
        .await
        .expect("the end of the stream in time");
    assert!(matches!(end, Ok(0)), "{end:?}");
}

/// A server with this header-read timeout, and a connection to it that has had one request
/// answered and is kept alive; with the time of the answer.
async fn kept_alive_after_one_request(timeout: Duration) -> (TestServer, TcpStream, Instant) {
    let server = TestServer::start(Config {
        header_read_timeout_ms: u64::try_from(timeout.as_millis()).unwrap(),
        ..Config::default()
    })
    .await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let answer = ask(&mut tcp).await;
    let answered = Instant::now();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "kept alive: {answer}"
    );
    (server, tcp, answered)
}

/// After one complete request, a kept-alive connection that says nothing more is closed when
/// the header-read timeout runs out — hyper starts that clock whenever it waits for a request's
/// head, the next one on a kept-alive connection included — and not before.
#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_at_the_header_read_timeout() {
    let timeout = Duration::from_secs(10);
    let (_server, mut tcp, answered) = kept_alive_after_one_request(timeout).await;
    let mut buf = [0u8; 64];
    // Open just before the timeout (the server's clock started when it answered, at the latest)…
    tokio::time::sleep_until(answered + timeout - Duration::from_millis(200)).await;
    let early = tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await;
    assert!(early.is_err(), "closed before the timeout: {early:?}");
    // …and closed soon after it (the server's 100 ms ticks are the paused clock's steps).
    let closed = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf))
        .await
        .expect("still open a second after the header-read timeout");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
}

/// A second request on a kept-alive connection that dribbles its headers (one line a second,
/// never the blank line) does not restart the clock: it is closed at the header-read timeout
/// counted from the first answer.
#[tokio::test(start_paused = true)]
async fn a_slow_second_request_on_a_kept_alive_connection_is_cut_off() {
    let timeout = Duration::from_secs(10);
    let (_server, mut tcp, answered) = kept_alive_after_one_request(timeout).await;
    tcp.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let mut lines = 0;
    let cut_off = loop {
        if tcp
            .write_all(format!("X-Slow-{lines}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            break Instant::now();
        }
        lines += 1;
        match tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => break Instant::now(),
            Ok(Ok(n)) => panic!("answered: {}", String::from_utf8_lossy(&buf[..n])),
        }
        assert!(lines < 30, "never cut off");
    };
    assert!(
        lines >= 9,
        "cut off after {lines} lines, before the timeout"
    );
    assert!(cut_off - answered <= timeout + Duration::from_secs(1));
}
