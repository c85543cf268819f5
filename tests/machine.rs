//! Native, deterministic tests of the connection policies, in simulated time.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use semantest_connect::settings::RetryOverrides;
use semantest_connect::{Command, Event, Mode, Overrides, Settings, Timer};
use sim::{Local, Sim, LOCAL_RTT, LOCAL_WS, REMOTE_RTT, REMOTE_WS};

const T0: u64 = 1_000_000;

#[test]
fn local_up_connects_local_and_reports_latency() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    assert_eq!(s.mode(), Mode::Connecting);
    s.run_for(100);
    let st = s.status();
    assert_eq!(st.mode, Mode::Local);
    assert_eq!(st.url.as_deref(), Some(LOCAL_WS));
    assert_eq!(st.latency_ms, Some(LOCAL_RTT));
    assert_eq!(st.reason, None);
    assert_eq!(s.opened_urls(), [LOCAL_WS], "the remote is never touched");
    let actions: Vec<String> = s.sent_actions().into_iter().map(|a| a.0).collect();
    // The first ping warms the socket up and is not shown; the second one is.
    assert_eq!(actions, ["hello", "ping", "ping"]);
}

#[test]
fn refused_local_goes_remote_in_milliseconds_not_the_probe_timeout() {
    let mut s = Sim::new(Local::Refused, true);
    s.start();
    s.run_for(1_000);
    let st = s.status();
    assert_eq!(st.mode, Mode::Cloud);
    assert_eq!(st.url.as_deref(), Some(REMOTE_WS));
    assert_eq!(st.latency_ms, Some(REMOTE_RTT));
    assert_eq!(st.local_reason.as_deref(), Some("connection refused"));
    assert_eq!(
        st.reason.as_deref(),
        Some("local server not used: connection refused")
    );
    // Refusal arrives 1 ms after the probe; the remote socket is requested right then,
    // not after the 300 ms head start or the 2 s probe timeout.
    let open_at = s
        .log
        .iter()
        .find(|(_, c)| matches!(c, Command::OpenSocket { .. }))
        .unwrap()
        .0;
    assert_eq!(open_at - T0, 1);
    // Open at 41 ms; ready when the welcome comes, one round trip later.
    assert_eq!(s.first_time_in(Mode::Cloud).unwrap() - T0, 41 + REMOTE_RTT);
}

#[test]
fn wrong_signature_goes_remote_with_the_reason() {
    let mut s = Sim::new(Local::WrongService, true);
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    assert_eq!(
        s.status().local_reason.as_deref(),
        Some("wrong service 'other'")
    );
}

#[test]
fn incompatible_version_goes_remote_with_the_reason() {
    let mut s = Sim::new(Local::Incompatible, true);
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    assert_eq!(
        s.status().local_reason.as_deref(),
        Some("incompatible version 2.0.0 (need ^1.0.0)")
    );
}

