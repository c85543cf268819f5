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
//!   arrives and again whenever the line moves.
//! - Each stage is told once, in order, with the milliseconds since the request arrived.
//! - ChatGPT has `timeoutSecs` (default [`DEFAULT_TIMEOUT_SECS`]) from the moment its tab starts
//!   typing; the tab enforces it, and the driver gives up on a silent tab [`TAB_GRACE_MS`] later.

use std::collections::VecDeque;

use semantest_protocol::generation::{
    Stage, DEFAULT_TIMEOUT_SECS, DOWNLOADED, FAILED, MAX_PROMPT_CHARS, MAX_TIMEOUT_SECS, PROGRESS,
    QUOTED_ANSWER_CHARS,
};
use serde_json::{json, Value};

use crate::image::ImageError;

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
    #[error("ChatGPT was still generating after {0} s (the request's timeoutSecs)")]
    Timeout(u64),
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
            "navigated" => GenerationError::TabNavigated,
            _ if detail.is_empty() => GenerationError::Tab(failure.to_owned()),
            _ => GenerationError::Tab(detail.to_owned()),
        }
    }
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
        let prompt = data["prompt"].as_str().map(str::trim).unwrap_or_default();
        if prompt.is_empty() {
            return refuse(
                "no prompt: data.prompt must be the text to generate an image for".into(),
            );
        }
        if prompt.chars().count() > MAX_PROMPT_CHARS {
            return refuse(format!(
                "the prompt is longer than {MAX_PROMPT_CHARS} characters"
            ));
        }
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
        json!({
            "requestId": self.id,
            "prompt": self.prompt,
            "newChat": self.new_chat,
            "timeoutSecs": self.timeout_secs,
        })
    }

    /// How long the driver waits for the tab before it gives up on it.
    pub fn tab_limit_ms(&self) -> u64 {
        self.timeout_secs * 1000 + TAB_GRACE_MS
    }
}

/// The `reply` payload telling the requester of `request_id` that it reached `stage`.
pub fn progress(request_id: &str, stage: Stage, position: Option<usize>, elapsed_ms: u64) -> Value {
    let mut data =
        json!({ "requestId": request_id, "stage": stage.as_str(), "elapsedMs": elapsed_ms });
    if let Some(p) = position {
        data["position"] = json!(p);
    }
    json!({ "to": request_id, "event": PROGRESS, "data": data })
}

/// The final `reply` payload: `imageDownloaded` with the stored image's data and the prompt,
/// or `imageGenerationFailed` with the reason.
pub fn outcome(request: &GenerationRequest, result: &Result<Value, GenerationError>) -> Value {
    let (event, mut data) = match result {
        Ok(stored) => (DOWNLOADED, stored.clone()),
        Err(e) => (FAILED, json!({ "reason": e.to_string() })),
    };
    if let Some(fields) = data.as_object_mut() {
        fields.insert("requestId".into(), Value::from(request.id.as_str()));
        if result.is_ok() {
            fields.insert("prompt".into(), Value::from(request.prompt.as_str()));
        }
    }
    json!({ "to": request.id, "event": event, "data": data })
}

/// What the queue asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run this request in this tab (typing first).
    Start {
        /// The tab.
        tab: TabId,
        /// The request.
        request: GenerationRequest,
    },
    /// Tell the requester where it stands (a `reply` with [`progress`]).
    Progress {
        /// The request's id.
        request_id: String,
        /// The stage it reached.
        stage: Stage,
        /// Its place in line, for `queued`.
        position: Option<usize>,
        /// Since the request arrived.
        elapsed_ms: u64,
    },
    /// Answer the request with this failure (a `reply` with [`outcome`]); it has left the queue.
    Fail {
        /// The request.
        request: GenerationRequest,
        /// Why.
        error: GenerationError,
    },
}

#[derive(Debug, Clone)]
struct Waiting {
    request: GenerationRequest,
    arrived_ms: u64,
    told_position: usize,
}

#[derive(Debug, Clone)]
struct Running {
    request: GenerationRequest,
    tab: TabId,
    arrived_ms: u64,
    stage: Stage,
}

/// The generations of one extension: open tabs, the one running in each, the waiting line.
#[derive(Debug, Default)]
pub struct Queue {
    /// Open ChatGPT tabs, oldest first.
    tabs: Vec<TabId>,
    running: Vec<Running>,
    waiting: VecDeque<Waiting>,
}

impl Queue {
    /// An empty queue with no tab.
    pub fn new() -> Queue {
        Queue::default()
    }

