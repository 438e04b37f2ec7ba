//! The current-state layout in Redis, written so `redis-cli` can read it:
//!
//! - `mon:host:<host>`: a hash with the latest value of every series, field
//!   `name` or `name{"label":"value",...}` (labels as the same canonical JSON
//!   object SQLite stores), value a decimal number; plus `@last_seen_ms` (the
//!   newest report's time) and `@meta` (the `Hello` metadata as JSON). Metric
//!   names never start with `@`, so the two cannot clash. The key expires a
//!   fixed time after `@last_seen_ms`, so a dead host vanishes on its own.
//! - `mon:activity:<host>`: a hash with the host's latest tables, fields
//!   `processes` and `cgroups` (each the event as published) and
//!   `processes_ts` / `cgroups_ts` (its time), expiring like the host's hash.
//!   A key of its own, so the host's hash holds only values and `@` fields.
//! - `mon:hosts`: a sorted set of host names scored by `@last_seen_ms`, the
//!   index that lets a snapshot find every live host without `SCAN`.
//!
//! The upserts run as Lua scripts so a replayed old report cannot roll a
//! newer state back, the check and the write being one atomic step.

use std::collections::HashMap;

use ::redis::Script;
use serde_json::Value;

use crate::activity::ActivityKind;
use crate::bus::{HostState, KeptTable};
use crate::model::{HostMeta, SeriesKey};

/// The sorted set of host names by last-seen time.
pub const HOSTS_KEY: &str = "mon:hosts";
/// Hash field of the newest report time, Unix milliseconds.
pub const LAST_SEEN_FIELD: &str = "@last_seen_ms";
/// Hash field of the host metadata, JSON.
pub const META_FIELD: &str = "@meta";

/// The hash holding one host's current state.
pub fn host_key(host: &str) -> String {
    format!("mon:host:{host}")
}

/// The hash holding one host's latest process and cgroup tables.
pub fn activity_key(host: &str) -> String {
    format!("mon:activity:{host}")
}

/// The upsert of one host's table (see `activity.lua`).
pub fn activity_script() -> Script {
    Script::new(include_str!("activity.lua"))
}

/// Adds what a host's activity hash holds to its state.
pub fn parse_activity(state: &mut HostState, fields: HashMap<String, Vec<u8>>) {
    for kind in ActivityKind::ALL {
        let ts = fields
            .get(&format!("{}_ts", kind.as_str()))
            .and_then(|t| std::str::from_utf8(t).ok()?.parse().ok());
        if let (Some(event), Some(ts)) = (fields.get(kind.as_str()), ts) {
            *state.table_mut(kind) = Some(KeptTable {
                ts,
                event: bytes::Bytes::from(event.clone()),
            });
        }
    }
}

/// The upsert of one accepted report (see `report.lua`).
pub fn report_script() -> Script {
    Script::new(include_str!("report.lua"))
}

/// The upsert of one host's metadata (see `meta.lua`).
pub fn meta_script() -> Script {
    Script::new(include_str!("meta.lua"))
}

/// The hash field of a series: its name, then its labels as JSON if any.
pub fn series_field(key: &SeriesKey) -> String {
    if key.labels.is_empty() {
        key.name.clone()
    } else {
        format!("{}{}", key.name, key.labels_json())
    }
}

/// Reads a host's hash back; `None` when it is empty (expired meanwhile) or
/// has no last-seen time. Fields that do not parse are skipped, so a key
/// someone edited by hand cannot break a snapshot.
pub fn parse_host(host: &str, fields: HashMap<String, Vec<u8>>) -> Option<HostState> {
    let mut state = HostState {
        host: host.to_owned(),
        ..HostState::default()
    };
    let mut seen = false;
    for (field, raw) in fields {
        let Ok(text) = std::str::from_utf8(&raw) else {
            continue;
        };
        match field.as_str() {
            LAST_SEEN_FIELD => {
                if let Ok(ms) = text.parse() {
                    state.last_seen_ms = ms;
                    seen = true;
                }
            }
            META_FIELD => state.meta = serde_json::from_str::<HostMeta>(text).ok(),
            _ => {
                if let (Some(key), Ok(value)) = (parse_series_field(&field), text.parse()) {
                    state.values.insert(key, value);
                }
            }
        }
    }
    seen.then_some(state)
}

fn parse_series_field(field: &str) -> Option<SeriesKey> {
    match field.find('{') {
        None => Some(SeriesKey::new(field)),
        Some(brace) => {
            let labels: serde_json::Map<String, Value> =
                serde_json::from_str(&field[brace..]).ok()?;
            let labels = labels
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Some((k, s)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some(SeriesKey::with_labels(&field[..brace], labels))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_fields_read_back_as_the_same_series() {
        let keys = [
            SeriesKey::new("cpu_usage_percent"),
            SeriesKey::with_labels(
                "filesystem_used_percent",
                [("mount", "/"), ("fstype", "ext4")],
            ),
            SeriesKey::with_labels("x", [("quote", "a\"b{c}"), ("unicode", "é")]),
        ];
        for key in keys {
            let field = series_field(&key);
            assert_eq!(parse_series_field(&field), Some(key), "{field}");
        }
        assert_eq!(
            series_field(&SeriesKey::with_labels("fs", [("mount", "/")])),
            r#"fs{"mount":"/"}"#
        );
    }

    #[test]
    fn a_hash_without_last_seen_is_not_a_host() {
        let fields = HashMap::from([("load1".to_owned(), b"0.5".to_vec())]);
        assert_eq!(parse_host("a", fields), None);
    }

    #[test]
    fn values_round_trip_exactly_through_their_decimal_text() {
        for v in [0.1, 12.5, 1e21, 123_456_789.123_456_78, f64::MIN_POSITIVE] {
            let fields = HashMap::from([
                (LAST_SEEN_FIELD.to_owned(), b"1".to_vec()),
                ("v".to_owned(), v.to_string().into_bytes()),
            ]);
            let state = parse_host("a", fields).unwrap();
            assert_eq!(state.values[&SeriesKey::new("v")], v);
        }
    }
}
