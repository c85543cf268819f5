//! The shared timer: every socket's heartbeat and auth deadline, kept by one task per server
//! instead of an `interval` and a `sleep` inside every socket's future.
//!
//! The policy (unchanged from the per-socket timers it replaces):
//! - A socket's heartbeat comes due [`crate::Config::heartbeat_secs`] after it opened, and then
//!   every heartbeat after that, counted from when the timer told it. A socket busy when its
//!   heartbeat came (a slow send, at most `ws::SEND_TIMEOUT`) finds it waiting, once however
//!   many came meanwhile, and its next one stays on this schedule (like `interval`'s
//!   `MissedTickBehavior::Skip`; the per-socket `interval` before was `Delay`, which counted
//!   from when the socket took it). A Ping sent late thus has less than a heartbeat before the
//!   next one asks for its pong: at least the heartbeat less the send timeout.
//! - A keyless socket's auth deadline comes due [`crate::Config::auth_deadline_ms`] after it
//!   opened; whether it still matters is the socket's business (see `conn`).
//! - The socket is told through its [`Inbox`] (a flag and a wake-up); it does the sending.
//!
//! How: every heartbeat has the same length, and so has every auth deadline, so entries come
//! due in the order they were made. Each kind is a first-in-first-out queue whose front is the
//! earliest; one task sleeps until the earliest front. An entry is a time and a weak pointer to
//! the socket's inbox (24 bytes). A closed socket's entries are not searched for: they are
//! dropped, telling no one, when they come due — at most one heartbeat after the close.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::inbox::{Inbox, Shared};

/// When to tell which socket.
type Entry = (Instant, Weak<Shared>);

/// The socket of the queue's first entry, taken out, if that entry is due at `now`.
fn pop_due(queue: &mut VecDeque<Entry>, now: Instant) -> Option<Weak<Shared>> {
    match queue.front() {
        Some((at, _)) if *at <= now => queue.pop_front().map(|(_, socket)| socket),
        _ => None,
    }
}

/// The heartbeats and auth deadlines of one server's sockets.
#[derive(Debug)]
pub(crate) struct Timers {
    heartbeat: Duration,
    auth_deadline: Duration,
    queues: Mutex<Queues>,
    /// Wakes [`Timers::run`] when a queue gets its first entry (a new earliest time).
    changed: Notify,
}

/// The entries, each queue ordered by time (earliest first).
#[derive(Debug, Default)]
struct Queues {
    heartbeats: VecDeque<Entry>,
    deadlines: VecDeque<Entry>,
}

impl Queues {
    /// The earliest time anything comes due.
    fn next(&self) -> Option<Instant> {
        [self.heartbeats.front(), self.deadlines.front()]
            .into_iter()
            .flatten()
            .map(|(at, _)| *at)
            .min()
    }
}

