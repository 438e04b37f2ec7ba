//! History queries: one series over a time range, from the tier that suits
//! the range, as plain serializable structs (the HTTP API and `mon query`
//! print them as they are).
//!
//! Tier choice: a span up to 6 hours reads raw samples, up to 8 days the 1m
//! tier, beyond that the 1h tier; a range starting before a tier's retention
//! moves to the next coarser tier, and a `step` picks the coarsest tier whose
//! width divides it. The rollup tiers are read "real time": materialized
//! buckets behind the watermark, plus the newer buckets (and the ones late
//! samples made stale) computed from their source on the fly, so a query
//! never shows a gap the maintenance jobs have not filled yet.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use super::config::{HOUR_MS, MINUTE_MS, Retention};
use super::db::{Db, DbResult};
use super::raw::series_samples;
use super::rollup::{Bucket, Table, aggregate, bucket_of, coarsen};

/// Spans up to this read raw samples.
pub const RAW_MAX_SPAN: Duration = Duration::from_secs(6 * 3600);
/// Spans up to this (and beyond the raw limit) read the 1m tier.
pub const ONE_MINUTE_MAX_SPAN: Duration = Duration::from_secs(8 * 24 * 3600);
/// Most points one query returns.
pub const MAX_POINTS: i64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Tier {
    #[serde(rename = "raw")]
    Raw,
    #[serde(rename = "1m")]
    OneMinute,
    #[serde(rename = "1h")]
    OneHour,
}

impl Tier {
    pub fn width_ms(self) -> i64 {
        match self {
            Tier::Raw => 1,
            Tier::OneMinute => MINUTE_MS,
            Tier::OneHour => HOUR_MS,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::OneMinute => "1m",
            Tier::OneHour => "1h",
        }
    }
}

/// One series over `from <= ts < to` (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub host: String,
    pub metric: String,
    pub labels: Vec<(String, String)>,
    pub from: i64,
    pub to: i64,
    /// Width of the returned points; `None` returns the tier's own points.
    pub step: Option<Duration>,
}

/// One point of a history: a raw sample (`count` 1, every field the value)
/// or a bucket starting at `ts`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RangePoint {
    pub ts: i64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub last: f64,
    pub count: u64,
}

