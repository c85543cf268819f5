//! `$default` and the action routes: protocol v1 for one frame of one connection, with fan-out through the management API.
//!
//! The answer to the sender is the route's response body (the routes are two-way); frames for
//! other connections go through [`crate::push`]. A connection that answers 410 Gone is pruned
//! from the table. Events and replies stay within the connections of one API key (the tenant,
//! see [`crate::store`]). Unlike the local server, the service holds nothing between
//! invocations: an event that needs an extension while none takes it gets `no_extension` at once.
//!
//! A repeated `publish` or `reply` (the same frame id from the same tenant within
//! [`semantest_protocol::DEDUPE_WINDOW_SECS`]) gets the first answer and is not delivered
//! again, even when the copies run at once (see [`crate::store`]'s claim). A copy that finds
//! the first still being handled waits for its answer, at most [`REPEAT_WAIT`]. A publish
//! repeated on another connection moves the route of replies to its event there. Every error
//! answering a frame carries its id as `replyTo` when the text has one.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use futures::stream::{self, StreamExt};
use std::net::{IpAddr, Ipv4Addr};

use semantest_protocol::rules::{
    self, needs_extension, refuse_names, subscriptions_after, takes_extension_events,
};
use semantest_protocol::{
    frame_id, shorten, Ack, ClientFrame, ClientMessage, ErrorCode, EventPayload, Pong, Role,
    ServerFrame, ServerMessage, Welcome,
};

use crate::enroll::Asker;
use crate::push::Delivery;
use crate::reply::ws;
use crate::store::{Claim, Connection, Publisher, Remembered, StoreError};
use crate::{http_routes, Services};

pub use semantest_protocol::rules::MAX_SUBSCRIPTIONS;
/// How often the service expects a ping (API Gateway closes a socket idle for 10 minutes).
pub const HEARTBEAT_SECS: u64 = 20;
/// How many management API calls one publish makes at once.
const FAN_OUT: usize = 16;
/// How long a repeat waits for the answer of its first copy, still being handled.
pub const REPEAT_WAIT: Duration = Duration::from_secs(3);
/// How often a waiting repeat looks for that answer.
const REPEAT_POLL: Duration = Duration::from_millis(50);

/// The `$default` handler: one frame in, the answer out.
pub async fn handle(
    services: &Services,
    event: &ApiGatewayWebsocketProxyRequest,
    now_ms: u64,
) -> ApiGatewayProxyResponse {
    let Some(id) = event.request_context.connection_id.as_deref() else {
        return ws(None);
    };
    let text = match (&event.body, event.is_base64_encoded) {
        (Some(body), false) => body.as_str(),
        _ => {
            let frame = ServerFrame::error(
                None,
                ErrorCode::BadFrame,
                "binary frames are not supported; send JSON text",
            );
            return ws(Some(frame.to_json()));
        }
    };
    let client = event
        .request_context
        .identity
        .source_ip
        .as_deref()
        .and_then(|ip| ip.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    match answer(services, id, client, text, now_ms).await {
        Ok(Some(frame)) => ws(Some(frame.to_json())),
        Ok(None) => ws(None),
        Err(e) => {
            tracing::error!(connection = id, "{e}");
            let frame = ServerFrame::error(
                frame_id(text),
                ErrorCode::Internal,
                "the service failed; retry",
            );
            ws(Some(frame.to_json()))
        }
    }
}

/// The answer to `text` from connection `id` (`None`: nothing to send back).
async fn answer(
    services: &Services,
    id: &str,
    client: IpAddr,
    text: &str,
    now_ms: u64,
) -> Result<Option<ServerFrame>, StoreError> {
    let Some(connection) = services.store.connection(id).await? else {
        // $connect stores every connection it accepts: this one's $disconnect already ran
        // (its frames were still on their way), or the store failed then.
        tracing::warn!(
            connection = id,
            "a frame from a connection the table does not have"
        );
        let frame = ServerFrame::error(
            frame_id(text),
            ErrorCode::Internal,
            "the service does not know this connection; reconnect",
        );
        return Ok(Some(frame));
    };
    if connection.wrong_key {
        let message = if connection.revoked {
            semantest_protocol::identity::REVOKED_MESSAGE
        } else {
            "the API key is not valid"
        };
        let frame = ServerFrame::error(None, ErrorCode::Unauthorized, message);
        tracing::warn!(connection = id, "unauthorized: {message}");
        services.push.post(id, &frame.to_json()).await;
        services.push.close(id).await;
        return Ok(None);
    }
    // Authenticated means with a tenant: an operator key, an install or a device.
    let tenant = match (&connection.tenant, connection.authed) {
        (Some(tenant), true) => tenant.clone(),
        _ => {
            let asker = Asker {
                id,
                connection: &connection,
                client,
                now_ms,
            };
            return crate::enroll::keyless(services, &asker, text).await;
        }
    };
    let session = Session {
        id,
        connection: &connection,
        tenant: &tenant,
        client,
    };
    match ClientFrame::parse(text) {
        Ok(frame) => dispatch(services, &session, frame, now_ms).await,
        Err(error) => Ok(Some(ServerFrame::refusing(&error))),
    }
}

/// The connection an authenticated frame came from.
pub(crate) struct Session<'a> {
    pub(crate) id: &'a str,
    pub(crate) connection: &'a Connection,
    /// Its tenant: its identity's.
    pub(crate) tenant: &'a str,
    /// The client's address.
    pub(crate) client: IpAddr,
}

