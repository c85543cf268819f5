//! The driver: owns the [`Machine`] and every live browser resource, turns browser callbacks
//! into events and the machine's commands into effects.
//!
//! Browser callbacks never touch the driver directly: they queue the event on a microtask
//! (`spawn_local`), so a callback never runs while the driver is borrowed and no closure is
//! dropped while it is running. JavaScript callbacks (status, message) are called after the
//! driver is released, so they may call back into the client.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::Function;
use semantest_protocol::json;
use serde_json::Value;
use wasm_bindgen::JsValue;

use crate::sorted::SortedMap;
use wasm_bindgen_futures::spawn_local;
use web_sys::AbortController;

use super::probe::{describe, probe};
use super::socket::Socket;
use crate::event::{Command, Event, ProbeId, SocketId, Timer};
use crate::machine::Machine;
use crate::status::{Mode, Status};

/// A promise's two ends.
pub(crate) struct Settle {
    pub(crate) resolve: Function,
    pub(crate) reject: Function,
}

/// The machine plus what it has asked the browser to hold.
pub(crate) struct Driver {
    pub(crate) machine: Machine,
    sockets: SortedMap<SocketId, Socket>,
    timers: SortedMap<Timer, Timeout>,
    probes: SortedMap<ProbeId, AbortController>,
    pub(crate) on_status: Option<Function>,
    pub(crate) on_message: Option<Function>,
    /// `onCredentials(callback)`: where a token the server issued goes to be stored.
    pub(crate) on_credentials: Option<Function>,
    /// `on(event, handler)`: handlers by event name.
    pub(crate) on_event: SortedMap<String, Vec<Function>>,
    /// `request()` promises by frame id.
    pub(crate) requests: SortedMap<String, Settle>,
    /// Handlers of the replies to events this client published, by the event's id
    /// (`generateImage()`): every `event` frame whose `inReplyTo` names it; and, under
    /// [`frame_key`] of the publish frame's id, a later `error` frame that answers the publish
    /// (a held event no extension took: `no_extension`), handed over as
    /// `{event: "error", data: {code, reason}}`.
    pub(crate) watchers: SortedMap<String, Function>,
    /// `connect()` promises waiting for the first ready or offline status.
    pub(crate) connecting: Vec<Settle>,
    /// The last status, with its times on the wall clock (as shown).
    pub(crate) status: Status,
}

/// The driver as the API and the callbacks share it.
pub(crate) type Shared = Rc<RefCell<Driver>>;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `performance.now()` as a global (a page and a worker alike): monotonic milliseconds.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// The machine's clock: monotonic milliseconds, so a wall-clock step moves no deadline.
pub(crate) fn now() -> u64 {
    performance_now() as u64
}

/// A status of the machine's clock with its times (`since`, `nextRetryAt`) on the wall clock.
pub(crate) fn shown(mut status: Status) -> Status {
    let wall = js_sys::Date::now() as u64;
    let mono = now();
    status.since = to_wall(status.since, wall, mono);
    status.next_retry_at = status.next_retry_at.map(|t| to_wall(t, wall, mono));
    status
}

/// A time `t` of the monotonic clock on the wall clock, given both clocks now.
fn to_wall(t: u64, wall: u64, mono: u64) -> u64 {
    (wall + t).saturating_sub(mono)
}

/// A JavaScript `Error` with `code` (and `message`), for rejected promises.
pub(crate) fn js_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

impl Driver {
    pub(crate) fn new(machine: Machine) -> Driver {
        let status = shown(machine.status(now()));
        Driver {
            machine,
            sockets: SortedMap::default(),
            timers: SortedMap::default(),
            probes: SortedMap::default(),
            on_status: None,
            on_credentials: None,
            on_message: None,
            on_event: SortedMap::default(),
            requests: SortedMap::default(),
            watchers: SortedMap::default(),
            connecting: Vec::new(),
            status,
        }
    }
}

/// Feeds `event` to the machine and runs what it says.
pub(crate) fn dispatch(shared: &Shared, event: Event) {
    let commands = {
        let mut d = shared.borrow_mut();
        // The browser has already let go of these.
        match &event {
            Event::SocketClosed { socket, .. } => drop(d.sockets.remove(socket)),
            Event::ProbeAnswered { probe, .. } | Event::ProbeFailed { probe, .. } => {
                drop(d.probes.remove(probe))
            }
            Event::TimerFired(t) => drop(d.timers.remove(t)),
            _ => {}
        }
        d.machine.handle(now(), event)
    };
    execute(shared, commands);
}

