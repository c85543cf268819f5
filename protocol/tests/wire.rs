//! The client's wire layer, read and written by hand, checked against serde: the payloads of
//! `ServerFrame::parse` accept the same values as their serde derives and read the same
//! structs; what serde's `ServerFrame::to_json` writes reads back equal; `ClientFrame::to_json`
//! writes the same bytes as serde and `ClientFrame::parse` (serde, the servers') reads it back.

use std::collections::BTreeMap;
use std::fmt::Debug;

use proptest::prelude::*;
use semantest_protocol::identity::{
    Device, DeviceList, Pair, PairCodeIssued, Paired, Register, Registered, Revoke,
};
use semantest_protocol::json::FromFields;
use semantest_protocol::server::{CORE_KINDS, KINDS};
use semantest_protocol::{
    Ack, ClientFrame, ClientMessage, ErrorCode, ErrorPayload, EventPayload, Events, Hello, Ping,
    Pong, Publish, Reply, Role, ServerFrame, ServerMessage, Signature, Token, UploadRequest,
    UploadUrl, Welcome, MAX_ERROR_MESSAGE_CHARS,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

// ---- a. Each payload read by hand accepts and reads what its serde derive does ----

/// What each field (and each array item) is replaced by, one at a time.
fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(0),
        json!(-1),
        json!(1.5),
        json!(18_446_744_073_709_551_616.0_f64),
        json!("s"),
        json!(true),
        json!([]),
        json!({}),
        json!(["a"]),
        json!({"a": "b"}),
    ]
}

/// `value` changed at one place, for every place: in every object (nested ones too) each
/// field removed, replaced by each of [`replacements`], and an unknown field added; in every
/// array each item replaced.
fn mutations(value: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            let mut extra = map.clone();
            extra.insert("unknownField".into(), json!({"x": [1]}));
            out.push(Value::Object(extra));
            for (key, field) in map {
                let mut removed = map.clone();
                removed.remove(key);
                out.push(Value::Object(removed));
                for changed in replacements().into_iter().chain(mutations(field)) {
                    let mut m = map.clone();
                    m.insert(key.clone(), changed);
                    out.push(Value::Object(m));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                for changed in replacements().into_iter().chain(mutations(item)) {
                    let mut a = items.clone();
                    a[i] = changed;
                    out.push(Value::Array(a));
                }
            }
        }
        _ => {}
    }
    out
}

