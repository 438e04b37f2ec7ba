//! The forward log's statements on PostgreSQL ([`ForwardDb`] for a
//! transaction), as `store/forward_log.rs` has them for SQLite.
//!
//! Several aggregators append to one log. An identity number is taken when
//! a row is inserted but becomes visible only when its transaction commits,
//! so without care a reader could see number 11 committed, move its cursor
//! past it, and never see number 10 that commits a moment later. Appends
//! (and the creation of a cursor at the log's end) therefore take
//! [`FORWARD_LOCK`] for the rest of their transaction: numbers are handed
//! out and committed one transaction at a time, the last statement of each
//! ingest batch, so the lock is held only for its commit.

use postgres::Transaction;

use crate::db::DbResult;
use crate::forward_log::{ForwardDb, LogRow, RawRow};

/// Taken per transaction by whoever numbers forward-log rows.
pub(crate) const FORWARD_LOCK: i64 = 0x6d6f_6e00_0004;

impl ForwardDb for Transaction<'_> {
    fn forward_append(&mut self, rows: &[LogRow]) -> DbResult<()> {
        let hosts: Vec<&str> = rows.iter().map(|r| r.host.as_str()).collect();
        let times: Vec<i64> = rows.iter().map(|r| r.ts).collect();
        let samples: Vec<i64> = rows.iter().map(|r| r.samples).collect();
        let data: Vec<&[u8]> = rows.iter().map(|r| r.data.as_slice()).collect();
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&FORWARD_LOCK])?;
        self.execute(
            "INSERT INTO forward_log (host, ts, samples, data)
             SELECT host, ts, samples, data FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[])
             WITH ORDINALITY AS r(host, ts, samples, data, n) ORDER BY n",
            &[&hosts, &times, &samples, &data],
        )?;
        Ok(())
    }

    fn forward_after(&mut self, after: i64, limit: i64) -> DbResult<Vec<RawRow>> {
        Ok(self
            .query(
                "SELECT seq, host, ts, data FROM forward_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &limit],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
    }

    fn forward_pending(&mut self, after: i64) -> DbResult<(u64, Option<i64>)> {
        let row = self.query_one(
            "SELECT coalesce(sum(samples), 0)::bigint, min(ts) FROM forward_log WHERE seq > $1",
            &[&after],
        )?;
        Ok((row.get::<_, i64>(0) as u64, row.get(1)))
    }

    fn forward_cursor(&mut self, destination: &str) -> DbResult<Option<i64>> {
        Ok(self
            .query_opt(
                "SELECT seq FROM forward_cursor WHERE destination = $1",
                &[&destination],
            )?
            .map(|r| r.get(0)))
    }

    fn forward_register(&mut self, destination: &str, now_ms: i64) -> DbResult<i64> {
        // Under the lock no append is uncommitted, so the log's end is final.
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&FORWARD_LOCK])?;
        self.execute(
            "INSERT INTO forward_cursor (destination, seq, updated_ms)
             SELECT $1, coalesce(max(seq), 0), $2 FROM forward_log
             ON CONFLICT (destination) DO NOTHING",
            &[&destination, &now_ms],
        )?;
        Ok(self.forward_cursor(destination)?.unwrap_or(0))
    }

    fn forward_advance(&mut self, destination: &str, seq: i64, now_ms: i64) -> DbResult<()> {
        self.execute(
            "UPDATE forward_cursor SET seq = greatest(seq, $2), updated_ms = $3
             WHERE destination = $1",
            &[&destination, &seq, &now_ms],
        )?;
        Ok(())
    }

    fn forward_trim(&mut self, cutoff: i64, limit: i64) -> DbResult<u64> {
        Ok(self.execute(
            "DELETE FROM forward_log WHERE seq IN (SELECT seq FROM forward_log
             WHERE seq <= coalesce((SELECT min(seq) FROM forward_cursor), 9223372036854775807)
                OR ts < $1
             ORDER BY seq LIMIT $2)",
            &[&cutoff, &limit],
        )?)
    }

    fn series_named(&mut self, ids: &[i64]) -> DbResult<Vec<(i64, String, String)>> {
        Ok(self
            .query(
                "SELECT id, name, labels FROM series WHERE id = ANY($1)",
                &[&ids],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
}
