//! [`Connection`]: the connection core driven by tokio. One task owns the machine; probes,
//! sockets and timers are tasks of their own that report back as events. Everything the
//! machine decides, the browser's client decides the same way: only the I/O differs.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use semantest_connect::{
    Command, Event, Machine, ProbeId, SendError, Settings, SocketId, Status, Timer,
};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::probe::probe;
use crate::socket::{self, Outgoing};

/// Why [`Connection::send`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The machine refused the frame (outbox full, empty action).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The connection has been closed.
    #[error("the connection is closed")]
    Closed,
}

enum Input {
    Send {
        action: String,
        payload: Value,
        reply: oneshot::Sender<Result<String, SendError>>,
    },
    Subscribe(Vec<String>),
    Close,
}

/// A running connection: local first with a remote fallback, as its settings say.
pub struct Connection {
    inputs: mpsc::UnboundedSender<Input>,
    status: watch::Receiver<Status>,
    messages: broadcast::Sender<String>,
    task: JoinHandle<()>,
}

fn now() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

impl Connection {
    /// Starts connecting with `settings` (on the current tokio runtime).
    pub fn start(settings: Settings) -> Connection {
        let machine = Machine::new(settings, fastrand::u64(..));
        let (status_tx, status) = watch::channel(machine.status(now()));
        let (messages, _) = broadcast::channel(1024);
        let (inputs, input_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (fired_tx, fired_rx) = mpsc::unbounded_channel();
        let mut runner = Runner {
            machine,
            sockets: HashMap::new(),
            probes: HashMap::new(),
            timers: HashMap::new(),
            generation: 0,
            events: events_tx,
            status: status_tx,
            messages: messages.clone(),
            http: reqwest::Client::new(),
            fired: fired_tx,
        };
        // Started before anyone can look: the first status a caller sees is "connecting".
        runner.handle(Event::Start);
        let task = tokio::spawn(runner.run(input_rx, events_rx, fired_rx));
        Connection {
            inputs,
            status,
            messages,
            task,
        }
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

    /// Every server frame from now on (raw JSON text).
    pub fn messages(&self) -> broadcast::Receiver<String> {
        self.messages.subscribe()
    }

    /// Sends `action` with `payload` (queued while disconnected); returns the frame id.
    pub async fn send(&self, action: &str, payload: Value) -> Result<String, ConnectionError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::Send {
                action: action.to_owned(),
                payload,
                reply,
            })
            .map_err(|_| ConnectionError::Closed)?;
        Ok(answer.await.map_err(|_| ConnectionError::Closed)??)
    }

    /// Listens to `events` now and after every reconnect.
    pub fn subscribe(&self, events: Vec<String>) -> Result<(), ConnectionError> {
        self.inputs
            .send(Input::Subscribe(events))
            .map_err(|_| ConnectionError::Closed)
    }

    /// Closes every socket and waits for the driver to finish.
    pub async fn close(self) {
        let _ = self.inputs.send(Input::Close);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

/// The task that owns the machine and every live resource.
struct Runner {
    machine: Machine,
    sockets: HashMap<SocketId, mpsc::UnboundedSender<Outgoing>>,
    probes: HashMap<ProbeId, JoinHandle<()>>,
    /// Armed timers: generation and task. A fire whose generation is not current is stale.
    timers: HashMap<Timer, (u64, JoinHandle<()>)>,
    generation: u64,
    events: mpsc::UnboundedSender<Event>,
    status: watch::Sender<Status>,
    messages: broadcast::Sender<String>,
    http: reqwest::Client,
    /// Where timer tasks report that they ran out: (timer, generation).
    fired: mpsc::UnboundedSender<(Timer, u64)>,
}

impl Runner {
    async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut fired: mpsc::UnboundedReceiver<(Timer, u64)>,
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
                    Some(Input::Subscribe(events)) => {
                        let commands = self.machine.subscribe(now(), &events, true);
                        self.execute(commands);
                    }
                    Some(Input::Close) | None => break,
                },
                Some(event) = events.recv() => self.handle(event),
                Some((timer, generation)) = fired.recv() => {
                    if self.timers.get(&timer).is_some_and(|(g, _)| *g == generation) {
                        self.timers.remove(&timer);
                        self.handle(Event::TimerFired(timer));
                    }
                }
            }
        }
        self.handle(Event::Close);
    }

    fn handle(&mut self, event: Event) {
        match &event {
            Event::SocketClosed { socket, .. } => drop(self.sockets.remove(socket)),
            Event::ProbeAnswered { probe, .. } | Event::ProbeFailed { probe, .. } => {
                drop(self.probes.remove(probe))
            }
            _ => {}
        }
        let commands = self.machine.handle(now(), event);
        self.execute(commands);
    }

    fn execute(&mut self, commands: Vec<Command>) {
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
                        let _ = events.send(event);
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
                    let (tx, rx) = mpsc::unbounded_channel();
                    tokio::spawn(socket::run(id, url, token, rx, self.events.clone()));
                    self.sockets.insert(id, tx);
                }
                Command::CloseSocket {
                    socket,
                    code,
                    reason,
                } => {
                    if let Some(tx) = self.sockets.remove(&socket) {
                        let _ = tx.send(Outgoing::Close(code, reason));
                    }
                }
                Command::Send { socket, text } => {
                    if let Some(tx) = self.sockets.get(&socket) {
                        let _ = tx.send(Outgoing::Text(text));
                    }
                }
                Command::SetTimer { timer, after_ms } => {
                    self.generation += 1;
                    let (generation, fired) = (self.generation, self.fired.clone());
                    let task = tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(after_ms)).await;
                        let _ = fired.send((timer, generation));
                    });
                    if let Some((_, old)) = self.timers.insert(timer, (generation, task)) {
                        old.abort();
                    }
                }
                Command::CancelTimer(timer) => {
                    if let Some((_, task)) = self.timers.remove(&timer) {
                        task.abort();
                    }
                }
                Command::Deliver(text) => {
                    let _ = self.messages.send(text);
                }
                // Not yet used by the CLI: its commands still match `replyTo` themselves.
                Command::Answer { .. } | Command::Fail { .. } => {}
                Command::Status(status) => {
                    let _ = self.status.send(status);
                }
            }
        }
    }
}
