//! The raw tier on disk: reports land in `metrics_raw_head` (one row per
//! host and timestamp), and compaction later moves each closed 30-minute
//! window into `metrics_raw` as one Gorilla chunk per series. On SQLite a
//! fleet's reports wait in an inbox in front of the head first (`inbox.rs`);
//! the [`Db`] reads of the head include it.
//!
//! Why this shape. One row per sample costs about 23 bytes and one B-tree
//! insert per sample. A head row per report is one insert per report (the
//! write path gets faster), and a chunk per series and window brings a
//! sample down to a few bytes, because neighbouring samples of one series
//! are alike. The head is transient, so its plain 8-byte values cost little.
//!
//! The invariant that keeps reads simple: a sample (series, ts) is in the
//! head or in a chunk, never both. Ingest checks the chunk before writing a
//! sample whose window may already be compacted (ts before
//! `compacted_before`), and compaction moves rows in one transaction.

use std::collections::{BTreeMap, HashMap};

use super::config::MINUTE_MS;
use super::db::{Db, DbResult};
use super::encoding::{
    Sample, decode_chunk, decode_report, encode_chunk, encode_report, merge_samples, report_value,
};

/// Width of a chunk's time window. 360 samples at a 5 s interval: long
/// enough that the chunk's fixed cost (first timestamp and value, the row)
/// is a fraction of a byte per sample, short enough that re-encoding a
/// chunk for a late sample stays cheap.
pub(crate) const CHUNK_WINDOW_MS: i64 = 30 * MINUTE_MS;

pub(crate) fn window_of(ts: i64) -> i64 {
    ts.div_euclid(CHUNK_WINDOW_MS)
        .saturating_mul(CHUNK_WINDOW_MS)
}

/// What writing one report's samples did.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// The samples that were new, `(series_id, value)`.
    pub fresh: Vec<(i64, f64)>,
    pub duplicates: usize,
}

/// Where [`write_report`] puts a new head row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Landing {
    /// Into the head itself.
    Head,
    /// Into the inbox in front of the head ([`Db::inbox_insert`]).
    /// `head_older` when the caller knows every row of the host in the head
    /// (and the sealed inbox) is older than the report, so the insert need
    /// not look there.
    Inbox { head_older: bool },
}

/// Writes one report's samples (distinct series ids), keeping the first
/// value ever written for each (series, ts). Samples already stored, in the
/// head or in a chunk, are counted as duplicates and left alone. A new row
/// goes where `landing` says.
pub(crate) fn write_report(
    db: &mut dyn Db,
    host: &str,
    ts: i64,
    mut samples: Vec<(i64, f64)>,
    compacted_before: i64,
    landing: Landing,
) -> DbResult<Written> {
    let offered = samples.len();
    if ts < compacted_before {
        // A late report: its window may be compacted already.
        let mut keep = Vec::with_capacity(samples.len());
        for (id, v) in samples {
            let in_chunk = read_chunk(db, id, window_of(ts))?
                .is_some_and(|c| c.binary_search_by_key(&ts, |s| s.0).is_ok());
            if !in_chunk {
                keep.push((id, v));
            }
        }
        samples = keep;
    }
    if samples.is_empty() {
        return Ok(Written {
            fresh: samples,
            duplicates: offered,
        });
    }
    let blob = encode_report(&mut samples);
    let inserted = match landing {
        Landing::Inbox { head_older } => {
            db.inbox_insert(host, ts, samples.len() as i64, &blob, head_older)?
        }
        Landing::Head => db.head_insert(host, ts, samples.len() as i64, &blob)?,
    };
    if inserted {
        return Ok(Written {
            duplicates: offered - samples.len(),
            fresh: samples,
        });
    }
    merge_into_head(db, host, ts, samples, offered)
}

/// The host already reported at this timestamp (a replay, or a second report
/// for the same instant): adds to its head row only the series it lacks.
/// `samples` are the report's samples not found in a chunk, out of
/// `offered`.
pub(crate) fn merge_into_head(
    db: &mut dyn Db,
    host: &str,
    ts: i64,
    samples: Vec<(i64, f64)>,
    offered: usize,
) -> DbResult<Written> {
    let existing = db.head_data(host, ts)?;
    let mut merged = decode_report(&existing)?;
    let known: HashMap<i64, ()> = merged.iter().map(|(id, _)| (*id, ())).collect();
    let fresh: Vec<(i64, f64)> = samples
        .into_iter()
        .filter(|(id, _)| !known.contains_key(id))
        .collect();
    if !fresh.is_empty() {
        merged.extend_from_slice(&fresh);
        let blob = encode_report(&mut merged);
        db.head_update(host, ts, merged.len() as i64, &blob)?;
    }
    Ok(Written {
        duplicates: offered - fresh.len(),
        fresh,
    })
}

