//! The jobs the writer thread runs between ingest batches: compaction of the
//! raw head into chunks, the 1m continuous aggregate, the 1h rollup, and
//! retention. A run is a sequence of small steps, each its own transaction,
//! so a report never waits behind more than one step.
//!
//! The one thing to know: progress lives in `store_state` and is updated in
//! the same transaction as the data it describes, so a crash between steps
//! loses nothing and redoes at most one step.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde::Serialize;

use super::StoreConfig;
use super::config::{HOUR_MS, MINUTE_MS};
use super::db::{Db, DbResult};
use super::raw::{self, window_of};
use super::retention::{self, Cutoffs, Deleted};
use super::rollup::{self, Table, bucket_of};

/// Head rows compacted per step.
const COMPACT_ROWS: usize = 2_000;
/// Most raw time materialized into `metrics_1m` per step.
const STEP_1M_MS: i64 = 10 * MINUTE_MS;
/// Most 1m time merged into `metrics_1h` per step.
const STEP_1H_MS: i64 = 6 * HOUR_MS;
/// Dirty buckets redone per step.
const DIRTY_BATCH: usize = 500;

/// Counters of the maintenance jobs, shared with whoever reports them (logs,
/// tests, the `/metrics` endpoint). Times are Unix milliseconds.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Every 1m bucket before this is materialized.
    pub watermark_1m_ms: AtomicI64,
    /// Every 1h bucket before this is materialized.
    pub watermark_1h_ms: AtomicI64,
    /// How far the 1m watermark trailed the clock at the end of the last run.
    pub rollup_lag_ms: AtomicI64,
    pub runs: AtomicU64,
    pub head_rows_compacted: AtomicU64,
    pub buckets_materialized: AtomicU64,
    pub raw_samples_deleted: AtomicU64,
    pub one_minute_rows_deleted: AtomicU64,
    pub one_hour_rows_deleted: AtomicU64,
    pub maintenance_errors: AtomicU64,
    /// Ingest batches that rolled back (a full or read-only disk, an I/O
    /// error); their reports were answered with the error and are replayed.
    pub write_errors: AtomicU64,
    /// 1 while the last ingest batch failed, 0 once one commits.
    pub write_failing: AtomicU64,
}

/// What one maintenance run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct MaintenanceReport {
    pub now_ms: i64,
    pub head_rows_compacted: u64,
    pub chunks_written: u64,
    pub buckets_1m: u64,
    pub buckets_1h: u64,
    pub dirty_redone: u64,
    pub watermark_1m: i64,
    pub watermark_1h: i64,
    /// Present when the run included retention.
    pub deleted: Option<Deleted>,
}

/// Progress markers, cached by the writer and stored in `store_state`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marks {
    /// Chunks exist only for samples before this.
    pub compacted_before: i64,
    /// `None` until the first run decides where the 1m tier starts.
    pub watermark_1m: Option<i64>,
    pub watermark_1h: Option<i64>,
}

impl Marks {
    /// A store that has never run maintenance: what an empty one loads.
    pub const NONE: Self = Self {
        compacted_before: i64::MIN,
        watermark_1m: None,
        watermark_1h: None,
    };

    pub fn load(db: &mut dyn Db) -> DbResult<Self> {
        Ok(Self {
            compacted_before: db.state("compacted_before")?.unwrap_or(i64::MIN),
            watermark_1m: db.state("watermark_1m")?,
            watermark_1h: db.state("watermark_1h")?,
        })
    }
}

/// A step's work, done in a transaction that is not committed yet.
pub(crate) struct Pending {
    marks: Marks,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Compact,
    Rollup1m,
    Dirty1m,
    Rollup1h,
    Dirty1h,
    Retention(usize),
    Done,
}

/// One maintenance run in progress. The clock is read once, when it starts.
pub(crate) struct Run {
    phase: Phase,
    with_retention: bool,
    cutoffs: Cutoffs,
    grace_ms: i64,
    deleted: Deleted,
    pub report: MaintenanceReport,
}

