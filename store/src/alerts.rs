//! Alert state: the [`AlertStateStore`] trait the alerts role uses, and its
//! SQLite implementation, `alerts.db` in the role's data dir, kept apart
//! from `mon.db` because the alerts role may run on a machine that has no
//! warm store.
//!
//! It holds the active alerts, the hosts ever heard from, the silences and
//! the label names the leader's rules give alerts. Changes go to
//! one thread that owns the connection and answers once the transaction has
//! committed: the role persists a transition before it publishes or notifies
//! it, so a crash can lose a notification but never send one twice. Each
//! `alerts.db` belongs to one alerts instance; a store several instances
//! share (so a new leader finds exactly what the old one committed) is
//! another implementation of the same trait.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use async_trait::async_trait;
use domain::alert::{Alert, AlertState};
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// File name of the alert database inside the data dir.
pub const ALERTS_DB_FILE: &str = "alerts.db";

const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../../migrations/alerts/0001_alert_state.sql")),
    M::up(include_str!("../../migrations/alerts/0002_silences.sql")),
];

/// One label matcher of a silence, as stored: `op` is `=`, `!=`, `=~` or `!~`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatcherRecord {
    pub label: String,
    pub op: String,
    pub value: String,
}

/// One row of `silences`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceRecord {
    pub id: String,
    pub matchers: Vec<MatcherRecord>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub comment: String,
    pub updated_ms: i64,
}

/// What expiring a silence found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No silence has that id (or it was forgotten after its retention).
    Unknown,
    /// It had already ended; left as it was.
    AlreadyExpired(SilenceRecord),
    /// It ends now.
    Expired(SilenceRecord),
}

// Changes live in one short Vec per commit; boxing the record buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum AlertChange {
    /// Insert or replace an active alert.
    Save(Alert),
    /// An alert is no longer active.
    Remove { id: String },
    /// A host heard from for the first time (kept if already known).
    Host { host: String, first_seen_ms: i64 },
    /// The label names the leader's rules give alerts, replacing the last
    /// leader's; `None` when any label is possible.
    LabelNames(Option<Vec<String>>),
}

/// What the database held at open.
#[derive(Debug, Default)]
pub struct Restored {
    /// The active (pending and firing) alerts; a row in any other
    /// state, which no version writes, is skipped.
    pub alerts: Vec<Alert>,
    pub hosts: Vec<String>,
}

/// Where the alerts role keeps its state. The role loads it each time it
/// becomes the leader and commits every transition before acting on it.
#[async_trait]
pub trait AlertStateStore: Send + Sync + 'static {
    /// Where the state lives, for logs (a path, or a URL without password).
    fn location(&self) -> String;

    /// The active alerts and known hosts, as last committed.
    async fn load(&self) -> Result<Restored, StoreError>;

    /// Commits the changes in one transaction; returns once committed.
    async fn apply(&self, changes: Vec<AlertChange>) -> Result<(), StoreError>;

    /// Silences ending after `ends_after_ms`, by start time.
    async fn silences(&self, ends_after_ms: i64) -> Result<Vec<SilenceRecord>, StoreError>;

    /// Adds a silence, and forgets those that ended before `forget_before_ms`.
    async fn add_silence(
        &self,
        silence: SilenceRecord,
        forget_before_ms: i64,
    ) -> Result<(), StoreError>;

    /// Ends a silence at `now_ms` (a pending one also starts then).
    async fn expire_silence(&self, id: &str, now_ms: i64) -> Result<Expiry, StoreError>;

    /// The label names alerts can carry, as the last leader recorded them;
    /// `None` when any label is possible or no leader has run yet.
    async fn label_names(&self) -> Result<Option<BTreeSet<String>>, StoreError>;

    /// Finishes what is queued and closes.
    async fn close(self: Box<Self>);
}

/// Work for the database thread; it sends its own answer.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The label name that stands for "any label" in `alert_label_names`.
pub(crate) const ANY_LABEL: &str = "*";

/// Reads stored matchers back. Unreadable JSON gives none, and a silence
/// without matchers is skipped where it is compiled (it would hold for
/// every alert).
fn matchers_of(text: &str) -> Vec<MatcherRecord> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn matchers_json(matchers: &[MatcherRecord]) -> String {
    serde_json::to_string(matchers).unwrap_or_default()
}

/// `alerts.db`: sends jobs to the thread that owns its connection.
pub struct SqliteAlertStore {
    path: PathBuf,
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

pub fn alerts_db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ALERTS_DB_FILE)
}

