//! [`Tally`]: what one connection's task counted — messages, bytes and errors, with the first
//! error kept to tell on stderr.

use crate::error::LoadError;

/// The counts of one connection, or of a whole run once added up.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Messages sent.
    pub sent: u64,
    /// Their bytes (without WebSocket framing).
    pub bytes: u64,
    /// Answers that were right and counted.
    pub answered: u64,
    /// Errors: failed sends, wrong answers, connections lost, answers that never came.
    pub errors: u64,
    /// The first error's text.
    pub first_error: Option<String>,
}

impl Tally {
    /// Counts one error.
    pub fn error(&mut self, error: &LoadError) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    /// Adds `other` to this one.
    pub fn add(&mut self, other: Tally) {
        self.sent += other.sent;
        self.bytes += other.bytes;
        self.answered += other.answered;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// The average message size in bytes (0 when nothing was sent).
    pub fn message_bytes(&self) -> u64 {
        self.bytes.checked_div(self.sent).unwrap_or(0)
    }

    /// Says on stderr how many errors there were and the first one.
    pub fn tell(&self, what: &str) {
        if let Some(first) = &self.first_error {
            eprintln!("{what}: {} errors; the first: {first}", self.errors);
        }
    }
}

/// Microseconds in `d`, saturating.
pub fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `count` per second over `seconds`, 0 for an empty span.
pub fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// `value` rounded to `digits` decimals, for a report that reads well.
pub fn rounded(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_add_up_and_keep_the_first_error() {
        let mut a = Tally {
            sent: 2,
            bytes: 200,
            answered: 2,
            ..Tally::default()
        };
        let mut b = Tally {
            sent: 2,
            bytes: 100,
            answered: 1,
            ..Tally::default()
        };
        b.error(&LoadError::Closed);
        b.error(&LoadError::Http("later".into()));
        a.add(b);
        assert_eq!((a.sent, a.answered, a.errors), (4, 3, 2));
        assert_eq!(a.message_bytes(), 75);
        assert_eq!(
            a.first_error.as_deref(),
            Some("the server closed the connection")
        );
        assert_eq!(Tally::default().message_bytes(), 0);
        assert_eq!(per_second(10, 0.0), 0.0);
        assert_eq!(per_second(10, 2.0), 5.0);
        assert_eq!(rounded(17.776_726_999_999_998, 3), 17.777);
        assert_eq!(rounded(96_712.666_666_666_67, 1), 96_712.7);
    }
}
