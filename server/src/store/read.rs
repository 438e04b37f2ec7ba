//! Read-only queries on their own connection, safe to run beside the writer
//! (WAL lets readers see the last committed state without blocking it).
//! Each query runs in one read transaction, so it sees one consistent
//! snapshot even while maintenance moves data between tiers.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::config::{Clock, Retention};
use super::query::{self, RangeQuery, SeriesRange, Tier, Watermarks};
use super::rollup::{Bucket, Table, read_buckets};
use super::{StoreError, raw};
use crate::model::SeriesKey;

/// One stored raw sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawPoint {
    pub ts: i64,
    pub value: f64,
}

pub struct Reader {
    conn: Connection,
    retention: Retention,
    clock: Clock,
}

fn read_err(e: rusqlite::Error) -> StoreError {
    StoreError::Read(e.to_string())
}

impl Reader {
    /// Opens the store in `data_dir` read-only. It must already exist.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = super::db_path(data_dir);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Open {
            path: path.clone(),
            message: e.to_string(),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(read_err)?;
        Ok(Self {
            conn,
            retention: Retention::default(),
            clock: Clock::system(),
        })
    }

    /// Uses `retention` and `clock` to choose tiers, as the writer does.
    pub fn with_config(mut self, retention: Retention, clock: Clock) -> Self {
        self.retention = retention;
        self.clock = clock;
        self
    }

    /// Every series of every host, as `(host, series)`.
    pub fn series(&self) -> Result<Vec<(String, SeriesKey)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT host, name, labels FROM series ORDER BY host, name, labels")
            .map_err(read_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(read_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (host, name, labels) = row.map_err(read_err)?;
            let key = SeriesKey::from_parts(&name, &labels)
                .map_err(|e| StoreError::Read(format!("series {name} has bad labels: {e}")))?;
            out.push((host, key));
        }
        Ok(out)
    }

    /// Raw samples of one series with `from <= ts < to`, oldest first.
    pub fn raw(
        &self,
        host: &str,
        key: &SeriesKey,
        from: i64,
        to: i64,
    ) -> Result<Vec<RawPoint>, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(read_err)?;
        let Some(id) = series_id(&tx, host, &key.name, &key.labels_json()).map_err(read_err)?
        else {
            return Ok(Vec::new());
        };
        let samples = raw::series_samples(&tx, id, host, from, to).map_err(read_err)?;
        Ok(samples
            .into_iter()
            .map(|(ts, value)| RawPoint { ts, value })
            .collect())
    }

    /// Total number of raw samples stored.
    pub fn raw_count(&self) -> Result<u64, StoreError> {
        raw::raw_sample_count(&self.conn).map_err(read_err)
    }

    /// The rollup rows materialized so far for one series, with
    /// `from <= start < to`: what `metrics_1m` or `metrics_1h` holds, without
    /// the real-time tail [`Reader::range`] adds. Raw has no rows: `tier`
    /// must be a rollup.
    pub fn materialized(
        &self,
        host: &str,
        key: &SeriesKey,
        tier: Tier,
        from: i64,
        to: i64,
    ) -> Result<Vec<Bucket>, StoreError> {
        let table = match tier {
            Tier::OneMinute => Table::OneMinute,
            Tier::OneHour => Table::OneHour,
            Tier::Raw => {
                return Err(StoreError::Query(
                    "the raw tier has no materialized buckets; ask for 1m or 1h".into(),
                ));
            }
        };
        let tx = self.conn.unchecked_transaction().map_err(read_err)?;
        let Some(id) = series_id(&tx, host, &key.name, &key.labels_json()).map_err(read_err)?
        else {
            return Ok(Vec::new());
        };
        read_buckets(&tx, table, id, from, to).map_err(read_err)
    }

    /// The rollup watermarks `(1m, 1h)`: every bucket before one is
    /// materialized. `None` before the first maintenance run.
    pub fn watermarks(&self) -> Result<(Option<i64>, Option<i64>), StoreError> {
        let get = |name: &str| {
            self.conn
                .query_row(
                    "SELECT value FROM store_state WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(read_err)
        };
        Ok((get("watermark_1m")?, get("watermark_1h")?))
    }

    /// Bytes on disk per table, its indexes included, largest first (from
    /// SQLite's `dbstat`): where the file's space goes.
    pub fn table_bytes(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d
                 LEFT JOIN sqlite_schema m ON m.name = d.name
                 GROUP BY 1 ORDER BY 2 DESC",
            )
            .map_err(read_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(read_err)?;
        rows.collect::<Result<_, _>>().map_err(read_err)
    }

    /// Every host that ever reported, sorted.
    pub fn hosts(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT host FROM hosts ORDER BY host")
            .map_err(read_err)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(read_err)?;
        rows.collect::<Result<_, _>>().map_err(read_err)
    }

    /// One series over a time range, from the tier that suits the range (see
    /// the `query` module). Unknown names and impossible ranges are
    /// [`StoreError::Query`] errors that say what is accepted.
    pub fn range(&self, q: &RangeQuery) -> Result<SeriesRange, StoreError> {
        if q.from > q.to {
            return Err(StoreError::Query(format!(
                "from {} is after to {}; give a range with from before to",
                q.from, q.to
            )));
        }
        let key = SeriesKey::with_labels(q.metric.clone(), q.labels.clone());
        let tx = self.conn.unchecked_transaction().map_err(read_err)?;
        let id = match series_id(&tx, &q.host, &key.name, &key.labels_json()).map_err(read_err)? {
            Some(id) => id,
            None => return Err(self.explain_missing(&q.host, &key)?),
        };
        let tier = query::choose_tier(q.from, q.to, q.step, self.clock.now_ms(), &self.retention)
            .map_err(StoreError::Query)?;
        let state = |name: &str| -> Result<i64, StoreError> {
            tx.query_row(
                "SELECT value FROM store_state WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map(|v| v.unwrap_or(i64::MIN))
            .map_err(read_err)
        };
        let marks = Watermarks {
            one_minute: state("watermark_1m")?,
            one_hour: state("watermark_1h")?,
        };
        let (step_ms, points) =
            query::points(&tx, (id, &q.host), q.from, q.to, tier, q.step, marks)
                .map_err(read_err)?;
        Ok(SeriesRange {
            host: q.host.clone(),
            metric: q.metric.clone(),
            labels: key.labels.iter().cloned().collect(),
            from: q.from,
            to: q.to,
            tier,
            step_ms,
            points,
        })
    }

    /// The error for a series that does not exist, naming what does.
    fn explain_missing(&self, host: &str, key: &SeriesKey) -> Result<StoreError, StoreError> {
        const SHOWN: usize = 12;
        let list = |items: Vec<String>| {
            let more = items.len().saturating_sub(SHOWN);
            let mut text = items.into_iter().take(SHOWN).collect::<Vec<_>>().join(", ");
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
            if text.is_empty() {
                "none".to_owned()
            } else {
                text
            }
        };
        let series: Vec<SeriesKey> = self
            .series()?
            .into_iter()
            .filter(|(h, _)| h == host)
            .map(|(_, k)| k)
            .collect();
        if series.is_empty() {
            return Ok(StoreError::Query(format!(
                "no host {host:?} in the store; known hosts: {}",
                list(self.hosts()?)
            )));
        }
        let same_metric: Vec<String> = series
            .iter()
            .filter(|k| k.name == key.name)
            .map(|k| k.to_string())
            .collect();
        if same_metric.is_empty() {
            let mut names: Vec<String> = series.into_iter().map(|k| k.name).collect();
            names.dedup();
            return Ok(StoreError::Query(format!(
                "host {host} has no metric {:?}; its metrics: {}",
                key.name,
                list(names)
            )));
        }
        Ok(StoreError::Query(format!(
            "host {host} has no series {key}; its {} series: {}",
            key.name,
            list(same_metric)
        )))
    }
}

fn series_id(
    conn: &Connection,
    host: &str,
    name: &str,
    labels: &str,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM series WHERE host = ?1 AND name = ?2 AND labels = ?3")?
        .query_row(params![host, name, labels], |r| r.get(0))
        .optional()
}
