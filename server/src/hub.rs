//! The hub: who is connected, who subscribes to what, and where events and replies go.
//!
//! - `publish` delivers an `event {event, id, from, data}` to every other connection subscribed
//!   to that name and answers the publisher with `ack {id, delivered}`.
//! - An event in [`EXTENSION_EVENTS`] that no extension subscribes to is **held**: at most
//!   [`crate::Config::hold_max_events`] of them, each for [`crate::Config::hold_secs`]. When an
//!   extension subscribes, the held events go to it; when the time runs out, the publisher gets
//!   `error no_extension`. When the hold is full, the publisher gets `no_extension` at once.
//!   Nothing is dropped in silence.
//! - `reply {to}` goes to the connection that published `to` only, as an `event` with
//!   `inReplyTo` and the publisher's frame id as `replyTo`.
//! - Each connection has a bounded queue; a subscriber whose queue is full does not get the
//!   event, and the publisher's `delivered` count says so.
//! - **Repeats.** The client core sends a frame again, with the same id, when its socket died
//!   before the answer came. The hub remembers the ack of every `publish` and `reply` by
//!   `(client, frame id)` for [`DEDUPE_WINDOW_SECS`] (at most [`MAX_REMEMBERED`] of them,
//!   the oldest forgotten first; see `dedupe`), and answers a repeat with that ack — same event
//!   id, same `delivered`, `held` again for a held event — without delivering or holding
//!   anything again. The client is the `clientId` of the connection's `hello` (the connection
//!   id before one); the CLI's clientId is the same for every run, which is fine because frame
//!   ids carry a random per-run part. A repeat on a new connection of that client (the old
//!   socket died) moves the route of replies to the event, and a held event's expiry notice,
//!   to the new connection. Errors are not remembered: a refused frame had no effect, so its
//!   repeat is judged afresh; so is a held event's once its hold expired undelivered.
//!
//! All of it is synchronous under one lock; the socket loops do the sending.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use semantest_protocol::rules::{
    needs_extension, refuse_names, subscriptions_after, takes_extension_events,
};
use semantest_protocol::{
    dedupe_key, shorten, Ack, ErrorCode, EventPayload, Role, ServerFrame, ServerMessage,
    DEDUPE_WINDOW_SECS,
};
use serde_json::Value;

use crate::dedupe::{Answers, Key, MAX_REMEMBERED};
use crate::inbox::Postbox;

/// How many published event ids are remembered for routing replies.
const REMEMBERED: usize = 4096;
/// What the hub hands a connection's socket loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Push {
    /// A frame to send.
    Text(String),
    /// Close the socket with 1008 and this reason (its device was revoked).
    Close(&'static str),
}

struct Peer {
    /// Its socket's inbox (at most [`crate::inbox::QUEUE`] frames wait).
    inbox: Postbox,
    role: Option<Role>,
    /// The `clientId` of its `hello`: who a repeated frame id belongs to.
    client: Option<String>,
    /// The paired device it authenticated as, if any.
    device: Option<String>,
    subscriptions: BTreeSet<String>,
}

impl Peer {
    fn push(&self, text: String) -> bool {
        self.inbox.push(Push::Text(text))
    }
}

struct Held {
    id: String,
    event: String,
    from: String,
    data: Value,
    frame_id: String,
    /// Its publish frame's remembered ack, forgotten if the hold expires.
    key: Key,
    until: Instant,
}

struct State {
    peers: HashMap<String, Peer>,
    /// event id → (publisher connection, publish frame id), oldest first in `order`.
    publishers: HashMap<String, (String, String)>,
    order: VecDeque<String>,
    held: Vec<Held>,
    next_event: u64,
    /// The acks of `publish` and `reply` frames, for their repeats.
    answers: Answers,
}

impl State {
    /// The key of `frame_id` from `connection`: its client's, or its own before a `hello`.
    fn key(&self, connection: &str, frame_id: &str) -> Key {
        let client = self
            .peers
            .get(connection)
            .and_then(|p| p.client.as_deref())
            .unwrap_or(connection);
        dedupe_key(client, frame_id)
    }

    /// The remembered ack of a repeated frame; for a publish, replies to its event (and the
    /// notice of a held one's expiry) go to `connection` from now on.
    fn repeat(&mut self, key: &Key, connection: &str, now: Instant) -> Option<Ack> {
        let ack = self.answers.get(key, now)?;
        if let Some(event) = ack.id.as_deref() {
            if let Some((publisher, _)) = self.publishers.get_mut(event) {
                connection.clone_into(publisher);
            }
            for h in self.held.iter_mut().filter(|h| h.id == event) {
                connection.clone_into(&mut h.from);
            }
        }
        Some(ack)
    }
}

/// Where a frame came from, and when.
#[derive(Clone, Copy)]
struct Origin<'a> {
    connection: &'a str,
    frame_id: &'a str,
    key: Key,
    now: Instant,
}

/// The routing table of one server.
pub(crate) struct Hub {
    state: Mutex<State>,
    hold_max: usize,
    hold_for: Duration,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("hold_max", &self.hold_max)
            .finish_non_exhaustive()
    }
}

