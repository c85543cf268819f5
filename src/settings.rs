//! Settings: the connection strategy and every timing, their defaults, the presets, user
//! overrides, the `SEMANTEST_*` environment overrides, and validation — all in one place.
//!
//! Precedence, lowest first: built-in defaults < preset (`production` / `development`) <
//! user overrides (`chrome.storage.sync`, SDK options) < environment (`SEMANTEST_SERVER`,
//! `SEMANTEST_LOCAL_URL`, `SEMANTEST_REMOTE_URL`, `SEMANTEST_TOKEN`, for command-line tools).

use semantest_protocol::json::{self, Fields, ReadError};
use semantest_protocol::{Role, Token, TokenError};
use serde_json::Value;

/// Where the local development server answers by default.
pub const DEFAULT_LOCAL_URL: &str = "http://localhost:3003";
/// The public Semantest service.
pub const DEFAULT_REMOTE_URL: &str = "wss://api.extension.semantest.com";

/// A named set of defaults (IR-1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(serde::Serialize, serde::Deserialize)
)]
#[cfg_attr(target_arch = "wasm32", derive(tsify_next::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// What the store extension ships: local first, patient retries.
    #[default]
    Production,
    /// For developers of Semantest itself: quicker re-probes and retries.
    Development,
}

/// Which servers to try.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(serde::Serialize, serde::Deserialize)
)]
#[cfg_attr(target_arch = "wasm32", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// Probe the local server; use it if it is ours, otherwise the remote. The default.
    #[default]
    LocalFirst,
    /// Only the local server (`SEMANTEST_SERVER=local`).
    LocalOnly,
    /// Only the remote server (prefer-local off, or `SEMANTEST_SERVER=remote`).
    RemoteOnly,
}

/// The reconnect schedule; see [`crate::backoff`] for how it is used.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(serde::Serialize, serde::Deserialize)
)]
#[cfg_attr(target_arch = "wasm32", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct RetrySettings {
    /// Ceiling of the first delay, in ms.
    pub base_ms: u64,
    /// How much the ceiling grows per failed attempt.
    pub factor: f64,
    /// The ceiling never grows past this, in ms.
    pub cap_ms: u64,
    /// Give up after this many failed attempts in a row; `None` retries for ever.
    pub max_attempts: Option<u32>,
}

/// The complete, validated settings the machine runs with.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
#[cfg_attr(target_arch = "wasm32", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Which servers to try.
    pub strategy: Strategy,
    /// HTTP base of the local server; the probe asks `{local_url}/signature`.
    pub local_url: String,
    /// WebSocket URL of the public server (replaced by `custom_url` when set).
    pub remote_url: String,
    /// A user's own server, used instead of `remote_url`.
    pub custom_url: Option<String>,
    /// How long a probe may take before it counts as a timeout.
    pub probe_timeout_ms: u64,
    /// How long the local probe runs alone before the remote connection is started too.
    pub local_head_start_ms: u64,
    /// How long a socket may take to open.
    pub connect_timeout_ms: u64,
    /// Application ping interval (keeps an MV3 worker alive; at most 20 s).
    pub ping_interval_ms: u64,
    /// A ping without a pong for this long means the socket is dead (at most the ping interval).
    pub pong_timeout_ms: u64,
    /// While on the remote with local first, how often to look for the local server again.
    pub reprobe_interval_ms: u64,
    /// A connection up this long resets the backoff.
    pub stable_after_ms: u64,
    /// How many frames may be unanswered at once (waiting for a socket, or sent and not yet
    /// answered); one more is refused with an `outbox_full` error.
    pub outbox_capacity: usize,
    /// A frame with no answer after this long fails with `timeout` (a `request` may set its own).
    pub request_timeout_ms: u64,
    /// A frame sent and not answered for this long makes the core check the socket at once
    /// (a ping with a short deadline), so a server that stops answering is left quickly.
    pub answer_check_ms: u64,
    /// After a switch of server, how long the old socket may stay open for the answers it owes.
    pub drain_ms: u64,
    /// Reconnect schedule.
    pub retry: RetrySettings,
    /// Sent in `hello`.
    pub role: Role,
    /// Sent in `hello`; stable across reconnects.
    pub client_id: String,
    /// A name for people, sent when an extension registers (e.g. `Chrome on Linux`); the
    /// server picks one when empty.
    pub name: String,
    /// The API key for a server that asks for one (the public service in production). Sent in
    /// `hello` to the remote server only — a local server never sees it — and never serialized
    /// back out of the settings.
    #[serde(skip)]
    pub token: Option<Token>,
}

