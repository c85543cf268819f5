//! The handlers through the real AWS SDK against moto (DynamoDB, S3) on loopback and a management API stand-in that answers 410 for gone connections.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use semantest_lambda::{connect, disconnect, reply::body_text};
use serde_json::{json, Value};
use support::{now, Stack, KEY, OTHER_KEY};

#[tokio::test]
async fn a_handshake_with_a_valid_key_stores_an_authenticated_connection_with_a_ttl() {
    let stack = Stack::new(true).await;
    let event = Stack::connect_event("c1=", &[("authorization", &format!("Bearer {KEY}"))]);
    let before = now() / 1000;
    let r = connect::handle(&stack.services, &event, now()).await;
    assert_eq!(r.status_code, 200);
    let item = stack.item("conn#c1=", "conn").await.expect("stored");
    assert_eq!(item["authed"], AttributeValue::Bool(true));
    let expires: u64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    // API Gateway's 2 h limit plus 10 minutes.
    assert!(
        (before + 7800..=before + 7810).contains(&expires),
        "{expires}"
    );
}

#[tokio::test]
async fn a_wrong_key_in_the_handshake_is_refused_and_nothing_is_stored() {
    let stack = Stack::new(true).await;
    let event = Stack::connect_event("c2=", &[("authorization", "Bearer wrong-key-0123456789")]);
    let r = connect::handle(&stack.services, &event, now()).await;
    assert_eq!(r.status_code, 401);
    assert_eq!(body_text(&r.body), Some("the API key is not valid"));
    assert!(stack.item("conn#c2=", "conn").await.is_none());
}

#[tokio::test]
async fn a_browser_with_a_wrong_key_is_told_why_on_its_first_frame_then_closed() {
    let stack = Stack::new(true).await;
    stack.management.connect("wb=");
    let event = Stack::connect_event(
        "wb=",
        &[(
            "sec-websocket-protocol",
            "semantest.v1, bearer.wrong-key-0123456789",
        )],
    );
    let r = connect::handle(&stack.services, &event, now()).await;
    assert_eq!(r.status_code, 200);
    assert_eq!(r.headers["sec-websocket-protocol"], "semantest.v1");
    let hello = json!({"action":"hello","id":"h1","payload":{"role":"extension","clientId":"x","version":"1"}});
    assert_eq!(stack.send("wb=", &hello.to_string()).await, None);
    let got = stack.management.received("wb=");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["payload"]["code"], "unauthorized");
    assert_eq!(got[0]["payload"]["message"], "the API key is not valid");
    assert!(!got[0].to_string().contains("wrong-key"));
    assert_eq!(stack.management.closed(), vec!["wb=".to_owned()]);
}

#[tokio::test]
async fn a_browser_shows_its_key_in_the_subprotocol_and_gets_only_semantest_v1_back() {
    let stack = Stack::new(true).await;
    let protocols = format!("semantest.v1, bearer.{KEY}");
    let event = Stack::connect_event("c3=", &[("sec-websocket-protocol", &protocols)]);
    let r = connect::handle(&stack.services, &event, now()).await;
    assert_eq!(r.status_code, 200);
    assert_eq!(r.headers["sec-websocket-protocol"], "semantest.v1");
}

