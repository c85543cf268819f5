//! [`Connection`]: the connection core driven by tokio. One task owns the machine; probes,
//! sockets and timers are tasks of their own that report back as events. Everything the
//! machine decides, the browser's client decides the same way: only the I/O differs.
//!
//! # Queues
//! Every queue is bounded, so a fast peer or a busy caller cannot grow memory without limit:
//!
//! | queue | capacity | who waits when it is full |
//! |---|---|---|
//! | callers → runner ([`Connection::send`], `request`, `subscribe`) | [`INPUT_QUEUE`] | the caller |
//! | probes and sockets → runner | [`EVENT_QUEUE`] | the task, so a socket stops reading and TCP pushes back on the peer |
//! | timers → runner | [`TIMER_QUEUE`] | the timer task |
//! | runner → each socket | the outbox capacity + [`CONTROL_FRAMES`] | nobody: see below |
//! | runner → [`Connection::messages`] | [`MESSAGE_BUFFER`] | nobody: a receiver that falls behind misses the oldest (`Lagged`) |
//!
//! The runner drains the first three and never waits on a queue itself, so nothing can wait
//! in a circle. It hands frames to a socket with `try_send`: every frame it sends is either
//! unanswered (so the machine's outbox, at most `outbox_capacity`, holds it) or one of a few
//! control frames (`hello`, `subscribe`, a ping), so a socket's queue is full only when the
//! socket has stopped writing. Such a socket is stuck: the runner aborts it and tells the
//! machine it closed (1006), which puts the frames back in the outbox for the next socket.

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use semantest_connect::{
    Command, Credentials, Event, Machine, ProbeId, RequestError, SendError, Settings, SocketId,
    Status, Timer,
};
use semantest_protocol::ServerFrame;
use serde_json::Value;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::probe::probe;
use crate::socket::{self, Outgoing};

/// How many calls ([`Connection::send`], `request`, `subscribe`) may wait for the runner.
pub const INPUT_QUEUE: usize = 64;
/// How many probe and socket reports may wait for the runner.
pub const EVENT_QUEUE: usize = 256;
/// How many timer fires may wait for the runner (there are only a few kinds of timer).
pub const TIMER_QUEUE: usize = 16;
/// Room in a socket's queue beyond the outbox capacity, for frames the outbox does not track
/// (`hello`, `subscribe`, pings).
pub const CONTROL_FRAMES: usize = 64;
/// How many server frames a [`Connection::messages`] receiver may fall behind before it
/// misses the oldest.
pub const MESSAGE_BUFFER: usize = 1024;

/// Why a call on a [`Connection`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The machine refused the frame (outbox full, empty action).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The frame will get no answer: the machine's reason (`timeout`, `closed`, …).
    #[error(transparent)]
    Failed(#[from] RequestError),
    /// The answer is not a server frame of protocol v1.
    #[error("the answer is not a valid server frame: {0}")]
    BadAnswer(String),
    /// The connection has been closed.
    #[error("the connection is closed")]
    Closed,
}

/// The server's answer to [`Connection::request`] (an `error` frame is an answer too).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The frame, parsed.
    pub frame: ServerFrame,
    /// The frame as it came.
    pub text: String,
}

enum Input {
    Send {
        action: String,
        payload: Value,
        reply: oneshot::Sender<Result<String, SendError>>,
    },
    Request {
        action: String,
        payload: Value,
        timeout_ms: u64,
        answer: oneshot::Sender<Result<String, ConnectionError>>,
    },
    Subscribe(Vec<String>),
    Close,
}

/// A running connection: local first with a remote fallback, as its settings say.
pub struct Connection {
    inputs: mpsc::Sender<Input>,
    status: watch::Receiver<Status>,
    messages: broadcast::Sender<String>,
    credentials: watch::Receiver<Option<Credentials>>,
}

/// The machine's clock: monotonic milliseconds since the first reading in this process,
/// from 1 (so 0 is never a time). Deadlines do not move when the wall clock is set.
fn now() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    ms(start.elapsed()).saturating_add(1)
}

