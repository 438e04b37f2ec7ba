//! The fleet's latest state as a delivery role sees it: per host the newest
//! value of every series, its metadata and last-seen time, plus the active
//! alerts. It is rebuilt from the bus (gateway) or from an upstream snapshot
//! (edge), kept current by applying events, and rendered as `snapshot`
//! frames and API answers.

use std::collections::BTreeMap;

use axum::extract::ws::Utf8Bytes;
use serde::Deserialize as _;
use wire::frame::{Snapshot, SnapshotFrame};
use wire::host::LiveHost;
use wire::metrics::{Metrics, Value};

use super::Filter;
use crate::activity::ActivityKind;
use crate::bus::{HostState, KeptTable};
use crate::model::{HostMeta, SeriesKey};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostEntry {
    pub last_seen_ms: i64,
    pub meta: Option<HostMeta>,
    pub values: BTreeMap<SeriesKey, f64>,
    /// The latest `processes` and `cgroups` events, sent to the clients
    /// that watch this host (never in a snapshot: a fleet view does not
    /// pay for every host's tables).
    pub processes: Option<Table>,
    pub cgroups: Option<Table>,
}

/// A host's latest table event, as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub ts: i64,
    pub frame: Utf8Bytes,
}

impl HostEntry {
    pub fn table(&self, kind: ActivityKind) -> Option<&Table> {
        match kind {
            ActivityKind::Processes => self.processes.as_ref(),
            ActivityKind::Cgroups => self.cgroups.as_ref(),
        }
    }

    fn table_mut(&mut self, kind: ActivityKind) -> &mut Option<Table> {
        match kind {
            ActivityKind::Processes => &mut self.processes,
            ActivityKind::Cgroups => &mut self.cgroups,
        }
    }
}

/// A table the bus kept, as the hub keeps it.
fn stored_table(kept: Option<KeptTable>) -> Option<Table> {
    let kept = kept?;
    Some(Table {
        ts: kept.ts,
        frame: Utf8Bytes::try_from(kept.event).ok()?,
    })
}

#[derive(Debug, Clone, Default)]
pub struct Fleet {
    pub hosts: BTreeMap<String, HostEntry>,
    /// Active alerts by id, each the event as it arrived (so fields this
    /// version does not know pass through an edge untouched).
    pub alerts: BTreeMap<String, serde_json::Value>,
}

impl Fleet {
    pub fn from_states(states: Vec<HostState>) -> Self {
        let hosts = states
            .into_iter()
            .map(|s| {
                let entry = HostEntry {
                    last_seen_ms: s.last_seen_ms,
                    meta: s.meta,
                    values: s.values.into_iter().collect(),
                    processes: stored_table(s.processes),
                    cgroups: stored_table(s.cgroups),
                };
                (s.host, entry)
            })
            .collect();
        Self {
            hosts,
            alerts: BTreeMap::new(),
        }
    }

    /// Applies a `metrics` event; an event older than the host's newest one
    /// (a replay) does not roll its values back. A host known only from its
    /// hello takes any report, as on the bus.
    pub fn apply_metrics(&mut self, m: &Metrics) {
        let entry = self.hosts.entry(m.host.clone()).or_default();
        if m.ts < entry.last_seen_ms && !entry.values.is_empty() {
            return;
        }
        entry.last_seen_ms = m.ts;
        for v in &m.values {
            let key = SeriesKey::from_sorted(v.name.clone(), v.labels.0.clone());
            entry.values.insert(key, v.value);
        }
    }

    /// Applies a `processes` or `cgroups` event of a known host; an older
    /// table than the one kept (a replay) is not kept. Returns whether it
    /// was kept, so only then is it sent on.
    pub fn apply_table(
        &mut self,
        host: &str,
        kind: ActivityKind,
        ts: i64,
        frame: Utf8Bytes,
    ) -> bool {
        let Some(entry) = self.hosts.get_mut(host) else {
            return false;
        };
        let slot = entry.table_mut(kind);
        if slot.as_ref().is_some_and(|t| ts < t.ts) {
            return false;
        }
        *slot = Some(Table { ts, frame });
        true
    }

    /// Applies a `host` event: the host's `Hello` metadata. A host known
    /// only from its hello counts as seen now, as on the bus.
    pub fn apply_host(&mut self, host: &str, meta: HostMeta, now_ms: i64) {
        let entry = self
            .hosts
            .entry(host.to_owned())
            .or_insert_with(|| HostEntry {
                last_seen_ms: now_ms,
                ..HostEntry::default()
            });
        entry.meta = Some(meta);
    }

