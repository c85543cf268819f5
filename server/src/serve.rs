//! Running the server on a listener until a shutdown future resolves.

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::task::AbortOnDropHandle;

use crate::shutdown::GRACE;
use crate::{app, listener, tls, AppState, Config};

/// Serves `config` on `listener` until `shutdown` resolves, then shuts down gracefully: stops
/// accepting, closes every WebSocket with code 1001, and returns once they are closed — after
/// at most [`GRACE`] for the HTTP connections and [`GRACE`] for the WebSockets.
///
/// Fails at once with [`io::ErrorKind::InvalidInput`] if the configuration is invalid (see
/// [`Config::validate`]) or its TLS certificate and key cannot be loaded.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let state =
        AppState::open(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    serve_state(listener, state, shutdown).await
}

/// Like [`serve`], with a state made by the caller — so a test can read its metrics, or trigger
/// its shutdown, while it runs.
pub async fn serve_state(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = match (&state.config().tls_cert, &state.config().tls_key) {
        (Some(cert), Some(key)) => Some(
            tls::acceptor(cert, key).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        ),
        _ => None,
    };
    let signal = state.shutdown().clone();
    let trigger = signal.clone();
    // The helper tasks end with this future, however it ends (returned or dropped).
    let _watcher = AbortOnDropHandle::new(tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        trigger.trigger();
    }));
    // Held events whose time ran out are answered with `no_extension`; rate-limit buckets of
    // quiet addresses are dropped once a minute.
    let ticker_state = state.clone();
    let _ticker = AbortOnDropHandle::new(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut last_sweep = Instant::now();
        loop {
            tick.tick().await;
            ticker_state.hubs().sweep(Instant::now());
            if last_sweep.elapsed() >= Duration::from_secs(60) {
                ticker_state.http_limiter().forget_quiet();
                last_sweep = Instant::now();
            }
        }
    }));
    // Every socket's heartbeat and auth deadline (see `timers`).
    let timer_state = state.clone();
    let _timers = AbortOnDropHandle::new(tokio::spawn(
        async move { timer_state.timers().run().await },
    ));
    listener::run(listener, acceptor, app(state.clone()), state.clone()).await;
    // The accept loop ends when the shutdown fires; the connections it started finish their
    // requests, and the WebSockets close with 1001.
    if !signal.drain(GRACE).await {
        tracing::warn!("connections still open after {GRACE:?}; not waiting longer");
    }
    Ok(())
}
