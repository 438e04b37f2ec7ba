//! The forward log behind `--remote-write`: the samples each ingest batch
//! stored for the first time, appended in the batch's own transaction, and
//! one cursor per destination saying how far it has been sent.
//!
//! The one thing to know: a row is in the log exactly when its samples are
//! committed, because both are written by the same transaction; so a
//! forwarder reading behind its cursor sends every accepted sample once it
//! is durable, and a crash, a restart or an outage of the receiver only
//! delays it. Duplicates (a replay storing nothing new) never reach the
//! log. Rows are trimmed by retention once every cursor has passed them, or
//! once they are older than the raw tier (`retention.rs`).
//!
//! Writes go through the writer thread like every other write: the engines
//! append in their `write_batch` (one call each), and cursors move through
//! [`StoreWriter`] in small transactions of their own. Readers read rows and
//! cursors through [`Reader`]. The statements are [`ForwardDb`], implemented
//! here for SQLite and in `postgres/forward_log.rs`.

use std::collections::HashMap;

use domain::model::SeriesKey;
use rusqlite::{OptionalExtension, params};

use super::StoreError;
use super::db::{Db, DbResult};
use super::encoding::{decode_report, encode_report};
use super::read::Reader;
use super::sqlite::Lite;
use super::writer::StoreWriter;

/// Rows read per statement while filling a batch.
const PAGE_ROWS: i64 = 256;

/// One report's new samples, ready to append.
#[derive(Debug, Clone)]
pub(crate) struct LogRow {
    pub host: String,
    pub ts: i64,
    pub samples: i64,
    pub data: Vec<u8>,
}

/// A stored row as read: `(seq, host, ts, data)`.
pub(crate) type RawRow = (i64, String, i64, Vec<u8>);

/// The forward log's statements, on each engine.
pub(crate) trait ForwardDb {
    /// Appends rows, numbered in order.
    fn forward_append(&mut self, rows: &[LogRow]) -> DbResult<()>;
    /// `(seq, host, ts, data)` of up to `limit` rows after `after`, by seq.
    fn forward_after(&mut self, after: i64, limit: i64) -> DbResult<Vec<RawRow>>;
    /// Samples in the rows after `after`, and the oldest of their times.
    fn forward_pending(&mut self, after: i64) -> DbResult<(u64, Option<i64>)>;
    fn forward_cursor(&mut self, destination: &str) -> DbResult<Option<i64>>;
    /// Creates a destination's cursor at the log's end unless it has one;
    /// returns its cursor.
    fn forward_register(&mut self, destination: &str, now_ms: i64) -> DbResult<i64>;
    /// Moves a cursor forward, never back.
    fn forward_advance(&mut self, destination: &str, seq: i64, now_ms: i64) -> DbResult<()>;
    /// Deletes up to `limit` rows that every cursor has passed (all rows when
    /// there is no cursor: nobody will send them) or older than `cutoff`.
    fn forward_trim(&mut self, cutoff: i64, limit: i64) -> DbResult<u64>;
    /// `(id, name, labels)` of the series with these ids.
    fn series_named(&mut self, ids: &[i64]) -> DbResult<Vec<(i64, String, String)>>;
}

/// What an engine's `write_batch` calls: appends a report's new samples
/// when remote-write is configured, and does nothing otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Appender {
    pub enabled: bool,
}

impl Appender {
    /// Appends one report's new samples now (SQLite: a cached statement).
    pub fn append(
        &self,
        db: &mut dyn Db,
        host: &str,
        ts: i64,
        fresh: &[(i64, f64)],
    ) -> DbResult<()> {
        match self.row(host, ts, fresh) {
            Some(row) => db.forward_append(std::slice::from_ref(&row)),
            None => Ok(()),
        }
    }

    /// Rows gathered during one batch and appended in one statement at its
    /// end (PostgreSQL: one round trip).
    pub fn batch(&self) -> Batch {
        Batch {
            appender: *self,
            rows: Vec::new(),
        }
    }