/// Opens (creating and migrating if needed) `alerts.db` in `data_dir` and
/// starts its thread. Blocking: call it off the executor.
pub fn open_alerts(data_dir: &Path) -> Result<SqliteAlertStore, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::DataDir {
        path: data_dir.to_owned(),
        source: super::cause(e),
    })?;
    let path = alerts_db_path(data_dir);
    let mut conn = super::migrations::connect(&path)?;
    // The alerts role and a gateway (both in `mon serve`, or two processes
    // on one data dir) may open the file at once. The migrator reads the
    // schema version before its transaction, so the later one can find the
    // tables made under it: it tries again, and then sees the new version.
    let mut attempt = 0;
    loop {
        match Migrations::from_slice(MIGRATIONS).to_latest(&mut conn) {
            Ok(()) => break,
            Err(_) if attempt < 10 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20 * attempt));
            }
            Err(e) => {
                return Err(StoreError::Migrate {
                    path: path.clone(),
                    source: super::cause(e),
                });
            }
        }
    }
    let (tx, mut rx) = mpsc::channel::<Job>(256);
    let thread = std::thread::Builder::new()
        .name("alerts-db".into())
        .spawn(move || {
            while let Some(job) = rx.blocking_recv() {
                job(&mut conn);
            }
        })
        .map_err(|e| StoreError::Open {
            path: path.clone(),
            source: super::cause(ThreadStart(e)),
        })?;
    Ok(SqliteAlertStore {
        path,
        tx: Some(tx),
        thread: Some(thread),
    })
}

/// The database thread could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the alert database thread: {0}")]
struct ThreadStart(#[source] std::io::Error);

impl SqliteAlertStore {
    /// Runs `f` on the database thread and waits for its answer; a failure
    /// is a read or a write error as `write` says.
    async fn call<T: Send + 'static>(
        &self,
        write: bool,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(f(conn).map_err(|e| {
                if write {
                    StoreError::Write(super::cause(e))
                } else {
                    StoreError::Read(super::cause(e))
                }
            }));
        });
        tx.send(job).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait]
impl AlertStateStore for SqliteAlertStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn load(&self) -> Result<Restored, StoreError> {
        self.call(false, |conn| read(conn)).await
    }

    async fn apply(&self, changes: Vec<AlertChange>) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.call(true, move |conn| write(conn, &changes)).await
    }

    async fn silences(&self, ends_after_ms: i64) -> Result<Vec<SilenceRecord>, StoreError> {
        self.call(false, move |conn| {
            conn.prepare_cached(
                "SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_ms
                 FROM silences WHERE ends_at_ms > ?1 ORDER BY starts_at_ms, id",
            )?
            .query_map([ends_after_ms], silence_row)?
            .collect()
        })
        .await
    }

    async fn add_silence(&self, s: SilenceRecord, forget_before_ms: i64) -> Result<(), StoreError> {
        self.call(true, move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM silences WHERE ends_at_ms < ?1",
                [forget_before_ms],
            )?;
            tx.execute(
                "INSERT INTO silences (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    s.id,
                    matchers_json(&s.matchers),
                    s.starts_at_ms,
                    s.ends_at_ms,
                    s.created_by,
                    s.comment,
                    s.updated_ms
                ],
            )?;
            tx.commit()
        })
        .await
    }

    async fn expire_silence(&self, id: &str, now_ms: i64) -> Result<Expiry, StoreError> {
        let id = id.to_owned();
        self.call(true, move |conn| {
            let tx = conn.transaction()?;
            let select =
                "SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_ms
                          FROM silences WHERE id = ?1";
            let Some(found) = tx.query_row(select, [&id], silence_row).optional()? else {
                return Ok(Expiry::Unknown);
            };
            if found.ends_at_ms <= now_ms {
                return Ok(Expiry::AlreadyExpired(found));
            }
            tx.execute(
                "UPDATE silences SET starts_at_ms = min(starts_at_ms, ?2), ends_at_ms = ?2,
                    updated_ms = ?2 WHERE id = ?1",
                params![id, now_ms],
            )?;
            let after = tx.query_row(select, [&id], silence_row)?;
            tx.commit()?;
            Ok(Expiry::Expired(after))
        })
        .await
    }

    async fn label_names(&self) -> Result<Option<BTreeSet<String>>, StoreError> {
        self.call(false, |conn| {
            let names = conn
                .prepare_cached("SELECT name FROM alert_label_names")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<BTreeSet<String>>>()?;
            Ok((!names.is_empty() && !names.contains(ANY_LABEL)).then_some(names))
        })
        .await
    }

    /// Lets the thread finish what is queued and close the database.
    async fn close(mut self: Box<Self>) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn silence_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SilenceRecord> {
    Ok(SilenceRecord {
        id: r.get(0)?,
        matchers: matchers_of(&r.get::<_, String>(1)?),
        starts_at_ms: r.get(2)?,
        ends_at_ms: r.get(3)?,
        created_by: r.get(4)?,
        comment: r.get(5)?,
        updated_ms: r.get(6)?,
    })
}

