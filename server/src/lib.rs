//! The Semantest server: the signature clients probe for, health and metrics, and the protocol
//! v1 WebSocket on `/`.
//!
//! # Layout
//! - [`config`]: [`Config`] and [`Environment`], with the defaults in one place.
//! - [`state`]: [`AppState`], what every handler shares (config, signature, metrics, shutdown).
//! - `app`: [`app`], the [`axum::Router`] with its CORS and trace layers.
//! - `routes`: `GET /signature`, `/semantest-signature`, `/health`, `/metrics`.
//! - `ws`: the upgrade handler and the loop that serves one WebSocket.
//! - `conn`: one connection's state and what each event leads to, without awaiting.
//! - `enroll`: what a keyless socket may do (register, pair) and an install's own actions.
//! - [`identity`]: the book of installs, paired devices and pairing codes (digests only).
//! - `tenants`: one hub per tenant, so nothing routes between tenants.
//! - `reply`: the answer to one text frame, a pure function.
//! - `heartbeat`: the Ping/Pong policy, sans-IO.
//! - `timers`: one timer per server for every socket's heartbeat and auth deadline.
//! - `inbox`: a socket's inbox — the hub's frames and the timer's deadlines, bounded, lazy.
//! - [`images`]: `POST /images` and `GET /images/{id}`: size-limited, checked, atomic uploads.
//! - `hub`: subscriptions, event delivery, replies, and events held for an extension.
//! - `dedupe`: the acks the hub remembers, so a repeated frame gets its first answer.
//! - [`metrics`]: [`Metrics`], a Prometheus registry per server.
//! - [`shutdown`]: [`Shutdown`], the signal and the bounded wait for open connections.
//! - `serve`: [`serve`], which runs it all on a listener until a shutdown future resolves.
//! - `bind`: [`bind`], the listening socket with an explicit accept backlog.
//! - `guard`: the `Host` check (local mode, DNS rebinding) and the WebSocket `Origin` allowlist.
//! - [`auth`]: production API keys — where a client shows one, constant-time checks, the 401.
//! - `limits`: production rate limits (HTTP per address, messages per connection) and the
//!   client address behind trusted proxies.
//! - `listener`: the accept loop — connection caps, TLS, the header-read timeout (slowloris).
//! - `linger`: refused connections held up to 1 s after their 503, so a late request is read, not reset.
//! - [`tls`]: the TLS 1.3 acceptor from `--tls-cert`/`--tls-key`.
//!
//! What each mode turns on:
//!
//! | | local (default) | production |
//! | --- | --- | --- |
//! | `Host` must be loopback | yes | no |
//! | WebSocket `Origin` allowlist | yes | yes |
//! | a token: operator key, or issued by `register` / `pair` (WebSocket, images, metrics) | no | yes |
//! | 100 HTTP requests/min per address, 20 messages/s per socket | no | yes |
//! | connection caps, header-read timeout, size limits, heartbeat | yes | yes |
//! | TLS 1.3 | with `--tls-cert`/`--tls-key` | with `--tls-cert`/`--tls-key` |
//!
//! The binary `semantest-server` only parses flags, sets up logging, binds and calls [`serve`].

mod app;
pub mod auth;
mod bind;
pub mod config;
mod conn;
mod dedupe;
mod enroll;
pub mod guard;
mod heartbeat;
mod hub;
pub mod identity;
pub mod images;
mod inbox;
mod limits;
mod linger;
mod listener;
pub mod metrics;
mod reply;
mod routes;
mod serve;
pub mod shutdown;
pub mod state;
mod tenants;
mod timers;
pub mod tls;
mod ws;

pub use app::app;
pub use bind::{bind, somaxconn, DEFAULT_BACKLOG};
pub use config::{Config, ConfigError, Environment};
pub use metrics::Metrics;
pub use serve::{serve, serve_state};
pub use shutdown::Shutdown;
pub use state::AppState;
