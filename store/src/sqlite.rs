//! The warm store's statements on SQLite ([`Db`] for a rusqlite connection
//! or transaction). Statements are prepared once per connection and cached
//! by rusqlite.

use rusqlite::{Connection, OptionalExtension, params};

use super::db::{Db, DbResult, Expired};
use super::rollup::{Bucket, Table};

/// A SQLite transaction (or a read connection) seen as a [`Db`].
pub(crate) struct Lite<'a>(pub &'a Connection);

/// A rollup row of `table`, its start kept in the table's own unit.
fn row_bucket(table: Table, r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        start: r.get::<_, i64>(at)?.saturating_mul(table.width()),
        min: r.get(at + 1)?,
        max: r.get(at + 2)?,
        sum: r.get(at + 3)?,
        count: r.get::<_, i64>(at + 4)? as u64,
        last: r.get(at + 5)?,
    })
}

/// A bucket start in Unix ms (a multiple of the width: buckets are made
/// with `bucket_of`) as `table`'s key, rounding down like `bucket_of` for a
/// bound that is not one.
fn key_of(table: Table, ms: i64) -> i64 {
    ms.div_euclid(table.width())
}

/// A range's upper bound `to` (exclusive, Unix ms) as `table`'s key: the
/// first bucket starting at or after it.
fn key_above(table: Table, ms: i64) -> i64 {
    let w = table.width();
    ms.div_euclid(w) + i64::from(ms.rem_euclid(w) != 0)
}

