//! Alert state: the [`AlertStateStore`] trait the alerts role uses, and its
//! SQLite implementation, `alerts.db` in the role's data dir, kept apart
//! from `mon.db` because the alerts role may run on a machine that has no
//! warm store.
//!
//! It holds the active alerts and the hosts ever heard from. Changes go to
//! one thread that owns the connection and answers once the transaction has
//! committed: the role persists a transition before it publishes or notifies
//! it, so a crash can lose a notification but never send one twice. Each
//! `alerts.db` belongs to one alerts instance; a store several instances
//! share (so a new leader finds exactly what the old one committed) is
//! another implementation of the same trait.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use rusqlite_migration::{M, Migrations};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// File name of the alert database inside the data dir.
pub const ALERTS_DB_FILE: &str = "alerts.db";

const MIGRATIONS: &[M<'static>] = &[M::up(include_str!(
    "../../../migrations/alerts/0001_alert_state.sql"
))];

/// One row of `alert_state`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    pub id: String,
    pub rule_key: String,
    pub host: String,
    pub alert: String,
    /// `pending` or `firing`.
    pub state: String,
    pub severity: String,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub active_since_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AlertChange {
    /// Insert or replace an active alert.
    Save(AlertRecord),
    /// An alert is no longer active.
    Remove { id: String },
    /// A host heard from for the first time (kept if already known).
    Host { host: String, first_seen_ms: i64 },
}

/// What the database held at open.
#[derive(Debug, Default)]
pub struct Restored {
    pub alerts: Vec<AlertRecord>,
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

    /// Finishes what is queued and closes.
    async fn close(self: Box<Self>);
}

enum Job {
    Load(oneshot::Sender<Result<Restored, StoreError>>),
    Apply(Vec<AlertChange>, oneshot::Sender<Result<(), StoreError>>),
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
        message: e.to_string(),
    })?;
    let path = alerts_db_path(data_dir);
    let mut conn = super::migrations::connect(&path)?;
    Migrations::from_slice(MIGRATIONS)
        .to_latest(&mut conn)
        .map_err(|e| StoreError::Migrate {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let (tx, mut rx) = mpsc::channel::<Job>(256);
    let thread = std::thread::Builder::new()
        .name("alerts-db".into())
        .spawn(move || {
            while let Some(job) = rx.blocking_recv() {
                match job {
                    Job::Load(reply) => {
                        let _ =
                            reply.send(read(&conn).map_err(|e| StoreError::Read(e.to_string())));
                    }
                    Job::Apply(changes, reply) => {
                        let result = write(&mut conn, &changes)
                            .map_err(|e| StoreError::Write(e.to_string()));
                        let _ = reply.send(result);
                    }
                }
            }
        })
        .map_err(|e| StoreError::Open {
            path: path.clone(),
            message: format!("cannot start the alert database thread: {e}"),
        })?;
    Ok(SqliteAlertStore {
        path,
        tx: Some(tx),
        thread: Some(thread),
    })
}

impl SqliteAlertStore {
    async fn send(&self, job: Job) -> Result<(), StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
        tx.send(job).await.map_err(|_| StoreError::Closed)
    }
}

#[async_trait]
impl AlertStateStore for SqliteAlertStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn load(&self) -> Result<Restored, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Job::Load(reply)).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn apply(&self, changes: Vec<AlertChange>) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.send(Job::Apply(changes, reply)).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Lets the thread finish what is queued and close the database.
    async fn close(mut self: Box<Self>) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn read(conn: &Connection) -> rusqlite::Result<Restored> {
    let json = |text: String| serde_json::from_str(&text).unwrap_or_default();
    let mut stmt = conn.prepare(
        "SELECT id, rule_key, host, alert, state, severity, value, labels, annotations,
                active_since_ms, fired_at_ms, updated_ms
         FROM alert_state ORDER BY id",
    )?;
    let alerts = stmt
        .query_map([], |r| {
            Ok(AlertRecord {
                id: r.get(0)?,
                rule_key: r.get(1)?,
                host: r.get(2)?,
                alert: r.get(3)?,
                state: r.get(4)?,
                severity: r.get(5)?,
                value: r.get(6)?,
                labels: json(r.get(7)?),
                annotations: json(r.get(8)?),
                active_since_ms: r.get(9)?,
                fired_at_ms: r.get(10)?,
                updated_ms: r.get(11)?,
            })
        })?
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
                        value, labels, annotations, active_since_ms, fired_at_ms, updated_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?
                .execute(params![
                    a.id,
                    a.rule_key,
                    a.host,
                    a.alert,
                    a.state,
                    a.severity,
                    a.value,
                    serde_json::to_string(&a.labels).unwrap_or_default(),
                    serde_json::to_string(&a.annotations).unwrap_or_default(),
                    a.active_since_ms,
                    a.fired_at_ms,
                    a.updated_ms,
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
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, state: &str) -> AlertRecord {
        AlertRecord {
            id: id.into(),
            rule_key: "k".into(),
            host: "web-1".into(),
            alert: "HostHighCpu".into(),
            state: state.into(),
            severity: "warning".into(),
            value: 97.5,
            labels: BTreeMap::from([("host".into(), "web-1".into())]),
            annotations: BTreeMap::new(),
            active_since_ms: 1,
            fired_at_ms: Some(2),
            updated_ms: 3,
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
                AlertChange::Save(record("a", "pending")),
                AlertChange::Save(record("b", "firing")),
                host("web-1"),
                host("web-1"),
            ])
            .await
            .unwrap();
        store
            .apply(vec![
                AlertChange::Save(record("a", "firing")),
                AlertChange::Remove { id: "b".into() },
            ])
            .await
            .unwrap();
        store.close().await;

        let restored = open_alerts(dir.path()).unwrap().load().await.unwrap();
        assert_eq!(restored.alerts, vec![record("a", "firing")]);
        assert_eq!(restored.hosts, vec!["web-1".to_owned()]);
    }

    #[test]
    fn migrations_are_valid() {
        assert!(Migrations::from_slice(MIGRATIONS).validate().is_ok());
    }
}
