//! The statements the warm store's algorithms need, as one trait with an
//! implementation per engine (`sqlite.rs`, `postgres/statements.rs`).
//!
//! Compaction, the continuous 1m aggregate, the 1h rollup, retention and the
//! real-time queries are written once, against [`Db`], so both backends keep
//! exactly the same semantics: the conformance suite checks the engines, not
//! two copies of the algorithms. A `Db` is always one open transaction;
//! nothing here commits.
//!
//! Times are Unix milliseconds, series ids are the `series` table's ids, and
//! `data` blobs are the encodings of `encoding.rs` (report blobs in the
//! head, Gorilla chunks in `metrics_raw`).

use super::encoding::DecodeError;
use super::rollup::{Bucket, Table};

/// A failed statement, from either engine, or a stored blob that does not
/// decode.
#[derive(Debug)]
pub(crate) enum DbError {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    Decode(DecodeError),
    /// Stored data that contradicts itself (a bug, or a hand edit).
    Invalid(String),
}

pub(crate) type DbResult<T> = Result<T, DbError>;

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Postgres(e)
    }
}

impl From<DecodeError> for DbError {
    fn from(e: DecodeError) -> Self {
        DbError::Decode(e)
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "{e}"),
            DbError::Postgres(e) => match e.as_db_error() {
                // The server's own message says more than "db error".
                Some(db) => write!(f, "{}: {}", db.code().code(), db.message()),
                // "error connecting to server" says little without its cause.
                None => match std::error::Error::source(e) {
                    Some(cause) => write!(f, "{e}: {cause}"),
                    None => write!(f, "{e}"),
                },
            },
            DbError::Decode(e) => write!(f, "{e}"),
            DbError::Invalid(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Sqlite(e) => Some(e),
            DbError::Postgres(e) => Some(e),
            DbError::Decode(e) => Some(e),
            DbError::Invalid(_) => None,
        }
    }
}

impl DbError {
    /// The error as a [`super::Cause`], for the writer, which answers a
    /// failed batch from a borrowed error: SQLite's failures keep their
    /// codes, the rest their text.
    pub(crate) fn to_cause(&self) -> super::Cause {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(code, message)) => {
                super::cause(rusqlite::Error::SqliteFailure(*code, message.clone()))
            }
            DbError::Decode(e) => super::cause(e.clone()),
            other => super::cause(other.to_string()),
        }
    }
}

/// Rows deleted by a retention statement: how many rows, and how many raw
/// samples they held (0 for rollup rows).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Expired {
    pub rows: u64,
    pub samples: u64,
}

/// One transaction on the warm store.
pub(crate) trait Db: super::forward_log::ForwardDb {
    // Series and hosts.
    fn series_id(&mut self, host: &str, name: &str, labels: &str) -> DbResult<Option<i64>>;
    fn series_host(&mut self, id: i64) -> DbResult<Option<String>>;
    /// Every series as `(host, name, labels)`, sorted.
    fn all_series(&mut self) -> DbResult<Vec<(String, String, String)>>;
    /// Every host that ever reported, sorted.
    fn hosts(&mut self) -> DbResult<Vec<String>>;

    // The raw head: one row per host and timestamp.
    /// Inserts a head row unless one exists for `(host, ts)`; true if it did.
    fn head_insert(&mut self, host: &str, ts: i64, samples: i64, data: &[u8]) -> DbResult<bool>;
    /// [`Db::head_insert`] by way of SQLite's inbox (`inbox.rs`), where a
    /// batch from many hosts costs fewer page writes; the head itself where
    /// there is no inbox. `head_older`: the caller knows every row of `host`
    /// in the head (and SQLite's sealed inbox) is older than `ts`, so they
    /// need not be looked at.
    fn inbox_insert(
        &mut self,
        host: &str,
        ts: i64,
        samples: i64,
        data: &[u8],
        _head_older: bool,
    ) -> DbResult<bool> {
        self.head_insert(host, ts, samples, data)
    }
    fn head_data(&mut self, host: &str, ts: i64) -> DbResult<Vec<u8>>;
    fn head_update(&mut self, host: &str, ts: i64, samples: i64, data: &[u8]) -> DbResult<()>;
    /// `(ts, data)` of one host's head rows with `from <= ts < to`, by time.
    fn head_of_host(&mut self, host: &str, from: i64, to: i64) -> DbResult<Vec<(i64, Vec<u8>)>>;
    /// `(ts, data)` of every head row with `from <= ts < to`, by time.
    fn head_between(&mut self, from: i64, to: i64) -> DbResult<Vec<(i64, Vec<u8>)>>;
    /// The host of the oldest head row before `before`.
    fn head_oldest_host(&mut self, before: i64) -> DbResult<Option<String>>;
    /// `(ts, data)` of up to `limit` of one host's oldest rows before `before`.
    fn head_rows(&mut self, host: &str, before: i64, limit: i64) -> DbResult<Vec<(i64, Vec<u8>)>>;
    fn head_delete(&mut self, host: &str, ts: &[i64]) -> DbResult<()>;
    /// Moves reports with `ts < before` that wait in front of the head (in
    /// SQLite's inbox, `inbox.rs`) into it, so compaction sees them;
    /// returns how many moved. A store without an inbox has none.
    fn head_settle(&mut self, _before: i64) -> DbResult<usize> {
        Ok(0)
    }

