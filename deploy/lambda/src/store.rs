//! The connections table in DynamoDB: connections, their subscriptions and published events, each item with a TTL.
//!
//! One table, key `pk` + `sk`, TTL attribute `expiresAt` (seconds):
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | a connection | `conn#{id}` | `conn` | `authed`, `wrongKey`, `revoked`, `tenant`, `idKind`, `keyId`/`installId`/`deviceId`, `role`, `clientId`, `events` (string set), `connectedAt` |
//! | a subscription | `event#{tenant}#{name}` | `conn#{id}` | |
//! | a published event | `pub#{eventId}` | `pub` | `publisher`, `frameId`, `tenant` |
//! | a `publish` or `reply` frame | `frame#{key}` | `frame` | `connection`, `answer`, `eventId` |
//!
//! The tenant is the connection's identity's ([`semantest_protocol::identity::Identity::tenant`]:
//! an operator key, or an install with its paired devices): events and replies never cross from one tenant to
//! another. A publish reads the subscribers of its event with one `Query`; `$disconnect` deletes
//! the connection and its subscriptions. The subscription set changes atomically (`ADD` /
//! `DELETE`, since API Gateway may run two frames of one socket at once), and only while the
//! connection's item exists, so a frame handled after `$disconnect` does not bring it back.
//! API Gateway closes every socket after 2 h, so a connection item lives 2 h 10 min at most even
//! if its `$disconnect` is lost; a published event is remembered for replies for 10 minutes.
//!
//! **Repeats.** A `publish` or `reply` frame is remembered [`DEDUPE_WINDOW_SECS`] under the
//! hex of [`semantest_protocol::dedupe_key`] of its tenant and frame id (the tenant, not the
//! `clientId`: frames may run before the connection's `hello` is stored). The first copy
//! claims the item with a conditional put (`attribute_not_exists(pk)`, or an item past its
//! time that the TTL sweep has not removed yet), is handled, and writes its answer (an ack) into
//! the item, or deletes the item when it was refused, since a refused frame had no effect. A
//! repeat, even one running at the same time, finds the item and gets the stored answer.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, PutRequest, ReturnValue, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use semantest_protocol::identity::Identity;
use semantest_protocol::{Role, DEDUPE_WINDOW_SECS};

/// How long a connection item outlives its connection at most (API Gateway's 2 h + 10 min).
pub const CONNECTION_TTL_SECS: u64 = 2 * 3600 + 600;
/// How long a published event can be replied to (the protocol's rule).
pub const PUBLISH_TTL_SECS: u64 = semantest_protocol::rules::REPLY_WINDOW_SECS;
/// DynamoDB's limit of requests per `BatchWriteItem`.
const BATCH: usize = 25;

/// A DynamoDB call that failed (throttled, unreachable, denied); the message names the call.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {call} failed: {reason}")]
pub struct StoreError {
    call: &'static str,
    reason: String,
}

pub(crate) fn failed<E: std::fmt::Debug>(call: &'static str) -> impl FnOnce(E) -> StoreError {
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
    /// That key was a revoked device's token.
    pub revoked: bool,
    /// Its tenant (`key:<key id>` or `install:<id>`); `None` until it showed a token.
    pub tenant: Option<String>,
    /// What its `hello` said it is.
    pub role: Option<Role>,
    /// The events it subscribes to.
    pub events: BTreeSet<String>,
    /// Who it authenticated as (`None`: keyless, or a stack without identities).
    pub identity: Option<Identity>,
}

/// Who published an event, for routing a `reply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// The publisher's connection id.
    pub connection_id: String,
    /// The id of its `publish` frame (the reply's `replyTo`).
    pub frame_id: String,
    /// Its tenant: only connections of the same key may reply.
    pub tenant: String,
}

/// What `$connect` learned of a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConnection {
    /// It showed a valid key (or none is needed).
    pub authed: bool,
    /// It showed a wrong key in its subprotocol.
    pub wrong_key: bool,
    /// That key was a revoked device's token.
    pub revoked: bool,
    /// Its tenant, when its handshake showed an operator key.
    pub tenant: Option<String>,
    /// Who its handshake's token says it is.
    pub identity: Option<Identity>,
}

/// The table, through the SDK.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) client: Client,
    pub(crate) table: String,
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: u64) -> AttributeValue {
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

fn subscription_key(tenant: &str, event: &str, id: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("event#{tenant}#{event}"))),
        ("sk".to_owned(), s(format!("conn#{id}"))),
    ])
}

/// What the table remembers of a `publish` or `reply` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The connection it last came from.
    pub connection: String,
    /// Its first answer (a JSON server frame); `None` while the first copy is being handled.
    pub answer: Option<String>,
    /// For a publish, the id its event got.
    pub event_id: Option<String>,
}

