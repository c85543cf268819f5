//! `SemantestClient`: the JavaScript API of the connection core, for the extension's service
//! worker, web pages and Node-free SDKs.
//!
//! ```js
//! import init, { SemantestClient } from "./pkg/semantest_connect.js";
//! await init();
//! const client = new SemantestClient({ preferLocal: true });
//! client.onStatus((s) => console.log(s.mode, s.latencyMs));   // {mode, url, latencyMs, reason, …}
//! const ready = await client.connect();                        // the first ready status
//! const pong = await client.request("ping", { t: Date.now() }, { timeoutMs: 5000 });
//! client.on("imageDownloaded", (event) => console.log(event.data));
//! ```
//!
//! A request's promise resolves with the answer frame as an object, exactly once, even across
//! a failover (the core sends it again on the next server); it rejects with an `Error` whose
//! `code` is the server's error code, or `timeout`, `outbox_full`, `closed`, `gone`.
//!
//! Every parameter and result is typed in the package's `.d.ts` (see `types`): the options are
//! `ClientOptions`, a status is `Status`, an answer `ServerFrame`, a rejection `SemantestError`.

use js_sys::Function;
use semantest_protocol::json::{self, ReadError};
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::driver::{dispatch, execute, from_js, js_error, now, to_js, Driver, Settle, Shared};
use crate::event::Event;
use crate::machine::Machine;
use crate::settings::{Overrides, Settings, SettingsError};

/// A connection to Semantest, local first with a public fallback.
#[wasm_bindgen]
pub struct SemantestClient {
    shared: Shared,
    /// The extension's image generations (`serveGenerations`).
    generations: super::generation::SharedGenerations,
}

pub(crate) fn overrides(options: JsValue) -> Result<Overrides, SettingsError> {
    Ok(options_and_resume(options)?.0)
}

/// Where an earlier worker's schedule stood: `{failures, nextRetryAt}` (ms since the epoch).
// Tsify reads the `serde` attributes for the TypeScript; the value is read by hand (`read`).
#[derive(Debug, Clone, Copy, tsify_next::Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Resume {
    /// Failed attempts in a row (the status's `failures`).
    failures: u32,
    /// When the next attempt is due (the status's `nextRetryAt`).
    #[serde(default)]
    next_retry_at: Option<f64>,
}

impl Resume {
    /// `{failures, nextRetryAt?}`, unknown keys refused.
    fn read(value: Value) -> Result<Resume, ReadError> {
        let (failures, next_retry_at) = crate::settings::read_resume(value)?;
        Ok(Resume {
            failures,
            next_retry_at,
        })
    }
}

/// A read error in this API's words: a value that is not an object is said as before.
fn message(e: ReadError) -> String {
    match e {
        ReadError::NotObject {
            found: "an array", ..
        } => "expected an object, not an array".to_owned(),
        ReadError::NotObject { .. } => "expected an object".to_owned(),
        other => other.to_string(),
    }
}

/// The settings overrides and, apart from them, the `resume` option.
fn options_and_resume(options: JsValue) -> Result<(Overrides, Option<Resume>), SettingsError> {
    if options.is_undefined() || options.is_null() {
        return Ok((Overrides::default(), None));
    }
    let shape = SettingsError::Shape;
    // As JSON, so that unknown keys (typos) are refused rather than ignored.
    let mut json = super::driver::from_js(&options).map_err(shape)?;
    let resume = match json.as_object_mut().and_then(|o| o.remove("resume")) {
        Some(Value::Null) | None => None,
        Some(r) => Some(Resume::read(r).map_err(|e| shape(format!("resume: {}", message(e))))?),
    };
    let overrides = Overrides::from_json(json).map_err(|e| shape(message(e)))?;
    Ok((overrides, resume))
}

