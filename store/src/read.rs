//! Read-only queries on their own connection, safe to run beside the writer
//! (WAL lets readers see the last committed state without blocking it).
//! Each query runs in one read transaction, so it sees one consistent
//! snapshot even while maintenance moves data between tiers.

use std::path::Path;
use std::sync::Mutex;

use domain::model::SeriesKey;
use rusqlite::{Connection, OpenFlags};
use wire::activity::ActivityKind;

use super::activity::StoredTable;
use super::config::{Clock, Retention};
use super::db::{Db, DbError, DbResult};
use super::query::{self, RangeQuery, SeriesRange, Tier, Watermarks};
use super::rollup::{Bucket, Table};
use super::sqlite::Lite;
use super::{StoreError, postgres, raw};

/// One stored raw sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawPoint {
    pub ts: i64,
    pub value: f64,
}

/// Reads the warm store. Each call runs in one read transaction of its own.
pub struct Reader {
    conn: ReadConn,
    retention: Retention,
    clock: Clock,
}

enum ReadConn {
    Sqlite(Connection),
    /// A pooled connection; the lock only satisfies `&self` methods, a
    /// reader is used by one thread at a time.
    Postgres(Box<Mutex<postgres::PooledClient>>),
}

fn read_err(e: DbError) -> StoreError {
    StoreError::Read(super::cause(e))
}

/// A stored series whose labels are not the JSON object they were written
/// as (a bug, or a hand edit).
#[derive(Debug, thiserror::Error)]
#[error("series {name} has bad labels: {source}")]
pub(super) struct BadLabels {
    pub name: String,
    pub source: serde_json::Error,
}

impl BadLabels {
    pub fn error(name: &str) -> impl FnOnce(serde_json::Error) -> StoreError {
        move |source| {
            StoreError::Read(super::cause(BadLabels {
                name: name.to_owned(),
                source,
            }))
        }
    }
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
            source: super::cause(e),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| read_err(e.into()))?;
        Ok(Self::with_conn(ReadConn::Sqlite(conn)))
    }

    /// A reader on a pooled PostgreSQL connection.
    pub(crate) fn postgres(client: postgres::PooledClient) -> Self {
        Self::with_conn(ReadConn::Postgres(Box::new(Mutex::new(client))))
    }

    fn with_conn(conn: ReadConn) -> Self {
        Self {
            conn,
            retention: Retention::default(),
            clock: Clock::system(),
        }
    }

    /// Uses `retention` and `clock` to choose tiers, as the writer does.
    pub fn with_config(mut self, retention: Retention, clock: Clock) -> Self {
        self.retention = retention;
        self.clock = clock;
        self
    }

    /// Runs `f` in one read transaction: one consistent snapshot, even
    /// while maintenance moves data between tiers.
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Db) -> DbResult<T>,
    ) -> Result<T, StoreError> {
        match &self.conn {
            ReadConn::Sqlite(conn) => {
                let tx = conn
                    .unchecked_transaction()
                    .map_err(|e| read_err(e.into()))?;
                f(&mut Lite(&tx)).map_err(read_err)
            }
            ReadConn::Postgres(client) => {
                let mut client = client.lock().unwrap_or_else(|p| p.into_inner());
                postgres::read(&mut client, f).map_err(read_err)
            }
        }
    }

    /// Every series of every host, as `(host, series)`.
    pub fn series(&self) -> Result<Vec<(String, SeriesKey)>, StoreError> {
        let rows = self.read(|db| db.all_series())?;
        let mut out = Vec::with_capacity(rows.len());
        for (host, name, labels) in rows {
            let key = SeriesKey::from_parts(&name, &labels).map_err(BadLabels::error(&name))?;
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
        let samples = self.read(|db| {
            let Some(id) = db.series_id(host, &key.name, &key.labels_json())? else {
                return Ok(Vec::new());
            };
            raw::series_samples(db, id, host, from, to)
        })?;
        Ok(samples
            .into_iter()
            .map(|(ts, value)| RawPoint { ts, value })
            .collect())
    }

    /// Total number of raw samples stored.
    pub fn raw_count(&self) -> Result<u64, StoreError> {
        self.read(|db| db.raw_sample_count())
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
        self.read(|db| {
            let Some(id) = db.series_id(host, &key.name, &key.labels_json())? else {
                return Ok(Vec::new());
            };
            db.buckets(table, id, from, to)
        })
    }

    /// The rollup watermarks `(1m, 1h)`: every bucket before one is
    /// materialized. `None` before the first maintenance run.
    pub fn watermarks(&self) -> Result<(Option<i64>, Option<i64>), StoreError> {
        self.read(|db| Ok((db.state("watermark_1m")?, db.state("watermark_1h")?)))
    }

    /// Bytes on disk per table, its indexes included, largest first: where
    /// the database's space goes.
    pub fn table_bytes(&self) -> Result<Vec<(String, u64)>, StoreError> {
        match &self.conn {
            ReadConn::Sqlite(conn) => {
                let mut stmt = conn
                    .prepare(
                        "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d
                         LEFT JOIN sqlite_schema m ON m.name = d.name
                         GROUP BY 1 ORDER BY 2 DESC",
                    )
                    .map_err(|e| read_err(e.into()))?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
                    .map_err(|e| read_err(e.into()))?;
                rows.collect::<Result<_, _>>()
                    .map_err(|e| read_err(e.into()))
            }
            ReadConn::Postgres(client) => {
                let mut client = client.lock().unwrap_or_else(|p| p.into_inner());
                postgres::table_bytes(&mut client).map_err(read_err)
            }
        }
    }

    /// The newest process or cgroup table of `host` taken at or before
    /// `at` (Unix ms), if one was kept within
    /// [`LOOK_BACK_MS`](super::LOOK_BACK_MS) of it.
    pub fn activity_at(
        &self,
        host: &str,
        kind: ActivityKind,
        at: i64,
    ) -> Result<Option<StoredTable>, StoreError> {
        self.read(|db| super::activity::at(db, host, kind, at))
    }

    /// Every host that ever reported, sorted.
    pub fn hosts(&self) -> Result<Vec<String>, StoreError> {
        self.read(|db| db.hosts())
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
        let tier = query::choose_tier(q.from, q.to, q.step, self.clock.now_ms(), &self.retention)
            .map_err(StoreError::Query)?;
        let found = self.read(|db| {
            let Some(id) = db.series_id(&q.host, &key.name, &key.labels_json())? else {
                return Ok(None);
            };
            let marks = Watermarks {
                one_minute: db.state("watermark_1m")?.unwrap_or(i64::MIN),
                one_hour: db.state("watermark_1h")?.unwrap_or(i64::MIN),
            };
            query::points(db, (id, &q.host), q.from, q.to, tier, q.step, marks).map(Some)
        })?;
        let Some((step_ms, points)) = found else {
            return Err(self.explain_missing(&q.host, &key)?);
        };
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
            let mut names: Vec<String> = series.into_iter().map(|k| k.name.clone()).collect();
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
