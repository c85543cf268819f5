//! The state every handler shares: configuration, signature, metrics, the hub and the shutdown
//! signal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use semantest_protocol::Signature;

use crate::auth::ApiKeys;
use crate::hub::Hub;
use crate::limits::HttpLimiter;
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
    images: ImageIndex,
    api_keys: ApiKeys,
    http_limiter: HttpLimiter,
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
        let api_keys = crate::auth::keys_of(&config);
        let http_limiter = HttpLimiter::new(&config);
        AppState {
            inner: Arc::new(Inner {
                api_keys,
                http_limiter,
                config,
                signature,
                metrics: Metrics::new(),
                shutdown: Shutdown::new(),
                hub,
                images: ImageIndex::default(),
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

    /// The images stored since the server started, by id.
    pub(crate) fn images(&self) -> &ImageIndex {
        &self.inner.images
    }

    /// The API keys clients must show in production.
    pub(crate) fn api_keys(&self) -> &ApiKeys {
        &self.inner.api_keys
    }

    /// The per-address HTTP rate limiter.
    pub(crate) fn http_limiter(&self) -> &HttpLimiter {
        &self.inner.http_limiter
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

/// Which id names which stored image file. Only ids this server handed out are served, so a
/// `GET /images/{id}` can never name a path.
#[derive(Debug, Default)]
pub(crate) struct ImageIndex(
    std::sync::Mutex<std::collections::HashMap<String, std::path::PathBuf>>,
);

impl ImageIndex {
    pub(crate) fn insert(&self, id: String, path: std::path::PathBuf) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, path);
    }

    pub(crate) fn get(&self, id: &str) -> Option<std::path::PathBuf> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}
