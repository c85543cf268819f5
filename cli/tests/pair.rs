//! `semantest pair` against a real production server: an extension (a real WebSocket client here) registers and shows a code, the CLI pairs with it, stores its token (0600) and reaches that extension from then on; wrong codes and revocation are refused with their reason.

use std::process::Output;

use futures_util::{SinkExt, StreamExt};
use semantest_server::{serve, Config, Environment};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn production() -> (u16, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config {
        environment: Environment::Production,
        ..Config::default()
    };
    tokio::spawn(serve(listener, config, async move {
        let _ = stopped.await;
    }));
    (port, stop)
}

async fn semantest(port: u16, config: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_semantest"));
    cmd.args(args)
        .env("SEMANTEST_SERVER", "remote")
        .env("SEMANTEST_REMOTE_URL", format!("ws://127.0.0.1:{port}"))
        .env_remove("SEMANTEST_TOKEN")
        .env("XDG_CONFIG_HOME", config);
    let out: Output = tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .expect("semantest finished in time")
        .expect("semantest ran");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

async fn ask(socket: &mut Socket, frame: Value) -> Value {
    socket.send(Message::text(frame.to_string())).await.unwrap();
    next(socket).await
}

/// The extension's side: registered, subscribed to `status`.
async fn extension(port: u16) -> Socket {
    let (mut ext, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap();
    let hello = json!({"action":"hello","id":"h","payload":{"role":"extension","clientId":"ext","version":"1"}});
    assert_eq!(ask(&mut ext, hello).await["type"], "welcome");
    let register =
        json!({"action":"register","id":"r","payload":{"role":"extension","name":"Chrome"}});
    assert_eq!(ask(&mut ext, register).await["type"], "registered");
    let subscribe = json!({"action":"subscribe","id":"s","payload":{"events":["status"]}});
    assert_eq!(ask(&mut ext, subscribe).await["type"], "ack");
    ext
}

#[tokio::test]
async fn a_paired_cli_reaches_its_extension_and_a_revoked_one_is_told_why() {
    let (port, _stop) = production().await;
    let config = tempfile::tempdir().unwrap();
    let mut ext = extension(port).await;

    // Unpaired, status says so and what to run.
    let (code, text) = semantest(port, config.path(), &["status"]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("not paired") && text.contains("semantest pair CODE"),
        "{text}"
    );

    // A wrong code and a malformed one are refused with the reason.
    let (code, text) = semantest(port, config.path(), &["pair", "AAAA-AAAA"]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("pairing refused: this pairing code is not valid"),
        "{text}"
    );
    let (code, text) = semantest(port, config.path(), &["pair", "K7QM-3XT0"]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("not a pairing code") && text.contains("'0'"),
        "{text}"
    );

    let issued = ask(&mut ext, json!({"action":"pairCode","id":"c","payload":{}})).await;
    let pairing = issued["payload"]["code"].as_str().unwrap().to_lowercase();
    let (code, text) =
        semantest(port, config.path(), &["pair", &pairing, "--name", "laptop"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("paired with your extension as \"laptop\""),
        "{text}"
    );
    let file = config.path().join("semantest/credentials.json");
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(stored["token"].as_str().unwrap().starts_with("std_"));
    assert_eq!(stored["server"], format!("ws://127.0.0.1:{port}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let token = stored["token"].as_str().unwrap().to_owned();
    assert!(!text.contains(&token), "the token is not printed");

    // From now on the CLI is the extension's device: status is fine, and what it publishes
    // reaches the extension.
    let (code, text) = semantest(port, config.path(), &["status"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with(&format!("cloud ws://127.0.0.1:{port} ")),
        "{text}"
    );
    let (code, text) = semantest(
        port,
        config.path(),
        &[
            "send",
            "publish",
            r#"{"event":"status","data":{"from":"cli"}}"#,
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(r#""delivered":1"#), "{text}");
    let event = next(&mut ext).await;
    assert_eq!(event["payload"]["data"]["from"], "cli", "{event}");

    // The extension lists and revokes it; the CLI is refused with the reason.
    let devices = ask(&mut ext, json!({"action":"devices","id":"d","payload":{}})).await;
    let device = devices["payload"]["items"][0]["deviceId"].clone();
    assert_eq!(devices["payload"]["items"][0]["name"], "laptop");
    let revoked = ask(
        &mut ext,
        json!({"action":"revoke","id":"v","payload":{"deviceId":device}}),
    )
    .await;
    assert_eq!(revoked["type"], "ack", "{revoked}");
    let (code, text) = semantest(port, config.path(), &["status"]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("revoked"), "{text}");
}