    // Raw chunks: one row per series and 30-minute window.
    fn chunk(&mut self, id: i64, window: i64) -> DbResult<Option<Vec<u8>>>;
    /// Creates or replaces a chunk.
    fn chunk_put(
        &mut self,
        id: i64,
        window: i64,
        first_last: (i64, i64),
        samples: i64,
        data: &[u8],
    ) -> DbResult<()>;
    fn chunk_delete(&mut self, id: i64, window: i64) -> DbResult<()>;
    /// Chunk blobs of one series with `window_from <= window_start < to` and
    /// `last_ts >= last_from`, by window.
    fn chunks_of_series(
        &mut self,
        id: i64,
        window_from: i64,
        to: i64,
        last_from: i64,
    ) -> DbResult<Vec<Vec<u8>>>;
    /// `(series id, blob)` of every chunk in the same bounds, by series and
    /// window.
    fn chunks_between(
        &mut self,
        window_from: i64,
        to: i64,
        last_from: i64,
    ) -> DbResult<Vec<(i64, Vec<u8>)>>;
    /// Samples in the raw tier, head and chunks together.
    fn raw_sample_count(&mut self) -> DbResult<u64>;
    /// The oldest raw sample's time, head or chunk.
    fn oldest_raw(&mut self) -> DbResult<Option<i64>>;

    // Rollups.
    /// Creates or replaces a bucket.
    fn bucket_put(&mut self, table: Table, id: i64, b: &Bucket) -> DbResult<()>;
    fn bucket_delete(&mut self, table: Table, id: i64, bucket: i64) -> DbResult<()>;
    /// One series' buckets with `from <= start < to`, oldest first.
    fn buckets(&mut self, table: Table, id: i64, from: i64, to: i64) -> DbResult<Vec<Bucket>>;
    /// Every series' buckets with `from <= start < to`, by series and start.
    fn buckets_between(&mut self, table: Table, from: i64, to: i64)
    -> DbResult<Vec<(i64, Bucket)>>;
    fn oldest_bucket(&mut self, table: Table) -> DbResult<Option<i64>>;
    fn dirty_mark(&mut self, table: Table, id: i64, bucket: i64) -> DbResult<()>;
    /// One series' dirty buckets with `from <= bucket < to`, oldest first.
    fn dirty_of(&mut self, table: Table, id: i64, from: i64, to: i64) -> DbResult<Vec<i64>>;
    /// Up to `limit` dirty `(series id, bucket)`, by series and bucket.
    fn dirty_list(&mut self, table: Table, limit: i64) -> DbResult<Vec<(i64, i64)>>;
    fn dirty_clear(&mut self, table: Table, id: i64, bucket: i64) -> DbResult<()>;

    // Maintenance progress.
    fn state(&mut self, name: &str) -> DbResult<Option<i64>>;
    fn set_state(&mut self, name: &str, value: i64) -> DbResult<()>;

    // Retention, each a bounded batch.
    /// Deletes up to `limit` chunks wholly before `cutoff`.
    fn chunks_expire(&mut self, cutoff: i64, limit: i64) -> DbResult<Expired>;
    /// `(series id, window, blob)` of up to `limit` chunks that start before
    /// `cutoff` (and so straddle it, once the whole ones are gone).
    fn chunks_straddling(&mut self, cutoff: i64, limit: i64) -> DbResult<Vec<(i64, i64, Vec<u8>)>>;
    /// Deletes up to `limit` head rows before `cutoff`.
    fn head_expire(&mut self, cutoff: i64, limit: i64) -> DbResult<Expired>;
    /// Deletes up to `limit` buckets starting before `cutoff`.
    fn buckets_expire(&mut self, table: Table, cutoff: i64, limit: i64) -> DbResult<u64>;
    /// Forgets dirty marks of buckets retention has deleted.
    fn dirty_expire(&mut self, cut_1m: i64, cut_1h: i64) -> DbResult<()>;

    // What was running on each host (`activity.rs`).
    /// Keeps a table unless its minute has one already; true when kept.
    fn activity_put(
        &mut self,
        host: &str,
        kind: &str,
        minute: i64,
        ts: i64,
        body: &[u8],
    ) -> DbResult<bool>;
    /// `(ts, body)` of the newest table taken at or before `at` and not
    /// before `since`.
    fn activity_at(
        &mut self,
        host: &str,
        kind: &str,
        since: i64,
        at: i64,
    ) -> DbResult<Option<(i64, Vec<u8>)>>;
    /// Deletes up to `limit` tables of minutes before `cutoff`.
    fn activity_expire(&mut self, cutoff: i64, limit: i64) -> DbResult<u64>;
}