/// A message type's name and its variant: `("pong", ServerMessage::Pong)`.
type Kind<T> = (&'static str, fn(T) -> ServerMessage);

/// For each instance and each of its [`mutations`]: the hand read (of the payload alone and,
/// when `frame` is given, of a whole frame `{"type": kind, "payload": …}`) accepts exactly what
/// serde accepts, reading the same value. Returns how many cases were accepted and refused.
fn agrees<T>(instances: &[T], frame: Option<Kind<T>>) -> (usize, usize)
where
    T: FromFields + DeserializeOwned + Serialize + PartialEq + Debug + Clone,
{
    let (mut accepted, mut refused) = (0, 0);
    for instance in instances {
        let value = serde_json::to_value(instance).unwrap();
        assert_eq!(
            T::read(value.clone(), "payload").as_ref(),
            Ok(instance),
            "{value}"
        );
        for case in std::iter::once(value.clone()).chain(mutations(&value)) {
            let by_serde = serde_json::from_value::<T>(case.clone()).ok();
            let by_hand = T::read(case.clone(), "payload");
            assert_eq!(by_hand.clone().ok(), by_serde, "{case}: {by_hand:?}");
            if let Err(e) = &by_hand {
                assert!(
                    e.to_string().chars().count() <= MAX_ERROR_MESSAGE_CHARS,
                    "{e}"
                );
            }
            if let Some((kind, wrap)) = frame {
                let text = json!({"type": kind, "payload": case}).to_string();
                let read = ServerFrame::parse(&text).ok().map(|f| f.message);
                assert_eq!(read, by_serde.clone().map(wrap), "{text}");
                // The core's reader: the same for the types it acts on, the payload as sent
                // (whatever it is) for the others.
                let core = ServerFrame::parse_for_core(&text).ok().map(|f| f.message);
                if CORE_KINDS.contains(&kind) {
                    assert_eq!(core, read, "{text}");
                } else {
                    let other = ServerMessage::Other {
                        kind: kind.to_owned(),
                        payload: case.clone(),
                    };
                    assert_eq!(core, Some(other), "{text}");
                }
            }
            match by_serde {
                Some(_) => accepted += 1,
                None => refused += 1,
            }
        }
    }
    (accepted, refused)
}

fn token(n: u8) -> Token {
    Token::new(format!(
        "sti_{}",
        char::from(b'a' + n).to_string().repeat(20)
    ))
    .unwrap()
}

#[test]
fn welcome_pong_ack_event_upload_and_error_payloads_read_as_serde_reads_them() {
    let counts = [
        agrees(
            &[
                Welcome {
                    connection_id: "c1".into(),
                    server: Signature::new("local", &["imageGeneration", "imageDownload"]),
                    heartbeat_secs: 30,
                },
                Welcome {
                    connection_id: String::new(),
                    server: Signature::new("production", &[]),
                    heartbeat_secs: u64::MAX,
                },
            ],
            Some(("welcome", ServerMessage::Welcome)),
        ),
        agrees(
            &[Pong {
                t: 0,
                server_time: 1_732_240_000_003,
            }],
            Some(("pong", ServerMessage::Pong)),
        ),
        agrees(
            &[
                Ack {
                    action: "publish".into(),
                    events: Some(vec!["a".into(), "b".into()]),
                    id: Some("e1".into()),
                    delivered: Some(3),
                    held: true,
                },
                Ack::of("revoke"),
            ],
            Some(("ack", ServerMessage::Ack)),
        ),
        agrees(
            &[
                EventPayload {
                    event: "imageDownloaded".into(),
                    id: "e2".into(),
                    from: "c1".into(),
                    data: json!({"path": "/x.png", "n": [1, 2.5, null]}),
                    in_reply_to: Some("e1".into()),
                },
                EventPayload {
                    event: "x".into(),
                    id: "e3".into(),
                    from: "c2".into(),
                    data: Value::Null,
                    in_reply_to: None,
                },
            ],
            Some(("event", ServerMessage::Event)),
        ),
        agrees(
            &[
                UploadUrl {
                    image_id: "img1".into(),
                    put_url: "https://s3/put".into(),
                    get_url: "https://s3/get".into(),
                    expires_in_secs: 300,
                    headers: BTreeMap::from([
                        ("content-type".into(), "image/png".into()),
                        ("content-length".into(), "12".into()),
                    ]),
                },
                UploadUrl {
                    image_id: "img2".into(),
                    put_url: String::new(),
                    get_url: String::new(),
                    expires_in_secs: 0,
                    headers: BTreeMap::new(),
                },
            ],
            Some(("uploadUrl", ServerMessage::UploadUrl)),
        ),
        agrees(
            &[
                ErrorPayload {
                    code: ErrorCode::RateLimited,
                    message: "slow down".into(),
                    retry_after_secs: Some(60),
                },
                ErrorPayload {
                    code: ErrorCode::Internal,
                    message: String::new(),
                    retry_after_secs: None,
                },
            ],
            Some(("error", ServerMessage::Error)),
        ),
    ];
    for (accepted, refused) in counts {
        assert!(accepted > 0 && refused > 0, "{accepted} {refused}");
    }
}

#[test]
fn identity_payloads_read_as_serde_reads_them() {
    let device = |n: u8, last_seen| Device {
        device_id: format!("dev_{n}"),
        name: format!("laptop {n}"),
        paired_at: 1_732_240_000_000 + u64::from(n),
        last_seen,
    };
    let counts = [
        agrees(
            &[Registered {
                install_id: "inst_1".into(),
                token: token(0),
            }],
            Some(("registered", ServerMessage::Registered)),
        ),
        agrees(
            &[PairCodeIssued {
                code: "K7QM-3XTD".into(),
                expires_at: 1_732_240_600_000,
            }],
            Some(("pairCode", ServerMessage::PairCode)),
        ),
        agrees(
            &[Paired {
                token: token(1),
                device_id: "dev_1".into(),
                install_id: "inst_1".into(),
            }],
            Some(("paired", ServerMessage::Paired)),
        ),
        agrees(
            &[
                DeviceList {
                    items: vec![device(1, Some(5)), device(2, None)],
                },
                DeviceList { items: vec![] },
            ],
            Some(("devices", ServerMessage::Devices)),
        ),
        agrees(&[device(3, Some(u64::MAX)), device(4, None)], None),
    ];
    for (accepted, refused) in counts {
        assert!(accepted > 0 && refused > 0, "{accepted} {refused}");
    }
}

#[test]
fn a_token_is_checked_where_it_is_read() {
    let e = ServerFrame::parse(r#"{"type":"registered","payload":{"installId":"i","token":"x"}}"#)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid `token`: a token must be 16 to 256 characters long (this one has 1)"
    );
}

#[test]
fn a_delivered_count_must_fit_a_usize() {
    let text = format!(
        r#"{{"type":"ack","payload":{{"action":"publish","delivered":{}}}}}"#,
        u64::MAX
    );
    let by_serde = serde_json::from_str::<Value>(&text).unwrap()["payload"].clone();
    let by_serde = serde_json::from_value::<Ack>(by_serde).ok();
    let by_hand = ServerFrame::parse(&text).ok().map(|f| f.message);
    assert_eq!(by_hand, by_serde.map(ServerMessage::Ack));
}

// ---- b. What the servers write (serde), the client reads back (by hand) ----

/// Text of every kind: control characters, quotes, backslashes, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é€😀 ]{0,12}",]
}

