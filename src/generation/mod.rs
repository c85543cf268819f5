//! Image generation through the user's ChatGPT tabs, decided without I/O: what an
//! `imageGenerationRequested` event asks, the queue (one generation at a time per tab, the rest
//! waiting in the order they came), why a generation failed (each cause named), and the replies
//! that tell the requester where it stands. The browser side (`web::generation`) drives the tabs
//! and the download as these say; the download itself is [`crate::image`]'s.
//!
//! Policy:
//! - A request that arrives while no ChatGPT tab is open fails at once ([`GenerationError::NoTab`]);
//!   so do the waiting ones when the last tab closes. Nothing waits for a tab that may never come.
//! - A free tab takes the oldest waiting request; the newest free tab is used first (the one the
//!   user opened last). Each request is told `queued` with its place in line (1 = next) when it
//!   arrives, again whenever the line moves, and every [`QUEUED_HEARTBEAT_MS`] while it waits
//!   (a requester gives up after a silence).
//! - Each stage is told once, in order, with the milliseconds since the request arrived.
//! - ChatGPT has `timeoutSecs` (default [`DEFAULT_TIMEOUT_SECS`]) from the moment its tab starts
//!   typing, cut to what is left of the servers' reply window (`REPLY_WINDOW_SECS` from the
//!   publish, less the download's margin); one that waited so long that too little is left fails
//!   instead. The tab enforces it, and the driver gives up on a silent tab [`TAB_GRACE_MS`] later.

use semantest_protocol::generation::{
    check_prompt, PromptError, Stage, DEFAULT_TIMEOUT_SECS, DOWNLOADED, FAILED, MAX_PROMPT_CHARS,
    MAX_TIMEOUT_SECS, PROGRESS, QUOTED_ANSWER_CHARS,
};
use semantest_protocol::json::object;
use serde_json::Value;

use crate::image::{self, ImageError};

mod queue;
pub use queue::{Queue, Step, QUEUED_HEARTBEAT_MS};

/// How much longer than its timeout a tab may stay silent before the driver gives up on it (the
/// tab itself reports a timeout first; this covers a tab that froze).
pub const TAB_GRACE_MS: u64 = 15_000;

/// A browser tab, as the driver names it (Chrome's tab id).
pub type TabId = u32;

/// Why a generation did not give an image: the `reason` of `imageGenerationFailed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenerationError {
    /// The request itself is unusable (no prompt, a prompt too long, a bad timeout).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No ChatGPT tab is open to generate in.
    #[error("no ChatGPT tab is open: open https://chatgpt.com in Chrome and log in")]
    NoTab,
    /// ChatGPT shows its logged-out page.
    #[error("not logged in to ChatGPT: log in at https://chatgpt.com in the open tab")]
    LoggedOut,
    /// Something the extension relies on is not on the page (`"no composer"`, `"no send button"`).
    #[error("ChatGPT's page has changed: {0}")]
    PageChanged(String),
    /// ChatGPT said its usage limit is reached (its words).
    #[error("ChatGPT's usage limit is reached: {0}")]
    UsageLimit(String),
    /// ChatGPT answered with text and no image (its first [`QUOTED_ANSWER_CHARS`] characters).
    #[error("ChatGPT answered with text and no image: \"{0}\"")]
    TextOnly(String),
    /// ChatGPT was still generating when the time ran out.
    #[error("ChatGPT was still generating after {0} s")]
    Timeout(u64),
    /// The request waited in the queue so long that its answer could not reach the requester
    /// within the servers' reply window.
    #[error("it waited {0} s in the queue: too long for its answer to reach the requester (the servers keep the route for 10 minutes)")]
    WaitedTooLong(u64),
    /// ChatGPT is still answering something else in the tab.
    #[error("ChatGPT is still answering another message in the tab")]
    Busy,
    /// The prompt did not show up in the conversation after Send.
    #[error(
        "ChatGPT's page has changed: the prompt did not appear in the conversation after Send"
    )]
    NotSent,
    /// The tab was closed mid-generation.
    #[error("the ChatGPT tab was closed mid-generation")]
    TabClosed,
    /// The tab left the conversation (reloaded, or another chat opened) mid-generation.
    #[error("the ChatGPT tab navigated away mid-generation")]
    TabNavigated,
    /// The tab reported something else.
    #[error("the ChatGPT tab failed: {0}")]
    Tab(String),
    /// The image was generated but could not be fetched or stored.
    #[error(transparent)]
    Image(#[from] ImageError),
}