/// Optional overrides of [`RetrySettings`].
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(serde::Serialize, serde::Deserialize)
)]
#[cfg_attr(target_arch = "wasm32", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RetryOverrides {
    /// See [`RetrySettings::base_ms`].
    pub base_ms: Option<u64>,
    /// See [`RetrySettings::factor`].
    pub factor: Option<f64>,
    /// See [`RetrySettings::cap_ms`].
    pub cap_ms: Option<u64>,
    /// See [`RetrySettings::max_attempts`]; `0` means for ever.
    pub max_attempts: Option<u32>,
}

/// What a user, an SDK caller or the environment may set; every field optional.
// `default` changes nothing for serde, which reads a missing `Option` as `None` anyway; it tells
// Tsify that every key may be left out. Tsify leaves out `token`, which is never serialized:
// src/web/types.rs adds it to the TypeScript.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(serde::Serialize, serde::Deserialize)
)]
#[cfg_attr(target_arch = "wasm32", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Overrides {
    /// Which defaults to start from.
    pub preset: Option<Preset>,
    /// The options page's toggle: `true` = local first, `false` = remote only.
    pub prefer_local: Option<bool>,
    /// Wins over `prefer_local`.
    pub strategy: Option<Strategy>,
    /// See [`Settings::local_url`]; `ws://` and `http://` forms are both accepted.
    pub local_url: Option<String>,
    /// See [`Settings::remote_url`].
    pub remote_url: Option<String>,
    /// See [`Settings::custom_url`]; an empty string clears it.
    pub custom_url: Option<String>,
    /// See [`Settings::probe_timeout_ms`].
    pub probe_timeout_ms: Option<u64>,
    /// See [`Settings::local_head_start_ms`].
    pub local_head_start_ms: Option<u64>,
    /// See [`Settings::connect_timeout_ms`].
    pub connect_timeout_ms: Option<u64>,
    /// See [`Settings::ping_interval_ms`].
    pub ping_interval_ms: Option<u64>,
    /// See [`Settings::pong_timeout_ms`].
    pub pong_timeout_ms: Option<u64>,
    /// See [`Settings::reprobe_interval_ms`].
    pub reprobe_interval_ms: Option<u64>,
    /// See [`Settings::stable_after_ms`].
    pub stable_after_ms: Option<u64>,
    /// See [`Settings::outbox_capacity`].
    pub outbox_capacity: Option<usize>,
    /// See [`Settings::request_timeout_ms`].
    pub request_timeout_ms: Option<u64>,
    /// See [`Settings::answer_check_ms`].
    pub answer_check_ms: Option<u64>,
    /// See [`Settings::drain_ms`].
    pub drain_ms: Option<u64>,
    /// See [`Settings::retry`].
    pub retry: Option<RetryOverrides>,
    /// See [`Settings::role`].
    pub role: Option<Role>,
    /// See [`Settings::client_id`].
    pub client_id: Option<String>,
    /// See [`Settings::name`].
    pub name: Option<String>,
    /// See [`Settings::token`]; checked when read (16–256 of letters, digits, `-._~`).
    #[serde(skip_serializing)]
    pub token: Option<Token>,
}

/// Why settings were refused. The message names the field and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A URL with the wrong scheme, no host, or spaces.
    #[error("{field}: '{url}' is not a valid URL ({reason})")]
    InvalidUrl {
        /// The setting's name.
        field: &'static str,
        /// The value given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A number outside its allowed range.
    #[error("{field}: {value} is out of range (allowed {min}..={max})")]
    OutOfRange {
        /// The setting's name.
        field: &'static str,
        /// The value given.
        value: String,
        /// Smallest allowed.
        min: String,
        /// Largest allowed.
        max: String,
    },
    /// An environment variable with a value we do not know.
    #[error("{var}: '{value}' is not one of {allowed}")]
    BadEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it may be.
        allowed: &'static str,
    },
    /// A token with a remote server reached over plain `ws://` on another machine: the key
    /// would cross the network in the clear.
    #[error(
        "token: the access key is only sent over wss:// (or ws:// to this machine), not to '{0}'"
    )]
    TokenInTheClear(String),
    /// `SEMANTEST_TOKEN` is not a valid token (the value is not repeated: it is a secret).
    #[error("SEMANTEST_TOKEN: {0}")]
    BadToken(#[from] TokenError),
    /// Settings that were not even the right shape (from JavaScript).
    #[error("settings: {0}")]
    Shape(String),
}

