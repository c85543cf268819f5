//! The browser cases, shared by the page and the service-worker test binaries: the real WASM
//! client against real servers that `tests/browser/run.sh` starts (two `semantest-server`s,
//! stub servers with wrong answers, a hung port and a refused port).

#![allow(unreachable_pub, missing_docs)]
// A missing server address must stop the test with a message naming the variable (as gloo does).
#![allow(clippy::option_env_unwrap)]

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use semantest_connect::web::{test_connection, SemantestClient};
use serde::Serialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

macro_rules! server {
    ($name:literal) => {
        option_env!($name).expect(concat!(
            "set ",
            $name,
            " at compile time: run the browser tests through tests/browser/run.sh, which starts the servers"
        ))
    };
}

fn local() -> &'static str {
    server!("SEMANTEST_TEST_LOCAL")
}
fn remote() -> &'static str {
    server!("SEMANTEST_TEST_REMOTE")
}
fn keyed() -> &'static str {
    server!("SEMANTEST_TEST_KEYED")
}
fn refused() -> &'static str {
    server!("SEMANTEST_TEST_REFUSED")
}

fn js(v: &Value) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap()
}

/// A client pointed at `local_url` and `remote_url`, with every status and message recorded.
struct Probe {
    client: SemantestClient,
    statuses: Rc<RefCell<Vec<Value>>>,
    messages: Rc<RefCell<Vec<Value>>>,
    _on_status: Closure<dyn FnMut(JsValue)>,
    _on_message: Closure<dyn FnMut(JsValue)>,
}