    fn row(&self, host: &str, ts: i64, fresh: &[(i64, f64)]) -> Option<LogRow> {
        if !self.enabled || fresh.is_empty() {
            return None;
        }
        let mut samples = fresh.to_vec();
        Some(LogRow {
            host: host.to_owned(),
            ts,
            samples: samples.len() as i64,
            data: encode_report(&mut samples),
        })
    }
}

/// One batch's rows, see [`Appender::batch`].
pub(crate) struct Batch {
    appender: Appender,
    rows: Vec<LogRow>,
}

impl Batch {
    pub fn note(&mut self, host: &str, ts: i64, fresh: &[(i64, f64)]) {
        self.rows.extend(self.appender.row(host, ts, fresh));
    }

    pub fn write(self, db: &mut dyn Db) -> DbResult<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        db.forward_append(&self.rows)
    }
}

/// One report's new samples as the log holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub seq: i64,
    pub host: String,
    pub ts: i64,
    /// `(series id, value)`, by series id.
    pub samples: Vec<(i64, f64)>,
}

/// What a destination has to send next.
#[derive(Debug, Clone, Default)]
pub struct ForwardBatch {
    /// The destination's cursor when read.
    pub cursor: i64,
    /// Whole reports after the cursor, in order.
    pub entries: Vec<LogEntry>,
    /// More rows wait after these.
    pub more: bool,
}

impl ForwardBatch {
    pub fn samples(&self) -> usize {
        self.entries.iter().map(|e| e.samples.len()).sum()
    }

    /// The cursor once this batch is sent.
    pub fn last_seq(&self) -> i64 {
        self.entries.last().map_or(self.cursor, |e| e.seq)
    }
}

/// How far behind a destination is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub samples: u64,
    /// The time of the oldest report not sent yet.
    pub oldest_ts: Option<i64>,
}

impl Reader {
    /// The reports after `destination`'s cursor, whole, up to `max_samples`
    /// samples (or the first one alone, if it holds more). An unknown
    /// destination reads as having nothing to send.
    pub fn forward_batch(
        &self,
        destination: &str,
        max_samples: usize,
    ) -> Result<ForwardBatch, StoreError> {
        self.read(|db| {
            let Some(cursor) = db.forward_cursor(destination)? else {
                return Ok(ForwardBatch::default());
            };
            let mut batch = ForwardBatch {
                cursor,
                ..ForwardBatch::default()
            };
            let mut after = cursor;
            let mut samples = 0;
            loop {
                let rows = db.forward_after(after, PAGE_ROWS)?;
                let full = rows.len() as i64 == PAGE_ROWS;
                for (seq, host, ts, data) in rows {
                    let decoded = decode_report(&data)?;
                    if !batch.entries.is_empty() && samples + decoded.len() > max_samples {
                        batch.more = true;
                        return Ok(batch);
                    }
                    samples += decoded.len();
                    after = seq;
                    batch.entries.push(LogEntry {
                        seq,
                        host,
                        ts,
                        samples: decoded,
                    });
                }
                if !full {
                    return Ok(batch);
                }
                if samples >= max_samples {
                    batch.more = true;
                    return Ok(batch);
                }
            }
        })
    }

    /// Samples not yet sent to `destination`, and the oldest one's time.
    pub fn forward_pending(&self, destination: &str) -> Result<Pending, StoreError> {
        self.read(|db| {
            let Some(cursor) = db.forward_cursor(destination)? else {
                return Ok(Pending::default());
            };
            let (samples, oldest_ts) = db.forward_pending(cursor)?;
            Ok(Pending { samples, oldest_ts })
        })
    }

    /// The series behind these ids (unknown ids are left out).
    pub fn series_by_id(&self, ids: &[i64]) -> Result<HashMap<i64, SeriesKey>, StoreError> {
        let rows = self.read(|db| db.series_named(ids))?;
        let mut out = HashMap::with_capacity(rows.len());
        for (id, name, labels) in rows {
            let key = SeriesKey::from_parts(&name, &labels)
                .map_err(super::read::BadLabels::error(&name))?;
            out.insert(id, key);
        }
        Ok(out)
    }
}

