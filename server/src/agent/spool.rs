//! Reports produced but not yet acknowledged, oldest first, bounded.
//!
//! When the aggregator is away longer than the spool holds, the oldest
//! reports are dropped (and counted) so the agent's memory stays flat; the
//! newest data is the most useful once the link returns.

use std::collections::VecDeque;

use crate::proto::Report;

pub struct Spool {
    reports: VecDeque<Report>,
    capacity: usize,
    dropped: u64,
}

impl Spool {
    pub fn new(capacity: usize) -> Self {
        Self {
            reports: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Adds a report; returns true if the oldest one had to be dropped.
    pub fn push(&mut self, report: Report) -> bool {
        let full = self.reports.len() >= self.capacity;
        if full {
            self.reports.pop_front();
            self.dropped += 1;
        }
        self.reports.push_back(report);
        full
    }

    /// Forgets every report up to and including `seq`: acks arrive in order,
    /// so an ack for `seq` settles everything sent before it.
    pub fn ack(&mut self, seq: u64) {
        while self.reports.front().is_some_and(|r| r.seq <= seq) {
            self.reports.pop_front();
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Report> {
        self.reports.iter()
    }

    pub fn len(&self) -> usize {
        self.reports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }

    /// Reports dropped because the spool was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(seq: u64) -> Report {
        Report {
            seq,
            ..Report::default()
        }
    }

    #[test]
    fn ack_settles_everything_up_to_its_seq() {
        let mut s = Spool::new(10);
        for seq in 1..=5 {
            s.push(report(seq));
        }
        s.ack(3);
        assert_eq!(s.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5]);
    }

    #[test]
    fn a_full_spool_drops_the_oldest_and_counts_it() {
        let mut s = Spool::new(2);
        assert!(!s.push(report(1)));
        assert!(!s.push(report(2)));
        assert!(s.push(report(3)));
        assert_eq!(s.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(s.dropped(), 1);
    }
}
