//! The warm store on PostgreSQL, shared by every aggregator and gateway of a
//! fleet (`--store postgres://…`).
//!
//! It keeps SQLite's tables and runs the same algorithms (`store/db.rs`), so
//! the one thing to know is what sharing adds:
//! - Series ids come from the database (`series`' unique key), so every
//!   aggregator resolves a series to the same id.
//! - Writes are idempotent across aggregators: a head row is keyed by
//!   (host, ts) and a replay through another aggregator merges, never
//!   duplicates.
//! - Maintenance runs in one aggregator at a time, the one holding a
//!   session advisory lock ([`MAINTENANCE_LOCK`]). When it dies its session
//!   ends, the lock is free, and the next aggregator to try takes over.
//! - Ingest batches and maintenance steps are fenced by a transaction
//!   advisory lock ([`STEP_LOCK`]): batches take it shared, steps exclusive.
//!   A step therefore never materializes a minute while a batch that writes
//!   into it is uncommitted, and every batch reads the progress marks
//!   (`compacted_before`, `watermark_1m`) as the last step left them.
//!
//! The synchronous `postgres` client (tokio-postgres underneath) is used on
//! the writer thread and in blocking tasks, mirroring SQLite's threads;
//! readers share an r2d2 pool.

mod alerts;
mod forward_log;
mod statements;
#[cfg(feature = "test-postgres")]
pub mod test_server;
mod writer;

use std::fmt;
use std::time::Duration;

use postgres::{Client, Config, IsolationLevel, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

pub use alerts::{PgAlertStore, open_alerts};

use super::db::{Db, DbError, DbResult};
use super::maintenance::Marks;
use super::writer::{StoreWriter, WriterHandle};
use super::{Retention, StoreConfig, StoreError};

/// Serializes migrations of concurrently starting aggregators.
const MIGRATION_LOCK: i64 = 0x6d6f_6e00_0001;
/// Held (per session) by the aggregator that runs maintenance.
pub(crate) const MAINTENANCE_LOCK: i64 = 0x6d6f_6e00_0002;
/// Taken per transaction: shared by ingest batches, exclusive by steps.
pub(crate) const STEP_LOCK: i64 = 0x6d6f_6e00_0003;

/// Most connections a gateway's or query's reader pool opens.
const READ_POOL: u32 = 8;
/// How long connecting may take before the store counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_warm_store.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_alert_state.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_forward_log.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_silences.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/postgres/0005_activity.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/postgres/0006_rollups_without_last_ts.sql"),
    ),
];

/// A `postgres://` (or `postgresql://`) URL, parsed, with its password kept
/// out of every message.
#[derive(Clone)]
pub struct PgUrl {
    config: std::sync::Arc<Config>,
    shown: String,
}

impl PgUrl {
    /// Parses a store URL. Anything but a PostgreSQL URL is refused with
    /// what is accepted.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let shown = redact(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::BadUrl(format!(
                "store URL {shown:?} is not accepted; give postgres://USER@HOST:PORT/DATABASE (or leave --store out for the SQLite file in the data dir)"
            )));
        }
        let mut config: Config = url.parse().map_err(|e| {
            StoreError::BadUrl(format!(
                "store URL {shown} cannot be read ({e}); give postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=require]"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("mon");
        }
        Ok(Self {
            config: std::sync::Arc::new(config),
            shown,
        })
    }

    /// Connects one client, TLS as the URL's `sslmode` asks.
    fn connect(&self) -> Result<Client, StoreError> {
        self.config
            .connect(tls())
            .map_err(|e| self.unreachable(DbError::Postgres(e)))
    }

    /// The start-up error for a database that cannot be used.
    fn unreachable(&self, e: DbError) -> StoreError {
        StoreError::Unreachable {
            url: self.shown.clone(),
            source: crate::cause(e),
        }
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", self.shown)
    }
}

/// `url` with any password replaced by `***`.
fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme) = out.find("://") {
        let rest = scheme + 3;
        let end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..end].rfind('@').map(|i| rest + i)
            && let Some(colon) = out[rest..at].find(':').map(|i| rest + i)
        {
            out.replace_range(colon + 1..at, "***");
        }
    }
    if let Some(q) = out.find('?') {
        let query: Vec<String> = out[q + 1..]
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{}?{}", &out[..q], query.join("&"));
    }
    out
}

/// rustls with the system's and the webpki roots. Used only when the URL's
/// `sslmode` asks for TLS (`prefer`, the default, falls back to plain text
/// on a server without TLS; `require` insists).
fn tls() -> MakeRustlsConnect {
    MakeRustlsConnect::new((*domain::tls::ClientTls::default().config(&[])).clone())
}

pub(crate) type PooledClient = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;

/// Readers of a PostgreSQL store: a pool of connections, cheap to clone.
#[derive(Clone)]
pub struct PgReaders {
    pool: std::sync::Arc<PoolOwner>,
    url: PgUrl,
}

/// Owns the pool. Each client of the synchronous `postgres` crate has a
/// runtime of its own, which must not be dropped on an async executor's
/// thread; the last owner to go drops the pool on a thread of its own when
/// it finds itself on one.
struct PoolOwner(Option<Pool>);

impl Drop for PoolOwner {
    fn drop(&mut self) {
        let Some(pool) = self.0.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::Builder::new()
                .name("mon-pg-pool-drop".into())
                .spawn(move || drop(pool));
        }
    }
}