fn bad(frame_id: &str, message: impl Into<String>) -> Option<ServerFrame> {
    Some(ServerFrame::error(
        Some(frame_id.to_owned()),
        ErrorCode::BadPayload,
        message,
    ))
}

fn ack(frame_id: &str, ack: Ack) -> Option<ServerFrame> {
    Some(ServerFrame::reply(
        Some(frame_id.to_owned()),
        ServerMessage::Ack(ack),
    ))
}

async fn dispatch(
    services: &Services,
    session: &Session<'_>,
    frame: ClientFrame,
    now_ms: u64,
) -> Result<Option<ServerFrame>, StoreError> {
    let id = session.id;
    let fid = frame.id;
    let reply = |m| Some(ServerFrame::reply(Some(fid.clone()), m));
    Ok(match frame.message {
        ClientMessage::Hello(hello) => {
            let stored = services
                .store
                .hello(id, hello.role, &hello.client_id, None)
                .await?;
            if !stored {
                return Ok(None); // the socket is gone
            }
            reply(welcome(services, id))
        }
        message @ (ClientMessage::Register(_)
        | ClientMessage::Pair(_)
        | ClientMessage::PairCode
        | ClientMessage::Devices
        | ClientMessage::Revoke(_)) => {
            let asker = Asker {
                id,
                connection: session.connection,
                client: session.client,
                now_ms,
            };
            Some(crate::enroll::manage(services, &asker, fid, message).await?)
        }
        ClientMessage::Ping(ping) => reply(ServerMessage::Pong(Pong {
            t: ping.t,
            server_time: now_ms,
        })),
        ClientMessage::Subscribe(e) => {
            subscribe(services, session, &fid, e.events, true, now_ms).await?
        }
        ClientMessage::Unsubscribe(e) => {
            subscribe(services, session, &fid, e.events, false, now_ms).await?
        }
        ClientMessage::Publish(p) => {
            if let Some(refused) = refuse_names(&fid, [&p.event]) {
                return Ok(Some(refused));
            }
            let first = publish(services, session, &fid, p.event, p.data, now_ms);
            once(services, session, &fid, now_ms, first).await?
        }
        ClientMessage::Reply(r) => {
            if let Some(refused) = refuse_names(&fid, [&r.event]) {
                return Ok(Some(refused));
            }
            let first = reply_to_publisher(services, session, &fid, r, now_ms);
            once(services, session, &fid, now_ms, first).await?
        }
        ClientMessage::RequestUpload(request) => {
            match services
                .uploads
                .issue(&request, services.config.max_upload_bytes)
                .await
            {
                Ok(url) => reply(ServerMessage::UploadUrl(url)),
                Err(crate::uploads::UploadError::Invalid(why)) => bad(&fid, why),
                Err(e) => {
                    tracing::error!(connection = id, "{e}");
                    Some(ServerFrame::error(
                        Some(fid),
                        ErrorCode::Internal,
                        "the service could not issue an upload URL; retry",
                    ))
                }
            }
        }
        other => Some(ServerFrame::error(
            Some(fid),
            ErrorCode::UnknownAction,
            format!("action '{}' is not served here", other.action()),
        )),
    })
}

