//! A deterministic world for the machine: simulated time, a local and a remote server whose
//! behaviour the test sets, and a model of every socket, probe and timer the machine asked for.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use semantest_connect::{
    Command, Event, Machine, Mode, Overrides, ProbeError, ProbeId, Settings, SocketId, Status,
    Timer,
};
use semantest_protocol::{
    Ack, ClientFrame, ClientMessage, Pong, ServerFrame, ServerMessage, Signature, Welcome,
};

/// How the simulated local server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// Answers the probe with a good signature and accepts sockets.
    Up,
    /// Nothing listens: probes and sockets are refused at once.
    Refused,
    /// Accepts and never answers.
    Hung,
    /// Answers with another service's signature.
    WrongService,
    /// Answers with our service at version 2.0.0.
    Incompatible,
    /// `/signature` is a 404, `/semantest-signature` is good.
    OldPath,
}

pub const LOCAL_RTT: u64 = 5;
pub const REMOTE_RTT: u64 = 42;
pub const LOCAL_WS: &str = "ws://localhost:3003";
pub const REMOTE_WS: &str = "wss://api.extension.semantest.com";

pub struct Sim {
    pub m: Machine,
    pub now: u64,
    pub local: Local,
    pub remote_up: bool,
    /// Events the world will report, by due time (stable order within a time).
    queue: Vec<(u64, u64, Event)>,
    seq: u64,
    /// What the machine armed, from its commands.
    pub timers: BTreeMap<Timer, u64>,
    /// Sockets the machine asked for and has not closed: url, opened?
    pub sockets: BTreeMap<SocketId, (String, bool)>,
    /// Probes out: url.
    pub probes: BTreeMap<ProbeId, String>,
    pub statuses: Vec<(u64, Status)>,
    /// Every token the machine handed over (or forgot), with when.
    pub credentials: Vec<(u64, Option<semantest_connect::Credentials>)>,
    pub sent: Vec<(u64, SocketId, String)>,
    pub delivered: Vec<String>,
    /// Sockets whose server stopped answering (but keeps them open).
    pub hung: std::collections::BTreeSet<SocketId>,
    /// The signature the servers' welcome shows (a good one when `None`).
    pub welcome_as: Option<Signature>,
    /// The welcome's heartbeatSecs.
    pub heartbeat_secs: u64,
    /// The remote refuses the key: `error unauthorized` to the hello, then a 1008 close.
    pub refuse_key: bool,
    /// How the remote answers `register` (a fresh install with its token when `None`).
    pub register_answer: Option<ServerMessage>,
    /// How many installs the remote registered.
    pub registered: u32,
    /// The first answer to each tracked frame: (time, frame id, text).
    pub answers: Vec<(u64, String, String)>,
    /// Frames that failed: (time, frame id, why).
    pub failures: Vec<(u64, String, semantest_connect::RequestError)>,
    pub log: Vec<(u64, Command)>,
}

