//! Read-only queries on their own connection, safe to run beside the writer
//! (WAL lets readers see the last committed state without blocking it).

use std::path::Path;

use rusqlite::{Connection, OpenFlags, params};

use super::StoreError;
use crate::model::SeriesKey;

/// One stored raw sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawPoint {
    pub ts: i64,
    pub value: f64,
}

pub struct Reader {
    conn: Connection,
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
        Ok(Self { conn })
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
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.ts, r.value FROM metrics_raw r JOIN series s ON s.id = r.series_id
                 WHERE s.host = ?1 AND s.name = ?2 AND s.labels = ?3 AND r.ts >= ?4 AND r.ts < ?5
                 ORDER BY r.ts",
            )
            .map_err(read_err)?;
        let rows = stmt
            .query_map(params![host, key.name, key.labels_json(), from, to], |r| {
                Ok(RawPoint {
                    ts: r.get(0)?,
                    value: r.get(1)?,
                })
            })
            .map_err(read_err)?;
        rows.collect::<Result<_, _>>().map_err(read_err)
    }

    /// Total number of raw samples stored.
    pub fn raw_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM metrics_raw", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(read_err)
    }
}
