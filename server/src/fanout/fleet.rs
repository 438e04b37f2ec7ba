//! The fleet's latest state as a delivery role sees it: per host the newest
//! value of every series, its metadata and last-seen time, plus the active
//! alerts. It is rebuilt from the bus (gateway) or from an upstream snapshot
//! (edge), kept current by applying events, and rendered as `snapshot`
//! frames and API answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use axum::extract::ws::Utf8Bytes;

use super::Filter;
use super::message::PROTOCOL_VERSION;
use crate::activity::ActivityKind;
use crate::bus::{HostState, KeptTable};
use crate::model::{HostMeta, SeriesKey};

/// One value as it appears in `metrics` and `snapshot` frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueJson {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A `metrics` frame, parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsJson {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub v: u32,
    pub host: String,
    pub ts: i64,
    #[serde(default)]
    pub seq: u64,
    pub values: Vec<ValueJson>,
}

impl MetricsJson {
    /// The frame with only the values whose metric passes the filter.
    pub fn filtered(&self, filter: &Filter) -> String {
        let subset = MetricsJson {
            values: self
                .values
                .iter()
                .filter(|v| filter.metric(&v.name))
                .cloned()
                .collect(),
            ..self.clone()
        };
        serde_json::to_string(&subset).unwrap_or_default()
    }
}

/// One host in a `snapshot` frame and in `/api/hosts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostJson {
    pub host: String,
    pub last_seen_ms: i64,
    pub meta: Option<HostMeta>,
    pub values: Vec<ValueJson>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotJson {
    #[serde(rename = "type")]
    kind: String,
    v: u32,
    ts: i64,
    hosts: Vec<HostJson>,
    alerts: Vec<serde_json::Value>,
}

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
    /// Active alerts by id.
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
    pub fn apply_metrics(&mut self, m: &MetricsJson) {
        let entry = self.hosts.entry(m.host.clone()).or_default();
        if m.ts < entry.last_seen_ms && !entry.values.is_empty() {
            return;
        }
        entry.last_seen_ms = m.ts;
        for v in &m.values {
            let key = SeriesKey::from_sorted(
                v.name.clone(),
                v.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
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
    /// anything else removes the alert.
    pub fn apply_alert(&mut self, alert: &serde_json::Value) -> Result<(), String> {
        let id = alert["id"]
            .as_str()
            .ok_or("an alert event needs a string \"id\"")?
            .to_owned();
        match alert["state"].as_str() {
            Some("pending" | "firing") => {
                self.alerts.insert(id, alert.clone());
            }
            Some(_) => {
                self.alerts.remove(&id);
            }
            None => return Err("an alert event needs a string \"state\"".into()),
        }
        Ok(())
    }

    pub fn host_json(&self, host: &str, filter: &Filter) -> Option<HostJson> {
        let e = self.hosts.get(host)?;
        Some(HostJson {
            host: host.to_owned(),
            last_seen_ms: e.last_seen_ms,
            meta: e.meta.clone(),
            values: e
                .values
                .iter()
                .filter(|(k, _)| filter.metric(&k.name))
                .map(|(k, v)| ValueJson {
                    name: k.name.clone(),
                    labels: k.labels.iter().cloned().collect(),
                    value: *v,
                })
                .collect(),
        })
    }

    pub fn hosts_json(&self, filter: &Filter) -> Vec<HostJson> {
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
        serde_json::to_string(&SnapshotJson {
            kind: "snapshot".into(),
            v: PROTOCOL_VERSION,
            ts: now_ms,
            hosts: self.hosts_json(filter),
            alerts: self.alerts_json(filter),
        })
        .unwrap_or_default()
    }

    /// Rebuilds the state from a `snapshot` frame (the edge's upstream).
    pub fn from_snapshot_frame(text: &str) -> Result<Self, String> {
        let snap: SnapshotJson =
            serde_json::from_str(text).map_err(|e| format!("bad snapshot frame: {e}"))?;
        let mut fleet = Fleet::default();
        for h in snap.hosts {
            let values = h
                .values
                .into_iter()
                .map(|v| {
                    (
                        SeriesKey::from_sorted(v.name, v.labels.into_iter().collect()),
                        v.value,
                    )
                })
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

    fn metrics(host: &str, ts: i64, value: f64) -> MetricsJson {
        MetricsJson {
            kind: "metrics".into(),
            v: 1,
            host: host.into(),
            ts,
            seq: 1,
            values: vec![ValueJson {
                name: "cpu_usage_percent".into(),
                labels: BTreeMap::new(),
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
