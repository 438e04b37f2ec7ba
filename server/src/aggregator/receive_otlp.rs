//! `POST /v1/metrics`: OTLP/HTTP metrics in protobuf, on the same ports and
//! behind the same token as remote-write (see [`super::receive`]).
//!
//! Answers follow the OTLP/HTTP specification: 200 with an
//! `ExportMetricsServiceResponse` once everything kept is committed, its
//! `partial_success` counting and naming what was refused (never retried);
//! errors carry a protobuf `google.rpc.Status`, 400 for a body that cannot
//! be read, 429 (with `Retry-After`) and 503 for what the exporter should
//! send again.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::push::{PushSlot, Retry};
use super::receive::{ingest_of, read_body};
use crate::interop::otlp::{self, ExportMetricsPartialSuccess, ExportMetricsServiceResponse};

const PROTOBUF: &str = "application/x-protobuf";

/// A `google.rpc.Status` answer (gRPC code 3 = invalid argument, 8 =
/// resource exhausted, 14 = unavailable).
fn status(http: StatusCode, code: i32, message: String) -> Response {
    let body = prost::Message::encode_to_vec(&otlp::Status { code, message });
    (http, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
}

pub async fn metrics(State(slot): State<PushSlot>, headers: HeaderMap, body: Body) -> Response {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kind.split(';').next().unwrap_or("").trim() != PROTOBUF {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            format!(
                "Content-Type {kind:?} is not accepted: send OTLP/HTTP in protobuf, application/x-protobuf (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/protobuf; the Collector's otlphttp exporter with encoding: proto)"
            ),
        );
    }
    let ingest = match ingest_of(&slot) {
        Ok(i) => i,
        Err(e) => return status(StatusCode::SERVICE_UNAVAILABLE, 14, e.to_string()),
    };
    let body = match read_body(body, &ingest.limits).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let request = match otlp::decode(&body) {
        Ok(r) => r,
        Err(message) => return status(StatusCode::BAD_REQUEST, 3, message),
    };
    let translated = otlp::translate(request);
    let mut outcome = ingest.ingest(translated.reports).await;
    let mut problems = translated.problems;
    problems.append(&mut outcome.problems);
    outcome.problems = problems;
    match &outcome.retry {
        Some(Retry::Throttled {
            host,
            per_second,
            wait,
        }) => {
            let seconds = wait.as_millis().div_ceil(1000).max(1);
            let mut response = status(
                StatusCode::TOO_MANY_REQUESTS,
                8,
                format!(
                    "host {host} is over the limit of {per_second} reports per second (--max-reports-per-second); send again in {seconds}s"
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        Some(Retry::Unavailable(why)) => {
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                14,
                format!("not every data point could be stored, send again: {why}"),
            );
        }
        None => {}
    }
    let partial_success = outcome.problems.first().map(|first| {
        let at = first
            .timestamp_ms
            .map(|ts| format!(" at {ts}"))
            .unwrap_or_default();
        ExportMetricsPartialSuccess {
            rejected_data_points: outcome.refused() as i64,
            error_message: format!(
                "{} data points were refused, {} stored; first: {}{at}: {}",
                outcome.refused(),
                outcome.stored,
                first.series,
                first.reason
            ),
        }
    });
    let body = prost::Message::encode_to_vec(&ExportMetricsServiceResponse { partial_success });
    (StatusCode::OK, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
}
