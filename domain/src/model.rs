//! The pipeline's domain types, free of any wire format: a [`SeriesKey`]
//! names one time series of a host, a [`Point`] is one value of it, and an
//! [`AcceptedReport`] is what survives validation of one agent report.
//!
//! Labels are kept sorted by name, so two keys with the same labels in a
//! different order are the same series everywhere (SQLite, bus, caches).

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

/// One time series of a host: a metric name plus its labels, sorted by name.
///
/// Shared, not copied: a clone is a reference count, and the key's hash is
/// computed once, when it is made. Ingest resolves a series once per stream
/// and then moves the same key through validation, the bus, the live event
/// and the store, so no step hashes or copies its strings again; two keys
/// made separately are still equal when their contents are.
#[derive(Clone)]
pub struct SeriesKey(Arc<KeyParts>);

/// What a [`SeriesKey`] holds, read through it (`key.name`, `key.labels`).
pub struct KeyParts {
    pub name: String,
    pub labels: Vec<(String, String)>,
    hash: u64,
    /// `"name":..,"labels":{..}` as the live event writes it, made the
    /// first time the key is published.
    event_json: OnceLock<Box<str>>,
}

/// The process's seed for key hashes: random per process, so a sender
/// cannot pick names that collide.
fn key_hasher() -> &'static foldhash::quality::RandomState {
    static STATE: OnceLock<foldhash::quality::RandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::quality::RandomState::default)
}

impl SeriesKey {
    /// A series with no labels.
    pub fn new(name: impl Into<String>) -> Self {
        Self::from_sorted(name.into(), Vec::new())
    }

    /// A series with labels; they are sorted here.
    pub fn with_labels<K: Into<String>, V: Into<String>>(
        name: impl Into<String>,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut labels: Vec<(String, String)> = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        labels.sort();
        Self::from_sorted(name.into(), labels)
    }

    /// A series whose labels are already sorted by name (a `BTreeMap`'s
    /// order, say); debug builds check it.
    pub fn from_sorted(name: String, labels: Vec<(String, String)>) -> Self {
        debug_assert!(labels.is_sorted(), "labels of {name} are not sorted");
        let mut h = key_hasher().build_hasher();
        name.hash(&mut h);
        labels.hash(&mut h);
        Self(Arc::new(KeyParts {
            name,
            labels,
            hash: h.finish(),
            event_json: OnceLock::new(),
        }))
    }

    /// The labels as a canonical JSON object (`{}` when there are none), the
    /// form stored in SQLite so `json_extract` works on it.
    pub fn labels_json(&self) -> String {
        let map: BTreeMap<&str, &str> = self
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Parses the form written by [`SeriesKey::labels_json`].
    pub fn from_parts(name: &str, labels_json: &str) -> Result<Self, serde_json::Error> {
        let map: BTreeMap<String, String> = serde_json::from_str(labels_json)?;
        Ok(Self::from_sorted(
            name.to_owned(),
            map.into_iter().collect(),
        ))
    }

    /// The value of one label, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `"name":"..","labels":{..}` exactly as serde_json writes the two
    /// fields of a value in the live event; made once per key.
    pub fn event_json(&self) -> &str {
        use wire::metrics::field;
        self.0.event_json.get_or_init(|| {
            let mut out = String::with_capacity(32 + self.name.len());
            out.push('"');
            out.push_str(field::NAME);
            out.push_str("\":");
            out.push_str(&serde_json::to_string(&self.name).unwrap_or_default());
            out.push_str(",\"");
            out.push_str(field::LABELS);
            out.push_str("\":{");
            for (i, (k, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                out.push_str(&serde_json::to_string(v).unwrap_or_default());
            }
            out.push('}');
            out.into_boxed_str()
        })
    }
}

impl Deref for SeriesKey {
    type Target = KeyParts;

    fn deref(&self) -> &KeyParts {
        &self.0
    }
}

impl PartialEq for SeriesKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash
                && self.0.name == other.0.name
                && self.0.labels == other.0.labels)
    }
}

impl Eq for SeriesKey {}

impl Hash for SeriesKey {
    /// The hash made at construction: a map lookup never reads the strings.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl PartialOrd for SeriesKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SeriesKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.name, &self.labels).cmp(&(&other.name, &other.labels))
    }
}

impl fmt::Debug for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesKey")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .finish()
    }
}

impl fmt::Display for SeriesKey {
    /// Prometheus exposition style: `name{a="x",b="y"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.labels.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// One value of one series.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub key: SeriesKey,
    pub value: f64,
}

/// What an agent says about its host in `Hello`: a wire type as it is,
/// since its JSON is the `meta` of every host event and snapshot.
pub use wire::host::HostMeta;

/// The validated, normalized part of one agent report.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptedReport {
    /// Lower-cased host name.
    pub host: String,
    pub seq: u64,
    pub timestamp_ms: i64,
    pub points: Vec<Point>,
}

/// The metrics the `mon agent` sends, with their label names: the contract
/// listed in ARCHITECTURE.md. Rule checking suggests the nearest one when a
/// rule names a metric or label that is not here.
pub const AGENT_METRICS: &[(&str, &[&str])] = &[
    ("cpu_usage_percent", &[]),
    ("cpu_core_usage_percent", &["core"]),
    ("load1", &[]),
    ("load5", &[]),
    ("load15", &[]),
    ("memory_total_bytes", &[]),
    ("memory_used_bytes", &[]),
    ("memory_available_bytes", &[]),
    ("memory_used_percent", &[]),
    ("swap_total_bytes", &[]),
    ("swap_used_bytes", &[]),
    ("filesystem_size_bytes", &["mount", "fstype"]),
    ("filesystem_used_bytes", &["mount", "fstype"]),
    ("filesystem_free_bytes", &["mount", "fstype"]),
    ("filesystem_available_bytes", &["mount", "fstype"]),
    ("filesystem_used_percent", &["mount", "fstype"]),
    ("filesystem_inodes_used_percent", &["mount", "fstype"]),
    ("disk_read_bytes_per_second", &["device"]),
    ("disk_written_bytes_per_second", &["device"]),
    ("disk_io_time_percent", &["device"]),
    ("disk_read_wait_milliseconds", &["device"]),
    ("disk_write_wait_milliseconds", &["device"]),
    ("temperature_celsius", &["sensor"]),
    ("temperature_critical_celsius", &["sensor"]),
    ("network_receive_bytes_per_second", &["iface"]),
    ("network_transmit_bytes_per_second", &["iface"]),
    ("uptime_seconds", &[]),
    ("processes", &[]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_so_order_does_not_make_a_new_series() {
        let a = SeriesKey::with_labels("x", [("b", "2"), ("a", "1")]);
        let b = SeriesKey::with_labels("x", [("a", "1"), ("b", "2")]);
        assert_eq!(a, b);
        assert_eq!(a.to_string(), r#"x{a="1",b="2"}"#);
        assert_eq!(a.labels_json(), r#"{"a":"1","b":"2"}"#);
        assert_eq!(SeriesKey::from_parts("x", &a.labels_json()).unwrap(), a);
    }

    #[test]
    fn a_series_without_labels_prints_its_bare_name() {
        assert_eq!(SeriesKey::new("load1").to_string(), "load1");
        assert_eq!(SeriesKey::new("load1").labels_json(), "{}");
    }
}
