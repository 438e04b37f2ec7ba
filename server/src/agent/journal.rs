//! The spool's file: every report is appended as it is produced, so the
//! unacknowledged ones survive the agent being killed (SIGKILL, the OOM
//! killer), not only a clean stop.
//!
//! What a newcomer must know: the file may hold reports that were
//! acknowledged since they were appended. Replaying those is harmless — the
//! aggregator's writes are idempotent — so the file is only rewritten when
//! such stale records outnumber the spool's capacity, and emptied whenever
//! the spool is. Writes go to the operating system's page cache without an
//! fsync: a killed process loses nothing, a power cut may lose the last few
//! reports.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use prost::Message;

use crate::proto::Report;

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Records in the file, acknowledged or not.
    records: usize,
}

/// What [`Journal::open`] found in an existing file.
#[derive(Debug, Default)]
pub struct Recovered {
    pub reports: Vec<Report>,
    /// Bytes at the end that did not hold a whole report: the agent was
    /// killed in the middle of an append.
    pub torn_bytes: usize,
}

impl Journal {
    /// Opens `path` for appending, reading back the reports it holds.
    pub fn open(path: &Path) -> io::Result<(Self, Recovered)> {
        let recovered = match std::fs::read(path) {
            Ok(bytes) => decode(path, &bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Recovered::default(),
            Err(e) => return Err(e),
        };
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut journal = Self {
            path: path.to_path_buf(),
            file,
            records: recovered.reports.len(),
        };
        if recovered.torn_bytes > 0 {
            // Drop the torn tail now, or the next append would follow it.
            journal.rewrite(recovered.reports.iter())?;
        }
        Ok((journal, recovered))
    }

    pub fn append(&mut self, report: &Report) -> io::Result<()> {
        self.file
            .write_all(&report.encode_length_delimited_to_vec())?;
        self.records += 1;
        Ok(())
    }

    /// Records in the file, including acknowledged ones.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Replaces the file's contents with `reports`, through a temporary
    /// file and a rename so a crash never leaves half a journal.
    pub fn rewrite<'a>(&mut self, reports: impl Iterator<Item = &'a Report>) -> io::Result<()> {
        let mut bytes = Vec::new();
        let mut records = 0;
        for report in reports {
            report
                .encode_length_delimited(&mut bytes)
                .map_err(io::Error::other)?;
            records += 1;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.records = records;
        Ok(())
    }

    /// Empties the file: every report in it is acknowledged.
    pub fn clear(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.records = 0;
        Ok(())
    }

    /// Removes the file: the agent stopped with nothing left to send.
    pub fn remove(self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Reads length-delimited reports; a partial last record is a torn append,
/// anything unreadable before it means the file is not a spool.
fn decode(path: &Path, bytes: &[u8]) -> io::Result<Recovered> {
    let mut buf = bytes;
    let mut recovered = Recovered::default();
    while !buf.is_empty() {
        let before = buf;
        match Report::decode_length_delimited(&mut buf) {
            Ok(report) => recovered.reports.push(report),
            Err(_) if is_torn_tail(before) => {
                recovered.torn_bytes = before.len();
                break;
            }
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a mon agent spool: {e}", path.display()),
                ));
            }
        }
    }
    Ok(recovered)
}

/// True when `rest` starts with a length prefix promising more bytes than
/// are left (or with an unfinished prefix): what an interrupted append
/// leaves behind.
fn is_torn_tail(rest: &[u8]) -> bool {
    let mut prefix = rest;
    match prost::encoding::decode_varint(&mut prefix) {
        Ok(len) => len as usize > prefix.len(),
        // An unfinished varint: every byte has the continuation bit set.
        Err(_) => rest.len() < 10 && rest.iter().all(|b| b & 0x80 != 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(seq: u64) -> Report {
        Report {
            host: "web-1".into(),
            seq,
            ..Report::default()
        }
    }

    fn seqs(reports: &[Report]) -> Vec<u64> {
        reports.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn appended_reports_are_read_back_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.bin");
        let (mut j, found) = Journal::open(&path).unwrap();
        assert!(found.reports.is_empty());
        for seq in 1..=3 {
            j.append(&report(seq)).unwrap();
        }
        // No close, no flush call: as after a SIGKILL.
        drop(j);
        let (j, found) = Journal::open(&path).unwrap();
        assert_eq!(seqs(&found.reports), [1, 2, 3]);
        assert_eq!(j.records(), 3);
    }

    #[test]
    fn a_torn_last_append_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.bin");
        let (mut j, _) = Journal::open(&path).unwrap();
        j.append(&report(1)).unwrap();
        j.append(&report(2)).unwrap();
        drop(j);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 3]).unwrap();

        let (mut j, found) = Journal::open(&path).unwrap();
        assert_eq!(seqs(&found.reports), [1]);
        assert!(found.torn_bytes > 0);
        // The torn bytes are gone, so a new append reads back cleanly.
        j.append(&report(3)).unwrap();
        drop(j);
        let (_, found) = Journal::open(&path).unwrap();
        assert_eq!(seqs(&found.reports), [1, 3]);
        assert_eq!(found.torn_bytes, 0);
    }

    #[test]
    fn garbage_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.bin");
        std::fs::write(&path, b"\x05garbage, not a spool").unwrap();
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(err.contains("spool.bin is not a mon agent spool"), "{err}");
    }

    #[test]
    fn clear_and_rewrite_leave_only_what_is_still_owed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.bin");
        let (mut j, _) = Journal::open(&path).unwrap();
        for seq in 1..=4 {
            j.append(&report(seq)).unwrap();
        }
        j.rewrite([report(3), report(4)].iter()).unwrap();
        j.append(&report(5)).unwrap();
        assert_eq!(j.records(), 3);
        let (mut j, found) = Journal::open(&path).unwrap();
        assert_eq!(seqs(&found.reports), [3, 4, 5]);
        j.clear().unwrap();
        j.append(&report(6)).unwrap();
        let (j, found) = Journal::open(&path).unwrap();
        assert_eq!(seqs(&found.reports), [6]);
        j.remove().unwrap();
        assert!(!path.exists());
    }
}
