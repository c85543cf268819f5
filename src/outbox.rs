//! The outbox: frames sent while no socket is open wait here, in order, up to a fixed count.
//! A full outbox refuses the new frame with an error; nothing is dropped in silence.

use std::collections::VecDeque;

/// The outbox was full; the frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbox full: {capacity} messages are already waiting for a connection")]
pub struct OutboxFull {
    /// How many frames the outbox holds.
    pub capacity: usize,
}

/// A bounded FIFO of frame texts.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    frames: VecDeque<String>,
}

impl Outbox {
    /// Queues `frame` unless `capacity` frames already wait.
    pub fn push(&mut self, frame: String, capacity: usize) -> Result<(), OutboxFull> {
        if self.frames.len() >= capacity {
            return Err(OutboxFull { capacity });
        }
        self.frames.push_back(frame);
        Ok(())
    }

    /// Takes every waiting frame, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = String> + '_ {
        self.frames.drain(..)
    }

    /// How many frames wait.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}
