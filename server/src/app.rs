//! The router: which path goes to which handler, and the layers around them.

use axum::http::Method;
use axum::routing::get;
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::{auth, guard, images, limits, routes, ws, AppState};

/// The whole server as a [`Router`], for the listener or for `oneshot` in tests.
///
/// The HTTP endpoints answer CORS requests from exactly [`crate::Config::allowed_origins`]
/// (GET only); the WebSocket on `/` is outside the CORS layer, since browsers do not apply
/// CORS to WebSockets. In the order a request meets them: the trace, the `Host` check (local
/// mode), the rate limit (production), then — for images and metrics — the API key
/// (production). The WebSocket checks its key itself, since it may come in the first frame.
///
/// The sockets' heartbeats and auth deadlines are kept by one task that
/// [`crate::serve_state`] runs (see `timers`): a router served any other way answers HTTP as
/// usual, but its WebSockets get no heartbeat Pings and no auth deadline.
pub fn app(state: AppState) -> Router {
    let keyed = || axum::middleware::from_fn_with_state(state.clone(), auth::require);
    // Server-wide figures (every tenant's counts): operator keys only.
    let operator = || axum::middleware::from_fn_with_state(state.clone(), auth::require_operator);
    let http = Router::new()
        .route("/signature", get(routes::signature))
        .route("/semantest-signature", get(routes::signature))
        .route("/health", get(routes::health))
        .merge(
            Router::new()
                .route("/metrics", get(routes::metrics))
                .layer(operator()),
        )
        .layer(cors(&state));
    let images = Router::new()
        .route("/images", axum::routing::post(images::upload))
        .route("/images/{id}", get(images::download))
        // The upload streams and counts bytes itself (see `images`); no buffering limit here.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(keyed());
    Router::new()
        .route("/", get(ws::upgrade))
        .merge(http)
        .merge(images)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::http,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::host,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Exactly the configured origins, GET only. If an origin cannot be a header value (which
/// [`crate::Config::validate`] refuses before the server starts), no origin is allowed at all:
/// a broken allowlist closes, it never widens.
fn cors(state: &AppState) -> CorsLayer {
    let origins = match state.config().origin_header_values() {
        Ok(origins) => origins,
        Err(e) => {
            tracing::warn!(error = %e, "invalid allowed origin; CORS allows none");
            Vec::new()
        }
    };
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET])
}