#[test]
fn signature_404_falls_back_to_the_old_path() {
    let mut s = Sim::new(Local::OldPath, true);
    s.start();
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Local);
    let probes: Vec<String> = s
        .log
        .iter()
        .filter_map(|(_, c)| match c {
            Command::Probe { url, .. } => Some(url.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        probes,
        [
            "http://localhost:3003/signature",
            "http://localhost:3003/semantest-signature"
        ]
    );
}

#[test]
fn both_down_is_offline_with_each_reason_and_the_next_try() {
    let mut s = Sim::new(Local::Refused, false);
    s.start();
    s.run_for(35);
    let st = s.status();
    assert_eq!(st.mode, Mode::Offline);
    assert_eq!(st.local_reason.as_deref(), Some("connection refused"));
    assert_eq!(st.remote_reason.as_deref(), Some("could not connect"));
    assert_eq!(
        st.reason.as_deref(),
        Some("local: connection refused; remote: could not connect")
    );
    let next = st.next_retry_at.expect("a next try is scheduled");
    assert!(
        next >= s.now && next <= s.now + 1_000,
        "first retry within the 1 s ceiling"
    );
    assert_eq!(st.failures, 1);
    assert!(s.open_sockets().is_empty());
    // It does try again, and the local server coming up is found.
    s.local = Local::Up;
    s.run_until(next + 50);
    assert_eq!(s.mode(), Mode::Local);
    assert_eq!(
        s.status().failures,
        1,
        "failures count until the connection is stable"
    );
}

#[test]
fn hung_local_starts_remote_after_the_head_start_and_stays_remote_on_timeout() {
    let mut s = Sim::new(Local::Hung, true);
    s.start();
    s.run_for(299);
    assert!(
        s.opened_urls().is_empty(),
        "the probe runs alone during its head start"
    );
    s.run_for(1);
    assert_eq!(s.opened_urls(), [REMOTE_WS]);
    s.run_for(100);
    assert_eq!(
        s.mode(),
        Mode::Cloud,
        "the user is on the cloud while the probe is still out"
    );
    assert_eq!(s.first_time_in(Mode::Cloud).unwrap() - T0, 340 + REMOTE_RTT);
    s.run_until(T0 + 2_000);
    let st = s.status();
    assert_eq!(st.mode, Mode::Cloud);
    assert_eq!(st.local_reason.as_deref(), Some("no answer within 2000 ms"));
    assert!(s.probes.is_empty(), "the hung probe was cancelled");
    assert!(s.timers.contains_key(&Timer::Reprobe));
}

#[test]
fn hung_local_that_answers_late_takes_over() {
    let mut s = Sim::new(Local::Hung, true);
    s.start();
    s.run_until(T0 + 1_500);
    assert_eq!(s.mode(), Mode::Cloud);
    // The local server finally answers the probe that is still out.
    let probe = *s.probes.keys().next().expect("probe still out");
    s.probes.remove(&probe);
    s.local = Local::Up;
    s.event(Event::ProbeAnswered {
        probe,
        status: 200,
        body: sim::good_signature("1.0.0", "semantest"),
    });
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Local);
    assert_eq!(
        s.open_sockets(),
        [LOCAL_WS],
        "the remote socket was closed once local was open"
    );
}

#[test]
fn local_dying_mid_session_moves_to_remote() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Local);
    s.kill(true);
    s.run_for(0);
    let st = s.status();
    assert_eq!(st.mode, Mode::Connecting);
    assert!(
        st.reason
            .as_deref()
            .unwrap()
            .starts_with("local server lost"),
        "{:?}",
        st.reason
    );
    assert!(st.next_retry_at.is_some());
    s.run_for(2_000);
    let st = s.status();
    assert_eq!(st.mode, Mode::Cloud);
    assert_eq!(
        st.local_reason.as_deref(),
        Some("connection refused"),
        "it probed again rather than reconnecting blindly"
    );
}

#[test]
fn local_returning_moves_back_within_the_reprobe_interval() {
    let mut s = Sim::new(Local::Refused, true);
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    s.local = Local::Up;
    // remote open and welcome, reprobe, probe answer, local open and welcome
    let back_at = T0 + 1 + 40 + REMOTE_RTT + 30_000 + 2 + 2 + LOCAL_RTT;
    s.run_until(back_at - 1);
    assert_eq!(s.mode(), Mode::Cloud);
    s.run_until(back_at);
    assert_eq!(s.mode(), Mode::Local);
    assert_eq!(s.open_sockets(), [LOCAL_WS]);
    assert!(
        !s.timers.contains_key(&Timer::Reprobe),
        "no reprobing while on local"
    );
}

#[test]
fn reprobe_failures_keep_the_remote_and_keep_looking() {
    let mut s = Sim::with(
        Local::Refused,
        true,
        Overrides {
            reprobe_interval_ms: Some(5_000),
            ..Default::default()
        },
    );
    s.start();
    s.run_for(21_000);
    assert_eq!(s.mode(), Mode::Cloud);
    let probes = s
        .log
        .iter()
        .filter(|(_, c)| matches!(c, Command::Probe { .. }))
        .count();
    assert_eq!(probes, 5, "initial probe + one every 5 s");
    assert_eq!(
        s.opened_urls(),
        [REMOTE_WS],
        "the remote connection was never disturbed"
    );
}

