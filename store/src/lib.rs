//! The warm path: SQLite through rusqlite, or PostgreSQL. Only this crate
//! runs SQL; it builds on the `domain` and `wire` crates alone, never on a
//! role (the `server` crate re-exports it as `server::store`).
//!
//! One writer thread owns the only write connection and commits batches of
//! reports in one transaction each (group commit); a report is acknowledged
//! only after the transaction holding it has committed. The same thread runs
//! the maintenance jobs (compaction, rollups, retention) in small steps
//! between batches, so nothing else ever writes. Readers open their own
//! connections. The schema comes from `migrations/`, applied at open.
//!
//! Tiers: `metrics_raw_head` (one row per report, until compaction; on
//! SQLite a report waits in `metrics_raw_inbox` and `metrics_raw_sealed`
//! first, `inbox.rs`) and
//! `metrics_raw` (per-series compressed chunks) hold raw samples;
//! `metrics_1m` and `metrics_1h` hold plain rollup rows.
//!
//! The alerts role's state lives in a database of its own (`alerts.rs`).

mod activity;
mod alerts;
mod checkpointer;
mod config;
mod db;
// Public for the fuzz harnesses, which feed report blobs and chunks to the
// decoders.
pub mod encoding;
mod fault;
#[cfg(test)]
mod fault_tests;
mod forward_log;
mod group_commit;
mod inbox;
#[cfg(test)]
mod inbox_tests;
mod maintenance;
mod migrations;
pub mod postgres;
mod query;
mod raw;
mod read;
mod retention;
mod rollup;
mod sqlite;
mod sqlite_writer;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use activity::{ActivityRecord, LOOK_BACK_MS, StoredTable};
pub use alerts::{
    ALERTS_DB_FILE, AlertChange, AlertStateStore, Expiry, MatcherRecord, Restored, SilenceRecord,
    SqliteAlertStore, alerts_db_path, open_alerts,
};
pub use config::{Clock, ManualClock, Retention, StoreConfig};
pub use encoding::{DecodeError, decode_chunk, encode_chunk};
pub use forward_log::{ForwardBatch, LogEntry, Pending};
pub use maintenance::{MaintenanceReport, StoreStats};
pub use query::{RangePoint, RangeQuery, SeriesRange, Tier};
pub use read::{RawPoint, Reader};
pub use rollup::Bucket;
pub use writer::{StoreWriter, WriteJob, WriteOutcome, WriterHandle};

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "mon.db";

/// What a [`StoreError`] was made from, with its own causes, shared: a
/// failed batch answers every report in it with one error. Its `source()`
/// is the error itself (not a wrapper), so it can be downcast.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

/// `e` as a [`Cause`]; a `String` becomes a cause that is only its text.
pub fn cause(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Cause {
    Cause(Arc::from(e.into()))
}

impl std::ops::Deref for Cause {
    type Target = dyn std::error::Error + Send + Sync;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Why the store could not do something. Each message names what failed
/// and says what to do, with its cause's text in it; the cause itself is
/// the error's `source()`, so its own causes stay reachable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data dir {path}: {source}")]
    DataDir { path: PathBuf, source: Cause },
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: Cause },
    #[error("cannot migrate {path} to the current schema: {source}")]
    Migrate { path: PathBuf, source: Cause },
    #[error("{0}")]
    Config(String),
    #[error(
        "{dir} is read-only: mon keeps its database there and must write to it; remount it read-write, fix its permissions or choose another data dir ({source})"
    )]
    DataDirReadOnly { dir: PathBuf, source: Cause },
    #[error(
        "the disk holding {dir} is full: mon cannot open its database there; free some space or choose another data dir ({source})"
    )]
    DataDirFull { dir: PathBuf, source: Cause },
    #[error("write to the store failed: {0}")]
    Write(#[source] Cause),
    #[error(
        "the disk holding {dir} is full: ingest paused until space is freed (SQLite: {source})"
    )]
    DiskFull { dir: PathBuf, source: Cause },
    #[error(
        "{dir} is read-only: ingest paused until it is writable again; remount it read-write or fix its permissions (SQLite: {source})"
    )]
    ReadOnly { dir: PathBuf, source: Cause },
    #[error(
        "I/O error on the disk holding {dir}: ingest paused; check the disk and the kernel log (SQLite: {source})"
    )]
    Io { dir: PathBuf, source: Cause },
    #[error("read from the store failed: {0}")]
    Read(#[source] Cause),
    /// A query named something the store does not have, or asked for
    /// something it cannot answer; the message says what is accepted.
    #[error("{0}")]
    Query(String),
    #[error("the store writer has stopped")]
    Closed,
    /// A `--store` URL that is not a PostgreSQL URL, or cannot be read.
    #[error("{0}")]
    BadUrl(String),
    /// The PostgreSQL store cannot be used at start-up.
    #[error(
        "cannot use the PostgreSQL store at {url}: {source}; check that PostgreSQL runs there and accepts this user, password and database"
    )]
    Unreachable { url: String, source: Cause },
    /// The PostgreSQL store went away while running.
    #[error(
        "the PostgreSQL store at {url} cannot be reached: ingest paused until it is back ({source})"
    )]
    Paused { url: String, source: Cause },
}

