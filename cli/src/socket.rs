//! One WebSocket on tokio: a task that reports `open`, each text frame and the close to the
//! driver, and sends what the driver gives it. Dropping its sender closes it.

use futures_util::{SinkExt, StreamExt};
use semantest_connect::{Event, SocketId};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// What the driver asks of a socket task.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A text frame.
    Text(String),
    /// A close frame; the task ends without reporting.
    Close(u16, String),
}

/// Connects to `url` and serves the socket until it closes or the driver closes it.
pub(crate) async fn run(
    id: SocketId,
    url: String,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    report: mpsc::UnboundedSender<Event>,
) {
    let closed = |code: u16, reason: String| Event::SocketClosed {
        socket: id,
        code,
        reason,
    };
    let (mut ws, _) = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok(ok) => ok,
        Err(e) => {
            let _ = report.send(closed(1006, e.to_string()));
            return;
        }
    };
    if report.send(Event::SocketOpened(id)).is_err() {
        return;
    }
    loop {
        tokio::select! {
            out = outgoing.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    if let Err(e) = ws.send(Message::Text(text.into())).await {
                        let _ = report.send(closed(1006, e.to_string()));
                        return;
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), ws.close(Some(frame))).await;
                    return;
                }
                None => {
                    let _ = ws.close(None).await;
                    return;
                }
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let _ = report.send(Event::MessageReceived { socket: id, text: text.to_string() });
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    let _ = report.send(closed(code, reason));
                    return;
                }
                Some(Ok(_)) => {} // pings are answered by the library; binary is not spoken
                Some(Err(e)) => {
                    let _ = report.send(closed(1006, e.to_string()));
                    return;
                }
                None => {
                    let _ = report.send(closed(1006, "connection ended".into()));
                    return;
                }
            },
        }
    }
}