#[wasm_bindgen]
impl SemantestClient {
    /// Creates a client from options (every field optional: `preset`, `preferLocal`, `localUrl`,
    /// `remoteUrl`, `customUrl`, `probeTimeoutMs`, `pingIntervalMs`, `retry: {baseMs, factor,
    /// capMs, maxAttempts}`, `role`, `clientId`, …). Throws a clear error for invalid options.
    #[wasm_bindgen(constructor)]
    ///
    /// `resume: {failures, nextRetryAt}` (what an earlier instance's status said) continues its
    /// retry schedule instead of starting a fresh one, for a restarted service worker.
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "ClientOptions")] options: JsValue,
    ) -> Result<SemantestClient, JsError> {
        let (overrides, resume) = options_and_resume(options)?;
        let settings = Settings::resolve(&overrides)?;
        let seed = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        let mut machine = Machine::new(settings, seed);
        if let Some(r) = resume {
            let in_ms = r
                .next_retry_at
                .map(|at| (at - js_sys::Date::now()).max(0.0) as u64);
            machine.resume(r.failures, in_ms.map(|ms| now() + ms));
        }
        let driver = Driver::new(machine);
        Ok(SemantestClient {
            shared: std::rc::Rc::new(std::cell::RefCell::new(driver)),
            generations: Default::default(),
        })
    }

    /// Starts connecting (the user's Reconnect: a fresh retry schedule). While waiting to
    /// retry, retries now; while connected, does nothing. Resolves with the first ready status
    /// (`local` or `cloud`); rejects with a `SemantestError` (`code: "offline"`, `status`: the
    /// offline status with each server's reason) when an attempt finds no server. The client keeps
    /// retrying either way.
    #[wasm_bindgen(unchecked_return_type = "Promise<Status>")]
    pub fn connect(&self) -> js_sys::Promise {
        let promise = settle_later(&self.shared, |d, settle| d.connecting.push(settle));
        dispatch(&self.shared, Event::Start);
        if matches!(
            self.shared.borrow().status.mode,
            crate::Mode::Local | crate::Mode::Cloud
        ) {
            // Already connected: no status change will come.
            let status = to_js(&self.shared.borrow().status.to_json());
            for settle in std::mem::take(&mut self.shared.borrow_mut().connecting) {
                let _ = settle.resolve.call1(&JsValue::NULL, &status);
            }
        }
        promise
    }

    /// What a backstop (the extension's keepalive alarm) calls: runs a retry or a timer that
    /// is due, and nothing else. Never starts a fresh schedule.
    pub fn wake(&self) {
        dispatch(&self.shared, Event::Wake);
    }

    /// Sends `action` with `payload` (an object) and returns the frame id that the answer
    /// carries as `replyTo`. The frame is tracked like a request's (sent again after a
    /// failover); its answer comes to `onMessage`. Throws if the outbox is full.
    pub fn send(
        &self,
        action: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "object")] payload: JsValue,
    ) -> Result<String, JsError> {
        let (id, commands) = self.shared.borrow_mut().machine.send(
            now(),
            action,
            json_payload(payload).map_err(|e| JsError::new(&e))?,
        )?;
        execute(&self.shared, commands);
        Ok(id)
    }

    /// Sends `action` with `payload` and resolves with the answer frame as an object
    /// (`{type, replyTo, payload}`), once. Rejects with a `SemantestError` whose `code` is the
    /// server's error code (`unknown_action`, `rate_limited`, …; `frame`: the error frame) or
    /// `timeout` (after `options.timeoutMs`, default the settings' `requestTimeoutMs`),
    /// `outbox_full`, `closed` or `gone` (a reply whose event's server is no longer connected).
    #[wasm_bindgen(unchecked_return_type = "Promise<ServerFrame>")]
    pub fn request(
        &self,
        action: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "object")] payload: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let payload = match json_payload(payload) {
            Ok(p) => p,
            Err(e) => return js_sys::Promise::reject(&js_error("bad_payload", &e)),
        };
        let timeout_ms = js_sys::Reflect::get(&options, &"timeoutMs".into())
            .ok()
            .and_then(|t| t.as_f64())
            .filter(|t| *t >= 0.0)
            .map(|t| t as u64);
        request(&self.shared, action, payload, timeout_ms)
    }

    /// Listens to `event` (subscribing now and after every reconnect) and calls
    /// `handler(payload)` for each, with the event's payload as an object
    /// (`{event, id, from, data}`; `id` is what a `reply` names in `to`).
    pub fn on(
        &self,
        event: &str,
        #[wasm_bindgen(unchecked_param_type = "(payload: EventPayload) => void")] handler: Function,
    ) {
        self.shared
            .borrow_mut()
            .on_event
            .get_or_default(event.to_owned())
            .push(handler);
        self.subscribe_to(&[event.to_owned()], true);
    }

    /// Answers an `imageDownloadRequested` event (its payload, as `on()` hands it over): the
    /// extension's image flow. `takeImage({requestId, url})` is the page's part (a ChatGPT tab
    /// finds the image and resolves with its URL); the core fetches it, caps it, hashes it,
    /// uploads it to the server whose socket is ready at that moment (the local server's
    /// `POST /images`, or the public service's presigned upload) and replies `imageDownloaded`
    /// or `imageDownloadFailed` to the requester. Resolves with the outcome; rejects only for
    /// an event that is not an image request.
    #[wasm_bindgen(js_name = answerImageRequest, unchecked_return_type = "Promise<ImageOutcome>")]
    pub fn answer_image_request(
        &self,
        #[wasm_bindgen(unchecked_param_type = "EventPayload")] event: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(request: ImageTake) => Promise<string> | string")]
        take_image: Function,
    ) -> js_sys::Promise {
        wasm_bindgen_futures::future_to_promise(super::images::answer(
            self.shared.clone(),
            event,
            take_image,
        ))
    }

    /// Takes `imageGenerationRequested` events from now on: the extension's generation flow.
    /// Requests wait in one line and run one at a time per ChatGPT tab (see `tabOpened`);
    /// `driveTab(tabId, request, onStage)` is the page's part: the tab types
    /// `request.prompt` into ChatGPT, sends it, calls `onStage("typing" | "sent" |
    /// "generating")` as it goes, and resolves with the new image's URL, or rejects with an
    /// `Error` whose `failure` says why (`loggedOut`, `noComposer`, `noSendButton`,
    /// `usageLimit`, `textOnly`, `timeout`, `closed`, `navigated`; `message`: the details).
    /// The core stores the image as `answerImageRequest` does and replies
    /// `imageGenerationProgress` at each stage, then `imageDownloaded` (with the prompt) or
    /// `imageGenerationFailed {reason}` to the requester.
    #[wasm_bindgen(js_name = serveGenerations)]
    pub fn serve_generations(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "(tabId: number, request: GenerationTask, onStage: (stage: string) => void) => Promise<string>"
        )]
        drive_tab: Function,
    ) {
        super::generation::serve(&self.shared, &self.generations, drive_tab);
    }

    /// A ChatGPT tab that can generate is open (its id, as `driveTab` will be given it).
    #[wasm_bindgen(js_name = tabOpened)]
    pub fn tab_opened(&self, tab_id: u32) {
        super::generation::tab(&self.shared, &self.generations, tab_id, true);
    }

    /// A ChatGPT tab closed; with none left, the waiting generations fail (no tab is open).
    #[wasm_bindgen(js_name = tabClosed)]
    pub fn tab_closed(&self, tab_id: u32) {
        super::generation::tab(&self.shared, &self.generations, tab_id, false);
    }

    /// Calls `callback({running, queued})` now and whenever the generations change (`null`
    /// removes it): what the popup shows.
    #[wasm_bindgen(js_name = onGenerations)]
    pub fn on_generations(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((generations: Generations) => void) | null")]
        callback: Option<Function>,
    ) {
        super::generation::on_change(&self.generations, callback);
    }

    /// Has the extension generate an image in the user's ChatGPT tab: resolves with the
    /// stored image (`{requestId, prompt, size, sha256, imageId, path?, url?}`), calling
    /// `options.onProgress({requestId, stage, position?, elapsedMs})` on the way. Rejects with
    /// `generation_failed` (the extension's reason), `no_extension`, or `timeout` (nothing heard
    /// of it for `timeoutSecs` + 60 s).
    #[wasm_bindgen(js_name = generateImage, unchecked_return_type = "Promise<GeneratedImage>")]
    pub fn generate_image(
        &self,
        prompt: String,
        #[wasm_bindgen(unchecked_optional_param_type = "GenerateOptions")] options: JsValue,
    ) -> js_sys::Promise {
        wasm_bindgen_futures::future_to_promise(super::generation::generate_image(
            self.shared.clone(),
            prompt,
            options,
        ))
    }

    /// Listens to these event names, now and after every reconnect (the server forgets
    /// subscriptions with the socket; the client does not).
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] events: JsValue,
    ) -> Result<(), JsError> {
        self.subscription(events, true)
    }

    /// Stops listening to these event names.
    pub fn unsubscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] events: JsValue,
    ) -> Result<(), JsError> {
        self.subscription(events, false)
    }

    /// `events` (read as JSON, like every other value from JavaScript: wasm-bindgen's own
    /// `Vec<String>` conversion was 1.3 KB of the .wasm) subscribed to or not.
    fn subscription(&self, events: JsValue, on: bool) -> Result<(), JsError> {
        let events = from_js(&events)
            .and_then(|v| json::strings("events", v).map_err(|e| e.to_string()))
            .map_err(|e| JsError::new(&e))?;
        self.subscribe_to(&events, on);
        Ok(())
    }

    fn subscribe_to(&self, events: &[String], on: bool) {
        let commands = self
            .shared
            .borrow_mut()
            .machine
            .subscribe(now(), events, on);
        execute(&self.shared, commands);
    }

    /// Calls `callback(status)` now and on every change (`null` removes it).
    #[wasm_bindgen(js_name = onStatus)]
    pub fn on_status(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((status: Status) => void) | null")]
        callback: Option<Function>,
    ) {
        let current = {
            let mut d = self.shared.borrow_mut();
            d.on_status = callback.clone();
            to_js(&d.status.to_json())
        };
        if let Some(f) = callback {
            let _ = f.call1(&JsValue::NULL, &current);
        }
    }

    /// Calls `callback(credentials)` when the server issues this client a token (an extension
    /// registering, a `pair`): `{token, installId, deviceId}`, to keep where no page can read
    /// it and give back as the `token` option next time; `callback(null)` when the stored one
    /// must be forgotten (the service no longer knows it). `null` removes the callback.
    #[wasm_bindgen(js_name = onCredentials)]
    pub fn on_credentials(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "((credentials: Credentials | null) => void) | null"
        )]
        callback: Option<Function>,
    ) {
        self.shared.borrow_mut().on_credentials = callback;
    }

    /// Pairs this client with the extension that shows `code` (its popup's **Pair a device**)
    /// as a device named `name`: resolves with the `paired` frame (`payload: {token,
    /// deviceId, installId}`); the token also goes to `onCredentials` and is shown on every
    /// later socket. Rejects with `invalid_code` (mistyped, used, expired), `rate_limited`, or
    /// what `request()` rejects with. Needs the remote server (the public service).
    #[wasm_bindgen(unchecked_return_type = "Promise<ServerFrame>")]
    pub fn pair(&self, code: &str, name: Option<String>) -> js_sys::Promise {
        if let Err(e) = semantest_protocol::identity::PairingCode::parse(code) {
            return js_sys::Promise::reject(&js_error("invalid_code", &e.to_string()));
        }
        let payload = json::object([
            ("code", Value::from(code)),
            ("name", Value::from(name.unwrap_or_default())),
        ]);
        request(&self.shared, "pair", payload, None)
    }

    /// Calls `callback(text)` for every frame the server sends (`null` removes it).
    #[wasm_bindgen(js_name = onMessage)]
    pub fn on_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((text: string) => void) | null")] callback: Option<
            Function,
        >,
    ) {
        self.shared.borrow_mut().on_message = callback;
    }

    /// The current status: `{mode, url, latencyMs, reason, localReason, remoteReason,
    /// nextRetryAt, since, queued, failures}`.
    #[wasm_bindgen(unchecked_return_type = "Status")]
    pub fn status(&self) -> JsValue {
        to_js(&self.shared.borrow().status.to_json())
    }

    /// The settings in force, with every default filled in.
    #[wasm_bindgen(unchecked_return_type = "Settings")]
    pub fn settings(&self) -> JsValue {
        to_js(&self.shared.borrow().machine.settings().to_json())
    }

    /// Lays `options` over the current settings and applies them at once. Throws, changing
    /// nothing, if the result is invalid.
    #[wasm_bindgen(js_name = updateSettings)]
    pub fn update_settings(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SettingsOptions")] options: JsValue,
    ) -> Result<(), JsError> {
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
    pub fn set_settings(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SettingsOptions")] options: JsValue,
    ) -> Result<(), JsError> {
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

/// A promise whose two ends `keep` stores in the driver.
fn settle_later(shared: &Shared, keep: impl FnOnce(&mut Driver, Settle)) -> js_sys::Promise {
    let mut ends = None;
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        ends = Some(Settle { resolve, reject });
    });
    if let Some(settle) = ends {
        keep(&mut shared.borrow_mut(), settle);
    }
    promise
}

