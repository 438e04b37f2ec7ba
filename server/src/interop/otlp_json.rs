//! OTLP/HTTP metrics in JSON (`Content-Type: application/json`): the
//! protobuf JSON mapping of the same `ExportMetricsServiceRequest`, read
//! into the messages of [`super::otlp`] so both encodings share one
//! translation and one answer.
//!
//! What the OTLP specification asks of the JSON form and is followed here:
//! field names in lowerCamelCase (the proto's snake_case names are taken
//! too, as protobuf's JSON parsers do), 64-bit integers as decimal strings
//! or numbers, enums as integers, unknown fields ignored. Only the fields
//! `mon` reads are declared; histogram and summary points are counted.

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::otlp::{
    Any, AnyValue, Counted, Data, ExportMetricsServiceRequest, Gauge, KeyValue, Metric, Number,
    NumberDataPoint, Resource, ResourceMetrics, ScopeMetrics, Sum,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequest {
    #[serde(default, alias = "resource_metrics")]
    resource_metrics: Vec<JsonResourceMetrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonResourceMetrics {
    #[serde(default)]
    resource: Option<JsonResource>,
    #[serde(default, alias = "scope_metrics")]
    scope_metrics: Vec<JsonScopeMetrics>,
}

#[derive(Deserialize)]
struct JsonResource {
    #[serde(default)]
    attributes: Vec<JsonKeyValue>,
}

#[derive(Deserialize)]
struct JsonScopeMetrics {
    #[serde(default)]
    metrics: Vec<JsonMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonMetric {
    #[serde(default)]
    name: String,
    gauge: Option<JsonPoints>,
    sum: Option<JsonSum>,
    histogram: Option<JsonCounted>,
    #[serde(alias = "exponential_histogram")]
    exponential_histogram: Option<JsonCounted>,
    summary: Option<JsonCounted>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonPoints {
    #[serde(default, alias = "data_points")]
    data_points: Vec<JsonNumberPoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSum {
    #[serde(default, alias = "data_points")]
    data_points: Vec<JsonNumberPoint>,
    #[serde(
        default,
        alias = "aggregation_temporality",
        deserialize_with = "temporality"
    )]
    aggregation_temporality: i32,
    #[serde(default, alias = "is_monotonic")]
    is_monotonic: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonCounted {
    #[serde(default, alias = "data_points")]
    data_points: Vec<de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonNumberPoint {
    #[serde(default)]
    attributes: Vec<JsonKeyValue>,
    #[serde(default, alias = "time_unix_nano", deserialize_with = "int64")]
    time_unix_nano: i64,
    #[serde(default, alias = "as_double", deserialize_with = "double")]
    as_double: Option<f64>,
    #[serde(default, alias = "as_int", deserialize_with = "opt_int64")]
    as_int: Option<i64>,
    #[serde(default)]
    flags: u32,
}

#[derive(Deserialize)]
struct JsonKeyValue {
    key: String,
    #[serde(default)]
    value: Option<JsonAnyValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonAnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(default, alias = "int_value", deserialize_with = "opt_int64")]
    int_value: Option<i64>,
    #[serde(default, alias = "double_value", deserialize_with = "double")]
    double_value: Option<f64>,
}

/// A 64-bit integer as a JSON string (the mapping's form) or number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int64 {
    Number(i64),
    Unsigned(u64),
    Text(String),
}

fn to_i64<E: de::Error>(v: Int64) -> Result<i64, E> {
    match v {
        Int64::Number(n) => Ok(n),
        Int64::Unsigned(n) => i64::try_from(n).map_err(E::custom),
        Int64::Text(t) => t
            .trim()
            .parse::<i64>()
            .or_else(|_| t.trim().parse::<u64>().map(|u| u as i64))
            .map_err(|_| E::custom(format!("{t:?} is not a 64-bit integer"))),
    }
}

fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    to_i64(Int64::deserialize(d)?)
}

fn opt_int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<Int64>::deserialize(d)?.map(to_i64).transpose()
}

/// A double as a JSON number, or one of the mapping's strings ("NaN",
/// "Infinity", "-Infinity", or a number in quotes).
fn double<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Double {
        Number(f64),
        Text(String),
    }
    Ok(match Option::<Double>::deserialize(d)? {
        None => None,
        Some(Double::Number(n)) => Some(n),
        Some(Double::Text(t)) => Some(match t.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other
                .parse()
                .map_err(|_| de::Error::custom(format!("{other:?} is not a number")))?,
        }),
    })
}

/// An enum as its number, or its name.
fn temporality<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Enum {
        Number(i32),
        Name(String),
    }
    Ok(match Enum::deserialize(d)? {
        Enum::Number(n) => n,
        Enum::Name(name) => match name.as_str() {
            "AGGREGATION_TEMPORALITY_DELTA" => 1,
            "AGGREGATION_TEMPORALITY_CUMULATIVE" => 2,
            _ => 0,
        },
    })
}

