//! Reports produced but not yet acknowledged, oldest first, bounded.
//!
//! When the aggregator is away longer than the spool holds, the oldest
//! reports are dropped (and counted) so the agent's memory stays flat; the
//! newest data is the most useful once the link returns. With a file
//! ([`Spool::with_file`]) every report is also appended to a journal, so the
//! spool survives the agent being killed.

use std::collections::VecDeque;
use std::io;
use std::path::Path;

use super::journal::Journal;
use super::oversize::{self, Fit};
use crate::proto::Report;

#[derive(Debug)]
pub struct Spool {
    reports: VecDeque<Report>,
    capacity: usize,
    dropped: u64,
    journal: Option<Journal>,
    /// Why the journal was closed, until the agent has logged it.
    journal_error: Option<io::Error>,
}

/// What [`Spool::fit`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fitted {
    /// Reports kept without their process and cgroup tables.
    pub without_tables: u64,
    /// Reports over the limit even without them, dropped.
    pub dropped: u64,
}

/// What [`Spool::with_file`] found from an earlier run.
#[derive(Debug, Default)]
pub struct Restored {
    /// Reports read back; some may have been acknowledged already, which
    /// the aggregator's idempotent writes absorb.
    pub reports: usize,
    /// Bytes of a report whose append was cut short, dropped.
    pub torn_bytes: usize,
}

impl Spool {
    /// A spool in memory only.
    pub fn new(capacity: usize) -> Self {
        Self {
            reports: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            journal: None,
            journal_error: None,
        }
    }

    /// A spool journaled to `path`, holding what an earlier run left there
    /// (its newest `capacity` reports).
    pub fn with_file(path: &Path, capacity: usize) -> io::Result<(Self, Restored)> {
        let (journal, found) = Journal::open(path)?;
        let mut spool = Self::new(capacity);
        let restored = Restored {
            reports: found.reports.len(),
            torn_bytes: found.torn_bytes,
        };
        for report in found.reports {
            spool.push(report);
        }
        spool.dropped = 0;
        spool.journal = Some(journal);
        Ok((spool, restored))
    }

    /// Adds a report; returns true if the oldest one had to be dropped.
    ///
    /// A journal that cannot be written is closed (see
    /// [`Spool::take_journal_error`]); the spool goes on in memory.
    pub fn push(&mut self, report: Report) -> bool {
        let full = self.reports.len() >= self.capacity;
        if full {
            self.reports.pop_front();
            self.dropped += 1;
        }
        let written = match self.journal.as_mut() {
            Some(journal) => journal.append(&report),
            None => Ok(()),
        };
        self.reports.push_back(report);
        if let Err(e) = written.and_then(|()| self.compact()) {
            self.close_journal(e);
        }
        full
    }

    /// Forgets every report up to and including `seq`: acks arrive in order,
    /// so an ack for `seq` settles everything sent before it.
    pub fn ack(&mut self, seq: u64) {
        while self.reports.front().is_some_and(|r| r.seq <= seq) {
            self.reports.pop_front();
        }
        if let Err(e) = self.compact() {
            self.close_journal(e);
        }
    }

    /// Makes every report fit in the aggregator's `limit` bytes
    /// ([`oversize::fit`]): those over it go without their tables, and the
    /// ones over it even so are dropped (and counted). The journal is
    /// rewritten when anything changed.
    pub fn fit(&mut self, limit: usize) -> Fitted {
        let mut fitted = Fitted::default();
        self.reports
            .retain_mut(|report| match oversize::fit(report, limit) {
                Fit::Whole => true,
                Fit::WithoutTables => {
                    fitted.without_tables += 1;
                    true
                }
                Fit::TooLarge => {
                    fitted.dropped += 1;
                    false
                }
            });
        self.dropped += fitted.dropped;
        if fitted.without_tables + fitted.dropped > 0
            && let Some(journal) = self.journal.as_mut()
            && let Err(e) = journal.rewrite(self.reports.iter())
        {
            self.close_journal(e);
        }
        fitted
    }

    fn close_journal(&mut self, error: io::Error) {
        self.journal = None;
        self.journal_error = Some(error);
    }

