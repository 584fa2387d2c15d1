//! Counters into rates. A counter that goes backwards means the daemon restarted: that is
//! reported as a reset, never as a negative rate. A rate needs two readings a real
//! interval apart: a forced poll right after a scheduled one would divide a handful of
//! requests (or none) by a split second, inventing a spike or a zero.

use std::time::{Duration, Instant};

/// What one new counter reading says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// The first reading: no rate yet.
    First,
    /// Per-second rate since the previous reading.
    Rate(f64),
    /// The counter went down: the process restarted since the previous reading.
    Reset,
    /// Too little time since the previous reading for a rate: the reading is ignored and
    /// the next one is measured from the previous reading.
    Early,
}

impl Reading {
    /// The rate, when there is one.
    pub fn rate(self) -> Option<f64> {
        match self {
            Reading::Rate(r) => Some(r),
            _ => None,
        }
    }

    /// The rate to show: this reading's, else the last good one (`previous`) until a new
    /// one exists.
    pub fn or_last(self, previous: Option<f64>) -> Option<f64> {
        self.rate().or(previous)
    }
}

/// The previous reading of one monotonic counter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counter {
    last: Option<(u64, Instant)>,
}

impl Counter {
    /// Records `value` read at `at` and derives the rate since the previous reading, if
    /// that is at least `min` ago.
    pub fn observe(&mut self, value: u64, at: Instant, min: Duration) -> Reading {
        self.observe_excluding(value, at, 0, min)
    }

    /// Like [`Counter::observe`], but `own` increments per reading were caused by the
    /// reading itself (nginx counts the stub_status request it answers) and are left out.
    pub fn observe_excluding(
        &mut self,
        value: u64,
        at: Instant,
        own: u64,
        min: Duration,
    ) -> Reading {
        let reading = match self.last {
            None => Reading::First,
            Some((prev, _)) if value < prev => Reading::Reset,
            Some((prev, then)) => {
                let dt = at.saturating_duration_since(then);
                if dt < min || dt.is_zero() {
                    return Reading::Early;
                }
                Reading::Rate((value - prev).saturating_sub(own) as f64 / dt.as_secs_f64())
            }
        };
        self.last = Some((value, at));
        reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIN: Duration = Duration::from_millis(500);

    #[test]
    fn rates_from_deltas_and_resets_on_restart() {
        let t0 = Instant::now();
        let mut c = Counter::default();
        assert_eq!(c.observe(100, t0, MIN), Reading::First);
        assert_eq!(
            c.observe(150, t0 + Duration::from_secs(2), MIN),
            Reading::Rate(25.0)
        );
        assert_eq!(
            c.observe(3, t0 + Duration::from_secs(3), MIN),
            Reading::Reset
        );
        assert_eq!(
            c.observe(13, t0 + Duration::from_secs(4), MIN),
            Reading::Rate(10.0)
        );
        assert_eq!(
            c.observe(13, t0 + Duration::from_secs(4), MIN),
            Reading::Early,
            "no time passed"
        );
    }

    #[test]
    fn two_readings_a_split_second_apart_give_no_rate() {
        let t0 = Instant::now();
        let mut c = Counter::default();
        c.observe(1000, t0, MIN);
        assert_eq!(
            c.observe(1003, t0 + Duration::from_millis(20), MIN),
            Reading::Early,
            "3 requests in 20 ms is not 150/s"
        );
        assert_eq!(
            c.observe(1012, t0 + Duration::from_secs(1), MIN),
            Reading::Rate(12.0),
            "measured from the last reading that counted"
        );
        assert_eq!(Reading::Early.or_last(Some(12.0)), Some(12.0));
        assert_eq!(Reading::Reset.or_last(Some(12.0)), Some(12.0));
    }
}
