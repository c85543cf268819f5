//! `semantest request-image` against a real server and a stand-in extension on a real
//! WebSocket: what it asks for (a generation or a download), the progress it shows, the file it
//! writes, and how it fails.

use std::process::Output;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use semantest_protocol::generation::{self, Stage};
use semantest_server::{serve, Config};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// The longest any one step of a test waits.
const BOUND: Duration = Duration::from_secs(30);

/// A real local semantest-server on a free port that stores images in a folder of its own,
/// stopped on drop.
struct Server {
    port: u16,
    _images: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

async fn server(hold_ms: u64) -> Server {
    let images = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config {
        images_dir: images.path().to_owned(),
        hold_ms,
        ..Config::default()
    };
    tokio::spawn(serve(listener, config, async move {
        let _ = stopped.await;
    }));
    Server {
        port,
        _images: images,
        _stop: stop,
    }
}

/// Runs the built `semantest` with the local server at `port` only, and no credentials of
/// whoever runs the tests.
async fn semantest(port: u16, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_semantest"));
    cmd.args(args)
        .kill_on_drop(true)
        .env("SEMANTEST_SERVER", "local")
        .env("SEMANTEST_LOCAL_URL", format!("http://127.0.0.1:{port}"))
        .env_remove("SEMANTEST_REMOTE_URL")
        .env_remove("SEMANTEST_TOKEN")
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("semantest-cli-tests-no-config"),
        );
    tokio::time::timeout(BOUND, cmd.output())
        .await
        .expect("semantest finished in time")
        .expect("semantest ran")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What the stand-in extension does with each request, in order.
#[derive(Clone)]
enum Step {
    /// Replies `imageGenerationProgress` with this stage, position and `elapsedMs`.
    Progress(Stage, Option<u64>, u64),
    /// Uploads these bytes to the server's `POST /images` (as the extension does on a local
    /// server) and replies `imageDownloaded` with what the server stored.
    Upload(Vec<u8>),
    /// Replies this failure event with this reason.
    Fail(&'static str, &'static str),
}

/// A request the stand-in extension received: the event's name and data.
#[derive(Debug)]
struct Received {
    event: String,
    data: Value,
}

/// Plays the extension on the server at `port`: subscribes to both kinds of request, tells
/// each one it receives on the returned channel, and answers it with `script`.
async fn extension(port: u16, script: Vec<Step>) -> mpsc::UnboundedReceiver<Received> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/"))
        .await
        .unwrap();
    let hello = json!({"action": "hello", "id": "h", "payload": {"role": "extension", "clientId": "stand-in", "version": "0"}});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let sub = json!({"action": "subscribe", "id": "s", "payload": {"events": [generation::REQUESTED, "imageDownloadRequested"]}});
    ws.send(Message::Text(sub.to_string().into()))
        .await
        .unwrap();
    // Wait for the subscribe's ack, so a request published after this returns reaches us.
    tokio::time::timeout(BOUND, async {
        while let Some(Ok(m)) = ws.next().await {
            if m.to_text().unwrap_or_default().contains(r#""replyTo":"s""#) {
                return;
            }
        }
        panic!("the server closed before acking the subscribe");
    })
    .await
    .expect("the subscribe was acked in time");
    let (received, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Every frame this socket sends needs an id of its own: the server answers a repeated
        // id with its first answer and does nothing else.
        let mut next_id = 0u32;
        while let Some(Ok(m)) = ws.next().await {
            let Ok(frame) = serde_json::from_str::<Value>(m.to_text().unwrap_or_default()) else {
                continue;
            };
            if frame["type"] != "event" {
                continue;
            }
            let request = &frame["payload"];
            let id = request["id"].as_str().unwrap().to_owned();
            let data = request["data"].clone();
            let filename = data["filename"].as_str().unwrap_or("image.png").to_owned();
            let _ = received.send(Received {
                event: request["event"].as_str().unwrap_or_default().to_owned(),
                data: data.clone(),
            });
            for step in &script {
                let (event, reply) = match step {
                    Step::Progress(stage, position, elapsed_ms) => {
                        let mut reply = json!({"requestId": id, "stage": stage.as_str(), "elapsedMs": elapsed_ms});
                        if let Some(n) = position {
                            reply["position"] = json!(n);
                        }
                        (generation::PROGRESS, reply)
                    }
                    Step::Upload(bytes) => {
                        let stored = upload(port, &format!("ext-{filename}"), bytes).await;
                        let reply = json!({
                            "requestId": id,
                            "prompt": data["prompt"],
                            "path": stored["path"],
                            "size": stored["size"],
                            "sha256": stored["sha256"],
                            "imageId": stored["id"],
                        });
                        (generation::DOWNLOADED, reply)
                    }
                    Step::Fail(event, reason) => {
                        (*event, json!({"requestId": id, "reason": reason}))
                    }
                };
                next_id += 1;
                let frame = json!({"action": "reply", "id": format!("r{next_id}"), "payload": {"to": id, "event": event, "data": reply}});
                if ws
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    requests
}

/// `POST /images?name&sha256` on the server at `port`, as the extension does on a local
/// server; the server's answer `{id, path, size, sha256}`.
async fn upload(port: u16, name: &str, bytes: &[u8]) -> Value {
    let sha256 = semantest_cli::hex_sha256(bytes);
    let url = format!("http://127.0.0.1:{port}/images?name={name}&sha256={sha256}");
    let answer = semantest_cli::image::Download::client()
        .post(url)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status().as_u16(),
        201,
        "the server stored the upload"
    );
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

/// The next request the stand-in extension received.
async fn next(requests: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(BOUND, requests.recv())
        .await
        .expect("the extension received a request in time")
        .expect("the extension is still there")
}

/// A server that holds requests 30 s, a stand-in extension playing `script`, and a folder for
/// the images: what most of these tests start from.
struct Scene {
    server: Server,
    requests: mpsc::UnboundedReceiver<Received>,
    out_dir: tempfile::TempDir,
}

impl Scene {
    async fn new(script: Vec<Step>) -> Self {
        let server = server(30_000).await;
        let requests = extension(server.port, script).await;
        Scene {
            server,
            requests,
            out_dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The image folder, as the CLI's `--out` takes it.
    fn out(&self) -> String {
        self.out_dir.path().to_str().unwrap().to_owned()
    }
}

/// A small image's worth of bytes (not a real PNG: nobody decodes it).
fn image_bytes() -> Vec<u8> {
    (0..40_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

/// The stages of a generation that waited in the queue, with a repeat of its first update.
fn stages() -> Vec<Step> {
    vec![
        Step::Progress(Stage::Queued, Some(2), 0),
        Step::Progress(Stage::Queued, Some(2), 300),
        Step::Progress(Stage::Queued, Some(1), 1_200),
        Step::Progress(Stage::Typing, None, 1_449),
        Step::Progress(Stage::Sent, None, 2_000),
        Step::Progress(Stage::Generating, None, 2_050),
        Step::Progress(Stage::Downloading, None, 31_000),
        Step::Progress(Stage::Saved, None, 31_960),
    ]
}

#[tokio::test]
async fn a_generation_shows_each_stage_and_writes_the_image() {
    let bytes = image_bytes();
    let mut script = stages();
    script.push(Step::Upload(bytes.clone()));
    let mut scene = Scene::new(script).await;
    let out = scene.out();
    let run = semantest(
        scene.server.port,
        &[
            "request-image",
            "--prompt",
            "a red fox in the snow",
            "--out",
            &out,
            "--name",
            "fox.png",
            "--timeout",
            "120",
        ],
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(
        stderr(&run),
        "semantest: queued after 0.0 s (position 2)\n\
         semantest: queued after 1.2 s (position 1)\n\
         semantest: typing after 1.4 s\n\
         semantest: sent after 2.0 s\n\
         semantest: generating after 2.1 s\n\
         semantest: downloading after 31.0 s\n\
         semantest: saved after 32.0 s\n"
    );
    let path = stdout(&run);
    let path = path.trim();
    assert_eq!(
        std::path::Path::new(path),
        std::path::absolute(scene.out_dir.path().join("fox.png")).unwrap()
    );
    assert_eq!(std::fs::read(path).unwrap(), bytes);
    // What the extension was asked.
    let request = next(&mut scene.requests).await;
    assert_eq!(request.event, generation::REQUESTED);
    assert_eq!(request.data["prompt"], "a red fox in the snow");
    assert_eq!(request.data["filename"], "fox.png");
    assert_eq!(request.data["timeoutSecs"], 120);
    assert_eq!(request.data["downloadFolder"], out);
    assert!(request.data.get("newChat").is_none(), "{:?}", request.data);
    assert!(request.data.get("url").is_none(), "{:?}", request.data);
}

#[tokio::test]
async fn a_failed_generation_prints_the_reason_and_exits_1() {
    let reason = "ChatGPT answered with text only: \"I can't make that image.\"";
    let script = vec![
        Step::Progress(Stage::Typing, None, 10),
        Step::Progress(Stage::Sent, None, 400),
        Step::Fail(generation::FAILED, reason),
    ];
    let mut scene = Scene::new(script).await;
    let out = scene.out();
    let run = semantest(
        scene.server.port,
        &["request-image", "--prompt", "a cat", "--out", &out],
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(stdout(&run), format!("image generation failed: {reason}\n"));
    assert_eq!(
        stderr(&run),
        "semantest: typing after 0.0 s\nsemantest: sent after 0.4 s\n"
    );
    assert!(
        std::fs::read_dir(scene.out_dir.path())
            .unwrap()
            .next()
            .is_none(),
        "nothing written"
    );
    // Without --timeout the extension is told the default.
    let request = next(&mut scene.requests).await;
    assert_eq!(
        request.data["timeoutSecs"],
        generation::DEFAULT_TIMEOUT_SECS
    );
}

#[tokio::test]
async fn json_prints_every_event_and_the_path_last() {
    let bytes = image_bytes();
    let mut script = stages();
    script.push(Step::Upload(bytes.clone()));
    let mut scene = Scene::new(script).await;
    let out = scene.out();
    let run = semantest(
        scene.server.port,
        &[
            "--json",
            "request-image",
            "--prompt",
            "a lighthouse",
            "--new-chat",
            "--out",
            &out,
            "--name",
            "light.png",
        ],
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(stderr(&run), "", "no spinner and no plain lines");
    let lines: Vec<Value> = stdout(&run)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let (last, progress) = lines.split_last().unwrap();
    let shown: Vec<(&str, Option<u64>)> = progress
        .iter()
        .map(|p| {
            assert_eq!(p["event"], generation::PROGRESS, "{p}");
            assert!(p["requestId"].is_string() && p["elapsedMs"].is_u64(), "{p}");
            (p["stage"].as_str().unwrap(), p["position"].as_u64())
        })
        .collect();
    // Every event, the repeat too, in the order sent.
    assert_eq!(
        shown,
        [
            ("queued", Some(2)),
            ("queued", Some(2)),
            ("queued", Some(1)),
            ("typing", None),
            ("sent", None),
            ("generating", None),
            ("downloading", None),
            ("saved", None),
        ]
    );
    assert_eq!(last["event"], generation::DOWNLOADED, "{last}");
    assert_eq!(last["prompt"], "a lighthouse");
    assert_eq!(last["sha256"], semantest_cli::hex_sha256(&bytes));
    assert_eq!(last["requestId"], progress[0]["requestId"]);
    let path = last["path"].as_str().unwrap();
    assert_eq!(
        std::path::Path::new(path),
        std::path::absolute(scene.out_dir.path().join("light.png")).unwrap()
    );
    assert_eq!(std::fs::read(path).unwrap(), bytes);
    let request = next(&mut scene.requests).await;
    assert_eq!(request.data["newChat"], true);
}

#[tokio::test]
async fn json_prints_the_failure_as_its_event() {
    let script = vec![Step::Fail(
        generation::FAILED,
        "no ChatGPT tab is signed in",
    )];
    let scene = Scene::new(script).await;
    let out = scene.out();
    let run = semantest(
        scene.server.port,
        &[
            "--json",
            "request-image",
            "--prompt",
            "a cat",
            "--out",
            &out,
        ],
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let failure: Value = serde_json::from_str(stdout(&run).trim()).unwrap();
    assert_eq!(failure["event"], generation::FAILED);
    assert_eq!(failure["reason"], "no ChatGPT tab is signed in");
    assert!(failure["requestId"].is_string(), "{failure}");
}

#[tokio::test]
async fn url_and_latest_ask_for_a_download_with_and_without_the_url() {
    let bytes = image_bytes();
    let mut scene = Scene::new(vec![Step::Upload(bytes.clone())]).await;
    let out = scene.out();
    let url = "https://chatgpt.com/backend-api/estuary/content?id=file_1";
    let run = semantest(
        scene.server.port,
        &[
            "request-image",
            "--url",
            url,
            "--out",
            &out,
            "--name",
            "given.png",
        ],
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(std::fs::read(stdout(&run).trim()).unwrap(), bytes);
    let request = next(&mut scene.requests).await;
    assert_eq!(request.event, "imageDownloadRequested");
    assert_eq!(request.data["url"], url);
    assert_eq!(request.data["filename"], "given.png");
    assert_eq!(request.data["downloadFolder"], out);
    for absent in ["prompt", "timeoutSecs", "newChat"] {
        assert!(request.data.get(absent).is_none(), "{:?}", request.data);
    }

    let run = semantest(
        scene.server.port,
        &[
            "request-image",
            "--latest",
            "--out",
            &out,
            "--name",
            "newest.png",
        ],
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert!(stdout(&run).trim().ends_with("newest.png"), "{run:?}");
    let request = next(&mut scene.requests).await;
    assert_eq!(request.event, "imageDownloadRequested");
    assert_eq!(request.data["filename"], "newest.png");
    for absent in ["url", "prompt", "timeoutSecs", "newChat"] {
        assert!(request.data.get(absent).is_none(), "{:?}", request.data);
    }
}

#[tokio::test]
async fn a_generation_without_an_extension_is_told_so() {
    // The server holds the request for an extension for 200 ms, then answers no_extension.
    let server = server(200).await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let run = semantest(
        server.port,
        &["request-image", "--prompt", "a cat", "--out", out],
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let printed = stdout(&run);
    assert!(
        printed.starts_with("error: no extension took 'imageGenerationRequested'"),
        "{printed}"
    );
    // With --json, the same as an `error` event line.
    let run = semantest(
        server.port,
        &["--json", "request-image", "--prompt", "a cat", "--out", out],
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let line: Value = serde_json::from_str(stdout(&run).trim()).expect("one JSON line");
    assert_eq!(line["event"], "error");
    assert_eq!(line["code"], "no_extension");
    assert!(
        line["reason"]
            .as_str()
            .unwrap()
            .starts_with("no extension took 'imageGenerationRequested'"),
        "{line}"
    );
}

#[tokio::test]
async fn the_choice_of_what_to_get_is_checked_before_anything_is_sent() {
    // Nothing listens on this port: each of these must stop before connecting.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cases: [&[&str]; 5] = [
        &["request-image", "--out", "x"],
        &["request-image", "--out", "x", "--latest", "--url", "u"],
        &["request-image", "--out", "x", "--latest", "--new-chat"],
        &[
            "request-image",
            "--out",
            "x",
            "--prompt",
            "p",
            "--timeout",
            "601",
        ],
        &[
            "request-image",
            "--out",
            "x",
            "--prompt",
            "p",
            "--timeout",
            "0",
        ],
    ];
    for args in cases {
        let run = semantest(port, args).await;
        assert_eq!(run.status.code(), Some(2), "{args:?}: {run:?}");
        assert!(stderr(&run).starts_with("error: "), "{args:?}: {run:?}");
    }
    let run = semantest(port, &["request-image", "--prompt", " ", "--out", "x"]).await;
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert_eq!(stderr(&run), "semantest: --prompt must not be empty\n");
}
