//! Fuzz-style property test: random event sequences, including nonsense and stale ids, never
//! panic the machine and never break its invariants.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use semantest_connect::{
    Command, Event, Machine, Mode, Overrides, ProbeError, ProbeId, Settings, SocketId,
    Strategy as Plan, Timer,
};

const TIMERS: [Timer; 10] = [
    Timer::HeadStart,
    Timer::ProbeDeadline,
    Timer::ConnectDeadline,
    Timer::Retry,
    Timer::Reprobe,
    Timer::Ping,
    Timer::PongDeadline,
    Timer::Answers,
    Timer::Check,
    Timer::Drain,
];

#[derive(Debug, Clone)]
enum Op {
    Start,
    Close,
    Online,
    PreferLocal(bool),
    Strategy(usize),
    Custom(bool),
    Ping(u64),
    ProbeAnswer {
        pick: usize,
        status: u16,
        body: u8,
    },
    ProbeFail {
        pick: usize,
    },
    Open {
        pick: usize,
    },
    Closed {
        pick: usize,
        code: u16,
    },
    Message {
        pick: usize,
        pong: bool,
        garbage: Vec<u8>,
    },
    Welcome {
        pick: usize,
        good: bool,
    },
    Answer {
        pick: usize,
        frame: usize,
    },
    Wake,
    Fire {
        timer: usize,
    },
    Send,
    Wait(u64),
}

/// Mostly the first live id (so sequences make progress), sometimes another or a stale one.
fn pick() -> impl Strategy<Value = usize> {
    prop_oneof![6 => Just(0usize), 1 => 1usize..3]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Start),
        1 => Just(Op::Close),
        1 => Just(Op::Online),
        1 => any::<bool>().prop_map(Op::PreferLocal),
        1 => (0usize..3).prop_map(Op::Strategy),
        1 => any::<bool>().prop_map(Op::Custom),
        1 => (1_000u64..20_000).prop_map(Op::Ping),
        4 => (pick(), prop_oneof![4 => Just(200u16), 1 => Just(404u16), 1 => Just(500u16)], prop_oneof![3 => Just(0u8), 1 => 1u8..4])
            .prop_map(|(pick, status, body)| Op::ProbeAnswer { pick, status, body }),
        3 => pick().prop_map(|pick| Op::ProbeFail { pick }),
        5 => pick().prop_map(|pick| Op::Open { pick }),
        3 => (pick(), prop::sample::select(vec![1000u16, 1001, 1006, 4000])).prop_map(|(pick, code)| Op::Closed { pick, code }),
        3 => (pick(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(pick, pong, garbage)| Op::Message { pick, pong, garbage }),
        6 => (0usize..TIMERS.len()).prop_map(|timer| Op::Fire { timer }),
        2 => Just(Op::Send),
        4 => (pick(), prop_oneof![5 => Just(true), 1 => Just(false)]).prop_map(|(pick, good)| Op::Welcome { pick, good }),
        3 => (pick(), 0usize..6).prop_map(|(pick, frame)| Op::Answer { pick, frame }),
        1 => Just(Op::Wake),
        3 => (0u64..40_000).prop_map(Op::Wait),
    ]
}

/// What the driver would hold, built only from the machine's commands and the events fed in.
#[derive(Default)]
struct Model {
    timers: BTreeSet<Timer>,
    /// socket → (url, opened)
    sockets: BTreeMap<SocketId, (String, bool)>,
    probes: BTreeSet<ProbeId>,
    last_ping: Option<String>,
    status: Option<semantest_connect::Status>,
    running: bool,
    /// Ids the application's frames got, oldest first.
    frames: Vec<String>,
    /// How many outcomes (answers and failures) each frame got.
    outcomes: BTreeMap<String, usize>,
}

