//! Repeated frames on the local server beyond the shared conformance suite: who counts as the same client, held events repeated, and errors that say which frame they refuse.

mod common;

use std::time::Duration;

use common::{next_frame, round_trip, send_text, Client, TestServer};
use futures_util::StreamExt;
use semantest_protocol::{Ack, ErrorCode, ServerFrame, ServerMessage};
use semantest_server::{Config, Environment};
use serde_json::{json, Value};

fn frame(action: &str, id: &str, payload: Value) -> String {
    json!({"action": action, "id": id, "payload": payload}).to_string()
}

async fn open(server: &TestServer, role: &str, client_id: &str) -> Client {
    let mut client = server.connect().await;
    let hello = json!({"role": role, "clientId": client_id, "version": "1"});
    let f = round_trip(&mut client, &frame("hello", "h", hello)).await;
    assert!(matches!(f.message, ServerMessage::Welcome(_)), "{f:?}");
    client
}

async fn subscribe(client: &mut Client, event: &str) {
    let f = round_trip(client, &frame("subscribe", "s", json!({"events": [event]}))).await;
    assert!(matches!(f.message, ServerMessage::Ack(_)), "{f:?}");
}

fn ack(f: ServerFrame) -> Ack {
    match f.message {
        ServerMessage::Ack(a) => a,
        other => panic!("expected ack, got {other:?}"),
    }
}

/// The ids of the events `client` receives before it has been quiet for 300 ms.
async fn events(client: &mut Client) -> Vec<String> {
    let mut ids = Vec::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(300), client.next()).await
    {
        let Some(text) = message.to_text().ok().filter(|t| !t.is_empty()) else {
            continue;
        };
        match ServerFrame::parse(text).unwrap().message {
            ServerMessage::Event(e) => ids.push(e.id),
            other => panic!("expected an event, got {other:?}"),
        }
    }
    ids
}

#[tokio::test]
async fn the_same_frame_id_from_another_client_is_not_a_repeat() {
    let server = TestServer::start(Config::default()).await;
    let mut ext = open(&server, "extension", "ext").await;
    subscribe(&mut ext, "status").await;
    let mut one = open(&server, "client", "tool-a").await;
    let mut two = open(&server, "client", "tool-b").await;
    let publish = frame("publish", "c1", json!({"event": "status"}));
    let first = ack(round_trip(&mut one, &publish).await);
    let second = ack(round_trip(&mut two, &publish).await);
    assert_ne!(first.id, second.id);
    assert_eq!(second.delivered, Some(1));
    // Each client's own repeat is one.
    assert_eq!(ack(round_trip(&mut one, &publish).await), first);
    assert_eq!(ack(round_trip(&mut two, &publish).await), second);
    assert_eq!(
        events(&mut ext).await,
        [first.id.unwrap(), second.id.unwrap()]
    );
}

#[tokio::test]
async fn before_its_hello_a_connection_is_its_own_client() {
    let server = TestServer::start(Config::default()).await;
    let mut ext = open(&server, "extension", "ext").await;
    subscribe(&mut ext, "status").await;
    let (mut one, mut two) = (server.connect().await, server.connect().await);
    let publish = frame("publish", "c1", json!({"event": "status"}));
    let first = ack(round_trip(&mut one, &publish).await);
    assert_eq!(ack(round_trip(&mut one, &publish).await), first);
    let other = ack(round_trip(&mut two, &publish).await);
    assert_ne!(other.id, first.id);
    assert_eq!(events(&mut ext).await.len(), 2);
}

#[tokio::test]
async fn a_held_request_repeated_gets_the_held_ack_again_and_is_held_once() {
    let server = TestServer::start(Config::default()).await;
    let mut tool = open(&server, "client", "semantest-cli").await;
    let request = frame(
        "publish",
        "c1-k3x9q2",
        json!({"event": "imageDownloadRequested", "data": {"prompt": "a cat"}}),
    );
    let first = ack(round_trip(&mut tool, &request).await);
    assert!(first.held, "{first:?}");
    assert_eq!(ack(round_trip(&mut tool, &request).await), first);
    // The tool's socket dies; it repeats the request on its next one.
    drop(tool);
    let mut tool = open(&server, "client", "semantest-cli").await;
    assert_eq!(ack(round_trip(&mut tool, &request).await), first);

    let mut ext = open(&server, "extension", "ext").await;
    subscribe(&mut ext, "imageDownloadRequested").await;
    let event_id = first.id.unwrap();
    assert_eq!(
        events(&mut ext).await,
        std::slice::from_ref(&event_id),
        "held once"
    );
    // The extension's reply reaches the tool's new socket.
    let reply = frame(
        "reply",
        "e1",
        json!({"to": event_id, "event": "imageDownloaded"}),
    );
    assert_eq!(ack(round_trip(&mut ext, &reply).await).delivered, Some(1));
    let r = next_frame(&mut tool).await;
    assert_eq!(r.reply_to.as_deref(), Some("c1-k3x9q2"));
    assert!(
        matches!(r.message, ServerMessage::Event(ref e) if e.in_reply_to.as_deref() == Some(event_id.as_str())),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_held_request_that_expired_is_judged_afresh_when_repeated() {
    let server = TestServer::start(Config {
        hold_ms: 200,
        ..Config::default()
    })
    .await;
    let mut tool = open(&server, "client", "semantest-cli").await;
    let request = frame(
        "publish",
        "c1-k3x9q2",
        json!({"event": "imageDownloadRequested"}),
    );
    let first = ack(round_trip(&mut tool, &request).await);
    assert!(first.held);
    let expired = next_frame(&mut tool).await;
    assert!(
        matches!(expired.message, ServerMessage::Error(ref e) if e.code == ErrorCode::NoExtension),
        "{expired:?}"
    );
    // Nothing was delivered, so nothing is remembered: the repeat is held anew.
    let again = ack(round_trip(&mut tool, &request).await);
    assert!(again.held);
    assert_ne!(again.id, first.id);
}

#[tokio::test]
async fn a_message_over_the_rate_is_refused_with_its_frame_id() {
    let server = TestServer::start(Config {
        environment: Environment::Production,
        messages_per_second: 1,
        ..Config::default()
    })
    .await;
    let mut noisy = open(&server, "client", "noisy").await;
    let mut refused = None;
    for n in 0..5 {
        send_text(
            &mut noisy,
            &frame("ping", &format!("p{n}"), json!({"t": 1})),
        )
        .await;
        let f = next_frame(&mut noisy).await;
        if let ServerMessage::Error(e) = &f.message {
            assert_eq!(e.code, ErrorCode::RateLimited, "{f:?}");
            refused = Some((n, f.reply_to));
            break;
        }
    }
    let (n, reply_to) = refused.expect("a ping over the rate");
    assert_eq!(reply_to, Some(format!("p{n}")));
}