impl Lite<'_> {
    /// Inserts a report's row with `insert` unless `elsewhere` finds it in
    /// one of the other two of the inbox, the sealed inbox and the head (a
    /// report is in exactly one); true if it did. Both take `?1` host, `?2` ts. No `elsewhere`
    /// when the caller knows the others cannot hold it.
    fn insert_report(
        &self,
        elsewhere: Option<&str>,
        insert: &str,
        (host, ts, samples, data): (&str, i64, i64, &[u8]),
    ) -> DbResult<bool> {
        if let Some(elsewhere) = elsewhere
            && self
                .0
                .prepare_cached(elsewhere)?
                .exists(params![host, ts])?
        {
            return Ok(false);
        }
        let n = self
            .0
            .prepare_cached(insert)?
            .execute(params![host, ts, samples, data])?;
        Ok(n == 1)
    }

    fn pairs<P: rusqlite::Params>(&self, sql: &str, p: P) -> DbResult<Vec<(i64, Vec<u8>)>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let rows = stmt.query_map(p, |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Db for Lite<'_> {
    fn series_id(&mut self, host: &str, name: &str, labels: &str) -> DbResult<Option<i64>> {
        Ok(self
            .0
            .prepare_cached("SELECT id FROM series WHERE host = ?1 AND name = ?2 AND labels = ?3")?
            .query_row(params![host, name, labels], |r| r.get(0))
            .optional()?)
    }

    fn series_host(&mut self, id: i64) -> DbResult<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT host FROM series WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    fn all_series(&mut self) -> DbResult<Vec<(String, String, String)>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT host, name, labels FROM series ORDER BY host, name, labels")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn hosts(&mut self) -> DbResult<Vec<String>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT host FROM hosts ORDER BY host")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn head_insert(&mut self, host: &str, ts: i64, samples: i64, data: &[u8]) -> DbResult<bool> {
        self.insert_report(
            Some(
                "SELECT 1 FROM metrics_raw_inbox WHERE ts = ?2 AND host = ?1
                 UNION ALL SELECT 1 FROM metrics_raw_sealed
                 WHERE run IN (SELECT run FROM metrics_raw_sealed_runs) AND host = ?1 AND ts = ?2",
            ),
            "INSERT INTO metrics_raw_head (host, ts, samples, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (host, ts) DO NOTHING",
            (host, ts, samples, data),
        )
    }

    fn inbox_insert(
        &mut self,
        host: &str,
        ts: i64,
        samples: i64,
        data: &[u8],
        head_older: bool,
    ) -> DbResult<bool> {
        self.insert_report(
            (!head_older).then_some(
                "SELECT 1 FROM metrics_raw_head WHERE host = ?1 AND ts = ?2
                 UNION ALL SELECT 1 FROM metrics_raw_sealed
                 WHERE run IN (SELECT run FROM metrics_raw_sealed_runs) AND host = ?1 AND ts = ?2",
            ),
            "INSERT INTO metrics_raw_inbox (ts, host, samples, data) VALUES (?2, ?1, ?3, ?4)
             ON CONFLICT (ts, host) DO NOTHING",
            (host, ts, samples, data),
        )
    }

    fn head_data(&mut self, host: &str, ts: i64) -> DbResult<Vec<u8>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT data FROM metrics_raw_inbox WHERE ts = ?2 AND host = ?1
                 UNION ALL SELECT data FROM metrics_raw_sealed
                 WHERE run IN (SELECT run FROM metrics_raw_sealed_runs) AND host = ?1 AND ts = ?2
                 UNION ALL SELECT data FROM metrics_raw_head WHERE host = ?1 AND ts = ?2",
            )?
            .query_row(params![host, ts], |r| r.get(0))?)
    }

    fn head_update(&mut self, host: &str, ts: i64, samples: i64, data: &[u8]) -> DbResult<()> {
        // The row is in one of the three.
        for sql in [
            "UPDATE metrics_raw_inbox SET samples = ?3, data = ?4 WHERE ts = ?2 AND host = ?1",
            "UPDATE metrics_raw_sealed SET samples = ?3, data = ?4
             WHERE run IN (SELECT run FROM metrics_raw_sealed_runs) AND host = ?1 AND ts = ?2",
            "UPDATE metrics_raw_head SET samples = ?3, data = ?4 WHERE host = ?1 AND ts = ?2",
        ] {
            if self
                .0
                .prepare_cached(sql)?
                .execute(params![host, ts, samples, data])?
                == 1
            {
                break;
            }
        }
        Ok(())
    }

    fn head_of_host(&mut self, host: &str, from: i64, to: i64) -> DbResult<Vec<(i64, Vec<u8>)>> {
        self.pairs(
            "SELECT ts, data FROM metrics_raw_head WHERE host = ?1 AND ts >= ?2 AND ts < ?3
             UNION ALL
             SELECT ts, data FROM metrics_raw_sealed
                 WHERE run IN (SELECT run FROM metrics_raw_sealed_runs) AND host = ?1 AND ts >= ?2 AND ts < ?3
             UNION ALL
             SELECT ts, data FROM metrics_raw_inbox WHERE ts >= ?2 AND ts < ?3 AND host = ?1
             ORDER BY ts",
            params![host, from, to],
        )
    }

    fn head_between(&mut self, from: i64, to: i64) -> DbResult<Vec<(i64, Vec<u8>)>> {
        self.pairs(
            "SELECT ts, data FROM metrics_raw_head WHERE ts >= ?1 AND ts < ?2
             UNION ALL SELECT ts, data FROM metrics_raw_sealed WHERE ts >= ?1 AND ts < ?2
             UNION ALL SELECT ts, data FROM metrics_raw_inbox WHERE ts >= ?1 AND ts < ?2
             ORDER BY ts",
            params![from, to],
        )
    }

    fn head_settle(&mut self, before: i64) -> DbResult<usize> {
        super::inbox::settle(self.0, before)
    }

    fn head_oldest_host(&mut self, before: i64) -> DbResult<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT host FROM metrics_raw_head WHERE ts < ?1 ORDER BY ts LIMIT 1")?
            .query_row([before], |r| r.get(0))
            .optional()?)
    }

    fn head_rows(&mut self, host: &str, before: i64, limit: i64) -> DbResult<Vec<(i64, Vec<u8>)>> {
        self.pairs(
            "SELECT ts, data FROM metrics_raw_head WHERE host = ?1 AND ts < ?2
             ORDER BY ts LIMIT ?3",
            params![host, before, limit],
        )
    }

    fn head_delete(&mut self, host: &str, ts: &[i64]) -> DbResult<()> {
        let mut stmt = self
            .0
            .prepare_cached("DELETE FROM metrics_raw_head WHERE host = ?1 AND ts = ?2")?;
        for t in ts {
            stmt.execute(params![host, t])?;
        }
        Ok(())
    }

    fn chunk(&mut self, id: i64, window: i64) -> DbResult<Option<Vec<u8>>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT data FROM metrics_raw WHERE series_id = ?1 AND window_start = ?2",
            )?
            .query_row(params![id, window], |r| r.get(0))
            .optional()?)
    }

    fn chunk_put(
        &mut self,
        id: i64,
        window: i64,
        (first, last): (i64, i64),
        samples: i64,
        data: &[u8],
    ) -> DbResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO metrics_raw (series_id, window_start, first_ts, last_ts, samples, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (series_id, window_start) DO UPDATE SET first_ts = excluded.first_ts,
                   last_ts = excluded.last_ts, samples = excluded.samples, data = excluded.data",
            )?
            .execute(params![id, window, first, last, samples, data])?;
        Ok(())
    }

    fn chunk_delete(&mut self, id: i64, window: i64) -> DbResult<()> {
        self.0
            .prepare_cached("DELETE FROM metrics_raw WHERE series_id = ?1 AND window_start = ?2")?
            .execute(params![id, window])?;
        Ok(())
    }

    fn chunks_of_series(
        &mut self,
        id: i64,
        window_from: i64,
        to: i64,
        last_from: i64,
    ) -> DbResult<Vec<Vec<u8>>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT data FROM metrics_raw WHERE series_id = ?1 AND window_start >= ?2
             AND window_start < ?3 AND last_ts >= ?4 ORDER BY window_start",
        )?;
        let rows = stmt.query_map(params![id, window_from, to, last_from], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn chunks_between(
        &mut self,
        window_from: i64,
        to: i64,
        last_from: i64,
    ) -> DbResult<Vec<(i64, Vec<u8>)>> {
        self.pairs(
            "SELECT series_id, data FROM metrics_raw WHERE window_start >= ?1 AND window_start < ?2
             AND last_ts >= ?3 ORDER BY series_id, window_start",
            params![window_from, to, last_from],
        )
    }

    fn raw_sample_count(&mut self) -> DbResult<u64> {
        Ok(self.0.query_row(
            "SELECT (SELECT coalesce(sum(samples), 0) FROM metrics_raw)
                  + (SELECT coalesce(sum(samples), 0) FROM metrics_raw_head)
                  + (SELECT coalesce(sum(samples), 0) FROM metrics_raw_sealed)
                  + (SELECT coalesce(sum(samples), 0) FROM metrics_raw_inbox)",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    fn oldest_raw(&mut self) -> DbResult<Option<i64>> {
        Ok(self.0.query_row(
            "SELECT min(t) FROM (SELECT min(ts) AS t FROM metrics_raw_head
                                 UNION ALL SELECT min(ts) FROM metrics_raw_sealed
                                 UNION ALL SELECT min(ts) FROM metrics_raw_inbox
                                 UNION ALL SELECT min(first_ts) FROM metrics_raw)",
            [],
            |r| r.get(0),
        )?)
    }

    fn bucket_put(&mut self, table: Table, id: i64, b: &Bucket) -> DbResult<()> {
        let sql = format!(
            "INSERT OR REPLACE INTO {} (series_id, {}, min, max, sum, count, last)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            table.name(),
            table.sqlite_key()
        );
        self.0.prepare_cached(&sql)?.execute(params![
            id,
            key_of(table, b.start),
            b.min,
            b.max,
            b.sum,
            b.count as i64,
            b.last
        ])?;
        Ok(())
    }

    fn bucket_delete(&mut self, table: Table, id: i64, bucket: i64) -> DbResult<()> {
        let sql = format!(
            "DELETE FROM {} WHERE series_id = ?1 AND {} = ?2",
            table.name(),
            table.sqlite_key()
        );
        self.0
            .prepare_cached(&sql)?
            .execute(params![id, key_of(table, bucket)])?;
        Ok(())
    }

    fn buckets(&mut self, table: Table, id: i64, from: i64, to: i64) -> DbResult<Vec<Bucket>> {
        let key = table.sqlite_key();
        let sql = format!(
            "SELECT {key}, min, max, sum, count, last FROM {}
             WHERE series_id = ?1 AND {key} >= ?2 AND {key} < ?3 ORDER BY {key}",
            table.name()
        );
        let mut stmt = self.0.prepare_cached(&sql)?;
        let range = params![id, key_above(table, from), key_above(table, to)];
        let rows = stmt.query_map(range, |r| row_bucket(table, r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn buckets_between(
        &mut self,
        table: Table,
        from: i64,
        to: i64,
    ) -> DbResult<Vec<(i64, Bucket)>> {
        // The primary key is the only index: one range of it per series
        // (CROSS JOIN keeps `series` the outer loop).
        let key = table.sqlite_key();
        let sql = format!(
            "SELECT m.series_id, m.{key}, m.min, m.max, m.sum, m.count, m.last
             FROM series s CROSS JOIN {} m ON m.series_id = s.id
             WHERE m.{key} >= ?1 AND m.{key} < ?2 ORDER BY s.id, m.{key}",
            table.name()
        );
        let mut stmt = self.0.prepare_cached(&sql)?;
        let range = params![key_above(table, from), key_above(table, to)];
        let rows = stmt.query_map(range, |r| Ok((r.get(0)?, row_bucket(table, r, 1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn oldest_bucket(&mut self, table: Table) -> DbResult<Option<i64>> {
        // The oldest of each series' first rows, one seek each: a plain
        // min() would read the whole table, having no index on the time.
        let key = table.sqlite_key();
        let sql = format!(
            "SELECT min((SELECT {key} FROM {} WHERE series_id = s.id ORDER BY {key} LIMIT 1))
             FROM series s",
            table.name()
        );
        let oldest: Option<i64> = self.0.query_row(&sql, [], |r| r.get(0))?;
        Ok(oldest.map(|k| k.saturating_mul(table.width())))
    }

    fn dirty_mark(&mut self, table: Table, id: i64, bucket: i64) -> DbResult<()> {
        self.0
            .prepare_cached(
                "INSERT OR IGNORE INTO rollup_dirty (tier, series_id, bucket) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![table.dirty_tier(), id, bucket])?;
        Ok(())
    }

    fn dirty_of(&mut self, table: Table, id: i64, from: i64, to: i64) -> DbResult<Vec<i64>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT bucket FROM rollup_dirty WHERE tier = ?1 AND series_id = ?2
             AND bucket >= ?3 AND bucket < ?4 ORDER BY bucket",
        )?;
        let rows = stmt.query_map(params![table.dirty_tier(), id, from, to], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn dirty_list(&mut self, table: Table, limit: i64) -> DbResult<Vec<(i64, i64)>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT series_id, bucket FROM rollup_dirty WHERE tier = ?1
             ORDER BY series_id, bucket LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![table.dirty_tier(), limit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn dirty_clear(&mut self, table: Table, id: i64, bucket: i64) -> DbResult<()> {
        self.0
            .prepare_cached(
                "DELETE FROM rollup_dirty WHERE tier = ?1 AND series_id = ?2 AND bucket = ?3",
            )?
            .execute(params![table.dirty_tier(), id, bucket])?;
        Ok(())
    }

    fn state(&mut self, name: &str) -> DbResult<Option<i64>> {
        Ok(self
            .0
            .prepare_cached("SELECT value FROM store_state WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    fn set_state(&mut self, name: &str, value: i64) -> DbResult<()> {
        self.0
            .prepare_cached("INSERT OR REPLACE INTO store_state (name, value) VALUES (?1, ?2)")?
            .execute(params![name, value])?;
        Ok(())
    }

    fn chunks_expire(&mut self, cutoff: i64, limit: i64) -> DbResult<Expired> {
        let samples: i64 = self.0.query_row(
            "SELECT coalesce(sum(samples), 0) FROM (SELECT samples FROM metrics_raw
             WHERE window_start < ?1 AND last_ts < ?1 LIMIT ?2)",
            params![cutoff, limit],
            |r| r.get(0),
        )?;
        let rows = self.0.execute(
            "DELETE FROM metrics_raw WHERE rowid IN (SELECT rowid FROM metrics_raw
             WHERE window_start < ?1 AND last_ts < ?1 LIMIT ?2)",
            params![cutoff, limit],
        )?;
        Ok(Expired {
            rows: rows as u64,
            samples: samples as u64,
        })
    }

    fn chunks_straddling(&mut self, cutoff: i64, limit: i64) -> DbResult<Vec<(i64, i64, Vec<u8>)>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT series_id, window_start, data FROM metrics_raw
             WHERE window_start < ?1 AND first_ts < ?1 LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![cutoff, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn head_expire(&mut self, cutoff: i64, limit: i64) -> DbResult<Expired> {
        let samples: i64 = self.0.query_row(
            "SELECT coalesce(sum(samples), 0) FROM (SELECT samples FROM metrics_raw_head
             WHERE ts < ?1 LIMIT ?2)",
            params![cutoff, limit],
            |r| r.get(0),
        )?;
        let rows = self.0.execute(
            "DELETE FROM metrics_raw_head WHERE rowid IN (SELECT rowid FROM metrics_raw_head
             WHERE ts < ?1 LIMIT ?2)",
            params![cutoff, limit],
        )?;
        Ok(Expired {
            rows: rows as u64,
            samples: samples as u64,
        })
    }

    fn buckets_expire(&mut self, table: Table, cutoff: i64, limit: i64) -> DbResult<u64> {
        // Walks the primary key one series at a time (there is no index on
        // the time alone; CROSS JOIN keeps `series` the outer loop).
        let (name, key) = (table.name(), table.sqlite_key());
        let sql = format!(
            "DELETE FROM {name} WHERE (series_id, {key}) IN
             (SELECT m.series_id, m.{key} FROM series s CROSS JOIN {name} m
              ON m.series_id = s.id AND m.{key} < ?1 LIMIT ?2)"
        );
        Ok(self
            .0
            .prepare_cached(&sql)?
            .execute(params![key_above(table, cutoff), limit])? as u64)
    }

    fn dirty_expire(&mut self, cut_1m: i64, cut_1h: i64) -> DbResult<()> {
        self.0.execute(
            "DELETE FROM rollup_dirty WHERE (tier = 1 AND bucket < ?1) OR (tier = 60 AND bucket < ?2)",
            params![cut_1m, cut_1h],
        )?;
        Ok(())
    }

    fn activity_put(
        &mut self,
        host: &str,
        kind: &str,
        minute: i64,
        ts: i64,
        body: &[u8],
    ) -> DbResult<bool> {
        Ok(self
            .0
            .prepare_cached(
                "INSERT OR IGNORE INTO activity (host, kind, minute, ts, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![host, kind, minute, ts, body])?
            == 1)
    }

    fn activity_at(
        &mut self,
        host: &str,
        kind: &str,
        since: i64,
        at: i64,
    ) -> DbResult<Option<(i64, Vec<u8>)>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT ts, body FROM activity
                 WHERE host = ?1 AND kind = ?2 AND minute BETWEEN ?3 AND ?4 AND ts <= ?4
                 ORDER BY minute DESC LIMIT 1",
            )?
            .query_row(
                params![host, kind, since - since.rem_euclid(60_000), at],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn activity_expire(&mut self, cutoff: i64, limit: i64) -> DbResult<u64> {
        Ok(self
            .0
            .prepare_cached(
                "DELETE FROM activity WHERE (host, kind, minute) IN
                 (SELECT host, kind, minute FROM activity WHERE minute < ?1 LIMIT ?2)",
            )?
            .execute(params![cutoff, limit])? as u64)
    }
}