fn key_values(list: Vec<JsonKeyValue>) -> Vec<KeyValue> {
    list.into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: kv.value.map(|v| AnyValue {
                value: v
                    .string_value
                    .map(Any::String)
                    .or(v.bool_value.map(Any::Bool))
                    .or(v.int_value.map(Any::Int))
                    .or(v.double_value.map(Any::Double)),
            }),
        })
        .collect()
}

fn points(list: Vec<JsonNumberPoint>) -> Vec<NumberDataPoint> {
    list.into_iter()
        .map(|p| NumberDataPoint {
            attributes: key_values(p.attributes),
            time_unix_nano: p.time_unix_nano as u64,
            value: p
                .as_double
                .map(Number::AsDouble)
                .or(p.as_int.map(Number::AsInt)),
            flags: p.flags,
        })
        .collect()
}

fn counted(c: JsonCounted) -> Counted {
    Counted {
        data_points: vec![Vec::new(); c.data_points.len()],
    }
}

/// Decodes a JSON body into the protobuf messages.
pub fn decode(body: &[u8]) -> Result<ExportMetricsServiceRequest, String> {
    let json: JsonRequest = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not an OTLP ExportMetricsServiceRequest in JSON: {e}"))?;
    let resource_metrics = json
        .resource_metrics
        .into_iter()
        .map(|rm| ResourceMetrics {
            resource: rm.resource.map(|r| Resource {
                attributes: key_values(r.attributes),
            }),
            scope_metrics: rm
                .scope_metrics
                .into_iter()
                .map(|sm| ScopeMetrics {
                    metrics: sm
                        .metrics
                        .into_iter()
                        .map(|m| Metric {
                            name: m.name,
                            data: if let Some(g) = m.gauge {
                                Some(Data::Gauge(Gauge {
                                    data_points: points(g.data_points),
                                }))
                            } else if let Some(s) = m.sum {
                                Some(Data::Sum(Sum {
                                    data_points: points(s.data_points),
                                    aggregation_temporality: s.aggregation_temporality,
                                    is_monotonic: s.is_monotonic,
                                }))
                            } else if let Some(h) = m.histogram {
                                Some(Data::Histogram(counted(h)))
                            } else if let Some(h) = m.exponential_histogram {
                                Some(Data::ExponentialHistogram(counted(h)))
                            } else {
                                m.summary.map(|s| Data::Summary(counted(s)))
                            },
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Ok(ExportMetricsServiceRequest { resource_metrics })
}

/// The answer's `partial_success` in JSON (`rejectedDataPoints` as a
/// string, as the mapping writes 64-bit integers).
pub fn response(rejected: i64, error_message: &str) -> serde_json::Value {
    if rejected == 0 && error_message.is_empty() {
        return serde_json::json!({});
    }
    serde_json::json!({
        "partialSuccess": {
            "rejectedDataPoints": rejected.to_string(),
            "errorMessage": error_message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_mapping_reads_like_the_protobuf() {
        let body = br#"{"resourceMetrics":[{"resource":{"attributes":[
            {"key":"host.name","value":{"stringValue":"j-1"}}]},
          "scopeMetrics":[{"scope":{"name":"x"},"metrics":[
            {"name":"a.b","unit":"1","gauge":{"dataPoints":[
              {"timeUnixNano":"1700000000000000000","asDouble":1.5,
               "attributes":[{"key":"n","value":{"intValue":"3"}}]}]}},
            {"name":"c","sum":{"aggregationTemporality":2,"isMonotonic":true,
              "dataPoints":[{"time_unix_nano":1700000000000000000,"asInt":"7"}]}},
            {"name":"h","histogram":{"dataPoints":[{},{}]}}]}]}]}"#;
        let request = decode(body).unwrap();
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let Some(Data::Gauge(g)) = &metrics[0].data else {
            panic!("{metrics:?}")
        };
        assert_eq!(g.data_points[0].time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(g.data_points[0].value, Some(Number::AsDouble(1.5)));
        assert_eq!(
            g.data_points[0].attributes[0].value.as_ref().unwrap().value,
            Some(Any::Int(3))
        );
        let Some(Data::Sum(s)) = &metrics[1].data else {
            panic!("{metrics:?}")
        };
        assert_eq!((s.aggregation_temporality, s.is_monotonic), (2, true));
        assert_eq!(s.data_points[0].value, Some(Number::AsInt(7)));
        let Some(Data::Histogram(h)) = &metrics[2].data else {
            panic!("{metrics:?}")
        };
        assert_eq!(h.data_points.len(), 2);
        let err = decode(br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"timeUnixNano":"soon"}]}}]}]}]}"#).unwrap_err();
        assert!(err.contains("\"soon\" is not a 64-bit integer"), "{err}");
    }
}
