//! OTLP/HTTP metrics into `mon serve`: the OpenTelemetry Python SDK's
//! exporter sending gauges and sums, and a hand-made request with kinds
//! `mon` refuses, checked through `/api/series` and the answer's partial
//! success.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use server::interop::otlp::{
    Any, AnyValue, Counted, Data, ExportMetricsServiceRequest, ExportMetricsServiceResponse, Gauge,
    KeyValue, Metric, Number, NumberDataPoint, Resource, ResourceMetrics, ScopeMetrics,
};

use crate::peers::{http, http_bytes, series_points};
use crate::process::{Running, eventually, free_port, mon};

fn serve(dir: &std::path::Path) -> (Running, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = mon();
    cmd.args([
        "serve",
        "--no-agent",
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        &addr,
        "--token",
        "secret",
        "--data-dir",
    ])
    .arg(dir);
    let running = Running::spawn(cmd);
    let up = eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&addr).is_ok()
            && post(&addr, &ExportMetricsServiceRequest::default()).0 == 200
    });
    assert!(
        up,
        "mon serve takes OTLP; stderr: {}",
        running.stderr_text()
    );
    (running, addr)
}

fn post(addr: &str, request: &ExportMetricsServiceRequest) -> (u16, String, String) {
    http(
        addr,
        "POST",
        "/v1/metrics",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Authorization", "Bearer secret"),
        ],
        &prost_encode(request),
    )
}

fn prost_encode(request: &ExportMetricsServiceRequest) -> Vec<u8> {
    server::interop::otlp::encode(request)
}

fn python_has_the_sdk() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!(
            "SKIP: python3 with opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http is not installed (pip; .ci/run installs them)"
        );
    }
    ok
}

#[test]
fn the_opentelemetry_sdk_exports_gauges_and_sums_that_mon_stores_under_host_name() {
    if !python_has_the_sdk() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut mon_serve, addr) = serve(dir.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/otlp_send.py");
    let out = Command::new("python3")
        .args([script, &format!("http://{addr}/v1/metrics"), "secret"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The histogram is refused in the partial success, which the SDK takes
    // as an export that worked: nothing to send again.
    assert!(
        said.contains("first SUCCESS") && said.contains("second SUCCESS"),
        "{said}"
    );

    let token = "&token=secret";
    let gauge = series_points(
        &addr,
        "otel-host-1",
        "room_temperature",
        &format!("room=lab,service_name=shop{token}"),
    );
    assert_eq!(
        gauge.last().map(|p| p["value"].as_f64()),
        Some(Some(21.5)),
        "{gauge:?}"
    );
    // The counter's running total as the SDK sent it: 3, then 7.
    let orders = series_points(
        &addr,
        "otel-host-1",
        "orders",
        &format!("service_name=shop,shop_region=eu{token}"),
    );
    let values: Vec<f64> = orders.iter().filter_map(|p| p["value"].as_f64()).collect();
    assert_eq!(values, [3.0, 7.0], "{orders:?}");
    let queue = series_points(
        &addr,
        "otel-host-1",
        "queue_depth",
        &format!("service_name=shop{token}"),
    );
    assert_eq!(
        queue.last().map(|p| p["value"].as_f64()),
        Some(Some(3.0)),
        "{queue:?}"
    );
    let latency = series_points(
        &addr,
        "otel-host-1",
        "request_latency",
        &format!("service_name=shop{token}"),
    );
    assert!(latency.is_empty(), "a histogram is not stored: {latency:?}");

    mon_serve.signal("TERM");
    assert_eq!(mon_serve.wait(Duration::from_secs(15)).code(), Some(0));
}

#[test]
fn otlp_kinds_mon_does_not_keep_are_refused_in_a_partial_success_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut mon_serve, addr) = serve(dir.path());
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Any::String(v.into())),
        }),
    };
    let gauge = |name: &str, value: f64| Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes: vec![],
                time_unix_nano: now_ns,
                value: Some(Number::AsDouble(value)),
                flags: 0,
            }],
        })),
    };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![
            ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv("host.name", "otel-host-2")],
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        gauge("ok.gauge", 1.0),
                        Metric {
                            name: "latency".into(),
                            data: Some(Data::Histogram(Counted {
                                data_points: vec![vec![], vec![]],
                            })),
                        },
                    ],
                }],
            },
            ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "nameless")],
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![gauge("lost.gauge", 2.0)],
                }],
            },
        ],
    };
    let (status, _, body) = http_bytes(
        &addr,
        "POST",
        "/v1/metrics",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Authorization", "Bearer secret"),
        ],
        &prost_encode(&request),
    );
    assert_eq!(status, 200, "{body:?}");
    let answer: ExportMetricsServiceResponse = server::interop::otlp::decode_response(&body);
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_data_points, 3, "{partial:?}");
    assert!(
        partial.error_message.contains("latency") && partial.error_message.contains("histograms"),
        "{partial:?}"
    );
    assert_eq!(
        series_points(&addr, "otel-host-2", "ok_gauge", "&token=secret").len(),
        1
    );

    let (status, _, body) = http(
        &addr,
        "POST",
        "/v1/metrics",
        &[
            ("Content-Type", "text/plain"),
            ("Authorization", "Bearer secret"),
        ],
        b"{}",
    );
    assert_eq!(status, 415, "{body}");
    assert!(
        body.contains("http/protobuf") && body.contains("application/json"),
        "{body}"
    );
    mon_serve.signal("TERM");
    assert_eq!(mon_serve.wait(Duration::from_secs(15)).code(), Some(0));
}