impl StoreWriter {
    /// Creates `destination`'s cursor at the end of the log unless it has
    /// one, and returns it. Call it before ingest starts, so nothing stored
    /// from then on is missed.
    pub async fn forward_register(&self, destination: &str) -> Result<i64, StoreError> {
        let destination = destination.to_owned();
        let now = domain::time::now_ms();
        self.transact(false, move |db| db.forward_register(&destination, now))
            .await
            .map(|c| c.unwrap_or(0))
    }

    /// Moves `destination`'s cursor to `seq` (never back). `Ok(false)`: this
    /// aggregator does not forward now (on a shared store, another one runs
    /// maintenance and forwarding), and nothing changed.
    pub async fn forward_advance(&self, destination: &str, seq: i64) -> Result<bool, StoreError> {
        let destination = destination.to_owned();
        let now = domain::time::now_ms();
        self.transact(true, move |db| {
            db.forward_advance(&destination, seq, now)?;
            Ok(seq)
        })
        .await
        .map(|done| done.is_some())
    }

    /// Whether this aggregator forwards now: always on SQLite; on a shared
    /// PostgreSQL store, only the one that runs maintenance.
    pub async fn forward_turn(&self) -> Result<bool, StoreError> {
        self.transact(true, |_| Ok(0))
            .await
            .map(|done| done.is_some())
    }
}

impl ForwardDb for Lite<'_> {
    fn forward_append(&mut self, rows: &[LogRow]) -> DbResult<()> {
        let mut stmt = self.0.prepare_cached(
            "INSERT INTO forward_log (host, ts, samples, data) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for r in rows {
            stmt.execute(params![r.host, r.ts, r.samples, r.data])?;
        }
        Ok(())
    }

    fn forward_after(&mut self, after: i64, limit: i64) -> DbResult<Vec<RawRow>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT seq, host, ts, data FROM forward_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn forward_pending(&mut self, after: i64) -> DbResult<(u64, Option<i64>)> {
        Ok(self.0.query_row(
            "SELECT coalesce(sum(samples), 0), min(ts) FROM forward_log WHERE seq > ?1",
            [after],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
        )?)
    }

    fn forward_cursor(&mut self, destination: &str) -> DbResult<Option<i64>> {
        Ok(self
            .0
            .prepare_cached("SELECT seq FROM forward_cursor WHERE destination = ?1")?
            .query_row([destination], |r| r.get(0))
            .optional()?)
    }

    fn forward_register(&mut self, destination: &str, now_ms: i64) -> DbResult<i64> {
        // AUTOINCREMENT never hands out a number at or below the log's end,
        // so an empty log's 0 is as good as its last number. (`WHERE true`
        // tells SQLite's parser the `ON CONFLICT` is the upsert's.)
        self.0.execute(
            "INSERT INTO forward_cursor (destination, seq, updated_ms)
             SELECT ?1, coalesce(max(seq), 0), ?2 FROM forward_log WHERE true
             ON CONFLICT (destination) DO NOTHING",
            params![destination, now_ms],
        )?;
        Ok(self.forward_cursor(destination)?.unwrap_or(0))
    }

    fn forward_advance(&mut self, destination: &str, seq: i64, now_ms: i64) -> DbResult<()> {
        self.0
            .prepare_cached(
                "UPDATE forward_cursor SET seq = max(seq, ?2), updated_ms = ?3
                 WHERE destination = ?1",
            )?
            .execute(params![destination, seq, now_ms])?;
        Ok(())
    }

    fn forward_trim(&mut self, cutoff: i64, limit: i64) -> DbResult<u64> {
        Ok(self.0.execute(
            "DELETE FROM forward_log WHERE seq IN (SELECT seq FROM forward_log
             WHERE seq <= coalesce((SELECT min(seq) FROM forward_cursor), 9223372036854775807)
                OR ts < ?1
             ORDER BY seq LIMIT ?2)",
            params![cutoff, limit],
        )? as u64)
    }

    fn series_named(&mut self, ids: &[i64]) -> DbResult<Vec<(i64, String, String)>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT name, labels FROM series WHERE id = ?1")?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some((name, labels)) = stmt
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
            {
                out.push((id, name, labels));
            }
        }
        Ok(out)
    }
}
