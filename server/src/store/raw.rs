//! The raw tier on disk: reports land in `metrics_raw_head` (one row per
//! host and timestamp), and compaction later moves each closed 30-minute
//! window into `metrics_raw` as one Gorilla chunk per series.
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

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::config::MINUTE_MS;
use super::encoding::{
    DecodeError, Sample, decode_chunk, decode_report, encode_chunk, encode_report, merge_samples,
    report_value,
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

pub(crate) fn decode_err(e: DecodeError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, Type::Blob, Box::new(e))
}

/// What writing one report's samples did.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// The samples that were new, `(series_id, value)`.
    pub fresh: Vec<(i64, f64)>,
    pub duplicates: usize,
}

/// Writes one report's samples (distinct series ids), keeping the first
/// value ever written for each (series, ts). Samples already stored, in the
/// head or in a chunk, are counted as duplicates and left alone.
pub(crate) fn write_report(
    conn: &Connection,
    host: &str,
    ts: i64,
    mut samples: Vec<(i64, f64)>,
    compacted_before: i64,
) -> rusqlite::Result<Written> {
    let offered = samples.len();
    if ts < compacted_before {
        // A late report: its window may be compacted already.
        let mut keep = Vec::with_capacity(samples.len());
        for (id, v) in samples {
            let in_chunk = read_chunk(conn, id, window_of(ts))?
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
    let inserted = conn
        .prepare_cached(
            "INSERT INTO metrics_raw_head (host, ts, samples, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (host, ts) DO NOTHING",
        )?
        .execute(params![host, ts, samples.len() as i64, blob])?;
    if inserted == 1 {
        return Ok(Written {
            duplicates: offered - samples.len(),
            fresh: samples,
        });
    }
    // The host already reported at this timestamp (a replay, or a second
    // report for the same instant): add only the series it lacks.
    let existing: Vec<u8> = conn
        .prepare_cached("SELECT data FROM metrics_raw_head WHERE host = ?1 AND ts = ?2")?
        .query_row(params![host, ts], |r| r.get(0))?;
    let mut merged = decode_report(&existing).map_err(decode_err)?;
    let known: HashMap<i64, ()> = merged.iter().map(|(id, _)| (*id, ())).collect();
    let fresh: Vec<(i64, f64)> = samples
        .into_iter()
        .filter(|(id, _)| !known.contains_key(id))
        .collect();
    if !fresh.is_empty() {
        merged.extend_from_slice(&fresh);
        let blob = encode_report(&mut merged);
        conn.prepare_cached(
            "UPDATE metrics_raw_head SET samples = ?3, data = ?4 WHERE host = ?1 AND ts = ?2",
        )?
        .execute(params![host, ts, merged.len() as i64, blob])?;
    }
    Ok(Written {
        duplicates: offered - fresh.len(),
        fresh,
    })
}

/// The decoded chunk of one series and window, if there is one.
pub(crate) fn read_chunk(
    conn: &Connection,
    series_id: i64,
    window: i64,
) -> rusqlite::Result<Option<Vec<Sample>>> {
    let blob: Option<Vec<u8>> = conn
        .prepare_cached("SELECT data FROM metrics_raw WHERE series_id = ?1 AND window_start = ?2")?
        .query_row(params![series_id, window], |r| r.get(0))
        .optional()?;
    blob.map(|b| decode_chunk(&b).map_err(decode_err))
        .transpose()
}

/// Replaces (or creates, or with no samples deletes) one chunk.
pub(crate) fn write_chunk(
    conn: &Connection,
    series_id: i64,
    window: i64,
    samples: &[Sample],
) -> rusqlite::Result<()> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        conn.prepare_cached("DELETE FROM metrics_raw WHERE series_id = ?1 AND window_start = ?2")?
            .execute(params![series_id, window])?;
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT INTO metrics_raw (series_id, window_start, first_ts, last_ts, samples, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (series_id, window_start) DO UPDATE SET first_ts = excluded.first_ts,
           last_ts = excluded.last_ts, samples = excluded.samples, data = excluded.data",
    )?
    .execute(params![
        series_id,
        window,
        first.0,
        last.0,
        samples.len() as i64,
        encode_chunk(samples)
    ])?;
    Ok(())
}

/// Raw samples of one series with `from <= ts < to`, oldest first.
pub(crate) fn series_samples(
    conn: &Connection,
    series_id: i64,
    host: &str,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<Sample>> {
    let mut chunked = Vec::new();
    if from < to {
        let mut stmt = conn.prepare_cached(
            "SELECT data FROM metrics_raw WHERE series_id = ?1 AND window_start >= ?2
             AND window_start < ?3 AND last_ts >= ?4 ORDER BY window_start",
        )?;
        let mut rows = stmt.query(params![series_id, window_of(from), to, from])?;
        while let Some(row) = rows.next()? {
            let blob: Vec<u8> = row.get(0)?;
            let chunk = decode_chunk(&blob).map_err(decode_err)?;
            chunked.extend(chunk.into_iter().filter(|s| s.0 >= from && s.0 < to));
        }
    }
    let mut head = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT ts, data FROM metrics_raw_head WHERE host = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts",
    )?;
    let mut rows = stmt.query(params![host, from, to])?;
    while let Some(row) = rows.next()? {
        let blob: Vec<u8> = row.get(1)?;
        if let Some(v) = report_value(&blob, series_id).map_err(decode_err)? {
            head.push((row.get(0)?, v));
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
    conn: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<HashMap<i64, Vec<Sample>>> {
    let mut chunked: HashMap<i64, Vec<Sample>> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT series_id, data FROM metrics_raw WHERE window_start >= ?1 AND window_start < ?2
         AND last_ts >= ?3 ORDER BY series_id, window_start",
    )?;
    let mut rows = stmt.query(params![window_of(from), to, from])?;
    while let Some(row) = rows.next()? {
        let blob: Vec<u8> = row.get(1)?;
        let chunk = decode_chunk(&blob).map_err(decode_err)?;
        chunked
            .entry(row.get(0)?)
            .or_default()
            .extend(chunk.into_iter().filter(|s| s.0 >= from && s.0 < to));
    }
    let mut head: HashMap<i64, Vec<Sample>> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT ts, data FROM metrics_raw_head WHERE ts >= ?1 AND ts < ?2 ORDER BY ts",
    )?;
    let mut rows = stmt.query(params![from, to])?;
    while let Some(row) = rows.next()? {
        let ts: i64 = row.get(0)?;
        let blob: Vec<u8> = row.get(1)?;
        for (id, v) in decode_report(&blob).map_err(decode_err)? {
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
pub(crate) fn compact_step(
    conn: &Connection,
    cutoff: i64,
    max_rows: usize,
) -> rusqlite::Result<Compacted> {
    let host: Option<String> = conn
        .prepare_cached("SELECT host FROM metrics_raw_head WHERE ts < ?1 ORDER BY ts LIMIT 1")?
        .query_row([cutoff], |r| r.get(0))
        .optional()?;
    let Some(host) = host else {
        return Ok(Compacted::default());
    };
    let mut groups: BTreeMap<(i64, i64), Vec<Sample>> = BTreeMap::new();
    let mut rowids = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT rowid, ts, data FROM metrics_raw_head WHERE host = ?1 AND ts < ?2
             ORDER BY ts LIMIT ?3",
        )?;
        let mut rows = stmt.query(params![host, cutoff, max_rows as i64])?;
        while let Some(row) = rows.next()? {
            rowids.push(row.get::<_, i64>(0)?);
            let ts: i64 = row.get(1)?;
            let blob: Vec<u8> = row.get(2)?;
            for (id, v) in decode_report(&blob).map_err(decode_err)? {
                groups.entry((id, window_of(ts))).or_default().push((ts, v));
            }
        }
    }
    let chunks = groups.len();
    for ((id, window), samples) in groups {
        let merged = match read_chunk(conn, id, window)? {
            Some(existing) => merge_samples(&existing, &samples),
            None => samples,
        };
        write_chunk(conn, id, window, &merged)?;
    }
    let mut delete = conn.prepare_cached("DELETE FROM metrics_raw_head WHERE rowid = ?1")?;
    for rowid in &rowids {
        delete.execute([rowid])?;
    }
    Ok(Compacted {
        head_rows: rowids.len(),
        chunks,
    })
}

/// Samples stored in the raw tier, head and chunks together.
pub(crate) fn raw_sample_count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT (SELECT coalesce(sum(samples), 0) FROM metrics_raw)
              + (SELECT coalesce(sum(samples), 0) FROM metrics_raw_head)",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}