impl Probe {
    fn new(local_url: &str, remote_url: &str, extra: Value) -> Probe {
        let mut options = json!({
            "localUrl": local_url,
            "remoteUrl": remote_url,
            "probeTimeoutMs": 1500,
            "retry": {"baseMs": 200, "capMs": 1000},
        });
        for (k, v) in extra.as_object().unwrap() {
            options[k] = v.clone();
        }
        let client = SemantestClient::new(js(&options)).expect("valid options");
        let statuses = Rc::new(RefCell::new(Vec::new()));
        let messages = Rc::new(RefCell::new(Vec::new()));
        let s = statuses.clone();
        let on_status = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
            s.borrow_mut()
                .push(serde_wasm_bindgen::from_value(v).unwrap());
        });
        let m = messages.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
            let text = v.as_string().unwrap();
            m.borrow_mut()
                .push(serde_json::from_str(&text).unwrap_or(Value::String(text)));
        });
        client.on_status(Some(
            on_status
                .as_ref()
                .unchecked_ref::<js_sys::Function>()
                .clone(),
        ));
        client.on_message(Some(
            on_message
                .as_ref()
                .unchecked_ref::<js_sys::Function>()
                .clone(),
        ));
        Probe {
            client,
            statuses,
            messages,
            _on_status: on_status,
            _on_message: on_message,
        }
    }

    /// `connect()`, its promise handled (the cases watch the status instead).
    fn connect(&self) {
        let promise = wasm_bindgen_futures::JsFuture::from(self.client.connect());
        wasm_bindgen_futures::spawn_local(async move {
            let _ = promise.await;
        });
    }

    fn status(&self) -> Value {
        serde_wasm_bindgen::from_value(self.client.status()).unwrap()
    }

    /// Waits (at most 10 s) until the status satisfies `ok`; returns it or fails the test.
    async fn until(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let s = self.status();
            if ok(&s) {
                return s;
            }
            TimeoutFuture::new(20).await;
        }
        panic!(
            "timed out waiting for {what}; last status {}; history {:?}",
            self.status(),
            self.modes()
        );
    }

    async fn until_mode(&self, mode: &str) -> Value {
        self.until(mode, |s| s["mode"] == mode).await
    }

    /// Waits (at most 10 s) for a server frame matching `ok`.
    async fn message(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            if let Some(m) = self.messages.borrow().iter().find(|m| ok(m)) {
                return m.clone();
            }
            TimeoutFuture::new(20).await;
        }
        panic!(
            "timed out waiting for {what}; got {:?}",
            self.messages.borrow()
        );
    }

    fn modes(&self) -> Vec<String> {
        self.statuses
            .borrow()
            .iter()
            .map(|s| s["mode"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}

fn ws(http: &str) -> String {
    http.replacen("http://", "ws://", 1)
}

#[wasm_bindgen_test]
async fn local_up_connects_local_and_reports_latency() {
    let p = Probe::new(local(), remote(), json!({}));
    p.connect();
    let s = p
        .until("local with a latency", |s| {
            s["mode"] == "local" && s["latencyMs"].is_u64()
        })
        .await;
    assert_eq!(s["url"], ws(local()));
    assert_eq!(s["reason"], Value::Null);
    assert!(
        !p.modes().contains(&"cloud".to_owned()),
        "never went to the cloud: {:?}",
        p.modes()
    );
    p.client.close();
}

#[wasm_bindgen_test]
async fn refused_local_falls_back_to_remote() {
    let p = Probe::new(refused(), remote(), json!({}));
    p.connect();
    let s = p
        .until("cloud with a latency", |s| {
            s["mode"] == "cloud" && s["latencyMs"].is_u64()
        })
        .await;
    assert_eq!(s["url"], remote());
    assert_eq!(s["localReason"], "connection refused");
    assert_eq!(s["reason"], "local server not used: connection refused");
    p.client.close();
}

#[wasm_bindgen_test]
async fn a_server_that_refuses_our_origin_is_reported_as_cors_not_refused() {
    let p = Probe::new(server!("SEMANTEST_TEST_NOCORS"), remote(), json!({}));
    p.connect();
    let s = p.until_mode("cloud").await;
    assert_eq!(
        s["localReason"],
        "answered, but its CORS headers do not allow this origin"
    );
    p.client.close();
}

#[wasm_bindgen_test]
async fn wrong_service_falls_back_to_remote() {
    let p = Probe::new(server!("SEMANTEST_TEST_WRONG"), remote(), json!({}));
    p.connect();
    let s = p.until_mode("cloud").await;
    assert_eq!(s["localReason"], "wrong service 'not-semantest'");
    p.client.close();
}

#[wasm_bindgen_test]
async fn incompatible_version_falls_back_to_remote() {
    let p = Probe::new(server!("SEMANTEST_TEST_INCOMPATIBLE"), remote(), json!({}));
    p.connect();
    let s = p.until_mode("cloud").await;
    assert_eq!(s["localReason"], "incompatible version 2.0.0 (need ^1.0.0)");
    p.client.close();
}

#[wasm_bindgen_test]
async fn not_json_falls_back_to_remote() {
    let p = Probe::new(server!("SEMANTEST_TEST_NOTJSON"), remote(), json!({}));
    p.connect();
    let s = p.until_mode("cloud").await;
    assert_eq!(s["localReason"], "answer is not JSON");
    p.client.close();
}

#[wasm_bindgen_test]
async fn huge_answer_is_capped_and_classified() {
    let p = Probe::new(server!("SEMANTEST_TEST_HUGE"), remote(), json!({}));
    p.connect();
    let s = p.until_mode("cloud").await;
    assert_eq!(s["localReason"], "answer larger than 16384 bytes");
    p.client.close();
}

#[wasm_bindgen_test]
async fn hung_local_uses_remote_while_the_probe_is_out_then_times_out() {
    let p = Probe::new(server!("SEMANTEST_TEST_HUNG"), remote(), json!({}));
    p.connect();
    let s = p.until_mode("cloud").await;
    assert_eq!(
        s["localReason"],
        Value::Null,
        "on the cloud before the probe gave up"
    );
    let s = p
        .until("the probe to time out", |s| !s["localReason"].is_null())
        .await;
    assert_eq!(s["localReason"], "no answer within 1500 ms");
    assert_eq!(s["mode"], "cloud");
    p.client.close();
}

#[wasm_bindgen_test]
async fn both_down_is_offline_with_reasons_and_a_next_try() {
    let p = Probe::new(refused(), &ws(refused()), json!({}));
    p.connect();
    let s = p.until_mode("offline").await;
    assert_eq!(s["localReason"], "connection refused");
    assert_eq!(s["remoteReason"], "could not connect");
    let next = s["nextRetryAt"].as_f64().unwrap();
    let now = js_sys::Date::now();
    // The wait after `failures` failures is at most base · 2^(failures − 1), capped (these
    // options: base 200 ms, cap 1 s). The first offline status may already come after the
    // second failure (a slow machine), so the bound is the status's own.
    let failures = s["failures"].as_u64().unwrap();
    let ceiling = (200.0 * 2f64.powi(failures.saturating_sub(1) as i32)).min(1_000.0);
    assert!(
        next >= now - 1_000.0 && next <= now + ceiling,
        "next try at {next}, now {now}, after {failures} failures (at most {ceiling} ms)"
    );
    assert_eq!(s["url"], Value::Null);
    // It keeps trying on its own.
    p.until("a second failure", |s| s["failures"].as_u64() >= Some(2))
        .await;
    p.client.close();
}

#[wasm_bindgen_test]
async fn frames_sent_before_connect_are_flushed_and_answered() {
    let p = Probe::new(local(), remote(), json!({}));
    let bad = p.client.send("nope", js(&json!({}))).unwrap();
    let ping = p.client.send("ping", js(&json!({"t": 7}))).unwrap();
    assert_eq!(p.status()["queued"], 2, "both wait in the outbox");
    p.connect();
    let err = p
        .message("the error for 'nope'", |m| m["replyTo"] == bad.as_str())
        .await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["payload"]["code"], "unknown_action");
    assert_eq!(err["payload"]["message"], "unknown action 'nope'");
    let pong = p
        .message("our pong", |m| m["replyTo"] == ping.as_str())
        .await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["payload"]["t"], 7);
    let welcome = p.message("welcome", |m| m["type"] == "welcome").await;
    assert_eq!(welcome["payload"]["server"]["service"], "semantest");
    p.client.close();
}