#[test]
fn outbox_flushes_in_order_after_reconnect_and_overflow_is_an_error() {
    let mut s = Sim::with(
        Local::Refused,
        false,
        Overrides {
            outbox_capacity: Some(3),
            ..Default::default()
        },
    );
    s.start();
    s.run_for(10);
    let ids: Vec<String> = ["a", "b", "c"].iter().map(|a| s.send(a).unwrap()).collect();
    let err = s.send("d").unwrap_err();
    assert_eq!(
        err.to_string(),
        "outbox full: 3 messages are already waiting for an answer"
    );
    s.run_for(10);
    assert_eq!(s.status().queued, 3);
    s.remote_up = true;
    s.run_for(60_000);
    assert_eq!(s.mode(), Mode::Cloud);
    let sent = s.sent_actions();
    let after_hello: Vec<(String, String)> = sent
        .into_iter()
        .filter(|(a, _)| a != "hello" && a != "ping")
        .collect();
    let expect: Vec<(String, String)> = ["a", "b", "c"]
        .iter()
        .zip(&ids)
        .map(|(a, id)| (a.to_string(), id.clone()))
        .collect();
    assert_eq!(after_hello, expect);
    assert_eq!(s.status().queued, 0);
}

#[test]
fn sends_while_connected_go_straight_out() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(50);
    s.send("publish").unwrap();
    assert_eq!(s.sent_actions().last().unwrap().0, "publish");
}

#[test]
fn backoff_grows_within_bounds_while_both_are_down() {
    let mut s = Sim::new(Local::Refused, false);
    s.start();
    let mut last_failures = 0;
    for _ in 0..8 {
        s.run_for(40);
        let st = s.status();
        assert_eq!(st.mode, Mode::Offline);
        assert_eq!(st.failures, last_failures + 1);
        let n = st.failures - 1;
        let ceiling = (1_000u64 << n).min(30_000);
        let wait = st.next_retry_at.unwrap() - s.now;
        assert!(wait <= ceiling, "failure {n}: waited {wait} > {ceiling}");
        last_failures = st.failures;
        s.run_until(st.next_retry_at.unwrap());
    }
}

#[test]
fn backoff_resets_after_a_stable_connection_but_not_after_a_flap() {
    let mut s = Sim::new(Local::Refused, false);
    s.start();
    for _ in 0..5 {
        s.run_for(40);
        let at = s.status().next_retry_at.unwrap();
        s.run_until(at);
    }
    s.run_for(40);
    assert!(s.status().failures >= 6);
    // The remote comes up but flaps after 1 s: failures keep counting.
    s.remote_up = true;
    let at = s.status().next_retry_at.unwrap();
    s.run_until(at + 100);
    assert_eq!(s.mode(), Mode::Cloud);
    let before = s.status().failures;
    s.run_for(1_000);
    s.kill(false);
    s.run_for(0);
    assert_eq!(s.status().failures, before + 1);
    // It comes back and stays 10 s: the next drop starts the schedule over.
    s.remote_up = true;
    s.run_for(31_000);
    assert_eq!(s.mode(), Mode::Cloud);
    s.run_for(10_000);
    s.kill(false);
    s.run_for(0);
    let st = s.status();
    assert_eq!(st.failures, 1);
    assert!(st.next_retry_at.unwrap() - s.now <= 1_000);
}

#[test]
fn missing_pong_means_a_dead_socket() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Local);
    // The server stops answering but keeps the socket open.
    s.local = Local::Hung;
    s.run_for(20_000 + 10_000 - 100);
    assert_eq!(s.mode(), Mode::Local, "one ping every 20 s, 10 s to answer");
    s.run_for(101);
    let closes: Vec<&Command> = s
        .log
        .iter()
        .map(|(_, c)| c)
        .filter(|c| matches!(c, Command::CloseSocket { code: 4000, .. }))
        .collect();
    assert_eq!(closes.len(), 1);
    assert_ne!(s.mode(), Mode::Local);
    s.run_for(5_000);
    assert_eq!(s.mode(), Mode::Cloud);
}

