//! Protocol v1 beyond hello/ping: subscribe, publish, reply, and events held for an extension.

mod common;

use std::time::Duration;

use common::{next_frame, round_trip, Client, TestServer};
use futures_util::SinkExt;
use semantest_protocol::{ErrorCode, ServerFrame, ServerMessage};
use semantest_server::Config;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn frame(action: &str, id: &str, payload: Value) -> String {
    json!({"action": action, "id": id, "payload": payload}).to_string()
}

async fn hello(client: &mut Client, role: &str) {
    let f = round_trip(
        client,
        &frame(
            "hello",
            "h",
            json!({"role": role, "clientId": role, "version": "0"}),
        ),
    )
    .await;
    assert!(matches!(f.message, ServerMessage::Welcome(_)), "{f:?}");
}

async fn subscribe(client: &mut Client, events: &[&str]) {
    let f = round_trip(client, &frame("subscribe", "s", json!({"events": events}))).await;
    let ServerMessage::Ack(ack) = f.message else {
        panic!("{f:?}")
    };
    assert_eq!(ack.action, "subscribe");
}

fn ack_of(f: &ServerFrame) -> &semantest_protocol::Ack {
    match &f.message {
        ServerMessage::Ack(a) => a,
        other => panic!("expected ack, got {other:?}"),
    }
}

fn event_of(f: &ServerFrame) -> &semantest_protocol::EventPayload {
    match &f.message {
        ServerMessage::Event(e) => e,
        other => panic!("expected event, got {other:?}"),
    }
}

fn error_of(f: &ServerFrame) -> (ErrorCode, &str) {
    match &f.message {
        ServerMessage::Error(e) => (e.code, e.message.as_str()),
        other => panic!("expected error, got {other:?}"),
    }
}

/// Nothing arrives within a short while (for "not delivered" checks).
async fn quiet(client: &mut Client) {
    use futures_util::StreamExt;
    let got = tokio::time::timeout(Duration::from_millis(300), client.next()).await;
    assert!(got.is_err(), "expected nothing, got {got:?}");
}

#[tokio::test]
async fn publish_reaches_subscribers_and_reply_reaches_the_publisher_only() {
    let server = TestServer::start(Config::default()).await;
    let (mut tool, mut ext, mut other) = (
        server.connect().await,
        server.connect().await,
        server.connect().await,
    );
    hello(&mut tool, "client").await;
    hello(&mut ext, "extension").await;
    hello(&mut other, "client").await;
    subscribe(&mut ext, &["status"]).await;
    subscribe(&mut other, &["status", "imageDownloaded"]).await;

    let f = round_trip(
        &mut tool,
        &frame(
            "publish",
            "p1",
            json!({"event": "status", "data": {"n": 1}}),
        ),
    )
    .await;
    assert_eq!(f.reply_to.as_deref(), Some("p1"));
    let ack = ack_of(&f);
    assert_eq!(ack.delivered, Some(2));
    let id = ack.id.clone().unwrap();
    for client in [&mut ext, &mut other] {
        let e = next_frame(client).await;
        let e = event_of(&e);
        assert_eq!(
            (e.event.as_str(), e.id.as_str(), &e.data),
            ("status", id.as_str(), &json!({"n": 1}))
        );
    }
    quiet(&mut tool).await; // the publisher does not get its own event

    // The extension replies; only the publisher hears it, tied to its publish frame.
    let f = round_trip(
        &mut ext,
        &frame(
            "reply",
            "r1",
            json!({"to": id, "event": "imageDownloaded", "data": {"ok": true}}),
        ),
    )
    .await;
    assert_eq!(ack_of(&f).delivered, Some(1));
    let r = next_frame(&mut tool).await;
    assert_eq!(r.reply_to.as_deref(), Some("p1"));
    let e = event_of(&r);
    assert_eq!(e.event, "imageDownloaded");
    assert_eq!(e.in_reply_to.as_deref(), Some(id.as_str()));
    quiet(&mut other).await; // subscribed to imageDownloaded, but a reply is not a broadcast

    // Unsubscribed: no more events.
    round_trip(
        &mut other,
        &frame("unsubscribe", "u", json!({"events": ["status"]})),
    )
    .await;
    let f = round_trip(
        &mut tool,
        &frame("publish", "p2", json!({"event": "status"})),
    )
    .await;
    assert_eq!(ack_of(&f).delivered, Some(1));
    quiet(&mut other).await;
}