impl Model {
    fn apply(&mut self, cmds: &[Command]) {
        for c in cmds {
            match c {
                Command::Probe { probe, .. } => assert!(self.probes.insert(*probe)),
                Command::CancelProbe(p) => {
                    assert!(self.probes.remove(p), "cancel of an unknown probe")
                }
                Command::OpenSocket { socket, url, .. } => {
                    assert!(self.sockets.insert(*socket, (url.clone(), false)).is_none())
                }
                Command::CloseSocket { socket, code, .. } => {
                    assert!(
                        self.sockets.remove(socket).is_some(),
                        "close of an unknown socket"
                    );
                    assert!(
                        *code == 1000 || (3000..5000).contains(code),
                        "browsers refuse close code {code}"
                    );
                }
                Command::Send { socket, text } => {
                    assert!(
                        self.sockets.get(socket).is_some_and(|s| s.1),
                        "send on a socket that is not open"
                    );
                    let v: serde_json::Value = serde_json::from_str(text).expect("frames are JSON");
                    if v["action"] == "ping" {
                        self.last_ping = v["id"].as_str().map(str::to_owned);
                    }
                }
                Command::SetTimer { timer, .. } => {
                    self.timers.insert(*timer);
                }
                Command::CancelTimer(t) => {
                    assert!(self.timers.remove(t), "cancel of a timer not armed")
                }
                Command::Deliver(_) => {}
                Command::Answer { id, .. } | Command::Fail { id, .. } => {
                    let n = self.outcomes.entry(id.clone()).or_default();
                    *n += 1;
                    assert_eq!(*n, 1, "frame {id} heard of twice");
                    assert!(
                        self.frames.contains(id),
                        "an outcome for a frame never given"
                    );
                }
                Command::Status(s) => self.status = Some(s.clone()),
                Command::Credentials(_) => {}
            }
        }
    }

    fn pick_socket(&self, pick: usize, opened: bool) -> SocketId {
        let ids: Vec<SocketId> = self
            .sockets
            .iter()
            .filter(|(_, s)| s.1 == opened)
            .map(|(id, _)| *id)
            .collect();
        ids.get(pick)
            .copied()
            .unwrap_or(SocketId(10_000 + pick as u64))
    }
}

