//! Alert state on PostgreSQL: the [`AlertStateStore`] every alerts instance
//! of a fleet shares, so a standby that becomes the leader restores exactly
//! what the old leader committed and notifies none of it again (the same
//! transitions, the same idempotency keys).

use async_trait::async_trait;
use domain::alert::{Alert, AlertState};

use super::{PgReaders, PgUrl};
use std::collections::BTreeSet;

use crate::alerts::{
    ANY_LABEL, AlertChange, AlertStateStore, Expiry, Restored, SilenceRecord, matchers_json,
};
use crate::db::DbError;
use crate::{Location, StoreError};

pub struct PgAlertStore {
    pool: PgReaders,
    url: PgUrl,
}

/// Connects, creates the schema if this is the first role to arrive, and
/// returns the store. Blocking: call it off the executor.
pub fn open_alerts(url: &PgUrl) -> Result<PgAlertStore, StoreError> {
    let mut client = url.connect()?;
    super::migrate(&mut client).map_err(|e| url.unreachable(e))?;
    drop(client);
    let pool = match Location::Postgres(url.clone()).readers()? {
        crate::Readers::Postgres(pool) => pool,
        crate::Readers::Sqlite(_) => unreachable!("a PostgreSQL location"),
    };
    Ok(PgAlertStore {
        pool,
        url: url.clone(),
    })
}

fn failed(url: &PgUrl, e: DbError) -> StoreError {
    StoreError::Paused {
        url: url.to_string(),
        source: crate::cause(e),
    }
}

impl PgAlertStore {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.pool.clone();
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || {
            let mut client = pool.client()?;
            f(&mut client).map_err(|e| failed(&url, e))
        })
        .await
        .map_err(|e| StoreError::Write(crate::cause(e)))?
    }
}

#[async_trait]
impl AlertStateStore for PgAlertStore {
    fn location(&self) -> String {
        self.url.to_string()
    }

    async fn load(&self) -> Result<Restored, StoreError> {
        self.blocking(|client| {
            let json = |text: String| serde_json::from_str(&text).unwrap_or_default();
            let alerts = client
                .query(
                    "SELECT id, rule_key, host, alert, state, severity, value, labels, annotations,
                            active_since_ms, fired_at_ms, updated_ms, notified
                     FROM alert_state ORDER BY id",
                    &[],
                )?
                .into_iter()
                .filter_map(|r| {
                    let state = AlertState::parse(r.get(4)).filter(|s| s.is_active())?;
                    Some(Alert {
                        id: r.get(0),
                        rule_key: r.get(1),
                        host: r.get(2),
                        name: r.get(3),
                        state,
                        severity: r.get(5),
                        value: r.get(6),
                        labels: json(r.get(7)),
                        annotations: json(r.get(8)),
                        active_since_ms: r.get(9),
                        fired_at_ms: r.get(10),
                        ts_ms: r.get(11),
                        silenced_by: Vec::new(),
                        notified: r.get(12),
                    })
                })
                .collect();
            let hosts = client
                .query("SELECT host FROM alert_hosts ORDER BY host", &[])?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            Ok(Restored { alerts, hosts })
        })
        .await
    }