impl Settings {
    /// The defaults of `preset`.
    pub fn preset(preset: Preset) -> Settings {
        let base = Settings {
            strategy: Strategy::LocalFirst,
            local_url: DEFAULT_LOCAL_URL.to_owned(),
            remote_url: DEFAULT_REMOTE_URL.to_owned(),
            custom_url: None,
            probe_timeout_ms: 2_000,
            local_head_start_ms: 300,
            connect_timeout_ms: 10_000,
            ping_interval_ms: 20_000,
            pong_timeout_ms: 10_000,
            reprobe_interval_ms: 30_000,
            stable_after_ms: 10_000,
            outbox_capacity: 256,
            request_timeout_ms: 30_000,
            answer_check_ms: 1_000,
            drain_ms: 3_000,
            retry: RetrySettings {
                base_ms: 1_000,
                factor: 2.0,
                cap_ms: 30_000,
                max_attempts: None,
            },
            role: Role::Client,
            client_id: "semantest-client".to_owned(),
            name: String::new(),
            token: None,
        };
        match preset {
            Preset::Production => base,
            Preset::Development => Settings {
                reprobe_interval_ms: 5_000,
                retry: RetrySettings {
                    cap_ms: 5_000,
                    ..base.retry.clone()
                },
                ..base
            },
        }
    }

    /// Defaults < preset < `overrides`, then validated.
    pub fn resolve(overrides: &Overrides) -> Result<Settings, SettingsError> {
        let mut s = Settings::preset(overrides.preset.unwrap_or_default());
        s.apply(overrides);
        s.validate()
    }

    /// These settings with `overrides` laid on top, then validated.
    pub fn with(&self, overrides: &Overrides) -> Result<Settings, SettingsError> {
        let mut s = self.clone();
        s.apply(overrides);
        s.validate()
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(p) = o.prefer_local {
            self.strategy = if p {
                Strategy::LocalFirst
            } else {
                Strategy::RemoteOnly
            };
        }
        set(&mut self.strategy, o.strategy);
        set(&mut self.local_url, o.local_url.clone());
        set(&mut self.remote_url, o.remote_url.clone());
        if let Some(c) = &o.custom_url {
            self.custom_url = Some(c.trim().to_owned()).filter(|c| !c.is_empty());
        }
        set(&mut self.probe_timeout_ms, o.probe_timeout_ms);
        set(&mut self.local_head_start_ms, o.local_head_start_ms);
        set(&mut self.connect_timeout_ms, o.connect_timeout_ms);
        set(&mut self.ping_interval_ms, o.ping_interval_ms);
        set(&mut self.pong_timeout_ms, o.pong_timeout_ms);
        set(&mut self.reprobe_interval_ms, o.reprobe_interval_ms);
        set(&mut self.stable_after_ms, o.stable_after_ms);
        set(&mut self.outbox_capacity, o.outbox_capacity);
        set(&mut self.request_timeout_ms, o.request_timeout_ms);
        set(&mut self.answer_check_ms, o.answer_check_ms);
        set(&mut self.drain_ms, o.drain_ms);
        set(&mut self.role, o.role);
        set(&mut self.client_id, o.client_id.clone());
        set(&mut self.name, o.name.clone());
        if o.token.is_some() {
            self.token = o.token.clone();
        }
        if let Some(r) = &o.retry {
            set(&mut self.retry.base_ms, r.base_ms);
            set(&mut self.retry.factor, r.factor);
            set(&mut self.retry.cap_ms, r.cap_ms);
            if let Some(m) = r.max_attempts {
                self.retry.max_attempts = Some(m).filter(|m| *m > 0);
            }
        }
    }