#[tokio::test]
async fn an_image_request_waits_for_an_extension() {
    let server = TestServer::start(Config::default()).await;
    let mut tool = server.connect().await;
    hello(&mut tool, "client").await;
    let f = round_trip(
        &mut tool,
        &frame(
            "publish",
            "img",
            json!({"event": "imageDownloadRequested", "data": {"prompt": "a cat"}}),
        ),
    )
    .await;
    let ack = ack_of(&f);
    assert!(ack.held, "{ack:?}");
    assert_eq!(ack.delivered, Some(0));
    let id = ack.id.clone().unwrap();

    // A client subscribing is not an extension: still held.
    let mut watcher = server.connect().await;
    hello(&mut watcher, "client").await;
    subscribe(&mut watcher, &["imageDownloadRequested"]).await;
    quiet(&mut watcher).await;

    let mut ext = server.connect().await;
    hello(&mut ext, "extension").await;
    subscribe(&mut ext, &["imageDownloadRequested"]).await;
    let e = next_frame(&mut ext).await;
    let e = event_of(&e);
    assert_eq!(e.id, id);
    assert_eq!(e.data, json!({"prompt": "a cat"}));
}

#[tokio::test]
async fn a_held_request_that_no_extension_takes_is_answered_with_no_extension() {
    let server = TestServer::start(Config {
        hold_ms: 200,
        hold_max_events: 1,
        ..Config::default()
    })
    .await;
    let mut tool = server.connect().await;
    let f = round_trip(
        &mut tool,
        &frame("publish", "a", json!({"event": "imageDownloadRequested"})),
    )
    .await;
    assert!(ack_of(&f).held);
    // The hold is full: the next one is refused at once.
    let f = round_trip(
        &mut tool,
        &frame("publish", "b", json!({"event": "imageDownloadRequested"})),
    )
    .await;
    assert_eq!(f.reply_to.as_deref(), Some("b"));
    assert_eq!(error_of(&f).0, ErrorCode::NoExtension);
    // The first expires.
    let f = next_frame(&mut tool).await;
    assert_eq!(f.reply_to.as_deref(), Some("a"));
    let (code, message) = error_of(&f);
    assert_eq!(code, ErrorCode::NoExtension);
    assert!(
        message.contains("no extension took 'imageDownloadRequested'"),
        "{message}"
    );
}

#[tokio::test]
async fn bad_names_and_unknown_replies_are_clear_errors_and_the_connection_stays() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.connect().await;
    let f = round_trip(
        &mut c,
        &frame("subscribe", "s", json!({"events": ["ok", "no spaces"]})),
    )
    .await;
    assert_eq!(error_of(&f).0, ErrorCode::BadPayload);
    assert!(error_of(&f).1.contains("invalid event name 'no spaces'"));
    let f = round_trip(&mut c, &frame("publish", "p", json!({"event": ""}))).await;
    assert_eq!(error_of(&f).0, ErrorCode::BadPayload);
    let f = round_trip(
        &mut c,
        &frame("reply", "r", json!({"to": "nope", "event": "x"})),
    )
    .await;
    assert_eq!(error_of(&f).0, ErrorCode::BadPayload);
    assert!(error_of(&f)
        .1
        .contains("no event 'nope' is waiting for a reply"));
    let f = round_trip(
        &mut c,
        &frame("subscribe", "s2", json!({"events": "status"})),
    )
    .await;
    assert_eq!(
        error_of(&f).0,
        ErrorCode::BadPayload,
        "events must be a list"
    );
    // Still served.
    let f = round_trip(&mut c, &frame("ping", "k", json!({"t": 1}))).await;
    assert!(matches!(f.message, ServerMessage::Pong(_)));
    c.send(Message::Close(None)).await.unwrap();
}