#[wasm_bindgen_test]
async fn settings_apply_at_once_and_bad_ones_are_refused() {
    let p = Probe::new(local(), remote(), json!({}));
    p.connect();
    p.until_mode("local").await;
    let err = p
        .client
        .update_settings(js(&json!({"customUrl": "http://example.org"})))
        .unwrap_err();
    let err: js_sys::Error = JsValue::from(err).unchecked_into();
    assert_eq!(
        String::from(err.message()),
        "customUrl: 'http://example.org' is not a valid URL (scheme must be ws:// or wss://, not http://)"
    );
    assert_eq!(
        p.status()["mode"],
        "local",
        "a refused change changes nothing"
    );
    p.client
        .update_settings(js(&json!({"preferLocal": false})))
        .unwrap();
    let s = p
        .until("cloud with a latency", |s| {
            s["mode"] == "cloud" && s["latencyMs"].is_u64()
        })
        .await;
    assert_eq!(s["reason"], "prefer-local is off");
    // setSettings starts from the defaults: preferLocal comes back on, so it is local again.
    p.client
        .set_settings(js(&json!({"localUrl": local(), "remoteUrl": remote()})))
        .unwrap();
    p.until("local again", |s| s["mode"] == "local").await;
    p.client.close();
    let s = p.status();
    assert_eq!(s["mode"], "offline");
    assert_eq!(s["reason"], "not connected");
}

#[wasm_bindgen_test]
fn invalid_options_throw_a_clear_error() {
    let err = SemantestClient::new(js(&json!({"pingIntervalMs": 60000})))
        .err()
        .expect("refused");
    let err: js_sys::Error = JsValue::from(err).unchecked_into();
    assert_eq!(
        String::from(err.message()),
        "pingIntervalMs: 60000 is out of range (allowed 1000..=20000)"
    );
    let err = SemantestClient::new(js(&json!({"preferlocal": true})))
        .err()
        .expect("typo refused");
    let err: js_sys::Error = JsValue::from(err).unchecked_into();
    assert!(
        String::from(err.message()).contains("unknown field `preferlocal`"),
        "{}",
        String::from(err.message())
    );
}

/// The keys of a JavaScript object, in order.
fn keys(v: &JsValue) -> Vec<String> {
    js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>())
        .iter()
        .map(|k| k.as_string().unwrap())
        .collect()
}

#[wasm_bindgen_test]
fn settings_and_status_are_written_as_before() {
    // The JSON is written by hand (no serde in the .wasm): the keys in the order the serde
    // derive wrote them, `null` for what is not set, never the token.
    let options = json!({"token": "a-good-token-0123456789", "customUrl": "wss://mine.example"});
    let client = SemantestClient::new(js(&options)).unwrap();
    let settings = client.settings();
    assert_eq!(
        String::from(js_sys::JSON::stringify(&settings).unwrap()),
        concat!(
            r#"{"strategy":"localFirst","localUrl":"http://localhost:3003","#,
            r#""remoteUrl":"wss://api.extension.semantest.com","customUrl":"wss://mine.example","#,
            r#""probeTimeoutMs":2000,"localHeadStartMs":300,"connectTimeoutMs":10000,"#,
            r#""pingIntervalMs":20000,"pongTimeoutMs":10000,"reprobeIntervalMs":30000,"#,
            r#""stableAfterMs":10000,"outboxCapacity":256,"requestTimeoutMs":30000,"#,
            r#""answerCheckMs":1000,"drainMs":3000,"#,
            r#""retry":{"baseMs":1000,"factor":2,"capMs":30000,"maxAttempts":null},"#,
            r#""role":"client","clientId":"semantest-client","name":""}"#
        )
    );
    assert_eq!(
        keys(&client.status()),
        [
            "mode",
            "url",
            "latencyMs",
            "reason",
            "localReason",
            "remoteReason",
            "nextRetryAt",
            "since",
            "queued",
            "failures"
        ]
    );
}

