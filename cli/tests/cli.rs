//! The `semantest` binary against real servers on loopback: which side it picks, what it
//! prints, and its exit codes.

use std::net::TcpListener as StdListener;
use std::process::Output;

use semantest_server::{serve, Config, Environment};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A real semantest-server on a free port, stopped on drop.
struct Server {
    port: u16,
    _stop: oneshot::Sender<()>,
}

async fn server(environment: Environment) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config {
        environment,
        ..Config::default()
    };
    tokio::spawn(serve(listener, config, async move {
        let _ = stopped.await;
    }));
    Server { port, _stop: stop }
}

/// A port with nothing listening.
fn refused_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn semantest(env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_semantest"));
    cmd.args(args)
        .env_remove("SEMANTEST_SERVER")
        .env_remove("SEMANTEST_LOCAL_URL")
        .env_remove("SEMANTEST_REMOTE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .expect("semantest finished in time")
        .expect("semantest ran")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn urls(local: u16, remote: u16) -> Vec<(&'static str, String)> {
    vec![
        ("SEMANTEST_LOCAL_URL", format!("http://127.0.0.1:{local}")),
        ("SEMANTEST_REMOTE_URL", format!("ws://127.0.0.1:{remote}")),
    ]
}

#[tokio::test]
async fn status_prefers_the_local_server() {
    let (local, remote) = (
        server(Environment::Local).await,
        server(Environment::Production).await,
    );
    let out = semantest(&urls(local.port, remote.port), &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("local ws://127.0.0.1:{} ", local.port)),
        "{text}"
    );
    assert!(text.trim_end().ends_with(" ms"), "{text}");

    let out = semantest(&urls(local.port, remote.port), &["--json", "status"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["mode"], "local");
    assert!(status["latencyMs"].is_u64(), "{status}");
}

#[tokio::test]
async fn status_falls_back_to_remote_and_says_why() {
    let remote = server(Environment::Production).await;
    let out = semantest(&urls(refused_port(), remote.port), &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("cloud ws://127.0.0.1:{} ", remote.port)),
        "{text}"
    );
    assert!(
        text.contains("(local server not used: connection refused)"),
        "{text}"
    );
}

#[tokio::test]
async fn semantest_server_remote_skips_a_running_local_server() {
    let (local, remote) = (
        server(Environment::Local).await,
        server(Environment::Production).await,
    );
    let mut env = urls(local.port, remote.port);
    env.push(("SEMANTEST_SERVER", "remote".into()));
    let out = semantest(&env, &["status"]).await;
    assert!(stdout(&out).starts_with("cloud "), "{out:?}");
}

#[tokio::test]
async fn semantest_server_local_never_uses_the_remote() {
    let remote = server(Environment::Production).await;
    let mut env = urls(refused_port(), remote.port);
    env.push(("SEMANTEST_SERVER", "local".into()));
    let out = semantest(&env, &["status"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(stdout(&out), "local: connection refused\n");
}

#[tokio::test]
async fn both_down_prints_a_reason_per_server_and_fails() {
    let out = semantest(&urls(refused_port(), refused_port()), &["status"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stdout(&out),
        "local: connection refused\nremote: could not connect\n"
    );
}

#[tokio::test]
async fn ping_prints_each_round_trip() {
    let local = server(Environment::Local).await;
    let out = semantest(&urls(local.port, refused_port()), &["ping", "--count", "2"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "pong from ws://127.0.0.1:{}: seq=0 time=",
            local.port
        )),
        "{text}"
    );
}

#[tokio::test]
async fn send_prints_the_answer_and_fails_on_an_error_frame() {
    let local = server(Environment::Local).await;
    let env = urls(local.port, refused_port());
    let out = semantest(&env, &["send", "nope", "{}"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let frame: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["payload"]["code"], "unknown_action");

    let out = semantest(&env, &["send", "ping", r#"{"t":5}"#]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let frame: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(frame["type"], "pong");
    assert_eq!(frame["payload"]["t"], 5);

    let out = semantest(&env, &["send", "ping", "not json"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("payload is not JSON"),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_bad_environment_is_a_clear_error() {
    let out = semantest(&[("SEMANTEST_SERVER", "cloud".into())], &["status"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "semantest: SEMANTEST_SERVER: 'cloud' is not one of local, remote, auto\n"
    );
    let out = semantest(
        &[("SEMANTEST_REMOTE_URL", "https://x.example".into())],
        &["status"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("remoteUrl: 'https://x.example' is not a valid URL"));
}

#[tokio::test]
async fn listen_prints_the_events_it_subscribed_to() {
    let local = server(Environment::Local).await;
    let env = urls(local.port, refused_port());
    let listener = tokio::spawn({
        let env = env.clone();
        async move { semantest(&env, &["listen", "status", "--count", "1"]).await }
    });
    // Publish until the listener has subscribed and received one (bounded).
    let publisher = async {
        for _ in 0..100 {
            let out = semantest(
                &env,
                &["send", "publish", r#"{"event":"status","data":{"n":7}}"#],
            )
            .await;
            let ack: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if ack["payload"]["delivered"] == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the listener never subscribed");
    };
    publisher.await;
    let out = listener.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.starts_with("status from ") && text.trim_end().ends_with(r#": {"n":7}"#),
        "{text}"
    );
}