impl Run {
    pub fn start(config: &StoreConfig, with_retention: bool) -> Self {
        let now = config.clock.now_ms();
        let ago = |d: std::time::Duration| now.saturating_sub(d.as_millis() as i64);
        Self {
            phase: Phase::Compact,
            with_retention,
            cutoffs: Cutoffs {
                raw: ago(config.retention.raw),
                one_minute: ago(config.retention.one_minute),
                one_hour: ago(config.retention.one_hour),
            },
            grace_ms: config.rollup_grace.as_millis() as i64,
            deleted: Deleted::default(),
            report: MaintenanceReport {
                now_ms: now,
                ..Default::default()
            },
        }
    }

    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Does one step's work in `tx`, a transaction of its own that the
    /// caller commits and then hands the result to [`Run::committed`]; so
    /// `marks` change only after the commit, and ingest never acts on
    /// progress that could roll back.
    pub fn step(&mut self, tx: &mut dyn Db, marks: &Marks) -> DbResult<Pending> {
        let mut next = *marks;
        let now = self.report.now_ms;
        let settled = now - self.grace_ms;
        let phase = match self.phase {
            Phase::Compact => {
                let cutoff = window_of(settled).max(marks.compacted_before);
                if cutoff > marks.compacted_before {
                    // Recorded before the first chunk of the new windows is
                    // written, so ingest checks chunks for any sample in them.
                    tx.set_state("compacted_before", cutoff)?;
                    next.compacted_before = cutoff;
                }
                // Reports still in front of the head join it first.
                tx.head_settle(cutoff)?;
                let done = raw::compact_step(tx, cutoff, COMPACT_ROWS)?;
                self.report.head_rows_compacted += done.head_rows as u64;
                self.report.chunks_written += done.chunks as u64;
                if done.head_rows == 0 {
                    Phase::Rollup1m
                } else {
                    Phase::Compact
                }
            }
            Phase::Rollup1m => {
                let target = bucket_of(settled, MINUTE_MS);
                let wm = match marks.watermark_1m {
                    Some(wm) => wm,
                    None => tx
                        .oldest_raw()?
                        .map_or(target, |ts| bucket_of(ts, MINUTE_MS).min(target)),
                };
                let to = target.min(wm.saturating_add(STEP_1M_MS));
                if to > wm {
                    self.report.buckets_1m += rollup::materialize_1m(tx, wm, to)? as u64;
                }
                let wm = wm.max(to);
                tx.set_state("watermark_1m", wm)?;
                next.watermark_1m = Some(wm);
                if wm >= target {
                    Phase::Dirty1m
                } else {
                    Phase::Rollup1m
                }
            }
            Phase::Dirty1m => {
                let wm_1h = marks.watermark_1h.unwrap_or(i64::MIN);
                let n =
                    rollup::redo_dirty(tx, Table::OneMinute, DIRTY_BATCH, self.cutoffs.raw, wm_1h)?;
                self.report.dirty_redone += n as u64;
                if n == 0 {
                    Phase::Rollup1h
                } else {
                    Phase::Dirty1m
                }
            }
            Phase::Rollup1h => {
                let wm_1m = marks.watermark_1m.unwrap_or(i64::MIN);
                let target = bucket_of(wm_1m, HOUR_MS);
                let wm = match marks.watermark_1h {
                    Some(wm) => wm,
                    None => tx
                        .oldest_bucket(Table::OneMinute)?
                        .map_or(target, |b| bucket_of(b, HOUR_MS).min(target)),
                };
                let to = target.min(wm.saturating_add(STEP_1H_MS));
                if to > wm {
                    self.report.buckets_1h += rollup::materialize_1h(tx, wm, to)? as u64;
                }
                let wm = wm.max(to);
                tx.set_state("watermark_1h", wm)?;
                next.watermark_1h = Some(wm);
                if wm >= target {
                    Phase::Dirty1h
                } else {
                    Phase::Rollup1h
                }
            }
            Phase::Dirty1h => {
                let n = rollup::redo_dirty(
                    tx,
                    Table::OneHour,
                    DIRTY_BATCH,
                    self.cutoffs.one_minute,
                    i64::MIN,
                )?;
                self.report.dirty_redone += n as u64;
                match (n, self.with_retention) {
                    (0, true) => Phase::Retention(0),
                    (0, false) => Phase::Done,
                    _ => Phase::Dirty1h,
                }
            }
            Phase::Retention(stage) => {
                let n = retention::step(tx, stage, self.cutoffs, &mut self.deleted)?;
                match (n, stage + 1 < retention::stages()) {
                    (0, true) => Phase::Retention(stage + 1),
                    (0, false) => Phase::Done,
                    _ => Phase::Retention(stage),
                }
            }
            Phase::Done => Phase::Done,
        };
        Ok(Pending { marks: next, phase })
    }