    fn validate(mut self) -> Result<Settings, SettingsError> {
        self.local_url = normalize_local(&self.local_url)?;
        check_ws("remoteUrl", &self.remote_url)?;
        if let Some(c) = &self.custom_url {
            check_ws("customUrl", c)?;
        }
        range("probeTimeoutMs", self.probe_timeout_ms, 100, 30_000)?;
        range(
            "localHeadStartMs",
            self.local_head_start_ms,
            0,
            self.probe_timeout_ms,
        )?;
        range("connectTimeoutMs", self.connect_timeout_ms, 500, 60_000)?;
        range("pingIntervalMs", self.ping_interval_ms, 1_000, 20_000)?;
        // A pong may not take longer than the next ping is due: pings must never pause.
        range(
            "pongTimeoutMs",
            self.pong_timeout_ms,
            500,
            self.ping_interval_ms,
        )?;
        range(
            "reprobeIntervalMs",
            self.reprobe_interval_ms,
            1_000,
            3_600_000,
        )?;
        range("stableAfterMs", self.stable_after_ms, 0, 3_600_000)?;
        range("outboxCapacity", self.outbox_capacity as u64, 1, 10_000)?;
        range("requestTimeoutMs", self.request_timeout_ms, 100, 3_600_000)?;
        range("answerCheckMs", self.answer_check_ms, 100, 60_000)?;
        range("drainMs", self.drain_ms, 0, 30_000)?;
        range("retry.baseMs", self.retry.base_ms, 10, 60_000)?;
        range(
            "retry.capMs",
            self.retry.cap_ms,
            self.retry.base_ms,
            3_600_000,
        )?;
        if !(1.0..=10.0).contains(&self.retry.factor) {
            return Err(SettingsError::OutOfRange {
                field: "retry.factor",
                value: semantest_protocol::json::float_text(self.retry.factor),
                min: "1".into(),
                max: "10".into(),
            });
        }
        if self.token.is_some() && !safe_for_a_key(self.effective_remote_url()) {
            return Err(SettingsError::TokenInTheClear(
                self.effective_remote_url().to_owned(),
            ));
        }
        if self.client_id.is_empty() || self.client_id.len() > 128 {
            return Err(SettingsError::OutOfRange {
                field: "clientId (length)",
                value: self.client_id.len().to_string(),
                min: "1".into(),
                max: "128".into(),
            });
        }
        Ok(self)
    }

    /// The WebSocket URL of the local server (`http` → `ws`, `https` → `wss`).
    pub fn local_ws_url(&self) -> String {
        match self.local_url.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!(
                "ws://{}",
                self.local_url
                    .strip_prefix("http://")
                    .unwrap_or(&self.local_url)
            ),
        }
    }

    /// Whether the remote URL in use may carry a key (`wss://`, or `ws://` to this machine).
    pub fn may_carry_a_key(&self) -> bool {
        safe_for_a_key(self.effective_remote_url())
    }

    /// The remote URL in use: the custom one if set, else the public service.
    pub fn effective_remote_url(&self) -> &str {
        self.custom_url.as_deref().unwrap_or(&self.remote_url)
    }

    /// Whether a change from `self` to `other` needs the connection to be decided again
    /// (as opposed to new timings, which apply to the running connection).
    pub fn changes_target(&self, other: &Settings) -> bool {
        self.strategy != other.strategy
            || self.local_url != other.local_url
            || self.effective_remote_url() != other.effective_remote_url()
            || self.role != other.role
            || self.client_id != other.client_id
            || self.token != other.token
    }
}

impl Overrides {
    /// IR-5: `SEMANTEST_SERVER=local|remote`, `SEMANTEST_LOCAL_URL`, `SEMANTEST_REMOTE_URL`,
    /// read through `var` so tests need not touch the process environment.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Overrides, SettingsError> {
        let mut o = Overrides::default();
        if let Some(v) = var("SEMANTEST_SERVER").filter(|v| !v.is_empty()) {
            o.strategy = Some(match v.to_ascii_lowercase().as_str() {
                "local" => Strategy::LocalOnly,
                "remote" => Strategy::RemoteOnly,
                "auto" => Strategy::LocalFirst,
                _ => {
                    return Err(SettingsError::BadEnv {
                        var: "SEMANTEST_SERVER",
                        value: v,
                        allowed: "local, remote, auto",
                    })
                }
            });
        }
        o.local_url = var("SEMANTEST_LOCAL_URL").filter(|v| !v.is_empty());
        o.remote_url = var("SEMANTEST_REMOTE_URL").filter(|v| !v.is_empty());
        o.token = var("SEMANTEST_TOKEN")
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<Token>())
            .transpose()?;
        Ok(o)
    }

    /// `self` with every field that `top` sets replaced by `top`'s.
    pub fn merged(mut self, top: Overrides) -> Overrides {
        macro_rules! take {
            ($($f:ident),*) => { $( if top.$f.is_some() { self.$f = top.$f; } )* };
        }
        take!(
            preset,
            prefer_local,
            strategy,
            local_url,
            remote_url,
            custom_url,
            probe_timeout_ms,
            local_head_start_ms,
            connect_timeout_ms,
            ping_interval_ms,
            pong_timeout_ms,
            reprobe_interval_ms,
            stable_after_ms,
            outbox_capacity,
            request_timeout_ms,
            answer_check_ms,
            drain_ms,
            retry,
            role,
            client_id,
            name,
            token
        );
        self
    }
}

