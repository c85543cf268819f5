//! Semantest Connect: the local-first connection core, as a sans-IO state machine with a
//! browser driver at the edge.
//!
//! # Layout
//! - [`settings`]: strategy, timings, presets, user and environment overrides, validation.
//! - [`signature`]: is the probe's answer a Semantest server we can talk to?
//! - [`backoff`]: the full-jitter retry schedule.
//! - [`outbox`]: frames that wait while disconnected.
//! - [`status`]: what the user sees.
//! - `whatwg`: a URL as the browser reads it, for the settings' URL rules.
//! - `sorted`: the small ordered map and set the machine and the driver keep their entries in.
//! - [`request`]: how a frame that gets no answer fails.
//! - [`event`]: the events a driver reports and the commands it executes.
//! - [`image`]: the extension's answer to an image request: where it goes, the cap, the reply.
//! - [`generation`]: image generation through ChatGPT tabs: the request, the queue, the failures.
//! - [`machine`]: the state machine itself — every policy, no I/O.
//! - `web` (wasm32 only): the browser driver and the `SemantestClient` JavaScript API.

pub mod backoff;
pub mod event;
pub mod generation;
pub mod image;
pub mod machine;
pub mod outbox;
pub mod request;
pub mod settings;
pub mod signature;
mod sorted;
pub mod status;
mod whatwg;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use event::{Command, Credentials, Event, ProbeId, Side, SocketId, Timer};
pub use machine::{Machine, SendError};
pub use request::{FailureCode, RequestError};
pub use semantest_protocol::SUBPROTOCOL;
pub use settings::{Overrides, Preset, Settings, SettingsError, Strategy};
pub use signature::ProbeError;
pub use status::{Mode, Status};
