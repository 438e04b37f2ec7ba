//! The `metrics` event: one accepted report, published on `metrics.<host>`
//! and sent as-is to every WebSocket client (a client that filters by
//! metric gets a copy with fewer values).
//!
//! `{"type":"metrics","v":1,"host":..,"ts":..,"seq":..,"values":[{"name":..,"labels":{..},"value":..}]}`
//!
//! The server writes this event on its hottest path without serde, and
//! `mon top` reads it in place; both spell the fields with [`field`], and
//! the tests hold those names to the derived types below.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{EVENT_VERSION, kind};

/// The field names of the event and of each value, for the code that
/// writes or reads it by hand.
pub mod field {
    pub const HOST: &str = "host";
    pub const TS: &str = "ts";
    pub const SEQ: &str = "seq";
    pub const VALUES: &str = "values";
    /// Of a value: the metric.
    pub const NAME: &str = "name";
    /// Of a value: its labels, an object.
    pub const LABELS: &str = "labels";
    /// Of a value: the number (`null` when it is not finite).
    pub const VALUE: &str = "value";
}

/// Labels as written: an object of the pairs in their order, which is
/// sorted by name wherever a series key comes from.
#[derive(Debug, Clone, Copy)]
pub struct LabelsRef<'a>(pub &'a [(String, String)]);

impl Serialize for LabelsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Labels as read: the pairs sorted by name, read straight into a vector
/// (no map is built only to be turned into one). A repeated name keeps
/// its last value, as a map would.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels(pub Vec<(String, String)>);

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LabelsRef(&self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of label names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                let mut pairs: Vec<(String, String)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    match pairs.iter_mut().find(|(name, _)| *name == k) {
                        Some(pair) => pair.1 = v,
                        None => pairs.push((k, v)),
                    }
                }
                // Servers send the names sorted; series keys rely on it.
                if !pairs.is_sorted() {
                    pairs.sort();
                }
                Ok(Labels(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}

/// One value as written, borrowed from the series it belongs to.
#[derive(Debug, Serialize)]
pub struct ValueEvent<'a> {
    pub name: &'a str,
    pub labels: LabelsRef<'a>,
    pub value: f64,
}

/// One value as read, in `metrics` events and in a snapshot's hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Value {
    pub name: String,
    #[serde(default)]
    pub labels: Labels,
    pub value: f64,
}

impl Value {
    /// The borrowed form, to write the value again.
    pub fn as_event(&self) -> ValueEvent<'_> {
        ValueEvent {
            name: &self.name,
            labels: LabelsRef(&self.labels.0),
            value: self.value,
        }
    }
}

/// A `metrics` event as written.
#[derive(Debug, Serialize)]
pub struct MetricsEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub v: u32,
    pub host: &'a str,
    pub ts: i64,
    pub seq: u64,
    pub values: Vec<ValueEvent<'a>>,
}

impl<'a> MetricsEvent<'a> {
    pub fn new(host: &'a str, ts: i64, seq: u64, values: Vec<ValueEvent<'a>>) -> Self {
        Self {
            kind: kind::METRICS,
            v: EVENT_VERSION,
            host,
            ts,
            seq,
            values,
        }
    }
}

/// A `metrics` event as read. The host and the time are required; a
/// missing `seq` is 0 and missing `values` none.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Metrics {
    #[serde(default)]
    pub v: u32,
    pub host: String,
    pub ts: i64,
    #[serde(default)]
    pub seq: u64,
    #[serde(default)]
    pub values: Vec<Value>,
}

impl Metrics {
    /// The event written again with only the values `keep` lets through,
    /// under the version it came with.
    pub fn filtered(&self, mut keep: impl FnMut(&Value) -> bool) -> String {
        let mut event = MetricsEvent::new(
            &self.host,
            self.ts,
            self.seq,
            self.values
                .iter()
                .filter(|v| keep(v))
                .map(Value::as_event)
                .collect(),
        );
        event.v = self.v;
        serde_json::to_string(&event).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(labels: &[(&str, &str)]) -> Vec<(String, String)> {
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_metrics_event_round_trips_and_spells_the_documented_fields() {
        let cpu = pairs(&[]);
        let fs = pairs(&[("fstype", "ext4"), ("mount", "/")]);
        let event = MetricsEvent::new(
            "web-1",
            1_764_180_000_000,
            42,
            vec![
                ValueEvent {
                    name: "cpu_usage_percent",
                    labels: LabelsRef(&cpu),
                    value: 12.5,
                },
                ValueEvent {
                    name: "filesystem_used_percent",
                    labels: LabelsRef(&fs),
                    value: 61.2,
                },
            ],
        );
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(
            text,
            r#"{"type":"metrics","v":1,"host":"web-1","ts":1764180000000,"seq":42,"values":[{"name":"cpu_usage_percent","labels":{},"value":12.5},{"name":"filesystem_used_percent","labels":{"fstype":"ext4","mount":"/"},"value":61.2}]}"#
        );
        let back: Metrics = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (back.v, back.host.as_str(), back.ts, back.seq),
            (1, "web-1", 1_764_180_000_000, 42)
        );
        assert_eq!(back.values[1].labels.0, fs);
        assert_eq!(back.filtered(|_| true), text);

        // The names the hand-written paths use are the derived ones.
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = [
            crate::TYPE,
            crate::VERSION,
            field::HOST,
            field::TS,
            field::SEQ,
            field::VALUES,
        ];
        expected.sort();
        assert_eq!(keys, expected);
        let value: Vec<&str> = json[field::VALUES][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = [field::NAME, field::LABELS, field::VALUE];
        expected.sort();
        assert_eq!(value, expected);
    }

    #[test]
    fn labels_are_read_sorted_and_a_repeated_name_keeps_its_last_value() {
        let v: Value = serde_json::from_str(
            r#"{"name":"x","labels":{"mount":"/","fstype":"xfs","fstype":"ext4"},"value":1}"#,
        )
        .unwrap();
        assert_eq!(v.labels.0, pairs(&[("fstype", "ext4"), ("mount", "/")]));
        let bare: Value = serde_json::from_str(r#"{"name":"x","value":1}"#).unwrap();
        assert!(bare.labels.0.is_empty());
    }

    #[test]
    fn a_filtered_copy_keeps_the_version_and_drops_values() {
        let m: Metrics = serde_json::from_str(
            r#"{"type":"metrics","v":2,"host":"h","ts":1,"values":[{"name":"a","value":1},{"name":"b","value":2}]}"#,
        )
        .unwrap();
        assert_eq!(
            m.filtered(|v| v.name == "b"),
            r#"{"type":"metrics","v":2,"host":"h","ts":1,"seq":0,"values":[{"name":"b","labels":{},"value":2.0}]}"#
        );
    }

    #[test]
    fn a_metrics_event_needs_its_host_time_and_whole_values() {
        for bad in [
            r#"{"type":"metrics","host":"web-1","values":[]}"#,
            r#"{"type":"metrics","host":"web-1","ts":1,"values":[{"name":"x"}]}"#,
            r#"{"type":"metrics","host":"web-1","ts":1,"ts":2,"values":[]}"#,
        ] {
            assert!(serde_json::from_str::<Metrics>(bad).is_err(), "{bad}");
        }
    }
}