/// Queues `event` for the driver on a microtask; does nothing once the client is gone.
fn defer(weak: &Weak<RefCell<Driver>>, event: Event) {
    let weak = weak.clone();
    spawn_local(async move {
        if let Some(shared) = weak.upgrade() {
            dispatch(&shared, event);
        }
    });
}

/// Runs `commands` in order, then calls the JavaScript callbacks with the driver released.
pub(crate) fn execute(shared: &Shared, commands: Vec<Command>) {
    let weak = Rc::downgrade(shared);
    let mut calls: Vec<(Function, JsValue)> = Vec::new();
    {
        let mut d = shared.borrow_mut();
        for command in commands {
            match command {
                Command::Probe { probe: id, url } => {
                    let Ok(controller) = AbortController::new() else {
                        defer(
                            &weak,
                            Event::ProbeFailed {
                                probe: id,
                                error: network("no AbortController"),
                            },
                        );
                        continue;
                    };
                    let signal = controller.signal();
                    d.probes.insert(id, controller);
                    let weak = weak.clone();
                    spawn_local(async move {
                        let Some(result) = probe(&url, &signal).await else {
                            return;
                        };
                        let event = match result {
                            Ok((status, body)) => Event::ProbeAnswered {
                                probe: id,
                                status,
                                body,
                            },
                            Err(error) => Event::ProbeFailed { probe: id, error },
                        };
                        if let Some(shared) = weak.upgrade() {
                            dispatch(&shared, event);
                        }
                    });
                }
                Command::CancelProbe(id) => {
                    if let Some(controller) = d.probes.remove(&id) {
                        controller.abort();
                    }
                }
                Command::OpenSocket {
                    socket: id,
                    url,
                    token,
                } => {
                    let w = weak.clone();
                    match Socket::open(id, &url, token.as_ref(), move |e| defer(&w, e)) {
                        Ok(s) => drop(d.sockets.insert(id, s)),
                        Err(e) => defer(
                            &weak,
                            Event::SocketClosed {
                                socket: id,
                                code: 1006,
                                reason: describe(&e),
                            },
                        ),
                    }
                }
                Command::CloseSocket {
                    socket,
                    code,
                    reason,
                } => {
                    if let Some(s) = d.sockets.remove(&socket) {
                        s.close(code, &reason);
                    }
                }
                Command::Send { socket, text } => {
                    if let Some(Err(e)) = d.sockets.get(&socket).map(|s| s.send(&text)) {
                        web_sys::console::warn_1(
                            &format!("semantest: send failed: {}", describe(&e)).into(),
                        );
                    }
                }
                Command::SetTimer { timer, after_ms } => {
                    let weak = weak.clone();
                    // setTimeout takes a signed 32-bit delay; anything larger would fire at once.
                    let delay = u32::try_from(after_ms.min(i32::MAX as u64)).unwrap_or(0);
                    // Replacing the entry drops (and so cancels) the previous timer of this kind.
                    d.timers.insert(
                        timer,
                        Timeout::new(delay, move || defer(&weak, Event::TimerFired(timer))),
                    );
                }
                Command::CancelTimer(timer) => drop(d.timers.remove(&timer)),
                Command::Deliver(text) => {
                    if let Some(f) = &d.on_message {
                        calls.push((f.clone(), JsValue::from_str(&text)));
                    }
                    calls.extend(listeners(&d, &text));
                }
                Command::Answer { id, text } => {
                    if let Some(settle) = d.requests.remove(&id) {
                        calls.push(answer(settle, &text));
                    }
                }
                Command::Fail { id, error } => {
                    if let Some(settle) = d.requests.remove(&id) {
                        let e = js_error(error.code.as_str(), &error.message);
                        calls.push((settle.reject, e));
                    }
                }
                Command::Credentials(credentials) => {
                    if let Some(f) = &d.on_credentials {
                        let value = match credentials {
                            Some(c) => to_js(&json::object([
                                ("token", Value::from(c.token.expose())),
                                ("installId", Value::from(c.install_id)),
                                ("deviceId", Value::from(c.device_id)),
                            ])),
                            None => JsValue::NULL,
                        };
                        calls.push((f.clone(), value));
                    }
                }
                Command::Status(status) => {
                    let status = shown(status);
                    if let Some(f) = &d.on_status {
                        calls.push((f.clone(), to_js(&status.to_json())));
                    }
                    let ready = matches!(status.mode, Mode::Local | Mode::Cloud);
                    if ready || status.mode == Mode::Offline {
                        for settle in std::mem::take(&mut d.connecting) {
                            calls.push(if ready {
                                (settle.resolve, to_js(&status.to_json()))
                            } else {
                                let reason = status.reason.as_deref().unwrap_or("offline");
                                let e =
                                    js_error("offline", &format!("no server answered: {reason}"));
                                let shown = to_js(&status.to_json());
                                let _ = js_sys::Reflect::set(&e, &"status".into(), &shown);
                                (settle.reject, e)
                            });
                        }
                    }
                    d.status = status;
                }
            }
        }
    }
    for (f, arg) in calls {
        if let Err(e) = f.call1(&JsValue::NULL, &arg) {
            web_sys::console::error_1(
                &format!("semantest: callback threw: {}", describe(&e)).into(),
            );
        }
    }
}

