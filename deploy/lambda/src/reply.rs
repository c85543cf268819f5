//! API Gateway responses: what a WebSocket route or an HTTP route returns.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// A WebSocket route's answer: 200, and `body` sent back to the client (two-way routes).
pub fn ws(body: Option<String>) -> ApiGatewayProxyResponse {
    ws_status(200, body, HeaderMap::new())
}

/// A WebSocket route's answer with a status (on `$connect`, non-2xx refuses the handshake).
pub fn ws_status(status: i64, body: Option<String>, headers: HeaderMap) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status;
    r.headers = headers;
    r.body = body.map(Body::Text);
    r
}

/// An HTTP route's JSON answer.
pub fn json(status: i64, value: &serde_json::Value) -> ApiGatewayV2httpResponse {
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = status;
    r.headers = headers([
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ]);
    r.body = Some(Body::Text(value.to_string()));
    r
}

/// A header map of static pairs.
pub fn headers<const N: usize>(pairs: [(&'static str, &'static str); N]) -> HeaderMap {
    pairs
        .into_iter()
        .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
        .collect()
}

/// The text of a response body (for tests and logs).
pub fn body_text(body: &Option<Body>) -> Option<&str> {
    match body {
        Some(Body::Text(t)) => Some(t),
        _ => None,
    }
}