/// `request()`: tracks the frame in the machine and a promise for its answer in the driver.
pub(crate) fn request(
    shared: &Shared,
    action: &str,
    payload: Value,
    timeout_ms: Option<u64>,
) -> js_sys::Promise {
    request_with_id(shared, action, payload, timeout_ms).1
}

/// [`request`], and the frame's id (`None` when it was refused before it was sent).
pub(crate) fn request_with_id(
    shared: &Shared,
    action: &str,
    payload: Value,
    timeout_ms: Option<u64>,
) -> (Option<String>, js_sys::Promise) {
    let result = shared
        .borrow_mut()
        .machine
        .request(now(), action, payload, timeout_ms);
    let (id, commands) = match result {
        Ok(sent) => sent,
        Err(e) => {
            let code = match e {
                crate::SendError::OutboxFull(_) => "outbox_full",
                _ => "bad_payload",
            };
            return (
                None,
                js_sys::Promise::reject(&js_error(code, &e.to_string())),
            );
        }
    };
    let key = id.clone();
    let promise = settle_later(shared, |d, settle| drop(d.requests.insert(key, settle)));
    execute(shared, commands);
    (Some(id), promise)
}

/// A JavaScript payload as JSON (`{}` for none).
fn json_payload(payload: JsValue) -> Result<Value, String> {
    if payload.is_undefined() || payload.is_null() {
        return Ok(Value::Object(Default::default()));
    }
    super::driver::from_js(&payload).map_err(|e| format!("payload: {e}"))
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