fn read(conn: &Connection) -> rusqlite::Result<Restored> {
    let json = |text: String| serde_json::from_str(&text).unwrap_or_default();
    let mut stmt = conn.prepare(
        "SELECT id, rule_key, host, alert, state, severity, value, labels, annotations,
                active_since_ms, fired_at_ms, updated_ms, notified
         FROM alert_state ORDER BY id",
    )?;
    let alerts = stmt
        .query_map([], |r| {
            let state: String = r.get(4)?;
            let Some(state) = AlertState::parse(&state).filter(|s| s.is_active()) else {
                return Ok(None);
            };
            Ok(Some(Alert {
                id: r.get(0)?,
                rule_key: r.get(1)?,
                host: r.get(2)?,
                name: r.get(3)?,
                state,
                severity: r.get(5)?,
                value: r.get(6)?,
                labels: json(r.get(7)?),
                annotations: json(r.get(8)?),
                active_since_ms: r.get(9)?,
                fired_at_ms: r.get(10)?,
                ts_ms: r.get(11)?,
                silenced_by: Vec::new(),
                notified: r.get(12)?,
            }))
        })?
        .filter_map(Result::transpose)
        .collect::<Result<Vec<_>, _>>()?;
    let hosts = conn
        .prepare("SELECT host FROM alert_hosts ORDER BY host")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Restored { alerts, hosts })
}

fn write(conn: &mut Connection, changes: &[AlertChange]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for change in changes {
        match change {
            AlertChange::Save(a) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO alert_state (id, rule_key, host, alert, state, severity,
                        value, labels, annotations, active_since_ms, fired_at_ms, updated_ms, notified)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?
                .execute(params![
                    a.id,
                    a.rule_key,
                    a.host,
                    a.name,
                    a.state.as_str(),
                    a.severity,
                    a.value,
                    serde_json::to_string(&a.labels).unwrap_or_default(),
                    serde_json::to_string(&a.annotations).unwrap_or_default(),
                    a.active_since_ms,
                    a.fired_at_ms,
                    a.ts_ms,
                    a.notified,
                ])?;
            }
            AlertChange::Remove { id } => {
                tx.prepare_cached("DELETE FROM alert_state WHERE id = ?1")?
                    .execute([id])?;
            }
            AlertChange::Host {
                host,
                first_seen_ms,
            } => {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO alert_hosts (host, first_seen_ms) VALUES (?1, ?2)",
                )?
                .execute(params![host, first_seen_ms])?;
            }
            AlertChange::LabelNames(names) => {
                tx.execute("DELETE FROM alert_label_names", [])?;
                let any = vec![ANY_LABEL.to_owned()];
                for name in names.as_ref().unwrap_or(&any) {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO alert_label_names (name) VALUES (?1)",
                    )?
                    .execute([name])?;
                }
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, state: AlertState) -> Alert {
        Alert {
            id: id.into(),
            rule_key: "k".into(),
            host: "web-1".into(),
            name: "HostHighCpu".into(),
            state,
            severity: "warning".into(),
            value: 97.5,
            labels: std::collections::BTreeMap::from([("host".into(), "web-1".into())]),
            annotations: std::collections::BTreeMap::new(),
            active_since_ms: 1,
            fired_at_ms: Some(2),
            ts_ms: 3,
            silenced_by: Vec::new(),
            notified: true,
        }
    }

    #[tokio::test]
    async fn saved_alerts_and_hosts_are_read_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Box::new(open_alerts(dir.path()).unwrap());
        let restored = store.load().await.unwrap();
        assert!(restored.alerts.is_empty() && restored.hosts.is_empty());
        let host = |h: &str| AlertChange::Host {
            host: h.into(),
            first_seen_ms: 1,
        };
        store
            .apply(vec![
                AlertChange::Save(record("a", AlertState::Pending)),
                AlertChange::Save(record("b", AlertState::Firing)),
                host("web-1"),
                host("web-1"),
            ])
            .await
            .unwrap();
        store
            .apply(vec![
                AlertChange::Save(record("a", AlertState::Firing)),
                AlertChange::Remove { id: "b".into() },
            ])
            .await
            .unwrap();
        store.close().await;

        let restored = open_alerts(dir.path()).unwrap().load().await.unwrap();
        assert_eq!(restored.alerts, vec![record("a", AlertState::Firing)]);
        assert_eq!(restored.hosts, vec!["web-1".to_owned()]);
    }

    #[test]
    fn opening_at_once_from_two_threads_migrates_once_and_both_open() {
        let dir = tempfile::tempdir().unwrap();
        let opens: Vec<_> = (0..2)
            .map(|_| {
                let dir = dir.path().to_owned();
                std::thread::spawn(move || open_alerts(&dir).map(|_| ()))
            })
            .collect();
        for open in opens {
            open.join().unwrap().unwrap();
        }
    }

    #[test]
    fn migrations_are_valid() {
        assert!(Migrations::from_slice(MIGRATIONS).validate().is_ok());
    }
}