/// Milliseconds since the epoch, for people.
fn wall_now() -> u64 {
    ms(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `status` as people see it: its `since` and `next_retry_at`, which are times of the
/// machine's clock, turned into wall-clock ms, with `mono` and `wall` the two clocks read at
/// the same moment.
fn for_people(status: Status, mono: u64, wall: u64) -> Status {
    let wall_of = |t: u64| wall.saturating_add(t).saturating_sub(mono);
    Status {
        since: wall_of(status.since),
        next_retry_at: status.next_retry_at.map(wall_of),
        ..status
    }
}

/// [`for_people`] now.
fn publish(status: Status) -> Status {
    for_people(status, now(), wall_now())
}

impl Connection {
    /// Starts connecting with `settings` (on the current tokio runtime).
    pub fn start(settings: Settings) -> Connection {
        let machine = Machine::new(settings, fastrand::u64(..));
        let (status_tx, status) = watch::channel(publish(machine.status(now())));
        let (messages, _) = broadcast::channel(MESSAGE_BUFFER);
        let (credentials_tx, credentials) = watch::channel(None);
        let (inputs, input_rx) = mpsc::channel(INPUT_QUEUE);
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (fired_tx, fired_rx) = mpsc::channel(TIMER_QUEUE);
        let mut runner = Runner {
            machine,
            sockets: HashMap::new(),
            probes: HashMap::new(),
            timers: HashMap::new(),
            answers: HashMap::new(),
            later: VecDeque::new(),
            events: events_tx,
            status: status_tx,
            messages: messages.clone(),
            credentials: credentials_tx,
            http: crate::tls::client(crate::tls::webpki_roots())
                .build()
                .expect("a client with a built rustls config builds"),
            fired: fired_tx,
        };
        // Started before anyone can look: the first status a caller sees is "connecting".
        runner.handle(Event::Start);
        tokio::spawn(runner.run(input_rx, events_rx, fired_rx));
        Connection {
            inputs,
            status,
            messages,
            credentials,
        }
    }

    /// The token the server issued on this connection (`semantest pair`), once it did.
    pub fn credentials(&self) -> Option<Credentials> {
        self.credentials.borrow().clone()
    }

    /// The latest status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Waits, at most `limit`, for a status that satisfies `ok`.
    pub async fn wait_for(
        &mut self,
        limit: Duration,
        ok: impl FnMut(&Status) -> bool,
    ) -> Option<Status> {
        match tokio::time::timeout(limit, self.status.wait_for(ok)).await {
            Ok(Ok(status)) => Some(status.clone()),
            _ => None,
        }
    }

    /// Every server frame from now on (raw JSON text). A receiver more than
    /// [`MESSAGE_BUFFER`] frames behind misses the oldest (`RecvError::Lagged`).
    pub fn messages(&self) -> broadcast::Receiver<String> {
        self.messages.subscribe()
    }

    /// Sends `action` with `payload` (queued while disconnected); returns the frame id.
    /// Waits while [`INPUT_QUEUE`] calls are waiting already.
    pub async fn send(&self, action: &str, payload: Value) -> Result<String, ConnectionError> {
        let (reply, answer) = oneshot::channel();
        self.input(Input::Send {
            action: action.to_owned(),
            payload,
            reply,
        })
        .await?;
        Ok(answer.await.map_err(|_| ConnectionError::Closed)??)
    }

    /// Sends `action` with `payload` (queued while disconnected, sent again after a
    /// reconnect) and waits for the server's answer: the first frame that answers it, at most
    /// `timeout` (the machine's limit; then [`ConnectionError::Failed`] with `timeout`).
    /// [`ConnectionError::Closed`] when the connection closes first.
    pub async fn request(
        &self,
        action: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<Answer, ConnectionError> {
        let (answer, answered) = oneshot::channel();
        self.input(Input::Request {
            action: action.to_owned(),
            payload,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            answer,
        })
        .await?;
        let text = answered.await.map_err(|_| ConnectionError::Closed)??;
        let frame =
            ServerFrame::parse(&text).map_err(|e| ConnectionError::BadAnswer(e.to_string()))?;
        Ok(Answer { frame, text })
    }

    /// Listens to `events` now and after every reconnect.
    pub async fn subscribe(&self, events: Vec<String>) -> Result<(), ConnectionError> {
        self.input(Input::Subscribe(events)).await
    }

    async fn input(&self, input: Input) -> Result<(), ConnectionError> {
        self.inputs
            .send(input)
            .await
            .map_err(|_| ConnectionError::Closed)
    }

    /// Closes every socket and waits (at most 2 s) for the driver to finish. Calls still
    /// waiting fail with `closed`; later calls with [`ConnectionError::Closed`].
    pub async fn close(&self) {
        let mut status = self.status.clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = self.inputs.send(Input::Close).await;
            // The runner's end of the status goes when it has finished.
            while status.changed().await.is_ok() {}
        })
        .await;
    }
}

/// A socket's task and its queue.
struct SocketTask {
    outgoing: mpsc::Sender<Outgoing>,
    task: JoinHandle<()>,
    /// Whether it reported open; before that it is still connecting.
    open: bool,
}

/// The task that owns the machine and every live resource.
struct Runner {
    machine: Machine,
    sockets: HashMap<SocketId, SocketTask>,
    probes: HashMap<ProbeId, JoinHandle<()>>,
    /// The latest task of each timer (one per kind, so a few): aborted when the timer is set
    /// again or cancelled. A fire that got out before that, and so a fire at all, is the
    /// machine's to judge: it ignores a cancelled timer's and asks again for an early one.
    timers: HashMap<Timer, JoinHandle<()>>,
    /// Callers of [`Connection::request`] waiting for [`Command::Answer`] / [`Command::Fail`].
    answers: HashMap<String, oneshot::Sender<Result<String, ConnectionError>>>,
    /// Events the runner itself found (a stuck socket), fed after the current batch.
    later: VecDeque<Event>,
    events: mpsc::Sender<Event>,
    status: watch::Sender<Status>,
    messages: broadcast::Sender<String>,
    credentials: watch::Sender<Option<Credentials>>,
    http: reqwest::Client,
    /// Where timer tasks report that they ran out.
    fired: mpsc::Sender<Timer>,
}

impl Runner {
    async fn run(
        mut self,
        mut inputs: mpsc::Receiver<Input>,
        mut events: mpsc::Receiver<Event>,
        mut fired: mpsc::Receiver<Timer>,
    ) {
        loop {
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(Input::Send { action, payload, reply }) => {
                        let result = self.machine.send(now(), &action, payload).map(|(id, commands)| {
                            self.execute(commands);
                            id
                        });
                        let _ = reply.send(result);
                    }
                    Some(Input::Request { action, payload, timeout_ms, answer }) => {
                        match self.machine.request(now(), &action, payload, Some(timeout_ms)) {
                            Ok((id, commands)) => {
                                self.answers.insert(id, answer);
                                self.execute(commands);
                            }
                            Err(e) => drop(answer.send(Err(e.into()))),
                        }
                    }
                    Some(Input::Subscribe(events)) => {
                        let commands = self.machine.subscribe(now(), &events, true);
                        self.execute(commands);
                    }
                    Some(Input::Close) | None => break,
                },
                Some(event) = events.recv() => self.handle(event),
                Some(timer) = fired.recv() => self.handle(Event::TimerFired(timer)),
            }
        }
        self.handle(Event::Close);
        // Whoever still waits hears `Closed` when `answers` is dropped here.
    }

    fn handle(&mut self, event: Event) {
        let commands = self.feed(event);
        self.execute(commands);
    }

    /// The driver's bookkeeping for `event`, then the machine's decision.
    fn feed(&mut self, event: Event) -> Vec<Command> {
        match &event {
            Event::SocketOpened(id) => {
                if let Some(s) = self.sockets.get_mut(id) {
                    s.open = true;
                }
            }
            Event::SocketClosed { socket, .. } => drop(self.sockets.remove(socket)),
            Event::ProbeAnswered { probe, .. } | Event::ProbeFailed { probe, .. } => {
                drop(self.probes.remove(probe))
            }
            _ => {}
        }
        self.machine.handle(now(), event)
    }

    /// Runs `commands`, then feeds what they turned up (in order, after the whole batch, so
    /// the machine's batch runs as it was decided).
    fn execute(&mut self, commands: Vec<Command>) {
        self.run_commands(commands);
        while let Some(event) = self.later.pop_front() {
            let commands = self.feed(event);
            self.run_commands(commands);
        }
    }

    fn run_commands(&mut self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Probe { probe: id, url } => {
                    let (http, events) = (self.http.clone(), self.events.clone());
                    let task = tokio::spawn(async move {
                        let event = match probe(&http, &url).await {
                            Ok((status, body)) => Event::ProbeAnswered {
                                probe: id,
                                status,
                                body,
                            },
                            Err(error) => Event::ProbeFailed { probe: id, error },
                        };
                        let _ = events.send(event).await;
                    });
                    self.probes.insert(id, task);
                }
                Command::CancelProbe(id) => {
                    if let Some(task) = self.probes.remove(&id) {
                        task.abort();
                    }
                }
                Command::OpenSocket {
                    socket: id,
                    url,
                    token,
                } => {
                    let room = self.machine.settings().outbox_capacity + CONTROL_FRAMES;
                    let (outgoing, rx) = mpsc::channel(room);
                    let task = tokio::spawn(socket::run(id, url, token, rx, self.events.clone()));
                    let open = false;
                    self.sockets.insert(
                        id,
                        SocketTask {
                            outgoing,
                            task,
                            open,
                        },
                    );
                }
                Command::CloseSocket {
                    socket,
                    code,
                    reason,
                } => {
                    if let Some(s) = self.sockets.remove(&socket) {
                        // Still connecting: there is nobody to say goodbye to, and the
                        // handshake may never end (a server that accepts and never answers).
                        // Full: the socket is stuck and would never read the close.
                        if !s.open || s.outgoing.try_send(Outgoing::Close(code, reason)).is_err() {
                            s.task.abort();
                        } else {
                            // A task blocked writing to a peer that does not read never
                            // gets to the close: it ends after its grace all the same.
                            tokio::spawn(async move {
                                tokio::time::sleep(2 * socket::CLOSE_WAIT).await;
                                s.task.abort();
                            });
                        }
                    }
                }
                Command::Send { socket, text } => {
                    if let Some(s) = self.sockets.get(&socket) {
                        match s.outgoing.try_send(Outgoing::Text(text)) {
                            Ok(()) => {}
                            // The task ended; its own close report is on the way.
                            Err(TrySendError::Closed(_)) => {}
                            Err(TrySendError::Full(_)) => self.stuck(socket),
                        }
                    }
                }
                Command::SetTimer { timer, after_ms } => {
                    let fired = self.fired.clone();
                    let task = tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(after_ms)).await;
                        let _ = fired.send(timer).await;
                    });
                    if let Some(old) = self.timers.insert(timer, task) {
                        old.abort();
                    }
                }
                Command::CancelTimer(timer) => {
                    if let Some(task) = self.timers.remove(&timer) {
                        task.abort();
                    }
                }
                Command::Deliver(text) => {
                    let _ = self.messages.send(text);
                }
                Command::Answer { id, text } => {
                    if let Some(waiting) = self.answers.remove(&id) {
                        let _ = waiting.send(Ok(text));
                    }
                }
                Command::Fail { id, error } => {
                    if let Some(waiting) = self.answers.remove(&id) {
                        let _ = waiting.send(Err(error.into()));
                    }
                }
                Command::Status(status) => {
                    let _ = self.status.send(publish(status));
                }
                // The command that asked for it (`pair`) stores it; a tool never forgets one.
                Command::Credentials(Some(credentials)) => {
                    let _ = self.credentials.send(Some(credentials));
                }
                Command::Credentials(None) => {}
            }
        }
    }

    /// `socket` has not written what it was given (its queue is full): abort it and tell the
    /// machine it closed, so its frames go out again on the next socket.
    fn stuck(&mut self, socket: SocketId) {
        if let Some(s) = self.sockets.remove(&socket) {
            s.task.abort();
            let room = s.outgoing.max_capacity();
            self.later.push_back(Event::SocketClosed {
                socket,
                code: 1006,
                reason: format!("the socket did not write its frames ({room} were waiting)"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_shows_machine_times_as_wall_clock_times() {
        let mut status =
            Machine::new(Settings::resolve(&Default::default()).unwrap(), 1).status(1_000);
        status.since = 1_000;
        status.next_retry_at = Some(6_000);
        // The machine's clock reads 2 000 when the wall clock reads 1 700 000 000 000.
        let shown = for_people(status.clone(), 2_000, 1_700_000_000_000);
        assert_eq!(shown.since, 1_699_999_999_000);
        assert_eq!(shown.next_retry_at, Some(1_700_000_004_000));
        assert_eq!(
            Status {
                since: 1_000,
                next_retry_at: Some(6_000),
                ..shown
            },
            status
        );
        // A wall clock before the epoch (unset) cannot underflow.
        assert_eq!(for_people(status, 2_000, 0).since, 0);
    }

    #[test]
    fn the_machines_clock_is_monotonic_and_never_0() {
        let first = now();
        assert!(first >= 1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(now() >= first + 5);
    }
}
