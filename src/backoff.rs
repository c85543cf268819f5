//! The retry schedule: full-jitter exponential backoff.
//!
//! Failed attempt `n` (counting from 0) is followed by a wait drawn uniformly from
//! `[0, min(cap, base · factorⁿ)]` milliseconds. With the defaults (base 1 s, factor 2, cap 30 s)
//! the ceilings are 1, 2, 4, 8, 16, 30, 30, … s. Full jitter spreads the reconnects of many
//! clients after a server restart. After `max_attempts` failures in a row the schedule ends
//! ([`Backoff::next_delay`] returns `None`) and the client reports that it gave up. The count
//! goes back to 0 once a connection has stayed up for `stable_after_ms` (see the machine).

use crate::settings::RetrySettings;

/// Counts failed attempts and draws the next delay. Deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct Backoff {
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A schedule whose jitter comes from `seed` (drivers seed it randomly, tests fixed).
    pub fn new(seed: u64) -> Self {
        Backoff {
            failures: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// How many attempts have failed in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The largest delay the attempt after `failures` failures can wait, in ms.
    pub fn ceiling(retry: &RetrySettings, failures: u32) -> u64 {
        let grown = retry.base_ms as f64 * retry.factor.powi(failures.min(64) as i32);
        if grown.is_finite() && grown < retry.cap_ms as f64 {
            grown as u64
        } else {
            retry.cap_ms
        }
    }

    /// Records one more failure and returns how long to wait before the next attempt,
    /// or `None` when `max_attempts` failures have been reached.
    pub fn next_delay(&mut self, retry: &RetrySettings) -> Option<u64> {
        let ceiling = Self::ceiling(retry, self.failures);
        self.failures = self.failures.saturating_add(1);
        if retry.max_attempts.is_some_and(|max| self.failures >= max) {
            return None;
        }
        Some(self.rng.u64(0..=ceiling))
    }

    /// Continues a schedule that an earlier instance had reached (a restarted service worker):
    /// the next delay is the one after `failures` failures.
    pub fn resume(&mut self, failures: u32) {
        self.failures = failures;
    }

    /// Whether `max_attempts` failures in a row have been reached.
    pub fn exhausted(&self, retry: &RetrySettings) -> bool {
        retry.max_attempts.is_some_and(|max| self.failures >= max)
    }

    /// Back to the first step, after a stable connection.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn retry(max: Option<u32>) -> RetrySettings {
        RetrySettings {
            base_ms: 1_000,
            factor: 2.0,
            cap_ms: 30_000,
            max_attempts: max,
        }
    }

    #[test]
    fn ceilings_follow_the_documented_schedule() {
        let r = retry(None);
        let got: Vec<u64> = (0..8).map(|n| Backoff::ceiling(&r, n)).collect();
        assert_eq!(
            got,
            [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(Backoff::ceiling(&r, u32::MAX), 30_000);
    }

    #[test]
    fn delays_stay_within_bounds_and_use_the_whole_range() {
        let r = retry(None);
        let mut b = Backoff::new(7);
        let mut max_seen = 0;
        for n in 0..200 {
            let d = b.next_delay(&r).unwrap();
            assert!(d <= Backoff::ceiling(&r, n), "attempt {n}: {d}");
            max_seen = max_seen.max(d);
        }
        assert!(
            max_seen > 15_000,
            "jitter should reach high in the range, saw {max_seen}"
        );
    }

    #[test]
    fn gives_up_after_max_attempts_and_reset_starts_over() {
        let r = retry(Some(3));
        let mut b = Backoff::new(1);
        assert!(b.next_delay(&r).is_some());
        assert!(b.next_delay(&r).is_some());
        assert_eq!(b.next_delay(&r), None);
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(b.next_delay(&r).unwrap() <= 1_000);
    }
}