    async fn apply(&self, changes: Vec<AlertChange>) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.blocking(move |client| {
            let mut tx = client.transaction()?;
            for change in &changes {
                match change {
                    AlertChange::Save(a) => {
                        tx.execute(
                            "INSERT INTO alert_state (id, rule_key, host, alert, state, severity,
                                value, labels, annotations, active_since_ms, fired_at_ms, updated_ms,
                                notified)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                             ON CONFLICT (id) DO UPDATE SET rule_key = excluded.rule_key,
                               host = excluded.host, alert = excluded.alert, state = excluded.state,
                               severity = excluded.severity, value = excluded.value,
                               labels = excluded.labels, annotations = excluded.annotations,
                               active_since_ms = excluded.active_since_ms,
                               fired_at_ms = excluded.fired_at_ms, updated_ms = excluded.updated_ms,
                               notified = excluded.notified",
                            &[
                                &a.id,
                                &a.rule_key,
                                &a.host,
                                &a.name,
                                &a.state.as_str(),
                                &a.severity,
                                &a.value,
                                &serde_json::to_string(&a.labels).unwrap_or_default(),
                                &serde_json::to_string(&a.annotations).unwrap_or_default(),
                                &a.active_since_ms,
                                &a.fired_at_ms,
                                &a.ts_ms,
                                &a.notified,
                            ],
                        )?;
                    }
                    AlertChange::Remove { id } => {
                        tx.execute("DELETE FROM alert_state WHERE id = $1", &[id])?;
                    }
                    AlertChange::Host {
                        host,
                        first_seen_ms,
                    } => {
                        tx.execute(
                            "INSERT INTO alert_hosts (host, first_seen_ms) VALUES ($1, $2)
                             ON CONFLICT DO NOTHING",
                            &[host, first_seen_ms],
                        )?;
                    }
                    AlertChange::LabelNames(names) => {
                        tx.execute("DELETE FROM alert_label_names", &[])?;
                        let any = vec![ANY_LABEL.to_owned()];
                        tx.execute(
                            "INSERT INTO alert_label_names (name) SELECT DISTINCT unnest($1::text[])",
                            &[names.as_ref().unwrap_or(&any)],
                        )?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn silences(&self, ends_after_ms: i64) -> Result<Vec<SilenceRecord>, StoreError> {
        self.blocking(move |client| {
            Ok(client
                .query(
                    &format!("{SELECT_SILENCE} WHERE ends_at_ms > $1 ORDER BY starts_at_ms, id"),
                    &[&ends_after_ms],
                )?
                .iter()
                .map(silence_row)
                .collect())
        })
        .await
    }

    async fn add_silence(&self, s: SilenceRecord, forget_before_ms: i64) -> Result<(), StoreError> {
        self.blocking(move |client| {
            let mut tx = client.transaction()?;
            tx.execute(
                "DELETE FROM silences WHERE ends_at_ms < $1",
                &[&forget_before_ms],
            )?;
            tx.execute(
                "INSERT INTO silences (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &s.id,
                    &matchers_json(&s.matchers),
                    &s.starts_at_ms,
                    &s.ends_at_ms,
                    &s.created_by,
                    &s.comment,
                    &s.updated_ms,
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn expire_silence(&self, id: &str, now_ms: i64) -> Result<Expiry, StoreError> {
        let id = id.to_owned();
        self.blocking(move |client| {
            let mut tx = client.transaction()?;
            // FOR UPDATE: two expiries of one silence answer one "expired"
            // and one "already expired".
            let found = tx.query_opt(
                &format!("{SELECT_SILENCE} WHERE id = $1 FOR UPDATE"),
                &[&id],
            )?;
            let Some(found) = found.as_ref().map(silence_row) else {
                return Ok(Expiry::Unknown);
            };
            if found.ends_at_ms <= now_ms {
                return Ok(Expiry::AlreadyExpired(found));
            }
            let after = tx.query_one(
                "UPDATE silences SET starts_at_ms = least(starts_at_ms, $2), ends_at_ms = $2,
                    updated_ms = $2 WHERE id = $1
                 RETURNING id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_ms",
                &[&id, &now_ms],
            )?;
            tx.commit()?;
            Ok(Expiry::Expired(silence_row(&after)))
        })
        .await
    }

    async fn label_names(&self) -> Result<Option<BTreeSet<String>>, StoreError> {
        self.blocking(|client| {
            let names: BTreeSet<String> = client
                .query("SELECT name FROM alert_label_names", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Ok((!names.is_empty() && !names.contains(ANY_LABEL)).then_some(names))
        })
        .await
    }

    async fn close(self: Box<Self>) {
        // Pooled connections close with the pool, off the executor.
    }
}

const SELECT_SILENCE: &str =
    "SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_ms FROM silences";

fn silence_row(r: &postgres::Row) -> SilenceRecord {
    SilenceRecord {
        id: r.get(0),
        matchers: serde_json::from_str(r.get(1)).unwrap_or_default(),
        starts_at_ms: r.get(2),
        ends_at_ms: r.get(3),
        created_by: r.get(4),
        comment: r.get(5),
        updated_ms: r.get(6),
    }
}