impl GenerationError {
    /// What a tab's failure report (`{failure, detail}`) means. `timeout_secs` is the request's.
    pub fn from_page(failure: &str, detail: &str, timeout_secs: u64) -> GenerationError {
        match failure {
            "loggedOut" => GenerationError::LoggedOut,
            "noComposer" => GenerationError::PageChanged("no composer".into()),
            "noSendButton" => GenerationError::PageChanged("no send button".into()),
            "typingRefused" => {
                GenerationError::PageChanged("the composer did not take the prompt".into())
            }
            "usageLimit" => GenerationError::UsageLimit(quote(detail)),
            "textOnly" => GenerationError::TextOnly(quote(detail)),
            "timeout" => GenerationError::Timeout(timeout_secs),
            "closed" => GenerationError::TabClosed,
            "busy" => GenerationError::Busy,
            "notSent" => GenerationError::NotSent,
            "navigated" => GenerationError::TabNavigated,
            _ if detail.is_empty() => GenerationError::Tab(failure.to_owned()),
            _ => GenerationError::Tab(detail.to_owned()),
        }
    }
}

/// Hosts a generated image may come from: ChatGPT's own (its `estuary/content` and
/// `files/download` paths) and its image storage.
const IMAGE_HOSTS: &[&str] = &["chatgpt.com", "chat.openai.com"];
/// Suffixes of storage hosts a generated image may come from.
const IMAGE_HOST_SUFFIXES: &[&str] = &[".oaiusercontent.com"];

/// The URL a tab named for the generated image, if the worker may fetch it: `https` on
/// ChatGPT's own hosts or its image storage, with no user name or password. The worker
/// fetches with the user's cookies and wide host permissions, so a page that named any URL
/// (`http://localhost:…`) must not make it fetch and upload that.
pub fn check_image_url(src: &str) -> Result<(), GenerationError> {
    let refuse = || {
        let shown: String = src.chars().take(120).collect();
        GenerationError::Tab(format!(
            "the tab named an image that is not ChatGPT's: {shown}"
        ))
    };
    let parsed = crate::whatwg::parse(src).map_err(|_| refuse())?;
    let host = parsed.host.to_ascii_lowercase();
    let ours = IMAGE_HOSTS.contains(&host.as_str())
        || IMAGE_HOST_SUFFIXES.iter().any(|s| host.ends_with(s));
    if parsed.scheme != "https" || parsed.user_info || !ours {
        return Err(refuse());
    }
    Ok(())
}

/// `text` with its whitespace collapsed, cut to [`QUOTED_ANSWER_CHARS`] characters.
fn quote(text: &str) -> String {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match words.char_indices().nth(QUOTED_ANSWER_CHARS) {
        Some((cut, _)) => format!("{}…", &words[..cut]),
        None => words,
    }
}

/// What an `imageGenerationRequested` event asks (its payload: `{event, id, from, data}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationRequest {
    /// The event's id: what the replies name in `to`, and the `requestId` they carry.
    pub id: String,
    /// What to ask ChatGPT for.
    pub prompt: String,
    /// The name the requester wants the image stored under (`data.filename`).
    pub filename: Option<String>,
    /// Start a new chat first (`data.newChat`).
    pub new_chat: bool,
    /// How long ChatGPT may take, from the moment its tab starts typing.
    pub timeout_secs: u64,
}

impl GenerationRequest {
    /// The request in an event's payload. `Err(None)`: there is no id, so no one to answer;
    /// `Err(Some((id, why)))`: the request is refused with that reason.
    #[allow(clippy::type_complexity)]
    pub fn from_event(
        payload: &Value,
    ) -> Result<GenerationRequest, Option<(String, GenerationError)>> {
        let id = payload
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or(None)?
            .to_owned();
        let data = &payload["data"];
        let refuse = |why: String| Err(Some((id.clone(), GenerationError::BadRequest(why))));
        let prompt = match check_prompt(data["prompt"].as_str().unwrap_or_default()) {
            Ok(prompt) => prompt,
            Err(PromptError::Empty) => {
                return refuse(
                    "no prompt: data.prompt must be the text to generate an image for".into(),
                )
            }
            Err(PromptError::TooLong) => {
                return refuse(format!(
                    "the prompt is longer than {MAX_PROMPT_CHARS} characters"
                ))
            }
        };
        let timeout_secs = match &data["timeoutSecs"] {
            Value::Null => DEFAULT_TIMEOUT_SECS,
            t => match t.as_u64() {
                Some(t @ 1..=MAX_TIMEOUT_SECS) => t,
                _ => {
                    return refuse(format!(
                        "timeoutSecs must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECS}"
                    ))
                }
            },
        };
        let filename = match data["filename"].as_str().filter(|s| !s.is_empty()) {
            Some(name) if !semantest_protocol::valid_file_name(name) => {
                return refuse(
                    "filename must be a plain file name (1-128 letters, digits, '.', '_', '-')"
                        .into(),
                )
            }
            name => name.map(str::to_owned),
        };
        Ok(GenerationRequest {
            id,
            prompt: prompt.to_owned(),
            filename,
            new_chat: data["newChat"].as_bool().unwrap_or(false),
            timeout_secs,
        })
    }

