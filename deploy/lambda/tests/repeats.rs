//! Repeated frames on the Lambda handlers beyond the shared conformance suite: concurrent repeats, frames before the hello, tenants, the remembered item and its time.

mod support;

use semantest_lambda::{message, reply::body_text};
use serde_json::{json, Value};
use support::{now, Stack, OTHER_KEY};

const PUBLISH: &str = r#"{"action":"publish","id":"c1-k3x9q2","payload":{"event":"news"}}"#;

/// Runs `$default` for `body` from `id` as if at `now_ms`.
async fn send_at(stack: &Stack, id: &str, body: &str, now_ms: u64) -> Value {
    let r = message::handle(&stack.services, &Stack::message_event(id, body), now_ms).await;
    serde_json::from_str(body_text(&r.body).expect("an answer")).unwrap()
}

async fn subscribed(stack: &Stack, id: &str, event: &str) {
    stack.join(id, "extension").await;
    let subscribe = json!({"action":"subscribe","id":"s","payload":{"events":[event]}});
    let ack = stack.send(id, &subscribe.to_string()).await.unwrap();
    assert_eq!(ack["type"], "ack", "{ack}");
}

#[tokio::test]
async fn concurrent_repeats_deliver_once_and_all_get_the_first_answer() {
    let stack = Stack::new(true).await;
    subscribed(&stack, "ext=", "news").await;
    stack.join("old=", "client").await;
    stack.join("new=", "client").await;
    // API Gateway may run one socket's frames at once; the core may repeat on a new socket
    // while the first copy is still being handled.
    let answers = futures::future::join_all([
        stack.send("old=", PUBLISH),
        stack.send("old=", PUBLISH),
        stack.send("new=", PUBLISH),
    ])
    .await;
    let first = answers[0].clone().unwrap();
    assert_eq!(first["type"], "ack", "{first}");
    assert_eq!(first["payload"]["delivered"], 1);
    for a in &answers {
        assert_eq!(a.as_ref(), Some(&first));
    }
    assert_eq!(stack.management.received("ext=").len(), 1, "delivered once");
}

#[tokio::test]
async fn a_publish_before_its_hello_is_stored_is_remembered_by_its_key() {
    let stack = Stack::new(true).await;
    subscribed(&stack, "ext=", "news").await;
    // `$connect` ran with the key in the handshake; the hello is still on its way.
    stack.management.connect("early=");
    let bearer = format!("Bearer {}", support::KEY);
    let connect = Stack::connect_event("early=", &[("authorization", &bearer)]);
    semantest_lambda::connect::handle(&stack.services, &connect, now()).await;
    let first = stack.send("early=", PUBLISH).await.unwrap();
    assert_eq!(first["payload"]["delivered"], 1, "{first}");
    assert_eq!(stack.send("early=", PUBLISH).await.unwrap(), first);
    assert_eq!(stack.management.received("ext=").len(), 1);
}

#[tokio::test]
async fn the_same_frame_id_under_another_key_is_not_a_repeat() {
    let stack = Stack::new(true).await;
    subscribed(&stack, "ext=", "news").await;
    stack.join("mine=", "client").await;
    stack.join_with("theirs=", "client", OTHER_KEY).await;
    let mine = stack.send("mine=", PUBLISH).await.unwrap();
    let theirs = stack.send("theirs=", PUBLISH).await.unwrap();
    assert_eq!(theirs["type"], "ack", "{theirs}");
    assert_ne!(theirs["payload"]["id"], mine["payload"]["id"]);
    assert_eq!(
        theirs["payload"]["delivered"], 0,
        "another key's subscribers"
    );
    assert_eq!(stack.send("mine=", PUBLISH).await.unwrap(), mine);
}

#[tokio::test]
async fn the_first_answer_is_an_item_with_a_ttl_and_is_forgotten_after_the_window() {
    let stack = Stack::new(true).await;
    subscribed(&stack, "ext=", "news").await;
    stack.join("p=", "client").await;
    let t0 = now();
    let first = send_at(&stack, "p=", PUBLISH, t0).await;
    let tenant = format!("key:{}", semantest_protocol::keys::key_id(support::KEY));
    let pk = format!(
        "frame#{}",
        support::sha256_hex_of(&semantest_protocol::dedupe_key(&tenant, "c1-k3x9q2"))
    );
    let item = stack
        .item(&pk, "frame")
        .await
        .expect("the remembered frame");
    let expires: u64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    let window = semantest_protocol::DEDUPE_WINDOW_SECS;
    assert_eq!(expires, t0 / 1000 + window);
    let stored: Value = serde_json::from_str(item["answer"].as_s().unwrap()).unwrap();
    assert_eq!(stored, first);

    let within = send_at(&stack, "p=", PUBLISH, t0 + (window - 1) * 1000).await;
    assert_eq!(within, first);
    // DynamoDB's TTL sweep may leave the item for a while; past its time it does not count.
    let after = send_at(&stack, "p=", PUBLISH, t0 + window * 1000).await;
    assert_ne!(after["payload"]["id"], first["payload"]["id"], "{after}");
    assert_eq!(stack.management.received("ext=").len(), 2);
}

#[tokio::test]
async fn a_refused_frame_is_not_remembered() {
    let stack = Stack::new(true).await;
    stack.join("cli=", "client").await;
    let request =
        r#"{"action":"publish","id":"c2-k3x9q2","payload":{"event":"imageDownloadRequested"}}"#;
    let refused = stack.send("cli=", request).await.unwrap();
    assert_eq!(refused["payload"]["code"], "no_extension", "{refused}");
    subscribed(&stack, "ext=", "imageDownloadRequested").await;
    let again = stack.send("cli=", request).await.unwrap();
    assert_eq!(again["type"], "ack", "{again}");
    assert_eq!(again["payload"]["delivered"], 1);
}

#[tokio::test]
async fn a_service_failure_says_which_frame_it_refused() {
    let mut stack = Stack::new(true).await;
    let mut broken = (*stack.services.config).clone();
    broken.table = "no-such-table".to_owned();
    stack.services = semantest_lambda::Services::new(broken, &stack.sdk);
    let answer = stack.send("z=", PUBLISH).await.unwrap();
    assert_eq!(answer["payload"]["code"], "internal");
    assert_eq!(answer["replyTo"], "c1-k3x9q2");
}
