//! The server's WebSocket heartbeat, as a sans-IO policy: it is told the time, it says what to do.
//!
//! The policy: every heartbeat (`heartbeat_secs`) the server sends a WebSocket Ping control frame
//! whose payload is a sequence number. A Pong carrying the latest number gives the round trip;
//! any Pong shows the peer is alive. A heartbeat that finds its previous Ping unanswered counts
//! as missed; after [`MISSED_LIMIT`] missed heartbeats in a row the connection is closed — that
//! is, a client that answers no Pong for two heartbeats is closed.

use std::time::{Duration, Instant};

/// How many heartbeats in a row may pass with the Ping unanswered before the socket is closed.
pub(crate) const MISSED_LIMIT: u32 = 2;

/// What to do at a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Send a Ping control frame with this payload.
    Ping(Vec<u8>),
    /// The peer answered no Pong for [`MISSED_LIMIT`] heartbeats: close the connection.
    Dead,
}

/// The heartbeat state of one connection.
#[derive(Debug, Default)]
pub(crate) struct Heartbeat {
    sequence: u64,
    /// The Ping not yet answered, with when it was sent.
    outstanding: Option<(u64, Instant)>,
    missed: u32,
}

impl Heartbeat {
    /// A connection that has not been pinged yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A heartbeat at `now`.
    pub(crate) fn tick(&mut self, now: Instant) -> Beat {
        if self.outstanding.is_some() {
            self.missed += 1;
            if self.missed >= MISSED_LIMIT {
                return Beat::Dead;
            }
        }
        self.sequence += 1;
        self.outstanding = Some((self.sequence, now));
        Beat::Ping(self.sequence.to_be_bytes().to_vec())
    }

    /// A Pong with `payload` arrived at `now`. Returns the round trip if it answers the latest
    /// Ping.
    pub(crate) fn pong(&mut self, payload: &[u8], now: Instant) -> Option<Duration> {
        self.missed = 0;
        let (sequence, sent) = self.outstanding?;
        if payload != sequence.to_be_bytes() {
            return None;
        }
        self.outstanding = None;
        Some(now.saturating_duration_since(sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_secs(20);

    fn payload(beat: Beat) -> Vec<u8> {
        match beat {
            Beat::Ping(p) => p,
            Beat::Dead => panic!("expected a ping"),
        }
    }

    #[test]
    fn an_answering_peer_lives_and_gets_measured() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new();
        for i in 0..5u32 {
            let now = t0 + BEAT * i;
            let p = payload(hb.tick(now));
            assert_eq!(
                hb.pong(&p, now + Duration::from_millis(7)),
                Some(Duration::from_millis(7))
            );
        }
    }

    #[test]
    fn two_unanswered_heartbeats_close() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new();
        assert!(matches!(hb.tick(t0), Beat::Ping(_)));
        assert!(
            matches!(hb.tick(t0 + BEAT), Beat::Ping(_)),
            "one missed is tolerated"
        );
        assert_eq!(hb.tick(t0 + BEAT * 2), Beat::Dead);
    }

    #[test]
    fn a_late_pong_keeps_the_peer_alive_but_is_not_measured() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new();
        let first = payload(hb.tick(t0));
        let _second = payload(hb.tick(t0 + BEAT));
        assert_eq!(hb.pong(&first, t0 + BEAT + Duration::from_secs(1)), None);
        assert!(matches!(hb.tick(t0 + BEAT * 2), Beat::Ping(_)));
        assert!(hb.pong(b"garbage", t0 + BEAT * 2).is_none());
    }
}