/// Where the warm store is: the SQLite file in a data dir, or a PostgreSQL
/// database shared by a fleet.
#[derive(Clone, Debug)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(postgres::PgUrl),
}

impl Location {
    /// `--store URL` if given, else the SQLite file in `data_dir`.
    pub fn new(store_url: Option<&postgres::PgUrl>, data_dir: &Path) -> Self {
        match store_url {
            Some(url) => Location::Postgres(url.clone()),
            None => Location::Sqlite(data_dir.to_owned()),
        }
    }

    /// What to show a person: the database file, or the URL without its
    /// password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(dir) => db_path(dir).display().to_string(),
            Location::Postgres(url) => url.to_string(),
        }
    }

    /// Opens the store for writing (see [`open`]) and its readers, off the
    /// async executor.
    pub async fn open(
        &self,
        config: StoreConfig,
    ) -> Result<(StoreWriter, WriterHandle, Readers), StoreError> {
        let location = self.clone();
        tokio::task::spawn_blocking(move || match location {
            Location::Sqlite(dir) => {
                let (w, h) = open(&dir, config)?;
                Ok((w, h, Readers::Sqlite(dir)))
            }
            Location::Postgres(url) => {
                let (w, h) = postgres::open(&url, config)?;
                Ok((w, h, Readers::Postgres(postgres::PgReaders::open(&url)?)))
            }
        })
        .await
        .map_err(|e| StoreError::Write(cause(e)))?
    }

    /// Readers of an existing store. Blocking: it connects to check.
    pub fn readers(&self) -> Result<Readers, StoreError> {
        match self {
            Location::Sqlite(dir) => {
                Reader::open(dir)?;
                Ok(Readers::Sqlite(dir.clone()))
            }
            Location::Postgres(url) => Ok(Readers::Postgres(postgres::PgReaders::open(url)?)),
        }
    }
}

/// Opens [`Reader`]s on one store; cheap to clone.
#[derive(Clone)]
pub enum Readers {
    Sqlite(PathBuf),
    Postgres(postgres::PgReaders),
}

impl fmt::Debug for Readers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Readers::Sqlite(dir) => write!(f, "Readers({})", db_path(dir).display()),
            Readers::Postgres(_) => f.write_str("Readers(postgres)"),
        }
    }
}

impl Readers {
    /// A reader: a new SQLite connection, or one from the pool. Blocking.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        match self {
            Readers::Sqlite(dir) => Reader::open(dir),
            Readers::Postgres(pool) => Ok(Reader::postgres(pool.client()?)),
        }
    }
}

/// Path of the database file in `data_dir`.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Opens (creating and migrating if needed) the store in `data_dir` and
/// starts its writer thread, which also runs compaction, rollups and
/// retention as `config` says. Refuses a configuration whose retention would
/// delete data before the rollup reading it has run.
pub fn open(
    data_dir: &Path,
    config: StoreConfig,
) -> Result<(StoreWriter, WriterHandle), StoreError> {
    config.validate()?;
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::DataDir {
        path: data_dir.to_owned(),
        source: cause(e),
    })?;
    fault::check_writable(data_dir)?;
    let path = db_path(data_dir);
    let conn = migrations::open_migrated(&path)?;
    // The directory may be writable while the file is not (a read-only
    // mon.db): SQLite then opens it read-only without a word.
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(StoreError::DataDirReadOnly {
            dir: data_dir.to_owned(),
            source: cause(format!("{} cannot be written", path.display())),
        });
    }
    let marks =
        maintenance::Marks::load(&mut sqlite::Lite(&conn)).map_err(|e| StoreError::Open {
            path: path.clone(),
            source: cause(e),
        })?;
    let engine = sqlite_writer::SqliteEngine::new(conn, path, config.forward_log);
    Ok(writer::start(engine, marks, config))
}