#[test]
fn keepalive_pings_every_interval_and_updates_latency() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(60_050);
    let pings = s.sent_actions().iter().filter(|(a, _)| a == "ping").count();
    assert_eq!(
        pings, 5,
        "on ready, a second after the warm-up, then at 20, 40 and 60 s"
    );
    assert_eq!(s.status().latency_ms, Some(LOCAL_RTT));
    assert_eq!(s.delivered.len(), 1, "{:?}", s.delivered);
    assert!(
        s.delivered[0].contains(r#""type":"welcome""#),
        "only the welcome: our own pongs are consumed, not delivered"
    );
}

#[test]
fn prefer_local_off_never_probes() {
    let mut s = Sim::with(
        Local::Up,
        true,
        Overrides {
            prefer_local: Some(false),
            ..Default::default()
        },
    );
    s.start();
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Cloud);
    assert!(!s
        .log
        .iter()
        .any(|(_, c)| matches!(c, Command::Probe { .. })));
    assert_eq!(s.status().reason.as_deref(), Some("prefer-local is off"));
    s.run_for(100_000);
    assert!(
        !s.log
            .iter()
            .any(|(_, c)| matches!(c, Command::Probe { .. })),
        "no reprobes either"
    );
}

#[test]
fn custom_url_replaces_the_public_one() {
    let custom = "wss://semantest.example.org/ws";
    let mut s = Sim::with(
        Local::Refused,
        true,
        Overrides {
            custom_url: Some(custom.into()),
            ..Default::default()
        },
    );
    s.start();
    s.run_for(100);
    assert_eq!(s.status().url.as_deref(), Some(custom));
}

#[test]
fn local_only_never_uses_the_remote() {
    let env = |k: &str| (k == "SEMANTEST_SERVER").then(|| "local".to_owned());
    let mut s = Sim::with(Local::Refused, true, Overrides::from_env(env).unwrap());
    s.start();
    s.run_for(10_000);
    assert_eq!(s.mode(), Mode::Offline);
    assert!(s.opened_urls().is_empty());
    assert_eq!(s.status().remote_reason, None);
}

#[test]
fn changing_prefer_local_applies_at_once() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Local);
    let new =
        s.m.settings()
            .with(&Overrides {
                prefer_local: Some(false),
                ..Default::default()
            })
            .unwrap();
    s.event(Event::SettingsChanged(Box::new(new)));
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Cloud);
    assert_eq!(s.open_sockets(), [REMOTE_WS]);
}

#[test]
fn timing_changes_keep_the_connection() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    let opened = s.opened_urls().len();
    let new =
        s.m.settings()
            .with(&Overrides {
                ping_interval_ms: Some(5_000),
                pong_timeout_ms: Some(2_000),
                ..Default::default()
            })
            .unwrap();
    s.event(Event::SettingsChanged(Box::new(new)));
    // The same settings again (a storage sync) must not postpone the next ping.
    s.run_for(4_000);
    let same = s.m.settings().clone();
    s.event(Event::SettingsChanged(Box::new(same)));
    s.run_for(6_001);
    assert_eq!(
        s.opened_urls().len(),
        opened,
        "no reconnect for a timing change"
    );
    let pings = s.sent_actions().iter().filter(|(a, _)| a == "ping").count();
    assert_eq!(
        pings, 4,
        "the new interval applies to the running connection (2 on ready, then at 5 and 10 s)"
    );
}

