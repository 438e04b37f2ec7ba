//! History of what was running on each host: the first process table and
//! the first cgroup table of every minute, kept as long as the 1m tier, so
//! "what was eating CPU at 03:12?" has an answer a week later.
//!
//! A table is stored as its JSON compressed with snappy: a few KB of
//! repetitive text a minute per host is the biggest thing a fleet would
//! keep otherwise (see BENCHMARKS.md for the bytes per table). The first
//! table of a minute wins, so a replayed report changes nothing.

use serde::Serialize;
use wire::activity::ActivityKind;

use super::config::MINUTE_MS;
use super::db::{Db, DbError, DbResult};

/// How far before the asked time a table still answers for it: the agent
/// sends one at least every 30 s, so an older one means the host was not
/// reporting then.
pub const LOOK_BACK_MS: i64 = 10 * 60_000;

/// One table of one report, on its way to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRecord {
    pub kind: ActivityKind,
    pub timestamp_ms: i64,
    /// The table as JSON.
    pub json: Vec<u8>,
}

impl ActivityRecord {
    pub fn new(kind: ActivityKind, timestamp_ms: i64, table: &impl Serialize) -> Self {
        Self {
            kind,
            timestamp_ms,
            json: serde_json::to_vec(table).unwrap_or_default(),
        }
    }
}

/// A table read back: when it was taken, and its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTable {
    pub ts: i64,
    pub json: Vec<u8>,
}

/// Stores a job's tables, in the job's transaction.
pub(crate) fn write(db: &mut dyn Db, host: &str, records: &[ActivityRecord]) -> DbResult<()> {
    for r in records {
        let minute = r.timestamp_ms - r.timestamp_ms.rem_euclid(MINUTE_MS);
        let body = snap::raw::Encoder::new()
            .compress_vec(&r.json)
            .map_err(|e| DbError::Invalid(format!("cannot compress a table: {e}")))?;
        db.activity_put(host, r.kind.as_str(), minute, r.timestamp_ms, &body)?;
    }
    Ok(())
}

/// The newest table of `kind` taken at or before `at`, if one was taken
/// within [`LOOK_BACK_MS`] of it.
pub(crate) fn at(
    db: &mut dyn Db,
    host: &str,
    kind: ActivityKind,
    at: i64,
) -> DbResult<Option<StoredTable>> {
    let Some((ts, body)) = db.activity_at(host, kind.as_str(), at - LOOK_BACK_MS, at)? else {
        return Ok(None);
    };
    let json = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .map_err(|e| {
            DbError::Invalid(format!(
                "a stored {} table of {host} at {ts} is damaged: {e}",
                kind.as_str()
            ))
        })?;
    Ok(Some(StoredTable { ts, json }))
}
