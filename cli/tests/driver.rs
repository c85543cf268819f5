//! The native driver ([`Connection`]) and the commands built on it against fake peers on
//! loopback: a WebSocket server in the test that bursts, stops reading, or answers some
//! frames and not others, and a TCP listener that accepts and never answers.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use semantest_cli::driver::ConnectionError;
use semantest_cli::{commands, Connection};
use semantest_connect::settings::RetryOverrides;
use semantest_connect::{FailureCode, Overrides, Settings, Strategy};
use semantest_protocol::{Role, ServerMessage};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

/// The remote server at `port` only, and `more` on top.
fn settings(port: u16, more: Overrides) -> Settings {
    let base = Overrides {
        strategy: Some(Strategy::RemoteOnly),
        remote_url: Some(format!("ws://127.0.0.1:{port}")),
        role: Some(Role::Client),
        retry: Some(RetryOverrides {
            max_attempts: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    Settings::resolve(&base.merged(more)).unwrap()
}

/// What a Semantest server answers to `frame` (`hello`, `ping`, `subscribe`, and `echo`, a
/// test action answered with an ack); `None` for anything else.
fn answer(frame: &Value) -> Option<String> {
    let id = frame["id"].clone();
    let (kind, payload) = match frame["action"].as_str()? {
        "hello" => (
            "welcome",
            json!({"connectionId": "fake", "heartbeatSecs": 30, "server":
                {"service": "semantest", "version": "1.0.0", "environment": "production", "capabilities": []}}),
        ),
        "ping" => ("pong", json!({"t": frame["payload"]["t"], "serverTime": 0})),
        "subscribe" => (
            "ack",
            json!({"action": "subscribe", "events": frame["payload"]["events"]}),
        ),
        "echo" => ("ack", json!({"action": "echo"})),
        _ => return None,
    };
    Some(json!({"type": kind, "replyTo": id, "payload": payload}).to_string())
}

fn parse(message: &Message) -> Value {
    serde_json::from_str(message.to_text().unwrap_or_default()).unwrap_or_default()
}

/// Accepts one WebSocket on `listener`.
async fn accept(listener: &TcpListener) -> Ws {
    let (tcp, _) = listener.accept().await.unwrap();
    tokio_tungstenite::accept_async(tcp).await.unwrap()
}

/// Reads and answers frames until `until` holds for one (which is answered too); returns it.
async fn serve_until(ws: &mut Ws, until: impl Fn(&Value) -> bool) -> Value {
    while let Some(Ok(m)) = ws.next().await {
        let frame = parse(&m);
        if let Some(text) = answer(&frame) {
            ws.send(Message::Text(text.into())).await.unwrap();
        }
        if until(&frame) {
            return frame;
        }
    }
    panic!("the client went away");
}

/// Stdout for `listen` that blocks on its first write until `gate` opens: a terminal that
/// cannot keep up.
struct SlowOut {
    text: Arc<Mutex<Vec<u8>>>,
    gate: Option<std::sync::mpsc::Receiver<()>>,
}

impl Write for SlowOut {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Some(gate) = self.gate.take() {
            let _ = gate.recv_timeout(Duration::from_secs(20));
        }
        self.text.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Issue 11: a burst of more than the driver's 1024 buffered messages made `listen` end as if
/// the connection had closed. It says what it missed and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_11_listen_goes_on_after_a_burst_it_could_not_keep_up_with() {
    const BURST: u64 = 3000;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (pushed, gate) = std::sync::mpsc::channel();
    tokio::spawn(async move {
        let mut ws = accept(&listener).await;
        serve_until(&mut ws, |f| f["action"] == "subscribe").await;
        for n in 0..BURST {
            let event = json!({"type": "event", "payload":
                {"event": "tick", "id": format!("e{n}"), "from": "peer", "data": {"n": n}}});
            ws.feed(Message::Text(event.to_string().into()))
                .await
                .unwrap();
        }
        // The client answers this ping once it has read everything before it.
        ws.send(Message::Ping(Vec::new().into())).await.unwrap();
        while let Some(Ok(m)) = ws.next().await {
            if m.is_pong() {
                break;
            }
            if let Some(text) = answer(&parse(&m)) {
                ws.send(Message::Text(text.into())).await.unwrap();
            }
        }
        let _ = pushed.send(());
        serve_until(&mut ws, |_| false).await;
    });
    let text = Arc::new(Mutex::new(Vec::new()));
    let mut out = SlowOut {
        text: text.clone(),
        gate: Some(gate),
    };
    let mut err = Vec::new();
    let last = format!(r#""n":{}"#, BURST - 1);
    let stop = {
        let text = text.clone();
        async move {
            while !String::from_utf8_lossy(&text.lock().unwrap()).contains(&last) {
                sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let listening = commands::listen(
        settings(port, Overrides::default()),
        vec!["tick".into()],
        None,
        true,
        &mut out,
        &mut err,
        stop,
    );
    let ok = timeout(Duration::from_secs(30), listening)
        .await
        .expect("listen saw the last event")
        .unwrap();
    let err = String::from_utf8(err).unwrap();
    assert!(ok, "listen failed; stderr: {err}");
    assert!(err.starts_with("semantest: missed "), "{err}");
    // More than one line when events still queued for the runner (up to its event queue)
    // reached the broadcast while `listen` was catching up.
    let missed: u64 = err
        .lines()
        .map(|line| {
            let n = line.strip_prefix("semantest: missed ").expect(line);
            n.split(' ').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    let printed = String::from_utf8_lossy(&text.lock().unwrap())
        .lines()
        .count() as u64;
    assert_eq!(printed + missed, BURST, "{err}");
}

/// Issue 11: a socket whose WebSocket handshake was still under way when the machine closed
/// it (the connect deadline) kept its task and TCP connection, one per retry.
#[tokio::test]
async fn issue_11_a_socket_still_connecting_is_aborted_when_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let conn = Connection::start(settings(
        port,
        Overrides {
            connect_timeout_ms: Some(500),
            retry: Some(RetryOverrides {
                base_ms: Some(10),
                cap_ms: Some(50),
                max_attempts: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        },
    ));
    // Each accepted connection is read (the handshake request) and never answered; the flag
    // says that the client closed it.
    let mut accepted: Vec<Arc<AtomicBool>> = Vec::new();
    for attempt in 0..3 {
        let (mut tcp, _) = timeout(Duration::from_secs(5), listener.accept())
            .await
            .unwrap_or_else(|_| panic!("attempt {attempt} connected"))
            .unwrap();
        let closed = Arc::new(AtomicBool::new(false));
        tokio::spawn({
            let closed = closed.clone();
            async move {
                let mut buf = [0; 1024];
                while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
                closed.store(true, Ordering::SeqCst);
            }
        });
        accepted.push(closed);
    }
    // The last one is closed at its own deadline; by then every one must be.
    let deadline = Instant::now() + Duration::from_secs(3);
    while accepted.iter().any(|c| !c.load(Ordering::SeqCst)) && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    let open = accepted
        .iter()
        .filter(|c| !c.load(Ordering::SeqCst))
        .count();
    assert_eq!(open, 0, "connections the client left open");
    conn.close().await;
}

/// Issue 11: a socket whose peer stops reading fills its bounded queue (or its writes block);
/// closing it then ends the task and the TCP connection within a bound, where before the
/// task waited for ever on its write and its queue grew without limit.
#[tokio::test]
async fn issue_11_a_socket_whose_peer_stopped_reading_is_closed_not_fed_for_ever() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let conn = Connection::start(settings(
        port,
        Overrides {
            ping_interval_ms: Some(1_000),
            pong_timeout_ms: Some(500),
            ..Default::default()
        },
    ));
    let mut ws = accept(&listener).await;
    serve_until(&mut ws, |f| f["action"] == "hello").await;
    // From now on the peer reads nothing; the client writes more than TCP buffers hold.
    let big = "x".repeat(256 * 1024);
    for _ in 0..100 {
        match timeout(
            Duration::from_secs(1),
            conn.send("echo", json!({ "x": big })),
        )
        .await
        {
            Ok(Ok(_)) => {}
            _ => break, // refused (outbox full) or waiting for room: enough is out
        }
    }
    // The pong is overdue after about 1.5 s, and the machine closes the socket. The peer
    // writes until that fails: the client's end is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut gone = false;
    while Instant::now() < deadline {
        let tick = Message::Text(r#"{"type":"other","payload":{}}"#.into());
        if let Ok(Err(_)) = timeout(Duration::from_millis(200), ws.send(tick)).await {
            gone = true;
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the client still holds the connection to a peer that stopped reading"
    );
    conn.close().await;
}

/// `Connection::request`: the answer, the machine's timeout, and `closed` when the
/// connection closes first.
#[tokio::test]
async fn request_gets_the_answer_or_fails_with_timeout_or_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut ws = accept(&listener).await;
        serve_until(&mut ws, |_| false).await;
    });
    let mut conn = Connection::start(settings(port, Overrides::default()));
    conn.wait_for(Duration::from_secs(5), |s| s.latency_ms.is_some())
        .await
        .expect("connected");

    let answer = timeout(
        Duration::from_secs(10),
        conn.request("echo", json!({}), Duration::from_secs(5)),
    )
    .await
    .expect("an answer or a failure in time")
    .unwrap();
    assert!(
        matches!(&answer.frame.message, ServerMessage::Ack(a) if a.action == "echo"),
        "{answer:?}"
    );
    assert!(
        answer.text.contains(r#""action":"echo""#),
        "{}",
        answer.text
    );

    let started = Instant::now();
    let silent = timeout(
        Duration::from_secs(10),
        conn.request("silent", json!({}), Duration::from_millis(300)),
    )
    .await
    .expect("a failure in time");
    assert!(
        matches!(&silent, Err(ConnectionError::Failed(e)) if e.code == FailureCode::Timeout),
        "{silent:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "timed out late");

    let (waiting, ()) = tokio::join!(
        conn.request("silent", json!({}), Duration::from_secs(30)),
        async {
            sleep(Duration::from_millis(200)).await;
            conn.close().await;
        }
    );
    assert!(
        matches!(&waiting, Err(ConnectionError::Closed))
            || matches!(&waiting, Err(ConnectionError::Failed(e)) if e.code == FailureCode::Closed),
        "{waiting:?}"
    );
}
