//! Image generation in the browser, both ends of it, as [`crate::generation`] decides:
//! - the extension's end ([`Generations`]): takes `imageGenerationRequested` events, keeps the
//!   queue, has a ChatGPT tab generate (its `driveTab` callback: the one thing only the
//!   extension can do), stores the new image through [`super::images::store`], and replies
//!   progress and the outcome to the requester through the core (tracked like any request);
//! - the requester's end ([`generate_image`]): `client.generateImage(prompt, options)`,
//!   a promise of the stored image with a progress callback.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::{Interval, Timeout};
use js_sys::{Function, Promise, Reflect};
use semantest_protocol::generation::{
    Stage, DEFAULT_TIMEOUT_SECS, DOWNLOADED, MAX_TIMEOUT_SECS, PROGRESS, REQUESTED,
    REQUESTER_GRACE_SECS,
};
use semantest_protocol::json::object;
use serde_json::Value;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::api::{request, request_with_id};
use super::driver::{frame_key, from_js, js_error, now, to_js, Shared};
use super::images::{message, store};
use super::within::within;
use crate::generation::{self, GenerationError, GenerationRequest, Queue, Step, TabId};
use crate::image;

/// The `onStage` a tab call is given.
type StageCallback = Closure<dyn FnMut(JsValue)>;

/// The extension's generations: the queue, the tab driver and who is told of changes.
#[derive(Default)]
pub(crate) struct Generations {
    queue: Queue,
    /// `driveTab(tabId, request, onStage)`: resolves with the new image's URL, or rejects
    /// with `{failure, message}`.
    drive: Option<Function>,
    /// `onGenerations(snapshot)`: the popup's view of the queue.
    on_change: Option<Function>,
    /// The stage callbacks given to running tab calls, dropped when their generation ends.
    stage_callbacks: Vec<(String, StageCallback)>,
    /// Whether the event handler is installed.
    serving: bool,
    /// While requests wait: the timer that tells them they still do ([`Queue::tick`]).
    heartbeat: Option<Interval>,
}

/// The generations as the API and the callbacks share them.
pub(crate) type SharedGenerations = Rc<RefCell<Generations>>;

/// `serveGenerations(driveTab)`: from now on, `imageGenerationRequested` events are taken.
pub(crate) fn serve(shared: &Shared, gens: &SharedGenerations, drive: Function) {
    let install = {
        let mut g = gens.borrow_mut();
        g.drive = Some(drive);
        !std::mem::replace(&mut g.serving, true)
    };
    if !install {
        return;
    }
    // Weak: the handler lives in the driver, and must not keep it (or the client) alive.
    let (s, g) = (Rc::downgrade(shared), Rc::downgrade(gens));
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |payload: JsValue| {
        if let (Some(shared), Some(gens)) = (s.upgrade(), g.upgrade()) {
            arrived(&shared, &gens, &payload);
        }
    });
    let function: Function = handler.into_js_value().unchecked_into();
    shared
        .borrow_mut()
        .on_event
        .get_or_default(REQUESTED.to_owned())
        .push(function);
    let commands = shared
        .borrow_mut()
        .machine
        .subscribe(now(), &[REQUESTED.to_owned()], true);
    super::driver::execute(shared, commands);
}

/// `onGenerations(callback)`.
pub(crate) fn on_change(gens: &SharedGenerations, callback: Option<Function>) {
    gens.borrow_mut().on_change = callback;
    announce(gens);
}

/// A tab opened (`true`) or closed.
pub(crate) fn tab(shared: &Shared, gens: &SharedGenerations, tab: TabId, open: bool) {
    let steps = {
        let mut g = gens.borrow_mut();
        if open {
            g.queue.tab_opened(now(), tab)
        } else {
            g.queue.tab_closed(tab)
        }
    };
    run(shared, gens, steps);
}