/// What claiming a frame found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The first copy: handle it, then [`Store::answer_frame`] or [`Store::release_frame`].
    First,
    /// A repeat; the item may still wait for the first copy's answer.
    Repeat(Remembered),
}

fn frame_key(tenant: &str, frame_id: &str) -> Item {
    let key: String = semantest_protocol::dedupe_key(tenant, frame_id)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    HashMap::from([
        ("pk".to_owned(), s(format!("frame#{key}"))),
        ("sk".to_owned(), s("frame")),
    ])
}

/// Whether an `UpdateItem` failed only because its condition (the item exists) did not hold.
pub(crate) fn condition_failed<R>(
    e: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, R>,
) -> bool {
    matches!(
        e.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(_))
    )
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

fn read_role(item: &Item) -> Option<Role> {
    let name = item.get("role")?.as_s().ok()?;
    Role::read("role", serde_json::Value::from(name.as_str())).ok()
}

/// The attributes a connection item keeps of its identity.
fn identity_attributes(identity: &Identity) -> Item {
    let mut item = Item::new();
    match identity {
        Identity::Operator { key_id } => {
            item.insert("idKind".to_owned(), s("operator"));
            item.insert("keyId".to_owned(), s(key_id));
        }
        Identity::Install { install_id } => {
            item.insert("idKind".to_owned(), s("install"));
            item.insert("installId".to_owned(), s(install_id));
        }
        Identity::Device {
            install_id,
            device_id,
        } => {
            item.insert("idKind".to_owned(), s("device"));
            item.insert("installId".to_owned(), s(install_id));
            item.insert("deviceId".to_owned(), s(device_id));
        }
    }
    item
}

/// `SET` clauses and values that make a connection `identity`'s.
fn authenticate(identity: &Identity, sets: &mut Vec<String>, values: &mut Item) {
    sets.push("authed = :authed".to_owned());
    values.insert(":authed".to_owned(), AttributeValue::Bool(true));
    sets.push("tenant = :tenant".to_owned());
    values.insert(":tenant".to_owned(), s(identity.tenant()));
    for (name, value) in identity_attributes(identity) {
        sets.push(format!("{name} = :{name}"));
        values.insert(format!(":{name}"), value);
    }
}

