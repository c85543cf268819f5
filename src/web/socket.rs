//! One browser WebSocket whose `open`, `message` and `close` events are reported to the driver.
//! Dropping a [`Socket`] unhooks its handlers and closes it, so no callback outlives it.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::event::{Event, SocketId};

/// A live WebSocket and the closures the browser calls.
pub(crate) struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Opens `url`; every event is passed to `report` (which must not re-enter the driver
    /// synchronously: it defers).
    pub(crate) fn open(
        id: SocketId,
        url: &str,
        token: Option<&semantest_protocol::Token>,
        report: impl Fn(Event) + Clone + 'static,
    ) -> Result<Socket, wasm_bindgen::JsValue> {
        let ws = match token {
            // A browser cannot set Authorization: the key travels in the subprotocol list,
            // and the server selects `semantest.v1` only.
            Some(token) => {
                let protocols = js_sys::Array::of2(
                    &crate::SUBPROTOCOL.into(),
                    &format!("bearer.{}", token.expose()).into(),
                );
                WebSocket::new_with_str_sequence(url, &protocols)?
            }
            None => WebSocket::new(url)?,
        };
        let r = report.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || r(Event::SocketOpened(id)));
        let r = report.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // Protocol v1 is text only; a binary frame is reported as an explicit note.
            let text = e.data().as_string().unwrap_or_else(|| {
                r#"{"type":"error","payload":{"code":"bad_frame","message":"binary frame from server ignored"}}"#
                    .to_owned()
            });
            r(Event::MessageReceived { socket: id, text });
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            report(Event::SocketClosed {
                socket: id,
                code: e.code(),
                reason: e.reason(),
            });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends a text frame. A failure here means the socket is going away; its close event follows.
    pub(crate) fn send(&self, text: &str) -> Result<(), wasm_bindgen::JsValue> {
        self.ws.send_with_str(text)
    }

    /// Closes with `code` and `reason` (dropping does the same with 1000).
    pub(crate) fn close(self, code: u16, reason: &str) {
        let _ = self.ws.close_with_code_and_reason(code, truncate(reason));
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        // A second close after `close()` is a no-op for the browser.
        let _ = self.ws.close();
    }
}

/// Close reasons may be at most 123 bytes of UTF-8.
fn truncate(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
