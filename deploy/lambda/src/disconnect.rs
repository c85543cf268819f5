//! `$disconnect`: forgets the connection and its subscriptions.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};

use crate::reply::ws;
use crate::Services;

/// The `$disconnect` handler. API Gateway ignores its answer; a failure is logged, and the
/// items expire by TTL anyway.
pub async fn handle(
    services: &Services,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    if let Some(id) = event.request_context.connection_id.as_deref() {
        match services.store.remove_connection(id).await {
            Ok(()) => tracing::info!(
                connection = id,
                code = event.request_context.disconnect_status_code,
                "disconnected"
            ),
            Err(e) => tracing::error!(connection = id, "{e}"),
        }
    }
    ws(None)
}
