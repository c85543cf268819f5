//! Who is let in: the `Host` check in local mode (DNS rebinding) and the WebSocket `Origin`
//! allowlist, each with the exact answer, and the server still serving everyone else.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{round_trip, TestServer};
use http_body_util::BodyExt;
use semantest_server::guard::dev_extension_origin;
use semantest_server::{app, AppState, Config, Environment};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;
use tower::ServiceExt;

async fn status_for_host(config: Config, host: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::get("/signature");
    if let Some(host) = host {
        request = request.header(header::HOST, host);
    }
    let response = app(AppState::new(config))
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn local_mode_answers_only_loopback_hosts() {
    for host in [
        "localhost:3003",
        "127.0.0.1:3003",
        "[::1]:3003",
        "localhost",
    ] {
        let (status, _) = status_for_host(Config::default(), Some(host)).await;
        assert_eq!(status, StatusCode::OK, "{host}");
    }
    for host in [
        Some("evil.example"),
        Some("evil.example:3003"),
        Some(""),
        None,
    ] {
        let (status, body) = status_for_host(Config::default(), host).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{host:?}");
        assert!(
            body.contains("is not allowed: this local server answers only localhost"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn production_mode_does_not_check_the_host() {
    let config = Config {
        environment: Environment::Production,
        ..Config::default()
    };
    let (status, _) = status_for_host(config, Some("api.extension.semantest.com")).await;
    assert_eq!(status, StatusCode::OK);
}

/// Opens a WebSocket with `origin` (and optionally another `Host`); the HTTP status on refusal.
async fn ws_with(server: &TestServer, origin: Option<&str>, host: Option<&str>) -> Result<(), u16> {
    let mut request = server.ws_url().into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert(header::ORIGIN, origin.parse().unwrap());
    }
    if let Some(host) = host {
        request
            .headers_mut()
            .insert(header::HOST, host.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected handshake failure: {e}"),
    }
}

#[tokio::test]
async fn websocket_origins_are_checked_exactly() {
    let server = TestServer::start(Config {
        allowed_origins: vec!["http://localhost:5173".into()],
        ..Config::default()
    })
    .await;
    assert_eq!(
        ws_with(&server, None, None).await,
        Ok(()),
        "no Origin: not a browser"
    );
    assert_eq!(
        ws_with(&server, Some(&dev_extension_origin()), None).await,
        Ok(())
    );
    assert_eq!(
        ws_with(&server, Some("http://localhost:5173"), None).await,
        Ok(())
    );
    for foreign in [
        "https://evil.example",
        "http://localhost:5174",
        "chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "null",
    ] {
        assert_eq!(
            ws_with(&server, Some(foreign), None).await,
            Err(403),
            "{foreign}"
        );
    }
    assert_eq!(
        ws_with(&server, None, Some("evil.example")).await,
        Err(403),
        "foreign Host on the socket too"
    );

    // Everyone else is still served.
    let mut client = server.connect().await;
    let frame = round_trip(
        &mut client,
        r#"{"action":"ping","id":"p","payload":{"t":1}}"#,
    )
    .await;
    assert_eq!(frame.reply_to.as_deref(), Some("p"));
}

#[tokio::test]
async fn cors_allows_the_dev_extension_by_default() {
    let request = Request::get("/signature")
        .header(header::HOST, "localhost:3003")
        .header(header::ORIGIN, dev_extension_origin())
        .body(Body::empty())
        .unwrap();
    let response = app(AppState::new(Config::default()))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        dev_extension_origin().as_str()
    );
    assert!(response.headers()[header::VARY]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("origin"));
}