#[wasm_bindgen_test]
fn resume_is_read_and_checked() {
    let resumed = json!({"resume": {"failures": 2, "nextRetryAt": 1.0e12}});
    SemantestClient::new(js(&resumed)).expect("valid resume");
    let without = json!({"resume": {"failures": 0, "nextRetryAt": null}, "resume2": 1});
    assert!(
        SemantestClient::new(js(&without)).is_err(),
        "unknown keys still refused"
    );
    let refused = |options: Value| {
        let err = SemantestClient::new(js(&options)).err().expect("refused");
        let err: js_sys::Error = JsValue::from(err).unchecked_into();
        String::from(err.message())
    };
    assert_eq!(
        refused(json!({"resume": {"failures": 1, "at": 2}})),
        "settings: resume: unknown field `at`, expected `failures` or `nextRetryAt`"
    );
    assert_eq!(
        refused(json!({"resume": {"nextRetryAt": 2}})),
        "settings: resume: missing field `failures`"
    );
    assert_eq!(
        refused(json!({"resume": [1]})),
        "settings: resume: expected an object, not an array"
    );
    assert_eq!(
        refused(json!({"retry": {"capMs": "5"}})),
        "settings: invalid type for `capMs`: a string, expected an unsigned integer"
    );
}

#[wasm_bindgen_test]
async fn test_connection_reports_each_side() {
    let options = json!({"localUrl": local(), "remoteUrl": remote(), "probeTimeoutMs": 1500});
    let report = test_connection(js(&options)).await.expect("valid options");
    let report: Value = serde_wasm_bindgen::from_value(report).unwrap();
    assert_eq!(report["local"]["ok"], true, "{report}");
    assert_eq!(report["local"]["url"], ws(local()));
    assert_eq!(report["local"]["signature"]["environment"], "local");
    assert_eq!(report["local"]["signature"]["service"], "semantest");
    assert!(report["local"]["latencyMs"].is_u64(), "{report}");
    assert_eq!(report["remote"]["ok"], true, "{report}");
    assert_eq!(report["remote"]["signature"]["environment"], "production");

    let options = json!({"localUrl": server!("SEMANTEST_TEST_WRONG"), "remoteUrl": ws(refused())});
    let report: Value =
        serde_wasm_bindgen::from_value(test_connection(js(&options)).await.unwrap()).unwrap();
    assert_eq!(report["local"]["ok"], false);
    assert_eq!(report["local"]["reason"], "wrong service 'not-semantest'");
    assert_eq!(report["local"]["signature"], Value::Null);
    assert_eq!(report["remote"]["ok"], false);
    assert_eq!(report["remote"]["reason"], "could not connect");

    let err = test_connection(js(&json!({"customUrl": "ftp://x"})))
        .await
        .expect_err("refused");
    let err: js_sys::Error = JsValue::from(err).unchecked_into();
    assert!(String::from(err.message()).starts_with("customUrl: 'ftp://x' is not a valid URL"));
}

#[wasm_bindgen_test]
async fn subscriptions_made_before_connect_receive_events() {
    let listener = Probe::new(local(), remote(), json!({}));
    listener.client.subscribe(js(&json!(["status"]))).unwrap();
    listener.connect();
    listener.until_mode("local").await;
    let publisher = Probe::new(local(), remote(), json!({}));
    publisher.connect();
    publisher.until_mode("local").await;
    // Publish until the listener's subscribe has reached the server (bounded).
    let mut delivered = false;
    for n in 0..50 {
        let id = publisher
            .client
            .send("publish", js(&json!({"event": "status", "data": {"n": n}})))
            .unwrap();
        let ack = publisher
            .message("the publish ack", |m| m["replyTo"] == id.as_str())
            .await;
        if ack["payload"]["delivered"] == 1 {
            delivered = true;
            break;
        }
        TimeoutFuture::new(50).await;
    }
    assert!(delivered, "the listener never subscribed");
    let event = listener
        .message("the event", |m| m["type"] == "event")
        .await;
    assert_eq!(event["payload"]["event"], "status");
    listener.client.close();
    publisher.client.close();
}

/// Awaits a promise of the client: the value, or the rejection's `{code, message}`.
async fn settled(promise: js_sys::Promise) -> Result<Value, (String, String)> {
    match wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(v) => Ok(serde_wasm_bindgen::from_value(v).unwrap()),
        Err(e) => {
            let field = |k: &str| {
                js_sys::Reflect::get(&e, &k.into())
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default()
            };
            Err((field("code"), field("message")))
        }
    }
}

