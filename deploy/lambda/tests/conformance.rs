//! The shared protocol conformance suite (`tests/conformance/`) against the Lambda handlers: the real SDK against moto, and the management API stand-in for frames pushed to other connections.

#[path = "../../../tests/conformance/mod.rs"]
mod conformance;
mod support;

use std::collections::HashMap;

use conformance::{Auth, OPERATOR_KEY};
use semantest_lambda::{connect, disconnect};
use serde_json::{json, Value};
use support::{now, Stack};

struct Lambda {
    stack: Stack,
    /// How many of each connection's pushed frames a `received` already returned.
    seen: HashMap<String, usize>,
}

/// The API Gateway connection id of the case's connection `name`.
fn id(name: &str) -> String {
    format!("{name}=")
}

impl conformance::Server for Lambda {
    async fn open(&mut self, name: &str, role: &str, client_id: &str, auth: Auth) -> Value {
        let id = id(name);
        self.stack.management.connect(&id);
        let bearer = format!("Bearer {OPERATOR_KEY}");
        let headers: &[(&str, &str)] = match auth {
            Auth::Operator => &[("authorization", &bearer)],
            _ => &[],
        };
        let event = Stack::connect_event(&id, headers);
        let r = connect::handle(&self.stack.services, &event, now()).await;
        assert_eq!(r.status_code, 200);
        let mut hello = json!({"action": "hello", "id": "h", "payload": {"role": role, "clientId": client_id, "version": "1"}});
        if let Auth::Token(token) = auth {
            hello["payload"]["token"] = token.into();
        }
        match self.stack.send(&id, &hello.to_string()).await {
            Some(answer) => answer,
            // Refused: the reason was pushed before the close.
            None => {
                let pushed = self.received(name, 1).await;
                pushed.last().cloned().unwrap_or(Value::Null)
            }
        }
    }

    async fn send(&mut self, name: &str, text: &str) -> Option<Value> {
        self.stack.send(&id(name), text).await
    }

    async fn received(&mut self, name: &str, _expected: usize) -> Vec<Value> {
        // Pushes happen within the handler's invocation: nothing is still on its way.
        let all = self.stack.management.received(&id(name));
        let seen = self.seen.insert(name.to_owned(), all.len()).unwrap_or(0);
        all[seen..].to_vec()
    }

    async fn closed(&mut self, name: &str) -> bool {
        self.stack.management.closed().contains(&id(name))
    }

    async fn drop_connection(&mut self, name: &str) {
        let id = id(name);
        self.stack.management.forget(&id);
        let mut event: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest =
            support::fixture("disconnect.json");
        event.request_context.connection_id = Some(id);
        disconnect::handle(&self.stack.services, &event).await;
    }
}

#[tokio::test]
async fn the_lambda_handlers_pass_the_conformance_suite() {
    conformance::run_all(|| async {
        Lambda {
            stack: Stack::with_keys(&[OPERATOR_KEY]).await,
            seen: HashMap::new(),
        }
    })
    .await;
}