#[test]
fn giving_up_is_honest_and_online_tries_again() {
    let retry = RetryOverrides {
        max_attempts: Some(3),
        ..Default::default()
    };
    let mut s = Sim::with(
        Local::Refused,
        false,
        Overrides {
            retry: Some(retry),
            ..Default::default()
        },
    );
    s.start();
    s.run_for(120_000);
    let st = s.status();
    assert_eq!(st.mode, Mode::Offline);
    assert_eq!(st.next_retry_at, None);
    assert!(
        st.reason
            .as_deref()
            .unwrap()
            .starts_with("gave up after 3 attempts"),
        "{:?}",
        st.reason
    );
    assert!(s.timers.is_empty());
    s.remote_up = true;
    s.event(Event::Online);
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Cloud);
}

#[test]
fn reconnect_after_giving_up_gets_a_fresh_schedule() {
    let retry = RetryOverrides {
        max_attempts: Some(3),
        ..Default::default()
    };
    let mut s = Sim::with(
        Local::Refused,
        false,
        Overrides {
            retry: Some(retry),
            ..Default::default()
        },
    );
    s.start();
    s.run_for(120_000);
    assert!(s.status().reason.unwrap().starts_with("gave up after 3"));
    s.start(); // the user's "reconnect": both still down
    s.run_for(40);
    let st = s.status();
    assert_eq!(st.mode, Mode::Offline);
    assert_eq!(st.failures, 1, "a fresh schedule, not one more try");
    assert!(
        st.next_retry_at.is_some(),
        "it keeps trying: {:?}",
        st.reason
    );
}

#[test]
fn start_while_waiting_retries_now_and_is_a_no_op_when_connected() {
    let mut s = Sim::new(Local::Refused, false);
    s.start();
    s.run_for(40);
    assert_eq!(s.mode(), Mode::Offline);
    s.remote_up = true;
    s.start();
    s.run_for(100);
    assert_eq!(s.mode(), Mode::Cloud);
    let before = s.log.len();
    s.start();
    assert!(s.log[before..].is_empty(), "no commands: already connected");
}

#[test]
fn close_releases_everything() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    s.event(Event::Close);
    assert!(s.sockets.is_empty());
    assert!(s.timers.is_empty());
    assert!(s.probes.is_empty());
    assert_eq!(s.mode(), Mode::Offline);
    s.run_for(100_000);
    assert!(s.sockets.is_empty(), "nothing reconnects after close");
}

#[test]
fn stale_events_are_ignored() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    let before = s.status();
    let bogus = semantest_connect::SocketId(999);
    s.event(Event::SocketClosed {
        socket: bogus,
        code: 1006,
        reason: String::new(),
    });
    s.event(Event::MessageReceived {
        socket: bogus,
        text: "{}".into(),
    });
    s.event(Event::ProbeFailed {
        probe: semantest_connect::ProbeId(999),
        error: semantest_connect::ProbeError::Refused,
    });
    s.event(Event::TimerFired(Timer::HeadStart));
    assert_eq!(s.status(), before);
}

