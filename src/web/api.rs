//! `SemantestClient`: the JavaScript API of the connection core, for the extension's service
//! worker, web pages and Node-free SDKs.
//!
//! ```js
//! import init, { SemantestClient } from "./pkg/semantest_connect.js";
//! await init();
//! const client = new SemantestClient({ preferLocal: true });
//! client.onStatus((s) => console.log(s.mode, s.latencyMs));   // {mode, url, latencyMs, reason, …}
//! client.onMessage((text) => console.log(JSON.parse(text)));
//! client.connect();
//! const id = client.send("ping", { t: Date.now() });           // queued while disconnected
//! ```

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::driver::{dispatch, execute, now, to_js, Driver, Shared};
use crate::event::Event;
use crate::machine::Machine;
use crate::settings::{Overrides, Settings, SettingsError};

/// A connection to Semantest, local first with a public fallback.
#[wasm_bindgen]
pub struct SemantestClient {
    shared: Shared,
}

pub(crate) fn overrides(options: JsValue) -> Result<Overrides, SettingsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(Overrides::default());
    }
    // Through serde_json, so that unknown keys (typos) are refused rather than ignored.
    let json: serde_json::Value =
        serde_wasm_bindgen::from_value(options).map_err(|e| SettingsError::Shape(e.to_string()))?;
    serde_json::from_value(json).map_err(|e| SettingsError::Shape(e.to_string()))
}

#[wasm_bindgen]
impl SemantestClient {
    /// Creates a client from options (every field optional: `preset`, `preferLocal`, `localUrl`,
    /// `remoteUrl`, `customUrl`, `probeTimeoutMs`, `pingIntervalMs`, `retry: {baseMs, factor,
    /// capMs, maxAttempts}`, `role`, `clientId`, …). Throws a clear error for invalid options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<SemantestClient, JsError> {
        let settings = Settings::resolve(&overrides(options)?)?;
        let seed = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        let driver = Driver::new(Machine::new(settings, seed));
        Ok(SemantestClient {
            shared: std::rc::Rc::new(std::cell::RefCell::new(driver)),
        })
    }

    /// Starts connecting. While waiting to retry, retries now; while connected, does nothing.
    pub fn connect(&self) {
        dispatch(&self.shared, Event::Start);
    }

    /// Sends `action` with `payload` (an object) and returns the frame id that replies carry as
    /// `replyTo`. While disconnected the frame waits in the outbox; throws if the outbox is full.
    pub fn send(&self, action: &str, payload: JsValue) -> Result<String, JsError> {
        let payload: serde_json::Value = if payload.is_undefined() || payload.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_wasm_bindgen::from_value(payload)
                .map_err(|e| JsError::new(&format!("payload: {e}")))?
        };
        let (id, commands) = self
            .shared
            .borrow_mut()
            .machine
            .send(now(), action, payload)?;
        execute(&self.shared, commands);
        Ok(id)
    }

    /// Listens to these event names, now and after every reconnect (the server forgets
    /// subscriptions with the socket; the client does not).
    pub fn subscribe(&self, events: Vec<String>) {
        let commands = self
            .shared
            .borrow_mut()
            .machine
            .subscribe(now(), &events, true);
        execute(&self.shared, commands);
    }

    /// Stops listening to these event names.
    pub fn unsubscribe(&self, events: Vec<String>) {
        let commands = self
            .shared
            .borrow_mut()
            .machine
            .subscribe(now(), &events, false);
        execute(&self.shared, commands);
    }

    /// Calls `callback(status)` now and on every change (`null` removes it).
    #[wasm_bindgen(js_name = onStatus)]
    pub fn on_status(&self, callback: Option<Function>) {
        let current = {
            let mut d = self.shared.borrow_mut();
            d.on_status = callback.clone();
            to_js(&d.status)
        };
        if let Some(f) = callback {
            let _ = f.call1(&JsValue::NULL, &current);
        }
    }

    /// Calls `callback(text)` for every frame the server sends (`null` removes it).
    #[wasm_bindgen(js_name = onMessage)]
    pub fn on_message(&self, callback: Option<Function>) {
        self.shared.borrow_mut().on_message = callback;
    }

    /// The current status: `{mode, url, latencyMs, reason, localReason, remoteReason,
    /// nextRetryAt, since, queued, failures}`.
    pub fn status(&self) -> JsValue {
        to_js(&self.shared.borrow().status)
    }

    /// The settings in force, with every default filled in.
    pub fn settings(&self) -> JsValue {
        to_js(self.shared.borrow().machine.settings())
    }

    /// Lays `options` over the current settings and applies them at once. Throws, changing
    /// nothing, if the result is invalid.
    #[wasm_bindgen(js_name = updateSettings)]
    pub fn update_settings(&self, options: JsValue) -> Result<(), JsError> {
        let next = self
            .shared
            .borrow()
            .machine
            .settings()
            .with(&overrides(options)?)?;
        dispatch(&self.shared, Event::SettingsChanged(Box::new(next)));
        Ok(())
    }

    /// Replaces the settings with `options` laid over the defaults (unlike `updateSettings`,
    /// keys left out go back to their defaults) and applies them at once. Throws, changing
    /// nothing, if they are invalid. The extension calls this with what `chrome.storage` holds.
    #[wasm_bindgen(js_name = setSettings)]
    pub fn set_settings(&self, options: JsValue) -> Result<(), JsError> {
        let next = Settings::resolve(&overrides(options)?)?;
        dispatch(&self.shared, Event::SettingsChanged(Box::new(next)));
        Ok(())
    }

    /// Tells the client the network is back (the `online` event): a waiting client retries now.
    pub fn online(&self) {
        dispatch(&self.shared, Event::Online);
    }

    /// Closes every socket and cancels every timer. `connect()` starts again.
    pub fn close(&self) {
        dispatch(&self.shared, Event::Close);
    }
}

impl Drop for SemantestClient {
    fn drop(&mut self) {
        if let Ok(mut d) = self.shared.try_borrow_mut() {
            let commands = d.machine.handle(now(), Event::Close);
            drop(d);
            execute(&self.shared, commands);
        }
    }
}