    /// A request arrived at `now_ms`.
    pub fn push(&mut self, now_ms: u64, request: GenerationRequest) -> Vec<Step> {
        if self.tabs.is_empty() {
            return vec![Step::Fail {
                request,
                error: GenerationError::NoTab,
            }];
        }
        let position = self.waiting.len() + 1;
        let mut steps = vec![Step::Progress {
            request_id: request.id.clone(),
            stage: Stage::Queued,
            position: Some(position),
            elapsed_ms: 0,
        }];
        self.waiting.push_back(Waiting {
            request,
            arrived_ms: now_ms,
            told_position: position,
        });
        steps.extend(self.pump(now_ms));
        steps
    }

    /// A ChatGPT tab opened (or told the worker it is there).
    pub fn tab_opened(&mut self, now_ms: u64, tab: TabId) -> Vec<Step> {
        if !self.tabs.contains(&tab) {
            self.tabs.push(tab);
        }
        self.pump(now_ms)
    }

    /// A ChatGPT tab closed. Its running generation fails through its own tab call; the waiting
    /// ones fail when no tab is left.
    pub fn tab_closed(&mut self, tab: TabId) -> Vec<Step> {
        self.tabs.retain(|t| *t != tab);
        if !self.tabs.is_empty() {
            return Vec::new();
        }
        self.waiting
            .drain(..)
            .map(|w| Step::Fail {
                request: w.request,
                error: GenerationError::NoTab,
            })
            .collect()
    }

    /// The running request `id` reached `stage` (ignored if not later than its current one).
    pub fn stage(&mut self, now_ms: u64, id: &str, stage: Stage) -> Vec<Step> {
        let Some(run) = self.running.iter_mut().find(|r| r.request.id == id) else {
            return Vec::new();
        };
        if stage <= run.stage {
            return Vec::new();
        }
        run.stage = stage;
        vec![Step::Progress {
            request_id: id.to_owned(),
            stage,
            position: None,
            elapsed_ms: now_ms.saturating_sub(run.arrived_ms),
        }]
    }

    /// The running request `id` is over (answered either way): its tab is free again.
    pub fn finished(&mut self, now_ms: u64, id: &str) -> Vec<Step> {
        self.running.retain(|r| r.request.id != id);
        self.pump(now_ms)
    }

    /// Starts what free tabs can take, then tells the waiting their new places.
    fn pump(&mut self, now_ms: u64) -> Vec<Step> {
        let mut steps = Vec::new();
        while !self.waiting.is_empty() {
            let busy = |t: &TabId| self.running.iter().any(|r| r.tab == *t);
            let Some(&tab) = self.tabs.iter().rev().find(|t| !busy(t)) else {
                break;
            };
            let Some(next) = self.waiting.pop_front() else {
                break;
            };
            self.running.push(Running {
                request: next.request.clone(),
                tab,
                arrived_ms: next.arrived_ms,
                stage: Stage::Queued,
            });
            steps.push(Step::Start {
                tab,
                request: next.request,
            });
        }
        for (i, w) in self.waiting.iter_mut().enumerate() {
            if w.told_position != i + 1 {
                w.told_position = i + 1;
                steps.push(Step::Progress {
                    request_id: w.request.id.clone(),
                    stage: Stage::Queued,
                    position: Some(i + 1),
                    elapsed_ms: now_ms.saturating_sub(w.arrived_ms),
                });
            }
        }
        steps
    }

    /// What the popup shows: `{running: [{requestId, prompt, tab, stage, elapsedMs}],
    /// queued: [{requestId, prompt, position, elapsedMs}]}`.
    pub fn snapshot(&self, now_ms: u64) -> Value {
        let running: Vec<Value> = self
            .running
            .iter()
            .map(|r| {
                json!({"requestId": r.request.id, "prompt": r.request.prompt, "tab": r.tab,
                    "stage": r.stage.as_str(), "elapsedMs": now_ms.saturating_sub(r.arrived_ms)})
            })
            .collect();
        let queued: Vec<Value> = self
            .waiting
            .iter()
            .enumerate()
            .map(|(i, w)| {
                json!({"requestId": w.request.id, "prompt": w.request.prompt, "position": i + 1,
                    "elapsedMs": now_ms.saturating_sub(w.arrived_ms)})
            })
            .collect();
        json!({ "running": running, "queued": queued })
    }