impl From<&Bucket> for RangePoint {
    fn from(b: &Bucket) -> Self {
        Self {
            ts: b.start,
            min: b.min,
            max: b.max,
            avg: b.avg(),
            last: b.last,
            count: b.count,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesRange {
    pub host: String,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub from: i64,
    pub to: i64,
    pub tier: Tier,
    /// Width of each point in milliseconds; 0 for raw samples.
    pub step_ms: i64,
    pub points: Vec<RangePoint>,
}

/// Progress of the rollups as stored, read once per query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watermarks {
    pub one_minute: i64,
    pub one_hour: i64,
}

/// Picks the tier for a range: by span, then retention, then step. Errors
/// name the step and what would be accepted.
pub(crate) fn choose_tier(
    from: i64,
    to: i64,
    step: Option<Duration>,
    now: i64,
    retention: &Retention,
) -> Result<Tier, String> {
    let span = Duration::from_millis((to - from).max(0) as u64);
    let ago = |d: Duration| now.saturating_sub(d.as_millis() as i64);
    let mut tier = if span <= RAW_MAX_SPAN {
        Tier::Raw
    } else if span <= ONE_MINUTE_MAX_SPAN {
        Tier::OneMinute
    } else {
        Tier::OneHour
    };
    if from < ago(retention.raw) {
        tier = tier.max(Tier::OneMinute);
    }
    if from < ago(retention.one_minute) {
        tier = Tier::OneHour;
    }
    let Some(step) = step else {
        return Ok(tier);
    };
    let step_ms = step.as_millis() as i64;
    if step_ms <= 0 {
        return Err("step 0s is not accepted; give a step such as 10s, 1m or 1h".into());
    }
    let fits = [Tier::OneHour, Tier::OneMinute, Tier::Raw]
        .into_iter()
        .find(|t| *t >= tier && step_ms % t.width_ms() == 0);
    let Some(chosen) = fits else {
        return Err(format!(
            "step {} does not fit the {} tier this range reads; give a multiple of {}",
            humantime::format_duration(step),
            tier.name(),
            humantime::format_duration(Duration::from_millis(tier.width_ms() as u64)),
        ));
    };
    let points = (to - from) / step_ms;
    if points > MAX_POINTS {
        let least = Duration::from_millis(((to - from) / MAX_POINTS).max(1) as u64);
        return Err(format!(
            "step {} gives {points} points over this range; at most {MAX_POINTS} are returned, give a step of at least {}",
            humantime::format_duration(step),
            humantime::format_duration(least),
        ));
    }
    Ok(chosen)
}

/// The points of series `id` (of `host`) over `from..to` from `tier`,
/// regrouped to `step` if given.
pub(crate) fn points(
    conn: &mut dyn Db,
    (id, host): (i64, &str),
    from: i64,
    to: i64,
    tier: Tier,
    step: Option<Duration>,
    marks: Watermarks,
) -> DbResult<(i64, Vec<RangePoint>)> {
    let step_ms = step.map(|s| s.as_millis() as i64);
    let buckets = match tier {
        Tier::Raw => {
            let samples = series_samples(conn, id, host, from, to)?;
            let Some(step_ms) = step_ms else {
                let points = samples
                    .iter()
                    .map(|&(ts, v)| RangePoint::from(&Bucket::of(ts, v)))
                    .collect();
                return Ok((0, points));
            };
            aggregate(&samples, step_ms)
        }
        Tier::OneMinute => union_1m(conn, id, host, from, to, marks)?,
        Tier::OneHour => union_1h(conn, id, host, from, to, marks)?,
    };
    let width = step_ms.unwrap_or(tier.width_ms());
    let buckets = if width == tier.width_ms() {
        buckets
    } else {
        coarsen(&buckets, width)
    };
    Ok((width, buckets.iter().map(RangePoint::from).collect()))
}

/// Puts `fresh` into `out` (ordered by start), replacing the bucket with the
/// same start if there is one.
fn put_bucket(out: &mut Vec<Bucket>, fresh: Bucket) {
    match out.binary_search_by_key(&fresh.start, |b| b.start) {
        Ok(i) => out[i] = fresh,
        Err(i) => out.insert(i, fresh),
    }
}

/// The 1m buckets of one series starting in `[bucket_of(from), to)`, made of
/// the samples before `to`: materialized rows behind the watermark, with the
/// stale ones and everything after it computed from raw samples.
pub(crate) fn union_1m(
    conn: &mut dyn Db,
    id: i64,
    host: &str,
    from: i64,
    to: i64,
    marks: Watermarks,
) -> DbResult<Vec<Bucket>> {
    let start = bucket_of(from, MINUTE_MS);
    let split = marks.one_minute.clamp(start, to.max(start));
    let mut out = conn.buckets(Table::OneMinute, id, start, split)?;
    for stale in conn.dirty_of(Table::OneMinute, id, start, split)? {
        let samples = series_samples(conn, id, host, stale, stale + MINUTE_MS)?;
        // No samples left means retention took them; keep the stored row.
        if let Some(fresh) = aggregate(&samples, MINUTE_MS).pop() {
            put_bucket(&mut out, fresh);
        }
    }
    if to > split {
        let samples = series_samples(conn, id, host, split, to)?;
        out.extend(aggregate(&samples, MINUTE_MS));
    }
    Ok(out)
}

/// The 1h buckets of one series starting in `[bucket_of(from), to)`, the
/// same way one tier up: stale and newer hours are merged from [`union_1m`].
pub(crate) fn union_1h(
    conn: &mut dyn Db,
    id: i64,
    host: &str,
    from: i64,
    to: i64,
    marks: Watermarks,
) -> DbResult<Vec<Bucket>> {
    let start = bucket_of(from, HOUR_MS);
    let split = marks.one_hour.clamp(start, to.max(start));
    let mut out = conn.buckets(Table::OneHour, id, start, split)?;
    // An hour is stale if it is marked, or if one of its minutes is (the
    // hour is marked only once the minute has been redone).
    let mut stale: BTreeSet<i64> = conn
        .dirty_of(Table::OneHour, id, start, split)?
        .into_iter()
        .collect();
    for minute in conn.dirty_of(Table::OneMinute, id, start, split)? {
        stale.insert(bucket_of(minute, HOUR_MS));
    }
    for hour in stale {
        let minutes = union_1m(conn, id, host, hour, hour + HOUR_MS, marks)?;
        if let Some(fresh) = coarsen(&minutes, HOUR_MS).pop() {
            put_bucket(&mut out, fresh);
        }
    }
    if to > split {
        let minutes = union_1m(conn, id, host, split, to, marks)?;
        out.extend(coarsen(&minutes, HOUR_MS));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn the_tier_follows_the_span_the_retention_and_the_step() {
        let r = Retention::default();
        let h = HOUR_MS;
        let tier = |from: i64, step: Option<u64>| {
            choose_tier(from, NOW, step.map(Duration::from_secs), NOW, &r)
        };
        assert_eq!(tier(NOW - h, None), Ok(Tier::Raw));
        assert_eq!(tier(NOW - 24 * h, None), Ok(Tier::OneMinute));
        assert_eq!(tier(NOW - 7 * 24 * h, None), Ok(Tier::OneMinute));
        assert_eq!(tier(NOW - 30 * 24 * h, None), Ok(Tier::OneHour));
        assert_eq!(tier(NOW - h, Some(60)), Ok(Tier::OneMinute));
        assert_eq!(tier(NOW - h, Some(3600)), Ok(Tier::OneHour));
        assert_eq!(tier(NOW - h, Some(10)), Ok(Tier::Raw));
        // An hour from two days ago is past raw retention.
        let from = NOW - 48 * h;
        assert_eq!(
            choose_tier(from, from + h, None, NOW, &r),
            Ok(Tier::OneMinute)
        );
        let err = tier(NOW - 24 * h, Some(90)).unwrap_err();
        assert!(
            err.contains("step 1m 30s") && err.contains("multiple of 1m"),
            "{err}"
        );
        let err = tier(NOW - h, Some(0)).unwrap_err();
        assert!(err.contains("step 0s"), "{err}");
    }
}
