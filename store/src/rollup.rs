//! The rollup tiers: `metrics_1m` materialized from raw samples as its
//! watermark advances, `metrics_1h` merged from `metrics_1m`.
//!
//! A bucket keeps `min, max, sum, count, last`, so coarser buckets are exact
//! merges of finer ones and an average is always `sum / count`, never an
//! average of averages. Samples and buckets are always folded in time order,
//! so the `last` of the newest part is the bucket's `last`: no timestamp of
//! it needs keeping. Buckets behind a watermark that late samples touch are listed in
//! `rollup_dirty` in the same transaction as the samples, and materialized
//! again from their source by [`redo_dirty`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::config::{HOUR_MS, MINUTE_MS};
use super::db::{Db, DbResult};
use super::encoding::Sample;
use super::raw::{samples_between, series_samples};

/// One rollup bucket: the samples with `start <= ts < start + width`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bucket {
    pub start: i64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
    pub last: f64,
}

impl Bucket {
    /// The bucket starting at `start` with one sample.
    pub fn of(start: i64, value: f64) -> Self {
        Self {
            start,
            min: value,
            max: value,
            sum: value,
            count: 1,
            last: value,
        }
    }

    /// Adds a sample newer than every sample already in the bucket.
    pub fn push(&mut self, value: f64) {
        self.merge(&Self::of(self.start, value));
    }

    /// Folds in a partial aggregate of the same bucket made of newer samples
    /// than this one's.
    pub fn merge(&mut self, newer: &Bucket) {
        self.min = self.min.min(newer.min);
        self.max = self.max.max(newer.max);
        self.sum += newer.sum;
        self.count += newer.count;
        self.last = newer.last;
    }

    /// `sum / count`, kept within `min..=max` (rounding could step just
    /// outside). Ingest refuses values beyond ±1e290, so a sum of any range
    /// stays finite; a non-finite sum can only come from a row stored before
    /// that rule, and answers the middle of its range rather than a null.
    pub fn avg(&self) -> f64 {
        let avg = self.sum / self.count as f64;
        if avg.is_finite() {
            avg.clamp(self.min, self.max)
        } else {
            self.min / 2.0 + self.max / 2.0
        }
    }
}

pub(crate) fn bucket_of(ts: i64, width: i64) -> i64 {
    ts.div_euclid(width).saturating_mul(width)
}

/// Buckets of `width` over samples sorted by time.
pub(crate) fn aggregate(samples: &[Sample], width: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for &(ts, v) in samples {
        let start = bucket_of(ts, width);
        match out.last_mut() {
            Some(b) if b.start == start => b.push(v),
            _ => out.push(Bucket::of(start, v)),
        }
    }
    out
}

/// Merges buckets sorted by start into buckets of a multiple of their width.
pub(crate) fn coarsen(buckets: &[Bucket], width: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for b in buckets {
        let start = bucket_of(b.start, width);
        match out.last_mut() {
            Some(o) if o.start == start => o.merge(b),
            _ => out.push(Bucket { start, ..*b }),
        }
    }
    out
}

/// The two rollup tables, by bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    OneMinute,
    OneHour,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::OneMinute => "metrics_1m",
            Table::OneHour => "metrics_1h",
        }
    }

    /// SQLite's column of a bucket's start, in the table's own unit
    /// (minutes or hours since the Unix epoch: fewer bytes than
    /// milliseconds; `migrations/0005_compact_rollups.sql`).
    pub fn sqlite_key(self) -> &'static str {
        match self {
            Table::OneMinute => "minute",
            Table::OneHour => "hour",
        }
    }

    pub fn width(self) -> i64 {
        match self {
            Table::OneMinute => MINUTE_MS,
            Table::OneHour => HOUR_MS,
        }
    }

    /// The `tier` column of `rollup_dirty`: the width in minutes.
    pub fn dirty_tier(self) -> i64 {
        self.width() / MINUTE_MS
    }
}

/// Materializes every 1m bucket with `from <= start < to` from raw samples.
/// Returns the rows written.
pub(crate) fn materialize_1m(db: &mut dyn Db, from: i64, to: i64) -> DbResult<usize> {
    let mut rows = 0;
    let mut by_series: Vec<_> = samples_between(db, from, to)?.into_iter().collect();
    // In series order, so two stores given the same writes do the same work.
    by_series.sort_unstable_by_key(|(id, _)| *id);
    for (id, samples) in by_series {
        for b in aggregate(&samples, MINUTE_MS) {
            db.bucket_put(Table::OneMinute, id, &b)?;
            rows += 1;
        }
    }
    Ok(rows)
}

/// Materializes every 1h bucket with `from <= start < to` from `metrics_1m`.
pub(crate) fn materialize_1h(db: &mut dyn Db, from: i64, to: i64) -> DbResult<usize> {
    let mut by_series: BTreeMap<i64, Vec<Bucket>> = BTreeMap::new();
    for (id, b) in db.buckets_between(Table::OneMinute, from, to)? {
        by_series.entry(id).or_default().push(b);
    }
    let mut written = 0;
    for (id, minutes) in by_series {
        for hour in coarsen(&minutes, HOUR_MS) {
            db.bucket_put(Table::OneHour, id, &hour)?;
            written += 1;
        }
    }
    Ok(written)
}

/// Materializes up to `limit` dirty buckets of `table` again from their
/// source. Buckets older than `source_floor` are dropped from the list
/// untouched: their source is gone to retention and the stored row is the
/// only truth left. A redone 1m bucket whose hour is behind `watermark_1h`
/// marks that hour dirty in turn. Returns how many marks were handled.
pub(crate) fn redo_dirty(
    db: &mut dyn Db,
    table: Table,
    limit: usize,
    source_floor: i64,
    watermark_1h: i64,
) -> DbResult<usize> {
    let marks = db.dirty_list(table, limit as i64)?;
    let width = table.width();
    for &(id, bucket) in &marks {
        if bucket >= source_floor {
            let fresh = match table {
                Table::OneMinute => {
                    let samples = match db.series_host(id)? {
                        Some(host) => series_samples(db, id, &host, bucket, bucket + width)?,
                        None => Vec::new(),
                    };
                    aggregate(&samples, width).pop()
                }
                Table::OneHour => {
                    let minutes = db.buckets(Table::OneMinute, id, bucket, bucket + width)?;
                    coarsen(&minutes, width).pop()
                }
            };
            match fresh {
                Some(b) => db.bucket_put(table, id, &b)?,
                None => db.bucket_delete(table, id, bucket)?,
            }
            let hour = bucket_of(bucket, HOUR_MS);
            if table == Table::OneMinute && hour < watermark_1h {
                db.dirty_mark(Table::OneHour, id, hour)?;
            }
        }
        db.dirty_clear(table, id, bucket)?;
    }
    Ok(marks.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_merged_from_minutes_is_not_an_average_of_averages() {
        // Minute 0 has one sample of 10, minute 1 has three of 1.
        let samples = [(0, 10.0), (60_000, 1.0), (61_000, 1.0), (62_000, 1.0)];
        let minutes = aggregate(&samples, MINUTE_MS);
        let hour = coarsen(&minutes, HOUR_MS);
        assert_eq!(hour.len(), 1);
        assert_eq!(hour[0].avg(), 13.0 / 4.0);
        assert_eq!((hour[0].min, hour[0].max, hour[0].count), (1.0, 10.0, 4));
        // The newest minute's last sample, not the first minute's.
        assert_eq!(hour[0].last, 1.0);
    }
}
