//! The public service's AWS Lambda handlers: protocol v1 over API Gateway WebSocket, DynamoDB and S3.
//!
//! One executable (`bootstrap`) serves four functions; `SEMANTEST_HANDLER` says which:
//! - `connect` ([`connect`]): `$connect` — checks an API key shown in the handshake and stores
//!   the connection (with a TTL);
//! - `disconnect` ([`disconnect`]): `$disconnect` — forgets the connection and its subscriptions;
//! - `default` ([`message`]): `$default` and the action routes — `hello`, `ping`, `subscribe`,
//!   `unsubscribe`, `publish` (fan-out through the management API, pruning connections that
//!   answer 410 Gone), `reply`, `requestUpload` (a presigned S3 `PUT`);
//! - `http` ([`http_routes`]): `GET /health`, `/signature`, `/semantest-signature`.
//!
//! Registration, pairing and revocation keep their items beside the connections
//! ([`identity`]).
//!
//! Effects are behind three small adapters — [`store`] (DynamoDB), [`push`] (the API Gateway
//! management API) and [`uploads`] (S3 presigning) — built from one [`aws`] SDK configuration,
//! so the tests run the same code against moto and a local management API.

pub mod aws;
pub mod config;
pub mod connect;
pub mod disconnect;
mod enroll;
pub mod http_routes;
pub mod identity;
pub mod message;
pub mod push;
pub mod reply;
pub mod store;
pub mod uploads;

pub use config::{Config, ConfigError, Handler};

/// What a handler needs: its configuration and the three adapters.
#[derive(Debug, Clone)]
pub struct Services {
    /// The configuration read at start.
    pub config: std::sync::Arc<Config>,
    /// The connections table.
    pub store: store::Store,
    /// The management API (messages to other connections).
    pub push: push::Push,
    /// Presigned S3 URLs.
    pub uploads: uploads::Uploads,
}

impl Services {
    /// The adapters for `config`, on the SDK configuration `sdk`.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        let store = store::Store::new(sdk, &config.table);
        let push = push::Push::new(sdk, config.management_endpoint.as_deref());
        let uploads = uploads::Uploads::new(sdk, &config.bucket, config.s3_force_path_style);
        Services {
            config: std::sync::Arc::new(config),
            store,
            push,
            uploads,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