fn read_identity(item: &Item) -> Option<Identity> {
    let get = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    match get("idKind").as_deref() {
        Some("operator") => Some(Identity::Operator {
            key_id: get("keyId")?,
        }),
        Some("install") => Some(Identity::Install {
            install_id: get("installId")?,
        }),
        Some("device") => Some(Identity::Device {
            install_id: get("installId")?,
            device_id: get("deviceId")?,
        }),
        _ => None,
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
        new: &NewConnection,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut item = conn_key(id);
        item.insert("authed".to_owned(), AttributeValue::Bool(new.authed));
        if new.wrong_key {
            item.insert("wrongKey".to_owned(), AttributeValue::Bool(true));
        }
        if new.revoked {
            item.insert("revoked".to_owned(), AttributeValue::Bool(true));
        }
        if let Some(tenant) = &new.tenant {
            item.insert("tenant".to_owned(), s(tenant));
        }
        if let Some(identity) = &new.identity {
            item.insert("tenant".to_owned(), s(identity.tenant()));
            item.extend(identity_attributes(identity));
        }
        item.insert("connectedAt".to_owned(), n(now_ms));
        item.insert(
            "expiresAt".to_owned(),
            n(now_ms / 1000 + CONNECTION_TTL_SECS),
        );
        self.put(item).await
    }

    pub(crate) async fn put(&self, item: Item) -> Result<(), StoreError> {
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
        let role = read_role(&item);
        let events = match item.get("events") {
            Some(AttributeValue::Ss(set)) => set.iter().cloned().collect(),
            _ => BTreeSet::new(),
        };
        Ok(Some(Connection {
            authed: matches!(item.get("authed"), Some(AttributeValue::Bool(true))),
            wrong_key: matches!(item.get("wrongKey"), Some(AttributeValue::Bool(true))),
            revoked: matches!(item.get("revoked"), Some(AttributeValue::Bool(true))),
            tenant: item.get("tenant").and_then(|v| v.as_s().ok()).cloned(),
            role,
            events,
            identity: read_identity(&item),
        }))
    }

    /// Records a `hello`: the connection has a role, and, when the hello brought the token,
    /// is authenticated as `identity`. `Ok(false)`: the connection's item is gone (the socket
    /// closed), and nothing was written.
    pub async fn hello(
        &self,
        id: &str,
        role: Role,
        client_id: &str,
        identity: Option<&Identity>,
    ) -> Result<bool, StoreError> {
        let mut sets = vec!["#role = :role".to_owned(), "clientId = :cid".to_owned()];
        let mut values = HashMap::from([
            (":role".to_owned(), s(role.name())),
            (":cid".to_owned(), s(client_id)),
        ]);
        if let Some(identity) = identity {
            authenticate(identity, &mut sets, &mut values);
        }
        self.update_connection(id, &sets, values).await
    }

    /// The connection (keyless until now) registered or paired: it is `identity` from now
    /// on. `Ok(false)`: its item is gone.
    pub async fn authenticate(&self, id: &str, identity: &Identity) -> Result<bool, StoreError> {
        let (mut sets, mut values) = (Vec::new(), HashMap::new());
        authenticate(identity, &mut sets, &mut values);
        self.update_connection(id, &sets, values).await
    }

    async fn update_connection(
        &self,
        id: &str,
        sets: &[String],
        values: Item,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(conn_key(id)))
            .condition_expression("attribute_exists(pk)")
            .update_expression(format!("SET {}", sets.join(", ")))
            .expression_attribute_names("#role", "role")
            .set_expression_attribute_values(Some(values));
        // `#role` must be used when named; name it only where it is.
        let update = if sets.iter().any(|s| s.contains("#role")) {
            update
        } else {
            update.set_expression_attribute_names(None)
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(failed("UpdateItem")(e)),
        }
    }

    /// Adds `names` to the connection's subscriptions (`on`) or removes them, atomically, and
    /// writes or deletes their subscription items. `Ok(None)`: the connection's item is gone.
    /// `Ok(Some(events))`: its subscriptions now.
    pub async fn change_events(
        &self,
        id: &str,
        tenant: &str,
        role: Option<Role>,
        names: &BTreeSet<String>,
        on: bool,
        now_ms: u64,
    ) -> Result<Option<BTreeSet<String>>, StoreError> {
        let set = AttributeValue::Ss(names.iter().cloned().collect());
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(conn_key(id)))
            .update_expression(if on {
                "ADD events :e"
            } else {
                "DELETE events :e"
            })
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":e", set)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = match updated {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if condition_failed(&e) => return Ok(None),
            Err(e) => return Err(failed("UpdateItem")(e)),
        };
        let expires = now_ms / 1000 + CONNECTION_TTL_SECS;
        let mut writes = Vec::with_capacity(names.len());
        for event in names {
            let key = subscription_key(tenant, event, id);
            writes.push(if on {
                let mut item = key;
                item.insert("expiresAt".to_owned(), n(expires));
                if let Some(role) = role {
                    item.insert("role".to_owned(), s(role.name()));
                }
                put_write(item)?
            } else {
                delete_write(key)?
            });
        }
        self.write_all(writes).await?;
        Ok(Some(match item.get("events") {
            Some(AttributeValue::Ss(set)) => set.iter().cloned().collect(),
            _ => BTreeSet::new(),
        }))
    }

    /// The connections of `tenant` subscribed to `event`, with the role each had when it
    /// subscribed (read consistently: a subscription acknowledged a moment ago counts).
    pub async fn subscribers(
        &self,
        tenant: &str,
        event: &str,
    ) -> Result<Vec<(String, Option<Role>)>, StoreError> {
        let pk = format!("event#{tenant}#{event}");
        let items = self.items(&pk, "conn#", &["sk", "role"]).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let id = item.get("sk")?.as_s().ok()?.strip_prefix("conn#")?;
                Some((id.to_owned(), read_role(item)))
            })
            .collect())
    }

    /// Every item under partition key `pk` whose sort key starts with `sk_prefix`, read
    /// consistently (a write acknowledged a moment ago counts), with only `attributes` (every
    /// one when empty).
    pub(crate) async fn items(
        &self,
        pk: &str,
        sk_prefix: &str,
        attributes: &[&str],
    ) -> Result<Vec<Item>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":sk", s(sk_prefix));
        if !attributes.is_empty() {
            let names: Vec<String> = (0..attributes.len()).map(|i| format!("#a{i}")).collect();
            query = query.projection_expression(names.join(", "));
            for (name, attribute) in names.iter().zip(attributes) {
                query = query.expression_attribute_names(name, *attribute);
            }
        }
        let mut pages = query.into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(failed("Query"))?.items.unwrap_or_default());
        }
        Ok(items)
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
            ("tenant".to_owned(), s(&publisher.tenant)),
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
            .consistent_read(true)
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
        Ok(match (text("publisher"), text("frameId"), text("tenant")) {
            (Some(connection_id), Some(frame_id), Some(tenant)) => Some(Publisher {
                connection_id,
                frame_id,
                tenant,
            }),
            _ => None,
        })
    }

    /// Claims frame `frame_id` of `tenant`, from connection `id`, for [`DEDUPE_WINDOW_SECS`]
    /// from `now_ms`: [`Claim::First`] for its first copy, else what the table remembers.
    pub async fn claim_frame(
        &self,
        tenant: &str,
        frame_id: &str,
        id: &str,
        now_ms: u64,
    ) -> Result<Claim, StoreError> {
        let mut item = frame_key(tenant, frame_id);
        item.insert("connection".to_owned(), s(id));
        item.insert(
            "expiresAt".to_owned(),
            n(now_ms / 1000 + DEDUPE_WINDOW_SECS),
        );
        // A claim found and then released by its first copy (refused) lets this one try again.
        for _ in 0..3 {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(pk) OR expiresAt <= :now")
                .expression_attribute_values(":now", n(now_ms / 1000))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(Claim::First),
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(PutItemError::ConditionalCheckFailedException(_))
                    ) =>
                {
                    if let Some(remembered) = self.frame(tenant, frame_id, now_ms).await? {
                        return Ok(Claim::Repeat(remembered));
                    }
                }
                Err(e) => return Err(failed("PutItem")(e)),
            }
        }
        Err(StoreError {
            call: "PutItem",
            reason: "a frame's claim came and went three times".to_owned(),
        })
    }

    /// What the table remembers of frame `frame_id` of `tenant` at `now_ms`, if anything.
    pub async fn frame(
        &self,
        tenant: &str,
        frame_id: &str,
        now_ms: u64,
    ) -> Result<Option<Remembered>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(frame_key(tenant, frame_id)))
            .consistent_read(true)
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
        Ok(Some(Remembered {
            connection: text("connection").unwrap_or_default(),
            answer: text("answer"),
            event_id: text("eventId"),
        }))
    }

    /// Stores `answer`, the first answer to frame `frame_id` of `tenant` (and, for a publish,
    /// the id its event got).
    pub async fn answer_frame(
        &self,
        tenant: &str,
        frame_id: &str,
        answer: &str,
        event_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(frame_key(tenant, frame_id)))
            .expression_attribute_names("#a", "answer")
            .expression_attribute_values(":a", s(answer));
        update = match event_id {
            Some(event) => update
                .update_expression("SET #a = :a, eventId = :e")
                .expression_attribute_values(":e", s(event)),
            None => update.update_expression("SET #a = :a"),
        };
        update.send().await.map_err(failed("UpdateItem"))?;
        Ok(())
    }

    /// Forgets frame `frame_id` of `tenant`: its first copy was refused (or failed), so a
    /// repeat is judged afresh.
    pub async fn release_frame(&self, tenant: &str, frame_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(frame_key(tenant, frame_id)))
            .send()
            .await
            .map_err(failed("DeleteItem"))?;
        Ok(())
    }

    /// A publish of `tenant` repeated on connection `id`: replies to its event `event_id` go
    /// to `id` from now on (the connection it first came from is gone, or going).
    pub async fn rebind(
        &self,
        tenant: &str,
        frame_id: &str,
        event_id: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let moved = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("pub#{event_id}")))
            .key("sk", s("pub"))
            .update_expression("SET publisher = :c")
            .condition_expression("attribute_exists(pk) AND tenant = :t")
            .expression_attribute_values(":c", s(id))
            .expression_attribute_values(":t", s(tenant))
            .send()
            .await;
        match moved {
            Ok(_) => {}
            // Its event is no longer remembered (10 minutes): nothing to reply to.
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(failed("UpdateItem")(e)),
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(frame_key(tenant, frame_id)))
            .update_expression("SET #c = :c")
            .expression_attribute_names("#c", "connection")
            .expression_attribute_values(":c", s(id))
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        Ok(())
    }

    /// Forgets the connection `id` and its subscriptions (`$disconnect`, or a 410 Gone).
    pub async fn remove_connection(&self, id: &str) -> Result<(), StoreError> {
        let connection = self.connection(id).await?.unwrap_or_default();
        let tenant = connection.tenant.as_deref().unwrap_or_default();
        let mut writes = Vec::with_capacity(connection.events.len() + 1);
        for key in connection
            .events
            .iter()
            .map(|e| subscription_key(tenant, e, id))
            .chain(std::iter::once(conn_key(id)))
        {
            writes.push(delete_write(key)?);
        }
        self.write_all(writes).await
    }

    /// Deletes one subscription item (a 410 for a subscriber whose connection item is already
    /// gone still clears the item that pointed at it).
    pub async fn remove_subscription(
        &self,
        tenant: &str,
        event: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        self.write_all(vec![delete_write(subscription_key(tenant, event, id))?])
            .await
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
