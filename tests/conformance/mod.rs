//! The protocol conformance suite, written once: the cases of `cases.json` and their runner, which each server's harness drives through [`Server`].
//!
//! Included by `server/tests/conformance.rs` (the local server on a real socket) and
//! `deploy/lambda/tests/conformance.rs` (the Lambda handlers against moto) with `#[path]`. Each
//! case runs on a fresh server; every failing case is reported, then the test fails.

#![allow(dead_code, unreachable_pub, missing_docs, async_fn_in_trait)]

use std::collections::HashMap;
use std::future::Future;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The cases, as written.
pub const CASES: &str = include_str!("cases.json");

/// How a connection of a case shows who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// The harness's operator API key (the default).
    Operator,
    /// No token at all: a keyless socket.
    Keyless,
    /// This token (issued by `register` or `pair`), in the `hello`.
    Token(String),
}

/// What a harness does for the runner. Connections are named by the case (`tool`, `ext`, …).
/// Every harness runs a production server: an operator key, registration and pairing.
pub trait Server {
    /// Opens connection `name`, showing `auth`, and says `hello` as `role` with `client_id`;
    /// returns the answer to the hello (`welcome`, or the error refusing it).
    async fn open(&mut self, name: &str, role: &str, client_id: &str, auth: Auth) -> Value;
    /// Sends `text` on `name` and returns the server's answer to it (`None`: no answer).
    async fn send(&mut self, name: &str, text: &str) -> Option<Value>;
    /// The frames pushed to `name` since the last call (events and replies, not answers):
    /// waits for `expected` of them, then a short while for any more.
    async fn received(&mut self, name: &str, expected: usize) -> Vec<Value>;
    /// The socket of `name` dies without a close handshake.
    async fn drop_connection(&mut self, name: &str);
    /// Whether the server closed the socket of `name` (waits a while for it).
    async fn closed(&mut self, name: &str) -> bool;
}

#[derive(Debug, Deserialize)]
struct Suite {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
enum Step {
    Open(Open),
    Send(Send),
    Receives(Receives),
    Drop(String),
    Closed(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Open {
    #[serde(rename = "as")]
    name: String,
    role: String,
    client_id: String,
    /// `"operator"` (the default), `"none"`, or a token (usually a bound `"$name"`).
    #[serde(default)]
    auth: Option<Value>,
    /// The answer expected to the hello (default: a `welcome`).
    #[serde(default)]
    answer: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Send {
    from: String,
    #[serde(default)]
    frame: Option<Value>,
    #[serde(default)]
    text: Option<String>,
    answer: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Receives {
    by: String,
    frames: Vec<Value>,
}

/// Values bound by `"$name"` strings in expected frames.
type Vars = HashMap<String, Value>;

/// The operator API key every harness configures its server with.
pub const OPERATOR_KEY: &str = "conformance-operator-key-0123456789";

/// Runs every case, each on a server from `fresh`; panics listing the cases that failed.
pub async fn run_all<S, F, Fut>(mut fresh: F)
where
    S: Server,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let suite: Suite = serde_json::from_str(CASES).expect("cases.json is a suite");
    assert!(!suite.cases.is_empty());
    let mut failed = Vec::new();
    for case in &suite.cases {
        let mut server = fresh().await;
        if let Err(why) = run(&mut server, case).await {
            failed.push(format!("{}: {why}", case.name));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} conformance cases failed:\n  {}",
        failed.len(),
        suite.cases.len(),
        failed.join("\n  ")
    );
}

async fn run<S: Server>(server: &mut S, case: &Case) -> Result<(), String> {
    let mut vars = Vars::new();
    for (n, step) in case.steps.iter().enumerate() {
        let at = |why: String| format!("step {}: {why}", n + 1);
        match step {
            Step::Open(o) => {
                let auth = match o.auth.as_ref().map(|a| substitute(a, &vars)) {
                    None => Auth::Operator,
                    Some(Value::String(s)) if s == "operator" => Auth::Operator,
                    Some(Value::String(s)) if s == "none" => Auth::Keyless,
                    Some(Value::String(token)) => Auth::Token(token),
                    Some(other) => return Err(at(format!("auth must be a string, not {other}"))),
                };
                let answer = server.open(&o.name, &o.role, &o.client_id, auth).await;
                let want = o
                    .answer
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({"type": "welcome"}));
                matches(&want, &answer, &mut vars, "hello's answer")
                    .map_err(|why| at(format!("{why}\n    got {answer}")))?;
            }
            Step::Send(s) => {
                let text = match (&s.frame, &s.text) {
                    (Some(frame), None) => substitute(frame, &vars).to_string(),
                    (None, Some(text)) => text.clone(),
                    _ => return Err(at("a send has either frame or text".into())),
                };
                let answer = server.send(&s.from, &text).await.unwrap_or(Value::Null);
                matches(&s.answer, &answer, &mut vars, "answer")
                    .map_err(|why| at(format!("{why}\n    sent {text}\n    got  {answer}")))?;
            }
            Step::Receives(r) => {
                let got = server.received(&r.by, r.frames.len()).await;
                if got.len() != r.frames.len() {
                    return Err(at(format!(
                        "{} received {} frames, expected {}: {got:?}",
                        r.by,
                        got.len(),
                        r.frames.len()
                    )));
                }
                for (i, (want, got)) in r.frames.iter().zip(&got).enumerate() {
                    matches(want, got, &mut vars, &format!("{}'s frame {}", r.by, i + 1))
                        .map_err(|why| at(format!("{why}\n    got {got}")))?;
                }
            }
            Step::Drop(name) => server.drop_connection(name).await,
            Step::Closed(name) => {
                if !server.closed(name).await {
                    return Err(at(format!("the server did not close {name}")));
                }
            }
        }
    }
    Ok(())
}

/// `frame` with each `"$name"` string replaced by its bound value.
fn substitute(frame: &Value, vars: &Vars) -> Value {
    match frame {
        Value::String(s) if s.starts_with('$') => vars.get(&s[1..]).cloned().unwrap_or_else(|| {
            panic!("{s} is used before a step binds it");
        }),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, vars)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// Whether `got` is what `want` describes (see `cases.json`'s `about`).
fn matches(want: &Value, got: &Value, vars: &mut Vars, path: &str) -> Result<(), String> {
    match want {
        Value::String(s) if s.starts_with('$') => {
            let name = &s[1..];
            match vars.get(name) {
                Some(bound) if bound == got => Ok(()),
                Some(bound) => Err(format!("{path}: {s} was {bound}, here {got}")),
                None if got.is_null() => Err(format!("{path}: missing (to bind {s})")),
                None => {
                    vars.insert(name.to_owned(), got.clone());
                    Ok(())
                }
            }
        }
        Value::Object(want) => {
            let Some(got) = got.as_object() else {
                return Err(format!("{path}: expected an object, got {got}"));
            };
            for (key, w) in want {
                let here = format!("{path}.{key}");
                match (w, got.get(key)) {
                    (Value::Null, None | Some(Value::Null)) => {}
                    (Value::Null, Some(g)) => {
                        return Err(format!("{here}: expected none, got {g}"))
                    }
                    (_, None) => return Err(format!("{here}: missing")),
                    (w, Some(g)) => matches(w, g, vars, &here)?,
                }
            }
            Ok(())
        }
        Value::Array(want) => {
            let Some(got) = got.as_array().filter(|g| g.len() == want.len()) else {
                return Err(format!("{path}: expected {} items, got {got}", want.len()));
            };
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                matches(w, g, vars, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        want if want == got => Ok(()),
        want => Err(format!("{path}: expected {want}, got {got}")),
    }
}
