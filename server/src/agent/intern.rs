//! The sending side of interned series (ingest protocol 2): each series is
//! defined once per stream, then sent as an id and a value.
//!
//! The spool keeps plain reports, since a report may be replayed on any
//! later stream; a [`SeriesIds`] belongs to one stream and turns each
//! report into the interned form as it is sent. A new stream starts a new
//! table, so its first reports define their series again.

use std::collections::HashMap;

use crate::model::SeriesKey;
use crate::proto;

/// Most series one stream defines; past it, new series go plain. Below the
/// aggregator's default `--max-series-per-stream`.
pub const MAX_IDS: usize = 50_000;

/// The ids this stream has given its series.
#[derive(Debug, Default)]
pub struct SeriesIds {
    ids: HashMap<SeriesKey, u32>,
}

impl SeriesIds {
    pub fn new() -> Self {
        Self::default()
    }

    /// The report as sent on this stream: samples of series already defined
    /// become `(id, value)`, the others are defined in the same report.
    pub fn encode(&mut self, report: &proto::Report) -> proto::Report {
        let mut out = proto::Report {
            host: report.host.clone(),
            seq: report.seq,
            timestamp_ms: report.timestamp_ms,
            processes: report.processes.clone(),
            cgroups: report.cgroups.clone(),
            ..proto::Report::default()
        };
        out.ids.reserve(report.samples.len());
        out.values.reserve(report.samples.len());
        for sample in &report.samples {
            let key = SeriesKey::with_labels(
                sample.name.as_str(),
                sample
                    .labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str())),
            );
            let id = match self.ids.get(&key) {
                Some(&id) => id,
                None if self.ids.len() < MAX_IDS => {
                    let id = self.ids.len() as u32;
                    out.defs.push(proto::SeriesDef {
                        id,
                        name: sample.name.clone(),
                        labels: sample.labels.clone(),
                    });
                    self.ids.insert(key, id);
                    id
                }
                None => {
                    out.samples.push(sample.clone());
                    continue;
                }
            };
            out.ids.push(id);
            out.values.push(sample.value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(seq: u64, names: &[&str]) -> proto::Report {
        proto::Report {
            host: "h".into(),
            seq,
            timestamp_ms: 1,
            samples: names
                .iter()
                .map(|n| proto::Sample {
                    name: (*n).into(),
                    labels: vec![],
                    value: seq as f64,
                })
                .collect(),
            ..proto::Report::default()
        }
    }

    #[test]
    fn a_series_is_defined_once_per_stream_and_then_sent_by_id() {
        let mut ids = SeriesIds::new();
        let first = ids.encode(&report(1, &["a", "b"]));
        assert_eq!(first.defs.len(), 2);
        assert_eq!(first.ids, vec![0, 1]);
        let second = ids.encode(&report(2, &["b", "c"]));
        assert_eq!(second.defs.len(), 1, "only the new series is defined");
        assert_eq!(second.defs[0].name, "c");
        assert_eq!(second.ids, vec![1, 2]);
        assert_eq!(second.values, vec![2.0, 2.0]);
        assert!(second.samples.is_empty());
        let fresh = SeriesIds::new().encode(&report(3, &["b"]));
        assert_eq!(fresh.defs.len(), 1, "a new stream defines again");
    }
}