impl Overrides {
    /// Reads overrides from JSON (a JavaScript options object): every key optional, `null` as
    /// left out, unknown keys refused (a typo must not pass silently). What the serde derive
    /// read, by hand: serde's generic code was most of the settings' share of the .wasm.
    pub fn from_json(value: Value) -> Result<Overrides, ReadError> {
        let mut f = Fields::of(value, "settings object")?;
        let overrides = Overrides {
            preset: f.optional("preset", Preset::read)?,
            prefer_local: f.opt_bool("preferLocal")?,
            strategy: f.optional("strategy", Strategy::read)?,
            local_url: f.opt_string("localUrl")?,
            remote_url: f.opt_string("remoteUrl")?,
            custom_url: f.opt_string("customUrl")?,
            probe_timeout_ms: f.opt_u64("probeTimeoutMs")?,
            local_head_start_ms: f.opt_u64("localHeadStartMs")?,
            connect_timeout_ms: f.opt_u64("connectTimeoutMs")?,
            ping_interval_ms: f.opt_u64("pingIntervalMs")?,
            pong_timeout_ms: f.opt_u64("pongTimeoutMs")?,
            reprobe_interval_ms: f.opt_u64("reprobeIntervalMs")?,
            stable_after_ms: f.opt_u64("stableAfterMs")?,
            outbox_capacity: f.optional("outboxCapacity", json::fitting)?,
            request_timeout_ms: f.opt_u64("requestTimeoutMs")?,
            answer_check_ms: f.opt_u64("answerCheckMs")?,
            drain_ms: f.opt_u64("drainMs")?,
            retry: f.optional("retry", RetryOverrides::from_json)?,
            role: f.optional("role", Role::read)?,
            client_id: f.opt_string("clientId")?,
            name: f.opt_string("name")?,
            token: f.optional("token", Token::read)?,
        };
        f.done()?;
        Ok(overrides)
    }
}

impl RetryOverrides {
    /// Reads the `retry` field of the options, an object (unknown keys refused).
    pub fn from_json(field: &'static str, value: Value) -> Result<RetryOverrides, ReadError> {
        let mut f = Fields::of(value, field)?;
        let retry = RetryOverrides {
            base_ms: f.opt_u64("baseMs")?,
            factor: f.opt_f64("factor")?,
            cap_ms: f.opt_u64("capMs")?,
            max_attempts: f.optional("maxAttempts", json::fitting)?,
        };
        f.done()?;
        Ok(retry)
    }
}

/// The `resume` option of the JavaScript client (`{failures, nextRetryAt?}`: where an earlier
/// worker's retry schedule stood), unknown keys refused: the failures and the time.
// Read by the wasm API (`web::api`); natively only by the tests.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn read_resume(value: Value) -> Result<(u32, Option<f64>), ReadError> {
    let mut f = Fields::of(value, "resume")?;
    let failures = f.with("failures", json::fitting::<u32>)?;
    let next_retry_at = f.opt_f64("nextRetryAt")?;
    f.done()?;
    Ok((failures, next_retry_at))
}

impl Preset {
    /// The preset named by `value` (`production`, `development`).
    pub fn read(field: &'static str, value: Value) -> Result<Preset, ReadError> {
        let all = [Preset::Production, Preset::Development];
        json::variant(field, value, &all, Preset::as_str)
    }

    /// The name JSON and JavaScript know it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Production => "production",
            Preset::Development => "development",
        }
    }
}

impl Strategy {
    /// The strategy named by `value` (`localFirst`, `localOnly`, `remoteOnly`).
    pub fn read(field: &'static str, value: Value) -> Result<Strategy, ReadError> {
        let all = [
            Strategy::LocalFirst,
            Strategy::LocalOnly,
            Strategy::RemoteOnly,
        ];
        json::variant(field, value, &all, Strategy::as_str)
    }

    /// The name JSON and JavaScript know it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::LocalFirst => "localFirst",
            Strategy::LocalOnly => "localOnly",
            Strategy::RemoteOnly => "remoteOnly",
        }
    }
}

