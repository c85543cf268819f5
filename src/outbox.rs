//! The outbox: every frame the application gives the core, from the moment it is given until
//! a server answers it (every v1 client frame is answered) or it fails. A frame is *waiting*
//! (no socket carries it), or *out* on one socket; when that socket dies or is replaced before
//! the answer, the frame waits again and goes out, in order and with the same id, on the next
//! ready socket. Bounded: at most `capacity` frames at once; one more is refused.
//!
//! This is only the record; the machine decides when frames move (`machine::session`).

use std::collections::VecDeque;

use crate::event::SocketId;

/// The outbox was full; the frame was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbox full: {capacity} messages are already waiting for an answer")]
pub struct OutboxFull {
    /// How many frames the outbox holds.
    pub capacity: usize,
}

/// One frame the core has not yet seen answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// The frame's id (the answer carries it as `replyTo`).
    pub id: String,
    /// The frame's JSON text, sent again as it is.
    pub text: String,
    /// The socket that carries it now; `None` while it waits for a ready socket.
    pub on: Option<SocketId>,
    /// A `reply` may only go to the server whose event it answers: that event's socket.
    pub pinned: Option<SocketId>,
    /// When it fails with `timeout`.
    pub deadline: u64,
    /// The time limit it was given, for the failure's message.
    pub timeout_ms: u64,
    /// When it last went out (meaningful while `on` is set).
    pub sent_at: u64,
    /// Whether the socket has been checked (pinged) since it went out without an answer.
    pub checked: bool,
}

/// The frames, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    frames: VecDeque<Tracked>,
}

impl Outbox {
    /// Takes `frame` unless `capacity` frames are unanswered already.
    pub fn push(&mut self, frame: Tracked, capacity: usize) -> Result<(), OutboxFull> {
        if self.frames.len() >= capacity {
            return Err(OutboxFull { capacity });
        }
        self.frames.push_back(frame);
        Ok(())
    }

    /// Removes and returns the frame `id`, if it is still here.
    pub fn take(&mut self, id: &str) -> Option<Tracked> {
        let at = self.frames.iter().position(|f| f.id == id)?;
        self.frames.remove(at)
    }

    /// Removes and returns every frame for which `pick` holds, oldest first.
    pub fn take_where(&mut self, mut pick: impl FnMut(&Tracked) -> bool) -> Vec<Tracked> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.frames.len());
        for frame in std::mem::take(&mut self.frames) {
            if pick(&frame) {
                taken.push(frame);
            } else {
                kept.push_back(frame);
            }
        }
        self.frames = kept;
        taken
    }

    /// Every frame, oldest first, to read or change in place.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Tracked> {
        self.frames.iter_mut()
    }

    /// Every frame, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Tracked> {
        self.frames.iter()
    }

    /// How many frames wait for a socket (not counting those out on one).
    pub fn waiting(&self) -> usize {
        self.frames.iter().filter(|f| f.on.is_none()).count()
    }

    /// How many frames are unanswered.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether every frame has been answered.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}
