//! The server's configuration: which environment it runs in, whom it lets in, and its limits.
//!
//! One place for the defaults: [`Config::default`] is what `semantest-server` runs with when no
//! flag or environment variable says otherwise.

use std::fmt;
use std::str::FromStr;

use std::net::IpAddr;
use std::path::PathBuf;

use axum::http::HeaderValue;
use semantest_protocol::Token;
use serde::{Deserialize, Serialize};

/// The default interval between two WebSocket Ping frames, in seconds. Under the 30 s after
/// which an idle MV3 service worker is stopped, and the same rhythm the client pings at.
pub const DEFAULT_HEARTBEAT_SECS: u64 = 20;

/// The default limit of one WebSocket message (and of one frame), in bytes: 64 KiB. Protocol
/// frames are small; images travel over HTTP, not over the socket.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The default HTTP rate limit in production: requests per minute per client address.
pub const DEFAULT_HTTP_REQUESTS_PER_MINUTE: u32 = 100;

/// The default WebSocket message rate in production: messages per second per connection,
/// with bursts of twice as many.
pub const DEFAULT_MESSAGES_PER_SECOND: u32 = 20;

/// Where the server runs. It is part of the signature, so a client can show which side it uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine (the default).
    #[default]
    Local,
    /// The public service.
    Production,
}

impl Environment {
    /// The name as it appears on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Local => "local",
            Environment::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a piece of configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment other than `local` or `production`.
    #[error("unknown environment '{0}' (expected 'local' or 'production')")]
    UnknownEnvironment(String),
    /// An allowed origin that cannot be an HTTP header value.
    #[error("invalid origin '{0}'")]
    InvalidOrigin(String),
    /// `*` was given as an origin: the allowlist lists origins, it never opens to everyone.
    #[error("the wildcard origin '*' is not allowed; list each origin")]
    WildcardOrigin,
    /// A heartbeat of zero seconds.
    #[error("heartbeat must be at least one second")]
    ZeroHeartbeat,
    /// A limit of zero would refuse everything.
    #[error("{0} must be at least 1")]
    ZeroLimit(&'static str),
    /// Only one of the certificate and its key.
    #[error("TLS needs both --tls-cert and --tls-key")]
    HalfTls,
}

impl FromStr for Environment {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(Environment::Local),
            "production" => Ok(Environment::Production),
            _ => Err(ConfigError::UnknownEnvironment(s.to_owned())),
        }
    }
}

