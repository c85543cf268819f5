//! The connections table in DynamoDB: connections, their subscriptions and published events, each item with a TTL.
//!
//! One table, key `pk` + `sk`, TTL attribute `expiresAt` (seconds):
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | a connection | `conn#{id}` | `conn` | `authed`, `wrongKey`, `role`, `clientId`, `events` (string set), `connectedAt` |
//! | a subscription | `event#{name}` | `conn#{id}` | |
//! | a published event | `pub#{eventId}` | `pub` | `publisher`, `frameId` |
//!
//! A publish reads the subscribers of its event with one `Query`; `$disconnect` deletes the
//! connection and its subscriptions. API Gateway closes every socket after 2 h, so a connection
//! item lives 2 h 10 min at most even if its `$disconnect` is lost; a published event is
//! remembered for replies for 10 minutes.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use semantest_protocol::Role;

/// How long a connection item outlives its connection at most (API Gateway's 2 h + 10 min).
pub const CONNECTION_TTL_SECS: u64 = 2 * 3600 + 600;
/// How long a published event can be replied to.
pub const PUBLISH_TTL_SECS: u64 = 600;
/// DynamoDB's limit of requests per `BatchWriteItem`.
const BATCH: usize = 25;

/// A DynamoDB call that failed (throttled, unreachable, denied); the message names the call.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {call} failed: {reason}")]
pub struct StoreError {
    call: &'static str,
    reason: String,
}

fn failed<E: std::fmt::Debug>(call: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError {
        call,
        reason: semantest_protocol::shorten(&format!("{e:?}"), 300),
    }
}

/// What the table knows of one connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connection {
    /// It showed a valid key (or none is needed).
    pub authed: bool,
    /// It showed a wrong key in its handshake's subprotocol.
    pub wrong_key: bool,
    /// What its `hello` said it is.
    pub role: Option<Role>,
    /// The events it subscribes to.
    pub events: BTreeSet<String>,
}

/// Who published an event, for routing a `reply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// The publisher's connection id.
    pub connection_id: String,
    /// The id of its `publish` frame (the reply's `replyTo`).
    pub frame_id: String,
}

/// The table, through the SDK.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// An item, or an item's key.
type Item = HashMap<String, AttributeValue>;

fn conn_key(id: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("conn#{id}"))),
        ("sk".to_owned(), s("conn")),
    ])
}

fn subscription_key(event: &str, id: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("event#{event}"))),
        ("sk".to_owned(), s(format!("conn#{id}"))),
    ])
}

fn put_write(item: Item) -> Result<WriteRequest, StoreError> {
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(failed("PutRequest"))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn delete_write(key: Item) -> Result<WriteRequest, StoreError> {
    let delete = DeleteRequest::builder()
        .set_key(Some(key))
        .build()
        .map_err(failed("DeleteRequest"))?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Extension => "extension",
        Role::Client => "client",
    }
}

