//! OTLP/HTTP metrics (`POST /v1/metrics`, protobuf): the
//! `ExportMetricsServiceRequest` an OpenTelemetry SDK or Collector sends, and
//! its translation into reports.
//!
//! What is kept: gauges, and sums with cumulative temporality (monotonic
//! ones are counters: the running total is stored as sent, a rate is the
//! reader's business; a non-monotonic one is a gauge of its current value).
//! The host is the resource's `host.name`; `service.name` becomes the label
//! `service_name`, each data point attribute a label; dots in metric and
//! attribute names become underscores, as Prometheus' own OTLP translation
//! does. Histograms, exponential histograms, summaries and delta sums are
//! refused and counted in the answer's partial success. The message types
//! below are written from the OTLP 1.x `.proto` files, with only the fields
//! `mon` reads (histogram points are counted, not decoded).

use super::{Grouper, Problem, Translated};
use crate::proto;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceMetrics {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeMetrics {
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(oneof = "Data", tags = "5, 7, 9, 10, 11")]
    pub data: Option<Data>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Data {
    #[prost(message, tag = "5")]
    Gauge(Gauge),
    #[prost(message, tag = "7")]
    Sum(Sum),
    #[prost(message, tag = "9")]
    Histogram(Counted),
    #[prost(message, tag = "10")]
    ExponentialHistogram(Counted),
    #[prost(message, tag = "11")]
    Summary(Counted),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Gauge {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    /// 1 delta, 2 cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

/// A kind `mon` does not keep: its data points are counted, not decoded
/// (a repeated message reads as repeated bytes on the wire).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counted {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub data_points: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NumberDataPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    #[prost(oneof = "Number", tags = "4, 6")]
    pub value: Option<Number>,
    /// Bit 0: no recorded value (the series ended).
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Number {
    #[prost(double, tag = "4")]
    AsDouble(f64),
    #[prost(sfixed64, tag = "6")]
    AsInt(i64),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(oneof = "Any", tags = "1, 2, 3, 4")]
    pub value: Option<Any>,
}

/// The scalar attribute values; arrays, maps and bytes read as no value.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Any {
    #[prost(string, tag = "1")]
    String(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportMetricsPartialSuccess>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsPartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_data_points: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `google.rpc.Status`, the body of every OTLP/HTTP error answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

const CUMULATIVE: i32 = 2;
const NO_RECORDED_VALUE: u32 = 1;

fn text(value: &Option<AnyValue>) -> Option<String> {
    match value.as_ref()?.value.as_ref()? {
        Any::String(s) => Some(s.clone()),
        Any::Bool(b) => Some(b.to_string()),
        Any::Int(i) => Some(i.to_string()),
        Any::Double(d) => Some(d.to_string()),
    }
}

/// Dots (OpenTelemetry's separator) become underscores; every other rule
/// is the aggregator's validation.
fn name(otel: &str) -> String {
    otel.replace('.', "_")
}

/// Translates a request into one report per (host, timestamp).
pub fn translate(request: ExportMetricsServiceRequest) -> Translated {
    let mut out = Translated::default();
    let mut groups = Grouper::default();
    for resource in request.resource_metrics {
        let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
        let attr = |key: &str| {
            attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| text(&kv.value))
                .filter(|v| !v.is_empty())
        };
        let host = attr("host.name");
        let service = attr("service.name");
        for metric in resource.scope_metrics.into_iter().flat_map(|s| s.metrics) {
            let refuse = |out: &mut Translated, samples: usize, reason: String| {
                if samples > 0 {
                    out.problems.push(Problem {
                        series: metric.name.clone(),
                        timestamp_ms: None,
                        reason,
                        samples,
                    });
                }
            };
            let points = match &metric.data {
                Some(Data::Gauge(g)) => &g.data_points,
                Some(Data::Sum(s)) if s.aggregation_temporality == CUMULATIVE => &s.data_points,
                Some(Data::Sum(s)) => {
                    refuse(&mut out, s.data_points.len(), "a sum with delta temporality is not stored; export cumulative sums (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative)".into());
                    continue;
                }
                Some(Data::Histogram(c))
                | Some(Data::ExponentialHistogram(c))
                | Some(Data::Summary(c)) => {
                    refuse(&mut out, c.data_points.len(), "histograms and summaries are not stored; mon keeps gauges and cumulative sums".into());
                    continue;
                }
                None => continue,
            };
            let Some(host) = &host else {
                refuse(&mut out, points.len(), "the resource has no host.name attribute, so no host to file it under; set it (OTEL_RESOURCE_ATTRIBUTES=host.name=..., or the Collector's resourcedetection processor)".into());
                continue;
            };
            for point in points {
                if point.flags & NO_RECORDED_VALUE != 0 {
                    out.ended += 1;
                    continue;
                }
                let value = match point.value {
                    Some(Number::AsDouble(v)) => v,
                    Some(Number::AsInt(v)) => v as f64,
                    None => {
                        refuse(&mut out, 1, "a data point without a value".into());
                        continue;
                    }
                };
                let mut labels: Vec<proto::Label> = service
                    .iter()
                    .map(|s| proto::Label {
                        name: "service_name".into(),
                        value: s.clone(),
                    })
                    .collect();
                labels.extend(point.attributes.iter().map(|kv| proto::Label {
                    name: name(&kv.key),
                    value: text(&kv.value).unwrap_or_default(),
                }));
                groups.push(
                    host,
                    (point.time_unix_nano / 1_000_000) as i64,
                    proto::Sample {
                        name: name(&metric.name),
                        labels,
                        value,
                    },
                );
            }
        }
    }
    out.reports = groups.into_reports();
    out
}

/// Decodes a protobuf body.
pub fn decode(body: &[u8]) -> Result<ExportMetricsServiceRequest, String> {
    <ExportMetricsServiceRequest as prost::Message>::decode(body)
        .map_err(|e| format!("the body is not an OTLP ExportMetricsServiceRequest (protobuf): {e}"))
}

/// Encodes a request (for tests and `mon bench`).
pub fn encode(request: &ExportMetricsServiceRequest) -> Vec<u8> {
    prost::Message::encode_to_vec(request)
}

/// Decodes an answer; an unreadable one reads as no partial success.
pub fn decode_response(body: &[u8]) -> ExportMetricsServiceResponse {
    <ExportMetricsServiceResponse as prost::Message>::decode(body).unwrap_or_default()
}