/// Who a delivered frame goes to besides `onMessage`, with what: an `event` to the `on()`
/// handlers of its name and to the watcher of the event it replies to (its payload); an `error`
/// answering a watched publish to that watcher, as `{event: "error", data: {code, reason}}`.
fn listeners(d: &Driver, text: &str) -> Vec<(Function, JsValue)> {
    let Ok(mut frame) = json::parse(text) else {
        return Vec::new();
    };
    let (functions, arg): (Vec<&Function>, _) = if frame["type"] == "event" {
        let payload = &frame["payload"];
        let Some(name) = payload["event"].as_str() else {
            return Vec::new();
        };
        let watcher = payload["inReplyTo"]
            .as_str()
            .and_then(|to| d.watchers.get(to));
        let handlers = d.on_event.get(name).into_iter().flatten();
        (
            watcher.into_iter().chain(handlers).collect(),
            to_js(payload),
        )
    } else if frame["type"] == "error" {
        let watcher = frame["replyTo"]
            .as_str()
            .and_then(|id| d.watchers.get(&frame_key(id)));
        // Taken out, not cloned: the frame is not needed after this (and Value's clone is
        // 1.4 KB of the .wasm).
        let mut take = |key| frame["payload"].get_mut(key).map(Value::take);
        let code = take("code").unwrap_or_default();
        let reason = take("message").unwrap_or_default();
        let data = json::object([("code", code), ("reason", reason)]);
        let error = json::object([("event", Value::from("error")), ("data", data)]);
        (watcher.into_iter().collect(), to_js(&error))
    } else {
        return Vec::new();
    };
    functions
        .into_iter()
        .map(|f| (f.clone(), arg.clone()))
        .collect()
}

/// The key under which a watcher waits for errors answering the frame `id`.
pub(crate) fn frame_key(id: &str) -> String {
    format!("frame:{id}")
}

/// A request's answer: the frame as an object, or a rejection with the server's error code.
fn answer(settle: Settle, text: &str) -> (Function, JsValue) {
    let frame = json::parse(text).unwrap_or_default();
    if frame.get("type").and_then(|t| t.as_str()) == Some("error") {
        let payload = &frame["payload"];
        let code = payload["code"].as_str().unwrap_or("error");
        let message = payload["message"]
            .as_str()
            .unwrap_or("the server refused it");
        let e = js_error(code, message);
        let _ = js_sys::Reflect::set(&e, &"frame".into(), &to_js(&frame));
        return (settle.reject, e);
    }
    (settle.resolve, to_js(&frame))
}

fn network(message: &str) -> crate::signature::ProbeError {
    crate::signature::ProbeError::Network {
        message: message.to_owned(),
    }
}

/// A JSON value as a plain JavaScript object (`null` for `None`, numbers for integers).
/// Through JSON text and the browser's `JSON.parse`: serde-wasm-bindgen's per-type code cost
/// about 20 KiB of the .wasm; the text is written by hand ([`json::write`]), not by serde.
pub(crate) fn to_js(value: &Value) -> JsValue {
    js_sys::JSON::parse(&json::write(value)).unwrap_or(JsValue::NULL)
}

/// A JavaScript value as JSON (`JSON.stringify`, then [`json::parse`]).
pub(crate) fn from_js(value: &JsValue) -> Result<Value, String> {
    let text =
        js_sys::JSON::stringify(value).map_err(|_| "not JSON (a cycle, or a BigInt)".to_owned())?;
    // `undefined`, a function or a symbol stringify to `undefined`, not to text.
    let text = text
        .as_string()
        .ok_or_else(|| "not JSON (undefined, a function or a symbol)".to_owned())?;
    json::parse(&text).map_err(|e| e.to_string())
}
