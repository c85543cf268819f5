//! One WebSocket on tokio: a task that reports `open`, each text frame and the close to the
//! driver, and sends what the driver gives it. Dropping its sender closes it. Reports wait for
//! room in the driver's queue, so a peer that sends faster than the driver reads is pushed
//! back on by TCP. The driver aborts the task (and with it the TCP connection) when it closes
//! a socket that is still connecting.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use semantest_connect::{Event, SocketId};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How long a close frame may take to go out before the task ends anyway.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(1);

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
    token: Option<semantest_protocol::Token>,
    mut outgoing: mpsc::Receiver<Outgoing>,
    report: mpsc::Sender<Event>,
) {
    let closed = |code: u16, reason: String| Event::SocketClosed {
        socket: id,
        code,
        reason,
    };
    let request = match handshake(&url, token.as_ref()) {
        Ok(request) => request,
        Err(e) => {
            let _ = report.send(closed(1006, e.to_string())).await;
            return;
        }
    };
    let (mut ws, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(ok) => ok,
        Err(e) => {
            let _ = report.send(closed(1006, e.to_string())).await;
            return;
        }
    };
    if report.send(Event::SocketOpened(id)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            out = outgoing.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    if let Err(e) = ws.send(Message::Text(text.into())).await {
                        let _ = report.send(closed(1006, e.to_string())).await;
                        return;
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                    let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(Some(frame))).await;
                    return;
                }
                None => {
                    let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
                    return;
                }
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let event = Event::MessageReceived { socket: id, text: text.to_string() };
                    if report.send(event).await.is_err() {
                        // The driver is gone.
                        let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
                        return;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    let _ = report.send(closed(code, reason)).await;
                    return;
                }
                Some(Ok(_)) => {} // pings are answered by the library; binary is not spoken
                Some(Err(e)) => {
                    let _ = report.send(closed(1006, e.to_string())).await;
                    return;
                }
                None => {
                    let _ = report.send(closed(1006, "connection ended".into())).await;
                    return;
                }
            },
        }
    }
}

/// The handshake request for `url`: with a key, the subprotocols `semantest.v1` and
/// `bearer.<key>`, as the browser sends them (one way for both clients, and the server
/// selects `semantest.v1` only, never echoing the key).
fn handshake(
    url: &str,
    token: Option<&semantest_protocol::Token>,
) -> Result<
    tokio_tungstenite::tungstenite::handshake::client::Request,
    tokio_tungstenite::tungstenite::Error,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut request = url.into_client_request()?;
    if let Some(token) = token {
        // A Token is URL-safe ASCII (validated on parse), so it is a valid header value.
        let value = format!(
            "{}, bearer.{}",
            semantest_protocol::SUBPROTOCOL,
            token.expose()
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", value);
        }
    }
    Ok(request)
}