impl Settings {
    /// The settings as JavaScript sees them (`settings()`): the keys and order the serde derive
    /// wrote, `null` for what is not set; never the token.
    pub fn to_json(&self) -> Value {
        let r = &self.retry;
        json::object([
            ("strategy", Value::from(self.strategy.as_str())),
            ("localUrl", Value::from(self.local_url.as_str())),
            ("remoteUrl", Value::from(self.remote_url.as_str())),
            ("customUrl", Value::from(self.custom_url.clone())),
            ("probeTimeoutMs", Value::from(self.probe_timeout_ms)),
            ("localHeadStartMs", Value::from(self.local_head_start_ms)),
            ("connectTimeoutMs", Value::from(self.connect_timeout_ms)),
            ("pingIntervalMs", Value::from(self.ping_interval_ms)),
            ("pongTimeoutMs", Value::from(self.pong_timeout_ms)),
            ("reprobeIntervalMs", Value::from(self.reprobe_interval_ms)),
            ("stableAfterMs", Value::from(self.stable_after_ms)),
            ("outboxCapacity", Value::from(self.outbox_capacity)),
            ("requestTimeoutMs", Value::from(self.request_timeout_ms)),
            ("answerCheckMs", Value::from(self.answer_check_ms)),
            ("drainMs", Value::from(self.drain_ms)),
            (
                "retry",
                json::object([
                    ("baseMs", Value::from(r.base_ms)),
                    ("factor", Value::from(r.factor)),
                    ("capMs", Value::from(r.cap_ms)),
                    ("maxAttempts", Value::from(r.max_attempts)),
                ]),
            ),
            ("role", Value::from(self.role.name())),
            ("clientId", Value::from(self.client_id.as_str())),
            ("name", Value::from(self.name.as_str())),
        ])
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), SettingsError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError::OutOfRange {
            field,
            value: value.to_string(),
            min: min.to_string(),
            max: max.to_string(),
        })
    }
}

/// Splits `scheme://rest`, checking — as the browser will read it (WHATWG, the `url` crate) —
/// that it has a host, no spaces and no user info (`user@`: it would hide the real host from a
/// person, and the browser drops it).
fn split_url<'a>(field: &'static str, url: &'a str) -> Result<(&'a str, &'a str), SettingsError> {
    let bad = |reason: &str| SettingsError::InvalidUrl {
        field,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    // A byte search: `split_once("://")` brought core's two-way string searcher (1.2 KB of
    // the .wasm) for this one call.
    let at = url.as_bytes().windows(3).position(|w| w == b"://");
    let (scheme, rest) = at
        .map(|at| (&url[..at], &url[at + 3..]))
        .ok_or_else(|| bad("no scheme"))?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains spaces"));
    }
    let parsed = crate::whatwg::parse(url).map_err(|e| bad(&e))?;
    if parsed.user_info {
        return Err(bad("user info (user@host) is not allowed"));
    }
    if parsed.host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((scheme, rest))
}

/// Whether a key may be sent to `url`: over `wss://`, or over `ws://` to this machine only.
/// The host is the one the browser's WebSocket will connect to: the URL is read as WHATWG
/// reads it, so `ws://evil.example\@localhost/` is `evil.example` (a `\` ends the host).
fn safe_for_a_key(url: &str) -> bool {
    let Ok(parsed) = crate::whatwg::parse(url) else {
        return false;
    };
    match parsed.scheme.as_str() {
        _ if parsed.user_info || parsed.host.is_empty() => false,
        "wss" => true,
        "ws" => parsed.host == "localhost" || parsed.loopback_ip,
        _ => false,
    }
}

fn check_ws(field: &'static str, url: &str) -> Result<(), SettingsError> {
    match split_url(field, url)?.0 {
        "ws" | "wss" => Ok(()),
        other => Err(SettingsError::InvalidUrl {
            field,
            url: url.to_owned(),
            reason: format!("scheme must be ws:// or wss://, not {other}://"),
        }),
    }
}

/// Accepts `http(s)://` or `ws(s)://` and returns the `http(s)://host[:port]` base without a
/// trailing slash.
fn normalize_local(url: &str) -> Result<String, SettingsError> {
    let (scheme, rest) = split_url("localUrl", url)?;
    let scheme = match scheme {
        "http" | "ws" => "http",
        "https" | "wss" => "https",
        other => {
            return Err(SettingsError::InvalidUrl {
                field: "localUrl",
                url: url.to_owned(),
                reason: format!("scheme must be http(s):// or ws(s)://, not {other}://"),
            })
        }
    };
    Ok(format!("{scheme}://{}", rest.trim_end_matches('/')))
}

