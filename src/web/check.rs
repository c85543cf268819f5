//! `testConnection(options)`: a one-shot check of each server for people (the options page's
//! **Test connection**): what the local probe finds and whether the remote answers a ping.
//!
//! It decides nothing itself: each side runs the real [`Machine`] with a one-sided strategy and
//! a single attempt (`localOnly` / `remoteOnly`, `maxAttempts: 1`), so the report says exactly
//! what the connection would see, with the same classification and timeouts.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use semantest_protocol::json;
use semantest_protocol::{ServerFrame, ServerMessage, Signature};
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::api::overrides;
use super::driver::{dispatch, now, to_js, Driver, Shared};
use crate::event::Event;
use crate::machine::Machine;
use crate::settings::{Settings, Strategy};
use crate::status::{Mode, Status};

// Tsify reads the `serde` attributes for the TypeScript; the JSON is written by hand (`to_json`).
/// What one side of the check found.
#[derive(Debug, Clone, tsify_next::Tsify)]
#[serde(rename_all = "camelCase")]
struct SideReport {
    /// The socket URL tried.
    url: String,
    /// Connected and answered a ping.
    ok: bool,
    /// Why not, when not.
    reason: Option<String>,
    /// The server's signature (from its `welcome`), when connected.
    signature: Option<Signature>,
    /// Ping round trip, when connected.
    latency_ms: Option<u64>,
    /// How long the check of this side took.
    ms: u64,
}

/// What `testConnection()` found: the local and the remote server.
#[derive(Debug, Clone, tsify_next::Tsify)]
struct ConnectionReport {
    /// The local server (`localOnly`).
    local: SideReport,
    /// The remote server, public or custom (`remoteOnly`).
    remote: SideReport,
}

impl SideReport {
    /// `{url, ok, reason, signature, latencyMs, ms}`, `null` for what is not known.
    fn to_json(&self) -> Value {
        json::object([
            ("url", Value::from(self.url.as_str())),
            ("ok", Value::from(self.ok)),
            ("reason", Value::from(self.reason.clone())),
            (
                "signature",
                self.signature
                    .as_ref()
                    .map_or(Value::Null, crate::signature::signature_json),
            ),
            ("latencyMs", Value::from(self.latency_ms)),
            ("ms", Value::from(self.ms)),
        ])
    }
}

impl ConnectionReport {
    /// `{local, remote}`.
    fn to_json(&self) -> Value {
        json::object([
            ("local", self.local.to_json()),
            ("remote", self.remote.to_json()),
        ])
    }
}

/// Checks the local and the remote server as `options` configure them (every field optional,
/// as for `new SemantestClient`). Resolves to `{local, remote}`, each `{url, ok, reason,
/// signature, latencyMs, ms}`; rejects only for invalid options.
#[wasm_bindgen(js_name = testConnection, unchecked_return_type = "ConnectionReport")]
pub async fn test_connection(
    #[wasm_bindgen(unchecked_optional_param_type = "SettingsOptions")] options: JsValue,
) -> Result<JsValue, JsError> {
    let settings = Settings::resolve(&overrides(options)?)?;
    let local = check_side(&settings, Strategy::LocalOnly).await;
    let remote = check_side(&settings, Strategy::RemoteOnly).await;
    Ok(to_js(&ConnectionReport { local, remote }.to_json()))
}

async fn check_side(base: &Settings, strategy: Strategy) -> SideReport {
    let mut settings = base.clone();
    settings.strategy = strategy;
    // A check, not a session: it never registers (an extension's test would make an install
    // that nobody keeps, and use up the address's registrations).
    settings.role = semantest_protocol::Role::Client;
    settings.retry.max_attempts = Some(1);
    let url = match strategy {
        Strategy::LocalOnly => settings.local_ws_url(),
        _ => settings.effective_remote_url().to_owned(),
    };
    // The longest one attempt can take, plus a margin: the loop below always ends.
    let budget = settings.probe_timeout_ms * 2
        + settings.connect_timeout_ms
        + settings.pong_timeout_ms
        + 1_000;
    let shared: Shared = Rc::new(RefCell::new(Driver::new(Machine::new(settings, 1))));
    let welcome: Rc<RefCell<Option<Signature>>> = Rc::default();
    let w = welcome.clone();
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |text: JsValue| {
        if let Some(Ok(ServerFrame {
            message: ServerMessage::Welcome(hello),
            ..
        })) = text.as_string().map(|t| ServerFrame::parse_for_core(&t))
        {
            *w.borrow_mut() = Some(hello.server);
        }
    });
    shared.borrow_mut().on_message = Some(
        on_message
            .as_ref()
            .unchecked_ref::<js_sys::Function>()
            .clone(),
    );
    let started = now();
    dispatch(&shared, Event::Start);
    let status = loop {
        let status: Status = shared.borrow().status.clone();
        let connected = matches!(status.mode, Mode::Local | Mode::Cloud);
        let done = (connected && status.latency_ms.is_some() && welcome.borrow().is_some())
            || status.mode == Mode::Offline
            || now().saturating_sub(started) > budget;
        if done {
            break status;
        }
        TimeoutFuture::new(10).await;
    };
    dispatch(&shared, Event::Close);
    shared.borrow_mut().on_message = None; // before `on_message` the closure is dropped
    let ok = matches!(status.mode, Mode::Local | Mode::Cloud);
    let reason = if ok {
        None
    } else {
        let side = if strategy == Strategy::LocalOnly {
            status.local_reason
        } else {
            status.remote_reason
        };
        Some(
            side.or(status.reason)
                .unwrap_or_else(|| format!("no answer within {budget} ms")),
        )
    };
    let signature = welcome.borrow_mut().take();
    SideReport {
        url,
        ok,
        reason,
        signature: signature.filter(|_| ok),
        latency_ms: status.latency_ms.filter(|_| ok),
        ms: now().saturating_sub(started),
    }
}