pub fn good_signature(version: &str, service: &str) -> Vec<u8> {
    format!(r#"{{"service":"{service}","version":"{version}","environment":"local","capabilities":["imageGeneration","imageDownload"]}}"#)
        .into_bytes()
}

impl Sim {
    pub fn new(local: Local, remote_up: bool) -> Sim {
        Sim::with(local, remote_up, Overrides::default())
    }

    pub fn with(local: Local, remote_up: bool, overrides: Overrides) -> Sim {
        let settings = Settings::resolve(&overrides).expect("valid test settings");
        Sim {
            m: Machine::new(settings, 42),
            now: 1_000_000,
            local,
            remote_up,
            queue: Vec::new(),
            seq: 0,
            timers: BTreeMap::new(),
            sockets: BTreeMap::new(),
            probes: BTreeMap::new(),
            statuses: Vec::new(),
            credentials: Vec::new(),
            sent: Vec::new(),
            delivered: Vec::new(),
            hung: Default::default(),
            welcome_as: None,
            heartbeat_secs: 20,
            refuse_key: false,
            register_answer: None,
            registered: 0,
            answers: Vec::new(),
            failures: Vec::new(),
            log: Vec::new(),
        }
    }

    pub fn start(&mut self) {
        self.event(Event::Start);
    }

    /// Feeds one event now and lets the world react to the commands.
    pub fn event(&mut self, e: Event) {
        let cmds = self.m.handle(self.now, e);
        self.apply(cmds);
    }

    pub fn send(&mut self, action: &str) -> Result<String, semantest_connect::SendError> {
        let (id, cmds) = self
            .m
            .send(self.now, action, serde_json::json!({"n": action}))?;
        self.apply(cmds);
        Ok(id)
    }

    fn schedule(&mut self, after: u64, e: Event) {
        self.seq += 1;
        self.queue.push((self.now + after, self.seq, e));
    }

    pub fn apply(&mut self, cmds: Vec<Command>) {
        for c in cmds {
            self.log.push((self.now, c.clone()));
            match c {
                Command::Probe { probe, url } => {
                    self.probes.insert(probe, url.clone());
                    self.answer_probe(probe, &url);
                }
                Command::CancelProbe(p) => {
                    self.probes.remove(&p);
                }
                Command::OpenSocket { socket, url, .. } => {
                    self.sockets.insert(socket, (url.clone(), false));
                    self.answer_open(socket, &url);
                }
                Command::CloseSocket { socket, .. } => {
                    self.sockets.remove(&socket);
                }
                Command::Send { socket, text } => {
                    assert!(
                        self.sockets.get(&socket).is_some_and(|s| s.1),
                        "send on a socket that is not open: {text}"
                    );
                    self.sent.push((self.now, socket, text.clone()));
                    self.answer_frame(socket, &text);
                }
                Command::SetTimer { timer, after_ms } => {
                    self.timers.insert(timer, self.now + after_ms);
                }
                Command::CancelTimer(t) => {
                    self.timers.remove(&t);
                }
                Command::Deliver(text) => self.delivered.push(text),
                Command::Answer { id, text } => self.answers.push((self.now, id, text)),
                Command::Fail { id, error } => self.failures.push((self.now, id, error)),
                Command::Status(s) => self.statuses.push((self.now, s)),
                Command::Credentials(c) => self.credentials.push((self.now, c)),
            }
        }
    }

    fn is_local(url: &str) -> bool {
        url.starts_with("ws://localhost") || url.starts_with("http://localhost")
    }

    fn answer_probe(&mut self, probe: ProbeId, url: &str) {
        let answered = |status: u16, body: Vec<u8>| Event::ProbeAnswered {
            probe,
            status,
            body,
        };
        let old_path = url.ends_with("/semantest-signature");
        match self.local {
            Local::Up => self.schedule(2, answered(200, good_signature("1.0.0", "semantest"))),
            Local::Refused => self.schedule(
                1,
                Event::ProbeFailed {
                    probe,
                    error: ProbeError::Refused,
                },
            ),
            Local::Hung => {}
            Local::WrongService => {
                self.schedule(2, answered(200, good_signature("1.0.0", "other")))
            }
            Local::Incompatible => {
                self.schedule(2, answered(200, good_signature("2.0.0", "semantest")))
            }
            Local::OldPath if old_path => {
                self.schedule(2, answered(200, good_signature("1.0.0", "semantest")))
            }
            Local::OldPath => self.schedule(2, answered(404, b"not found".to_vec())),
        }
    }

    fn answer_open(&mut self, socket: SocketId, url: &str) {
        let closed = Event::SocketClosed {
            socket,
            code: 1006,
            reason: String::new(),
        };
        if Self::is_local(url) {
            match self.local {
                Local::Up | Local::OldPath => self.schedule(2, Event::SocketOpened(socket)),
                Local::Hung => {}
                _ => self.schedule(1, closed),
            }
        } else if self.remote_up {
            self.schedule(40, Event::SocketOpened(socket));
        } else {
            self.schedule(30, closed);
        }
    }

    fn answer_frame(&mut self, socket: SocketId, text: &str) {
        let url = self.sockets[&socket].0.clone();
        let (up, rtt) = if Self::is_local(&url) {
            (matches!(self.local, Local::Up | Local::OldPath), LOCAL_RTT)
        } else {
            (self.remote_up, REMOTE_RTT)
        };
        if !up || self.hung.contains(&socket) {
            return;
        }
        let (id, message) = match ClientFrame::parse(text) {
            Ok(ClientFrame { id, message }) => (id, message),
            Err(e) => {
                // As the servers do: an error that names the frame, when it has an id.
                let refused = ServerFrame::error(
                    e.id().map(str::to_owned),
                    semantest_protocol::ErrorCode::BadPayload,
                    e.to_string(),
                );
                self.schedule(
                    rtt,
                    Event::MessageReceived {
                        socket,
                        text: refused.to_json(),
                    },
                );
                return;
            }
        };
        let answer = match message {
            ClientMessage::Ping(p) => ServerMessage::Pong(Pong {
                t: p.t,
                server_time: self.now,
            }),
            ClientMessage::Hello(_) if self.refuse_key && !Self::is_local(&url) => {
                let refused = ServerFrame::error(
                    Some(id),
                    semantest_protocol::ErrorCode::Unauthorized,
                    "the API key is not valid",
                );
                self.schedule(
                    rtt,
                    Event::MessageReceived {
                        socket,
                        text: refused.to_json(),
                    },
                );
                self.schedule(
                    rtt + 1,
                    Event::SocketClosed {
                        socket,
                        code: 1008,
                        reason: "unauthorized: API key not valid".into(),
                    },
                );
                return;
            }
            ClientMessage::Hello(_) => {
                let server = match self.welcome_as.clone() {
                    Some(server) => server,
                    None => semantest_protocol::Signature::new(
                        if Self::is_local(&url) {
                            "local"
                        } else {
                            "production"
                        },
                        &["imageGeneration"],
                    ),
                };
                ServerMessage::Welcome(Welcome {
                    connection_id: format!("conn-{}", socket.0),
                    server,
                    heartbeat_secs: self.heartbeat_secs,
                })
            }
            ClientMessage::Register(_) => match self.register_answer.clone() {
                Some(answer) => answer,
                None => {
                    self.registered += 1;
                    let n = self.registered;
                    ServerMessage::Registered(semantest_protocol::identity::Registered {
                        install_id: format!("inst_sim{n}"),
                        token: format!("sti_{n:064}").parse().unwrap(),
                    })
                }
            },
            other => ServerMessage::Ack(Ack {
                action: other.action().to_owned(),
                events: None,
                id: None,
                delivered: Some(0),
                held: false,
            }),
        };
        let frame = ServerFrame::reply(Some(id), answer);
        self.schedule(
            rtt,
            Event::MessageReceived {
                socket,
                text: frame.to_json(),
            },
        );
    }

    /// The server of every socket open now stops answering (SIGSTOP), keeping them open.
    pub fn hang_open_sockets(&mut self) {
        let open: Vec<SocketId> = self.sockets.keys().copied().collect();
        self.hung.extend(open);
    }

    /// Frames sent with `action`, by id, in order (to see what went out twice).
    pub fn sent_ids(&self, action: &str) -> Vec<String> {
        self.sent_actions()
            .into_iter()
            .filter(|(a, _)| a == action)
            .map(|(_, id)| id)
            .collect()
    }

    /// Sends `action` through `Machine::request` with a deadline.
    pub fn request(&mut self, action: &str, timeout_ms: Option<u64>) -> String {
        let (id, cmds) = self
            .m
            .request(
                self.now,
                action,
                serde_json::json!({"n": action}),
                timeout_ms,
            )
            .expect("request taken");
        self.apply(cmds);
        id
    }

    /// Runs the world until `until` (absolute), firing events and timers in time order.
    pub fn run_until(&mut self, until: u64) {
        for _ in 0..100_000 {
            let next_event = self.queue.iter().map(|(t, s, _)| (*t, *s)).min();
            let next_timer = self.timers.iter().map(|(k, t)| (*t, *k)).min();
            let t_event = next_event.map(|e| e.0).unwrap_or(u64::MAX);
            let t_timer = next_timer.map(|e| e.0).unwrap_or(u64::MAX);
            let t = t_event.min(t_timer);
            if t > until {
                break;
            }
            self.now = t;
            if t_event <= t_timer {
                let (_, seq) = next_event.unwrap();
                let idx = self.queue.iter().position(|(_, s, _)| *s == seq).unwrap();
                let (_, _, e) = self.queue.remove(idx);
                match &e {
                    Event::SocketOpened(id) => {
                        if let Some(s) = self.sockets.get_mut(id) {
                            s.1 = true;
                        } else {
                            continue; // closed before it opened
                        }
                    }
                    Event::SocketClosed { socket, .. } | Event::MessageReceived { socket, .. } => {
                        if !self.sockets.contains_key(socket) {
                            continue;
                        }
                        if matches!(e, Event::SocketClosed { .. }) {
                            self.sockets.remove(socket);
                        }
                    }
                    Event::ProbeAnswered { probe, .. } | Event::ProbeFailed { probe, .. }
                        if self.probes.remove(probe).is_none() =>
                    {
                        continue;
                    }
                    _ => {}
                }
                self.event(e);
            } else {
                let (_, timer) = next_timer.unwrap();
                self.timers.remove(&timer);
                self.event(Event::TimerFired(timer));
            }
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// The server side drops every socket to `local` (or the remote) and stops answering.
    pub fn kill(&mut self, local: bool) {
        if local {
            self.local = Local::Refused;
        } else {
            self.remote_up = false;
        }
        let victims: Vec<SocketId> = self
            .sockets
            .iter()
            .filter(|(_, (u, _))| Self::is_local(u) == local)
            .map(|(id, _)| *id)
            .collect();
        for socket in victims {
            self.schedule(
                0,
                Event::SocketClosed {
                    socket,
                    code: 1006,
                    reason: String::new(),
                },
            );
        }
    }

    pub fn status(&self) -> Status {
        self.statuses
            .last()
            .expect("a status was emitted")
            .1
            .clone()
    }

    pub fn mode(&self) -> Mode {
        self.status().mode
    }

    /// When the status first reached `mode`.
    pub fn first_time_in(&self, mode: Mode) -> Option<u64> {
        self.statuses
            .iter()
            .find(|(_, s)| s.mode == mode)
            .map(|(t, _)| *t)
    }

    pub fn open_sockets(&self) -> Vec<String> {
        self.sockets
            .values()
            .filter(|s| s.1)
            .map(|s| s.0.clone())
            .collect()
    }

    /// Frames sent on sockets, as (action, id).
    pub fn sent_actions(&self) -> Vec<(String, String)> {
        self.sent
            .iter()
            .map(|(_, _, t)| {
                let v: serde_json::Value = serde_json::from_str(t).unwrap();
                (
                    v["action"].as_str().unwrap().to_owned(),
                    v["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The frames of `action` sent so far, each with the URL of the socket it went out on.
    pub fn sent_with_url(&self, action: &str) -> Vec<(String, String)> {
        let needle = format!(r#""action":"{action}""#);
        self.sent
            .iter()
            .filter(|(_, _, text)| text.contains(&needle))
            .map(|(_, socket, text)| {
                let url = self
                    .log
                    .iter()
                    .find_map(|(_, c)| match c {
                        Command::OpenSocket {
                            socket: id, url, ..
                        } if id == socket => Some(url.clone()),
                        _ => None,
                    })
                    .expect("a frame on a socket that was opened");
                (url, text.clone())
            })
            .collect()
    }

    pub fn opened_urls(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|(_, c)| match c {
                Command::OpenSocket { url, .. } => Some(url.clone()),
                _ => None,
            })
            .collect()
    }
}
