//! Reports produced but not yet acknowledged, oldest first, bounded.
//!
//! When the aggregator is away longer than the spool holds, the oldest
//! reports are dropped (and counted) so the agent's memory stays flat; the
//! newest data is the most useful once the link returns.

use std::collections::VecDeque;
use std::io;
use std::path::Path;

use prost::Message;

use crate::proto::Report;

#[derive(Debug)]
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

    /// The highest `seq` held, so a restarted agent numbers on from it.
    pub fn max_seq(&self) -> u64 {
        self.reports.iter().map(|r| r.seq).max().unwrap_or(0)
    }

    /// Writes the reports to `path` (protobuf, length-delimited), through a
    /// temporary file and a rename so a crash never leaves half a spool.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut bytes = Vec::new();
        for report in &self.reports {
            report
                .encode_length_delimited(&mut bytes)
                .map_err(io::Error::other)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }

    /// Reads a spool written by [`Spool::save`], keeping the newest
    /// `capacity` reports.
    pub fn load(path: &Path, capacity: usize) -> io::Result<Self> {
        let bytes = std::fs::read(path)?;
        let mut buf = bytes.as_slice();
        let mut spool = Spool::new(capacity);
        while !buf.is_empty() {
            let report = Report::decode_length_delimited(&mut buf).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a mon agent spool: {e}", path.display()),
                )
            })?;
            spool.push(report);
        }
        spool.dropped = 0;
        Ok(spool)
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
    fn a_saved_spool_loads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.bin");
        let mut s = Spool::new(10);
        for seq in [7, 8, 9] {
            s.push(report(seq));
        }
        s.save(&path).unwrap();
        let back = Spool::load(&path, 2).unwrap();
        assert_eq!(back.iter().map(|r| r.seq).collect::<Vec<_>>(), [8, 9]);
        assert_eq!(back.max_seq(), 9);
        std::fs::write(&path, b"garbage").unwrap();
        let err = Spool::load(&path, 2).unwrap_err().to_string();
        assert!(err.contains("not a mon agent spool"), "{err}");
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