    /// Applies an `alert` event: pending and firing alerts are active,
    /// anything else removes the alert. Returns the alert's host.
    pub fn apply_alert(&mut self, alert: &serde_json::Value) -> Result<String, String> {
        let read =
            wire::alert::Alert::deserialize(alert).map_err(|e| format!("bad alert event: {e}"))?;
        if read.is_active() {
            self.alerts.insert(read.id, alert.clone());
        } else {
            self.alerts.remove(&read.id);
        }
        Ok(read.host)
    }

    pub fn host_json(&self, host: &str, filter: &Filter) -> Option<LiveHost> {
        let e = self.hosts.get(host)?;
        Some(LiveHost {
            host: host.to_owned(),
            last_seen_ms: e.last_seen_ms,
            meta: e.meta.clone(),
            values: e
                .values
                .iter()
                .filter(|(k, _)| filter.metric(&k.name))
                .map(|(k, v)| Value {
                    name: k.name.clone(),
                    labels: wire::metrics::Labels(k.labels.clone()),
                    value: *v,
                })
                .collect(),
        })
    }

    pub fn hosts_json(&self, filter: &Filter) -> Vec<LiveHost> {
        self.hosts
            .keys()
            .filter(|h| filter.host(h))
            .filter_map(|h| self.host_json(h, filter))
            .collect()
    }

    pub fn alerts_json(&self, filter: &Filter) -> Vec<serde_json::Value> {
        self.alerts
            .values()
            .filter(|a| a["host"].as_str().is_none_or(|h| filter.host(h)))
            .cloned()
            .collect()
    }

    /// A `snapshot` frame of the hosts and alerts the filter lets through.
    pub fn snapshot_frame(&self, filter: &Filter, now_ms: i64) -> String {
        let hosts = self.hosts_json(filter);
        let alerts = self.alerts_json(filter);
        serde_json::to_string(&SnapshotFrame::new(now_ms, &hosts, &alerts)).unwrap_or_default()
    }

    /// Rebuilds the state from a `snapshot` frame (the edge's upstream).
    pub fn from_snapshot_frame(text: &str) -> Result<Self, String> {
        let snap: Snapshot<serde_json::Value> =
            serde_json::from_str(text).map_err(|e| format!("bad snapshot frame: {e}"))?;
        let mut fleet = Fleet::default();
        for h in snap.hosts {
            let values = h
                .values
                .into_iter()
                .map(|v| (SeriesKey::from_sorted(v.name, v.labels.0), v.value))
                .collect();
            fleet.hosts.insert(
                h.host,
                HostEntry {
                    last_seen_ms: h.last_seen_ms,
                    meta: h.meta,
                    values,
                    ..HostEntry::default()
                },
            );
        }
        for a in snap.alerts {
            fleet.apply_alert(&a)?;
        }
        Ok(fleet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(host: &str, ts: i64, value: f64) -> Metrics {
        Metrics {
            v: 1,
            host: host.into(),
            ts,
            seq: 1,
            values: vec![Value {
                name: "cpu_usage_percent".into(),
                labels: Default::default(),
                value,
            }],
        }
    }

    #[test]
    fn a_snapshot_round_trips_through_its_frame() {
        let mut fleet = Fleet::default();
        fleet.apply_metrics(&metrics("web-1", 10, 5.0));
        fleet
            .apply_alert(&serde_json::json!({"id": "a1", "host": "web-1", "state": "firing"}))
            .unwrap();
        let frame = fleet.snapshot_frame(&Filter::default(), 99);
        let back = Fleet::from_snapshot_frame(&frame).unwrap();
        assert_eq!(back.hosts, fleet.hosts);
        assert_eq!(back.alerts.len(), 1);
    }

    #[test]
    fn an_old_event_does_not_roll_values_back() {
        let mut fleet = Fleet::default();
        fleet.apply_metrics(&metrics("web-1", 20, 7.0));
        fleet.apply_metrics(&metrics("web-1", 10, 1.0));
        let e = &fleet.hosts["web-1"];
        assert_eq!(e.last_seen_ms, 20);
        assert_eq!(e.values[&SeriesKey::new("cpu_usage_percent")], 7.0);
    }

    #[test]
    fn resolved_alerts_leave_the_active_list() {
        let mut fleet = Fleet::default();
        let alert = |state| serde_json::json!({"id": "a1", "host": "h", "state": state});
        fleet.apply_alert(&alert("firing")).unwrap();
        assert_eq!(fleet.alerts.len(), 1);
        fleet.apply_alert(&alert("resolved")).unwrap();
        assert!(fleet.alerts.is_empty());
        assert!(
            fleet
                .apply_alert(&serde_json::json!({"state": "firing"}))
                .is_err()
        );
    }
}
