//! The state every handler shares: configuration, signature, metrics, the hub and the shutdown
//! signal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use semantest_protocol::Signature;

use crate::hub::Hub;
use crate::{Config, Metrics, Shutdown};

/// What the server can do, as announced in its signature.
pub const CAPABILITIES: &[&str] = &["imageGeneration", "imageDownload"];

/// The shared state of one server; cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    signature: Signature,
    metrics: Metrics,
    shutdown: Shutdown,
    hub: Hub,
    started: Instant,
    /// Random per server, so connection ids do not repeat across restarts.
    id_prefix: u32,
    next_connection: AtomicU64,
}

impl AppState {
    /// The state of a server that starts now with `config`.
    pub fn new(config: Config) -> Self {
        let signature = Signature::new(config.environment.as_str(), CAPABILITIES);
        let hub = Hub::new(
            config.hold_max_events,
            Duration::from_millis(config.hold_ms),
        );
        AppState {
            inner: Arc::new(Inner {
                config,
                signature,
                metrics: Metrics::new(),
                shutdown: Shutdown::new(),
                hub,
                started: Instant::now(),
                id_prefix: fastrand::u32(..),
                next_connection: AtomicU64::new(1),
            }),
        }
    }

    /// The configuration the server started with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The answer of `GET /signature`, also sent in every `welcome`.
    pub fn signature(&self) -> &Signature {
        &self.inner.signature
    }

    /// This server's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// This server's shutdown signal.
    pub fn shutdown(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    /// Who is connected and subscribed to what.
    pub(crate) fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// When the server started, for `/health`'s uptime.
    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// A new id for a WebSocket connection, unique within this server.
    pub(crate) fn next_connection_id(&self) -> String {
        let n = self.inner.next_connection.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-{n}", self.inner.id_prefix)
    }
}