#[wasm_bindgen_test]
async fn requests_are_promises_answered_once_with_objects_and_coded_errors() {
    let p = Probe::new(local(), remote(), json!({}));
    let ready = settled(p.client.connect())
        .await
        .expect("connect() resolves");
    assert_eq!(ready["mode"], "local", "the first ready status: {ready}");
    p.until("a settled latency", |s| s["latencyMs"].is_u64())
        .await;
    let pong = settled(
        p.client
            .request("ping", js(&json!({"t": 5})), JsValue::UNDEFINED),
    )
    .await
    .expect("a pong");
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["payload"]["t"], 5);
    let unknown = settled(p.client.request("nope", js(&json!({})), JsValue::UNDEFINED)).await;
    assert_eq!(
        unknown,
        Err(("unknown_action".into(), "unknown action 'nope'".into()))
    );
    // Closing fails what is still out.
    let pending = p.client.request(
        "ping",
        js(&json!({"t": 6})),
        js(&json!({"timeoutMs": 5000})),
    );
    p.client.close();
    let closed = settled(pending).await.expect_err("closed");
    assert_eq!(closed.0, "closed");

    // connect() rejects with the offline status when no server answers.
    let p = Probe::new(
        refused(),
        "ws://127.0.0.1:9",
        json!({"retry": {"maxAttempts": 1}}),
    );
    let offline = settled(p.client.connect()).await.expect_err("offline");
    assert_eq!(offline.0, "offline");
    assert!(offline.1.starts_with("no server answered"), "{}", offline.1);
    p.client.close();
}

#[wasm_bindgen_test]
async fn a_refused_key_goes_from_connecting_to_offline_never_through_cloud() {
    let p = Probe::new(
        local(),
        keyed(),
        json!({
            "preferLocal": false,
            "token": "not-the-key-0123456789abcdef",
            "retry": {"maxAttempts": 2, "baseMs": 100},
        }),
    );
    p.connect();
    let s = p
        .until("offline after the refusals", |s| {
            s["mode"] == "offline" && s["reason"].as_str().unwrap_or("").starts_with("gave up")
        })
        .await;
    assert!(
        !p.modes().iter().any(|m| m == "cloud"),
        "never cloud: {:?}",
        p.modes()
    );
    assert!(
        s["remoteReason"].as_str().unwrap().contains("unauthorized"),
        "{s}"
    );
    p.client.close();
}

#[wasm_bindgen_test]
async fn on_calls_the_handler_with_each_events_payload() {
    let listener = Probe::new(local(), remote(), json!({}));
    let got: Rc<RefCell<Vec<Value>>> = Rc::default();
    let sink = got.clone();
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |payload: JsValue| {
        sink.borrow_mut()
            .push(serde_wasm_bindgen::from_value(payload).unwrap());
    });
    listener.client.on(
        "demo",
        handler.as_ref().unchecked_ref::<js_sys::Function>().clone(),
    );
    settled(listener.client.connect()).await.unwrap();
    let publisher = Probe::new(local(), remote(), json!({}));
    settled(publisher.client.connect()).await.unwrap();
    for n in 0..50 {
        let ack = settled(publisher.client.request(
            "publish",
            js(&json!({"event": "demo", "data": {"n": n}})),
            JsValue::UNDEFINED,
        ))
        .await
        .unwrap();
        if ack["payload"]["delivered"] == 1 {
            break;
        }
        TimeoutFuture::new(50).await;
    }
    for _ in 0..250 {
        if !got.borrow().is_empty() {
            break;
        }
        TimeoutFuture::new(20).await;
    }
    let first = got
        .borrow()
        .first()
        .cloned()
        .expect("the handler was called");
    assert_eq!(first["event"], "demo");
    assert!(first["data"]["n"].is_u64());
    assert!(first["id"].is_string(), "the id a reply names: {first}");
    listener.client.close();
    publisher.client.close();
}

#[wasm_bindgen_test]
fn a_key_goes_only_where_the_browser_will_really_connect() {
    // The browser's own URL parser reads `\` as the end of the host: these are evil.example.
    let with = |url: &str| {
        SemantestClient::new(js(
            &json!({"token": "remote-key-0123456789", "customUrl": url}),
        ))
        .map(drop)
        .map_err(|e| {
            let e: js_sys::Error = JsValue::from(e).unchecked_into();
            String::from(e.message())
        })
    };
    for clear in [
        r"ws://evil.example\@localhost/",
        r"ws://evil.example\@127.0.0.1:3003/",
        "ws://evil.example#@localhost/",
    ] {
        let err = with(clear).expect_err(clear);
        assert!(
            err.starts_with("token: the access key is only sent over wss://"),
            "{clear}: {err}"
        );
    }
    let err = with("ws://localhost@evil.example/").expect_err("user info");
    assert!(
        err.contains("user info (user@host) is not allowed"),
        "{err}"
    );
    for ok in [
        "ws://127.0.0.1:3004",
        "ws://[::1]:3004",
        "ws://0x7f.1:3004/",
        "wss://api.example.org",
    ] {
        assert_eq!(with(ok), Ok(()), "{ok}");
    }
}

