//! `fetch` as a global (a page and a worker alike), awaited: the probe's and the images' one
//! way to the network. Bound directly rather than through gloo-net, whose request builder was
//! 2.5 KB of the .wasm for the four settings the probe makes.

use js_sys::Promise;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, Response};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_with(url: &str, init: &RequestInit) -> Promise;
}

/// `fetch(url, init)`; rejects as `fetch` does (a network error, not an HTTP status).
pub(crate) async fn fetch(url: &str, init: &RequestInit) -> Result<Response, JsValue> {
    JsFuture::from(fetch_with(url, init)).await?.dyn_into()
}