/// Runs `first` (the handling of a `publish` or `reply`) only if this is the frame's first
/// copy; a repeat gets the first copy's answer instead.
async fn once(
    services: &Services,
    session: &Session<'_>,
    fid: &str,
    now_ms: u64,
    first: impl Future<Output = Result<Option<ServerFrame>, StoreError>>,
) -> Result<Option<ServerFrame>, StoreError> {
    let store = &services.store;
    let tenant = session.tenant;
    let mut claim = store.claim_frame(tenant, fid, session.id, now_ms).await?;
    let started = tokio::time::Instant::now();
    loop {
        let remembered = match claim {
            Claim::First => break,
            Claim::Repeat(remembered) => remembered,
        };
        if let Some(answer) = &remembered.answer {
            return repeat(services, session, fid, &remembered, answer).await;
        }
        if started.elapsed() >= REPEAT_WAIT {
            tracing::warn!(
                connection = session.id,
                "a repeat found its first copy unanswered"
            );
            return Ok(Some(ServerFrame::error(
                Some(fid.to_owned()),
                ErrorCode::Internal,
                "this frame's first copy is still being handled; send it again",
            )));
        }
        tokio::time::sleep(REPEAT_POLL).await;
        claim = match store.frame(tenant, fid, now_ms).await? {
            Some(remembered) => Claim::Repeat(remembered),
            // Refused, so forgotten: this copy is judged afresh.
            None => store.claim_frame(tenant, fid, session.id, now_ms).await?,
        };
    }
    let answer = match first.await {
        Ok(answer) => answer,
        Err(e) => {
            if let Err(released) = store.release_frame(tenant, fid).await {
                tracing::error!(connection = session.id, "{released}");
            }
            return Err(e);
        }
    };
    match answer.as_ref().map(|f| &f.message) {
        Some(ServerMessage::Ack(ack)) => {
            store
                .answer_frame(tenant, fid, &answer_text(&answer), ack.id.as_deref())
                .await?;
        }
        // Refused, or the socket is gone: nothing happened, so nothing is remembered.
        _ => store.release_frame(tenant, fid).await?,
    }
    Ok(answer)
}

fn answer_text(answer: &Option<ServerFrame>) -> String {
    answer
        .as_ref()
        .map(ServerFrame::to_json)
        .unwrap_or_default()
}

/// The stored first answer to a repeated frame; a publish repeated on another connection
/// gets the replies to its event there from now on.
async fn repeat(
    services: &Services,
    session: &Session<'_>,
    fid: &str,
    remembered: &Remembered,
    answer: &str,
) -> Result<Option<ServerFrame>, StoreError> {
    if let Some(event) = &remembered.event_id {
        if remembered.connection != session.id {
            services
                .store
                .rebind(session.tenant, fid, event, session.id)
                .await?;
        }
    }
    match ServerFrame::parse(answer) {
        Ok(frame) => Ok(Some(frame)),
        Err(e) => {
            tracing::error!(
                connection = session.id,
                "a stored answer does not parse: {e}"
            );
            Ok(Some(ServerFrame::error(
                Some(fid.to_owned()),
                ErrorCode::Internal,
                "the service failed; retry",
            )))
        }
    }
}

/// The `welcome` of the service to connection `id`.
pub(crate) fn welcome(services: &Services, id: &str) -> ServerMessage {
    ServerMessage::Welcome(Welcome {
        connection_id: id.to_owned(),
        server: http_routes::signature(&services.config),
        heartbeat_secs: HEARTBEAT_SECS,
    })
}

async fn subscribe(
    services: &Services,
    session: &Session<'_>,
    fid: &str,
    names: Vec<String>,
    on: bool,
    now_ms: u64,
) -> Result<Option<ServerFrame>, StoreError> {
    let known = &session.connection.events;
    if let Err(refused) = subscriptions_after(fid, known, &names, on) {
        return Ok(Some(*refused));
    }
    let names: BTreeSet<String> = names.into_iter().collect();
    let now = if names.is_empty() {
        known.clone()
    } else {
        let changed = services
            .store
            .change_events(
                session.id,
                session.tenant,
                session.connection.role,
                &names,
                on,
                now_ms,
            )
            .await?;
        match changed {
            Some(now) => now,
            None => return Ok(None), // the socket is gone
        }
    };
    Ok(ack(
        fid,
        Ack {
            action: if on { "subscribe" } else { "unsubscribe" }.to_owned(),
            events: Some(now.into_iter().collect()),
            id: None,
            delivered: None,
            held: false,
        },
    ))
}

