//! Short per-series history for sparklines: one value per poll, oldest dropped.

use std::collections::VecDeque;

/// Samples kept per series: 10 minutes at the default 1 s poll.
pub const HISTORY_LEN: usize = 600;

/// A bounded series of non-negative samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    values: VecDeque<u64>,
}

impl History {
    /// Appends a sample, dropping the oldest beyond [`HISTORY_LEN`].
    pub fn push(&mut self, v: u64) {
        if self.values.len() == HISTORY_LEN {
            self.values.pop_front();
        }
        self.values.push_back(v);
    }

    /// The newest `n` samples, oldest first.
    pub fn last(&self, n: usize) -> Vec<u64> {
        let skip = self.values.len().saturating_sub(n);
        self.values.iter().skip(skip).copied().collect()
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<u64> {
        self.values.back().copied()
    }

    /// Largest of the newest `n` samples.
    pub fn max_last(&self, n: usize) -> u64 {
        let skip = self.values.len().saturating_sub(n);
        self.values.iter().skip(skip).copied().max().unwrap_or(0)
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no sample was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest() {
        let mut h = History::default();
        for i in 0..(HISTORY_LEN as u64 + 5) {
            h.push(i);
        }
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(
            h.last(2),
            vec![HISTORY_LEN as u64 + 3, HISTORY_LEN as u64 + 4]
        );
        assert_eq!(h.max_last(3), HISTORY_LEN as u64 + 4);
    }
}