    /// Takes in a step whose transaction has committed.
    pub fn committed(&mut self, pending: Pending, marks: &mut Marks) {
        let Pending { marks: next, phase } = pending;
        *marks = next;
        self.phase = phase;
        if phase == Phase::Done {
            self.report.watermark_1m = marks.watermark_1m.unwrap_or(i64::MIN);
            self.report.watermark_1h = marks.watermark_1h.unwrap_or(i64::MIN);
            self.report.deleted = self.with_retention.then_some(self.deleted);
        }
    }

    /// Publishes a finished run's figures and logs them once.
    pub fn finish(&self, stats: &StoreStats) {
        let r = &self.report;
        let lag = r.now_ms.saturating_sub(r.watermark_1m);
        stats
            .watermark_1m_ms
            .store(r.watermark_1m, Ordering::Relaxed);
        stats
            .watermark_1h_ms
            .store(r.watermark_1h, Ordering::Relaxed);
        stats.rollup_lag_ms.store(lag, Ordering::Relaxed);
        stats.runs.fetch_add(1, Ordering::Relaxed);
        stats
            .head_rows_compacted
            .fetch_add(r.head_rows_compacted, Ordering::Relaxed);
        stats.buckets_materialized.fetch_add(
            r.buckets_1m + r.buckets_1h + r.dirty_redone,
            Ordering::Relaxed,
        );
        let d = r.deleted.unwrap_or_default();
        stats
            .raw_samples_deleted
            .fetch_add(d.raw_samples, Ordering::Relaxed);
        stats
            .one_minute_rows_deleted
            .fetch_add(d.one_minute, Ordering::Relaxed);
        stats
            .one_hour_rows_deleted
            .fetch_add(d.one_hour, Ordering::Relaxed);
        let busy = r.head_rows_compacted
            + r.buckets_1m
            + r.buckets_1h
            + r.dirty_redone
            + d.raw_samples
            + d.one_minute
            + d.one_hour;
        // Quiet runs (nothing new) are logged at debug, so an idle store
        // does not fill the log.
        if busy > 0 {
            tracing::info!(
                watermark_1m = r.watermark_1m,
                watermark_1h = r.watermark_1h,
                rollup_lag_ms = lag,
                head_rows_compacted = r.head_rows_compacted,
                chunks_written = r.chunks_written,
                buckets_1m = r.buckets_1m,
                buckets_1h = r.buckets_1h,
                dirty_redone = r.dirty_redone,
                raw_samples_deleted = d.raw_samples,
                one_minute_rows_deleted = d.one_minute,
                one_hour_rows_deleted = d.one_hour,
                "store maintenance run"
            );
        } else {
            tracing::debug!(
                watermark_1m = r.watermark_1m,
                rollup_lag_ms = lag,
                "store maintenance run: nothing to do"
            );
        }
    }
}
