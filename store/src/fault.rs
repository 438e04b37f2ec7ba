//! What a failed write means to the person running `mon`: SQLite's result
//! codes turned into errors that name the data dir and say what to do, and
//! the writer's health, logged once when writes start failing and once when
//! they succeed again (not once per report).
//!
//! The one thing to know: a disk that fills up or turns read-only is an
//! outage, not a crash. The writer rolls the batch back, answers every report
//! in it with one of these errors, and keeps serving; the agents keep the
//! reports spooled and replay them once a write commits again.

use std::path::Path;
use std::sync::atomic::Ordering;

use domain::episode::Episode;
use rusqlite::ErrorCode;

use super::StoreError;
use super::db::DbError;
use super::maintenance::StoreStats;

/// The kinds of failure a person can act on, by SQLite result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `SQLITE_FULL`: the file system is out of space (or the database hit
    /// its page limit).
    DiskFull,
    /// `SQLITE_READONLY`: the file, or the file system, cannot be written.
    ReadOnly,
    /// `SQLITE_IOERR` and `SQLITE_CANTOPEN`: the disk failed a read or a
    /// write.
    Io,
    /// PostgreSQL cannot be reached, or closed the connection.
    Unreachable,
    /// Anything else (a bug, a corrupt file, a lock held too long).
    Other,
}

impl Fault {
    pub fn of(e: &DbError) -> Self {
        match e {
            DbError::Sqlite(e) => match e.sqlite_error_code() {
                Some(ErrorCode::DiskFull) => Fault::DiskFull,
                Some(ErrorCode::ReadOnly) => Fault::ReadOnly,
                Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => Fault::Io,
                _ => Fault::Other,
            },
            DbError::Postgres(e) => match e.as_db_error() {
                Some(db) if db.code() == &postgres::error::SqlState::DISK_FULL => Fault::DiskFull,
                Some(_) => Fault::Other,
                None => Fault::Unreachable,
            },
            DbError::Decode(_) | DbError::Invalid(_) => Fault::Other,
        }
    }
}

/// The error a failed SQLite write is answered with. `dir` is the data dir,
/// which is what the operator frees space on or remounts.
pub(crate) fn write_error(e: &DbError, dir: &Path) -> StoreError {
    let dir = dir.to_owned();
    let source = e.to_cause();
    match Fault::of(e) {
        Fault::DiskFull => StoreError::DiskFull { dir, source },
        Fault::ReadOnly => StoreError::ReadOnly { dir, source },
        Fault::Io => StoreError::Io { dir, source },
        Fault::Unreachable | Fault::Other => StoreError::Write(source),
    }
}

/// What the start-up probe writes: room for SQLite's shared-memory file
/// (32 KiB) and the first WAL frames, the least opening the store needs.
const PROBE_BYTES: usize = 64 * 1024;

/// Refuses a data dir the store could not write to, before SQLite opens a
/// file there: SQLite would quietly open an existing database read-only and
/// fail only at the first report, and on a full disk it says only "disk I/O
/// error". The probe writes and removes a small file, as SQLite's WAL and
/// shared-memory files will.
pub(crate) fn check_writable(dir: &Path) -> Result<(), StoreError> {
    use std::io::Write;
    let probe = dir.join(".mon-write-check");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(&[0; PROBE_BYTES]));
    // Also when the probe was created but not filled (a full disk).
    let _ = std::fs::remove_file(&probe);
    match written {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            Err(StoreError::DataDirReadOnly {
                dir: dir.to_owned(),
                source: super::cause(e),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::StorageFull => Err(StoreError::DataDirFull {
            dir: dir.to_owned(),
            source: super::cause(e),
        }),
        Err(e) => Err(StoreError::DataDir {
            path: dir.to_owned(),
            source: super::cause(e),
        }),
    }
}

/// Whether the writer's last batch committed, and since when not.
pub(crate) struct Health {
    /// The data dir, or the database's URL: where the operator looks.
    place: String,
    /// Failed batches, by kind of failure.
    failing: Episode<Fault>,
    /// Reports refused since writes started failing.
    refused: u64,
}

impl Health {
    pub fn new(place: String) -> Self {
        Self {
            place,
            failing: Episode::new(),
            refused: 0,
        }
    }

    /// Records a batch that rolled back. Logs only when the kind of failure
    /// changes, so a full disk under a fleet of agents is one log line, not
    /// one per report; the counter still counts every batch.
    pub fn failed(&mut self, fault: Fault, error: &StoreError, reports: usize, stats: &StoreStats) {
        stats.write_errors.fetch_add(1, Ordering::Relaxed);
        stats.write_failing.store(1, Ordering::Relaxed);
        self.refused += reports as u64;
        if self.failing.fail_as(fault) {
            tracing::error!(store = %self.place, reports, "{error}; the reports stay unacknowledged and the agents replay them");
        } else {
            tracing::debug!(error = %error, reports, "store write failed again");
        }
    }

    /// Records a batch that committed, logging the end of an outage.
    pub fn committed(&mut self, stats: &StoreStats) {
        if let Some(ended) = self.failing.recover() {
            stats.write_failing.store(0, Ordering::Relaxed);
            tracing::info!(
                store = %self.place,
                failed_batches = ended.failures,
                refused_reports = std::mem::take(&mut self.refused),
                paused_ms = ended.lasted.as_millis() as u64,
                "store writes succeed again: ingest resumed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_error(code: i32) -> DbError {
        DbError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn each_sqlite_code_becomes_an_error_that_names_the_dir_and_says_what_to_do() {
        let dir = Path::new("data");
        let full = write_error(&sqlite_error(rusqlite::ffi::SQLITE_FULL), dir).to_string();
        assert!(
            full.starts_with(
                "the disk holding data is full: ingest paused until space is freed (SQLite: "
            ),
            "{full}"
        );
        let ro = write_error(&sqlite_error(rusqlite::ffi::SQLITE_READONLY), dir).to_string();
        assert!(ro.starts_with("data is read-only: ingest paused"), "{ro}");
        let io = write_error(&sqlite_error(rusqlite::ffi::SQLITE_IOERR_WRITE), dir).to_string();
        assert!(io.starts_with("I/O error on the disk holding data"), "{io}");
        for text in [full, ro, io] {
            assert!(!text.ends_with('.'), "{text}");
        }
    }

    #[test]
    fn a_write_error_keeps_sqlites_code_and_prints_once() {
        let err = write_error(&sqlite_error(rusqlite::ffi::SQLITE_FULL), Path::new("data"));
        let source = std::error::Error::source(&err).expect("the cause is kept");
        let sqlite = source.downcast_ref::<rusqlite::Error>().unwrap();
        assert_eq!(sqlite.sqlite_error_code(), Some(ErrorCode::DiskFull));
        assert_eq!(domain::error_chain::one_line(&err), err.to_string());
    }
}
