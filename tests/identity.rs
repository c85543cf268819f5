//! Identity in simulated time: an extension without a token registers on the remote before its socket is ready, keeps the token for the next sockets and hands it to the driver; clients, local servers and tokened extensions never register; refusals are failures with their reason; a stale install token is forgotten; a `paired` answer gives its token.

mod sim;

use semantest_connect::{Command, Mode, Overrides};
use semantest_protocol::identity::Paired;
use semantest_protocol::{ErrorCode, ErrorPayload, Role, ServerMessage};
use sim::{Local, Sim, REMOTE_WS};

const T0: u64 = 1_000_000;

fn extension() -> Overrides {
    Overrides {
        role: Some(Role::Extension),
        ..Default::default()
    }
}

/// The hellos sent, each with its token (if any).
fn hello_tokens(s: &Sim) -> Vec<Option<String>> {
    s.sent
        .iter()
        .filter(|(_, _, t)| t.contains(r#""action":"hello""#))
        .map(|(_, _, t)| {
            let v: serde_json::Value = serde_json::from_str(t).unwrap();
            v["payload"]["token"].as_str().map(str::to_owned)
        })
        .collect()
}

#[test]
fn a_new_extension_registers_on_the_cloud_before_it_is_ready_and_keeps_its_token() {
    let mut s = Sim::with(Local::Refused, true, extension());
    s.start();
    let id = s.send("publish").unwrap();
    s.run_until(T0 + 41 + sim::REMOTE_RTT);
    // Welcomed, but not ready: the register is out, the publish waits.
    assert_eq!(s.mode(), Mode::Connecting);
    assert_eq!(s.sent_ids("register").len(), 1);
    assert!(
        s.sent_ids("publish").is_empty(),
        "nothing goes out before registered"
    );
    s.run_for(sim::REMOTE_RTT);
    assert_eq!(s.mode(), Mode::Cloud);
    assert_eq!(s.sent_ids("publish"), vec![id]);
    assert_eq!(s.credentials.len(), 1);
    let issued = s.credentials[0].1.clone().expect("a token to store");
    assert_eq!(issued.install_id, "inst_sim1");
    assert!(issued.device_id.is_none());
    assert!(
        !s.delivered.iter().any(|t| t.contains("registered")),
        "the token goes to the driver only, not to the application"
    );
    // The next socket shows the token, and does not register again.
    s.kill(false);
    s.remote_up = true;
    s.run_for(10_000);
    assert_eq!(s.mode(), Mode::Cloud);
    assert_eq!(s.sent_ids("register").len(), 1);
    let tokens = hello_tokens(&s);
    assert_eq!(tokens.first(), Some(&None), "the first hello had no token");
    assert_eq!(
        tokens.last().cloned().flatten(),
        Some(issued.token.expose().to_owned())
    );
    assert_eq!(s.registered, 1);
}

#[test]
fn clients_local_servers_and_extensions_with_a_token_never_register() {
    // A tool on the cloud without a token: ready keyless (it may pair).
    let mut tool = Sim::new(Local::Refused, true);
    tool.start();
    tool.run_for(1_000);
    assert_eq!(tool.mode(), Mode::Cloud);
    // An extension on a local server: no identity there.
    let mut local = Sim::with(Local::Up, true, extension());
    local.start();
    local.run_for(1_000);
    assert_eq!(local.mode(), Mode::Local);
    // An extension that has a token already.
    let mut keyed = Sim::with(
        Local::Refused,
        true,
        Overrides {
            token: Some("sti_0123456789abcdef".parse().unwrap()),
            ..extension()
        },
    );
    keyed.start();
    keyed.run_for(1_000);
    assert_eq!(keyed.mode(), Mode::Cloud);
    for s in [&tool, &local, &keyed] {
        assert!(s.sent_ids("register").is_empty());
        assert!(s.credentials.is_empty());
    }
}

#[test]
fn a_refused_registration_is_a_failure_of_the_cloud_with_its_reason_and_wait() {
    let mut s = Sim::with(Local::Refused, true, extension());
    s.register_answer = Some(ServerMessage::Error(ErrorPayload {
        code: ErrorCode::RateLimited,
        message: "too many registrations from this address: at most 10 an hour".into(),
        retry_after_secs: Some(360),
    }));
    s.start();
    s.run_for(500);
    assert!(
        s.first_time_in(Mode::Cloud).is_none(),
        "never shown as connected"
    );
    let status = s.status();
    assert_eq!(status.mode, Mode::Offline);
    let reason = status.remote_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("refused to register")
            && reason.contains("at most 10 an hour")
            && reason.contains("retry in 360 s"),
        "{reason}"
    );
    assert!(s.credentials.is_empty());
    // The next attempt registers again, and succeeds once the service lets it.
    s.register_answer = None;
    s.run_for(60_000);
    assert_eq!(s.mode(), Mode::Cloud);
    assert_eq!(s.credentials.len(), 1);
}

#[test]
fn a_server_without_register_is_used_without_a_token() {
    let mut s = Sim::with(Local::Refused, true, extension());
    s.register_answer = Some(ServerMessage::Error(ErrorPayload {
        code: ErrorCode::UnknownAction,
        message: "unknown action 'register'".into(),
        retry_after_secs: None,
    }));
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    assert!(s.credentials.is_empty());
}

#[test]
fn no_answer_to_register_in_time_is_a_connect_timeout() {
    let mut s = Sim::with(Local::Refused, true, extension());
    // A registration answer that never comes: the server hangs once the hello's welcome is
    // on its way.
    s.start();
    s.run_until(T0 + 41);
    s.hang_open_sockets();
    s.run_for(20_000);
    let (at, offline) = s
        .statuses
        .iter()
        .find(|(_, st)| st.mode == Mode::Offline)
        .cloned()
        .expect("the attempt failed");
    assert!(
        s.first_time_in(Mode::Cloud).is_none_or(|t| t > at),
        "not ready before it failed"
    );
    let reason = offline.remote_reason.unwrap_or_default();
    assert!(
        reason.starts_with("no answer to register from the server within"),
        "{reason}"
    );
}

#[test]
fn a_stale_install_token_is_forgotten_so_the_next_attempt_registers() {
    let mut s = Sim::with(
        Local::Refused,
        true,
        Overrides {
            token: Some(format!("sti_{:064}", 7).parse().unwrap()),
            ..extension()
        },
    );
    s.refuse_key = true;
    s.start();
    s.run_for(200);
    assert_eq!(s.credentials.len(), 1);
    assert!(s.credentials[0].1.is_none(), "forget the stored token");
    s.refuse_key = false;
    s.run_for(10_000);
    assert_eq!(s.mode(), Mode::Cloud);
    assert_eq!(s.sent_ids("register").len(), 1);
    assert!(s.credentials.last().unwrap().1.is_some());
}

#[test]
fn an_operator_key_that_is_refused_is_kept_and_shown_as_refused() {
    let mut s = Sim::with(
        Local::Refused,
        true,
        Overrides {
            token: Some("operator-key-0123456789".parse().unwrap()),
            ..extension()
        },
    );
    s.refuse_key = true;
    s.start();
    s.run_for(200);
    assert!(s.credentials.is_empty(), "not the core's to forget");
    assert!(s.sent_ids("register").is_empty());
}

#[test]
fn a_local_server_cannot_hand_the_client_a_token() {
    let mut s = Sim::with(Local::Up, true, extension());
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Local);
    let socket = *s.sockets.keys().next().unwrap();
    let asked = s.send("pair").unwrap();
    let frame = semantest_protocol::ServerFrame::reply(
        Some(asked),
        ServerMessage::Registered(semantest_protocol::identity::Registered {
            install_id: "inst_evil".into(),
            token: format!("sti_{:064}", 9).parse().unwrap(),
        }),
    );
    s.event(semantest_connect::Event::MessageReceived {
        socket,
        text: frame.to_json(),
    });
    assert!(
        s.credentials.is_empty(),
        "whatever answers on the local port gives no token"
    );
}

