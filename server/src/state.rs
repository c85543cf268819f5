//! The state every handler shares: configuration, signature, metrics, the hub and the shutdown
//! signal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use semantest_protocol::Signature;

use crate::auth::ApiKeys;
use crate::identity::{BookError, Identities};
use crate::limits::AddressLimiter;
use crate::tenants::Hubs;
use crate::timers::Timers;
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
    hubs: Hubs,
    /// Every socket's heartbeat and auth deadline, on one task (see `serve`).
    timers: Timers,
    images: ImageIndex,
    api_keys: ApiKeys,
    identities: Identities,
    http_limiter: AddressLimiter,
    registrations: AddressLimiter,
    pair_attempts: AddressLimiter,
    started: Instant,
    /// Random per server, so connection ids do not repeat across restarts.
    id_prefix: u32,
    next_connection: AtomicU64,
}

impl AppState {
    /// The state of a server that starts now with `config`.
    ///
    /// # Panics
    /// When `config.identity_file` exists and cannot be read (see [`AppState::open`]).
    pub fn new(config: Config) -> Self {
        match Self::open(config) {
            Ok(state) => state,
            Err(e) => panic!("{e}"),
        }
    }

    /// The state of a server that starts now with `config`, or why its identity file cannot
    /// be read.
    pub fn open(config: Config) -> Result<Self, BookError> {
        let identities = Identities::open(config.identity_file.as_deref())?;
        let signature = Signature::new(config.environment.as_str(), CAPABILITIES);
        let hubs = Hubs::new(
            config.hold_max_events,
            Duration::from_millis(config.hold_ms),
        );
        let timers = Timers::new(
            Duration::from_secs(config.heartbeat_secs),
            Duration::from_millis(config.auth_deadline_ms),
        );
        let api_keys = crate::auth::keys_of(&config);
        let http_limiter = AddressLimiter::per_minute(config.http_requests_per_minute);
        let registrations = AddressLimiter::per_hour(config.registrations_per_hour);
        let pair_attempts = AddressLimiter::per_hour(config.pair_attempts_per_hour);
        Ok(AppState {
            inner: Arc::new(Inner {
                api_keys,
                identities,
                http_limiter,
                registrations,
                pair_attempts,
                config,
                signature,
                metrics: Metrics::new(),
                shutdown: Shutdown::new(),
                hubs,
                timers,
                images: ImageIndex::default(),
                started: Instant::now(),
                id_prefix: fastrand::u32(..),
                next_connection: AtomicU64::new(1),
            }),
        })
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

    /// Who is connected and subscribed to what, per tenant.
    pub(crate) fn hubs(&self) -> &Hubs {
        &self.inner.hubs
    }

    /// The heartbeats and auth deadlines of every socket.
    pub(crate) fn timers(&self) -> &Timers {
        &self.inner.timers
    }

    /// Installs, paired devices and pairing codes.
    pub(crate) fn identities(&self) -> &Identities {
        &self.inner.identities
    }

    /// Registrations per client address.
    pub(crate) fn registrations(&self) -> &AddressLimiter {
        &self.inner.registrations
    }

    /// Pairing attempts per client address.
    pub(crate) fn pair_attempts(&self) -> &AddressLimiter {
        &self.inner.pair_attempts
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
    pub(crate) fn http_limiter(&self) -> &AddressLimiter {
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

/// Which id names which stored image file, and whose it is. Only ids this server handed out
/// are served, so a `GET /images/{id}` can never name a path; in production only to the
/// tenant that stored it.
#[derive(Debug, Default)]
pub(crate) struct ImageIndex(
    std::sync::Mutex<std::collections::HashMap<String, (Option<String>, std::path::PathBuf)>>,
);

impl ImageIndex {
    pub(crate) fn insert(&self, id: String, tenant: Option<String>, path: std::path::PathBuf) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, (tenant, path));
    }

    pub(crate) fn get(&self, id: &str, tenant: Option<&str>) -> Option<std::path::PathBuf> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .filter(|(owner, _)| owner.as_deref() == tenant)
            .map(|(_, path)| path.clone())
    }
}
