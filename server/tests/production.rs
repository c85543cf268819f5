//! Production mode under attack: every test sends one kind of bad or hostile input to a real
//! server on loopback, asserts the exact answer (status, close code, error code), and checks
//! that another client is still served.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::header;
use common::{
    connect_from, next_frame, next_message, round_trip, sample, send_text, Client, TestServer, WAIT,
};
use futures_util::SinkExt;
use semantest_protocol::{ErrorCode, ServerMessage};
use semantest_server::{Config, Environment};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const KEY: &str = "production-test-key-0123456789";

fn production() -> Config {
    Config {
        environment: Environment::Production,
        api_keys: vec![KEY.parse().unwrap()],
        ..Config::default()
    }
}

const HELLO: &str =
    r#"{"action":"hello","id":"h1","payload":{"role":"client","clientId":"t","version":"1"}}"#;

fn hello_with(token: &str) -> String {
    format!(
        r#"{{"action":"hello","id":"h1","payload":{{"role":"client","clientId":"t","version":"1","token":"{token}"}}}}"#
    )
}

/// Opens a WebSocket with extra headers; the client, or the HTTP status of the refusal.
async fn connect_with(
    server: &TestServer,
    headers: &[(&'static str, &str)],
) -> Result<Client, u16> {
    let mut request = server.ws_url().into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            header::HeaderName::from_static(name),
            value.parse().unwrap(),
        );
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect timed out")
    {
        Ok((client, _)) => Ok(client),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

/// A client that showed the key in its hello and got its welcome.
async fn authenticated(server: &TestServer) -> Client {
    let mut client = server.connect().await;
    let welcome = round_trip(&mut client, &hello_with(KEY)).await;
    assert!(
        matches!(welcome.message, ServerMessage::Welcome(_)),
        "{welcome:?}"
    );
    client
}

/// Asserts `client` still gets a pong.
async fn still_served(client: &mut Client) {
    let pong = round_trip(
        client,
        r#"{"action":"ping","id":"alive","payload":{"t":1}}"#,
    )
    .await;
    assert!(matches!(pong.message, ServerMessage::Pong(_)), "{pong:?}");
}

/// The next frame must be an error with `code`; returns its message.
async fn expect_error(client: &mut Client, code: ErrorCode) -> String {
    match next_frame(client).await.message {
        ServerMessage::Error(e) if e.code == code => e.message,
        other => panic!("expected a {code:?} error, got {other:?}"),
    }
}

/// The next message must be a Close with `code` and `reason`.
async fn expect_close(client: &mut Client, code: CloseCode, reason: &str) {
    match next_message(client).await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(frame.code, code);
            assert_eq!(frame.reason.as_str(), reason);
        }
        other => panic!("expected close {code:?} '{reason}', got {other:?}"),
    }
}

/// One raw HTTP/1.1 request over its own connection; the whole answer as text.
async fn http(addr: SocketAddr, request: &str) -> String {
    http_over(TcpStream::connect(addr).await.unwrap(), request).await
}

/// One raw HTTP/1.1 request over `tcp`; the whole answer as text.
async fn http_over(mut tcp: TcpStream, request: &str) -> String {
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n{extra}\r\n")
}

#[tokio::test]
async fn a_hello_without_a_key_is_welcomed_and_may_only_ping_register_or_pair() {
    let server = TestServer::start(production()).await;
    let mut good = authenticated(&server).await;
    let mut keyless = server.connect().await;
    send_text(&mut keyless, HELLO).await;
    let frame = next_frame(&mut keyless).await;
    assert_eq!(frame.reply_to.as_deref(), Some("h1"));
    assert!(
        matches!(frame.message, ServerMessage::Welcome(_)),
        "{frame:?}"
    );
    for action in ["subscribe", "publish", "pairCode", "devices"] {
        let payload = match action {
            "subscribe" => r#"{"events":["status"]}"#,
            "publish" => r#"{"event":"status","data":1}"#,
            _ => "{}",
        };
        let text = format!(r#"{{"action":"{action}","id":"x","payload":{payload}}}"#);
        send_text(&mut keyless, &text).await;
        let message = expect_error(&mut keyless, ErrorCode::Unauthorized).await;
        assert!(
            message.contains("register") && message.contains("pair"),
            "{message}"
        );
    }
    still_served(&mut keyless).await;
    still_served(&mut good).await;
}

#[tokio::test]
async fn a_wrong_key_in_hello_is_refused_without_echoing_it() {
    let server = TestServer::start(production()).await;
    let mut bad = server.connect().await;
    send_text(&mut bad, &hello_with("a-wrong-guess-0123456789")).await;
    let message = expect_error(&mut bad, ErrorCode::Unauthorized).await;
    assert_eq!(message, "the API key is not valid");
    expect_close(
        &mut bad,
        CloseCode::Policy,
        "unauthorized: API key not valid",
    )
    .await;
    let mut good = authenticated(&server).await;
    still_served(&mut good).await;
}

#[tokio::test]
async fn bad_first_frames_are_answered_and_the_keyless_socket_stays_until_its_deadline() {
    let server = TestServer::start(production()).await;
    let mut keyless = server.connect().await;
    binary_and_garbage_are_refused(&mut keyless).await;
    send_text(
        &mut keyless,
        r#"{"action":"publish","id":"p1","payload":{"event":"status"}}"#,
    )
    .await;
    let frame = next_frame(&mut keyless).await;
    assert_eq!(frame.reply_to.as_deref(), Some("p1"));
    assert!(matches!(frame.message, ServerMessage::Error(e) if e.code == ErrorCode::Unauthorized));
    still_served(&mut keyless).await;
}

async fn binary_and_garbage_are_refused(client: &mut Client) {
    client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    expect_error(client, ErrorCode::BadFrame).await;
    send_text(client, "{not json").await;
    expect_error(client, ErrorCode::BadJson).await;
}

#[tokio::test]
async fn a_silent_socket_without_a_key_is_closed_at_the_deadline() {
    let server = TestServer::start(Config {
        auth_deadline_ms: 300,
        ..production()
    })
    .await;
    let mut good = authenticated(&server).await;
    let mut silent = server.connect().await;
    expect_close(
        &mut silent,
        CloseCode::Policy,
        "unauthorized: no token in time",
    )
    .await;
    still_served(&mut good).await;
}

#[tokio::test]
async fn a_key_in_the_handshake_is_checked_before_the_upgrade() {
    let server = TestServer::start(production()).await;
    // A wrong key in the Authorization header: 401 before any socket exists.
    let bearer_wrong = format!("Bearer {}", "x".repeat(20));
    assert_eq!(
        connect_with(&server, &[("authorization", &bearer_wrong)])
            .await
            .err(),
        Some(401)
    );
    // A wrong key in the subprotocol (a browser, which cannot read a 401): told in band,
    // then closed, and nothing on that socket is served.
    let proto_wrong = format!("semantest.v1, bearer.{}", "y".repeat(20));
    let mut refused = connect_with(&server, &[("sec-websocket-protocol", &proto_wrong)])
        .await
        .unwrap();
    let error = next_frame(&mut refused).await;
    assert!(
        matches!(&error.message, ServerMessage::Error(e) if e.code == ErrorCode::Unauthorized && e.message == "the API key is not valid"),
        "{error:?}"
    );
    assert!(
        !error.to_json().contains(&"y".repeat(20)),
        "the key is not echoed"
    );
    expect_close(
        &mut refused,
        CloseCode::Policy,
        "unauthorized: API key not valid",
    )
    .await;
    // The right key in the Authorization header: hello needs no token.
    let bearer = format!("Bearer {KEY}");
    let mut cli = connect_with(&server, &[("authorization", &bearer)])
        .await
        .unwrap();
    let welcome = round_trip(&mut cli, HELLO).await;
    assert!(
        matches!(welcome.message, ServerMessage::Welcome(_)),
        "{welcome:?}"
    );
    // A browser's way: the subprotocol list. The server selects semantest.v1, never the key.
    let mut request = server.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        format!("semantest.v1, bearer.{KEY}").parse().unwrap(),
    );
    let (mut browser, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response
            .headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .unwrap(),
        "semantest.v1"
    );
    let welcome = round_trip(&mut browser, HELLO).await;
    assert!(
        matches!(welcome.message, ServerMessage::Welcome(_)),
        "{welcome:?}"
    );
}

#[tokio::test]
async fn http_endpoints_that_hold_data_need_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(Config {
        images_dir: dir.path().to_owned(),
        ..production()
    })
    .await;
    let addr = server.addr;
    for path in ["/signature", "/semantest-signature", "/health"] {
        let answer = http(addr, &get(path, "")).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    for path in ["/metrics", "/images/0123456789abcdef"] {
        let answer = http(addr, &get(path, "")).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{path}: {answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{answer}"
        );
        assert!(answer.contains("an API key is required"), "{answer}");
        let wrong = http(
            addr,
            &get(path, "Authorization: Bearer wrong-key-0123456789\r\n"),
        )
        .await;
        assert!(wrong.starts_with("HTTP/1.1 401"), "{path}: {wrong}");
        assert!(wrong.contains("the API key is not valid"), "{wrong}");
        assert!(
            !wrong.contains("wrong-key"),
            "the key is not echoed: {wrong}"
        );
    }
    let metrics = http(
        addr,
        &get("/metrics", &format!("Authorization: Bearer {KEY}\r\n")),
    )
    .await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    let upload = "POST /images?name=a.png HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc";
    assert!(http(addr, upload).await.starts_with("HTTP/1.1 401"));
    let upload = format!(
        "POST /images?name=a.png HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\nAuthorization: Bearer {KEY}\r\nContent-Length: 3\r\n\r\nabc"
    );
    let stored = http(addr, &upload).await;
    assert!(stored.starts_with("HTTP/1.1 201"), "{stored}");
    // The key's tenant has a folder of its own.
    let folders: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert_eq!(std::fs::read(folders[0].join("a.png")).unwrap(), b"abc");
}

#[tokio::test]
async fn the_101st_request_in_a_minute_is_429_with_retry_after_and_others_go_on() {
    let proxy = "127.0.0.1".parse().unwrap();
    let server = TestServer::start(Config {
        trusted_proxies: vec![proxy],
        ..production()
    })
    .await;
    let from = |client: &str| get("/health", &format!("X-Forwarded-For: {client}\r\n"));
    for n in 1..=100 {
        let answer = http(server.addr, &from("203.0.113.1")).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "request {n}: {answer}");
    }
    let refused = http(server.addr, &from("203.0.113.1")).await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    let retry_after: u64 = refused
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(str::to_owned)
        })
        .expect("a Retry-After header")
        .trim()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(
        refused.contains("rate limited: 100 requests per minute per address"),
        "{refused}"
    );
    // Another client behind the same proxy has its own bucket.
    let other = http(server.addr, &from("203.0.113.2")).await;
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");
    let metrics = http(
        server.addr,
        &format!(
            "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Forwarded-For: 203.0.113.3\r\nAuthorization: Bearer {KEY}\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(
        sample(&metrics, r#"semantest_rate_limited_total{scope="http"}"#),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn forwarded_for_from_a_stranger_does_not_escape_the_limit() {
    let server = TestServer::start(Config {
        http_requests_per_minute: 5,
        ..production()
    })
    .await;
    for n in 0..5 {
        let spoof = get("/health", &format!("X-Forwarded-For: 198.51.100.{n}\r\n"));
        assert!(http(server.addr, &spoof).await.starts_with("HTTP/1.1 200"));
    }
    let spoof = get("/health", "X-Forwarded-For: 198.51.100.99\r\n");
    assert!(http(server.addr, &spoof).await.starts_with("HTTP/1.1 429"));
}

#[tokio::test]
async fn messages_over_the_rate_are_refused_and_a_flood_is_closed() {
    let server = TestServer::start(Config {
        messages_per_second: 1,
        ..production()
    })
    .await;
    let mut good = authenticated(&server).await;
    let mut noisy = authenticated(&server).await;
    // The hello used one of the burst of 2; a burst of pings finds the limit.
    let mut pongs = 0;
    let mut limited = 0;
    for n in 0..5 {
        send_text(
            &mut noisy,
            &format!(r#"{{"action":"ping","id":"p{n}","payload":{{"t":1}}}}"#),
        )
        .await;
        match next_frame(&mut noisy).await.message {
            ServerMessage::Pong(_) => pongs += 1,
            ServerMessage::Error(e) if e.code == ErrorCode::RateLimited => {
                assert!(e.message.contains("at most 1 per second"), "{}", e.message);
                limited += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(limited >= 1, "pongs {pongs}, limited {limited}");
    assert!(pongs < 5, "pongs {pongs}");
    // Refused messages leave the connection open; a flood closes it.
    for n in 0..300 {
        if noisy
            .send(Message::text(format!(
                r#"{{"action":"ping","id":"f{n}","payload":{{"t":1}}}}"#
            )))
            .await
            .is_err()
        {
            break;
        }
    }
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match next_message(&mut noisy).await {
                Some(Message::Close(Some(frame))) => return frame,
                Some(_) => continue,
                None => panic!("closed without a close frame"),
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(closed.code, CloseCode::Policy);
    assert_eq!(closed.reason.as_str(), "message rate limit exceeded");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    still_served(&mut good).await;
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_and_others_are_served() {
    let server = TestServer::start(Config {
        header_read_timeout_ms: 500,
        ..production()
    })
    .await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    // One header line every 100 ms, never the blank line that ends them (bounded: 10 s).
    let cut_off = tokio::time::timeout(WAIT, async {
        for n in 0..100 {
            if slow
                .write_all(format!("X-Slow-{n}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return true;
            }
            let mut buf = [0u8; 256];
            match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(n)) => {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    assert!(
                        !text.contains(" 200 "),
                        "the slow request was answered: {text}"
                    );
                    return true;
                }
                Err(_) => {}
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(cut_off, "the slow client was never cut off");
    let answer = http(server.addr, &get("/health", "")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn connections_over_the_per_address_cap_get_503_until_one_closes() {
    let server = TestServer::start(Config {
        max_connections_per_ip: 3,
        ..production()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(authenticated(&server).await);
    }
    let refused = http(server.addr, &get("/health", "")).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("Retry-After: 5"), "{refused}");
    // Another address is not held back by this one's cap.
    let other = connect_from("127.0.0.2", server.addr).await;
    let answer = http_over(other, &get("/health", "")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The open sockets are still served.
    still_served(&mut held[0]).await;
    // Closing one frees its slot (bounded wait for the server to notice).
    let mut gone = held.pop().unwrap();
    gone.close(None).await.unwrap();
    let freed = tokio::time::timeout(WAIT, async {
        loop {
            if http(server.addr, &get("/health", ""))
                .await
                .starts_with("HTTP/1.1 200")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "the slot was never freed");
}

#[tokio::test]
async fn the_global_cap_counts_every_connection() {
    let server = TestServer::start(Config {
        max_connections: 2,
        ..production()
    })
    .await;
    let _a = TcpStream::connect(server.addr).await.unwrap();
    let mut b = authenticated(&server).await;
    let refused = http(server.addr, &get("/health", "")).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    // From any address.
    let other = connect_from("127.0.0.3", server.addr).await;
    let refused = http_over(other, &get("/health", "")).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("Retry-After: 5"), "{refused}");
    still_served(&mut b).await;
}

#[tokio::test]
async fn a_refused_request_does_not_keep_its_connection() {
    let server = TestServer::start(Config {
        http_requests_per_minute: 1,
        ..production()
    })
    .await;
    // Keep-alive requests, pipelined: the 401 ends the connection, the second is never read.
    let twice = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\nGET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
    let answer = http(server.addr, twice).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    // The same for a 429 (the one request of this minute is used up).
    let answer = http(server.addr, twice).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
}

#[tokio::test]
async fn a_trusted_proxys_own_health_checks_are_not_rate_limited() {
    let server = TestServer::start(Config {
        http_requests_per_minute: 1,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..production()
    })
    .await;
    for _ in 0..3 {
        let answer = http(server.addr, &get("/health", "")).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Anything else from the proxy itself, and forwarded health checks, are limited.
    assert!(http(server.addr, &get("/signature", ""))
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(http(server.addr, &get("/signature", ""))
        .await
        .starts_with("HTTP/1.1 429"));
    let forwarded = get("/health", "X-Forwarded-For: 203.0.113.5\r\n");
    assert!(http(server.addr, &forwarded)
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(http(server.addr, &forwarded)
        .await
        .starts_with("HTTP/1.1 429"));
}

#[tokio::test]
async fn with_registration_closed_a_keyless_extension_is_told_to_ask_for_a_key() {
    let server = TestServer::start(Config {
        registration: false,
        ..production()
    })
    .await;
    let mut keyless = server.connect().await;
    send_text(&mut keyless, HELLO).await;
    assert!(matches!(
        next_frame(&mut keyless).await.message,
        ServerMessage::Welcome(_)
    ));
    send_text(
        &mut keyless,
        r#"{"action":"register","id":"r1","payload":{"role":"extension","name":"Chrome"}}"#,
    )
    .await;
    let message = expect_error(&mut keyless, ErrorCode::Unauthorized).await;
    assert!(
        message.starts_with("registration is closed on this server"),
        "{message}"
    );
    let mut good = authenticated(&server).await;
    still_served(&mut good).await;
}
