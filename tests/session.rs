//! The session layer in simulated time: a socket is ready only on its welcome, and every
//! frame the application gives the core is answered exactly once, or fails with a reason,
//! across deaths, hangs and switches of server.

mod sim;

use semantest_connect::settings::RetryOverrides;
use semantest_connect::{Command, Event, FailureCode, Machine, Mode, Overrides, Settings, Timer};
use sim::{Local, Sim, LOCAL_WS, REMOTE_RTT, REMOTE_WS};

const T0: u64 = 1_000_000;

/// Every frame id given to the machine heard of exactly once (an answer or a failure).
fn outcomes_once(s: &Sim, ids: &[String]) {
    for id in ids {
        let answers = s.answers.iter().filter(|(_, a, _)| a == id).count();
        let failures = s.failures.iter().filter(|(_, f, _)| f == id).count();
        assert_eq!(
            answers + failures,
            1,
            "{id}: {answers} answers, {failures} failures"
        );
    }
}

#[test]
fn ready_means_welcomed_not_opened() {
    let mut s = Sim::new(Local::Refused, true);
    s.start();
    s.run_until(T0 + 41); // the remote socket opened at 41 ms; its welcome is a round trip away
    assert!(s.open_sockets().contains(&REMOTE_WS.to_owned()));
    assert_eq!(s.mode(), Mode::Connecting, "open is not ready");
    let id = s.send("publish").unwrap();
    assert!(
        s.sent_ids("publish").is_empty(),
        "nothing goes out before the welcome"
    );
    s.run_until(T0 + 41 + REMOTE_RTT);
    assert_eq!(s.mode(), Mode::Cloud);
    assert_eq!(s.sent_ids("publish"), std::slice::from_ref(&id));
    s.run_for(1_000);
    outcomes_once(&s, &[id]);
}

#[test]
fn a_refused_key_goes_from_connecting_to_offline_never_through_cloud() {
    let mut s = Sim::with(
        Local::Refused,
        true,
        Overrides {
            retry: Some(RetryOverrides {
                max_attempts: Some(2),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    s.refuse_key = true;
    s.start();
    s.run_for(60_000);
    assert!(
        s.statuses.iter().all(|(_, st)| st.mode != Mode::Cloud),
        "never cloud: {:?}",
        s.statuses.iter().map(|(_, st)| st.mode).collect::<Vec<_>>()
    );
    let st = s.status();
    assert_eq!(st.mode, Mode::Offline);
    assert_eq!(
        st.remote_reason.as_deref(),
        Some("connection closed (code 1008: unauthorized: API key not valid)")
    );
}

#[test]
fn a_welcome_from_another_service_or_none_in_time_is_a_failure_with_its_reason() {
    let mut s = Sim::new(Local::Refused, true);
    s.welcome_as = Some(semantest_protocol::Signature {
        service: "impostor".into(),
        version: "1.0.0".into(),
        environment: "production".into(),
        capabilities: vec![],
    });
    s.start();
    s.run_for(200);
    assert_ne!(s.mode(), Mode::Cloud);
    assert!(
        s.status()
            .remote_reason
            .unwrap()
            .contains("its welcome is not a Semantest server's"),
        "{:?}",
        s.status()
    );

    // A server that opens the socket and never welcomes.
    let mut s = Sim::new(Local::Refused, true);
    s.start();
    s.run_until(T0 + 40); // the socket opens at 41 ms: its server hangs before it welcomes
    s.hang_open_sockets();
    s.run_until(T0 + 1 + 10_000);
    assert!(s.statuses.iter().all(|(_, st)| st.mode != Mode::Cloud));
    assert_eq!(
        s.status().remote_reason.as_deref(),
        Some("no welcome from the server within 10000 ms")
    );
}

#[test]
fn the_welcomes_heartbeat_bounds_the_ping_interval() {
    let mut s = Sim::new(Local::Up, true);
    s.heartbeat_secs = 5;
    s.start();
    s.run_for(100);
    let before = s.sent_ids("ping").len();
    s.run_for(15_000);
    assert_eq!(s.sent_ids("ping").len() - before, 3, "every 5 s, not 20 s");
}

#[test]
fn the_latency_shown_is_a_settled_round_trip() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_until(T0 + 2 + 2 + 5 + 5); // probe, open, welcome, the first pong
    assert_eq!(s.mode(), Mode::Local);
    assert_eq!(s.status().latency_ms, None, "the warm-up is not shown");
    s.run_for(5);
    assert_eq!(s.status().latency_ms, Some(5));
}

#[test]
fn a_killed_server_loses_nothing_its_frames_go_to_the_other_once() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Local);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(s.send("publish").unwrap());
    }
    s.kill(true); // before their answers (5 ms away)
    for _ in 0..5 {
        ids.push(s.send("publish").unwrap());
    }
    s.run_for(5_000);
    assert_eq!(s.mode(), Mode::Cloud);
    outcomes_once(&s, &ids);
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    // The five that were out went again, with the same ids, in order, before the new ones.
    let remote: Vec<String> = s
        .sent_with_url("publish")
        .into_iter()
        .filter(|(url, _)| url == REMOTE_WS)
        .map(|(_, text)| {
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"].to_string()
        })
        .map(|id| id.trim_matches('"').to_owned())
        .collect();
    assert_eq!(remote, ids);
}