    /// What the tab is given: `{requestId, prompt, newChat, timeoutSecs}`.
    pub fn for_tab(&self) -> Value {
        object([
            ("requestId", Value::from(self.id.as_str())),
            ("prompt", Value::from(self.prompt.as_str())),
            ("newChat", Value::from(self.new_chat)),
            ("timeoutSecs", Value::from(self.timeout_secs)),
        ])
    }

    /// How long the driver waits for the tab before it gives up on it.
    pub fn tab_limit_ms(&self) -> u64 {
        self.timeout_secs * 1000 + TAB_GRACE_MS
    }
}

/// The `reply` payload telling the requester of `request_id` that it reached `stage`.
pub fn progress(request_id: &str, stage: Stage, position: Option<usize>, elapsed_ms: u64) -> Value {
    let mut data = object([
        ("stage", Value::from(stage.as_str())),
        ("elapsedMs", Value::from(elapsed_ms)),
    ]);
    if let Some(p) = position {
        data["position"] = Value::from(p);
    }
    image::answer(request_id, PROGRESS, data)
}

/// The final `reply` payload: `imageDownloaded` with the stored image's data and the prompt,
/// or `imageGenerationFailed` with the reason.
pub fn outcome(request: &GenerationRequest, result: &Result<Value, GenerationError>) -> Value {
    match result {
        Ok(stored) => {
            let mut data = stored.clone();
            if let Some(fields) = data.as_object_mut() {
                fields.insert("prompt".into(), Value::from(request.prompt.as_str()));
            }
            image::answer(&request.id, DOWNLOADED, data)
        }
        Err(e) => failed(&request.id, e),
    }
}