#[test]
fn server_frames_reach_the_application() {
    let mut s = Sim::new(Local::Up, true);
    s.start();
    s.run_for(100);
    let socket = *s.sockets.keys().next().unwrap();
    s.event(Event::MessageReceived {
        socket,
        text: r#"{"type":"event","payload":{}}"#.into(),
    });
    s.event(Event::MessageReceived {
        socket,
        text: "not json at all".into(),
    });
    assert!(s.delivered[0].contains(r#""type":"welcome""#));
    assert_eq!(
        s.delivered[1..],
        [r#"{"type":"event","payload":{}}"#, "not json at all"]
    );
}

#[test]
fn settings_precedence_and_validation() {
    let dev = Settings::resolve(&Overrides {
        preset: Some(semantest_connect::Preset::Development),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(dev.reprobe_interval_ms, 5_000);
    let user = Overrides {
        preset: Some(semantest_connect::Preset::Development),
        reprobe_interval_ms: Some(7_000),
        local_url: Some("ws://127.0.0.1:4000/".into()),
        ..Default::default()
    };
    let env = Overrides::from_env(|k| match k {
        "SEMANTEST_SERVER" => Some("remote".into()),
        "SEMANTEST_REMOTE_URL" => Some("ws://127.0.0.1:5000".into()),
        _ => None,
    })
    .unwrap();
    let s = Settings::resolve(&user.merged(env)).unwrap();
    assert_eq!(s.reprobe_interval_ms, 7_000, "user beats preset");
    assert_eq!(
        s.strategy,
        semantest_connect::Strategy::RemoteOnly,
        "env beats user"
    );
    assert_eq!(s.remote_url, "ws://127.0.0.1:5000");
    assert_eq!(s.local_url, "http://127.0.0.1:4000");
    assert_eq!(s.local_ws_url(), "ws://127.0.0.1:4000");

    let err = |o: Overrides| Settings::resolve(&o).unwrap_err().to_string();
    assert_eq!(
        err(Overrides { custom_url: Some("https://example.org".into()), ..Default::default() }),
        "customUrl: 'https://example.org' is not a valid URL (scheme must be ws:// or wss://, not https://)"
    );
    assert_eq!(
        err(Overrides {
            custom_url: Some("wss://".into()),
            ..Default::default()
        }),
        "customUrl: 'wss://' is not a valid URL (no host)"
    );
    assert_eq!(
        err(Overrides {
            ping_interval_ms: Some(25_000),
            ..Default::default()
        }),
        "pingIntervalMs: 25000 is out of range (allowed 1000..=20000)"
    );
    assert_eq!(
        err(Overrides {
            ping_interval_ms: Some(5_000),
            ..Default::default()
        }),
        "pongTimeoutMs: 10000 is out of range (allowed 500..=5000)",
        "a pong deadline past the next ping would pause the keepalive"
    );
    let bad_retry = RetryOverrides {
        base_ms: Some(5_000),
        cap_ms: Some(1_000),
        ..Default::default()
    };
    assert_eq!(
        err(Overrides {
            retry: Some(bad_retry),
            ..Default::default()
        }),
        "retry.capMs: 1000 is out of range (allowed 5000..=3600000)"
    );
    assert_eq!(
        Overrides::from_env(|_| Some("cloud".into()))
            .unwrap_err()
            .to_string(),
        "SEMANTEST_SERVER: 'cloud' is not one of local, remote, auto"
    );
    let empty_custom = Overrides {
        custom_url: Some("  ".into()),
        ..Default::default()
    };
    assert_eq!(
        Settings::resolve(&empty_custom).unwrap().custom_url,
        None,
        "an empty custom URL clears it"
    );
}

#[test]
fn subscriptions_survive_reconnects_and_switches() {
    let mut s = Sim::new(Local::Refused, true);
    let events = vec!["imageDownloadRequested".to_owned()];
    let cmds = s.m.subscribe(s.now, &events, true);
    s.apply(cmds);
    assert!(s.sent.is_empty(), "nothing is open yet");
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    let subscribed_on = |s: &Sim| -> Vec<String> {
        s.sent_with_url("subscribe")
            .into_iter()
            .map(|(url, _)| url)
            .collect()
    };
    assert_eq!(subscribed_on(&s), [REMOTE_WS]);
    // The local server comes back: the new socket subscribes again, right after hello.
    s.local = Local::Up;
    s.run_for(31_000);
    assert_eq!(s.mode(), Mode::Local);
    assert_eq!(subscribed_on(&s), [REMOTE_WS, LOCAL_WS]);
    let on_local: Vec<String> = s
        .sent_actions()
        .into_iter()
        .map(|a| a.0)
        .skip_while(|a| a != "hello")
        .collect();
    assert!(on_local.starts_with(&["hello".to_owned()]));
    // Unsubscribing while connected sends it at once, and later sockets do not subscribe.
    let cmds = s.m.subscribe(s.now, &events, false);
    assert!(
        matches!(&cmds[..], [Command::Send { text, .. }] if text.contains(r#""action":"unsubscribe""#))
    );
}

#[test]
fn the_token_goes_to_the_remote_in_hello_and_never_to_the_local_server() {
    let token: semantest_protocol::Token = "remote-key-0123456789".parse().unwrap();
    let overrides = Overrides {
        token: Some(token),
        ..Overrides::default()
    };
    let mut s = Sim::with(Local::Refused, true, overrides);
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    s.local = Local::Up;
    s.run_for(31_000);
    assert_eq!(s.mode(), Mode::Local);
    let hellos: Vec<(String, serde_json::Value)> = s
        .sent_with_url("hello")
        .into_iter()
        .map(|(url, text)| (url, serde_json::from_str(&text).unwrap()))
        .collect();
    assert_eq!(hellos.len(), 2, "{hellos:?}");
    assert_eq!(hellos[0].0, REMOTE_WS);
    assert_eq!(hellos[0].1["payload"]["token"], "remote-key-0123456789");
    assert_eq!(hellos[1].0, LOCAL_WS);
    assert!(
        hellos[1].1["payload"].get("token").is_none(),
        "the local server must not see the key: {}",
        hellos[1].1
    );
    // The handshake carries it too (the bearer subprotocol), for the remote socket only.
    let opened: Vec<(String, Option<String>)> = s
        .log
        .iter()
        .filter_map(|(_, c)| match c {
            Command::OpenSocket { url, token, .. } => {
                Some((url.clone(), token.as_ref().map(|t| t.expose().to_owned())))
            }
            _ => None,
        })
        .collect();
    assert!(opened.contains(&(
        REMOTE_WS.to_owned(),
        Some("remote-key-0123456789".to_owned())
    )));
    assert!(opened.contains(&(LOCAL_WS.to_owned(), None)), "{opened:?}");
    assert!(
        opened
            .iter()
            .all(|(url, t)| url == REMOTE_WS || t.is_none()),
        "{opened:?}"
    );
}

#[test]
fn a_bad_token_in_the_environment_is_refused_without_echoing_it() {
    let env = |k: &str| (k == "SEMANTEST_TOKEN").then(|| "bad token, with spaces".to_owned());
    let err = Overrides::from_env(env).unwrap_err().to_string();
    assert!(err.starts_with("SEMANTEST_TOKEN: "), "{err}");
    assert!(!err.contains("spaces"), "the secret is not repeated: {err}");
    let env = |k: &str| (k == "SEMANTEST_TOKEN").then(|| "a-good-token-0123456789".to_owned());
    let o = Overrides::from_env(env).unwrap();
    let s = Settings::resolve(&o).unwrap();
    assert_eq!(
        s.token.as_ref().map(semantest_protocol::Token::expose),
        Some("a-good-token-0123456789")
    );
    assert!(!format!("{s:?}").contains("a-good-token"), "Debug hides it");
    assert!(!serde_json::to_string(&s).unwrap().contains("a-good-token"));
}

#[test]
fn urls_with_user_info_are_refused_as_the_browser_would_hide_the_host() {
    // Issue 11: with user info the real host is after the `@`; a person reads the part before.
    for url in [
        "ws://localhost@evil.example/",
        "ws://localhost:3003@evil.example/",
        "wss://api.extension.semantest.com@evil.example/",
        "ws://evil.example%5C@localhost/",
        "ws://user:pass@localhost:3003/",
    ] {
        let err = Settings::resolve(&Overrides {
            custom_url: Some(url.to_owned()),
            ..Overrides::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("user info (user@host) is not allowed"),
            "{url}: {err}"
        );
    }
    // And 0x7f.1 is 127.0.0.1 to the browser: this machine, so the key may go there.
    assert!(Settings::resolve(&Overrides {
        token: Some("remote-key-0123456789".parse().unwrap()),
        custom_url: Some("ws://0x7f.1:3004/".to_owned()),
        ..Overrides::default()
    })
    .is_ok());
}

#[test]
fn a_token_is_never_sent_in_the_clear_to_another_machine() {
    let token: semantest_protocol::Token = "remote-key-0123456789".parse().unwrap();
    let with = |url: &str| {
        Settings::resolve(&Overrides {
            token: Some(token.clone()),
            custom_url: Some(url.to_owned()),
            ..Overrides::default()
        })
    };
    for ok in [
        "wss://api.example.org",
        "ws://127.0.0.1:3004",
        "ws://localhost:3004/",
        "ws://[::1]:3004",
    ] {
        assert!(with(ok).is_ok(), "{ok}");
    }
    for clear in [
        "ws://api.example.org",
        "ws://192.168.1.5:3003",
        "ws://localhost.example.org",
        // Issue 11: the browser reads `\` as the end of the host (WHATWG), so these connect
        // to evil.example; a string split on `@` saw `localhost`.
        r"ws://evil.example\@localhost/",
        r"ws://evil.example\@127.0.0.1:3003/",
        r"ws://evil.example\@[::1]/",
        "ws://evil.example#@localhost/",
        "ws://evil.example?@localhost/",
        "ws://evil.example/@localhost/",
        "ws://127.0.0.1.evil.example/",
    ] {
        let err = with(clear).unwrap_err().to_string();
        assert!(
            err.starts_with("token: the access key is only sent over wss://"),
            "{err}"
        );
    }
    // Without a token, ws:// stays allowed anywhere.
    assert!(Settings::resolve(&Overrides {
        custom_url: Some("ws://api.example.org".into()),
        ..Overrides::default()
    })
    .is_ok());
}

#[test]
fn an_unauthorized_error_before_a_reasonless_close_is_the_reason_shown() {
    // The public service closes through API Gateway, which gives no close reason: the
    // `error unauthorized` it sent first is what the user is told.
    let mut s = Sim::new(Local::Refused, true);
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    let socket = *s.sockets.keys().max().unwrap(); // the newest: the sim keeps closed ones
    s.event(Event::MessageReceived {
        socket,
        text: r#"{"type":"error","replyTo":"h3","payload":{"code":"unauthorized","message":"the API key is not valid"}}"#.into(),
    });
    s.event(Event::SocketClosed {
        socket,
        code: 1000,
        reason: String::new(),
    });
    let st = s.status();
    assert_ne!(st.mode, Mode::Cloud);
    assert_eq!(
        st.remote_reason.as_deref(),
        Some("connection closed (code 1000: unauthorized: the API key is not valid)")
    );

    // A transport failure after the refusal (a write that met the closed connection) too.
    s.run_for(5_000);
    assert_eq!(s.mode(), Mode::Cloud);
    let socket = *s.sockets.keys().max().unwrap(); // the newest: the sim keeps closed ones
    s.event(Event::MessageReceived {
        socket,
        text: r#"{"type":"error","payload":{"code":"unauthorized","message":"the API key is not valid"}}"#.into(),
    });
    s.event(Event::SocketClosed {
        socket,
        code: 1006,
        reason: "IO error: Broken pipe (os error 32)".into(),
    });
    let st = s.status();
    assert_eq!(
        st.remote_reason.as_deref(),
        Some("connection closed (code 1006: unauthorized: the API key is not valid)"),
        "{st:?} {:?}",
        s.sockets
    );

    // A close with its own reason keeps it; a welcome clears an earlier refusal.
    s.run_for(5_000);
    assert_eq!(s.mode(), Mode::Cloud);
    let socket = *s.sockets.keys().max().unwrap(); // the newest: the sim keeps closed ones
    s.event(Event::MessageReceived {
        socket,
        text: r#"{"type":"error","payload":{"code":"unauthorized","message":"send a hello with your API key in payload.token first"}}"#.into(),
    });
    s.event(Event::MessageReceived {
        socket,
        text: r#"{"type":"welcome","payload":{"connectionId":"c","server":{"service":"semantest","version":"1.0.0","environment":"production","capabilities":[]},"heartbeatSecs":20}}"#.into(),
    });
    s.event(Event::SocketClosed {
        socket,
        code: 1001,
        reason: String::new(),
    });
    assert_eq!(
        s.status().remote_reason.as_deref(),
        Some("connection closed (code 1001)")
    );
}