#[tokio::test]
async fn without_a_key_a_socket_may_ping_and_say_hello_and_nothing_else() {
    let stack = Stack::new(true).await;
    for id in ["u1=", "u2="] {
        stack.management.connect(id);
        let r = connect::handle(&stack.services, &Stack::connect_event(id, &[]), now()).await;
        assert_eq!(r.status_code, 200);
    }
    // A ping is answered; a subscribe is refused, but the socket stays: frames may reach the
    // handlers out of order, and the hello with the key may be on its way.
    let pong = stack
        .send("u1=", r#"{"action":"ping","id":"p1","payload":{"t":1}}"#)
        .await
        .unwrap();
    assert_eq!(pong["type"], "pong");
    let answer = stack
        .send(
            "u1=",
            r#"{"action":"subscribe","id":"s1","payload":{"events":["x"]}}"#,
        )
        .await
        .unwrap();
    assert_eq!(answer["replyTo"], "s1");
    assert_eq!(answer["payload"]["code"], "unauthorized");
    // A hello without a key is welcomed: the socket may now register or pair.
    let hello =
        r#"{"action":"hello","id":"h0","payload":{"role":"client","clientId":"x","version":"1"}}"#;
    let welcome = stack.send("u1=", hello).await.unwrap();
    assert_eq!(welcome["type"], "welcome");
    let item = stack.item("conn#u1=", "conn").await.unwrap();
    assert_eq!(item["authed"], AttributeValue::Bool(false));
    assert!(stack.management.closed().is_empty());

    // A hello with the key: welcome, and the connection is authenticated from then on.
    let hello = json!({"action":"hello","id":"h1","payload":{"role":"extension","clientId":"x","version":"1","token":KEY}});
    let welcome = stack.send("u2=", &hello.to_string()).await.unwrap();
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["payload"]["connectionId"], "u2=");
    assert_eq!(welcome["payload"]["server"]["environment"], "production");
    let item = stack.item("conn#u2=", "conn").await.unwrap();
    assert_eq!(item["authed"], AttributeValue::Bool(true));
    assert_eq!(item["role"], AttributeValue::S("extension".into()));
    let pong = stack
        .send("u2=", r#"{"action":"ping","id":"p2","payload":{"t":7}}"#)
        .await
        .unwrap();
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["payload"]["t"], 7);
    assert!(
        stack.management.received("u2=").is_empty(),
        "answers are route responses"
    );
}

#[tokio::test]
async fn a_hello_with_a_wrong_key_is_told_why_and_closed() {
    let stack = Stack::new(true).await;
    stack.management.connect("w1=");
    connect::handle(&stack.services, &Stack::connect_event("w1=", &[]), now()).await;
    let hello = json!({"action":"hello","id":"h9","payload":{"role":"client","clientId":"x","version":"1","token":"wrong-key-0123456789"}});
    assert_eq!(stack.send("w1=", &hello.to_string()).await, None);
    let got = stack.management.received("w1=");
    assert_eq!(got[0]["payload"]["message"], "the API key is not valid");
    assert!(
        !got[0].to_string().contains("wrong-key"),
        "the key is not echoed"
    );
    assert_eq!(stack.management.closed(), vec!["w1=".to_owned()]);
}

#[tokio::test]
async fn publish_fans_out_to_subscribers_and_a_reply_finds_its_publisher() {
    let stack = Stack::new(true).await;
    for (id, role) in [("a=", "client"), ("b=", "extension"), ("c=", "client")] {
        stack.join(id, role).await;
    }
    for id in ["b=", "c="] {
        let ack = stack
            .send(
                id,
                r#"{"action":"subscribe","id":"s","payload":{"events":["news","other"]}}"#,
            )
            .await
            .unwrap();
        assert_eq!(ack["payload"]["events"], json!(["news", "other"]));
    }
    let unsub = stack
        .send(
            "c=",
            r#"{"action":"unsubscribe","id":"u","payload":{"events":["other"]}}"#,
        )
        .await
        .unwrap();
    assert_eq!(unsub["payload"]["events"], json!(["news"]));
    assert!(stack
        .item(&support::subscribers_pk("other"), "conn#c=")
        .await
        .is_none());

    let ack = stack
        .send(
            "a=",
            r#"{"action":"publish","id":"pub1","payload":{"event":"news","data":{"n":1.5}}}"#,
        )
        .await
        .unwrap();
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["replyTo"], "pub1");
    assert_eq!(ack["payload"]["delivered"], 2);
    let event_id = ack["payload"]["id"].as_str().unwrap().to_owned();
    for id in ["b=", "c="] {
        let got = stack.management.received(id);
        assert_eq!(got.len(), 1, "{id}: {got:?}");
        assert_eq!(got[0]["type"], "event");
        assert_eq!(got[0]["payload"]["event"], "news");
        assert_eq!(got[0]["payload"]["from"], "a=");
        assert_eq!(got[0]["payload"]["id"], event_id);
        assert_eq!(got[0]["payload"]["data"], json!({"n": 1.5}));
    }
    assert!(
        stack.management.received("a=").is_empty(),
        "not to the publisher"
    );

    let reply = json!({"action":"reply","id":"r1","payload":{"to":event_id,"event":"newsRead","data":{"ok":true}}});
    let ack = stack.send("b=", &reply.to_string()).await.unwrap();
    assert_eq!(ack["payload"]["delivered"], 1);
    let got = stack.management.received("a=");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["replyTo"], "pub1", "the publisher's frame id");
    assert_eq!(got[0]["payload"]["inReplyTo"], event_id);
    assert_eq!(got[0]["payload"]["from"], "b=");

    let stale = stack
        .send(
            "b=",
            r#"{"action":"reply","id":"r2","payload":{"to":"nope","event":"x"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(stale["payload"]["code"], "bad_payload");
    assert!(stale["payload"]["message"]
        .as_str()
        .unwrap()
        .contains("no event 'nope'"));
}