impl Timers {
    /// Timers for sockets with this heartbeat (at least one second is used) and this auth
    /// deadline.
    pub(crate) fn new(heartbeat: Duration, auth_deadline: Duration) -> Self {
        Timers {
            heartbeat: heartbeat.max(Duration::from_secs(1)),
            auth_deadline,
            queues: Mutex::new(Queues::default()),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the heartbeat of the socket that reads `inbox`, and its auth deadline when it is
    /// `keyless`.
    pub(crate) fn watch(&self, inbox: &Inbox, keyless: bool) {
        let mut queues = self.lock();
        // Taken under the lock, so each queue stays ordered whichever thread pushes.
        let now = Instant::now();
        let mut first = queues.heartbeats.is_empty();
        queues
            .heartbeats
            .push_back((now + self.heartbeat, inbox.watcher()));
        if keyless {
            first |= queues.deadlines.is_empty();
            queues
                .deadlines
                .push_back((now + self.auth_deadline, inbox.watcher()));
        }
        drop(queues);
        if first {
            self.changed.notify_one();
        }
    }

    /// Tells every socket whose time has come, sets the next heartbeat of those still open,
    /// drops the entries of closed ones; returns when the next entry comes due.
    fn fire(&self) -> Option<Instant> {
        let mut queues = self.lock();
        // Taken under the lock, as in `watch`: an entry pushed between a time read outside and
        // the lock would be later than the ones pushed here, and the queue out of order.
        let now = Instant::now();
        while let Some(socket) = pop_due(&mut queues.heartbeats, now) {
            // A closed inbox may still be held (by a hub whose socket's task was dropped
            // before it left): its entry ends here all the same.
            if let Some(inbox) = socket.upgrade().filter(|i| !i.is_closed()) {
                inbox.heartbeat();
                queues.heartbeats.push_back((now + self.heartbeat, socket));
            }
        }
        while let Some(socket) = pop_due(&mut queues.deadlines, now) {
            if let Some(inbox) = socket.upgrade() {
                inbox.auth_deadline();
            }
        }
        queues.next()
    }

    /// Keeps the time for every socket of the server; runs until it is dropped.
    pub(crate) async fn run(&self) {
        loop {
            let changed = self.changed.notified();
            match self.fire() {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// How many entries are kept (heartbeats and deadlines).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let queues = self.lock();
        queues.heartbeats.len() + queues.deadlines.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::inbox::Wake;

    const BEAT: Duration = Duration::from_secs(20);
    const AUTH: Duration = Duration::from_secs(5);

    fn timers() -> Arc<Timers> {
        let timers = Arc::new(Timers::new(BEAT, AUTH));
        let running = Arc::clone(&timers);
        tokio::spawn(async move { running.run().await });
        timers
    }

    /// What wakes `inbox` next, and after how long.
    async fn next(inbox: &Inbox) -> (Wake, Duration) {
        let start = Instant::now();
        let wake = inbox.next().await;
        (wake, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_come_every_period_from_the_open() {
        let timers = timers();
        let inbox = Inbox::new();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        timers.watch(&inbox, false);
        for _ in 0..3 {
            assert_eq!(next(&inbox).await, (Wake::Heartbeat, BEAT));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_keyless_socket_is_told_its_auth_deadline_once() {
        let timers = timers();
        let keyless = Inbox::new();
        let keyed = Inbox::new();
        timers.watch(&keyed, false);
        tokio::time::sleep(Duration::from_secs(3)).await;
        timers.watch(&keyless, true);
        assert_eq!(next(&keyless).await, (Wake::AuthDeadline, AUTH));
        assert_eq!(
            next(&keyless).await,
            (Wake::Heartbeat, BEAT - AUTH),
            "then only heartbeats"
        );
        let (first, _) = next(&keyed).await;
        assert_eq!(
            first,
            Wake::Heartbeat,
            "a socket with a key has no deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_socket_is_told_once_and_the_next_heartbeat_counts_from_then() {
        let timers = timers();
        let inbox = Inbox::new();
        timers.watch(&inbox, false);
        // The socket is busy for two and a half heartbeats: the heartbeats that came due
        // meanwhile are one, and the next one is a whole heartbeat after the last one told.
        tokio::time::sleep(BEAT * 5 / 2).await;
        assert_eq!(next(&inbox).await, (Wake::Heartbeat, Duration::ZERO));
        assert_eq!(next(&inbox).await, (Wake::Heartbeat, BEAT / 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_inbox_still_held_elsewhere_leaves_no_entry_behind() {
        let timers = timers();
        let inbox = Inbox::new();
        timers.watch(&inbox, false);
        // What a hub keeps of a socket whose task was dropped before it left the hub.
        let held = inbox.watcher().upgrade();
        assert!(held.is_some());
        drop(inbox);
        tokio::time::sleep(BEAT + Duration::from_millis(1)).await;
        assert_eq!(timers.len(), 0, "not set again for a closed inbox");
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_socket_leaves_no_entry_behind() {
        let timers = timers();
        let inbox = Inbox::new();
        timers.watch(&inbox, true);
        assert_eq!(timers.len(), 2);
        drop(inbox);
        tokio::time::sleep(BEAT + Duration::from_millis(1)).await;
        assert_eq!(timers.len(), 0, "dropped when due, not set again");
    }
}
