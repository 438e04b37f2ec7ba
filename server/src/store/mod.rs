//! The warm path: SQLite through rusqlite. Only this module runs SQL.
//!
//! One writer thread owns the only write connection and commits batches of
//! reports in one transaction each (group commit); a report is acknowledged
//! only after the transaction holding it has committed. Readers open their
//! own connections. The schema comes from `migrations/`, applied at open.

mod migrations;
mod read;
mod writer;

use std::path::{Path, PathBuf};

pub use read::{RawPoint, Reader};
pub use writer::{StoreWriter, WriteJob, WriteOutcome, WriterHandle};

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "mon.db";

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data dir {path}: {message}")]
    DataDir { path: PathBuf, message: String },
    #[error("cannot open {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("cannot migrate {path} to the current schema: {message}")]
    Migrate { path: PathBuf, message: String },
    #[error("write to the store failed: {0}")]
    Write(String),
    #[error("read from the store failed: {0}")]
    Read(String),
    #[error("the store writer has stopped")]
    Closed,
}

/// Path of the database file in `data_dir`.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Opens (creating and migrating if needed) the store in `data_dir` and
/// starts its writer thread.
pub fn open(data_dir: &Path) -> Result<(StoreWriter, WriterHandle), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::DataDir {
        path: data_dir.to_owned(),
        message: e.to_string(),
    })?;
    let path = db_path(data_dir);
    let conn = migrations::open_migrated(&path)?;
    Ok(writer::start(conn, path))
}