async fn publish(
    services: &Services,
    session: &Session<'_>,
    fid: &str,
    event: String,
    data: serde_json::Value,
    now_ms: u64,
) -> Result<Option<ServerFrame>, StoreError> {
    let id = session.id;
    let subscribers: Vec<(String, Option<Role>)> = services
        .store
        .subscribers(session.tenant, &event)
        .await?
        .into_iter()
        .filter(|(c, _)| c != id)
        .collect();
    let needs_extension = needs_extension(&event);
    let no_extension = || Some(rules::no_extension(fid, &event));
    let taken = subscribers
        .iter()
        .any(|(_, role)| takes_extension_events(*role));
    if needs_extension && !taken {
        return Ok(no_extension());
    }
    let targets: Vec<String> = subscribers.into_iter().map(|(c, _)| c).collect();
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let publisher = Publisher {
        connection_id: id.to_owned(),
        frame_id: fid.to_owned(),
        tenant: session.tenant.to_owned(),
    };
    services
        .store
        .put_publisher(&event_id, &publisher, now_ms)
        .await?;
    let text = ServerFrame::reply(
        None,
        ServerMessage::Event(EventPayload {
            event: event.clone(),
            id: event_id.clone(),
            from: id.to_owned(),
            data,
            in_reply_to: None,
        }),
    )
    .to_json();
    let subscription = Some((session.tenant, event.as_str()));
    let delivered = deliver(services, &targets, &text, subscription).await;
    if delivered == 0 && needs_extension {
        // Every extension it went to was gone (410) or failed: nobody will answer.
        return Ok(no_extension());
    }
    Ok(ack(
        fid,
        Ack {
            action: "publish".to_owned(),
            events: None,
            id: Some(event_id),
            delivered: Some(delivered),
            held: false,
        },
    ))
}

async fn reply_to_publisher(
    services: &Services,
    session: &Session<'_>,
    fid: &str,
    r: semantest_protocol::Reply,
    now_ms: u64,
) -> Result<Option<ServerFrame>, StoreError> {
    let id = session.id;
    let publisher = services.store.publisher(&r.to, now_ms).await?;
    // An event of another key's connections is as unknown as one that never was.
    let Some(publisher) = publisher.filter(|p| p.tenant == session.tenant) else {
        return Ok(bad(
            fid,
            format!(
                "no event '{}' to reply to (unknown, or older than 10 minutes)",
                shorten(&r.to, 64)
            ),
        ));
    };
    let text = ServerFrame::reply(
        Some(publisher.frame_id),
        ServerMessage::Event(EventPayload {
            event: r.event,
            id: uuid::Uuid::new_v4().simple().to_string(),
            from: id.to_owned(),
            data: r.data,
            in_reply_to: Some(r.to),
        }),
    )
    .to_json();
    let delivered = deliver(services, &[publisher.connection_id], &text, None).await;
    Ok(ack(
        fid,
        Ack {
            action: "reply".to_owned(),
            events: None,
            id: None,
            delivered: Some(delivered),
            held: false,
        },
    ))
}

/// Sends `text` to each of `targets` (a few at a time), prunes those that are gone (and their
/// item under `subscription`, the tenant and event it was found by), and says how many got it.
async fn deliver(
    services: &Services,
    targets: &[String],
    text: &str,
    subscription: Option<(&str, &str)>,
) -> usize {
    let results: Vec<(String, Delivery)> = stream::iter(targets.iter().cloned())
        .map(|target| async move {
            let d = services.push.post(&target, text).await;
            (target, d)
        })
        .buffer_unordered(FAN_OUT)
        .collect()
        .await;
    let mut delivered = 0;
    for (target, d) in results {
        match d {
            Delivery::Delivered => delivered += 1,
            Delivery::Gone => {
                tracing::info!(connection = %target, "gone (410); removing it");
                if let Err(e) = services.store.remove_connection(&target).await {
                    tracing::error!(connection = %target, "{e}");
                }
                if let Some((tenant, event)) = subscription {
                    if let Err(e) = services
                        .store
                        .remove_subscription(tenant, event, &target)
                        .await
                    {
                        tracing::error!(connection = %target, "{e}");
                    }
                }
            }
            Delivery::Failed(why) => tracing::warn!(connection = %target, "not delivered: {why}"),
        }
    }
    delivered
}