fn check(m: &Machine, model: &Model, now: u64) {
    let armed: BTreeSet<Timer> = m.armed_timers().into_iter().collect();
    assert_eq!(
        armed, model.timers,
        "the driver's timers are exactly the machine's"
    );
    let open: Vec<&(String, bool)> = model.sockets.values().filter(|s| s.1).collect();
    assert!(
        model.sockets.len() <= 3,
        "at most one ready, one draining and one opening: {:?}",
        model.sockets
    );
    assert!(model.probes.len() <= 1, "one probe at a time");
    let status = model.status.as_ref().expect("status emitted");
    assert_eq!(*status, m.status(now), "the last emitted status is current");
    match status.mode {
        Mode::Local | Mode::Cloud => {
            let url = status.url.as_deref().unwrap();
            assert!(
                open.iter().any(|s| s.0 == url),
                "{:?} with no open socket to {url}",
                status.mode
            );
            let local = m.settings().local_ws_url();
            assert_eq!(status.mode == Mode::Local, url == local);
        }
        Mode::Connecting | Mode::Offline => {
            assert_eq!(status.latency_ms, None);
        }
    }
    assert_eq!(
        status.next_retry_at.is_some(),
        model.timers.contains(&Timer::Retry)
    );
    if !model.running {
        // Frames given to a stopped client wait, and their deadlines still run.
        let held: Vec<&Timer> = model
            .timers
            .iter()
            .filter(|t| **t != Timer::Answers)
            .collect();
        assert!(
            held.is_empty() && model.sockets.is_empty() && model.probes.is_empty(),
            "closed but holding: {held:?} {:?}",
            model.sockets
        );
    }
    if status.mode == Mode::Offline && model.running {
        assert!(status.reason.is_some(), "offline always says why");
        assert!(
            status.next_retry_at.is_some()
                || status.reason.as_deref().unwrap().starts_with("gave up"),
            "offline without a next try must say it gave up"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_keep_the_invariants(ops in prop::collection::vec(op(), 1..120), seed in any::<u64>()) {
        let settings = Settings::resolve(&Overrides { outbox_capacity: Some(4), ..Default::default() }).unwrap();
        let mut m = Machine::new(settings, seed);
        let mut model = Model::default();
        let mut now = 1_000u64;
        model.apply(&m.handle(now, Event::Start));
        model.running = true;
        for op in ops {
            now += 1;
            let event = match op {
                Op::Start => { model.running = true; Event::Start }
                Op::Close => { model.running = false; Event::Close }
                Op::Online => Event::Online,
                Op::PreferLocal(p) => Event::SettingsChanged(Box::new(
                    m.settings().with(&Overrides { prefer_local: Some(p), ..Default::default() }).unwrap())),
                Op::Ping(ms) => Event::SettingsChanged(Box::new(
                    m.settings().with(&Overrides { ping_interval_ms: Some(ms), pong_timeout_ms: Some(ms / 2), ..Default::default() }).unwrap())),
                Op::Strategy(k) => Event::SettingsChanged(Box::new(
                    m.settings().with(&Overrides { strategy: Some([Plan::LocalFirst, Plan::LocalOnly, Plan::RemoteOnly][k]), ..Default::default() }).unwrap())),
                Op::Custom(on) => Event::SettingsChanged(Box::new(
                    m.settings().with(&Overrides { custom_url: Some(if on { "wss://custom.example/ws".into() } else { String::new() }), ..Default::default() }).unwrap())),
                Op::ProbeAnswer { pick, status, body } => {
                    let probe = model.probes.iter().nth(pick).copied().unwrap_or(ProbeId(20_000));
                    model.probes.remove(&probe);
                    let body = match body {
                        0 => br#"{"service":"semantest","version":"1.2.0","environment":"local","capabilities":[]}"#.to_vec(),
                        1 => br#"{"service":"other","version":"1.0.0","environment":"x"}"#.to_vec(),
                        2 => b"\xff\x00garbage".to_vec(),
                        _ => vec![b'{'; 20_000],
                    };
                    Event::ProbeAnswered { probe, status, body }
                }
                Op::ProbeFail { pick } => {
                    let probe = model.probes.iter().nth(pick).copied().unwrap_or(ProbeId(20_000));
                    model.probes.remove(&probe);
                    Event::ProbeFailed { probe, error: ProbeError::Refused }
                }
                Op::Open { pick } => {
                    let socket = model.pick_socket(pick, false);
                    if let Some(s) = model.sockets.get_mut(&socket) { s.1 = true; }
                    Event::SocketOpened(socket)
                }
                Op::Closed { pick, code } => {
                    let socket = match pick % 3 {
                        0 => model.pick_socket(0, true),  // the open one
                        1 => model.pick_socket(0, false), // the opening one
                        _ => model.pick_socket(5, false), // one that does not exist
                    };
                    model.sockets.remove(&socket);
                    Event::SocketClosed { socket, code, reason: String::new() }
                }
                Op::Message { pick, pong, garbage } => {
                    let socket = model.pick_socket(pick, true);
                    let text = if pong {
                        format!(r#"{{"type":"pong","replyTo":"{}","payload":{{"t":1,"serverTime":2}}}}"#,
                            model.last_ping.clone().unwrap_or_default())
                    } else {
                        String::from_utf8_lossy(&garbage).into_owned()
                    };
                    Event::MessageReceived { socket, text }
                }
                Op::Fire { timer } => {
                    let t = TIMERS[timer];
                    model.timers.remove(&t);
                    Event::TimerFired(t)
                }
                Op::Welcome { pick, good } => {
                    let socket = model.pick_socket(pick, true);
                    let service = if good { "semantest" } else { "other" };
                    let text = format!(r#"{{"type":"welcome","replyTo":"h","payload":{{"connectionId":"x","heartbeatSecs":20,"server":{{"service":"{service}","version":"1.0.0","environment":"local","capabilities":[]}}}}}}"#);
                    Event::MessageReceived { socket, text }
                }
                Op::Answer { pick, frame } => {
                    let socket = model.pick_socket(pick, true);
                    let to = model.frames.get(frame).cloned().unwrap_or_default();
                    let text = format!(r#"{{"type":"ack","replyTo":"{to}","payload":{{"action":"publish"}}}}"#);
                    Event::MessageReceived { socket, text }
                }
                Op::Wake => Event::Wake,
                Op::Send => {
                    match m.send(now, "publish", serde_json::json!({})) {
                        Ok((id, cmds)) => {
                            model.frames.push(id);
                            model.apply(&cmds);
                        }
                        Err(e) => prop_assert!(e.to_string().starts_with("outbox full"), "only a full outbox refuses: {}", e),
                    }
                    check(&m, &model, now);
                    continue;
                }
                Op::Wait(ms) => { now += ms; continue; }
            };
            let cmds = m.handle(now, event);
            model.apply(&cmds);
            check(&m, &model, now);
        }
    }
}
