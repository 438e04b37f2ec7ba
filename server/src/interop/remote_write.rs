//! Prometheus remote-write 1.0: the protobuf `WriteRequest`, snappy-compressed
//! (block format), as Prometheus, Grafana Alloy and vmagent send it to
//! `POST /api/v1/write`, and its translation into reports.
//!
//! Mapping: the host is the `host` label if it is set, else the `instance`
//! label without its port; the metric name is `__name__`; every other label
//! is kept (`job` and `instance` included). Prometheus' staleness marker (a
//! NaN with a fixed bit pattern) says "this series ended": it is skipped,
//! never refused. Native histograms are refused (classic histograms and
//! summaries arrive as plain `_bucket`, `_sum` and `_count` series and are
//! kept like any other); exemplars and metadata are ignored.

use super::{Grouper, Problem, Translated, series_text};
use crate::proto;

/// `prometheus.WriteRequest`, with the fields `mon` reads (field numbers
/// from the remote-write 1.0 specification).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples: only counted, to be refused by name.
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// A native histogram sample; only its timestamp is read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
}

/// The bit pattern of Prometheus' staleness marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Why a body could not be read at all; answered 400 or 413, never retried.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BodyError {
    #[error("the body is not snappy-compressed (block format, as remote-write 1.0 sends it): {0}")]
    NotSnappy(String),
    #[error(
        "the body decompresses to {size} bytes, over this server's limit of {limit} bytes (--max-write-bytes); send fewer samples per request (Prometheus: queue_config.max_samples_per_send)"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("the body is not a remote-write 1.0 WriteRequest (protobuf): {0}")]
    NotProtobuf(String),
}

/// Decompresses and decodes a body, refusing one whose decompressed size
/// (as snappy's header declares it, before any allocation) is over `limit`.
pub fn decode(body: &[u8], limit: usize) -> Result<WriteRequest, BodyError> {
    let size = snap::raw::decompress_len(body).map_err(|e| BodyError::NotSnappy(e.to_string()))?;
    if size > limit {
        return Err(BodyError::TooLarge { size, limit });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| BodyError::NotSnappy(e.to_string()))?;
    <WriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| BodyError::NotProtobuf(e.to_string()))
}

/// Encodes a request the way Prometheus does (for tests and `mon bench`).
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    compress(&prost::Message::encode_to_vec(request))
}

/// Snappy's block format, as remote-write bodies use it.
pub fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy compresses any buffer below 4 GiB")
}

/// The host a series belongs to: `host`, else `instance` without its port
/// (`[::1]:9100` → `::1`, which host validation then refuses by name).
fn host_of(labels: &[Label]) -> Option<String> {
    let get = |name: &str| {
        labels
            .iter()
            .find(|l| l.name == name && !l.value.is_empty())
            .map(|l| l.value.as_str())
    };
    if let Some(host) = get("host") {
        return Some(host.to_owned());
    }
    let instance = get("instance")?;
    let without_port = match instance.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => instance,
    };
    Some(
        without_port
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
}

