//! The JSON events that travel on the bus and, byte for byte, on the
//! WebSocket: `metrics` (one accepted report) and `alert` (one alert
//! transition).
//!
//! An event is serialized once, where it is produced; every consumer forwards
//! the same bytes. The `v` field versions the format. The shapes are the
//! `wire` crate's; this module makes them from the domain types.

use bytes::Bytes;
use serde_json::ser::Formatter as _;
use wire::alert::AlertEvent;
use wire::host::HostEvent;
use wire::metrics::{Metrics, field};

use crate::alert::Alert;
use crate::model::{AcceptedReport, HostMeta, Point, SeriesKey};

pub use wire::EVENT_VERSION;

/// Encodes what an agent said in its `Hello` as a `host` event, published on
/// `hosts.<host>` so live consumers learn a new host's metadata (OS, cores,
/// interval) without asking the bus:
/// `{"type":"host","v":1,"host":..,"meta":{..}}`.
pub fn encode_host(host: &str, meta: &HostMeta) -> Bytes {
    Bytes::from(serde_json::to_vec(&HostEvent::new(host, meta)).unwrap_or_default())
}

/// Appends `"name":` (a field name needs no escapes).
fn key(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Encodes an accepted report as a `metrics` event:
/// `{"type":"metrics","v":1,"host":..,"ts":..,"seq":..,"values":[{"name":..,"labels":{..},"value":..}]}`.
///
/// Written straight into one buffer sized up front: each key's
/// `"name":..,"labels":{..}` part is made once per series
/// ([`SeriesKey::event_json`]) and values go through serde_json's own
/// number formatter, so the bytes are the same as serializing
/// [`wire::metrics::MetricsEvent`] through serde (a property test holds
/// the two together) at a fraction of the cost per sample. The field names
/// are the wire crate's.
pub fn encode_metrics(report: &AcceptedReport) -> Bytes {
    let parts: usize = report
        .points
        .iter()
        .map(|p| p.key.event_json().len() + 36)
        .sum();
    let mut out = Vec::with_capacity(96 + report.host.len() + parts);
    out.push(b'{');
    key(&mut out, wire::TYPE);
    let _ = serde_json::to_writer(&mut out, wire::kind::METRICS);
    out.push(b',');
    key(&mut out, wire::VERSION);
    out.extend_from_slice(EVENT_VERSION.to_string().as_bytes());
    out.push(b',');
    key(&mut out, field::HOST);
    // A host name is checked to be plain ASCII, but escape it as serde does.
    let _ = serde_json::to_writer(&mut out, &report.host);
    out.push(b',');
    key(&mut out, field::TS);
    out.extend_from_slice(report.timestamp_ms.to_string().as_bytes());
    out.push(b',');
    key(&mut out, field::SEQ);
    out.extend_from_slice(report.seq.to_string().as_bytes());
    out.push(b',');
    key(&mut out, field::VALUES);
    out.push(b'[');
    let mut number = serde_json::ser::CompactFormatter;
    for (i, p) in report.points.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        out.extend_from_slice(p.key.event_json().as_bytes());
        out.push(b',');
        key(&mut out, field::VALUE);
        if p.value.is_finite() {
            let _ = number.write_f64(&mut out, p.value);
        } else {
            out.extend_from_slice(b"null");
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

/// The same event through serde, the reference [`encode_metrics`] is
/// checked against.
#[cfg(test)]
fn encode_metrics_with_serde(report: &AcceptedReport) -> Bytes {
    use wire::metrics::{LabelsRef, MetricsEvent, ValueEvent};
    let event = MetricsEvent::new(
        &report.host,
        report.timestamp_ms,
        report.seq,
        report
            .points
            .iter()
            .map(|p| ValueEvent {
                name: &p.key.name,
                labels: LabelsRef(&p.key.labels),
                value: p.value,
            })
            .collect(),
    );
    Bytes::from(serde_json::to_vec(&event).unwrap_or_default())
}

/// Reads a `metrics` event back into the report it was made from.
pub fn decode_metrics(payload: &[u8]) -> Result<AcceptedReport, serde_json::Error> {
    let m: Metrics = serde_json::from_slice(payload)?;
    Ok(AcceptedReport {
        host: m.host,
        seq: m.seq,
        timestamp_ms: m.ts,
        points: m
            .values
            .into_iter()
            .map(|v| Point {
                key: SeriesKey::from_sorted(v.name, v.labels.0),
                value: v.value,
            })
            .collect(),
    })
}

/// Encodes an alert transition as an `alert` event. `labels` leaves out
/// `alertname` and `host`, which the event carries as `alert` and `host`.
pub fn encode_alert(a: &Alert) -> Bytes {
    let event = AlertEvent {
        kind: wire::kind::ALERT,
        v: EVENT_VERSION,
        id: &a.id,
        host: &a.host,
        alert: &a.name,
        state: a.state.as_str(),
        severity: &a.severity,
        value: a.value,
        labels: a
            .labels
            .iter()
            .filter(|(k, _)| *k != "alertname" && *k != "host")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        annotations: &a.annotations,
        active_since_ms: a.active_since_ms,
        ts: a.ts_ms,
        silenced: !a.silenced_by.is_empty(),
        silenced_by: &a.silenced_by,
    };
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
        let back = decode_metrics(&encode_metrics(&report)).unwrap();
        assert_eq!(back, report);
    }

    proptest::proptest! {
        /// The hand-written encoder and serde agree byte for byte, whatever
        /// the names, label values (quotes, control characters, non-ASCII)
        /// and values.
        #[test]
        fn metrics_event_bytes_are_those_of_serde(
            host in "[a-z0-9.-]{1,20}",
            ts in proptest::num::i64::ANY,
            seq in proptest::num::u64::ANY,
            points in proptest::collection::vec(
                ("[a-z_]{1,12}", proptest::collection::btree_map("[a-z_]{1,6}", "\\PC{0,8}|[\"\\\\\u{0}-\u{1f}]{1,3}", 0..4), proptest::num::f64::ANY),
                0..6,
            ),
        ) {
            let report = AcceptedReport {
                host,
                seq,
                timestamp_ms: ts,
                points: points
                    .into_iter()
                    .map(|(name, labels, value)| Point {
                        key: SeriesKey::from_sorted(name, labels.into_iter().collect()),
                        value,
                    })
                    .collect(),
            };
            proptest::prop_assert_eq!(encode_metrics(&report), encode_metrics_with_serde(&report));
        }
    }
}
