//! The HTTP endpoints, called through the router without a socket (`oneshot`).

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use semantest_server::{app, AppState, Config, Environment};
use serde_json::Value;
use tower::ServiceExt;

fn router(config: Config) -> Router {
    app(AppState::new(config))
}

async fn get(
    router: Router,
    path: &str,
    origin: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::get(path).header(header::HOST, "localhost:3003");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    let response = router
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn signature_is_exact_on_both_paths() {
    for path in ["/signature", "/semantest-signature"] {
        let (status, headers, body) = get(router(Config::default()), path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            body,
            r#"{"service":"semantest","version":"1.0.0","environment":"local","capabilities":["imageGeneration","imageDownload"]}"#,
            "{path}"
        );
    }
}

#[tokio::test]
async fn signature_names_the_production_environment() {
    let config = Config {
        environment: Environment::Production,
        ..Config::default()
    };
    let (_, _, body) = get(router(config), "/signature", None).await;
    assert_eq!(
        body,
        r#"{"service":"semantest","version":"1.0.0","environment":"production","capabilities":["imageGeneration","imageDownload"]}"#
    );
}

#[tokio::test]
async fn health_reports_its_fields() {
    let (status, _, body) = get(router(Config::default()), "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], "1.0.0");
    assert_eq!(health["environment"], "local");
    assert!(health["uptimeSecs"].is_u64(), "{body}");
    assert_eq!(health["connections"], 0);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let (status, _, _) = get(router(Config::default()), "/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_every_name() {
    let (status, headers, body) = get(router(Config::default()), "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    for name in [
        "semantest_connections_open",
        "semantest_connections_total",
        "semantest_messages",
        "semantest_errors",
        "semantest_handshake_seconds_count",
        "semantest_ping_rtt_seconds_count",
    ] {
        assert!(body.contains(name), "{name} missing from:\n{body}");
    }
}

#[tokio::test]
async fn metrics_move_with_websocket_traffic() {
    let server = common::TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    common::round_trip(
        &mut client,
        r#"{"action":"hello","id":"h","payload":{"role":"client","clientId":"t","version":"1"}}"#,
    )
    .await;
    common::round_trip(
        &mut client,
        r#"{"action":"ping","id":"p","payload":{"t":1}}"#,
    )
    .await;
    common::round_trip(&mut client, r#"{"action":"nope","id":"n","payload":{}}"#).await;

    let (_, _, health) = get(app(server.state.clone()), "/health", None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&health).unwrap()["connections"],
        1
    );
    let (_, _, text) = get(app(server.state.clone()), "/metrics", None).await;
    let value =
        |name: &str| common::sample(&text, name).unwrap_or_else(|| panic!("{name} in\n{text}"));
    assert_eq!(value("semantest_connections_open"), 1.0);
    assert_eq!(value("semantest_connections_total"), 1.0);
    assert_eq!(value(r#"semantest_messages_total{action="hello"}"#), 1.0);
    assert_eq!(value(r#"semantest_messages_total{action="ping"}"#), 1.0);
    assert_eq!(value(r#"semantest_messages_total{action="unknown"}"#), 1.0);
    assert_eq!(
        value(r#"semantest_errors_total{code="unknown_action"}"#),
        1.0
    );
    assert_eq!(value("semantest_handshake_seconds_count"), 1.0);

    drop(client);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins() {
    let config = Config {
        allowed_origins: vec!["chrome-extension://abcdef".into()],
        ..Config::default()
    };
    let allowed = router(config.clone());

    let (_, headers, _) = get(
        allowed.clone(),
        "/signature",
        Some("chrome-extension://abcdef"),
    )
    .await;
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "chrome-extension://abcdef"
    );

    let (status, headers, _) = get(allowed.clone(), "/health", Some("https://evil.example")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the request itself is served; the browser hides it"
    );
    assert!(
        headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
        "{headers:?}"
    );

    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/signature")
        .header(header::HOST, "127.0.0.1:3003")
        .header(header::ORIGIN, "chrome-extension://abcdef")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .body(Body::empty())
        .unwrap();
    let response = allowed.oneshot(preflight).await.unwrap();
    assert_eq!(
        response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "chrome-extension://abcdef"
    );
    let methods = response.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap();
    assert_eq!(methods, "GET");

    let (_, headers, _) = get(
        router(Config::default()),
        "/signature",
        Some("chrome-extension://abcdef"),
    )
    .await;
    assert!(
        headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
        "no origin configured, none allowed"
    );
}
