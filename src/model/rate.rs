//! Counters into rates. A counter that goes backwards means the daemon restarted: that is
//! reported as a reset, never as a negative rate.

use std::time::Instant;

/// What one new counter reading says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// The first reading: no rate yet.
    First,
    /// Per-second rate since the previous reading.
    Rate(f64),
    /// The counter went down: the process restarted since the previous reading.
    Reset,
}

impl Reading {
    /// The rate, when there is one.
    pub fn rate(self) -> Option<f64> {
        match self {
            Reading::Rate(r) => Some(r),
            _ => None,
        }
    }
}

/// The previous reading of one monotonic counter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counter {
    last: Option<(u64, Instant)>,
}

impl Counter {
    /// Records `value` read at `at` and derives the rate since the previous reading.
    pub fn observe(&mut self, value: u64, at: Instant) -> Reading {
        self.observe_excluding(value, at, 0)
    }

    /// Like [`Counter::observe`], but `own` increments per reading were caused by the
    /// reading itself (nginx counts the stub_status request it answers) and are left out.
    pub fn observe_excluding(&mut self, value: u64, at: Instant, own: u64) -> Reading {
        let reading = match self.last {
            None => Reading::First,
            Some((prev, _)) if value < prev => Reading::Reset,
            Some((prev, then)) => {
                let dt = at.saturating_duration_since(then).as_secs_f64();
                if dt <= 0.0 {
                    return Reading::First;
                }
                Reading::Rate((value - prev).saturating_sub(own) as f64 / dt)
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

    #[test]
    fn rates_from_deltas_and_resets_on_restart() {
        let t0 = Instant::now();
        let mut c = Counter::default();
        assert_eq!(c.observe(100, t0), Reading::First);
        assert_eq!(
            c.observe(150, t0 + Duration::from_secs(2)),
            Reading::Rate(25.0)
        );
        assert_eq!(c.observe(3, t0 + Duration::from_secs(3)), Reading::Reset);
        assert_eq!(
            c.observe(13, t0 + Duration::from_secs(4)),
            Reading::Rate(10.0)
        );
        assert_eq!(
            c.observe(13, t0 + Duration::from_secs(4)),
            Reading::First,
            "no time passed"
        );
    }
}
