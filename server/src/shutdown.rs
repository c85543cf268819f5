//! Graceful shutdown: one signal every connection listens to, and a wait for them to finish.
//!
//! The policy: when the shutdown future given to [`crate::serve`] resolves, the listener stops
//! accepting, every open WebSocket sends a Close frame with code 1001 ("server shutting down")
//! and waits up to [`CLOSE_REPLY_WAIT`] for the client's Close, and `serve` returns once all of
//! them have ended — or after [`GRACE`], whichever comes first, so a stuck peer cannot hold the
//! process up.

use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

/// The longest `serve` waits for open connections after shutdown starts.
pub const GRACE: Duration = Duration::from_secs(5);

/// The longest a socket waits for the peer's Close after sending its own.
pub const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// The shared shutdown signal and the set of connections that must end before the server does.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// A signal that has not fired, tracking no connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the shutdown: every connection is told to close.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether the shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when the shutdown starts.
    pub fn triggered(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// A token that keeps [`Shutdown::drain`] waiting until it is dropped: taken when a request
    /// arrives, so a connection counts from before its upgrade completes, not only after.
    pub(crate) fn hold(&self) -> TaskTrackerToken {
        self.tracker.token()
    }

    /// Waits until every tracked connection has ended, at most `limit`. Returns whether they
    /// all ended in time.
    pub async fn drain(&self, limit: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_tracked_work() {
        let shutdown = Shutdown::new();
        let s = shutdown.clone();
        let held = shutdown.hold();
        let task = tokio::spawn(async move {
            s.triggered().await;
            drop(held);
        });
        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        assert!(shutdown.drain(Duration::from_secs(5)).await);
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn drain_is_bounded() {
        let stuck = Shutdown::new();
        let _held = stuck.hold();
        assert!(!stuck.drain(Duration::from_secs(5)).await);
    }
}