/// The decoded chunk of one series and window, if there is one.
pub(crate) fn read_chunk(
    db: &mut dyn Db,
    series_id: i64,
    window: i64,
) -> DbResult<Option<Vec<Sample>>> {
    match db.chunk(series_id, window)? {
        Some(b) => Ok(Some(decode_chunk(&b)?)),
        None => Ok(None),
    }
}

/// Replaces (or creates, or with no samples deletes) one chunk.
pub(crate) fn write_chunk(
    db: &mut dyn Db,
    series_id: i64,
    window: i64,
    samples: &[Sample],
) -> DbResult<()> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return db.chunk_delete(series_id, window);
    };
    db.chunk_put(
        series_id,
        window,
        (first.0, last.0),
        samples.len() as i64,
        &encode_chunk(samples),
    )
}

/// Raw samples of one series with `from <= ts < to`, oldest first.
pub(crate) fn series_samples(
    db: &mut dyn Db,
    series_id: i64,
    host: &str,
    from: i64,
    to: i64,
) -> DbResult<Vec<Sample>> {
    let mut chunked = Vec::new();
    if from < to {
        for blob in db.chunks_of_series(series_id, window_of(from), to, from)? {
            let chunk = decode_chunk(&blob)?;
            chunked.extend(chunk.into_iter().filter(|s| s.0 >= from && s.0 < to));
        }
    }
    let mut head = Vec::new();
    for (ts, blob) in db.head_of_host(host, from, to)? {
        if let Some(v) = report_value(&blob, series_id)? {
            head.push((ts, v));
        }
    }
    Ok(if head.is_empty() {
        chunked
    } else {
        merge_samples(&chunked, &head)
    })
}

/// Raw samples of every series with `from <= ts < to`, by series id, each
/// oldest first.
pub(crate) fn samples_between(
    db: &mut dyn Db,
    from: i64,
    to: i64,
) -> DbResult<HashMap<i64, Vec<Sample>>> {
    let mut chunked: HashMap<i64, Vec<Sample>> = HashMap::new();
    for (id, blob) in db.chunks_between(window_of(from), to, from)? {
        let chunk = decode_chunk(&blob)?;
        chunked
            .entry(id)
            .or_default()
            .extend(chunk.into_iter().filter(|s| s.0 >= from && s.0 < to));
    }
    let mut head: HashMap<i64, Vec<Sample>> = HashMap::new();
    for (ts, blob) in db.head_between(from, to)? {
        for (id, v) in decode_report(&blob)? {
            head.entry(id).or_default().push((ts, v));
        }
    }
    for (id, samples) in head {
        let entry = chunked.entry(id).or_default();
        *entry = merge_samples(entry, &samples);
    }
    Ok(chunked)
}

/// What one compaction step did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Compacted {
    pub head_rows: usize,
    pub chunks: usize,
}

/// Moves up to `max_rows` head rows of one host older than `cutoff` into
/// chunks. Returns zero rows when nothing before `cutoff` is left.
pub(crate) fn compact_step(db: &mut dyn Db, cutoff: i64, max_rows: usize) -> DbResult<Compacted> {
    let Some(host) = db.head_oldest_host(cutoff)? else {
        return Ok(Compacted::default());
    };
    let mut groups: BTreeMap<(i64, i64), Vec<Sample>> = BTreeMap::new();
    let mut times = Vec::new();
    for (ts, blob) in db.head_rows(&host, cutoff, max_rows as i64)? {
        times.push(ts);
        for (id, v) in decode_report(&blob)? {
            groups.entry((id, window_of(ts))).or_default().push((ts, v));
        }
    }
    let chunks = groups.len();
    for ((id, window), samples) in groups {
        let merged = match read_chunk(db, id, window)? {
            Some(existing) => merge_samples(&existing, &samples),
            None => samples,
        };
        write_chunk(db, id, window, &merged)?;
    }
    db.head_delete(&host, &times)?;
    Ok(Compacted {
        head_rows: times.len(),
        chunks,
    })
}
