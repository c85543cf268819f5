//! Running the server on a listener until a shutdown future resolves.

use std::future::Future;
use std::io;

use tokio::net::TcpListener;

use crate::shutdown::GRACE;
use crate::{app, AppState, Config};

/// Serves `config` on `listener` until `shutdown` resolves, then shuts down gracefully: stops
/// accepting, closes every WebSocket with code 1001, and returns once they are closed — after
/// at most [`GRACE`] for the HTTP connections and [`GRACE`] for the WebSockets.
///
/// Fails at once with [`io::ErrorKind::InvalidInput`] if the configuration is invalid (see
/// [`Config::validate`]).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    serve_state(listener, AppState::new(config), shutdown).await
}

/// Like [`serve`], with a state made by the caller — so a test can read its metrics, or trigger
/// its shutdown, while it runs.
pub async fn serve_state(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let signal = state.shutdown().clone();
    let trigger = signal.clone();
    let watcher = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        trigger.trigger();
    });
    // Held events whose time ran out are answered with `no_extension`.
    let hub_state = state.clone();
    let expiry = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            tick.tick().await;
            hub_state.hub().expire(std::time::Instant::now());
        }
    });
    let http = axum::serve(listener, app(state)).with_graceful_shutdown(signal.triggered_owned());
    let outcome = tokio::select! {
        result = http => result,
        () = async { signal.triggered().await; tokio::time::sleep(GRACE).await } => {
            tracing::warn!("HTTP connections still open after {GRACE:?}; not waiting longer");
            Ok(())
        }
    };
    // If the listener failed on its own, the sockets must still be closed.
    signal.trigger();
    if !signal.drain(GRACE).await {
        tracing::warn!("WebSockets still open after {GRACE:?}; not waiting longer");
    }
    watcher.abort();
    expiry.abort();
    outcome
}