    /// Why the journal stopped being written, once.
    pub fn take_journal_error(&mut self) -> Option<io::Error> {
        self.journal_error.take()
    }

    /// Keeps the journal short: emptied with the spool, rewritten when its
    /// settled records outnumber the capacity.
    fn compact(&mut self) -> io::Result<()> {
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        if self.reports.is_empty() && journal.records() > 0 {
            journal.clear()
        } else if journal.records() > self.reports.len() + self.capacity {
            journal.rewrite(self.reports.iter())
        } else {
            Ok(())
        }
    }

    /// Called at a clean stop: the journal is rewritten to hold exactly the
    /// unacknowledged reports, or removed when there are none.
    pub fn close(mut self) -> io::Result<()> {
        match self.journal.take() {
            Some(journal) if self.reports.is_empty() => journal.remove(),
            Some(mut journal) => journal.rewrite(self.reports.iter()),
            None => Ok(()),
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

    /// Reports dropped because the spool was full, or too large for the
    /// aggregator ([`Spool::fit`]).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The highest `seq` held, so a restarted agent numbers on from it.
    pub fn max_seq(&self) -> u64 {
        self.reports.iter().map(|r| r.seq).max().unwrap_or(0)
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
    fn a_journaled_spool_survives_a_kill_and_its_file_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.bin");
        let (mut s, restored) = Spool::with_file(&path, 3).unwrap();
        assert_eq!(restored.reports, 0);
        for seq in 1..=20 {
            s.push(report(seq));
            if seq % 5 != 0 {
                s.ack(seq - 1);
            }
        }
        // Dropped without close(), as by a SIGKILL.
        drop(s);
        let (s, restored) = Spool::with_file(&path, 3).unwrap();
        assert!(
            restored.reports <= 2 * 3 + 1,
            "{} records",
            restored.reports
        );
        // Every unacknowledged report is back; settled ones may come along
        // (the file is compacted lazily) and are absorbed by idempotent writes.
        let seqs: Vec<u64> = s.iter().map(|r| r.seq).collect();
        assert!(seqs.ends_with(&[19, 20]), "{seqs:?}");
        assert_eq!(s.max_seq(), 20);
    }

    #[test]
    fn close_keeps_what_is_owed_and_removes_an_empty_spool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.bin");
        let (mut s, _) = Spool::with_file(&path, 10).unwrap();
        for seq in [7, 8, 9] {
            s.push(report(seq));
        }
        s.ack(7);
        s.close().unwrap();
        let (mut back, restored) = Spool::with_file(&path, 1).unwrap();
        assert_eq!(restored.reports, 2);
        assert_eq!(back.iter().map(|r| r.seq).collect::<Vec<_>>(), [9]);
        back.ack(9);
        back.close().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn fitting_takes_the_tables_out_drops_what_still_does_not_fit_and_the_journal_agrees() {
        use crate::proto::{CgroupTable, Sample};
        let with = |seq: u64, samples: usize, table: usize| Report {
            seq,
            samples: vec![Sample::default(); samples],
            cgroups: Some(CgroupTable {
                unavailable: "x".repeat(table),
                ..Default::default()
            }),
            ..Report::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.bin");
        let (mut s, _) = Spool::with_file(&path, 10).unwrap();
        s.push(with(1, 2, 10));
        s.push(with(2, 2, 500));
        s.push(with(3, 400, 0));
        let fitted = s.fit(200);
        assert_eq!(
            fitted,
            Fitted {
                without_tables: 1,
                dropped: 1
            }
        );
        assert_eq!(s.dropped(), 1);
        let kept: Vec<_> = s.iter().map(|r| (r.seq, r.cgroups.is_some())).collect();
        assert_eq!(kept, [(1, true), (2, false)]);
        // Killed: the journal holds the fitted reports, not the originals.
        drop(s);
        let (back, _) = Spool::with_file(&path, 10).unwrap();
        let kept: Vec<_> = back.iter().map(|r| (r.seq, r.cgroups.is_some())).collect();
        assert_eq!(kept, [(1, true), (2, false)]);
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