    /// The running request with this id, if any.
    pub fn running(&self, id: &str) -> Option<&GenerationRequest> {
        self.running
            .iter()
            .find(|r| r.request.id == id)
            .map(|r| &r.request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, prompt: &str) -> Value {
        json!({"event": "imageGenerationRequested", "id": id, "from": "cli", "data": {"prompt": prompt}})
    }

    fn request(id: &str) -> GenerationRequest {
        GenerationRequest::from_event(&event(id, &format!("a cat {id}"))).unwrap()
    }

    fn started(steps: &[Step]) -> Vec<(TabId, String)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Start { tab, request } => Some((*tab, request.id.clone())),
                _ => None,
            })
            .collect()
    }

    fn queued(steps: &[Step]) -> Vec<(String, usize)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Progress {
                    request_id,
                    stage: Stage::Queued,
                    position: Some(p),
                    ..
                } => Some((request_id.clone(), *p)),
                _ => None,
            })
            .collect()
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
    fn with_no_tab_a_request_fails_at_once() {
        let mut q = Queue::new();
        let steps = q.push(0, request("e1"));
        assert!(matches!(
            &steps[..],
            [Step::Fail {
                error: GenerationError::NoTab,
                ..
            }]
        ));
        assert_eq!(
            GenerationError::NoTab.to_string(),
            "no ChatGPT tab is open: open https://chatgpt.com in Chrome and log in"
        );
    }

    #[test]
    fn one_generation_per_tab_and_the_rest_wait_in_order() {
        let mut q = Queue::new();
        assert!(q.tab_opened(0, 7).is_empty());
        let a = q.push(10, request("a"));
        assert_eq!(queued(&a), vec![("a".to_owned(), 1)]);
        assert_eq!(started(&a), vec![(7, "a".to_owned())]);
        let b = q.push(20, request("b"));
        assert_eq!(queued(&b), vec![("b".to_owned(), 1)]);
        assert!(started(&b).is_empty());
        let c = q.push(30, request("c"));
        assert_eq!(queued(&c), vec![("c".to_owned(), 2)]);
        assert_eq!(q.snapshot(40)["queued"][1]["requestId"], "c");
        assert_eq!(q.snapshot(40)["running"][0]["tab"], 7);
        // a ends: b starts in the same tab, c moves up and is told so.
        let next = q.finished(50, "a");
        assert_eq!(started(&next), vec![(7, "b".to_owned())]);
        assert_eq!(queued(&next), vec![("c".to_owned(), 1)]);
        let Some(Step::Progress { elapsed_ms, .. }) = next.last() else {
            panic!("{next:?}")
        };
        assert_eq!(*elapsed_ms, 20, "since c arrived");
        // A second tab takes c at once, and the newest free tab goes first.
        let more = q.tab_opened(60, 9);
        assert_eq!(started(&more), vec![(9, "c".to_owned())]);
    }

    #[test]
    fn stages_are_told_once_in_order_with_the_time_since_arrival() {
        let mut q = Queue::new();
        q.tab_opened(0, 1);
        q.push(100, request("a"));
        let typing = q.stage(150, "a", Stage::Typing);
        assert_eq!(
            typing,
            vec![Step::Progress {
                request_id: "a".into(),
                stage: Stage::Typing,
                position: None,
                elapsed_ms: 50
            }]
        );
        assert!(q.stage(160, "a", Stage::Typing).is_empty(), "once");
        assert_eq!(q.stage(170, "a", Stage::Generating).len(), 1);
        assert!(q.stage(180, "a", Stage::Sent).is_empty(), "never backwards");
        assert!(q.stage(180, "nobody", Stage::Sent).is_empty());
        assert_eq!(q.snapshot(200)["running"][0]["stage"], "generating");
    }

    #[test]
    fn closing_the_last_tab_fails_the_waiting_but_another_tab_keeps_them() {
        let mut q = Queue::new();
        q.tab_opened(0, 1);
        q.tab_opened(0, 2);
        q.push(0, request("a"));
        q.push(0, request("b"));
        q.push(0, request("c"));
        assert!(q.tab_closed(1).is_empty(), "tab 2 is still open");
        let failed = q.tab_closed(2);
        assert_eq!(failed.len(), 1);
        assert!(
            matches!(&failed[0], Step::Fail { request, error: GenerationError::NoTab } if request.id == "c")
        );
        // The running ones end through their tab calls; the queue is then empty.
        q.finished(0, "a");
        q.finished(0, "b");
        assert_eq!(q.snapshot(0), json!({"running": [], "queued": []}));
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
            "ChatGPT was still generating after 300 s (the request's timeoutSecs)"
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