#[test]
fn a_paired_answer_gives_a_client_its_token_for_the_next_sockets() {
    let mut s = Sim::new(Local::Refused, true);
    s.start();
    s.run_for(1_000);
    assert_eq!(s.mode(), Mode::Cloud);
    let socket = *s.sockets.keys().next().unwrap();
    let paired_frame = |to: &str| {
        semantest_protocol::ServerFrame::reply(
            Some(to.to_owned()),
            ServerMessage::Paired(Paired {
                token: format!("std_{:064}", 3).parse().unwrap(),
                device_id: "dev_1".into(),
                install_id: "inst_1".into(),
            }),
        )
    };
    // Unasked: ignored.
    s.event(semantest_connect::Event::MessageReceived {
        socket,
        text: paired_frame("c9").to_json(),
    });
    assert!(
        s.credentials.is_empty(),
        "a token nobody asked for is not taken"
    );
    let asked = s.send("pair").unwrap();
    let paired = semantest_protocol::ServerFrame::reply(
        Some(asked),
        ServerMessage::Paired(Paired {
            token: format!("std_{:064}", 3).parse().unwrap(),
            device_id: "dev_1".into(),
            install_id: "inst_1".into(),
        }),
    );
    s.event(semantest_connect::Event::MessageReceived {
        socket,
        text: paired.to_json(),
    });
    let got = s.credentials.last().unwrap().1.clone().unwrap();
    assert_eq!(got.device_id.as_deref(), Some("dev_1"));
    s.kill(false);
    s.remote_up = true;
    s.run_for(10_000);
    assert_eq!(
        hello_tokens(&s).last().cloned().flatten(),
        Some(format!("std_{:064}", 3))
    );
    assert!(s.log.iter().any(
        |(_, c)| matches!(c, Command::OpenSocket { url, token: Some(_), .. } if url == REMOTE_WS)
    ));
}