impl Store {
    /// The table `table` on the SDK configuration `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> Self {
        Store {
            client: Client::new(sdk),
            table: table.to_owned(),
        }
    }

    /// Stores a new connection (`$connect`).
    pub async fn put_connection(
        &self,
        id: &str,
        authed: bool,
        wrong_key: bool,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut item = conn_key(id);
        item.insert("authed".to_owned(), AttributeValue::Bool(authed));
        if wrong_key {
            item.insert("wrongKey".to_owned(), AttributeValue::Bool(true));
        }
        item.insert("connectedAt".to_owned(), n(now_ms));
        item.insert(
            "expiresAt".to_owned(),
            n(now_ms / 1000 + CONNECTION_TTL_SECS),
        );
        self.put(item).await
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(failed("PutItem"))?;
        Ok(())
    }

    /// The connection `id`, if the table has it (read consistently: its `$connect` may have
    /// been a moment ago).
    pub async fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(conn_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed("GetItem"))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let role = match item
            .get("role")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
        {
            Some("extension") => Some(Role::Extension),
            Some("client") => Some(Role::Client),
            _ => None,
        };
        let events = match item.get("events") {
            Some(AttributeValue::Ss(set)) => set.iter().cloned().collect(),
            _ => BTreeSet::new(),
        };
        Ok(Some(Connection {
            authed: matches!(item.get("authed"), Some(AttributeValue::Bool(true))),
            wrong_key: matches!(item.get("wrongKey"), Some(AttributeValue::Bool(true))),
            role,
            events,
        }))
    }

    /// Records a `hello`: the connection is authenticated and has a role. Creates the item if
    /// `$connect` did not (it is idempotent).
    pub async fn hello(
        &self,
        id: &str,
        role: Role,
        client_id: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(conn_key(id)))
            .update_expression(
                "SET authed = :t, #role = :role, clientId = :cid, \
                 connectedAt = if_not_exists(connectedAt, :now), \
                 expiresAt = if_not_exists(expiresAt, :exp)",
            )
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":role", s(role_name(role)))
            .expression_attribute_values(":cid", s(client_id))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":exp", n(now_ms / 1000 + CONNECTION_TTL_SECS))
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        Ok(())
    }

    /// Sets the connection's subscriptions to `now`, adding the subscription items of `added`
    /// and deleting those of `removed`.
    pub async fn set_events(
        &self,
        id: &str,
        now: &BTreeSet<String>,
        added: &[String],
        removed: &[String],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(conn_key(id)));
        let update = if now.is_empty() {
            update.update_expression("REMOVE events")
        } else {
            update
                .update_expression("SET events = :e")
                .expression_attribute_values(
                    ":e",
                    AttributeValue::Ss(now.iter().cloned().collect()),
                )
        };
        update.send().await.map_err(failed("UpdateItem"))?;
        let expires = now_ms / 1000 + CONNECTION_TTL_SECS;
        let mut writes = Vec::new();
        for event in added {
            let mut item = subscription_key(event, id);
            item.insert("expiresAt".to_owned(), n(expires));
            writes.push(put_write(item)?);
        }
        for event in removed {
            writes.push(delete_write(subscription_key(event, id))?);
        }
        self.write_all(writes).await
    }

    /// The connections subscribed to `event`.
    pub async fn subscribers(&self, event: &str) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("event#{event}")))
            .projection_expression("sk")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(failed("Query"))?;
            for item in page.items.unwrap_or_default() {
                if let Some(id) = item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix("conn#"))
                {
                    ids.push(id.to_owned());
                }
            }
        }
        Ok(ids)
    }

    /// Remembers who published `event_id`, for replies.
    pub async fn put_publisher(
        &self,
        event_id: &str,
        publisher: &Publisher,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let item = HashMap::from([
            ("pk".to_owned(), s(format!("pub#{event_id}"))),
            ("sk".to_owned(), s("pub")),
            ("publisher".to_owned(), s(&publisher.connection_id)),
            ("frameId".to_owned(), s(&publisher.frame_id)),
            ("expiresAt".to_owned(), n(now_ms / 1000 + PUBLISH_TTL_SECS)),
        ]);
        self.put(item).await
    }

    /// Who published `event_id`, if it is still remembered (expired items may linger until
    /// DynamoDB's TTL sweep, so the time is checked here too).
    pub async fn publisher(
        &self,
        event_id: &str,
        now_ms: u64,
    ) -> Result<Option<Publisher>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("pub#{event_id}")))
            .key("sk", s("pub"))
            .send()
            .await
            .map_err(failed("GetItem"))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let expires = item
            .get("expiresAt")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if expires <= now_ms / 1000 {
            return Ok(None);
        }
        Ok(match (text("publisher"), text("frameId")) {
            (Some(connection_id), Some(frame_id)) => Some(Publisher {
                connection_id,
                frame_id,
            }),
            _ => None,
        })
    }

    /// Forgets the connection `id` and its subscriptions (`$disconnect`, or a 410 Gone).
    pub async fn remove_connection(&self, id: &str) -> Result<(), StoreError> {
        let events = self
            .connection(id)
            .await?
            .map(|c| c.events)
            .unwrap_or_default();
        let mut writes = Vec::with_capacity(events.len() + 1);
        for key in events
            .iter()
            .map(|e| subscription_key(e, id))
            .chain(std::iter::once(conn_key(id)))
        {
            writes.push(delete_write(key)?);
        }
        self.write_all(writes).await
    }

    /// `BatchWriteItem` in chunks of 25, sending back what DynamoDB left unprocessed (a few
    /// times, then it is an error).
    async fn write_all(&self, writes: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in writes.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            for attempt in 0..5 {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(failed("BatchWriteItem"))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError {
                    call: "BatchWriteItem",
                    reason: format!(
                        "{} writes still unprocessed after 5 attempts",
                        pending.len()
                    ),
                });
            }
        }
        Ok(())
    }
}
