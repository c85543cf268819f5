//! Every mode, briefly, against real servers in this process: the Semantest server, a
//! WebSocket echo server and the TCP echo server.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use semantest_load::burst::{self, BurstOptions};
use semantest_load::echo::{self, EchoOptions};
use semantest_load::image::{self, ImageOptions};
use semantest_load::proto::Proto;
use semantest_load::ramp::{self, RampOptions};
use semantest_load::rate::{self, RateOptions};
use semantest_load::target::Target;
use semantest_load::tcp_server;
use semantest_server::{serve_state, AppState, Config};
use tokio::net::TcpListener;

/// The longest a whole test may take.
const BOUND: Duration = Duration::from_secs(60);

/// A Semantest server on a free port, storing images under `dir`; its base address.
async fn semantest_server(dir: &std::path::Path) -> String {
    semantest_server_with(Config {
        images_dir: dir.join("images"),
        ..Config::default()
    })
    .await
}

/// A Semantest server with `config` on a free port; its base address.
async fn semantest_server_with(config: Config) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(config);
    tokio::spawn(serve_state(listener, state, std::future::pending()));
    format!("127.0.0.1:{}", addr.port())
}

/// A WebSocket server that sends every data message back.
async fn ws_echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    format!("ws://{addr}/")
}

async fn tcp_echo_server() -> String {
    let listener = tcp_server::bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tcp_server::serve(listener));
    format!("tcp://{addr}")
}

fn echo_options(target: Target, proto: Proto) -> EchoOptions {
    EchoOptions {
        target,
        proto,
        connections: 4,
        duration: Duration::from_millis(300),
        warmup: Duration::from_millis(100),
        size: 200,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_counts_answers_of_every_proto() {
    let dir = tempfile::tempdir().unwrap();
    let semantest = format!("ws://{}/", semantest_server(dir.path()).await);
    let urls = [
        (Proto::Semantest, semantest),
        (Proto::Echo, ws_echo_server().await),
        (Proto::Tcp, tcp_echo_server().await),
    ];
    for (proto, url) in urls {
        let options = echo_options(Target::resolve(&url).await.unwrap(), proto);
        let report = tokio::time::timeout(BOUND, echo::run(&options))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.errors, 0, "{proto:?}: {report:?}");
        assert_eq!(report.connections, 4);
        assert!(report.messages > 20, "{proto:?}: {report:?}");
        assert!(
            report.p50_us > 0 && report.p50_us <= report.max_us,
            "{report:?}"
        );
        let wire = if proto == Proto::Tcp { 204 } else { 200 };
        assert_eq!(report.message_bytes, wire, "{proto:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_sends_on_schedule_and_every_message_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let semantest = format!("ws://{}/", semantest_server(dir.path()).await);
    for (proto, url) in [
        (Proto::Semantest, semantest),
        (Proto::Tcp, tcp_echo_server().await),
    ] {
        let options = RateOptions {
            target: Target::resolve(&url).await.unwrap(),
            proto,
            connections: 10,
            rate: 400.0,
            duration: Duration::from_millis(500),
            size: 64,
        };
        let report = tokio::time::timeout(BOUND, rate::run(&options))
            .await
            .unwrap()
            .unwrap();
        // 400/s for 0.5 s: exactly 200 messages are due.
        assert_eq!(report.sent, 200, "{proto:?}: {report:?}");
        assert_eq!(report.answered, 200, "{proto:?}: {report:?}");
        assert_eq!((report.errors, report.unanswered), (0, 0), "{report:?}");
        assert!(report.max_us < 1_000_000, "{report:?}");
    }
}

/// A sender that shut its TCP stream down when done would make the echo server close before
/// the last answers were read: with many connections some of them lose the race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_over_tcp_loses_no_answer_at_the_end() {
    let url = tcp_echo_server().await;
    let options = RateOptions {
        target: Target::resolve(&url).await.unwrap(),
        proto: Proto::Tcp,
        connections: 500,
        rate: 5000.0,
        duration: Duration::from_millis(200),
        size: 64,
    };
    let report = tokio::time::timeout(BOUND, rate::run(&options))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.sent, 1000, "{report:?}");
    assert_eq!((report.answered, report.errors), (1000, 0), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_holds_greeted_connections_and_reads_the_rss() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("ws://{}/", semantest_server(dir.path()).await);
    let options = RampOptions {
        target: Target::resolve(&url).await.unwrap(),
        proto: Proto::Semantest,
        connections: 40,
        // The server runs in this process.
        pid: std::process::id(),
        hold: Duration::from_millis(200),
    };
    let report = tokio::time::timeout(BOUND, ramp::run(&options))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((report.held, report.failed), (40, 0), "{report:?}");
    assert_eq!(report.alive_after_hold, 40, "{report:?}");
    assert!(
        report.rss_before_kib > 0 && report.rss_hold_kib.is_some(),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_refuses_more_connections_than_files_it_may_open() {
    let options = RampOptions {
        target: Target::resolve("ws://127.0.0.1:9/").await.unwrap(),
        proto: Proto::Semantest,
        connections: usize::MAX / 2,
        pid: std::process::id(),
        hold: Duration::ZERO,
    };
    let err = ramp::run(&options).await.unwrap_err();
    assert!(err.to_string().contains("ulimit -Hn"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_round_trips_are_checked_and_timed() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("http://{}", semantest_server(dir.path()).await);
    let options = ImageOptions {
        target: Target::resolve(&base).await.unwrap(),
        size: 300_000,
        runs: 3,
        token: None,
    };
    let report = tokio::time::timeout(BOUND, image::run(&options))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((report.runs.len(), report.errors), (3, 0), "{report:?}");
    assert!(
        report.median_total_ms >= report.median_upload_ms,
        "{report:?}"
    );
    let stored = std::fs::read_dir(dir.path().join("images"))
        .unwrap()
        .count();
    assert_eq!(stored, 3);
    // Nothing listens there: every run fails, and so does the mode.
    let options = ImageOptions {
        target: Target::resolve("http://127.0.0.1:9").await.unwrap(),
        runs: 2,
        ..options
    };
    assert!(image::run(&options).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_counts_the_served_and_the_refused_per_source_address() {
    let dir = tempfile::tempdir().unwrap();
    let base = semantest_server_with(Config {
        images_dir: dir.path().join("images"),
        max_connections_per_ip: 5,
        ..Config::default()
    })
    .await;
    let options = BurstOptions {
        target: Target::resolve(&format!("ws://{base}/")).await.unwrap(),
        connections: 40,
        sources: 4,
        token: None,
        connect_bound: Duration::from_secs(10),
        answer_bound: Duration::from_secs(10),
    };
    let report = tokio::time::timeout(BOUND, burst::run(&options))
        .await
        .unwrap()
        .unwrap();
    // Ten from each of 4 addresses, 5 of them let in: the others are told to come back.
    assert_eq!((report.served, report.welcomed), (20, 20), "{report:?}");
    assert_eq!(report.refused_503, 20, "{report:?}");
    assert_eq!(
        (report.closed_unanswered, report.half_open, report.failed),
        (0, 0, 0),
        "{report:?}"
    );
    assert_eq!(report.served_latency.count, 20);
    assert_eq!(report.refused_latency.count, 20);
}