/// An `imageGenerationRequested` event's payload arrived.
fn arrived(shared: &Shared, gens: &SharedGenerations, payload: &JsValue) {
    let Ok(payload) = from_js(payload) else {
        return;
    };
    let steps = match GenerationRequest::from_event(&payload) {
        Ok(request) => gens.borrow_mut().queue.push(now(), request),
        Err(Some((id, error))) => {
            reply(shared, generation::failed(&id, &error));
            Vec::new()
        }
        Err(None) => Vec::new(), // no id: no one to answer
    };
    run(shared, gens, steps);
}

/// Carries out what the queue decided, then tells `onGenerations`.
fn run(shared: &Shared, gens: &SharedGenerations, steps: Vec<Step>) {
    for step in steps {
        match step {
            Step::Start { tab, request } => {
                let (s, g) = (shared.clone(), gens.clone());
                spawn_local(async move { drive(s, g, tab, request).await });
            }
            Step::Progress {
                request_id,
                stage,
                position,
                elapsed_ms,
            } => reply(
                shared,
                generation::progress(&request_id, stage, position, elapsed_ms),
            ),
            Step::Fail { request, error } => {
                reply(shared, generation::outcome(&request, &Err(error)))
            }
        }
    }
    keep_waiting_told(shared, gens);
    announce(gens);
}

/// Runs the heartbeat while requests wait, and only then.
fn keep_waiting_told(shared: &Shared, gens: &SharedGenerations) {
    let mut g = gens.borrow_mut();
    if !g.queue.has_waiting() {
        g.heartbeat = None; // dropping it cancels it
        return;
    }
    if g.heartbeat.is_some() {
        return;
    }
    // Weak: the timer lives in the generations, and must not keep them (or the client) alive.
    let (s, w) = (Rc::downgrade(shared), Rc::downgrade(gens));
    let every = u32::try_from(generation::QUEUED_HEARTBEAT_MS).unwrap_or(u32::MAX);
    g.heartbeat = Some(Interval::new(every, move || {
        let (Some(shared), Some(gens)) = (s.upgrade(), w.upgrade()) else {
            return;
        };
        let steps = gens.borrow_mut().queue.tick(now());
        run(&shared, &gens, steps);
    }));
}

/// Calls `onGenerations` with the queue as it is now.
fn announce(gens: &SharedGenerations) {
    let (callback, snapshot) = {
        let g = gens.borrow();
        (g.on_change.clone(), g.queue.snapshot(now()))
    };
    if let Some(f) = callback {
        let _ = f.call1(&JsValue::NULL, &to_js(&snapshot));
    }
}

/// Sends a `reply` through the core (tracked and sent again after a failover); a reply that
/// cannot be delivered (the requester left) is only logged.
fn reply(shared: &Shared, payload: Value) {
    let sent = JsFuture::from(request(shared, "reply", payload, None));
    spawn_local(async move {
        if let Err(e) = sent.await {
            web_sys::console::warn_1(
                &format!(
                    "semantest: a generation reply was not delivered: {}",
                    message(&e)
                )
                .into(),
            );
        }
    });
}

/// Runs one request in `tab`, answers it, and frees the tab for the next.
async fn drive(shared: Shared, gens: SharedGenerations, tab: TabId, request: GenerationRequest) {
    let result = generate(&shared, &gens, tab, &request).await;
    reply(&shared, generation::outcome(&request, &result));
    let steps = {
        let mut g = gens.borrow_mut();
        g.stage_callbacks.retain(|(id, _)| *id != request.id);
        g.queue.finished(now(), &request.id)
    };
    run(&shared, &gens, steps);
}