/// The `imageGenerationFailed {reason}` payload answering the request `request_id`.
pub fn failed(request_id: &str, error: &GenerationError) -> Value {
    let data = object([("reason", Value::from(error.to_string()))]);
    image::answer(request_id, FAILED, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(id: &str, prompt: &str) -> Value {
        json!({"event": "imageGenerationRequested", "id": id, "from": "cli", "data": {"prompt": prompt}})
    }

    fn request(id: &str) -> GenerationRequest {
        GenerationRequest::from_event(&event(id, &format!("a cat {id}"))).unwrap()
    }

    #[test]
    fn a_request_reads_its_prompt_and_options_with_defaults() {
        let r = request("e1");
        assert_eq!(r.prompt, "a cat e1");
        assert_eq!((r.new_chat, r.timeout_secs, r.filename), (false, 300, None));
        let full = json!({"id": "e2", "data": {"prompt": "  a dog ", "filename": "dog.png",
            "newChat": true, "timeoutSecs": 20}});
        let r = GenerationRequest::from_event(&full).unwrap();
        assert_eq!(r.prompt, "a dog");
        assert_eq!(r.filename.as_deref(), Some("dog.png"));
        assert!(r.new_chat);
        assert_eq!(r.tab_limit_ms(), 20_000 + TAB_GRACE_MS);
        assert_eq!(
            r.for_tab(),
            json!({"requestId": "e2", "prompt": "a dog", "newChat": true, "timeoutSecs": 20})
        );
    }

    #[test]
    fn unusable_requests_are_refused_with_a_reason_and_without_an_id_not_at_all() {
        let refused =
            |data: Value| match GenerationRequest::from_event(&json!({"id": "e1", "data": data})) {
                Err(Some((id, e))) => {
                    assert_eq!(id, "e1");
                    e.to_string()
                }
                other => panic!("{other:?}"),
            };
        assert!(refused(json!({})).contains("no prompt"));
        assert!(refused(json!({"prompt": "   "})).contains("no prompt"));
        assert!(refused(json!({"prompt": "x".repeat(MAX_PROMPT_CHARS + 1)})).contains("longer"));
        assert!(refused(json!({"prompt": "x", "timeoutSecs": 0})).contains("timeoutSecs"));
        assert!(refused(json!({"prompt": "x", "timeoutSecs": 601})).contains("timeoutSecs"));
        assert!(refused(json!({"prompt": "x", "timeoutSecs": "9"})).contains("timeoutSecs"));
        assert!(refused(json!({"prompt": "x", "filename": "../x.png"})).contains("filename"));
        assert_eq!(
            GenerationRequest::from_event(&json!({"data": {"prompt": "x"}})),
            Err(None)
        );
        assert!(GenerationRequest::from_event(
            &json!({"id": "e", "data": {"prompt": "x".repeat(MAX_PROMPT_CHARS)}})
        )
        .is_ok());
    }

    #[test]
    fn page_failures_have_their_own_reasons() {
        let reason = |f: &str, d: &str| GenerationError::from_page(f, d, 300).to_string();
        assert_eq!(
            reason("noComposer", ""),
            "ChatGPT's page has changed: no composer"
        );
        assert_eq!(
            reason("noSendButton", ""),
            "ChatGPT's page has changed: no send button"
        );
        assert!(reason("loggedOut", "").starts_with("not logged in to ChatGPT"));
        assert_eq!(
            reason("usageLimit", "You've hit the free plan limit."),
            "ChatGPT's usage limit is reached: You've hit the free plan limit."
        );
        assert_eq!(
            reason("timeout", ""),
            "ChatGPT was still generating after 300 s"
        );
        assert_eq!(
            reason("closed", ""),
            "the ChatGPT tab was closed mid-generation"
        );
        assert_eq!(
            reason("navigated", ""),
            "the ChatGPT tab navigated away mid-generation"
        );
        assert_eq!(
            reason("weird", "it broke"),
            "the ChatGPT tab failed: it broke"
        );
        let long = format!("I can't  make\nthat. {}", "é".repeat(300));
        let text = reason("textOnly", &long);
        assert!(text.starts_with("ChatGPT answered with text and no image: \"I can't make that. é"));
        let quoted = text.split('"').nth(1).unwrap();
        assert_eq!(
            quoted.chars().count(),
            QUOTED_ANSWER_CHARS + 1,
            "200 and the ellipsis"
        );
    }

    #[test]
    fn only_chatgpts_images_are_fetched() {
        for ok in [
            "https://chatgpt.com/backend-api/estuary/content?id=file_1&sig=2",
            "https://files.oaiusercontent.com/file-abc?se=1",
            "https://chat.openai.com/backend-api/files/download/x",
            "https://CHATGPT.com/x",
        ] {
            assert_eq!(check_image_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://chatgpt.com/backend-api/estuary/content?id=file_1",
            "http://127.0.0.1:3003/images/x?files/download",
            "https://chatgpt.com.evil.example/estuary/content",
            "https://evil.example/oaiusercontent.com",
            "https://user:pw@chatgpt.com/x",
            "data:image/png;base64,AAAA",
            "not a url",
        ] {
            assert!(check_image_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies_carry_the_request_id_the_stage_and_the_prompt() {
        assert_eq!(
            progress("e1", Stage::Queued, Some(2), 5),
            json!({"to": "e1", "event": "imageGenerationProgress",
                "data": {"requestId": "e1", "stage": "queued", "position": 2, "elapsedMs": 5}})
        );
        assert_eq!(
            progress("e1", Stage::Sent, None, 9)["data"],
            json!({"requestId": "e1", "stage": "sent", "elapsedMs": 9})
        );
        let r = request("e1");
        let done = outcome(&r, &Ok(json!({"size": 3, "sha256": "ab"})));
        assert_eq!(
            done,
            json!({"to": "e1", "event": "imageDownloaded", "data": {"size": 3, "sha256": "ab",
                "requestId": "e1", "prompt": "a cat e1"}})
        );
        let failed = outcome(&r, &Err(GenerationError::TabClosed));
        assert_eq!(
            failed,
            json!({"to": "e1", "event": "imageGenerationFailed", "data": {
                "reason": "the ChatGPT tab was closed mid-generation", "requestId": "e1"}})
        );
    }
}
