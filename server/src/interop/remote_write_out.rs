//! Prometheus remote-write 1.0 out: the `WriteRequest` `mon` sends to a
//! receiver (Prometheus with `--web.enable-remote-write-receiver`,
//! VictoriaMetrics, Mimir, Thanos receive...), built from the store's
//! forward log, and the headers the specification requires.
//!
//! Each series is labelled `__name__` (the metric), `host` and its own
//! labels, sorted by name as the specification asks; a series label that is
//! itself called `host` is sent as `exported_host`, the way Prometheus
//! keeps a scraped label that clashes with a target label. Within a request
//! each series' samples are in timestamp order.

use std::collections::{BTreeMap, HashMap};

use super::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use crate::model::SeriesKey;
use crate::store::LogEntry;

/// The headers every request carries, besides `Authorization`.
pub const HEADERS: [(&str, &str); 4] = [
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ("User-Agent", concat!("mon/", env!("CARGO_PKG_VERSION"))),
];

/// A request and what it holds.
#[derive(Debug, Default)]
pub struct Built {
    pub request: WriteRequest,
    pub samples: usize,
    /// Samples left out because their series was not found (deleted from
    /// the store by hand): nothing a receiver could be told about.
    pub unnamed: usize,
}

/// The request for `entries`, naming series from `names`.
pub fn build(entries: &[LogEntry], names: &HashMap<i64, SeriesKey>) -> Built {
    let mut series: BTreeMap<(&str, i64), Vec<Sample>> = BTreeMap::new();
    let mut built = Built::default();
    for entry in entries {
        for &(id, value) in &entry.samples {
            if !names.contains_key(&id) {
                built.unnamed += 1;
                continue;
            }
            series
                .entry((entry.host.as_str(), id))
                .or_default()
                .push(Sample {
                    value,
                    timestamp: entry.ts,
                });
        }
    }
    for ((host, id), mut samples) in series {
        let key = &names[&id];
        samples.sort_by_key(|s| s.timestamp);
        built.samples += samples.len();
        built.request.timeseries.push(TimeSeries {
            labels: labels(host, key),
            samples,
            histograms: Vec::new(),
        });
    }
    built
}

fn labels(host: &str, key: &SeriesKey) -> Vec<Label> {
    let label = |name: &str, value: &str| Label {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let mut labels = vec![label("__name__", &key.name), label("host", host)];
    for (name, value) in &key.labels {
        let name = if name == "host" {
            "exported_host"
        } else {
            name
        };
        labels.push(label(name, value));
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_name_host_and_sorted_labels_with_samples_in_time_order() {
        let disk = SeriesKey::with_labels(
            "disk_io_time_percent",
            [("device", "sda".to_owned()), ("host", "vm-7".to_owned())],
        );
        let names = HashMap::from([(1, SeriesKey::new("load1")), (2, disk)]);
        let entry = |seq, ts, samples: Vec<(i64, f64)>| LogEntry {
            seq,
            host: "web-1".into(),
            ts,
            samples,
        };
        // A late report (ts 1000 after 2000) and a series deleted by hand (9).
        let entries = [
            entry(1, 2000, vec![(1, 0.5), (2, 7.0)]),
            entry(2, 1000, vec![(1, 0.25), (9, 1.0)]),
        ];
        let built = build(&entries, &names);
        assert_eq!((built.samples, built.unnamed), (3, 1));
        type Shown = (Vec<String>, Vec<(i64, f64)>);
        let shown: Vec<Shown> = built
            .request
            .timeseries
            .iter()
            .map(|t| {
                (
                    t.labels
                        .iter()
                        .map(|l| format!("{}={}", l.name, l.value))
                        .collect(),
                    t.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    vec!["__name__=load1".into(), "host=web-1".into()],
                    vec![(1000, 0.25), (2000, 0.5)]
                ),
                (
                    vec![
                        "__name__=disk_io_time_percent".into(),
                        "device=sda".into(),
                        "exported_host=vm-7".into(),
                        "host=web-1".into()
                    ],
                    vec![(2000, 7.0)]
                ),
            ]
        );
    }
}