/// The extension's side of an image request, as `on()` hands it over, answered by the core with
/// `takeImage` standing in for the ChatGPT tab: what goes wrong is the requester's reply.
#[wasm_bindgen_test]
async fn image_requests_that_cannot_be_served_are_answered_with_the_reason() {
    let ext = Probe::new(local(), remote(), json!({"role": "extension"}));
    let asked: Rc<RefCell<Vec<JsValue>>> = Rc::default();
    let sink = asked.clone();
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        sink.borrow_mut().push(event);
    });
    ext.client.on(
        "imageDownloadRequested",
        handler.as_ref().unchecked_ref::<js_sys::Function>().clone(),
    );
    settled(ext.client.connect()).await.unwrap();
    let tool = Probe::new(local(), remote(), json!({}));
    settled(tool.client.connect()).await.unwrap();

    // Publishes a request, waits for the extension's event and answers it with `take`.
    let pages: Rc<RefCell<Vec<Value>>> = Rc::default();
    let ask = |take: Closure<dyn FnMut(JsValue) -> JsValue>, n: u64| {
        let (ext, tool, asked) = (&ext, &tool, asked.clone());
        async move {
            let publish = json!({"event": "imageDownloadRequested", "data": {"filename": format!("cat{n}.png")}});
            let ack = settled(
                tool.client
                    .request("publish", js(&publish), JsValue::UNDEFINED),
            )
            .await
            .expect("the publish is acked");
            for _ in 0..250 {
                if asked.borrow().len() as u64 > n {
                    break;
                }
                TimeoutFuture::new(20).await;
            }
            let event = asked
                .borrow()
                .get(n as usize)
                .cloned()
                .expect("the extension got the request");
            let seen: Value = serde_wasm_bindgen::from_value(event.clone()).unwrap();
            assert_eq!(seen["id"], ack["payload"]["id"], "the event published");
            let outcome = settled(ext.client.answer_image_request(
                event,
                take.as_ref().unchecked_ref::<js_sys::Function>().clone(),
            ))
            .await
            .expect("an outcome, whatever happened");
            drop(take);
            let id = seen["id"].as_str().unwrap().to_owned();
            let reply = tool
                .message("the reply", |m| m["payload"]["inReplyTo"] == id.as_str())
                .await;
            (id, outcome, reply)
        }
    };

    // No tab: the extension's takeImage rejects, and the requester hears why.
    let record = pages.clone();
    let no_tab = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |request: JsValue| {
        record
            .borrow_mut()
            .push(serde_wasm_bindgen::from_value(request).unwrap());
        js_sys::Promise::reject(&js_sys::Error::new("no ChatGPT tab is open").into()).into()
    });
    let (id, outcome, reply) = ask(no_tab, 0).await;
    assert_eq!(
        outcome,
        json!({"event": "imageDownloadFailed", "requestId": id, "reason": "no ChatGPT tab is open"}),
        "delivered, so no replyError"
    );
    assert_eq!(
        pages.borrow()[0],
        json!({"requestId": id, "url": null}),
        "the newest image"
    );
    assert_eq!(reply["type"], "event");
    assert_eq!(reply["payload"]["event"], "imageDownloadFailed");
    assert_eq!(
        reply["payload"]["data"],
        json!({"requestId": id, "reason": "no ChatGPT tab is open"})
    );

    // The page names an image that cannot be fetched (nothing listens there).
    let url = format!("{}/generated.png", refused());
    let dead = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |_| JsValue::from_str(&url));
    let (id, outcome, reply) = ask(dead, 1).await;
    assert_eq!(outcome["event"], "imageDownloadFailed", "{outcome}");
    let reason = outcome["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("could not fetch the image: "),
        "{reason}"
    );
    assert_eq!(reply["payload"]["data"]["reason"], reason);
    assert_eq!(reply["payload"]["data"]["requestId"], id.as_str());

    // Something that is not an image request is refused, and nothing is sent.
    let never = Closure::<dyn FnMut(JsValue) -> JsValue>::new(|_| panic!("not asked"));
    let refused_event = settled(ext.client.answer_image_request(
        js(&json!({"event": "imageDownloadRequested", "data": {}})),
        never.as_ref().unchecked_ref::<js_sys::Function>().clone(),
    ))
    .await;
    assert_eq!(refused_event.unwrap_err().0, "bad_payload");

    // A client that is not connected has nowhere to upload: it says so without asking the page.
    ext.client.close();
    let last = asked.borrow()[1].clone();
    let after_close = settled(ext.client.answer_image_request(
        last,
        never.as_ref().unchecked_ref::<js_sys::Function>().clone(),
    ))
    .await
    .unwrap();
    assert_eq!(after_close["event"], "imageDownloadFailed");
    assert!(
        after_close["reason"]
            .as_str()
            .unwrap()
            .starts_with("not connected to a Semantest server"),
        "{after_close}"
    );
    assert!(
        after_close["replyError"].is_string(),
        "the reply could not go out: {after_close}"
    );
    tool.client.close();
}

