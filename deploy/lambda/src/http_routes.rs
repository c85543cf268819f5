//! The HTTP API: `GET /health`, `/signature` and `/semantest-signature`, answered without touching AWS.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use http::Method;
use semantest_protocol::Signature;
use serde_json::json;

use crate::reply::json;
use crate::Config;

/// What the public service says it can do (as the server's `CAPABILITIES`, plus uploads).
pub const CAPABILITIES: &[&str] = &["imageGeneration", "imageDownload", "presignedUpload"];

/// The signature of this stack.
pub fn signature(config: &Config) -> Signature {
    Signature::new(config.environment.as_str(), CAPABILITIES)
}

/// Answers one HTTP API request (payload format 2.0).
pub fn handle(config: &Config, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let http = &request.request_context.http;
    let path = http
        .path
        .as_deref()
        .or(request.raw_path.as_deref())
        .unwrap_or("/");
    let known = matches!(path, "/health" | "/signature" | "/semantest-signature");
    if !known {
        return json(
            404,
            &json!({ "error": format!("no route {}", semantest_protocol::shorten(path, 100)) }),
        );
    }
    if http.method != Method::GET && http.method != Method::HEAD {
        return json(405, &json!({ "error": format!("{path} answers GET only") }));
    }
    match path {
        "/health" => json(
            200,
            &json!({
                "status": "ok",
                "version": semantest_protocol::PROTOCOL_VERSION,
                "environment": config.environment,
            }),
        ),
        _ => json(
            200,
            &serde_json::to_value(signature(config)).unwrap_or_default(),
        ),
    }
}
