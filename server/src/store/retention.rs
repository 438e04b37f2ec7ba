//! Retention: deleting what each tier keeps no longer, in small batches so
//! the writer thread returns to ingest between them.
//!
//! A raw sample is gone once it is older than the raw retention: whole
//! chunks before the cutoff are deleted, and the one chunk per series that
//! straddles it is re-encoded without its old samples. A rollup bucket is
//! gone once its start is older than its tier's retention.

use rusqlite::{Connection, params};

use super::encoding::decode_chunk;
use super::raw::{decode_err, write_chunk};

/// Rows deleted per statement: small enough that one batch takes a few
/// milliseconds, so a report waits no longer than that behind it.
pub(crate) const DELETE_BATCH: i64 = 2_000;
/// Straddling chunks re-encoded per step.
const TRIM_BATCH: i64 = 200;

/// Rows deleted by retention, per tier.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Deleted {
    /// Raw samples deleted (from chunks and head rows).
    pub raw_samples: u64,
    /// `metrics_1m` rows.
    pub one_minute: u64,
    /// `metrics_1h` rows.
    pub one_hour: u64,
}

/// The oldest time each tier keeps, for one retention run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cutoffs {
    pub raw: i64,
    pub one_minute: i64,
    pub one_hour: i64,
}

/// The stages of one retention run, in order.
const STAGES: usize = 5;

/// Runs one batch of stage `stage`; returns how many rows it handled (0
/// when the stage is finished).
pub(crate) fn step(
    conn: &Connection,
    stage: usize,
    cut: Cutoffs,
    deleted: &mut Deleted,
) -> rusqlite::Result<u64> {
    match stage {
        0 => {
            // Whole chunks before the cutoff.
            let n: i64 = conn.query_row(
                "SELECT coalesce(sum(samples), 0) FROM (SELECT samples FROM metrics_raw
                 WHERE window_start < ?1 AND last_ts < ?1 LIMIT ?2)",
                params![cut.raw, DELETE_BATCH],
                |r| r.get(0),
            )?;
            let rows = conn.execute(
                "DELETE FROM metrics_raw WHERE rowid IN (SELECT rowid FROM metrics_raw
                 WHERE window_start < ?1 AND last_ts < ?1 LIMIT ?2)",
                params![cut.raw, DELETE_BATCH],
            )?;
            deleted.raw_samples += n as u64;
            Ok(rows as u64)
        }
        1 => {
            // Chunks straddling the cutoff lose their old samples.
            let chunks: Vec<(i64, i64, Vec<u8>)> = conn
                .prepare_cached(
                    "SELECT series_id, window_start, data FROM metrics_raw
                     WHERE window_start < ?1 AND first_ts < ?1 LIMIT ?2",
                )?
                .query_map(params![cut.raw, TRIM_BATCH], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            for (id, window, blob) in &chunks {
                let samples = decode_chunk(blob).map_err(decode_err)?;
                let keep: Vec<_> = samples.iter().copied().filter(|s| s.0 >= cut.raw).collect();
                deleted.raw_samples += (samples.len() - keep.len()) as u64;
                write_chunk(conn, *id, *window, &keep)?;
            }
            Ok(chunks.len() as u64)
        }
        2 => {
            let n: i64 = conn.query_row(
                "SELECT coalesce(sum(samples), 0) FROM (SELECT samples FROM metrics_raw_head
                 WHERE ts < ?1 LIMIT ?2)",
                params![cut.raw, DELETE_BATCH],
                |r| r.get(0),
            )?;
            let rows = conn.execute(
                "DELETE FROM metrics_raw_head WHERE rowid IN (SELECT rowid FROM metrics_raw_head
                 WHERE ts < ?1 LIMIT ?2)",
                params![cut.raw, DELETE_BATCH],
            )?;
            deleted.raw_samples += n as u64;
            Ok(rows as u64)
        }
        3 => {
            let rows = delete_buckets(conn, "metrics_1m", cut.one_minute)?;
            deleted.one_minute += rows;
            Ok(rows)
        }
        4 => {
            let rows = delete_buckets(conn, "metrics_1h", cut.one_hour)?;
            deleted.one_hour += rows;
            // Marks for buckets that are gone have nothing left to redo.
            conn.execute(
                "DELETE FROM rollup_dirty WHERE (tier = 1 AND bucket < ?1) OR (tier = 60 AND bucket < ?2)",
                params![cut.one_minute, cut.one_hour],
            )?;
            Ok(rows)
        }
        _ => Ok(0),
    }
}

pub(crate) fn stages() -> usize {
    STAGES
}

fn delete_buckets(conn: &Connection, table: &str, cutoff: i64) -> rusqlite::Result<u64> {
    let sql = format!(
        "DELETE FROM {table} WHERE bucket < ?1 AND (series_id, bucket) IN
         (SELECT series_id, bucket FROM {table} WHERE bucket < ?1 LIMIT ?2)"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .execute(params![cutoff, DELETE_BATCH])? as u64)
}