#[test]
fn otlp_json_gauges_and_sums_are_stored_like_protobuf_and_refusals_come_back_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let (mut mon_serve, addr) = serve(dir.path());
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let post_json = |body: &str| {
        http(
            &addr,
            "POST",
            "/v1/metrics",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", "Bearer secret"),
            ],
            body.as_bytes(),
        )
    };
    // The OTLP/JSON mapping: camelCase names, 64-bit integers as strings,
    // enums as numbers.
    let body = format!(
        r#"{{"resourceMetrics":[{{
          "resource":{{"attributes":[
            {{"key":"host.name","value":{{"stringValue":"json-host"}}}},
            {{"key":"service.name","value":{{"stringValue":"shop"}}}}]}},
          "scopeMetrics":[{{"scope":{{"name":"test"}},"metrics":[
            {{"name":"room.temperature","gauge":{{"dataPoints":[
              {{"timeUnixNano":"{now_ns}","asDouble":21.5,
                "attributes":[{{"key":"room","value":{{"stringValue":"lab"}}}}]}}]}}}},
            {{"name":"orders","sum":{{"aggregationTemporality":2,"isMonotonic":true,
              "dataPoints":[{{"timeUnixNano":"{now_ns}","asInt":"7"}}]}}}},
            {{"name":"latency","histogram":{{"aggregationTemporality":2,
              "dataPoints":[{{"timeUnixNano":"{now_ns}","count":"2"}}]}}}}]}}]}}]}}"#
    );
    let (status, head, answer) = post_json(&body);
    assert_eq!(status, 200, "{answer}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let partial = &answer["partialSuccess"];
    assert_eq!(partial["rejectedDataPoints"], "1", "{answer}");
    assert!(
        partial["errorMessage"]
            .as_str()
            .unwrap()
            .contains("latency"),
        "{answer}"
    );
    let token = "&token=secret";
    let room = series_points(
        &addr,
        "json-host",
        "room_temperature",
        &format!("room=lab,service_name=shop{token}"),
    );
    assert_eq!(
        room.last().map(|p| p["value"].as_f64()),
        Some(Some(21.5)),
        "{room:?}"
    );
    let orders = series_points(
        &addr,
        "json-host",
        "orders",
        &format!("service_name=shop{token}"),
    );
    assert_eq!(
        orders.last().map(|p| p["value"].as_f64()),
        Some(Some(7.0)),
        "{orders:?}"
    );

    // Everything kept: no partial success, an empty object.
    let gauge_only = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
            {{"key":"host.name","value":{{"stringValue":"json-host"}}}}]}},
          "scopeMetrics":[{{"metrics":[{{"name":"load1","gauge":{{"dataPoints":[
            {{"timeUnixNano":{now_ns},"asDouble":0.5}}]}}}}]}}]}}]}}"#
    );
    let (status, _, answer) = post_json(&gauge_only);
    assert_eq!((status, answer.as_str()), (200, "{}"));
    // A body that is not the mapping: 400 with a JSON google.rpc.Status.
    let (status, _, answer) = post_json(r#"{"resourceMetrics":"many"}"#);
    assert_eq!(status, 400, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["code"], 3, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("not an OTLP ExportMetricsServiceRequest in JSON"),
        "{answer}"
    );
    mon_serve.signal("TERM");
    assert_eq!(mon_serve.wait(Duration::from_secs(15)).code(), Some(0));
}
