//! `mon alerts`: alerting rules evaluated on the live `metrics.*` stream,
//! with state that survives restarts, notifications in Alertmanager's
//! formats, and every transition published on `alerts.<host>` for the
//! dashboards.
//!
//! The one rule a newcomer must know: a transition is committed to
//! `alerts.db` before it is published or notified. A restart therefore
//! finds every pending and firing alert where it was and goes on from
//! there, without notifying any of them again.

pub mod alert;
mod engine;
pub mod expr;
mod notify;
mod outline;
pub mod rules;
mod template;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub use alert::{Alert, AlertState, fingerprint};
pub use engine::{Engine, EngineOptions, Transition};
pub use notify::{NotifyConfig, NotifyError, RetryPolicy, parse_url, webhook_payload};
pub use rules::{Checked, DEFAULT_RULES, Problem, RuleSet, RulesError, Severity, check};

use notify::Notifiers;

use crate::bus::{BusError, BusEvent, SharedBus};
use crate::event::{alerts_channel, decode_metrics, encode_alert};
use crate::store::{self, AlertChange, AlertRecord, AlertStore, StoreError};
use crate::time::now_ms;

#[derive(Clone, Debug)]
pub struct AlertsConfig {
    /// Where `alerts.db` lives.
    pub data_dir: PathBuf,
    pub rules: RuleSet,
    pub notify: NotifyConfig,
    pub engine: EngineOptions,
    /// How often timers are checked (`for`, `keep_firing_for`, no-data).
    pub tick: Duration,
}

impl AlertsConfig {
    /// The default rules and no notifier but the log.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            rules: RuleSet::defaults(),
            notify: NotifyConfig::default(),
            engine: EngineOptions::default(),
            tick: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot subscribe to metrics: {0}")]
    Bus(#[from] BusError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// How long shutdown waits for queued notifications.
const DRAIN: Duration = Duration::from_secs(5);

/// Evaluates the rules on the bus's metrics until `shutdown` resolves.
pub async fn run(
    config: AlertsConfig,
    bus: SharedBus,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AlertsError> {
    let data_dir = config.data_dir.clone();
    let (store, restored) = tokio::task::spawn_blocking(move || store::open_alerts(&data_dir))
        .await
        .unwrap_or_else(|e| panic!("opening alerts.db panicked: {e}"))?;
    // Subscribe before reading the bus's state, so no report falls in between.
    let mut subscription = bus.subscribe(&["metrics.*"]).await?;
    let now = now_ms();
    let mut engine = Engine::new(config.rules.clone(), config.engine.clone());
    match bus.hosts().await {
        Ok(hosts) => {
            for h in hosts {
                engine.seed_host(&h.host, h.last_seen_ms.min(now));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the hosts' state from the bus; no-data timers start now")
        }
    }
    for host in &restored.hosts {
        engine.seed_host(host, now);
    }
    let saved: Vec<Alert> = restored
        .alerts
        .into_iter()
        .filter_map(from_record)
        .collect();
    let ended = engine.restore(saved, now);
    let active: Vec<Alert> = engine.active().cloned().collect();
    let firing = active
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .cloned()
        .collect();
    let notifiers = Notifiers::start(&config.notify, firing)?;
    tracing::info!(
        db = %store::alerts_db_path(&config.data_dir).display(),
        rules = config.rules.rules.len(),
        restored = active.len(),
        webhooks = config.notify.webhooks.len(),
        alertmanager = config.notify.alertmanager.as_deref().unwrap_or("none"),
        "alerts evaluating"
    );
    let mut role = Role {
        engine,
        store,
        bus,
        notifiers,
    };
    // Dashboards that started with this process learn the restored alerts.
    for alert in &active {
        role.publish(alert).await;
    }
    role.commit(ended).await;

    let mut tick = tokio::time::interval(config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            event = subscription.next() => match event {
                Some(BusEvent::Message { payload, channel }) => match decode_metrics(&payload) {
                    Ok(report) => {
                        let t = role.engine.observe(&report.host, report.timestamp_ms, &report.points, now_ms());
                        role.commit(t).await;
                    }
                    Err(e) => tracing::debug!(%channel, error = %e, "unreadable metrics event skipped"),
                },
                // Missed reports only delay a threshold check to the next
                // report; the timers do not depend on them.
                Some(BusEvent::Gap { missed }) => tracing::debug!(missed, "alerts fell behind the bus"),
                None => {
                    tracing::warn!("the bus closed its subscription; alerts stopping");
                    break;
                }
            },
            _ = tick.tick() => {
                let t = role.engine.tick(now_ms());
                role.commit(t).await;
            }
        }
    }
    tracing::info!("alerts stopping: delivering queued notifications");
    role.notifiers.finish(DRAIN).await;
    role.store.close().await;
    tracing::info!("alerts stopped");
    Ok(())
}

struct Role {
    engine: Engine,
    store: AlertStore,
    bus: SharedBus,
    notifiers: Notifiers,
}

impl Role {
    /// Persists the transitions, then publishes and notifies them.
    async fn commit(&mut self, transitions: Vec<Transition>) {
        let now = now_ms();
        let mut changes: Vec<AlertChange> = self
            .engine
            .take_new_hosts()
            .into_iter()
            .map(|host| AlertChange::Host {
                host,
                first_seen_ms: now,
            })
            .collect();
        for t in &transitions {
            changes.push(if t.alert.state.is_active() {
                AlertChange::Save(to_record(&t.alert))
            } else {
                AlertChange::Remove {
                    id: t.alert.id.clone(),
                }
            });
        }
        if let Err(e) = self.store.apply(changes).await {
            // Notifying without the state saved risks a repeat after a
            // restart; not notifying at all would be worse.
            tracing::error!(error = %e, "cannot save alert state; notifying anyway");
        }
        for t in &transitions {
            self.publish(&t.alert).await;
            self.notifiers.notify(t);
        }
    }

    async fn publish(&self, alert: &Alert) {
        if let Err(e) = self
            .bus
            .publish(&alerts_channel(&alert.host), encode_alert(alert))
            .await
        {
            tracing::warn!(error = %e, alert = %alert.name, host = %alert.host, "cannot publish an alert event");
        }
    }
}

fn to_record(a: &Alert) -> AlertRecord {
    AlertRecord {
        id: a.id.clone(),
        rule_key: a.rule_key.clone(),
        host: a.host.clone(),
        alert: a.name.clone(),
        state: a.state.as_str().to_owned(),
        severity: a.severity.clone(),
        value: a.value,
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        active_since_ms: a.active_since_ms,
        fired_at_ms: a.fired_at_ms,
        updated_ms: a.ts_ms,
    }
}

fn from_record(r: AlertRecord) -> Option<Alert> {
    let state = AlertState::parse(&r.state).filter(|s| s.is_active())?;
    Some(Alert {
        id: r.id,
        rule_key: r.rule_key,
        host: r.host,
        name: r.alert,
        state,
        severity: r.severity,
        value: r.value,
        labels: r.labels,
        annotations: r.annotations,
        active_since_ms: r.active_since_ms,
        fired_at_ms: r.fired_at_ms,
        ts_ms: r.updated_ms,
    })
}