#[test]
fn a_hung_server_is_left_within_5_s_of_the_first_unanswered_frame() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Local);
    s.hang_open_sockets();
    s.local = Local::Hung; // and its probe hangs too, as a stopped process's does
    let first = s.now;
    let mut ids = Vec::new();
    for _ in 0..100 {
        ids.push(s.send("ping").unwrap());
        s.run_for(20);
    }
    s.run_for(10_000);
    let left = s
        .log
        .iter()
        .find(|(t, c)| *t >= first && matches!(c, Command::CloseSocket { .. }))
        .map(|(t, _)| *t)
        .expect("the hung socket is closed");
    assert!(left - first <= 5_000, "left after {} ms", left - first);
    assert_eq!(s.mode(), Mode::Cloud);
    outcomes_once(&s, &ids);
    assert!(s.failures.is_empty(), "{:?}", s.failures);
}

#[test]
fn a_reply_goes_only_to_the_server_whose_event_it_answers() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    let local = *s.sockets.keys().next().unwrap();
    s.event(Event::MessageReceived {
        socket: local,
        text: r#"{"type":"event","payload":{"event":"imageDownloadRequested","id":"e1","from":"x","data":{}}}"#.into(),
    });
    s.kill(true);
    s.run_for(2_000);
    assert_eq!(s.mode(), Mode::Cloud);
    let (id, cmds) =
        s.m.send(
            s.now,
            "reply",
            serde_json::json!({"to": "e1", "event": "imageDownloaded"}),
        )
        .unwrap();
    s.apply(cmds);
    assert!(s.sent_ids("reply").is_empty(), "never to another server");
    let (_, failed, error) = s.failures.last().expect("the caller is told");
    assert_eq!(failed, &id);
    assert_eq!(error.code, FailureCode::Gone);

    // A reply to an event of the server in use goes to it.
    let remote = *s.sockets.keys().max().unwrap();
    s.event(Event::MessageReceived {
        socket: remote,
        text: r#"{"type":"event","payload":{"event":"imageDownloadRequested","id":"e2","from":"x","data":{}}}"#.into(),
    });
    let (id, cmds) =
        s.m.send(
            s.now,
            "reply",
            serde_json::json!({"to": "e2", "event": "imageDownloaded"}),
        )
        .unwrap();
    s.apply(cmds);
    assert_eq!(s.sent_ids("reply"), std::slice::from_ref(&id));
    s.run_for(1_000);
    outcomes_once(&s, &[id]);
}

#[test]
fn on_a_move_back_to_local_the_remote_drains_what_it_owes_then_closes() {
    let mut s = Sim::new(Local::Refused, true);
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    s.local = Local::Up;
    // Just before the reprobe finds the local server, frames go out on the remote (42 ms away).
    s.run_until(T0 + 1 + 40 + REMOTE_RTT + 30_000 + 2);
    let owed: Vec<String> = (0..3).map(|_| s.send("publish").unwrap()).collect();
    s.run_for(2 + 5); // the local socket opens and is welcomed
    assert_eq!(s.mode(), Mode::Local);
    assert_eq!(
        s.open_sockets().len(),
        2,
        "the remote stays open for its answers"
    );
    let after = s.send("publish").unwrap();
    s.run_for(100);
    assert_eq!(s.open_sockets(), [LOCAL_WS], "and closes once they came");
    outcomes_once(&s, &[owed.clone(), vec![after.clone()]].concat());
    let on: Vec<(String, String)> = s.sent_with_url("publish");
    assert!(on.iter().filter(|(u, _)| u == REMOTE_WS).count() == 3);
    assert!(on.last().unwrap().0 == LOCAL_WS && on.last().unwrap().1.contains(&after));
    assert!(s.failures.is_empty());
}

