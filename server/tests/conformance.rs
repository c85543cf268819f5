//! The shared protocol conformance suite (`tests/conformance/`) against the local server: a real server on port 0 and real WebSocket clients.

mod common;
#[path = "../../tests/conformance/mod.rs"]
mod conformance;

use std::collections::HashMap;
use std::time::Duration;

use common::{send_text, Client, TestServer, WAIT};
use futures_util::StreamExt;
use semantest_server::Config;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// How long a connection must stay quiet for "nothing more was pushed to it".
const QUIET: Duration = Duration::from_millis(300);

struct Local {
    server: TestServer,
    clients: HashMap<String, Client>,
    /// Frames pushed to a connection that arrived while the harness waited for an answer.
    pushed: HashMap<String, Vec<Value>>,
}

/// The next text frame of `client`, parsed; `None` when nothing comes within `wait`.
async fn next_json(client: &mut Client, wait: Duration) -> Option<Value> {
    tokio::time::timeout(wait, async {
        loop {
            match client.next().await {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("JSON from the server"))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    })
    .await
    .ok()
    .flatten()
}

impl conformance::Server for Local {
    async fn open(&mut self, name: &str, role: &str, client_id: &str) {
        let mut client = self.server.connect().await;
        let hello = json!({"action": "hello", "id": "h", "payload": {"role": role, "clientId": client_id, "version": "1"}});
        send_text(&mut client, &hello.to_string()).await;
        let welcome = next_json(&mut client, WAIT).await.expect("welcome");
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        self.clients.insert(name.to_owned(), client);
    }

    async fn send(&mut self, name: &str, text: &str) -> Option<Value> {
        let client = self.clients.get_mut(name).expect("an open connection");
        send_text(client, text).await;
        // Events pushed meanwhile are kept for `received`; the first other frame is the answer.
        loop {
            let frame = next_json(client, WAIT).await?;
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
        while got.len() < expected {
            match next_json(client, WAIT).await {
                Some(frame) => got.push(frame),
                None => break,
            }
        }
        while let Some(frame) = next_json(client, QUIET).await {
            got.push(frame);
        }
        got
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
            server: TestServer::start(Config::default()).await,
            clients: HashMap::new(),
            pushed: HashMap::new(),
        }
    })
    .await;
}