/// Has the tab generate, then stores the new image: the data of `imageDownloaded`.
async fn generate(
    shared: &Shared,
    gens: &SharedGenerations,
    tab: TabId,
    request: &GenerationRequest,
) -> Result<Value, GenerationError> {
    image::must_be_connected(shared.borrow().status.mode)?;
    let Some(drive) = gens.borrow().drive.clone() else {
        return Err(GenerationError::Tab("the extension drives no tab".into()));
    };
    let on_stage = {
        let (s, g, id) = (shared.clone(), gens.clone(), request.id.clone());
        Closure::<dyn FnMut(JsValue)>::new(move |stage: JsValue| {
            let Some(stage) = stage.as_string().as_deref().and_then(Stage::parse) else {
                return;
            };
            // Only the tab's stages: downloading and saved are the core's own.
            if stage <= Stage::Generating {
                advance(&s, &g, &id, stage);
            }
        })
    };
    let called = drive.call3(
        &JsValue::NULL,
        &JsValue::from(tab),
        &to_js(&request.for_tab()),
        on_stage.as_ref(),
    );
    gens.borrow_mut()
        .stage_callbacks
        .push((request.id.clone(), on_stage));
    let page_failure = |e: &JsValue| {
        let failure = Reflect::get(e, &"failure".into())
            .ok()
            .and_then(|f| f.as_string())
            .unwrap_or_default();
        GenerationError::from_page(&failure, &message(e), request.timeout_secs)
    };
    let called = JsFuture::from(Promise::resolve(&called.map_err(|e| page_failure(&e))?));
    let Some(answered) = within(request.tab_limit_ms(), called).await else {
        return Err(GenerationError::Tab(
            "it stopped answering (frozen or asleep)".into(),
        ));
    };
    let src = answered.map_err(|e| page_failure(&e))?;
    let Some(src) = src.as_string().filter(|s| !s.is_empty()) else {
        return Err(GenerationError::Tab("the tab named no image".into()));
    };
    generation::check_image_url(&src)?;
    advance(shared, gens, &request.id, Stage::Downloading);
    let stored = store(shared, &src, request.filename.as_deref()).await?;
    advance(shared, gens, &request.id, Stage::Saved);
    Ok(stored)
}

/// The running request `id` reached `stage`.
fn advance(shared: &Shared, gens: &SharedGenerations, id: &str, stage: Stage) {
    let steps = gens.borrow_mut().queue.stage(now(), id, stage);
    run(shared, gens, steps);
}