/// Everything the server needs to know before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// Local or production; reported in the signature and on `/health`.
    pub environment: Environment,
    /// The exact origins (`chrome-extension://…`, `http://localhost:5173`) allowed besides the
    /// development extension: for the WebSocket `Origin` check and the HTTP endpoints' CORS
    /// headers. No wildcard, no reflection: an origin not listed gets neither.
    pub allowed_origins: Vec<String>,
    /// Seconds between two WebSocket Ping frames; a client that answers no Pong for two of
    /// them is closed.
    pub heartbeat_secs: u64,
    /// The largest WebSocket message (and frame) accepted, in bytes; a larger one closes the
    /// connection with code 1009.
    pub max_message_bytes: usize,
    /// Where uploaded images are stored (created when needed).
    pub images_dir: std::path::PathBuf,
    /// The largest image upload accepted, in bytes.
    pub max_image_bytes: usize,
    /// How many events that need an extension may wait for one (see `hub`).
    pub hold_max_events: usize,
    /// How long such an event waits before its publisher gets `no_extension`, in milliseconds.
    pub hold_ms: u64,
    /// Production: the API keys a client must show (see `auth`). Never logged.
    pub api_keys: Vec<Token>,
    /// Production: where installs and paired devices are kept (digests only); `None` keeps
    /// them in memory, lost at a restart.
    pub identity_file: Option<PathBuf>,
    /// Production: whether a keyless extension may `register` (an install of its own);
    /// closed, only operator keys and already issued tokens get in.
    pub registration: bool,
    /// Production: how many installs one client address may register per hour.
    pub registrations_per_hour: u32,
    /// Production: how many pairing attempts one client address may make per hour.
    pub pair_attempts_per_hour: u32,
    /// Production: how long a pairing code is valid, in seconds.
    pub pair_code_ttl_secs: u64,
    /// Production: how long a WebSocket without a key in its handshake has to send a `hello`
    /// with one, in milliseconds.
    pub auth_deadline_ms: u64,
    /// Production: HTTP requests per minute per client address (a WebSocket handshake counts
    /// as one); the next one is answered 429 with `Retry-After`.
    pub http_requests_per_minute: u32,
    /// Production: WebSocket messages per second per connection (bursts of twice as many);
    /// more are answered with a `rate_limited` error and not handled.
    pub messages_per_second: u32,
    /// How long a client may take to send a request's headers (slowloris), in milliseconds.
    pub header_read_timeout_ms: u64,
    /// The most TCP connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// The most TCP connections open at once from one address (trusted proxies excepted).
    pub max_connections_per_ip: usize,
    /// Proxies whose `X-Forwarded-For` names the client; from anyone else the header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// The TLS certificate chain (PEM); with [`Config::tls_key`] the server speaks TLS 1.3 only.
    pub tls_cert: Option<PathBuf>,
    /// The private key of [`Config::tls_cert`] (PEM).
    pub tls_key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            environment: Environment::Local,
            allowed_origins: Vec::new(),
            heartbeat_secs: DEFAULT_HEARTBEAT_SECS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            images_dir: std::path::PathBuf::from("semantest-images"),
            max_image_bytes: 16 * 1024 * 1024,
            hold_max_events: 64,
            hold_ms: 30_000,
            api_keys: Vec::new(),
            identity_file: None,
            registration: true,
            registrations_per_hour: semantest_protocol::identity::REGISTRATIONS_PER_HOUR,
            pair_attempts_per_hour: semantest_protocol::identity::PAIR_FAILURES_PER_HOUR,
            pair_code_ttl_secs: semantest_protocol::identity::PAIR_CODE_TTL_SECS,
            auth_deadline_ms: 5_000,
            http_requests_per_minute: DEFAULT_HTTP_REQUESTS_PER_MINUTE,
            messages_per_second: DEFAULT_MESSAGES_PER_SECOND,
            header_read_timeout_ms: 10_000,
            max_connections: 10_000,
            max_connections_per_ip: 64,
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Config {
    /// Checks what the types cannot: every origin is a real header value and none is `*`,
    /// no limit is zero, and TLS has both halves.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.origin_header_values()?;
        if self.heartbeat_secs == 0 {
            return Err(ConfigError::ZeroHeartbeat);
        }
        for (name, value) in [
            (
                "http requests per minute",
                u64::from(self.http_requests_per_minute),
            ),
            ("messages per second", u64::from(self.messages_per_second)),
            ("header read timeout", self.header_read_timeout_ms),
            ("auth deadline", self.auth_deadline_ms),
            (
                "registrations per hour",
                u64::from(self.registrations_per_hour),
            ),
            (
                "pair attempts per hour",
                u64::from(self.pair_attempts_per_hour),
            ),
            ("pair code lifetime", self.pair_code_ttl_secs),
            ("max connections", self.max_connections as u64),
            (
                "max connections per address",
                self.max_connections_per_ip as u64,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::HalfTls);
        }
        Ok(())
    }

    /// Whether clients must show a token (an operator key, or one issued by `register` or
    /// `pair`): in production, always.
    pub fn requires_auth(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Whether the HTTP and message rate limits apply: in production. A developer's local
    /// server does not throttle its only user.
    pub fn rate_limited(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Whether a browser at `origin` may use the WebSocket and read the HTTP endpoints: the
    /// development extension, or one of [`Config::allowed_origins`], compared exactly.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        origin == crate::guard::dev_extension_origin()
            || self.allowed_origins.iter().any(|o| o.trim() == origin)
    }

    /// The allowed origins as header values, for the CORS layer (the development extension first).
    pub(crate) fn origin_header_values(&self) -> Result<Vec<HeaderValue>, ConfigError> {
        let dev = HeaderValue::from_str(&crate::guard::dev_extension_origin())
            .map_err(|_| ConfigError::InvalidOrigin(crate::guard::dev_extension_origin()))?;
        let configured: Result<Vec<HeaderValue>, ConfigError> = self
            .allowed_origins
            .iter()
            .map(|origin| {
                if origin.trim() == "*" {
                    return Err(ConfigError::WildcardOrigin);
                }
                HeaderValue::from_str(origin.trim())
                    .map_err(|_| ConfigError::InvalidOrigin(origin.clone()))
            })
            .collect();
        Ok(std::iter::once(dev).chain(configured?).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.environment, Environment::Local);
        assert_eq!(c.heartbeat_secs, 20);
        assert_eq!(c.max_message_bytes, 65_536);
        assert!(c.allowed_origins.is_empty());
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn environment_parses_and_serializes_lowercase() {
        assert_eq!("production".parse(), Ok(Environment::Production));
        assert_eq!("Local".parse(), Ok(Environment::Local));
        assert!(matches!(
            "staging".parse::<Environment>(),
            Err(ConfigError::UnknownEnvironment(_))
        ));
        assert_eq!(
            serde_json::to_string(&Environment::Production).unwrap(),
            r#""production""#
        );
    }

    #[test]
    fn wildcard_and_invalid_origins_are_refused() {
        let mut c = Config {
            allowed_origins: vec!["*".into()],
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::WildcardOrigin));
        c.allowed_origins = vec!["http://a\nb".into()];
        assert!(matches!(c.validate(), Err(ConfigError::InvalidOrigin(_))));
        c.allowed_origins = vec!["chrome-extension://abc".into()];
        assert_eq!(c.validate(), Ok(()));
        c.heartbeat_secs = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroHeartbeat));
    }

    #[test]
    fn production_always_asks_for_a_token() {
        let mut c = Config {
            environment: Environment::Production,
            ..Config::default()
        };
        // No operator key: installs register and devices pair.
        assert_eq!(c.validate(), Ok(()));
        assert!(c.requires_auth());
        c.api_keys = vec!["a-production-key-0123".parse().unwrap()];
        assert_eq!(c.validate(), Ok(()));
        assert!(
            !format!("{c:?}").contains("a-production-key"),
            "keys never print"
        );
        c.messages_per_second = 0;
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroLimit("messages per second"))
        );
        c.messages_per_second = 1;
        c.tls_cert = Some("cert.pem".into());
        assert_eq!(c.validate(), Err(ConfigError::HalfTls));
    }
}