/// Translates a request into one report per (host, timestamp).
pub fn translate(request: WriteRequest) -> Translated {
    let mut out = Translated::default();
    let mut groups = Grouper::default();
    for series in request.timeseries {
        let name = series
            .labels
            .iter()
            .find(|l| l.name == "__name__")
            .map(|l| l.value.clone());
        let shown = || {
            series_text(
                name.as_deref().unwrap_or(""),
                series
                    .labels
                    .iter()
                    .filter(|l| l.name != "__name__")
                    .map(|l| (l.name.as_str(), l.value.as_str())),
            )
        };
        if !series.histograms.is_empty() {
            out.problems.push(Problem {
                series: shown(),
                timestamp_ms: series.histograms.first().map(|h| h.timestamp),
                reason: "native histogram samples are not stored; send classic histograms (_bucket, _sum, _count series) instead".into(),
                samples: series.histograms.len(),
            });
        }
        if series.samples.is_empty() {
            continue;
        }
        let Some(name) = name.clone().filter(|n| !n.is_empty()) else {
            out.problems.push(Problem {
                series: shown(),
                timestamp_ms: None,
                reason: "the series has no __name__ label, so no metric name".into(),
                samples: series.samples.len(),
            });
            continue;
        };
        let Some(host) = host_of(&series.labels) else {
            out.problems.push(Problem {
                series: shown(),
                timestamp_ms: None,
                reason: "the series has neither a host nor an instance label, so no host to file it under; add one (Prometheus: a target label or external_labels)".into(),
                samples: series.samples.len(),
            });
            continue;
        };
        let labels: Vec<proto::Label> = series
            .labels
            .iter()
            .filter(|l| l.name != "__name__" && l.name != "host" && !l.value.is_empty())
            .map(|l| proto::Label {
                name: l.name.clone(),
                value: l.value.clone(),
            })
            .collect();
        for sample in &series.samples {
            if sample.value.to_bits() == STALE_NAN_BITS {
                out.ended += 1;
                continue;
            }
            groups.push(
                &host,
                sample.timestamp,
                proto::Sample {
                    name: name.clone(),
                    labels: labels.clone(),
                    value: sample.value,
                },
            );
        }
    }
    out.reports = groups.into_reports();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(value, timestamp)| Sample { value, timestamp })
                .collect(),
            histograms: Vec::new(),
        }
    }

    #[test]
    fn the_host_comes_from_host_else_from_instance_without_its_port() {
        type Labels<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Labels, Option<&str>)] = &[
            (
                &[("host", "web-1"), ("instance", "10.0.0.1:9100")],
                Some("web-1"),
            ),
            (&[("instance", "node-a:9100")], Some("node-a")),
            (&[("instance", "node-a")], Some("node-a")),
            (&[("instance", "[::1]:9100")], Some("::1")),
            (&[("host", ""), ("instance", "db:1")], Some("db")),
            (&[("job", "x")], None),
        ];
        for (labels, want) in cases {
            let s = series(labels, &[]);
            assert_eq!(host_of(&s.labels).as_deref(), *want, "{labels:?}");
        }
    }

    #[test]
    fn samples_group_by_host_and_timestamp_and_stale_markers_end_series() {
        let request = WriteRequest {
            timeseries: vec![
                series(
                    &[("__name__", "up"), ("instance", "a:1"), ("job", "node")],
                    &[(1.0, 10), (1.0, 20), (f64::from_bits(STALE_NAN_BITS), 30)],
                ),
                series(&[("__name__", "load1"), ("host", "a")], &[(0.5, 10)]),
                series(&[("instance", "a:1")], &[(0.5, 10)]),
            ],
        };
        let out = translate(request);
        assert_eq!(out.ended, 1);
        assert_eq!(out.reports.len(), 2);
        assert_eq!(out.reports[0].timestamp_ms, 10);
        assert_eq!(out.reports[0].samples.len(), 2);
        let up = &out.reports[0].samples[0];
        assert_eq!(up.name, "up");
        let names: Vec<&str> = up.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["instance", "job"]);
        assert_eq!(out.problems.len(), 1);
        assert!(out.problems[0].reason.contains("__name__"));
    }

    #[test]
    fn a_body_that_is_not_snappy_or_not_protobuf_or_too_large_is_named() {
        assert!(matches!(
            decode(b"hello", 1024),
            Err(BodyError::NotSnappy(_))
        ));
        let not_proto = snap::raw::Encoder::new().compress_vec(&[0xff; 16]).unwrap();
        assert!(matches!(
            decode(&not_proto, 1024),
            Err(BodyError::NotProtobuf(_))
        ));
        let big = snap::raw::Encoder::new().compress_vec(&[0; 4096]).unwrap();
        assert_eq!(
            decode(&big, 1024),
            Err(BodyError::TooLarge {
                size: 4096,
                limit: 1024
            })
        );
    }
}
