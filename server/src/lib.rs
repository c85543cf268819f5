//! The Semantest server: the signature clients probe for, health and metrics, and the protocol
//! v1 WebSocket on `/`.
//!
//! # Layout
//! - [`config`]: [`Config`] and [`Environment`], with the defaults in one place.
//! - [`state`]: [`AppState`], what every handler shares (config, signature, metrics, shutdown).
//! - `app`: [`app`], the [`axum::Router`] with its CORS and trace layers.
//! - `routes`: `GET /signature`, `/semantest-signature`, `/health`, `/metrics`.
//! - `ws`: the upgrade handler and the loop that serves one WebSocket.
//! - `reply`: the answer to one text frame, a pure function.
//! - `heartbeat`: the Ping/Pong policy, sans-IO.
//! - [`images`]: `POST /images` and `GET /images/{id}`: size-limited, checked, atomic uploads.
//! - `hub`: subscriptions, event delivery, replies, and events held for an extension.
//! - [`metrics`]: [`Metrics`], a Prometheus registry per server.
//! - [`shutdown`]: [`Shutdown`], the signal and the bounded wait for open connections.
//! - `serve`: [`serve`], which runs it all on a listener until a shutdown future resolves.
//!
//! The binary `semantest-server` only parses flags, sets up logging, binds and calls [`serve`].
//!
//! - `guard`: the `Host` check (local mode, DNS rebinding) and the WebSocket `Origin` allowlist.
//!
//! Not there yet: production auth, rate limits and connection caps — the design asks for them;
//! a later change adds them.

mod app;
pub mod config;
pub mod guard;
mod heartbeat;
mod hub;
pub mod images;
pub mod metrics;
mod reply;
mod routes;
mod serve;
pub mod shutdown;
pub mod state;
mod ws;

pub use app::app;
pub use config::{Config, ConfigError, Environment};
pub use metrics::Metrics;
pub use serve::{serve, serve_state};
pub use shutdown::Shutdown;
pub use state::AppState;
