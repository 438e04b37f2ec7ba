//! The wire formats of the stacks `mon` works next to: Prometheus
//! remote-write 1.0 and OTLP/HTTP metrics. Each module decodes a request
//! body into the reports an agent would have sent (one per host and
//! timestamp), so pushed samples take the agents' path from there on:
//! validation, the store writer, the bus and the alerts.
//!
//! The one thing to know: these modules only translate. What is refused
//! while translating (a series without a host, a kind of metric `mon` does
//! not keep) is listed as a [`Problem`]; every other rule is the
//! aggregator's validation, applied unchanged.

pub mod otlp;
pub mod otlp_json;
pub mod remote_write;
pub mod remote_write_out;

/// A sample (or series) left out while translating, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The series as the sender named it, e.g. `up{job="node"}`.
    pub series: String,
    /// Its sample's timestamp in Unix milliseconds, when it has one.
    pub timestamp_ms: Option<i64>,
    pub reason: String,
    /// Samples this problem covers.
    pub samples: usize,
}

/// What a push body became: reports ready for validation, and what could
/// not be translated.
#[derive(Debug, Default)]
pub struct Translated {
    pub reports: Vec<crate::proto::Report>,
    pub problems: Vec<Problem>,
    /// Samples that carry no value on purpose (Prometheus' staleness marker:
    /// the series ended). They are neither stored nor refused.
    pub ended: usize,
}

/// Groups samples into one report per (host, timestamp), the unit the store
/// and the bus know: a scrape of one target is one report, like an agent's
/// tick.
#[derive(Default)]
pub(crate) struct Grouper {
    groups: std::collections::BTreeMap<(String, i64), Vec<crate::proto::Sample>>,
}

impl Grouper {
    pub(crate) fn push(&mut self, host: &str, timestamp_ms: i64, sample: crate::proto::Sample) {
        self.groups
            .entry((host.to_owned(), timestamp_ms))
            .or_default()
            .push(sample);
    }

    pub(crate) fn into_reports(self) -> Vec<crate::proto::Report> {
        self.groups
            .into_iter()
            .map(|((host, timestamp_ms), samples)| crate::proto::Report {
                host,
                seq: 0,
                timestamp_ms,
                samples,
                ..crate::proto::Report::default()
            })
            .collect()
    }
}

/// Shows a series the way Prometheus writes it: `name{a="1",b="2"}`.
pub(crate) fn series_text<'a>(
    name: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let labels: Vec<String> = labels
        .into_iter()
        .map(|(k, v)| format!("{}={:?}", cut(k), cut(v)))
        .collect();
    if labels.is_empty() {
        cut(name).to_owned()
    } else {
        format!("{}{{{}}}", cut(name), labels.join(","))
    }
}

/// Keeps messages short whatever a sender puts in a name.
fn cut(s: &str) -> &str {
    &s[..s.floor_char_boundary(64)]
}
