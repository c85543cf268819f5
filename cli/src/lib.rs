//! The native driver of the Semantest connection core, and the `semantest` command built on it.
//!
//! # Layout
//! - [`driver`]: [`Connection`], which runs the same sans-IO [`semantest_connect::Machine`] as
//!   the browser on tokio: HTTP probes with reqwest, sockets with tokio-tungstenite, timers with
//!   `tokio::time`.
//! - `probe`, `socket`: the two kinds of I/O the machine asks for.
//! - [`commands`]: what `semantest status|ping|send|listen|request-image` do, as functions of
//!   a [`Connection`].
//! - [`credentials`]: the token `semantest pair` stores (0600, in the user's config folder).
//! - [`image`]: where `request-image` may fetch the image from, and the bounded download.
//! - [`progress`]: how `request-image` shows the extension's progress (a live line, plain
//!   lines or JSON lines).
//! - [`tls`]: the HTTP clients' TLS (rustls with ring, the webpki roots).
//!
//! Settings come from the environment (IR-5): `SEMANTEST_SERVER=local|remote|auto`,
//! `SEMANTEST_LOCAL_URL`, `SEMANTEST_REMOTE_URL`; unset means local first, then remote.
//! `SEMANTEST_TOKEN` is the public service's API key, sent to the remote server only; without
//! it, the token `semantest pair` stored for that server.

pub mod commands;
pub mod credentials;
pub mod driver;
pub mod image;
mod probe;
pub mod progress;
mod socket;
pub mod tls;

pub use driver::Connection;

/// The sha256 of `bytes`, as lowercase hex.
pub fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