/// `client.generateImage(prompt, options)`: publishes the request and resolves with the
/// `imageDownloaded` data (`{requestId, prompt, size, sha256, imageId, path?|url?}`); calls
/// `options.onProgress(data)` for each progress event; rejects with `generation_failed` (the
/// extension's reason), the publish's own rejection (e.g. `no_extension`), or `timeout` when
/// nothing was heard of it for `timeoutSecs` + `REQUESTER_GRACE_SECS`.
pub(crate) async fn generate_image(
    shared: Shared,
    prompt: String,
    options: JsValue,
) -> Result<JsValue, JsValue> {
    let options = if options.is_undefined() || options.is_null() {
        JsValue::from(js_sys::Object::new())
    } else {
        options
    };
    let on_progress = Reflect::get(&options, &"onProgress".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    let field = |key: &str| Reflect::get(&options, &key.into()).unwrap_or(JsValue::UNDEFINED);
    let mut data = object([("prompt", Value::from(prompt))]);
    if let Some(name) = field("filename").as_string() {
        data["filename"] = Value::from(name);
    }
    if let Some(new_chat) = field("newChat").as_bool() {
        data["newChat"] = Value::from(new_chat);
    }
    let timeout_secs = field("timeoutSecs").as_f64().map(|t| t as u64);
    if let Some(t) = timeout_secs {
        data["timeoutSecs"] = Value::from(t);
    }
    let silence_ms = (timeout_secs
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
        .min(MAX_TIMEOUT_SECS)
        + REQUESTER_GRACE_SECS)
        * 1000;
    let publish = object([("event", Value::from(REQUESTED)), ("data", data)]);
    let (frame_id, acked) = request_with_id(&shared, "publish", publish, None);
    let ack = JsFuture::from(acked).await?;
    let ack = from_js(&ack).map_err(|e| js_error("bad_payload", &e))?;
    let Some(event_id) = ack["payload"]["id"].as_str().map(str::to_owned) else {
        return Err(js_error(
            "bad_payload",
            "the server's ack of the request names no event id",
        ));
    };
    // A held request (no extension yet) may still be answered `no_extension`, to the publish.
    let mut keys = vec![event_id];
    if ack["payload"]["held"].as_bool() == Some(true) {
        keys.extend(frame_id.as_deref().map(frame_key));
    }
    let answer = Promise::new(&mut |resolve, reject| {
        watch(
            &shared,
            &keys,
            silence_ms,
            on_progress.clone(),
            resolve,
            reject,
        );
    });
    JsFuture::from(answer).await
}

/// Routes the replies to `event_id` to the promise's ends until the final one (or the silence).
fn watch(
    shared: &Shared,
    keys: &[String],
    silence_ms: u64,
    on_progress: Option<Function>,
    resolve: Function,
    reject: Function,
) {
    struct Watch {
        timer: Option<Timeout>,
        done: bool,
    }
    let state = Rc::new(RefCell::new(Watch {
        timer: None,
        done: false,
    }));
    let weak = Rc::downgrade(shared);
    let routes = keys.to_vec();
    // Ends the watch: the timer and the routes go.
    let finish = {
        let (state, weak, routes) = (state.clone(), weak.clone(), routes.clone());
        move || {
            let mut s = state.borrow_mut();
            s.done = true;
            s.timer = None;
            if let Some(shared) = weak.upgrade() {
                // (Never borrowed here: execute calls JavaScript with the driver released.
                // Were it borrowed, the routes would stay, inert: `done` is set.)
                if let Ok(mut d) = shared.try_borrow_mut() {
                    for key in &routes {
                        d.watchers.remove(key);
                    }
                }
            }
        }
    };
    let rearm = {
        let (state, reject, finish) = (state.clone(), reject.clone(), finish.clone());
        move || {
            let (reject, finish) = (reject.clone(), finish.clone());
            let delay = u32::try_from(silence_ms.min(i32::MAX as u64)).unwrap_or(u32::MAX);
            let timer = Timeout::new(delay, move || {
                finish();
                let e = js_error(
                    "timeout",
                    &format!(
                        "nothing was heard of the image generation for {} s",
                        silence_ms / 1000
                    ),
                );
                let _ = reject.call1(&JsValue::NULL, &e);
            });
            state.borrow_mut().timer = Some(timer);
        }
    };
    rearm();
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |payload: JsValue| {
        if state.borrow().done {
            return;
        }
        let event = Reflect::get(&payload, &"event".into())
            .ok()
            .and_then(|e| e.as_string())
            .unwrap_or_default();
        let data = Reflect::get(&payload, &"data".into()).unwrap_or(JsValue::NULL);
        match event.as_str() {
            PROGRESS => {
                rearm();
                if let Some(f) = &on_progress {
                    let _ = f.call1(&JsValue::NULL, &data);
                }
            }
            DOWNLOADED => {
                finish();
                let _ = resolve.call1(&JsValue::NULL, &data);
            }
            _ => {
                finish();
                let text = |key: &str| {
                    Reflect::get(&data, &key.into())
                        .ok()
                        .and_then(|r| r.as_string())
                };
                let reason =
                    text("reason").unwrap_or_else(|| format!("the extension answered {event}"));
                // A server's error (`no_extension`) keeps its code; the extension's answer is
                // `generation_failed`.
                let code = text("code").unwrap_or_else(|| "generation_failed".to_owned());
                let _ = reject.call1(&JsValue::NULL, &js_error(&code, &reason));
            }
        }
    });
    let handler: Function = handler.into_js_value().unchecked_into();
    let mut d = shared.borrow_mut();
    for key in routes {
        d.watchers.insert(key, handler.clone());
    }
}
