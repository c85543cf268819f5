//! The browser driver (wasm32 only): executes the machine's commands with `fetch`, `WebSocket`
//! and `setTimeout` bound as globals — never `window` — so it runs in an MV3 service worker, a
//! dedicated worker or a page alike; and the `SemantestClient` JavaScript API.
//!
//! - `fetch`: the global `fetch`, awaited.
//! - [`probe`]: the signature probe (fetch, abort, capped body).
//! - [`socket`]: one WebSocket whose handlers feed events back; closed and unhooked on drop.
//! - [`driver`]: owns the machine and the live sockets, timers and probes; runs commands.
//! - [`api`]: `#[wasm_bindgen]` `SemantestClient`.
//! - `images`: the image answer's fetch, hash and upload (decided in [`crate::image`]).
//! - `generation`: image generation through ChatGPT tabs (the extension's queue and tab calls,
//!   decided in [`crate::generation`]) and `generateImage()` for requesters.
//! - [`check`]: `testConnection()`, a one-shot check of each server for people.
//! - `within`: bounds the time a piece of browser work may take.
//! - `types`: the TypeScript that joins the declarations derived from the serde types.

pub mod api;
pub mod check;
mod driver;
mod fetch;
mod generation;
mod images;
mod probe;
mod socket;
mod types;
mod within;

pub use api::SemantestClient;
pub use check::test_connection;

/// Talc instead of Rust's default dlmalloc: fewer bytes in the module (and faster).
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