/// What a callback was called with, in order.
type Calls = Rc<RefCell<Vec<Value>>>;

/// Records every `onCredentials` call of `client` (the token issued, or `null`); keep the
/// closure alive as long as the client.
fn record_credentials(client: &SemantestClient) -> (Calls, Closure<dyn FnMut(JsValue)>) {
    let got: Calls = Rc::default();
    let g = got.clone();
    let f = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
        g.borrow_mut()
            .push(serde_wasm_bindgen::from_value(v).unwrap_or(Value::Null));
    });
    client.on_credentials(Some(f.as_ref().unchecked_ref::<js_sys::Function>().clone()));
    (got, f)
}

#[wasm_bindgen_test]
async fn an_extension_registers_by_itself_and_a_web_app_pairs_with_its_code() {
    // The "remote" test server runs in production: no key, no setting but remote only.
    let ext = Probe::new(
        refused(),
        remote(),
        json!({"role": "extension", "clientId": "ext-pairing", "preferLocal": false, "name": "Chrome on a test"}),
    );
    let (issued, _keep_ext) = record_credentials(&ext.client);
    ext.connect();
    ext.until_mode("cloud").await;
    let install = issued
        .borrow()
        .first()
        .cloned()
        .expect("the install's token, for the driver to keep");
    assert!(
        install["token"].as_str().unwrap().starts_with("sti_"),
        "{install}"
    );
    assert!(install["deviceId"].is_null());
    assert!(
        !ext.messages
            .borrow()
            .iter()
            .any(|m| m["type"] == "registered"),
        "the token never reaches onMessage"
    );
    let code = settled(
        ext.client
            .request("pairCode", js(&json!({})), JsValue::UNDEFINED),
    )
    .await
    .expect("a pairing code")["payload"]["code"]
        .as_str()
        .unwrap()
        .to_owned();

    // A web app with no token: on the cloud, keyless, it may pair.
    let app = Probe::new(
        refused(),
        remote(),
        json!({"preferLocal": false, "clientId": "web-app"}),
    );
    let (paired_as, _keep_app) = record_credentials(&app.client);
    app.connect();
    app.until_mode("cloud").await;
    let refused_before = settled(app.client.request(
        "publish",
        js(&json!({"event": "greeting"})),
        JsValue::UNDEFINED,
    ))
    .await;
    assert_eq!(
        refused_before.map_err(|e| e.0),
        Err("unauthorized".to_owned())
    );
    let malformed = settled(app.client.pair("K7QM-3XT0", None)).await;
    assert_eq!(
        malformed.map_err(|e| e.0),
        Err("invalid_code".to_owned()),
        "refused before anything is sent"
    );
    let paired = settled(
        app.client
            .pair(&code.to_lowercase(), Some("web app".into())),
    )
    .await
    .expect("paired");
    assert_eq!(paired["type"], "paired");
    assert_eq!(paired["payload"]["installId"], install["installId"]);
    let device = paired_as
        .borrow()
        .first()
        .cloned()
        .expect("the device's token");
    assert_eq!(device["deviceId"], paired["payload"]["deviceId"]);
    let again = settled(app.client.pair(&code, None)).await;
    assert_eq!(
        again.map_err(|e| e.0),
        Err("bad_payload".to_owned()),
        "a paired socket has a token already"
    );
    let thief = Probe::new(
        refused(),
        remote(),
        json!({"preferLocal": false, "clientId": "thief"}),
    );
    thief.connect();
    thief.until_mode("cloud").await;
    let used = settled(thief.client.pair(&code, None)).await;
    assert_eq!(
        used.map_err(|e| e.0),
        Err("invalid_code".to_owned()),
        "a code is used once"
    );
    thief.client.close();

    // The app now reaches its extension (one tenant).
    settled(ext.client.request(
        "subscribe",
        js(&json!({"events": ["greeting"]})),
        JsValue::UNDEFINED,
    ))
    .await
    .expect("subscribed");
    let ack = settled(app.client.request(
        "publish",
        js(&json!({"event": "greeting", "data": {"hi": 1}})),
        JsValue::UNDEFINED,
    ))
    .await
    .expect("published");
    assert_eq!(ack["payload"]["delivered"], 1, "{ack}");
    ext.message("the app's event", |m| {
        m["type"] == "event" && m["payload"]["event"] == "greeting"
    })
    .await;
    app.client.close();
    ext.client.close();
}

