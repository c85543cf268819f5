//! Latencies in microseconds: one shared HDR histogram, [`Recorder`]s that feed it in batches
//! from many tasks, and the [`Summary`] the reports print.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency told apart, in microseconds (60 s); longer ones count as 60 s.
pub const MAX_US: u64 = 60_000_000;

/// How many samples a [`Recorder`] keeps before it takes the lock.
const BATCH: usize = 256;

/// The latencies of a run, shared by its connections.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Arc<Mutex<Histogram<u64>>>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty set: 1 µs to [`MAX_US`], 3 significant digits.
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, MAX_US, 3)
            .unwrap_or_else(|_| unreachable!("1..60e6 with 3 digits is a valid histogram"));
        Latencies {
            histogram: Arc::new(Mutex::new(histogram)),
        }
    }

    /// A recorder for one task.
    pub fn recorder(&self) -> Recorder {
        Recorder {
            shared: self.clone(),
            batch: Vec::with_capacity(BATCH),
        }
    }

    /// The percentiles of everything recorded (and flushed) so far.
    pub fn summary(&self) -> Summary {
        Summary::of(
            &self
                .histogram
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn add(&self, samples: &[u64]) {
        let mut histogram = self
            .histogram
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for &us in samples {
            histogram.saturating_record(us.min(MAX_US));
        }
    }
}

/// Records one task's latencies; they reach the [`Latencies`] every [`BATCH`] samples and when
/// it is dropped.
#[derive(Debug)]
pub struct Recorder {
    shared: Latencies,
    batch: Vec<u64>,
}

impl Recorder {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        self.batch
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    /// Hands the samples kept so far to the shared histogram.
    pub fn flush(&mut self) {
        self.shared.add(&self.batch);
        self.batch.clear();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Summary {
    /// How many latencies.
    pub count: u64,
    /// The median.
    pub p50_us: u64,
    /// The 99th percentile.
    pub p99_us: u64,
    /// The 99.9th percentile.
    pub p999_us: u64,
    /// The largest.
    pub max_us: u64,
}

impl Summary {
    /// The summary of `histogram`; all zero when it is empty.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Summary::default();
        }
        Summary {
            count: histogram.len(),
            p50_us: histogram.value_at_quantile(0.5),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within the histogram's 3 significant digits (0.1 %) of `want`.
    fn close(got: u64, want: u64) -> bool {
        got.abs_diff(want) * 1000 <= want
    }

    #[test]
    fn percentiles_of_one_to_ten_thousand() {
        let latencies = Latencies::new();
        let mut recorder = latencies.recorder();
        for us in 1..=10_000 {
            recorder.record(Duration::from_micros(us));
        }
        drop(recorder);
        let s = latencies.summary();
        assert_eq!(s.count, 10_000);
        assert!(close(s.p50_us, 5_000), "{s:?}");
        assert!(close(s.p99_us, 9_900), "{s:?}");
        assert!(close(s.p999_us, 9_990), "{s:?}");
        assert!(close(s.max_us, 10_000), "{s:?}");
    }

    #[test]
    fn a_few_slow_ones_show_in_the_tail_only() {
        let latencies = Latencies::new();
        let mut recorder = latencies.recorder();
        for _ in 0..990 {
            recorder.record(Duration::from_micros(100));
        }
        for _ in 0..10 {
            recorder.record(Duration::from_millis(50));
        }
        drop(recorder);
        let s = latencies.summary();
        assert!(close(s.p50_us, 100), "{s:?}");
        assert!(close(s.p99_us, 100), "{s:?}");
        assert!(close(s.p999_us, 50_000), "{s:?}");
        assert!(close(s.max_us, 50_000), "{s:?}");
    }

    #[test]
    fn samples_arrive_by_batch_and_on_drop_and_huge_ones_saturate() {
        let latencies = Latencies::new();
        let mut a = latencies.recorder();
        let mut b = latencies.recorder();
        for _ in 0..BATCH - 1 {
            a.record(Duration::from_micros(10));
        }
        assert_eq!(latencies.summary(), Summary::default(), "not flushed yet");
        a.record(Duration::from_micros(10));
        assert_eq!(latencies.summary().count, BATCH as u64);
        b.record(Duration::from_secs(3600));
        drop(b);
        let s = latencies.summary();
        assert_eq!(s.count, BATCH as u64 + 1);
        assert!(close(s.max_us, MAX_US), "{s:?}");
    }

    #[test]
    fn an_empty_histogram_is_all_zero() {
        assert_eq!(Latencies::new().summary(), Summary::default());
    }
}
