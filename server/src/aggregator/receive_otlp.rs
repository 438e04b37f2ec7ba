//! `POST /v1/metrics`: OTLP/HTTP metrics in protobuf or JSON, on the same
//! ports and behind the same token as remote-write (see [`super::receive`]).
//! An answer comes in the request's encoding.
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
use crate::interop::otlp_json;
use crate::stats::Protocol;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The encoding of a request, and so of its answer.
#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

/// A `google.rpc.Status` answer (gRPC code 3 = invalid argument, 8 =
/// resource exhausted, 14 = unavailable), in the request's encoding.
fn status(encoding: Encoding, http: StatusCode, code: i32, message: String) -> Response {
    match encoding {
        Encoding::Protobuf => {
            let body = prost::Message::encode_to_vec(&otlp::Status { code, message });
            (http, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
        }
        Encoding::Json => {
            let body = serde_json::json!({ "code": code, "message": message });
            (http, [(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
        }
    }
}

pub async fn metrics(State(slot): State<PushSlot>, headers: HeaderMap, body: Body) -> Response {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let encoding = match kind.split(';').next().unwrap_or("").trim() {
        PROTOBUF => Encoding::Protobuf,
        JSON => Encoding::Json,
        _ => {
            if let Some(ingest) = slot.get() {
                ingest.stats.push.unread(Protocol::Otlp, false);
            }
            return status(
                Encoding::Protobuf,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                3,
                format!(
                    "Content-Type {kind:?} is not accepted: send OTLP/HTTP as application/x-protobuf (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/protobuf; the Collector's otlphttp exporter with encoding: proto) or application/json (http/json)"
                ),
            );
        }
    };
    let ingest = match ingest_of(&slot) {
        Ok(i) => i,
        Err(e) => {
            return status(encoding, StatusCode::SERVICE_UNAVAILABLE, 14, e.to_string());
        }
    };
    let body = match read_body(body, &ingest.limits).await {
        Ok(b) => b,
        Err(e) => {
            ingest.stats.push.unread(Protocol::Otlp, false);
            return e.into_response();
        }
    };
    let decoded = match encoding {
        Encoding::Protobuf => otlp::decode(&body),
        Encoding::Json => otlp_json::decode(&body),
    };
    let request = match decoded {
        Ok(r) => r,
        Err(message) => {
            ingest.stats.push.unread(Protocol::Otlp, false);
            return status(encoding, StatusCode::BAD_REQUEST, 3, message);
        }
    };
    let translated = otlp::translate(request);
    let mut outcome = ingest.ingest(translated.reports).await;
    let mut problems = translated.problems;
    problems.append(&mut outcome.problems);
    outcome.problems = problems;
    ingest.stats.push.answered(Protocol::Otlp, &outcome);
    match &outcome.retry {
        Some(Retry::Throttled {
            host,
            per_second,
            wait,
        }) => {
            let seconds = wait.as_millis().div_ceil(1000).max(1);
            let mut response = status(
                encoding,
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
                encoding,
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
    match encoding {
        Encoding::Protobuf => {
            let body =
                prost::Message::encode_to_vec(&ExportMetricsServiceResponse { partial_success });
            (StatusCode::OK, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
        }
        Encoding::Json => {
            let body = match partial_success {
                Some(p) => otlp_json::response(p.rejected_data_points, &p.error_message),
                None => otlp_json::response(0, ""),
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, JSON)],
                body.to_string(),
            )
                .into_response()
        }
    }
}
