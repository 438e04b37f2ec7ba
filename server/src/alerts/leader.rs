//! One term as the alerts leader: restore the state from the store,
//! evaluate the rules on the live metrics, commit, publish and notify every
//! transition, until the shutdown or the end of the term.
//!
//! The fence is asked before each commit, publish and notification, so a
//! leader past its lease deadline does nothing more even while its loop has
//! yet to notice; when the term ends, queued notifications are abandoned
//! rather than delivered late. The next leader restores from its store and
//! notifies nothing it finds there again, as after a restart.

use std::future::Future;

use super::engine::{Engine, Transition};
use super::notify::Notifiers;
use super::silence::{Silence, alert_label_names};
use super::{Alert, AlertState, AlertsConfig, AlertsError, DRAIN};
use crate::bus::{BusEvent, Fence, SharedBus, Term};
use crate::event::{decode_metrics, encode_alert};
use crate::store::{AlertChange, AlertStateStore};
use crate::time::now_ms;

/// How a term ended.
pub(super) enum Ended {
    /// The shutdown came; queued notifications were delivered (or timed
    /// out) while the lease was still held.
    Shutdown,
    /// The lease was lost; this instance is a standby again.
    Lost,
}

pub(super) async fn lead(
    config: &AlertsConfig,
    bus: &SharedBus,
    store: &dyn AlertStateStore,
    term: &mut Term,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<Ended, AlertsError> {
    let fence = term.fence();
    let restored = store.load().await?;
    // Subscribe before reading the bus's state, so no report falls in between.
    let mut subscription = bus.subscribe(&[wire::channel::ALL_METRICS]).await?;
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
    // Silences first: they decide which restored alerts are silenced.
    let mut silences = Silences::default();
    if let Some(list) = silences.load(store, now).await {
        engine.set_silences(list, now);
    }
    if fence.holds()
        && let Err(e) = store
            .apply(vec![AlertChange::LabelNames(
                alert_label_names(&config.rules).map(|n| n.into_iter().collect()),
            )])
            .await
    {
        tracing::warn!(error = %e, "cannot record the alerts' label names; silences on any label are accepted");
    }
    let ended = engine.restore(restored.alerts, now);
    let active: Vec<Alert> = engine.active().cloned().collect();
    let firing = active
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .cloned()
        .collect();
    let notifiers = Notifiers::start(&config.notify, firing, fence.clone())?;
    tracing::info!(
        store = %store.location(),
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
        fence,
    };
    // Dashboards that started with this process learn the restored alerts.
    for alert in &active {
        role.publish(alert).await;
    }
    role.commit(ended).await;

    let mut tick = tokio::time::interval(config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut *shutdown => break,
            why = term.lost() => {
                tracing::warn!(reason = %why, "lost the alerts lease: stopped evaluating, publishing and notifying; now a standby");
                role.notifiers.abandon().await;
                return Ok(Ended::Lost);
            }
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
                // Silences added or expired elsewhere (the gateway, another
                // process) are read back each tick: a small query, and a
                // silence takes effect within a second of its commit.
                let now = now_ms();
                if let Some(list) = silences.load(store, now).await {
                    let t = role.engine.set_silences(list, now);
                    role.commit(t).await;
                }
                let t = role.engine.tick(now);
                role.commit(t).await;
            }
        }
    }
    tracing::info!("alerts stopping: delivering queued notifications");
    role.notifiers.finish(DRAIN).await;
    Ok(Ended::Shutdown)
}

struct Role<'a> {
    engine: Engine,
    store: &'a dyn AlertStateStore,
    bus: &'a SharedBus,
    notifiers: Notifiers,
    fence: Fence,
}

impl Role<'_> {
    /// Persists the transitions, then publishes and notifies them, each
    /// step only while the lease is held.
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
                AlertChange::Save(t.alert.clone())
            } else {
                AlertChange::Remove {
                    id: t.alert.id.clone(),
                }
            });
        }
        if !self.fenced(transitions.len()) {
            return;
        }
        if let Err(e) = self.store.apply(changes).await {
            // Notifying without the state saved risks a repeat after a
            // restart; not notifying at all would be worse.
            tracing::error!(error = %e, "cannot save alert state; notifying anyway");
        }
        for t in &transitions {
            if !self.fenced(1) {
                return;
            }
            self.publish(&t.alert).await;
            if !self.fenced(1) {
                return;
            }
            self.notifiers.notify(t);
        }
    }

    /// Whether this instance may still act; if not, says what it dropped.
    fn fenced(&self, transitions: usize) -> bool {
        let holds = self.fence.holds();
        if !holds && transitions > 0 {
            tracing::debug!(
                transitions,
                "past the lease deadline: transitions neither saved, published nor notified"
            );
        }
        holds
    }

    async fn publish(&self, alert: &Alert) {
        if !self.fence.holds() {
            return;
        }
        if let Err(e) = self
            .bus
            .publish(&wire::channel::alerts(&alert.host), encode_alert(alert))
            .await
        {
            tracing::warn!(error = %e, alert = %alert.name, host = %alert.host, "cannot publish an alert event");
        }
    }
}

/// Reads the silences from the store, saying once when that starts and
/// stops failing (the last ones read stay in force meanwhile).
#[derive(Default)]
struct Silences {
    failing: bool,
}

impl Silences {
    async fn load(&mut self, store: &dyn AlertStateStore, now: i64) -> Option<Vec<Silence>> {
        match store.silences(now).await {
            Ok(records) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!("silences readable again");
                }
                Some(
                    records
                        .into_iter()
                        .filter_map(|r| {
                            Silence::from_record(r)
                                .map_err(|e| tracing::warn!("{e}; ignored"))
                                .ok()
                        })
                        .collect(),
                )
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(error = %e, "cannot read silences; the last ones read stay in force");
                }
                None
            }
        }
    }
}
