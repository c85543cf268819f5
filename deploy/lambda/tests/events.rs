//! The handlers on realistic API Gateway event JSON, for the parts that need no AWS: the HTTP routes, the handshake's key check, the events' parsing.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayWebsocketProxyRequest};
use http::{header, HeaderValue, Method};
use semantest_lambda::connect::{admit, Admission};
use semantest_lambda::reply::body_text;
use semantest_lambda::{http_routes, Config};
use semantest_protocol::identity::Identity;
use semantest_protocol::keys;
use serde_json::Value;

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const KEY: &str = "fixture-key-0123456789";

fn config(handler: &str, keyed: bool) -> Config {
    let digest = sha256_hex(KEY);
    Config::from_lookup(|k| match k {
        "SEMANTEST_HANDLER" => Some(handler.to_owned()),
        "SEMANTEST_TABLE" => Some("t".to_owned()),
        "SEMANTEST_BUCKET" => Some("b".to_owned()),
        "SEMANTEST_MANAGEMENT_ENDPOINT" => Some("http://127.0.0.1:9".to_owned()),
        "SEMANTEST_API_KEY_SHA256" if keyed => Some(digest.clone()),
        "SEMANTEST_ENVIRONMENT" => Some("staging".to_owned()),
        _ => None,
    })
    .unwrap()
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_signature_route_answers_this_stacks_signature() {
    let request: ApiGatewayV2httpRequest = fixture("http-signature.json");
    let response = http_routes::handle(&config("http", true), &request);
    assert_eq!(response.status_code, 200);
    assert_eq!(response.headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(body_text(&response.body).unwrap()).unwrap();
    assert_eq!(body["service"], "semantest");
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["environment"], "staging");
    assert!(body["capabilities"]
        .as_array()
        .unwrap()
        .contains(&Value::from("presignedUpload")));
    // The client's signature check accepts it (the same type parses it back).
    let parsed: semantest_protocol::Signature =
        serde_json::from_str(body_text(&response.body).unwrap()).unwrap();
    assert_eq!(parsed.service, semantest_protocol::SERVICE_NAME);
}

#[test]
fn health_unknown_paths_and_other_methods() {
    let mut request: ApiGatewayV2httpRequest = fixture("http-signature.json");
    request.request_context.http.path = Some("/health".to_owned());
    let health = http_routes::handle(&config("http", true), &request);
    assert_eq!(health.status_code, 200);
    let body: Value = serde_json::from_str(body_text(&health.body).unwrap()).unwrap();
    assert_eq!(body["status"], "ok");

    request.request_context.http.path = Some("/semantest-signature".to_owned());
    assert_eq!(
        http_routes::handle(&config("http", true), &request).status_code,
        200
    );

    request.request_context.http.path = Some("/images/1".to_owned());
    let missing = http_routes::handle(&config("http", true), &request);
    assert_eq!(missing.status_code, 404);
    assert!(body_text(&missing.body)
        .unwrap()
        .contains("no route /images/1"));

    request.request_context.http.path = Some("/health".to_owned());
    request.request_context.http.method = Method::POST;
    let post = http_routes::handle(&config("http", true), &request);
    assert_eq!(post.status_code, 405);
    assert!(body_text(&post.body).unwrap().contains("GET only"));
}

#[test]
fn the_handshake_key_decides_before_any_socket_exists() {
    let event: ApiGatewayWebsocketProxyRequest = fixture("connect.json");
    assert_eq!(event.request_context.event_type.as_deref(), Some("CONNECT"));
    let keyed = config("connect", true);
    // The fixture is a browser's handshake: no key in it, so the first frame must bring one.
    assert_eq!(
        admit(&keyed, &event.headers),
        Admission::Accept {
            tenant: None,
            identity: None,
            authed: false,
            wrong_key: false,
            subprotocol: false
        }
    );
    let mut headers = event.headers.clone();
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_str(&format!("semantest.v1, bearer.{KEY}")).unwrap(),
    );
    assert_eq!(
        admit(&keyed, &headers),
        Admission::Accept {
            tenant: Some(format!("key:{}", keys::key_id(KEY))),
            identity: Some(Identity::Operator {
                key_id: keys::key_id(KEY)
            }),
            authed: true,
            wrong_key: false,
            subprotocol: true
        }
    );
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("semantest.v1, bearer.guess-guess-guess-1234"),
    );
    // A browser cannot read a 401: the socket opens, and its first frame gets the reason.
    // Not an operator key: the table is asked whether it is an install's or a device's.
    assert_eq!(
        admit(&keyed, &headers),
        Admission::Lookup {
            token: "guess-guess-guess-1234".to_owned(),
            in_authorization: false,
            subprotocol: true
        }
    );
    let mut wrong_tool = event.headers.clone();
    wrong_tool.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer guess-guess-guess-1234"),
    );
    assert_eq!(
        admit(&keyed, &wrong_tool),
        Admission::Lookup {
            token: "guess-guess-guess-1234".to_owned(),
            in_authorization: true,
            subprotocol: false
        }
    );
    let mut tool = event.headers.clone();
    tool.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {KEY}")).unwrap(),
    );
    assert_eq!(
        admit(&keyed, &tool),
        Admission::Accept {
            tenant: Some(format!("key:{}", keys::key_id(KEY))),
            identity: Some(Identity::Operator {
                key_id: keys::key_id(KEY)
            }),
            authed: true,
            wrong_key: false,
            subprotocol: false
        }
    );
    // A stack without operator keys: the token is looked up (an install's or a device's).
    assert!(matches!(
        admit(&config("connect", false), &headers),
        Admission::Lookup {
            in_authorization: false,
            subprotocol: true,
            ..
        }
    ));
}

#[test]
fn message_and_disconnect_events_parse_as_api_gateway_sends_them() {
    let message: ApiGatewayWebsocketProxyRequest = fixture("message.json");
    assert_eq!(
        message.request_context.event_type.as_deref(),
        Some("MESSAGE")
    );
    assert_eq!(message.request_context.route_key.as_deref(), Some("ping"));
    let frame = semantest_protocol::ClientFrame::parse(message.body.as_deref().unwrap()).unwrap();
    assert_eq!(frame.message.action(), "ping");
    let gone: ApiGatewayWebsocketProxyRequest = fixture("disconnect.json");
    assert_eq!(gone.request_context.disconnect_status_code, Some(1001));
    assert_eq!(
        gone.request_context.connection_id,
        message.request_context.connection_id
    );
}
