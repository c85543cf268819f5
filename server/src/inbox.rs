//! A socket's inbox: everything that wakes an idle connection — frames from its hub and the
//! deadlines of the shared timer ([`crate::timers`]) — in one small allocation per socket.
//!
//! It replaces a bounded `tokio::sync::mpsc` channel per connection, which allocated its first
//! block of 32 slots (and a cache-padded channel) up front: about 1.4 KB for every idle socket.
//! The inbox holds nothing until a frame arrives. The rules stay the channel's:
//! - at most [`QUEUE`] frames wait; a frame pushed to a full inbox is refused (the hub counts
//!   it as not delivered), and so is one pushed to the inbox of a socket that is gone;
//! - frames come out in the order they went in.
//!
//! Deadlines are flags, not queued: a heartbeat that comes due while the previous one is still
//! unhandled is one heartbeat (the old `interval`'s "delay" behaviour).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use crate::hub::Push;

/// How many frames may wait for one connection.
pub(crate) const QUEUE: usize = 256;

/// The heartbeat flag: time to ping (or to find the peer dead).
const HEARTBEAT: u8 = 1;
/// The auth-deadline flag: a keyless socket's time to show a token ran out.
const AUTH_DEADLINE: u8 = 2;

/// What woke a socket.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// A frame from the hub.
    Push(Push),
    /// The heartbeat came due.
    Heartbeat,
    /// The auth deadline passed.
    AuthDeadline,
}

/// The shared part: the socket reads it, the hub and the timer write it.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    frames: Mutex<VecDeque<Push>>,
    due: AtomicU8,
    closed: AtomicBool,
    /// The socket's task, while it waits.
    waker: AtomicWaker,
}

impl Shared {
    fn frames(&self) -> MutexGuard<'_, VecDeque<Push>> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Raises a deadline flag and wakes the socket.
    fn raise(&self, flag: u8) {
        self.due.fetch_or(flag, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Whether the socket's inbox is gone (its task ended, or was dropped).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Tells the socket its heartbeat is due.
    pub(crate) fn heartbeat(&self) {
        self.raise(HEARTBEAT);
    }

    /// Tells the socket its auth deadline passed.
    pub(crate) fn auth_deadline(&self) {
        self.raise(AUTH_DEADLINE);
    }
}

/// The socket's end of its inbox. Dropping it closes the inbox: later pushes are refused.
#[derive(Debug)]
pub(crate) struct Inbox {
    shared: Arc<Shared>,
}

impl Inbox {
    /// An empty inbox (no allocation but the shared part itself).
    pub(crate) fn new() -> Self {
        Inbox {
            shared: Arc::new(Shared::default()),
        }
    }

    /// The handle the hub pushes frames through.
    pub(crate) fn postbox(&self) -> Postbox {
        Postbox {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The handle the timer keeps: it does not keep the inbox alive.
    pub(crate) fn watcher(&self) -> Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    /// The next thing that woke the socket; waits until there is one. Cancel-safe: nothing is
    /// taken until it is returned.
    pub(crate) async fn next(&self) -> Wake {
        poll_fn(|cx| {
            if let Some(wake) = self.take() {
                return Poll::Ready(wake);
            }
            self.shared.waker.register(cx.waker());
            // Something may have come between the first look and the registration.
            self.take().map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }

    /// What is there now, deadlines first.
    fn take(&self) -> Option<Wake> {
        let due = self.shared.due.load(Ordering::Acquire);
        for (flag, wake) in [
            (AUTH_DEADLINE, Wake::AuthDeadline),
            (HEARTBEAT, Wake::Heartbeat),
        ] {
            if due & flag != 0 {
                self.shared.due.fetch_and(!flag, Ordering::AcqRel);
                return Some(wake);
            }
        }
        self.shared.frames().pop_front().map(Wake::Push)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.frames().clear();
    }
}

/// The hub's handle on a socket's inbox.
#[derive(Debug, Clone)]
pub(crate) struct Postbox {
    shared: Arc<Shared>,
}

impl Postbox {
    /// Queues `push` for the socket; `false` (and nothing queued) when [`QUEUE`] frames already
    /// wait or the socket is gone.
    pub(crate) fn push(&self, push: Push) -> bool {
        {
            let mut frames = self.shared.frames();
            if self.shared.closed.load(Ordering::Acquire) || frames.len() >= QUEUE {
                return false;
            }
            frames.push_back(push);
        }
        self.shared.waker.wake();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Push {
        Push::Text(format!("frame {n}"))
    }

    #[tokio::test]
    async fn frames_come_out_in_order_and_a_full_inbox_refuses() {
        let inbox = Inbox::new();
        let post = inbox.postbox();
        for n in 0..QUEUE {
            assert!(post.push(text(n)), "frame {n} fits");
        }
        assert!(
            !post.push(text(QUEUE)),
            "the frame over the bound is refused"
        );
        for n in 0..QUEUE {
            assert_eq!(inbox.next().await, Wake::Push(text(n)));
        }
        assert!(post.push(text(0)), "room again once read");
    }

    #[tokio::test]
    async fn a_gone_socket_refuses_frames() {
        let inbox = Inbox::new();
        let post = inbox.postbox();
        assert!(post.push(text(1)));
        drop(inbox);
        assert!(!post.push(text(2)));
    }

    #[tokio::test]
    async fn deadlines_wake_a_waiting_socket_and_repeated_ones_coalesce() {
        let inbox = Inbox::new();
        let watcher = inbox.watcher();
        let waiting = tokio::spawn(async move {
            let first = inbox.next().await;
            (first, inbox)
        });
        tokio::task::yield_now().await;
        let shared = watcher.upgrade().unwrap();
        shared.heartbeat();
        shared.heartbeat();
        let (first, inbox) = waiting.await.unwrap();
        assert_eq!(first, Wake::Heartbeat);
        assert_eq!(inbox.take(), None, "two heartbeats unhandled are one");
        shared.auth_deadline();
        assert_eq!(inbox.next().await, Wake::AuthDeadline);
    }

    #[test]
    fn the_timer_does_not_keep_a_closed_inbox() {
        let inbox = Inbox::new();
        let watcher = inbox.watcher();
        drop(inbox);
        assert!(watcher.upgrade().is_none());
    }
}