#[test]
fn a_request_without_an_answer_times_out_once_and_a_late_answer_is_only_delivered() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    let socket = *s.sockets.keys().next().unwrap();
    s.hang_open_sockets();
    let id = s.request("publish", Some(500));
    s.run_for(600);
    let (_, failed, error) = s.failures.last().expect("timed out");
    assert_eq!((failed, error.code), (&id, FailureCode::Timeout));
    assert_eq!(error.message, "no answer within 500 ms");
    s.event(Event::MessageReceived {
        socket,
        text: format!(r#"{{"type":"ack","replyTo":"{id}","payload":{{"action":"publish"}}}}"#),
    });
    outcomes_once(&s, &[id]);
}

#[test]
fn closing_the_client_fails_what_is_waiting() {
    let mut s = Sim::new(Local::Refused, false);
    s.start();
    let id = s.send("publish").unwrap();
    s.event(Event::Close);
    let (_, failed, error) = s.failures.last().expect("told");
    assert_eq!((failed, error.code), (&id, FailureCode::Closed));
}

#[test]
fn an_early_timer_fire_is_not_run_and_is_asked_for_again() {
    let mut s = Sim::new(Local::Refused, false);
    s.start();
    s.run_for(40);
    assert_eq!(s.mode(), Mode::Offline);
    let due = s.timers[&Timer::Retry];
    let cmds = s.m.handle(due - 10, Event::TimerFired(Timer::Retry));
    assert_eq!(
        cmds,
        [Command::SetTimer {
            timer: Timer::Retry,
            after_ms: 10
        }],
        "a stale or early fire does nothing but re-arm"
    );
}

#[test]
fn frame_ids_differ_between_instances() {
    let settings = Settings::resolve(&Overrides::default()).unwrap();
    let ids: Vec<String> = [1u64, 2, 3]
        .iter()
        .map(|seed| {
            let mut m = Machine::new(settings.clone(), *seed);
            m.send(0, "ping", serde_json::json!({})).unwrap().0
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    assert!(ids[0].starts_with("c1-"), "{}", ids[0]);
}

#[test]
fn wakes_run_only_what_is_due_and_never_reset_the_schedule() {
    let three = Overrides {
        retry: Some(RetryOverrides {
            max_attempts: Some(3),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut s = Sim::with(Local::Refused, false, three.clone());
    s.start();
    for _ in 0..40 {
        s.run_for(1_000);
        s.event(Event::Wake);
    }
    let st = s.status();
    assert_eq!(st.mode, Mode::Offline);
    assert!(st.reason.unwrap().starts_with("gave up after 3 attempts"));
    let attempts = s.opened_urls().len();
    assert_eq!(attempts, 3);

    // A restarted worker resumes the schedule: given up stays given up ...
    let mut s = Sim::with(Local::Refused, false, three.clone());
    s.m.resume(3, None);
    s.start();
    s.event(Event::Wake);
    s.run_for(60_000);
    assert!(s.opened_urls().is_empty());
    assert_eq!(s.mode(), Mode::Offline);
    // ... until the user's Reconnect.
    s.start();
    s.run_for(10);
    assert_eq!(s.opened_urls().len(), 1);

    // A schedule in progress waits for its next try.
    let mut s = Sim::with(Local::Refused, false, three);
    s.m.resume(1, Some(T0 + 1_500));
    s.start();
    s.run_until(T0 + 1_499);
    assert!(s.opened_urls().is_empty());
    s.run_until(T0 + 1_600);
    assert_eq!(s.opened_urls().len(), 1);
}

#[test]
fn an_answer_the_core_does_not_read_still_settles_its_frame() {
    // The core types only the frames it acts on (ServerFrame::parse_for_core): an `ack` whose
    // payload is not an ack's is still the answer to its frame, handed on as it came.
    let mut s = Sim::new(Local::Refused, true);
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    s.hang_open_sockets();
    let id = s.send("publish").unwrap();
    s.run_for(10);
    let socket = *s
        .sockets
        .iter()
        .find(|(_, (url, _))| url == REMOTE_WS)
        .map(|(socket, _)| socket)
        .expect("the remote socket");
    let text = format!(r#"{{"type":"ack","replyTo":"{id}","payload":[1]}}"#);
    s.event(Event::MessageReceived {
        socket,
        text: text.clone(),
    });
    let answered: Vec<&String> = s
        .answers
        .iter()
        .filter(|(_, a, _)| *a == id)
        .map(|(_, _, t)| t)
        .collect();
    assert_eq!(answered, [&text]);
    s.run_for(100);
    outcomes_once(&s, &[id]);
}
