//! The signature probe in the browser: `fetch` with an `AbortSignal` (the machine owns the
//! timeout and aborts through [`Command::CancelProbe`](crate::Command::CancelProbe)), reading at
//! most [`MAX_SIGNATURE_BYTES`] + 1 bytes of the answer.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortSignal, ReadableStreamDefaultReader, RequestCache, RequestCredentials, RequestInit,
    RequestMode,
};

use super::fetch::fetch;
use crate::signature::{ProbeError, MAX_SIGNATURE_BYTES};

/// What the probe found. `None`: it was aborted, and nothing is to be reported.
pub(crate) async fn probe(
    url: &str,
    signal: &AbortSignal,
) -> Option<Result<(u16, Vec<u8>), ProbeError>> {
    let get = |mode| {
        let init = RequestInit::new();
        init.set_signal(Some(signal));
        init.set_mode(mode);
        init.set_credentials(RequestCredentials::Omit);
        init.set_cache(RequestCache::NoStore);
        init
    };
    let response = match fetch(url, &get(RequestMode::Cors)).await {
        Ok(r) => r,
        Err(_) if signal.aborted() => return None,
        // fetch rejects with a bare TypeError for refused, unreachable and CORS-blocked alike;
        // an opaque `no-cors` request tells them apart: it succeeds only if something answered.
        Err(_) => {
            let answered = fetch(url, &get(RequestMode::NoCors)).await.is_ok();
            if signal.aborted() {
                return None;
            }
            return Some(Err(if answered {
                ProbeError::CorsBlocked
            } else {
                ProbeError::Refused
            }));
        }
    };
    let status = response.status();
    let body = match response.body() {
        None => Ok(Vec::new()),
        Some(stream) => read_capped(stream.get_reader().unchecked_into()).await,
    };
    if signal.aborted() {
        return None;
    }
    Some(body.map(|b| (status, b)).map_err(|e| ProbeError::Network {
        message: describe(&e),
    }))
}

/// Reads until the stream ends or more than the cap has arrived, then cancels the rest.
async fn read_capped(reader: ReadableStreamDefaultReader) -> Result<Vec<u8>, JsValue> {
    let mut body = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await?;
        if Reflect::get(&chunk, &"done".into())?.is_truthy() {
            return Ok(body);
        }
        let bytes: Uint8Array = Reflect::get(&chunk, &"value".into())?.unchecked_into();
        let room = MAX_SIGNATURE_BYTES + 1 - body.len();
        let take = (bytes.length() as usize).min(room);
        body.extend(bytes.subarray(0, take as u32).to_vec());
        if body.len() > MAX_SIGNATURE_BYTES {
            let _ = reader.cancel();
            return Ok(body);
        }
    }
}

/// A JavaScript error as one line.
pub(crate) fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| format!("{}: {}", e.name(), e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
