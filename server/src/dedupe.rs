//! The acks the hub remembers, so that a repeated `(client, frame id)` gets its first answer: bounded in time and in number.
//!
//! Entries are keyed by [`semantest_protocol::dedupe_key`] (32 bytes whatever the ids'
//! lengths) and kept [`semantest_protocol::DEDUPE_WINDOW_SECS`]; beyond [`MAX_REMEMBERED`]
//! entries the oldest go first, so a flood of publishes costs at most that many entries. An
//! entry keeps only what the ack needs (the event id, `delivered`, `held`): a full table
//! measured 19 MiB of resident memory, about 300 bytes an entry (35 MiB when entries kept the
//! `Ack` itself). Sans-IO: the caller passes the time.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use semantest_protocol::Ack;

/// At most this many frames are remembered; past it the oldest are forgotten first.
pub(crate) const MAX_REMEMBERED: usize = 65_536;

/// A remembered frame key.
pub(crate) type Key = [u8; 32];

/// One remembered ack of a `publish` or a `reply`, in few bytes.
#[derive(Debug)]
struct Entry {
    at: Instant,
    /// The event id of a publish; `None` for a reply.
    event: Option<Box<str>>,
    delivered: u32,
    held: bool,
}

impl Entry {
    fn ack(&self) -> Ack {
        Ack {
            action: if self.event.is_some() {
                "publish"
            } else {
                "reply"
            }
            .to_owned(),
            events: None,
            id: self.event.as_deref().map(str::to_owned),
            delivered: Some(self.delivered as usize),
            held: self.held,
        }
    }
}

/// The remembered acks of one hub.
#[derive(Debug)]
pub(crate) struct Answers {
    entries: HashMap<Key, Entry>,
    /// Keys in the order they were remembered, with the time, oldest first. A key forgotten
    /// early stays here until its time comes; the time tells it from a newer entry.
    order: VecDeque<(Key, Instant)>,
    window: Duration,
    cap: usize,
}

impl Answers {
    /// Remembers acks for `window`, at most `cap` of them.
    pub(crate) fn new(window: Duration, cap: usize) -> Self {
        Answers {
            entries: HashMap::new(),
            order: VecDeque::new(),
            window,
            cap,
        }
    }

    /// The ack remembered for `key`, if it is younger than the window at `now`.
    pub(crate) fn get(&mut self, key: &Key, now: Instant) -> Option<Ack> {
        self.expire(now);
        self.entries.get(key).map(Entry::ack)
    }

    /// Remembers `ack`, the ack of a `publish` (with its event id) or a `reply` (without), as
    /// the answer to `key` at `now`.
    pub(crate) fn remember(&mut self, key: Key, ack: &Ack, now: Instant) {
        debug_assert!(matches!(
            (ack.action.as_str(), &ack.id),
            ("publish", Some(_)) | ("reply", None)
        ));
        self.expire(now);
        let entry = Entry {
            at: now,
            event: ack.id.as_deref().map(Box::from),
            delivered: u32::try_from(ack.delivered.unwrap_or(0)).unwrap_or(u32::MAX),
            held: ack.held,
        };
        self.entries.insert(key, entry);
        self.order.push_back((key, now));
        while self.entries.len() > self.cap {
            self.pop_oldest();
        }
    }

    /// Forgets `key` (its frame turned out to have had no effect).
    pub(crate) fn forget(&mut self, key: &Key) {
        self.entries.remove(key);
    }

    /// Whether no ack is remembered any more at `now`.
    pub(crate) fn settled(&mut self, now: Instant) -> bool {
        self.expire(now);
        self.entries.is_empty()
    }

    /// How many acks are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn expire(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) >= self.window)
        {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((key, at)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.at == at) {
                self.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(id: &str) -> Ack {
        Ack {
            action: "publish".into(),
            events: None,
            id: Some(id.into()),
            delivered: Some(1),
            held: false,
        }
    }

    fn key(n: u8) -> Key {
        [n; 32]
    }

    #[test]
    fn an_ack_is_kept_for_the_window_and_no_longer() {
        let t0 = Instant::now();
        let window = Duration::from_secs(semantest_protocol::DEDUPE_WINDOW_SECS);
        let mut answers = Answers::new(window, 8);
        answers.remember(key(1), &ack("e1"), t0);
        let last = t0 + window - Duration::from_millis(1);
        assert_eq!(answers.get(&key(1), last), Some(ack("e1")));
        assert_eq!(answers.get(&key(1), t0 + window), None);
        assert_eq!(answers.len(), 0);
    }

    #[test]
    fn a_reply_ack_comes_back_as_it_was() {
        let t0 = Instant::now();
        let mut answers = Answers::new(Duration::from_secs(120), 8);
        let reply = Ack {
            action: "reply".into(),
            events: None,
            id: None,
            delivered: Some(1),
            held: false,
        };
        answers.remember(key(2), &reply, t0);
        let held = Ack {
            held: true,
            delivered: Some(0),
            ..ack("e3")
        };
        answers.remember(key(3), &held, t0);
        assert_eq!(answers.get(&key(2), t0), Some(reply));
        assert_eq!(answers.get(&key(3), t0), Some(held));
    }

    #[test]
    fn past_the_cap_the_oldest_go_first() {
        let t0 = Instant::now();
        let mut answers = Answers::new(Duration::from_secs(120), 3);
        for n in 1..=4 {
            answers.remember(key(n), &ack(&format!("e{n}")), t0);
        }
        assert_eq!(answers.len(), 3);
        assert_eq!(answers.get(&key(1), t0), None);
        assert_eq!(answers.get(&key(4), t0), Some(ack("e4")));
    }

    #[test]
    fn a_key_forgotten_and_remembered_again_keeps_its_new_time() {
        let t0 = Instant::now();
        let window = Duration::from_secs(120);
        let mut answers = Answers::new(window, 8);
        answers.remember(key(1), &ack("old"), t0);
        answers.forget(&key(1));
        let t1 = t0 + Duration::from_secs(60);
        answers.remember(key(1), &ack("new"), t1);
        // The old entry's time passes; the new one stays.
        assert_eq!(answers.get(&key(1), t0 + window), Some(ack("new")));
        assert_eq!(answers.get(&key(1), t1 + window), None);
    }
}