fn event_frame(reply_to: Option<String>, payload: EventPayload) -> String {
    ServerFrame::reply(reply_to, ServerMessage::Event(payload)).to_json()
}

fn ack(reply_to: &str, ack: Ack) -> ServerFrame {
    ServerFrame::reply(Some(reply_to.to_owned()), ServerMessage::Ack(ack))
}

fn bad(reply_to: &str, message: String) -> ServerFrame {
    ServerFrame::error(Some(reply_to.to_owned()), ErrorCode::BadPayload, message)
}

impl Hub {
    pub(crate) fn new(hold_max: usize, hold_for: Duration) -> Hub {
        let state = State {
            peers: HashMap::new(),
            publishers: HashMap::new(),
            order: VecDeque::new(),
            held: Vec::new(),
            next_event: 0,
            answers: Answers::new(Duration::from_secs(DEDUPE_WINDOW_SECS), MAX_REMEMBERED),
        };
        Hub {
            state: Mutex::new(state),
            hold_max,
            hold_for,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection (of paired `device`, if it is one); frames for it go to `inbox`.
    pub(crate) fn join(&self, connection: &str, device: Option<String>, inbox: Postbox) {
        let peer = Peer {
            inbox,
            role: None,
            client: None,
            device,
            subscriptions: BTreeSet::new(),
        };
        self.lock().peers.insert(connection.to_owned(), peer);
    }

    /// Forgets a connection (its subscriptions go with it).
    pub(crate) fn leave(&self, connection: &str) {
        self.lock().peers.remove(connection);
    }

    /// Records the role and client id from `hello`; an extension may now receive held events.
    pub(crate) fn set_role(&self, connection: &str, role: Role, client_id: &str) {
        let mut state = self.lock();
        if let Some(peer) = state.peers.get_mut(connection) {
            peer.role = Some(role);
            peer.client = Some(client_id.to_owned());
        }
        release_held(&mut state);
    }

    /// `subscribe` (or `unsubscribe` when `on` is false).
    pub(crate) fn subscribe(
        &self,
        connection: &str,
        frame_id: &str,
        events: Vec<String>,
        on: bool,
    ) -> ServerFrame {
        let action = if on { "subscribe" } else { "unsubscribe" };
        let mut state = self.lock();
        let Some(peer) = state.peers.get_mut(connection) else {
            return bad(frame_id, "connection is not registered".into());
        };
        match subscriptions_after(frame_id, &peer.subscriptions, &events, on) {
            Ok(after) => peer.subscriptions = after,
            Err(refused) => return *refused,
        }
        let now: Vec<String> = peer.subscriptions.iter().cloned().collect();
        if on {
            release_held(&mut state);
        }
        ack(
            frame_id,
            Ack {
                action: action.into(),
                events: Some(now),
                id: None,
                delivered: None,
                held: false,
            },
        )
    }

    /// `publish`: deliver to subscribers, hold for an extension, or refuse; a repeat gets the
    /// first ack.
    pub(crate) fn publish(
        &self,
        connection: &str,
        frame_id: &str,
        event: String,
        data: Value,
    ) -> ServerFrame {
        if let Some(refused) = refuse_names(frame_id, std::slice::from_ref(&event)) {
            return refused;
        }
        let now = Instant::now();
        let mut state = self.lock();
        let key = state.key(connection, frame_id);
        let origin = Origin {
            connection,
            frame_id,
            key,
            now,
        };
        let a = match state.repeat(&key, connection, now) {
            Some(first) => first,
            None => match self.publish_new(&mut state, &origin, event, data) {
                Ok(a) => {
                    state.answers.remember(key, &a, now);
                    a
                }
                Err(refused) => return *refused,
            },
        };
        ack(frame_id, a)
    }

    /// A publish seen for the first time: its ack, or the error refusing it.
    fn publish_new(
        &self,
        state: &mut State,
        origin: &Origin<'_>,
        event: String,
        data: Value,
    ) -> Result<Ack, Box<ServerFrame>> {
        let Origin {
            connection,
            frame_id,
            key,
            now,
        } = *origin;
        state.next_event += 1;
        let id = format!("{connection}.e{}", state.next_event);
        remember(state, &id, connection, frame_id);
        let extension_listens = state.peers.iter().any(|(c, p)| {
            c != connection && takes_extension_events(p.role) && p.subscriptions.contains(&event)
        });
        if needs_extension(&event) && !extension_listens {
            if state.held.len() >= self.hold_max {
                return Err(Box::new(ServerFrame::error(
                    Some(frame_id.to_owned()),
                    ErrorCode::NoExtension,
                    format!(
                        "no extension is connected, and {} requests already wait for one",
                        self.hold_max
                    ),
                )));
            }
            state.held.push(Held {
                id: id.clone(),
                event,
                from: connection.to_owned(),
                data,
                frame_id: frame_id.to_owned(),
                key,
                until: now + self.hold_for,
            });
            return Ok(Ack {
                action: "publish".into(),
                events: None,
                id: Some(id),
                delivered: Some(0),
                held: true,
            });
        }
        let text = event_frame(
            None,
            EventPayload {
                event: event.clone(),
                id: id.clone(),
                from: connection.to_owned(),
                data,
                in_reply_to: None,
            },
        );
        let delivered = state
            .peers
            .iter()
            .filter(|(c, p)| c.as_str() != connection && p.subscriptions.contains(&event))
            .filter(|(c, p)| {
                let sent = p.push(text.clone());
                if !sent {
                    tracing::warn!(connection = %c, %event, "subscriber queue full; event not delivered to it");
                }
                sent
            })
            .count();
        Ok(Ack {
            action: "publish".into(),
            events: None,
            id: Some(id),
            delivered: Some(delivered),
            held: false,
        })
    }

    /// `reply`: to the publisher of `to` only; a repeat gets the first ack.
    pub(crate) fn reply(
        &self,
        connection: &str,
        frame_id: &str,
        to: String,
        event: String,
        data: Value,
    ) -> ServerFrame {
        if let Some(refused) = refuse_names(frame_id, std::slice::from_ref(&event)) {
            return refused;
        }
        let now = Instant::now();
        let mut state = self.lock();
        let key = state.key(connection, frame_id);
        if let Some(first) = state.repeat(&key, connection, now) {
            return ack(frame_id, first);
        }
        let Some((publisher, publish_frame)) = state.publishers.get(&to).cloned() else {
            let to = shorten(&to, 64);
            return bad(
                frame_id,
                format!("no event '{to}' is waiting for a reply (unknown, or too old)"),
            );
        };
        state.next_event += 1;
        let id = format!("{connection}.e{}", state.next_event);
        let text = event_frame(
            Some(publish_frame),
            EventPayload {
                event,
                id,
                from: connection.to_owned(),
                data,
                in_reply_to: Some(to),
            },
        );
        let delivered = state.peers.get(&publisher).is_some_and(|p| p.push(text));
        if !delivered {
            return ServerFrame::error(
                Some(frame_id.to_owned()),
                ErrorCode::BadPayload,
                "the publisher of that event is gone or not reading".to_owned(),
            );
        }
        let a = Ack {
            action: "reply".into(),
            events: None,
            id: None,
            delivered: Some(1),
            held: false,
        };
        state.answers.remember(key, &a, now);
        ack(frame_id, a)
    }

    /// Answers every held event whose time ran out with `no_extension`. Called periodically.
    pub(crate) fn expire(&self, now: Instant) {
        let mut state = self.lock();
        let (expired, kept): (Vec<Held>, Vec<Held>) = std::mem::take(&mut state.held)
            .into_iter()
            .partition(|h| h.until <= now);
        state.held = kept;
        for h in expired {
            // Never delivered: a repeat of its publish is a new request.
            state.answers.forget(&h.key);
            let secs = self.hold_for.as_secs_f32();
            let frame = ServerFrame::error(
                Some(h.frame_id),
                ErrorCode::NoExtension,
                format!("no extension took '{}' within {secs} s; is the Semantest extension open in Chrome?", h.event),
            );
            if let Some(p) = state.peers.get(&h.from) {
                p.push(frame.to_json());
            }
        }
    }

    /// How many events wait for an extension.
    pub(crate) fn held(&self) -> usize {
        self.lock().held.len()
    }

    /// Closes every socket of `device` with `reason`; how many there were.
    pub(crate) fn close_device(&self, device: &str, reason: &'static str) -> usize {
        let state = self.lock();
        state
            .peers
            .values()
            .filter(|p| p.device.as_deref() == Some(device))
            .filter(|p| p.inbox.push(Push::Close(reason)))
            .count()
    }

    /// Whether nothing is left in this hub at `now`: no connection, no held event, no
    /// remembered answer a repeat could still need.
    pub(crate) fn settled(&self, now: Instant) -> bool {
        let mut state = self.lock();
        state.peers.is_empty() && state.held.is_empty() && state.answers.settled(now)
    }
}

/// Sends held events to an extension that now subscribes to them.
fn release_held(state: &mut State) {
    let held = std::mem::take(&mut state.held);
    for h in held {
        let taker = state.peers.iter().find(|(c, p)| {
            **c != h.from && takes_extension_events(p.role) && p.subscriptions.contains(&h.event)
        });
        match taker {
            Some((_, p)) => {
                let text = event_frame(
                    None,
                    EventPayload {
                        event: h.event.clone(),
                        id: h.id.clone(),
                        from: h.from.clone(),
                        data: h.data.clone(),
                        in_reply_to: None,
                    },
                );
                if !p.push(text) {
                    state.held.push(h);
                }
            }
            None => state.held.push(h),
        }
    }
}

fn remember(state: &mut State, id: &str, connection: &str, frame_id: &str) {
    state
        .publishers
        .insert(id.to_owned(), (connection.to_owned(), frame_id.to_owned()));
    state.order.push_back(id.to_owned());
    while state.order.len() > REMEMBERED {
        if let Some(old) = state.order.pop_front() {
            state.publishers.remove(&old);
        }
    }
}