#[wasm_bindgen_test]
fn json_floats_are_read_and_written_by_javascript_exactly() {
    // In the browser protocol::json reads floats with parseFloat and writes them with
    // Number.prototype.toString (not core's float code): exact both ways, and still floats.
    use semantest_protocol::json;
    let cases: [(&str, f64); 13] = [
        // JavaScript writes plain digits up to 1e21 and from 1e-6: the ranges where its text
        // differs from serde_json's (1e16, 1.5e-6).
        ("1e16", 1e16),
        ("123456789012345680000", 1.2345678901234568e20),
        ("1.5e-6", 1.5e-6),
        ("9.999e-6", 9.999e-6),
        ("0.1", 0.1),
        ("0.30000000000000004", 0.30000000000000004),
        ("2.5", 2.5),
        ("1e21", 1e21),
        ("1.7976931348623157e308", f64::MAX),
        ("5e-324", 5e-324),
        ("-0.0", -0.0),
        ("123456789012345678901234567890", 1.2345678901234568e29),
        ("-1.5E-7", -1.5e-7),
    ];
    for (text, want) in cases {
        let value = json::parse(text).unwrap();
        let read = value.as_f64().unwrap();
        assert_eq!(read.to_bits(), want.to_bits(), "{text}");
        let written = json::write(&value);
        assert!(
            written.contains(['.', 'e']),
            "{text} was written {written}, not as a float"
        );
        let again = json::parse(&written).unwrap().as_f64().unwrap();
        assert_eq!(
            again.to_bits(),
            want.to_bits(),
            "{text} was written {written}"
        );
    }
    assert_eq!(json::write(&json::parse("2.0").unwrap()), "2.0");
    assert_eq!(json::write(&json::parse("1e21").unwrap()), "1e+21");
    assert_eq!(json::write(&json::parse("-0.0").unwrap()), "-0.0");
    assert_eq!(
        json::write(&json::parse("18446744073709551615").unwrap()),
        "18446744073709551615"
    );
    assert!(json::parse("1e400").is_err());
    assert_eq!(json::float_text(1.5), "1.5");
}

#[wasm_bindgen_test]
fn client_frames_are_written_in_the_order_serde_wrote() {
    // Natively serde_json's maps sort their keys, so only here (objects keep their order, as
    // in the extension) does the hand writer's key order show: the order the structs declare.
    use semantest_protocol::identity::{Pair, Register, Revoke};
    use semantest_protocol::{
        ClientFrame, ClientMessage, Events, Hello, Publish, Reply, Role, Token, UploadRequest,
    };
    let hello = Hello {
        role: Role::Extension,
        client_id: "c1".into(),
        version: "1.0.0".into(),
        capabilities: vec!["imageGeneration".into()],
        token: Some(Token::new("a-good-token-0123456789").unwrap()),
    };
    let cases = [
        (
            ClientMessage::Hello(hello),
            r#"{"role":"extension","clientId":"c1","version":"1.0.0","capabilities":["imageGeneration"],"token":"a-good-token-0123456789"}"#,
        ),
        (
            ClientMessage::Subscribe(Events {
                events: vec!["a".into(), "b".into()],
            }),
            r#"{"events":["a","b"]}"#,
        ),
        (
            ClientMessage::Publish(Publish {
                event: "e".into(),
                data: json!({"z": 1, "a": [2.5]}),
            }),
            r#"{"event":"e","data":{"z":1,"a":[2.5]}}"#,
        ),
        (
            ClientMessage::Reply(Reply {
                to: "ev1".into(),
                event: "e".into(),
                data: json!(null),
            }),
            r#"{"to":"ev1","event":"e","data":null}"#,
        ),
        (
            ClientMessage::RequestUpload(UploadRequest {
                filename: "a.png".into(),
                size: 3,
                sha256: "ab".into(),
                content_type: "image/png".into(),
            }),
            r#"{"filename":"a.png","size":3,"sha256":"ab","contentType":"image/png"}"#,
        ),
        (
            ClientMessage::Register(Register {
                role: Role::Client,
                name: "cli".into(),
            }),
            r#"{"role":"client","name":"cli"}"#,
        ),
        (
            ClientMessage::Pair(Pair {
                code: "K7QM3XTD".into(),
                name: "laptop".into(),
            }),
            r#"{"code":"K7QM3XTD","name":"laptop"}"#,
        ),
        (
            ClientMessage::Revoke(Revoke {
                device_id: "d1".into(),
            }),
            r#"{"deviceId":"d1"}"#,
        ),
        (ClientMessage::Devices, "{}"),
    ];
    for (message, payload) in cases {
        let action = message.action();
        let text = ClientFrame::new("f1", message).to_json();
        assert_eq!(
            text,
            format!(r#"{{"action":"{action}","id":"f1","payload":{payload}}}"#)
        );
    }
}
