//! Identities in the table beyond the shared conformance suite: only digests are stored, a code expires after 10 minutes (told apart from a wrong one), a revoked token stays refused, and a device socket's token in the handshake is looked up.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use semantest_lambda::reply::body_text;
use semantest_lambda::{connect, message};
use serde_json::{json, Value};
use support::{now, Stack};

async fn send_at(stack: &Stack, id: &str, body: &str, now_ms: u64) -> Value {
    let r = message::handle(&stack.services, &Stack::message_event(id, body), now_ms).await;
    serde_json::from_str(body_text(&r.body).expect("an answer")).unwrap()
}

/// A keyless socket `id` that said hello as `role`.
async fn keyless(stack: &Stack, id: &str, role: &str) {
    stack.management.connect(id);
    let r = connect::handle(&stack.services, &Stack::connect_event(id, &[]), now()).await;
    assert_eq!(r.status_code, 200);
    let hello =
        json!({"action":"hello","id":"h","payload":{"role":role,"clientId":id,"version":"1"}});
    assert_eq!(
        stack.send(id, &hello.to_string()).await.unwrap()["type"],
        "welcome"
    );
}

/// Every attribute value of every item in the table, as text.
async fn everything(stack: &Stack) -> String {
    let out = aws_sdk_dynamodb::Client::new(&stack.sdk)
        .scan()
        .table_name(&stack.table)
        .send()
        .await
        .unwrap();
    format!("{:?}", out.items.unwrap_or_default())
}

#[tokio::test]
async fn the_table_holds_digests_only_and_an_expired_code_is_told_apart() {
    let stack = Stack::with_keys(&[]).await;
    keyless(&stack, "ext=", "extension").await;
    let registered = stack
        .send(
            "ext=",
            r#"{"action":"register","id":"r","payload":{"role":"extension","name":"Chrome"}}"#,
        )
        .await
        .unwrap();
    let token = registered["payload"]["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("sti_"), "{registered}");
    let t0 = now();
    let issued = send_at(
        &stack,
        "ext=",
        r#"{"action":"pairCode","id":"c","payload":{}}"#,
        t0,
    )
    .await;
    let code = issued["payload"]["code"].as_str().unwrap().to_owned();
    assert_eq!(issued["payload"]["expiresAt"], t0 + 600_000);
    let table = everything(&stack).await;
    assert!(!table.contains(&token), "no item holds the token");
    assert!(
        !table.contains(&code) && !table.contains(&code.replace('-', "")),
        "nor the code"
    );
    let digest = support::sha256_hex(&code.replace('-', ""));
    let item = stack
        .item(&format!("code#{digest}"), "code")
        .await
        .expect("the code's item");
    let ttl: u64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(
        ttl,
        (t0 + 600_000) / 1000 + 3600,
        "swept an hour after it expires"
    );

    keyless(&stack, "late=", "client").await;
    let pair =
        json!({"action":"pair","id":"p","payload":{"code":code,"name":"laptop"}}).to_string();
    let late = send_at(&stack, "late=", &pair, t0 + 600_000).await;
    assert_eq!(late["payload"]["code"], "invalid_code");
    assert!(
        late["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{late}"
    );
    // Used up by the late try, too: a code is tried once.
    let again = send_at(&stack, "late=", &pair, t0 + 1_000).await;
    assert!(
        again["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{again}"
    );
}

#[tokio::test]
async fn a_device_token_in_the_handshake_is_looked_up_and_refused_once_revoked() {
    let stack = Stack::with_keys(&[]).await;
    keyless(&stack, "ext=", "extension").await;
    stack
        .send(
            "ext=",
            r#"{"action":"register","id":"r","payload":{"role":"extension","name":""}}"#,
        )
        .await
        .unwrap();
    let issued = stack
        .send("ext=", r#"{"action":"pairCode","id":"c","payload":{}}"#)
        .await
        .unwrap();
    keyless(&stack, "cli=", "client").await;
    let pair =
        json!({"action":"pair","id":"p","payload":{"code":issued["payload"]["code"],"name":"cli"}});
    let paired = stack.send("cli=", &pair.to_string()).await.unwrap();
    let token = paired["payload"]["token"].as_str().unwrap().to_owned();
    let device = paired["payload"]["deviceId"].as_str().unwrap().to_owned();
    // A second socket of the device shows its token in Authorization, as the CLI does.
    let bearer = format!("Bearer {token}");
    stack.management.connect("cli2=");
    let event = Stack::connect_event("cli2=", &[("authorization", &bearer)]);
    assert_eq!(
        connect::handle(&stack.services, &event, now())
            .await
            .status_code,
        200
    );
    let item = stack.item("conn#cli2=", "conn").await.unwrap();
    assert_eq!(item["authed"], AttributeValue::Bool(true));
    assert_eq!(item["deviceId"], AttributeValue::S(device.clone()));

    let revoke = json!({"action":"revoke","id":"v","payload":{"deviceId":device}});
    let ack = stack.send("ext=", &revoke.to_string()).await.unwrap();
    assert_eq!(ack["type"], "ack", "{ack}");
    let mut closed = stack.management.closed();
    closed.sort();
    assert_eq!(
        closed,
        vec!["cli2=".to_owned(), "cli=".to_owned()],
        "both of its sockets"
    );
    assert_eq!(
        stack.management.received("cli2=")[0]["payload"]["code"],
        "unauthorized"
    );
    // Refused from now on, in Authorization (401) and in the subprotocol (told in band).
    stack.management.connect("cli3=");
    let event = Stack::connect_event("cli3=", &[("authorization", &bearer)]);
    let refused = connect::handle(&stack.services, &event, now()).await;
    assert_eq!(refused.status_code, 401);
    assert!(body_text(&refused.body).unwrap().contains("revoked"));
    let protocols = format!("semantest.v1, bearer.{token}");
    let event = Stack::connect_event("cli3=", &[("sec-websocket-protocol", &protocols)]);
    assert_eq!(
        connect::handle(&stack.services, &event, now())
            .await
            .status_code,
        200
    );
    assert_eq!(
        stack
            .send("cli3=", r#"{"action":"ping","id":"p","payload":{"t":1}}"#)
            .await,
        None
    );
    let told = stack.management.received("cli3=");
    assert!(
        told[0]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{told:?}"
    );
}
