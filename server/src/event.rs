//! The JSON events that travel on the bus and, byte for byte, on the
//! WebSocket: `metrics` (one accepted report) and, later, `alert`.
//!
//! An event is serialized once, where it is produced; every consumer forwards
//! the same bytes. The `v` field versions the format.

use bytes::Bytes;
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::model::{AcceptedReport, Point};

/// Version of the event format, carried as `"v"` in every event.
pub const EVENT_VERSION: u32 = 1;

/// The bus channel of a host's metrics: `metrics.<host>`.
pub fn metrics_channel(host: &str) -> String {
    format!("metrics.{host}")
}

/// The bus channel of a host's alert transitions: `alerts.<host>`.
pub fn alerts_channel(host: &str) -> String {
    format!("alerts.{host}")
}

#[derive(Serialize)]
struct MetricsEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    v: u32,
    host: &'a str,
    ts: i64,
    seq: u64,
    values: Vec<Value<'a>>,
}

struct Value<'a>(&'a Point);

impl Serialize for Value<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("name", &self.0.key.name)?;
        m.serialize_entry("labels", &Labels(&self.0.key.labels))?;
        m.serialize_entry("value", &self.0.value)?;
        m.end()
    }
}

struct Labels<'a>(&'a [(String, String)]);

impl Serialize for Labels<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Encodes an accepted report as a `metrics` event:
/// `{"type":"metrics","v":1,"host":..,"ts":..,"seq":..,"values":[{"name":..,"labels":{..},"value":..}]}`.
pub fn encode_metrics(report: &AcceptedReport) -> Bytes {
    let event = MetricsEvent {
        kind: "metrics",
        v: EVENT_VERSION,
        host: &report.host,
        ts: report.timestamp_ms,
        seq: report.seq,
        values: report.points.iter().map(Value).collect(),
    };
    // Serializing plain strings and finite floats cannot fail.
    Bytes::from(serde_json::to_vec(&event).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SeriesKey;

    #[test]
    fn metrics_event_is_readable_json_with_labels_as_an_object() {
        let report = AcceptedReport {
            host: "web-1".into(),
            seq: 7,
            timestamp_ms: 1_700_000_000_000,
            points: vec![
                Point {
                    key: SeriesKey::new("cpu_usage_percent"),
                    value: 12.5,
                },
                Point {
                    key: SeriesKey::with_labels("cpu_core_usage_percent", [("core", "0")]),
                    value: 3.0,
                },
            ],
        };
        let json: serde_json::Value = serde_json::from_slice(&encode_metrics(&report)).unwrap();
        assert_eq!(json["type"], "metrics");
        assert_eq!(json["v"], 1);
        assert_eq!(json["host"], "web-1");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["values"][1]["labels"]["core"], "0");
        assert_eq!(json["values"][0]["value"], 12.5);
    }
}