/// The hand-written reads and writes against the serde derives they replace (kept natively as
/// the oracle): the same inputs accepted and refused, the same values read, the same JSON.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use semantest_protocol::client::from_object;
    use serde_json::json;

    /// The JSON names of [`Overrides`]' fields, in order: the keys the tests mutate, and what an
    /// unknown key's message must list.
    const OVERRIDES_FIELDS: &[&str] = &[
        "preset",
        "preferLocal",
        "strategy",
        "localUrl",
        "remoteUrl",
        "customUrl",
        "probeTimeoutMs",
        "localHeadStartMs",
        "connectTimeoutMs",
        "pingIntervalMs",
        "pongTimeoutMs",
        "reprobeIntervalMs",
        "stableAfterMs",
        "outboxCapacity",
        "requestTimeoutMs",
        "answerCheckMs",
        "drainMs",
        "retry",
        "role",
        "clientId",
        "name",
        "token",
    ];

    /// The JSON names of [`RetryOverrides`]' fields.
    const RETRY_FIELDS: &[&str] = &["baseMs", "factor", "capMs", "maxAttempts"];

    /// Values put in place of a field's own: every JSON kind, and numbers at the edges.
    fn replacements() -> Vec<Value> {
        vec![
            Value::Null,
            json!(0),
            json!(1),
            json!(-1),
            json!(1.5),
            json!(2.0),
            json!(20000),
            json!(4_294_967_295_u64),
            json!(4_294_967_296_u64),
            json!(u64::MAX),
            json!(1e300),
            json!("s"),
            json!(""),
            json!("production"),
            json!("development"),
            json!("localFirst"),
            json!("remoteOnly"),
            json!("Production"),
            json!("client"),
            json!("extension"),
            json!("ws://localhost:3003"),
            json!("a-good-token-0123456789"),
            json!("bad token with spaces here"),
            json!(true),
            json!(false),
            json!([]),
            json!(["a"]),
            json!({}),
            json!({"baseMs": 5}),
            json!({"bogus": 1}),
        ]
    }

    /// `base` and its mutations: each field removed, each replaced by every
    /// [`replacements`] value, an unknown field added, not an object at all.
    fn mutations(base: &Value, fields: &[&str]) -> Vec<Value> {
        let mut out = vec![base.clone()];
        for field in fields {
            let mut removed = base.clone();
            removed.as_object_mut().unwrap().remove(*field);
            out.push(removed);
            for r in replacements() {
                let mut changed = base.clone();
                changed[*field] = r;
                out.push(changed);
            }
        }
        let mut unknown = base.clone();
        unknown["preferlocal"] = json!(true);
        out.push(unknown);
        let mut empty_key = base.clone();
        empty_key[""] = json!(1);
        out.push(empty_key);
        out.extend(replacements().into_iter().filter(|r| !r.is_object()));
        out
    }

    fn full_overrides() -> Value {
        json!({
            "preset": "development", "preferLocal": false, "strategy": "localOnly",
            "localUrl": "ws://localhost:4000", "remoteUrl": "wss://example.org",
            "customUrl": "", "probeTimeoutMs": 1500, "localHeadStartMs": 100,
            "connectTimeoutMs": 5000, "pingIntervalMs": 15000, "pongTimeoutMs": 5000,
            "reprobeIntervalMs": 10000, "stableAfterMs": 0, "outboxCapacity": 10,
            "requestTimeoutMs": 1000, "answerCheckMs": 500, "drainMs": 0,
            "retry": {"baseMs": 100, "factor": 1.5, "capMs": 1000, "maxAttempts": 3},
            "role": "extension", "clientId": "c1", "name": "Chrome on Linux",
            "token": "a-good-token-0123456789",
        })
    }

    /// The hand read and the serde derive agree on `input`: both refuse it, or both read the
    /// same overrides. Returns the hand read's error message, if any.
    fn agree_overrides(input: &Value) -> Option<String> {
        let hand = Overrides::from_json(input.clone());
        // The old path: protocol's `from_object` (an object's map, read by the serde derive).
        let serde = from_object::<Overrides>(input.clone());
        if input.get("retry").is_some_and(Value::is_array) {
            // The one difference: serde read a nested struct from an array too, by position
            // (`"retry": [100, 2]`); the TypeScript says an object, and now only that is read.
            let e = hand.unwrap_err().to_string();
            if input.as_object().is_some_and(|o| o.len() == 1) {
                assert_eq!(e, "a retry must be a JSON object, not an array");
            }
            return Some(e);
        }
        match (&hand, &serde) {
            (Ok(h), Ok(s)) => assert_eq!(h, s, "{input}"),
            (Err(_), Err(_)) => {}
            _ => panic!("hand {hand:?} and serde {serde:?} disagree on {input}"),
        }
        hand.err().map(|e| e.to_string())
    }

    #[test]
    fn overrides_are_read_as_serde_read_them() {
        let retry = json!({"baseMs": 100, "factor": 1.5, "capMs": 1000, "maxAttempts": 3});
        let mut bases = vec![json!({}), full_overrides()];
        // The retry object's own fields, mutated inside a valid whole.
        for r in mutations(&retry, RETRY_FIELDS) {
            bases.push(json!({ "retry": r }));
        }
        let mut refused = 0;
        for base in &bases {
            for input in mutations(base, OVERRIDES_FIELDS) {
                if let Some(message) = agree_overrides(&input) {
                    refused += 1;
                    assert!(!message.is_empty());
                }
            }
        }
        assert!(
            refused > 1000,
            "the mutations exercise refusals ({refused})"
        );
    }

    #[test]
    fn resume_is_read_as_serde_read_it() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Resume {
            failures: u32,
            #[serde(default)]
            next_retry_at: Option<f64>,
        }
        let fields = ["failures", "nextRetryAt"];
        for base in [
            json!({"failures": 3, "nextRetryAt": 1.7e12}),
            json!({"failures": 0}),
        ] {
            for input in mutations(&base, &fields) {
                let hand = read_resume(input.clone());
                let serde = from_object::<Resume>(input.clone());
                match (&hand, &serde) {
                    (Ok(h), Ok(s)) => assert_eq!(*h, (s.failures, s.next_retry_at), "{input}"),
                    (Err(_), Err(_)) => {}
                    _ => panic!("hand {hand:?} and serde {serde:?} disagree on {input}"),
                }
            }
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let refused = |v: Value| Overrides::from_json(v).unwrap_err().to_string();
        assert_eq!(
            refused(json!({"preferlocal": true})),
            "unknown field `preferlocal`, expected `preset`, `preferLocal`, `strategy`, \
             `localUrl`, `remoteUrl`, `customUrl`, `probeTimeoutMs`, `localHeadStartMs`, \
             `connectTimeoutMs`, `pingIntervalMs`, `pongTimeoutMs`, `reprobeIntervalMs`, \
             `stableAfterMs`, `outboxCapacity`, `requestTimeoutMs`, `answerCheckMs`, `drainMs`, \
             `retry`, `role`, `clientId`, `name` or `token`"
        );
        assert_eq!(
            refused(json!({"probeTimeoutMs": "5"})),
            "invalid type for `probeTimeoutMs`: a string, expected an unsigned integer"
        );
        assert_eq!(
            refused(json!({"probeTimeoutMs": -1})),
            "invalid `probeTimeoutMs`: -1 is not an unsigned integer"
        );
        assert_eq!(
            refused(json!({"strategy": "fast"})),
            "invalid `strategy`: unknown variant `fast`, expected `localFirst`, `localOnly` or \
             `remoteOnly`"
        );
        assert_eq!(
            refused(json!({"retry": {"maxAttempts": 4_294_967_296_u64}})),
            "invalid `maxAttempts`: 4294967296 is too large"
        );
        assert_eq!(
            refused(json!({"retry": {"base": 1}})),
            "unknown field `base`, expected `baseMs`, `factor`, `capMs` or `maxAttempts`"
        );
        assert_eq!(
            refused(json!({"retry": 5})),
            "a retry must be a JSON object, not a number"
        );
        let token = refused(json!({"token": "short"}));
        assert!(
            token.starts_with("invalid `token`: a token must be"),
            "{token}"
        );
    }

    fn settings_cases() -> Vec<Settings> {
        let mut out = vec![
            Settings::preset(Preset::Production),
            Settings::preset(Preset::Development),
        ];
        let full = Overrides::from_json(full_overrides()).unwrap();
        out.push(Settings::resolve(&full).unwrap());
        out.push(
            Settings::resolve(&Overrides {
                custom_url: Some("wss://mine.example".into()),
                retry: Some(RetryOverrides {
                    max_attempts: Some(7),
                    factor: Some(3.25),
                    ..Default::default()
                }),
                token: Some(Token::new("a-good-token-0123456789").unwrap()),
                name: Some("quote \" and \\ and \u{1} and é".into()),
                ..Default::default()
            })
            .unwrap(),
        );
        out
    }

    #[test]
    fn settings_are_written_as_serde_wrote_them() {
        for settings in settings_cases() {
            // The same keys and values. (Natively objects sort their keys; the order, the
            // declaration order as serde wrote it, is checked in the browser tests.)
            let hand = settings.to_json();
            assert_eq!(hand, serde_json::to_value(&settings).unwrap());
            assert!(!json::write(&hand).contains("a-good-token"));
        }
    }

    #[test]
    fn settings_read_back_as_overrides() {
        // What `settings()` gives, fed to `setSettings`, is accepted and means the same.
        for settings in settings_cases() {
            let mut json = settings.to_json();
            json.as_object_mut().unwrap().remove("retry");
            let again = Settings::resolve(&Overrides::from_json(json).unwrap()).unwrap();
            assert_eq!(again.local_url, settings.local_url);
            assert_eq!(again.custom_url, settings.custom_url);
            assert_eq!(again.role, settings.role);
        }
    }
}
