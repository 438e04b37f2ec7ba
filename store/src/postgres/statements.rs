//! The warm store's statements on PostgreSQL: [`Db`] for a transaction of
//! the `postgres` client. Same tables, same meaning as SQLite's
//! (`migrations/postgres/`); integers are `bigint`, blobs `bytea`.

use postgres::Transaction;
use postgres::types::ToSql;

use crate::db::{Db, DbResult, Expired};
use crate::rollup::{Bucket, Table};

fn bucket_at(r: &postgres::Row, at: usize) -> Bucket {
    Bucket {
        start: r.get(at),
        min: r.get(at + 1),
        max: r.get(at + 2),
        sum: r.get(at + 3),
        count: r.get::<_, i64>(at + 4) as u64,
        last: r.get(at + 5),
    }
}

fn one<T: for<'a> postgres::types::FromSql<'a>>(
    tx: &mut Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> DbResult<Option<T>> {
    Ok(tx.query_opt(sql, params)?.map(|r| r.get(0)))
}

fn pairs(
    tx: &mut Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> DbResult<Vec<(i64, Vec<u8>)>> {
    Ok(tx
        .query(sql, params)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

impl Db for Transaction<'_> {
    fn series_id(&mut self, host: &str, name: &str, labels: &str) -> DbResult<Option<i64>> {
        one(
            self,
            "SELECT id FROM series WHERE host = $1 AND name = $2 AND labels = $3",
            &[&host, &name, &labels],
        )
    }

    fn series_host(&mut self, id: i64) -> DbResult<Option<String>> {
        one(self, "SELECT host FROM series WHERE id = $1", &[&id])
    }

    fn all_series(&mut self) -> DbResult<Vec<(String, String, String)>> {
        Ok(self
            .query(
                "SELECT host, name, labels FROM series ORDER BY host, name, labels",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    fn hosts(&mut self) -> DbResult<Vec<String>> {
        Ok(self
            .query("SELECT host FROM hosts ORDER BY host", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn head_insert(&mut self, host: &str, ts: i64, samples: i64, data: &[u8]) -> DbResult<bool> {
        let n = self.execute(
            "INSERT INTO metrics_raw_head (host, ts, samples, data) VALUES ($1, $2, $3, $4)
             ON CONFLICT (host, ts) DO NOTHING",
            &[&host, &ts, &samples, &data],
        )?;
        Ok(n == 1)
    }

    fn head_data(&mut self, host: &str, ts: i64) -> DbResult<Vec<u8>> {
        Ok(self
            .query_one(
                "SELECT data FROM metrics_raw_head WHERE host = $1 AND ts = $2",
                &[&host, &ts],
            )?
            .get(0))
    }

    fn head_update(&mut self, host: &str, ts: i64, samples: i64, data: &[u8]) -> DbResult<()> {
        self.execute(
            "UPDATE metrics_raw_head SET samples = $3, data = $4 WHERE host = $1 AND ts = $2",
            &[&host, &ts, &samples, &data],
        )?;
        Ok(())
    }

    fn head_of_host(&mut self, host: &str, from: i64, to: i64) -> DbResult<Vec<(i64, Vec<u8>)>> {
        pairs(
            self,
            "SELECT ts, data FROM metrics_raw_head WHERE host = $1 AND ts >= $2 AND ts < $3
             ORDER BY ts",
            &[&host, &from, &to],
        )
    }

    fn head_between(&mut self, from: i64, to: i64) -> DbResult<Vec<(i64, Vec<u8>)>> {
        pairs(
            self,
            "SELECT ts, data FROM metrics_raw_head WHERE ts >= $1 AND ts < $2 ORDER BY ts",
            &[&from, &to],
        )
    }

    fn head_oldest_host(&mut self, before: i64) -> DbResult<Option<String>> {
        one(
            self,
            "SELECT host FROM metrics_raw_head WHERE ts < $1 ORDER BY ts LIMIT 1",
            &[&before],
        )
    }

    fn head_rows(&mut self, host: &str, before: i64, limit: i64) -> DbResult<Vec<(i64, Vec<u8>)>> {
        pairs(
            self,
            "SELECT ts, data FROM metrics_raw_head WHERE host = $1 AND ts < $2
             ORDER BY ts LIMIT $3",
            &[&host, &before, &limit],
        )
    }

    fn head_delete(&mut self, host: &str, ts: &[i64]) -> DbResult<()> {
        self.execute(
            "DELETE FROM metrics_raw_head WHERE host = $1 AND ts = ANY($2)",
            &[&host, &ts],
        )?;
        Ok(())
    }

    fn chunk(&mut self, id: i64, window: i64) -> DbResult<Option<Vec<u8>>> {
        one(
            self,
            "SELECT data FROM metrics_raw WHERE series_id = $1 AND window_start = $2",
            &[&id, &window],
        )
    }

    fn chunk_put(
        &mut self,
        id: i64,
        window: i64,
        (first, last): (i64, i64),
        samples: i64,
        data: &[u8],
    ) -> DbResult<()> {
        self.execute(
            "INSERT INTO metrics_raw (series_id, window_start, first_ts, last_ts, samples, data)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (series_id, window_start) DO UPDATE SET first_ts = excluded.first_ts,
               last_ts = excluded.last_ts, samples = excluded.samples, data = excluded.data",
            &[&id, &window, &first, &last, &samples, &data],
        )?;
        Ok(())
    }

    fn chunk_delete(&mut self, id: i64, window: i64) -> DbResult<()> {
        self.execute(
            "DELETE FROM metrics_raw WHERE series_id = $1 AND window_start = $2",
            &[&id, &window],
        )?;
        Ok(())
    }

    fn chunks_of_series(
        &mut self,
        id: i64,
        window_from: i64,
        to: i64,
        last_from: i64,
    ) -> DbResult<Vec<Vec<u8>>> {
        Ok(self
            .query(
                "SELECT data FROM metrics_raw WHERE series_id = $1 AND window_start >= $2
                 AND window_start < $3 AND last_ts >= $4 ORDER BY window_start",
                &[&id, &window_from, &to, &last_from],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn chunks_between(
        &mut self,
        window_from: i64,
        to: i64,
        last_from: i64,
    ) -> DbResult<Vec<(i64, Vec<u8>)>> {
        pairs(
            self,
            "SELECT series_id, data FROM metrics_raw WHERE window_start >= $1 AND window_start < $2
             AND last_ts >= $3 ORDER BY series_id, window_start",
            &[&window_from, &to, &last_from],
        )
    }

    fn raw_sample_count(&mut self) -> DbResult<u64> {
        let n: i64 = self
            .query_one(
                "SELECT ((SELECT coalesce(sum(samples), 0) FROM metrics_raw)
                      + (SELECT coalesce(sum(samples), 0) FROM metrics_raw_head))::bigint",
                &[],
            )?
            .get(0);
        Ok(n as u64)
    }

    fn oldest_raw(&mut self) -> DbResult<Option<i64>> {
        Ok(self
            .query_one(
                "SELECT least((SELECT min(ts) FROM metrics_raw_head),
                              (SELECT min(first_ts) FROM metrics_raw))",
                &[],
            )?
            .get(0))
    }

    fn bucket_put(&mut self, table: Table, id: i64, b: &Bucket) -> DbResult<()> {
        let sql = format!(
            "INSERT INTO {} (series_id, bucket, min, max, sum, count, last)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (series_id, bucket) DO UPDATE SET min = excluded.min,
               max = excluded.max, sum = excluded.sum, count = excluded.count,
               last = excluded.last",
            table.name()
        );
        let count = b.count as i64;
        self.execute(
            &sql,
            &[&id, &b.start, &b.min, &b.max, &b.sum, &count, &b.last],
        )?;
        Ok(())
    }

    fn bucket_delete(&mut self, table: Table, id: i64, bucket: i64) -> DbResult<()> {
        let sql = format!(
            "DELETE FROM {} WHERE series_id = $1 AND bucket = $2",
            table.name()
        );
        self.execute(&sql, &[&id, &bucket])?;
        Ok(())
    }

    fn buckets(&mut self, table: Table, id: i64, from: i64, to: i64) -> DbResult<Vec<Bucket>> {
        let sql = format!(
            "SELECT bucket, min, max, sum, count, last FROM {}
             WHERE series_id = $1 AND bucket >= $2 AND bucket < $3 ORDER BY bucket",
            table.name()
        );
        Ok(self
            .query(&sql, &[&id, &from, &to])?
            .iter()
            .map(|r| bucket_at(r, 0))
            .collect())
    }

    fn buckets_between(
        &mut self,
        table: Table,
        from: i64,
        to: i64,
    ) -> DbResult<Vec<(i64, Bucket)>> {
        let sql = format!(
            "SELECT series_id, bucket, min, max, sum, count, last FROM {}
             WHERE bucket >= $1 AND bucket < $2 ORDER BY series_id, bucket",
            table.name()
        );
        Ok(self
            .query(&sql, &[&from, &to])?
            .iter()
            .map(|r| (r.get(0), bucket_at(r, 1)))
            .collect())
    }

    fn oldest_bucket(&mut self, table: Table) -> DbResult<Option<i64>> {
        let sql = format!("SELECT min(bucket) FROM {}", table.name());
        Ok(self.query_one(&sql, &[])?.get(0))
    }

    fn dirty_mark(&mut self, table: Table, id: i64, bucket: i64) -> DbResult<()> {
        self.execute(
            "INSERT INTO rollup_dirty (tier, series_id, bucket) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&table.dirty_tier(), &id, &bucket],
        )?;
        Ok(())
    }

    fn dirty_of(&mut self, table: Table, id: i64, from: i64, to: i64) -> DbResult<Vec<i64>> {
        Ok(self
            .query(
                "SELECT bucket FROM rollup_dirty WHERE tier = $1 AND series_id = $2
                 AND bucket >= $3 AND bucket < $4 ORDER BY bucket",
                &[&table.dirty_tier(), &id, &from, &to],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn dirty_list(&mut self, table: Table, limit: i64) -> DbResult<Vec<(i64, i64)>> {
        Ok(self
            .query(
                "SELECT series_id, bucket FROM rollup_dirty WHERE tier = $1
                 ORDER BY series_id, bucket LIMIT $2",
                &[&table.dirty_tier(), &limit],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn dirty_clear(&mut self, table: Table, id: i64, bucket: i64) -> DbResult<()> {
        self.execute(
            "DELETE FROM rollup_dirty WHERE tier = $1 AND series_id = $2 AND bucket = $3",
            &[&table.dirty_tier(), &id, &bucket],
        )?;
        Ok(())
    }

    fn state(&mut self, name: &str) -> DbResult<Option<i64>> {
        one(
            self,
            "SELECT value FROM store_state WHERE name = $1",
            &[&name],
        )
    }

    fn set_state(&mut self, name: &str, value: i64) -> DbResult<()> {
        self.execute(
            "INSERT INTO store_state (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&name, &value],
        )?;
        Ok(())
    }

    fn chunks_expire(&mut self, cutoff: i64, limit: i64) -> DbResult<Expired> {
        let rows = self.query(
            "DELETE FROM metrics_raw WHERE ctid IN (SELECT ctid FROM metrics_raw
             WHERE window_start < $1 AND last_ts < $1 LIMIT $2) RETURNING samples",
            &[&cutoff, &limit],
        )?;
        Ok(Expired {
            rows: rows.len() as u64,
            samples: rows.iter().map(|r| r.get::<_, i64>(0) as u64).sum(),
        })
    }

    fn chunks_straddling(&mut self, cutoff: i64, limit: i64) -> DbResult<Vec<(i64, i64, Vec<u8>)>> {
        Ok(self
            .query(
                "SELECT series_id, window_start, data FROM metrics_raw
                 WHERE window_start < $1 AND first_ts < $1 LIMIT $2",
                &[&cutoff, &limit],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    fn head_expire(&mut self, cutoff: i64, limit: i64) -> DbResult<Expired> {
        let rows = self.query(
            "DELETE FROM metrics_raw_head WHERE ctid IN (SELECT ctid FROM metrics_raw_head
             WHERE ts < $1 LIMIT $2) RETURNING samples",
            &[&cutoff, &limit],
        )?;
        Ok(Expired {
            rows: rows.len() as u64,
            samples: rows.iter().map(|r| r.get::<_, i64>(0) as u64).sum(),
        })
    }

    fn buckets_expire(&mut self, table: Table, cutoff: i64, limit: i64) -> DbResult<u64> {
        let name = table.name();
        let sql = format!(
            "DELETE FROM {name} WHERE ctid IN
             (SELECT ctid FROM {name} WHERE bucket < $1 LIMIT $2)"
        );
        Ok(self.execute(&sql, &[&cutoff, &limit])?)
    }

    fn dirty_expire(&mut self, cut_1m: i64, cut_1h: i64) -> DbResult<()> {
        self.execute(
            "DELETE FROM rollup_dirty WHERE (tier = 1 AND bucket < $1) OR (tier = 60 AND bucket < $2)",
            &[&cut_1m, &cut_1h],
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
        Ok(self.execute(
            "INSERT INTO activity (host, kind, minute, ts, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (host, kind, minute) DO NOTHING",
            &[&host, &kind, &minute, &ts, &body],
        )? == 1)
    }

    fn activity_at(
        &mut self,
        host: &str,
        kind: &str,
        since: i64,
        at: i64,
    ) -> DbResult<Option<(i64, Vec<u8>)>> {
        let since = since - since.rem_euclid(60_000);
        Ok(self
            .query_opt(
                "SELECT ts, body FROM activity
                 WHERE host = $1 AND kind = $2 AND minute BETWEEN $3 AND $4 AND ts <= $4
                 ORDER BY minute DESC LIMIT 1",
                &[&host, &kind, &since, &at],
            )?
            .map(|r| (r.get(0), r.get(1))))
    }

    fn activity_expire(&mut self, cutoff: i64, limit: i64) -> DbResult<u64> {
        Ok(self.execute(
            "DELETE FROM activity WHERE ctid IN
             (SELECT ctid FROM activity WHERE minute < $1 LIMIT $2)",
            &[&cutoff, &limit],
        )?)
    }
}
