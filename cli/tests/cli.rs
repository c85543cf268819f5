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
        // A production server asks for a key; `urls` gives it to the CLI.
        api_keys: vec![KEY.parse().unwrap()],
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
        .env_remove("SEMANTEST_REMOTE_URL")
        .env_remove("SEMANTEST_TOKEN")
        // No credentials of whoever runs the tests.
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("semantest-cli-tests-no-config"),
        );
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

/// The production servers' API key.
const KEY: &str = "cli-test-key-0123456789abcdef";

fn urls(local: u16, remote: u16) -> Vec<(&'static str, String)> {
    vec![
        ("SEMANTEST_LOCAL_URL", format!("http://127.0.0.1:{local}")),
        ("SEMANTEST_REMOTE_URL", format!("ws://127.0.0.1:{remote}")),
        ("SEMANTEST_TOKEN", KEY.to_owned()),
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

/// What the fake extension answers to `imageDownloadRequested`.
enum Ext {
    /// Uploads the bytes to the server and replies `imageDownloaded` with its `imageId`.
    Uploads(Vec<u8>),
    /// Replies `imageDownloadFailed`.
    Fails,
    /// Replies `imageDownloaded` with this `url` and `sha256` (as from the public service).
    Points { url: String, sha256: String },
}

/// Plays the extension: takes every `imageDownloadRequested` and answers as `ext` says.
async fn fake_extension(port: u16, ext: Ext) -> tokio::task::JoinHandle<()> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/"))
        .await
        .unwrap();
    let hello = r#"{"action":"hello","id":"h","payload":{"role":"extension","clientId":"fake","version":"0"}}"#;
    ws.send(Message::Text(hello.into())).await.unwrap();
    let sub = r#"{"action":"subscribe","id":"s","payload":{"events":["imageDownloadRequested"]}}"#;
    ws.send(Message::Text(sub.into())).await.unwrap();
    // Wait for the subscribe's ack, so a request published after this returns reaches us.
    while let Some(Ok(m)) = ws.next().await {
        if m.to_text().unwrap_or_default().contains(r#""replyTo":"s""#) {
            break;
        }
    }
    tokio::spawn(async move {
        while let Some(Ok(m)) = ws.next().await {
            let Ok(frame) =
                serde_json::from_str::<serde_json::Value>(m.to_text().unwrap_or_default())
            else {
                continue;
            };
            if frame["payload"]["event"] != "imageDownloadRequested" {
                continue;
            }
            let id = frame["payload"]["id"].as_str().unwrap().to_owned();
            let name = frame["payload"]["data"]["filename"]
                .as_str()
                .unwrap()
                .to_owned();
            let data = match &ext {
                Ext::Points { url, sha256 } => {
                    serde_json::json!({"event": "imageDownloaded", "to": id, "data": {"requestId": id, "url": url, "sha256": sha256}})
                }
                Ext::Uploads(bytes) => {
                    let url = format!("http://127.0.0.1:{port}/images?name=ext-{name}");
                    let stored: serde_json::Value = semantest_cli::image::Download::client()
                        .post(url)
                        .body(bytes.clone())
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .map(|b| serde_json::from_slice(&b).unwrap())
                        .unwrap();
                    serde_json::json!({"event": "imageDownloaded", "to": id, "data": {"requestId": id, "path": stored["path"], "size": stored["size"], "sha256": stored["sha256"], "imageId": stored["id"]}})
                }
                Ext::Fails => {
                    serde_json::json!({"event": "imageDownloadFailed", "to": id, "data": {"requestId": id, "reason": "no generated image on the ChatGPT page"}})
                }
            };
            let reply =
                serde_json::json!({"action": "reply", "id": "r", "payload": data}).to_string();
            ws.send(Message::Text(reply.into())).await.unwrap();
        }
    })
}

#[tokio::test]
async fn request_image_writes_what_the_extension_uploaded() {
    let images = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_stop, stopped) = oneshot::channel::<()>();
    let config = Config {
        images_dir: images.path().to_owned(),
        ..Config::default()
    };
    tokio::spawn(serve(listener, config, async move {
        let _ = stopped.await;
    }));
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let _ext = fake_extension(port, Ext::Uploads(bytes.clone())).await;
    let env = urls(port, refused_port());
    let out = out_dir.path().to_str().unwrap().to_owned();
    let run = semantest(
        &env,
        &[
            "request-image",
            "--latest",
            "--out",
            &out,
            "--name",
            "cat.png",
        ],
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let printed = stdout(&run);
    assert!(printed.trim_end().ends_with("cat.png"), "{printed}");
    assert_eq!(std::fs::read(printed.trim_end()).unwrap(), bytes);
}

#[tokio::test]
async fn request_image_reports_the_extensions_failure_and_a_missing_extension() {
    let local = server(Environment::Local).await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap().to_owned();
    let env = urls(local.port, refused_port());
    // No extension at all: the request is held; the command gives up after its timeout.
    let run = semantest(
        &env,
        &["request-image", "--latest", "--out", &out, "--timeout", "1"],
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(stdout(&run), "no answer from the extension within 1 s\n");
    // An extension that cannot find the image says why.
    let _ext = fake_extension(local.port, Ext::Fails).await;
    let run = semantest(&env, &["request-image", "--latest", "--out", &out]).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(
        stdout(&run),
        "the extension could not get the image: no generated image on the ChatGPT page\n"
    );
    assert!(
        std::fs::read_dir(out_dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[tokio::test]
async fn the_remote_without_a_token_says_to_pair_and_a_wrong_key_unauthorized() {
    let remote = server(Environment::Production).await;
    let mut env = urls(refused_port(), remote.port);
    env.retain(|(k, _)| *k != "SEMANTEST_TOKEN");
    env.push(("SEMANTEST_SERVER", "remote".into()));
    let out = semantest(&env, &["status"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("not paired") && text.contains("semantest pair CODE"),
        "{text}"
    );
    env.push(("SEMANTEST_TOKEN", "a-wrong-key-0123456789".into()));
    let out = semantest(&env, &["status"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains("unauthorized"), "{out:?}");
    assert!(!stdout(&out).contains("a-wrong-key"), "{out:?}");
}

/// A local server that stores images in `dir`.
async fn image_server(dir: &std::path::Path) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config {
        images_dir: dir.to_owned(),
        ..Config::default()
    };
    tokio::spawn(serve(listener, config, async move {
        let _ = stopped.await;
    }));
    Server { port, _stop: stop }
}

/// Issue 11: `request-image` fetched whatever `url` the extension's reply named. A URL with
/// user info is refused (here one to the server's own image, which it would have fetched),
/// and so is a host that is neither the server's nor a storage host.
#[tokio::test]
async fn issue_11_request_image_refuses_a_url_it_should_not_fetch() {
    let bytes = b"not really a png".to_vec();
    let sha256 = semantest_cli::hex_sha256(&bytes);
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap().to_owned();
    /// Which URL the extension names, for the server's port and the stored image's id.
    type Url = fn(u16, &str) -> String;
    let cases: [(Url, &str); 2] = [
        (
            |port, id| format!("http://me:secret@127.0.0.1:{port}/images/{id}"),
            "a URL with a user name or password is not fetched",
        ),
        (
            |_, _| "https://images.example.com/x.png?X-Amz-Signature=s".to_owned(),
            "its host is neither the connected server's nor an allowed storage host",
        ),
    ];
    for (url, why) in cases {
        // A server of its own for each case, with the image stored in it.
        let images = tempfile::tempdir().unwrap();
        let local = image_server(images.path()).await;
        let stored: serde_json::Value = semantest_cli::image::Download::client()
            .post(format!("http://127.0.0.1:{}/images?name=x.png", local.port))
            .body(bytes.clone())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap();
        let url = url(local.port, stored["id"].as_str().unwrap());
        let sha256 = sha256.clone();
        let _ext = fake_extension(local.port, Ext::Points { url, sha256 }).await;
        let env = urls(local.port, refused_port());
        let run = semantest(&env, &["request-image", "--latest", "--out", &out]).await;
        assert_eq!(run.status.code(), Some(2), "{run:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains("refusing to fetch the image from "),
            "{stderr}"
        );
        assert!(stderr.trim_end().ends_with(why), "{stderr}");
        assert!(
            !stderr.contains("secret") && !stderr.contains("X-Amz"),
            "{stderr}"
        );
    }
    assert!(
        std::fs::read_dir(out_dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

/// Issue 11: `request-image` read any image whole, however large. It stops past 32 MiB.
#[tokio::test]
async fn issue_11_request_image_stops_reading_past_the_cap() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let local = server(Environment::Local).await;
    let bytes = vec![7u8; 32 * 1024 * 1024 + 1];
    let sha256 = semantest_cli::hex_sha256(&bytes);
    // A storage host on loopback that streams the body without a length.
    let storage = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/big.png", storage.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = storage.accept().await {
            let mut request = [0; 4096];
            let _ = tcp.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n";
            let _ = tcp.write_all(head.as_bytes()).await;
            let _ = tcp.write_all(&bytes).await;
        }
    });
    let _ext = fake_extension(local.port, Ext::Points { url, sha256 }).await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap().to_owned();
    let env = urls(local.port, refused_port());
    let run = semantest(&env, &["request-image", "--latest", "--out", &out]).await;
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        "semantest: the image is larger than 32 MiB\n"
    );
    assert!(
        std::fs::read_dir(out_dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