fn names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn a_token() -> impl Strategy<Value = Token> {
    "[A-Za-z0-9._~-]{16,80}".prop_map(|t| Token::new(t).unwrap())
}

/// Any JSON value a `Value` holds: floats finite, integers signed and unsigned.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let signature = (text(), text(), text(), names()).prop_map(|(s, v, e, c)| Signature {
        service: s,
        version: v,
        environment: e,
        capabilities: c,
    });
    let device =
        (text(), text(), any::<u64>(), any::<Option<u64>>()).prop_map(|(d, n, p, l)| Device {
            device_id: d,
            name: n,
            paired_at: p,
            last_seen: l,
        });
    prop_oneof![
        (text(), signature, any::<u64>()).prop_map(|(c, s, h)| {
            ServerMessage::Welcome(Welcome {
                connection_id: c,
                server: s,
                heartbeat_secs: h,
            })
        }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(t, s)| ServerMessage::Pong(Pong { t, server_time: s })),
        (
            text(),
            proptest::option::of(names()),
            proptest::option::of(text()),
            any::<Option<usize>>(),
            any::<bool>()
        )
            .prop_map(|(action, events, id, delivered, held)| {
                ServerMessage::Ack(Ack {
                    action,
                    events,
                    id,
                    delivered,
                    held,
                })
            }),
        (
            text(),
            text(),
            text(),
            json_value(),
            proptest::option::of(text())
        )
            .prop_map(|(event, id, from, data, in_reply_to)| ServerMessage::Event(
                EventPayload {
                    event,
                    id,
                    from,
                    data,
                    in_reply_to,
                }
            )),
        (
            text(),
            text(),
            text(),
            any::<u64>(),
            prop::collection::btree_map(text(), text(), 0..4)
        )
            .prop_map(|(image_id, put_url, get_url, expires_in_secs, headers)| {
                ServerMessage::UploadUrl(UploadUrl {
                    image_id,
                    put_url,
                    get_url,
                    expires_in_secs,
                    headers,
                })
            }),
        (text(), a_token()).prop_map(|(install_id, token)| {
            ServerMessage::Registered(Registered { install_id, token })
        }),
        (text(), any::<u64>()).prop_map(|(code, expires_at)| {
            ServerMessage::PairCode(PairCodeIssued { code, expires_at })
        }),
        (a_token(), text(), text()).prop_map(|(token, device_id, install_id)| {
            ServerMessage::Paired(Paired {
                token,
                device_id,
                install_id,
            })
        }),
        prop::collection::vec(device, 0..4)
            .prop_map(|items| ServerMessage::Devices(DeviceList { items })),
        (
            prop::sample::select(&ErrorCode::ALL[..]),
            text(),
            any::<Option<u64>>()
        )
            .prop_map(|(code, message, retry_after_secs)| {
                ServerMessage::Error(ErrorPayload {
                    code,
                    message,
                    retry_after_secs,
                })
            }),
        (
            text().prop_filter("an unknown type", |k| !KINDS.contains(&k.as_str())),
            json_value()
        )
            .prop_map(|(kind, payload)| ServerMessage::Other { kind, payload }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn what_serde_writes_the_hand_reader_reads_back(
        reply_to in proptest::option::of(text()),
        message in server_message(),
    ) {
        let frame = ServerFrame::reply(reply_to, message);
        let text = frame.to_json();
        prop_assert_eq!(ServerFrame::parse(&text), Ok(frame.clone()), "{}", text);
        let kind = frame.message.kind().to_owned();
        let core = if CORE_KINDS.contains(&kind.as_str()) {
            frame
        } else {
            let payload = serde_json::from_str::<Value>(&text).unwrap()["payload"].clone();
            ServerFrame::reply(frame.reply_to, ServerMessage::Other { kind, payload })
        };
        prop_assert_eq!(ServerFrame::parse_for_core(&text), Ok(core), "{}", text);
    }
}

// ---- c. What the client writes (by hand) is what serde wrote, and the servers read it ----

/// The frame as serde wrote it before the hand writer: the envelope struct, the payload
/// struct through `to_value`.
fn by_serde(frame: &ClientFrame) -> String {
    #[derive(Serialize)]
    struct Envelope<'a> {
        action: &'a str,
        id: &'a str,
        payload: Value,
    }
    let payload = match &frame.message {
        ClientMessage::Hello(h) => serde_json::to_value(h),
        ClientMessage::Ping(p) => serde_json::to_value(p),
        ClientMessage::Subscribe(e) | ClientMessage::Unsubscribe(e) => serde_json::to_value(e),
        ClientMessage::Publish(p) => serde_json::to_value(p),
        ClientMessage::Reply(r) => serde_json::to_value(r),
        ClientMessage::RequestUpload(u) => serde_json::to_value(u),
        ClientMessage::Register(r) => serde_json::to_value(r),
        ClientMessage::Pair(p) => serde_json::to_value(p),
        ClientMessage::Revoke(r) => serde_json::to_value(r),
        ClientMessage::PairCode | ClientMessage::Devices => Ok(json!({})),
        other => panic!("a message this test does not know: {other:?}"),
    };
    serde_json::to_string(&Envelope {
        action: frame.message.action(),
        id: &frame.id,
        payload: payload.unwrap(),
    })
    .unwrap()
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Extension), Just(Role::Client)]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (
            role(),
            text(),
            text(),
            names(),
            proptest::option::of(a_token())
        )
            .prop_map(|(role, client_id, version, capabilities, token)| {
                ClientMessage::Hello(Hello {
                    role,
                    client_id,
                    version,
                    capabilities,
                    token,
                })
            }),
        any::<u64>().prop_map(|t| ClientMessage::Ping(Ping { t })),
        names().prop_map(|events| ClientMessage::Subscribe(Events { events })),
        names().prop_map(|events| ClientMessage::Unsubscribe(Events { events })),
        (text(), json_value())
            .prop_map(|(event, data)| ClientMessage::Publish(Publish { event, data })),
        (text(), text(), json_value()).prop_map(|(to, event, data)| ClientMessage::Reply(Reply {
            to,
            event,
            data
        })),
        (text(), any::<u64>(), text(), text()).prop_map(
            |(filename, size, sha256, content_type)| {
                ClientMessage::RequestUpload(UploadRequest {
                    filename,
                    size,
                    sha256,
                    content_type,
                })
            }
        ),
        (role(), text()).prop_map(|(role, name)| ClientMessage::Register(Register { role, name })),
        Just(ClientMessage::PairCode),
        (text(), text()).prop_map(|(code, name)| ClientMessage::Pair(Pair { code, name })),
        Just(ClientMessage::Devices),
        text().prop_map(|device_id| ClientMessage::Revoke(Revoke { device_id })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn the_hand_writer_writes_serdes_bytes_and_the_server_reads_them(
        id in text(),
        message in client_message(),
    ) {
        let frame = ClientFrame::new(id, message);
        let text = frame.to_json();
        prop_assert_eq!(&text, &by_serde(&frame));
        prop_assert_eq!(ClientFrame::parse(&text), Ok(frame));
    }

    #[test]
    fn raw_frames_are_written_as_serde_writes_them(
        action in text(),
        id in text(),
        payload in json_value(),
    ) {
        #[derive(Serialize)]
        struct Envelope<'a> {
            action: &'a str,
            id: &'a str,
            payload: &'a Value,
        }
        let wanted = serde_json::to_string(&Envelope { action: &action, id: &id, payload: &payload }).unwrap();
        prop_assert_eq!(semantest_protocol::client::raw_json(&action, &id, payload), wanted);
    }
}

#[test]
fn small_frames_are_written_exactly() {
    let ping = ClientFrame::new("c2", ClientMessage::Ping(Ping { t: 7 }));
    assert_eq!(
        ping.to_json(),
        r#"{"action":"ping","id":"c2","payload":{"t":7}}"#
    );
    let codes = ClientFrame::new("c3", ClientMessage::PairCode);
    assert_eq!(
        codes.to_json(),
        r#"{"action":"pairCode","id":"c3","payload":{}}"#
    );
    let hello = ClientFrame::new(
        "c1",
        ClientMessage::Hello(Hello {
            role: Role::Client,
            client_id: "x".into(),
            version: "1".into(),
            capabilities: vec![],
            token: None,
        }),
    );
    assert!(!hello.to_json().contains("token"), "{}", hello.to_json());
    assert!(hello.to_json().contains(r#""role":"client""#));
}