#[tokio::test]
async fn a_gone_subscriber_is_pruned_when_a_publish_meets_410() {
    let stack = Stack::new(true).await;
    for id in ["p=", "live=", "gone="] {
        stack.join(id, "client").await;
    }
    for id in ["live=", "gone="] {
        stack
            .send(
                id,
                r#"{"action":"subscribe","id":"s","payload":{"events":["news"]}}"#,
            )
            .await;
    }
    // The socket is gone, and its $disconnect never reached the handlers.
    stack.management.forget("gone=");
    let ack = stack
        .send(
            "p=",
            r#"{"action":"publish","id":"x","payload":{"event":"news"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(ack["payload"]["delivered"], 1);
    assert!(stack.item("conn#gone=", "conn").await.is_none());
    assert!(stack
        .item(&support::subscribers_pk("news"), "conn#gone=")
        .await
        .is_none());
    assert!(stack
        .item(&support::subscribers_pk("news"), "conn#live=")
        .await
        .is_some());
    let again = stack
        .send(
            "p=",
            r#"{"action":"publish","id":"y","payload":{"event":"news"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(again["payload"]["delivered"], 1);
}

#[tokio::test]
async fn disconnect_forgets_the_connection_and_its_subscriptions() {
    let stack = Stack::new(true).await;
    stack.join("d=", "extension").await;
    stack
        .send("d=", r#"{"action":"subscribe","id":"s","payload":{"events":["imageDownloadRequested","b"]}}"#)
        .await;
    assert!(stack
        .item(&support::subscribers_pk("b"), "conn#d=")
        .await
        .is_some());
    let mut event: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest =
        support::fixture("disconnect.json");
    event.request_context.connection_id = Some("d=".to_owned());
    let r = disconnect::handle(&stack.services, &event).await;
    assert_eq!(r.status_code, 200);
    assert!(stack.item("conn#d=", "conn").await.is_none());
    assert!(stack
        .item(&support::subscribers_pk("b"), "conn#d=")
        .await
        .is_none());
    assert!(stack
        .item(
            &support::subscribers_pk("imageDownloadRequested"),
            "conn#d="
        )
        .await
        .is_none());
}

#[tokio::test]
async fn an_image_request_without_an_extension_is_answered_at_once() {
    let stack = Stack::new(true).await;
    stack.join("cli=", "client").await;
    let answer = stack
        .send("cli=", r#"{"action":"publish","id":"i1","payload":{"event":"imageDownloadRequested","data":{"prompt":"a cat"}}}"#)
        .await
        .unwrap();
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["replyTo"], "i1");
    assert_eq!(answer["payload"]["code"], "no_extension");
}

#[tokio::test]
async fn bad_frames_get_clear_errors_and_the_connection_keeps_working() {
    let stack = Stack::new(true).await;
    stack.join("e=", "client").await;
    let cases: [(&str, &str, Option<&str>); 5] = [
        ("{not json", "bad_json", None),
        (
            r#"{"action":"nope","id":"n1"}"#,
            "unknown_action",
            Some("n1"),
        ),
        (
            r#"{"action":"ping","id":"b1","payload":{}}"#,
            "bad_payload",
            Some("b1"),
        ),
        (
            r#"{"action":"subscribe","id":"b2","payload":{"events":["no spaces"]}}"#,
            "bad_payload",
            Some("b2"),
        ),
        (
            r#"{"action":"publish","id":"b3","payload":{"event":""}}"#,
            "bad_payload",
            Some("b3"),
        ),
    ];
    for (text, code, reply_to) in cases {
        let answer = stack.send("e=", text).await.unwrap();
        assert_eq!(answer["type"], "error", "{text}");
        assert_eq!(answer["payload"]["code"], code, "{text}: {answer}");
        assert_eq!(answer["replyTo"].as_str(), reply_to, "{text}");
    }
    let mut binary = Stack::message_event("e=", "AAEC");
    binary.is_base64_encoded = true;
    let r = semantest_lambda::message::handle(&stack.services, &binary, now()).await;
    let answer: Value = serde_json::from_str(body_text(&r.body).unwrap()).unwrap();
    assert_eq!(answer["payload"]["code"], "bad_frame");
    let pong = stack
        .send("e=", r#"{"action":"ping","id":"ok","payload":{"t":3}}"#)
        .await
        .unwrap();
    assert_eq!(pong["type"], "pong");
}

#[tokio::test]
async fn request_upload_hands_out_a_presigned_put_that_s3_accepts() {
    let stack = Stack::new(true).await;
    stack.join("up=", "extension").await;
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = support::sha256_hex_bytes(&bytes);
    let request = json!({"action":"requestUpload","id":"u1","payload":{
        "filename":"cat.png","size":bytes.len(),"sha256":sha,"contentType":"image/png"}});
    let answer = stack.send("up=", &request.to_string()).await.unwrap();
    assert_eq!(answer["type"], "uploadUrl", "{answer}");
    let url: semantest_protocol::UploadUrl =
        serde_json::from_value(answer["payload"].clone()).unwrap();
    assert_eq!(url.expires_in_secs, 900);
    assert!(url.put_url.contains(&stack.bucket), "{}", url.put_url);
    assert!(url.put_url.contains("X-Amz-Signature="));
    assert_eq!(url.headers["content-type"], "image/png");

    let http = reqwest::Client::new();
    let mut put = http.put(&url.put_url).body(bytes.clone());
    for (k, v) in &url.headers {
        put = put.header(k, v);
    }
    let status = put.send().await.unwrap().status();
    assert!(status.is_success(), "PUT {status}");
    let got = http.get(&url.get_url).send().await.unwrap();
    assert!(got.status().is_success());
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let listed = aws_sdk_s3::Client::new(&stack.sdk)
        .list_objects_v2()
        .bucket(&stack.bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [format!("images/{}/cat.png", url.image_id)]);

    for (payload, says) in [
        (
            json!({"filename":"../x.png","size":1,"sha256":sha}),
            "not a plain file name",
        ),
        (
            json!({"filename":"x.png","size":2_000_000,"sha256":sha}),
            "not within 1..=1048576",
        ),
        (json!({"filename":"x.png","size":1}), "sha256"),
    ] {
        let answer = stack
            .send(
                "up=",
                &json!({"action":"requestUpload","id":"bad","payload":payload}).to_string(),
            )
            .await
            .unwrap();
        assert_eq!(answer["payload"]["code"], "bad_payload");
        assert!(
            answer["payload"]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_dead_table_is_an_internal_error_not_a_crash() {
    let mut stack = Stack::new(true).await;
    let config = (*stack.services.config).clone();
    let mut broken = config.clone();
    broken.table = "no-such-table".to_owned();
    stack.services = semantest_lambda::Services::new(broken, &stack.sdk);
    let answer = stack
        .send("z=", r#"{"action":"ping","id":"p","payload":{"t":1}}"#)
        .await
        .unwrap();
    assert_eq!(answer["payload"]["code"], "internal");
    assert_eq!(answer["payload"]["message"], "the service failed; retry");
}

#[tokio::test]
async fn events_and_replies_stay_within_one_key() {
    let stack = Stack::new(true).await;
    stack.join("mine=", "extension").await;
    stack.join_with("theirs=", "client", OTHER_KEY).await;
    stack.join("friend=", "client").await;
    stack
        .send("mine=", r#"{"action":"subscribe","id":"s","payload":{"events":["imageDownloadRequested","news"]}}"#)
        .await;
    // Another key's request finds no extension of its own, and mine never sees it.
    let theirs = stack
        .send("theirs=", r#"{"action":"publish","id":"t1","payload":{"event":"imageDownloadRequested","data":{"prompt":"x"}}}"#)
        .await
        .unwrap();
    assert_eq!(theirs["payload"]["code"], "no_extension", "{theirs}");
    let other = stack
        .send(
            "theirs=",
            r#"{"action":"publish","id":"t2","payload":{"event":"news"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(other["payload"]["delivered"], 0);
    assert!(stack.management.received("mine=").is_empty());
    // The same key's publish reaches it; a reply from another key to it is refused.
    let ack = stack
        .send(
            "friend=",
            r#"{"action":"publish","id":"f1","payload":{"event":"news"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(ack["payload"]["delivered"], 1);
    let event_id = ack["payload"]["id"].as_str().unwrap();
    let stolen = json!({"action":"reply","id":"r","payload":{"to":event_id,"event":"x"}});
    let refused = stack.send("theirs=", &stolen.to_string()).await.unwrap();
    assert_eq!(refused["payload"]["code"], "bad_payload");
    assert!(stack.management.received("friend=").is_empty());
}

#[tokio::test]
async fn concurrent_subscribes_of_one_socket_are_all_kept() {
    let stack = Stack::new(true).await;
    stack.join("many=", "client").await;
    let names = ["a", "b", "c", "d", "e", "f"];
    let frames: Vec<String> = names
        .iter()
        .map(|n| format!(r#"{{"action":"subscribe","id":"{n}","payload":{{"events":["{n}"]}}}}"#))
        .collect();
    // API Gateway may run a socket's frames at once, on different instances.
    futures::future::join_all(frames.iter().map(|f| stack.send("many=", f))).await;
    let item = stack.item("conn#many=", "conn").await.unwrap();
    let mut events = item["events"].as_ss().unwrap().clone();
    events.sort();
    assert_eq!(events, names);
    for n in names {
        assert!(stack
            .item(&support::subscribers_pk(n), "conn#many=")
            .await
            .is_some());
    }
}

#[tokio::test]
async fn a_request_whose_only_extension_is_gone_gets_no_extension() {
    let stack = Stack::new(true).await;
    stack.join("ext=", "extension").await;
    stack.join("cli=", "client").await;
    stack
        .send(
            "ext=",
            r#"{"action":"subscribe","id":"s","payload":{"events":["imageDownloadRequested"]}}"#,
        )
        .await;
    stack.management.forget("ext=");
    let answer = stack
        .send(
            "cli=",
            r#"{"action":"publish","id":"i","payload":{"event":"imageDownloadRequested"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(answer["payload"]["code"], "no_extension", "{answer}");
    assert!(stack
        .item(
            &support::subscribers_pk("imageDownloadRequested"),
            "conn#ext="
        )
        .await
        .is_none());
}

#[tokio::test]
async fn a_frame_handled_after_disconnect_does_not_bring_the_connection_back() {
    let stack = Stack::new(true).await;
    stack.join("late=", "client").await;
    let mut event: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest =
        support::fixture("disconnect.json");
    event.request_context.connection_id = Some("late=".to_owned());
    disconnect::handle(&stack.services, &event).await;
    let answer = stack
        .send(
            "late=",
            r#"{"action":"subscribe","id":"s","payload":{"events":["news"]}}"#,
        )
        .await
        .unwrap();
    assert_eq!(answer["type"], "error");
    assert!(stack.item("conn#late=", "conn").await.is_none());
    assert!(stack
        .item(&support::subscribers_pk("news"), "conn#late=")
        .await
        .is_none());
}
