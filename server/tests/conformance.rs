//! The shared protocol conformance suite (`tests/conformance/`) against the local production server: a real server on port 0 and real WebSocket clients.

mod common;
#[path = "../../tests/conformance/mod.rs"]
mod conformance;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{send_text, Client, TestServer, WAIT};
use conformance::{Auth, OPERATOR_KEY};
use futures_util::StreamExt;
use semantest_server::{Config, Environment};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// How long a connection must stay quiet for "nothing more was pushed to it".
const QUIET: Duration = Duration::from_millis(300);

struct Local {
    server: TestServer,
    clients: HashMap<String, Client>,
    /// The connections the server closed.
    closed: HashSet<String>,
    /// Frames pushed to a connection that arrived while the harness waited for an answer.
    pushed: HashMap<String, Vec<Value>>,
}

/// The next text frame of `client`, parsed; `None` when nothing comes within `wait`, or the
/// server closed the socket (then `closed` is set).
async fn next_json(client: &mut Client, wait: Duration, closed: &mut bool) -> Option<Value> {
    if *closed {
        return None;
    }
    tokio::time::timeout(wait, async {
        loop {
            match client.next().await {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("JSON from the server"))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    *closed = true;
                    return None;
                }
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    })
    .await
    .ok()
    .flatten()
}

impl conformance::Server for Local {
    async fn open(&mut self, name: &str, role: &str, client_id: &str, auth: Auth) -> Value {
        let mut client = self.server.connect().await;
        let mut hello = json!({"action": "hello", "id": "h", "payload": {"role": role, "clientId": client_id, "version": "1"}});
        match auth {
            Auth::Operator => hello["payload"]["token"] = OPERATOR_KEY.into(),
            Auth::Token(token) => hello["payload"]["token"] = token.into(),
            Auth::Keyless => {}
        }
        send_text(&mut client, &hello.to_string()).await;
        let mut closed = false;
        let answer = next_json(&mut client, WAIT, &mut closed)
            .await
            .expect("an answer to hello");
        self.clients.insert(name.to_owned(), client);
        answer
    }

    async fn send(&mut self, name: &str, text: &str) -> Option<Value> {
        let client = self.clients.get_mut(name).expect("an open connection");
        send_text(client, text).await;
        // Events pushed meanwhile are kept for `received`; the first other frame is the answer.
        let mut closed = false;
        loop {
            let frame = next_json(client, WAIT, &mut closed).await?;
            if frame["type"] == "event" {
                self.pushed.entry(name.to_owned()).or_default().push(frame);
            } else {
                return Some(frame);
            }
        }
    }

    async fn received(&mut self, name: &str, expected: usize) -> Vec<Value> {
        let mut got = self.pushed.remove(name).unwrap_or_default();
        let client = self.clients.get_mut(name).expect("an open connection");
        let mut closed = self.closed.contains(name);
        while got.len() < expected {
            match next_json(client, WAIT, &mut closed).await {
                Some(frame) => got.push(frame),
                None => break,
            }
        }
        while let Some(frame) = next_json(client, QUIET, &mut closed).await {
            got.push(frame);
        }
        if closed {
            self.closed.insert(name.to_owned());
        }
        got
    }

    async fn closed(&mut self, name: &str) -> bool {
        let client = self.clients.get_mut(name).expect("an open connection");
        let mut closed = self.closed.contains(name);
        while !closed {
            let frame = next_json(client, WAIT, &mut closed).await;
            if frame.is_none() {
                break;
            }
        }
        closed
    }

    async fn drop_connection(&mut self, name: &str) {
        // Dropped without a Close: the TCP connection just ends.
        drop(self.clients.remove(name));
    }
}

#[tokio::test]
async fn the_local_server_passes_the_conformance_suite() {
    conformance::run_all(|| async {
        Local {
            server: TestServer::start(Config {
                environment: Environment::Production,
                api_keys: vec![OPERATOR_KEY.parse().unwrap()],
                ..Config::default()
            })
            .await,
            clients: HashMap::new(),
            closed: HashSet::new(),
            pushed: HashMap::new(),
        }
    })
    .await;
}
