//! The HTTP endpoints: `GET /signature` (and `/semantest-signature`), `/health` and `/metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use semantest_protocol::Signature;
use serde::Serialize;

use crate::{metrics, AppState, Environment};

/// `GET /signature`: tells a Semantest server from any other program on the port.
pub(crate) async fn signature(State(state): State<AppState>) -> Json<Signature> {
    Json(state.signature().clone())
}

/// The body of `GET /health`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    version: &'static str,
    environment: Environment,
    uptime_secs: u64,
    connections: i64,
    /// Events waiting for an extension to connect.
    held_events: usize,
}

/// `GET /health`: the server is up, for how long, and how many sockets it holds.
pub(crate) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    Json(Health {
        status: "ok",
        version: semantest_protocol::PROTOCOL_VERSION,
        environment: state.config().environment,
        uptime_secs: state.started().elapsed().as_secs(),
        connections: state.metrics().connections_open(),
        held_events: state.hubs().held(),
    })
}

/// `GET /metrics`: this server's registry in the Prometheus/OpenMetrics text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics().encode(),
    )
}