impl PgReaders {
    /// Builds the pool and checks, with one connection, that the database
    /// is there and has mon's schema. Blocking.
    pub fn open(url: &PgUrl) -> Result<Self, StoreError> {
        let manager = PostgresConnectionManager::new((*url.config).clone(), tls());
        let pool = r2d2::Pool::builder()
            .max_size(READ_POOL)
            .min_idle(Some(0))
            .connection_timeout(CONNECT_TIMEOUT)
            // A failed connection is answered to the request that wanted it.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        // One direct connection first: its error says why, where the pool's
        // would only say it timed out.
        let mut client = url.connect()?;
        let schema: Option<i64> = client
            .query_one("SELECT to_regclass('series')::oid::bigint", &[])
            .map_err(|e| url.unreachable(e.into()))?
            .get(0);
        if schema.is_none() {
            return Err(StoreError::Unreachable {
                url: url.shown.clone(),
                source: crate::cause(
                    "the database has no mon schema yet; start a mon aggregator with this --store first, it creates the tables",
                ),
            });
        }
        Ok(Self {
            pool: std::sync::Arc::new(PoolOwner(Some(pool))),
            url: url.clone(),
        })
    }

    /// A pooled connection. Blocking.
    pub(crate) fn client(&self) -> Result<PooledClient, StoreError> {
        let pool = self
            .pool
            .0
            .as_ref()
            .expect("the pool lives as long as its owner");
        pool.get().map_err(|e| StoreError::Unreachable {
            url: self.url.shown.clone(),
            source: crate::cause(e),
        })
    }
}

/// Runs `f` in one read-only, repeatable-read transaction: one snapshot.
pub(crate) fn read<T>(
    client: &mut Client,
    f: impl FnOnce(&mut dyn Db) -> DbResult<T>,
) -> DbResult<T> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let out = f(&mut tx)?;
    tx.commit()?;
    Ok(out)
}

/// Bytes on disk per table, indexes and TOAST included, largest first.
pub(crate) fn table_bytes(client: &mut Client) -> DbResult<Vec<(String, u64)>> {
    Ok(client
        .query(
            "SELECT c.relname::text, pg_total_relation_size(c.oid)::bigint FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'r'
             ORDER BY 2 DESC",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
        .collect())
}

/// Brings the schema up to date. Aggregators starting at once queue on an
/// advisory lock, so each migration runs exactly once.
fn migrate(client: &mut Client) -> DbResult<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = (|| -> DbResult<()> {
        client.batch_execute(
            "CREATE TABLE IF NOT EXISTS mon_migrations (
                 version    bigint PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )?;
        for (version, sql) in MIGRATIONS {
            let mut tx = client.transaction()?;
            let done = tx
                .query_opt(
                    "SELECT 1 FROM mon_migrations WHERE version = $1",
                    &[version],
                )?
                .is_some();
            if !done {
                tx.batch_execute(sql)?;
                tx.execute(
                    "INSERT INTO mon_migrations (version) VALUES ($1)",
                    &[version],
                )?;
                tracing::info!(version, "PostgreSQL store migrated");
            }
            tx.commit()?;
        }
        Ok(())
    })();
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
    result
}

/// The retention settings every aggregator of one database must share. The
/// first aggregator records its own; a later one with others is refused,
/// since two maintenance loops with different cutoffs would undo each
/// other's work.
fn agree_on_retention(
    tx: &mut Transaction<'_>,
    url: &PgUrl,
    ours: &Retention,
) -> Result<(), StoreError> {
    let fail = |e: postgres::Error| url.unreachable(e.into());
    let settings = [
        ("retention_raw_ms", ours.raw, "--retention-raw"),
        ("retention_1m_ms", ours.one_minute, "--retention-1m"),
        ("retention_1h_ms", ours.one_hour, "--retention-1h"),
    ];
    for (name, value, flag) in settings {
        let ms = value.as_millis() as i64;
        tx.execute(
            "INSERT INTO store_state (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&name, &ms],
        )
        .map_err(fail)?;
        let stored: i64 = tx
            .query_one("SELECT value FROM store_state WHERE name = $1", &[&name])
            .map_err(fail)?
            .get(0);
        if stored != ms {
            let show = |ms: i64| {
                humantime::format_duration(Duration::from_millis(ms.max(0) as u64)).to_string()
            };
            return Err(StoreError::Config(format!(
                "{flag} {} differs from the {} the other aggregators of {url} keep; start every aggregator of one database with the same retention, or change it for all with: UPDATE store_state SET value = {ms} WHERE name = '{name}'",
                show(ms),
                show(stored),
            )));
        }
    }
    Ok(())
}

/// Connects the writer, migrates the schema, checks the retention against
/// the other aggregators' and starts the writer thread. Blocking.
pub fn open(url: &PgUrl, config: StoreConfig) -> Result<(StoreWriter, WriterHandle), StoreError> {
    config.validate()?;
    let mut client = url.connect()?;
    migrate(&mut client).map_err(|e| url.unreachable(e))?;
    let mut tx = client
        .transaction()
        .map_err(|e| url.unreachable(e.into()))?;
    agree_on_retention(&mut tx, url, &config.retention)?;
    let marks = Marks::load(&mut tx).map_err(|e| url.unreachable(e))?;
    tx.commit().map_err(|e| url.unreachable(e.into()))?;
    let engine = writer::PgEngine::new(client, url.clone(), config.forward_log);
    Ok(super::writer::start(engine, marks, config))
}
