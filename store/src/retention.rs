//! Retention: deleting what each tier keeps no longer, in small batches so
//! the writer thread returns to ingest between them.
//!
//! A raw sample is gone once it is older than the raw retention: whole
//! chunks before the cutoff are deleted, and the one chunk per series that
//! straddles it is re-encoded without its old samples. A rollup bucket is
//! gone once its start is older than its tier's retention.

use super::db::{Db, DbResult};
use super::encoding::decode_chunk;
use super::raw::write_chunk;
use super::rollup::Table;

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
    /// Process and cgroup tables (kept as long as the 1m tier).
    pub activity_tables: u64,
}

/// The oldest time each tier keeps, for one retention run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cutoffs {
    pub raw: i64,
    pub one_minute: i64,
    pub one_hour: i64,
}

/// The stages of one retention run, in order.
const STAGES: usize = 7;

/// Runs one batch of stage `stage`; returns how many rows it handled (0
/// when the stage is finished).
pub(crate) fn step(
    db: &mut dyn Db,
    stage: usize,
    cut: Cutoffs,
    deleted: &mut Deleted,
) -> DbResult<u64> {
    match stage {
        0 => {
            // Whole chunks before the cutoff.
            let gone = db.chunks_expire(cut.raw, DELETE_BATCH)?;
            deleted.raw_samples += gone.samples;
            Ok(gone.rows)
        }
        1 => {
            // Chunks straddling the cutoff lose their old samples.
            let chunks = db.chunks_straddling(cut.raw, TRIM_BATCH)?;
            for (id, window, blob) in &chunks {
                let samples = decode_chunk(blob)?;
                let keep: Vec<_> = samples.iter().copied().filter(|s| s.0 >= cut.raw).collect();
                deleted.raw_samples += (samples.len() - keep.len()) as u64;
                write_chunk(db, *id, *window, &keep)?;
            }
            Ok(chunks.len() as u64)
        }
        2 => {
            let gone = db.head_expire(cut.raw, DELETE_BATCH)?;
            deleted.raw_samples += gone.samples;
            Ok(gone.rows)
        }
        3 => {
            let rows = db.buckets_expire(Table::OneMinute, cut.one_minute, DELETE_BATCH)?;
            deleted.one_minute += rows;
            Ok(rows)
        }
        4 => {
            let rows = db.buckets_expire(Table::OneHour, cut.one_hour, DELETE_BATCH)?;
            deleted.one_hour += rows;
            // Marks for buckets that are gone have nothing left to redo.
            db.dirty_expire(cut.one_minute, cut.one_hour)?;
            Ok(rows)
        }
        // The forward log: rows every destination has sent, and any older
        // than the raw tier (their samples are gone from the store too).
        5 => db.forward_trim(cut.raw, DELETE_BATCH),
        6 => {
            let rows = db.activity_expire(cut.one_minute, DELETE_BATCH)?;
            deleted.activity_tables += rows;
            Ok(rows)
        }
        _ => Ok(0),
    }
}

pub(crate) fn stages() -> usize {
    STAGES
}
