//! The generation queue: open ChatGPT tabs, the one generation running in each, and the requests
//! waiting in arrival order; what to start, what to tell each requester, what fails. No I/O and
//! no clock: the caller passes the time (see the policy in [`super`]).

use std::collections::VecDeque;

use semantest_protocol::generation::{
    Stage, DOWNLOAD_MARGIN_SECS, MIN_GENERATION_SECS, REQUESTER_GRACE_SECS,
};
use semantest_protocol::json::object;
use semantest_protocol::rules::REPLY_WINDOW_SECS;
use serde_json::Value;

use super::{GenerationError, GenerationRequest, TabId};

/// How often a waiting request is told it still waits, when nothing else is said of it: well
/// within the least patience of a requester (the CLI and the SDK give up after `timeoutSecs` +
/// `REQUESTER_GRACE_SECS` of silence, so at least 61 s).
pub const QUEUED_HEARTBEAT_MS: u64 = 30_000;
const _: () = assert!(QUEUED_HEARTBEAT_MS < REQUESTER_GRACE_SECS * 1000);

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
    /// When the requester last heard of it.
    told_ms: u64,
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
            told_ms: now_ms,
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
        // Taken whole rather than drained: a drain's drop (which puts the rest back) was 1 KB
        // of the .wasm.
        std::mem::take(&mut self.waiting)
            .into_iter()
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
            let Some(mut next) = self.waiting.pop_front() else {
                break;
            };
            // The answer must reach the requester within the servers' reply window.
            let waited_secs = now_ms.saturating_sub(next.arrived_ms) / 1000;
            let left = REPLY_WINDOW_SECS.saturating_sub(waited_secs + DOWNLOAD_MARGIN_SECS);
            if left < MIN_GENERATION_SECS {
                steps.push(Step::Fail {
                    request: next.request,
                    error: GenerationError::WaitedTooLong(waited_secs),
                });
                continue;
            }
            next.request.timeout_secs = next.request.timeout_secs.min(left);
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
        steps.extend(self.tell_waiting(now_ms, |w, position| w.told_position != position));
        steps
    }

    /// Whether any request waits (the driver then calls [`Queue::tick`] every
    /// [`QUEUED_HEARTBEAT_MS`]).
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Tells each waiting request that has heard nothing for [`QUEUED_HEARTBEAT_MS`] that it
    /// still waits, and where: a requester that gives up after a silence (the CLI, the SDK)
    /// keeps waiting behind a long generation.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Step> {
        self.tell_waiting(now_ms, |w, _| {
            now_ms.saturating_sub(w.told_ms) >= QUEUED_HEARTBEAT_MS
        })
    }

    /// `queued` with its place for each waiting request `due(waiting, place)` picks.
    fn tell_waiting(&mut self, now_ms: u64, due: impl Fn(&Waiting, usize) -> bool) -> Vec<Step> {
        let mut steps = Vec::new();
        for (i, w) in self.waiting.iter_mut().enumerate() {
            if due(w, i + 1) {
                w.told_position = i + 1;
                w.told_ms = now_ms;
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
                object([
                    ("requestId", Value::from(r.request.id.as_str())),
                    ("prompt", Value::from(r.request.prompt.as_str())),
                    ("tab", Value::from(r.tab)),
                    ("stage", Value::from(r.stage.as_str())),
                    (
                        "elapsedMs",
                        Value::from(now_ms.saturating_sub(r.arrived_ms)),
                    ),
                ])
            })
            .collect();
        let queued: Vec<Value> = self
            .waiting
            .iter()
            .enumerate()
            .map(|(i, w)| {
                object([
                    ("requestId", Value::from(w.request.id.as_str())),
                    ("prompt", Value::from(w.request.prompt.as_str())),
                    ("position", Value::from(i + 1)),
                    (
                        "elapsedMs",
                        Value::from(now_ms.saturating_sub(w.arrived_ms)),
                    ),
                ])
            })
            .collect();
        object([
            ("running", Value::Array(running)),
            ("queued", Value::Array(queued)),
        ])
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
    use serde_json::json;

    fn request(id: &str) -> GenerationRequest {
        let event = json!({"id": id, "data": {"prompt": format!("a cat {id}")}});
        GenerationRequest::from_event(&event).unwrap()
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
    fn a_request_gets_only_what_is_left_of_the_reply_window() {
        let mut q = Queue::new();
        q.tab_opened(0, 1);
        q.push(0, request("a"));
        q.push(0, request("b"));
        q.push(0, request("c"));
        // b waited 400 s: 600 - 400 - 60 = 140 s left for ChatGPT (it asked for 300).
        let steps = q.finished(400_000, "a");
        let Some(Step::Start { request, .. }) = steps.first() else {
            panic!("{steps:?}")
        };
        assert_eq!((request.id.as_str(), request.timeout_secs), ("b", 140));
        // c waited 530 s: 10 s would be left, too little: it fails, named, and none starts.
        let steps = q.finished(530_000, "b");
        assert!(
            matches!(&steps[..], [Step::Fail { request, error: GenerationError::WaitedTooLong(530) }] if request.id == "c"),
            "{steps:?}"
        );
        assert!(GenerationError::WaitedTooLong(530)
            .to_string()
            .contains("waited 530 s"));
        assert_eq!(q.snapshot(0), json!({"running": [], "queued": []}));
    }

    #[test]
    fn a_waiting_request_is_told_it_still_waits_every_30_s_and_no_more() {
        let mut q = Queue::new();
        q.tab_opened(0, 1);
        q.push(0, request("a"));
        q.push(1_000, request("b"));
        assert!(q.has_waiting());
        assert!(q.tick(30_999).is_empty(), "b heard of itself at 1 s");
        assert_eq!(queued(&q.tick(31_000)), vec![("b".to_owned(), 1)]);
        assert!(q.tick(40_000).is_empty(), "just told");
        assert_eq!(queued(&q.tick(61_000)), vec![("b".to_owned(), 1)]);
        q.finished(62_000, "a");
        assert!(!q.has_waiting());
        assert!(
            q.tick(200_000).is_empty(),
            "the running one is not told it waits"
        );
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
}
