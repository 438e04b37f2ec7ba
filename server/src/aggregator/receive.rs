//! The HTTP receivers of pushed samples: `POST /api/v1/write` (Prometheus
//! remote-write 1.0) and, in [`super::receive_otlp`], `POST /v1/metrics`
//! (OTLP/HTTP).
//! Mounted on `mon serve`'s HTTP port and on `mon aggregator --http-listen`,
//! behind the same token as the agents' stream.
//!
//! Answers follow the remote-write specification, so a sender retries
//! exactly what may succeed later: 204 once every sample is committed; 400
//! (not retried) when samples were refused, with the good ones committed
//! and the body naming each refused sample and why; 413 and 415 for a body
//! too large or of another format; 429 (with `Retry-After`) when a host is
//! over its report rate and 503 when the store cannot commit, both retried.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::Limits;
use super::push::{PushIngest, PushOutcome, PushSlot, Retry};
use crate::http::ApiError;
use crate::interop::{Problem, remote_write};
use crate::stats::Protocol;

/// Most refused samples listed in one answer; the count covers the rest.
const MAX_LISTED: usize = 20;

/// The running aggregator's ingest path, or a 503 telling the sender to
/// retry (the aggregator is starting or stopping).
pub(super) fn ingest_of(slot: &PushSlot) -> Result<PushIngest, ApiError> {
    slot.get().ok_or_else(|| {
        ApiError::Unavailable(
            "the aggregator is starting or stopping: nothing was stored, send again".into(),
        )
    })
}

/// Reads the body up to `--max-write-bytes`.
pub(super) async fn read_body(body: Body, limits: &Limits) -> Result<Bytes, ApiError> {
    let max = limits.max_write_bytes;
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::TooLarge(format!(
            "the body is over this server's limit of {max} bytes (--max-write-bytes); send fewer samples per request"
        ))),
        Err(e) => Err(ApiError::BadRequest(format!(
            "the body could not be read: {e}"
        ))),
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `POST /api/v1/write`.
pub async fn remote_write(
    State(slot): State<PushSlot>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match remote_write_inner(&slot, &headers, body).await {
        Ok(response) | Err(response) => response,
    }
}

async fn remote_write_inner(
    slot: &PushSlot,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Response> {
    let kind = content_type(headers);
    let media = kind.split(';').next().unwrap_or("").trim();
    if media != "application/x-protobuf" || kind.contains("io.prometheus.write.v2") {
        if let Some(ingest) = slot.get() {
            ingest.stats.push.unread(Protocol::RemoteWrite, false);
        }
        return Err(ApiError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {kind:?} is not accepted: send remote-write 1.0, application/x-protobuf with a snappy-compressed prometheus.WriteRequest (Prometheus: protobuf_message: prometheus.WriteRequest)"
            ),
        )
        .into_response());
    }
    let ingest = ingest_of(slot).map_err(IntoResponse::into_response)?;
    let unread = || ingest.stats.push.unread(Protocol::RemoteWrite, false);
    let body = read_body(body, &ingest.limits).await.map_err(|e| {
        unread();
        e.into_response()
    })?;
    let request = remote_write::decode(&body, ingest.limits.max_write_bytes).map_err(|e| {
        unread();
        let status = match e {
            remote_write::BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::Status(status, e.to_string()).into_response()
    })?;
    let translated = remote_write::translate(request);
    let mut outcome = ingest.ingest(translated.reports).await;
    let mut problems = translated.problems;
    problems.append(&mut outcome.problems);
    outcome.problems = problems;
    ingest.stats.push.answered(Protocol::RemoteWrite, &outcome);
    Ok(answer(outcome))
}

/// The answer to a request, per the remote-write specification.
pub(super) fn answer(outcome: PushOutcome) -> Response {
    match &outcome.retry {
        Some(Retry::Throttled {
            host,
            per_second,
            wait,
        }) => {
            let seconds = wait.as_millis().div_ceil(1000).max(1);
            let mut response = ApiError::Status(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "host {host} is over the limit of {per_second} reports per second (--max-reports-per-second); {} samples were stored, send the request again in {seconds}s (the rest is stored once)",
                    outcome.stored
                ),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        Some(Retry::Unavailable(why)) => {
            return ApiError::Unavailable(format!(
                "not every sample could be stored, send the request again: {why}"
            ))
            .into_response();
        }
        None => {}
    }
    if outcome.problems.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let refused = outcome.refused();
    let first = &outcome.problems[0];
    let listed: Vec<serde_json::Value> = outcome
        .problems
        .iter()
        .take(MAX_LISTED)
        .map(|p| {
            serde_json::json!({
                "series": p.series,
                "timestamp_ms": p.timestamp_ms,
                "reason": p.reason,
                "samples": p.samples,
            })
        })
        .collect();
    let body = serde_json::json!({
        "error": format!(
            "{refused} samples were refused (not worth retrying), {} stored; first: {}",
            outcome.stored,
            describe(first)
        ),
        "stored": outcome.stored,
        "refused": refused,
        "problems": listed,
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn describe(p: &Problem) -> String {
    match p.timestamp_ms {
        Some(ts) => format!("{} at {ts}: {}", p.series, p.reason),
        None => format!("{}: {}", p.series, p.reason),
    }
}

/// A GET (or any other method) on a push route: 405 naming the method to use.
pub async fn post_only(uri: axum::http::Uri) -> Response {
    let mut response =
        ApiError::MethodNotAllowed(format!("{} takes POST (a push of samples)", uri.path()))
            .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// The push routes, for whichever router serves them.
pub fn routes<S: Clone + Send + Sync + 'static>(slot: PushSlot) -> axum::Router<S> {
    use axum::routing::post;
    axum::Router::new()
        .route("/api/v1/write", post(remote_write).fallback(post_only))
        .route(
            "/v1/metrics",
            post(super::receive_otlp::metrics).fallback(post_only),
        )
        .with_state(slot)
}

/// The aggregator's own HTTP listener (`--http-listen`): the push routes
/// and `/metrics` (push and `--remote-write` counters) behind the agents' token, with the gateway's JSON errors and `Host`
/// check (a listener without a token answers only the names it knows).
pub(super) fn standalone(
    slot: PushSlot,
    stats: std::sync::Arc<super::Stats>,
    token: Option<&str>,
    listener: &tokio::net::TcpListener,
) -> axum::Router {
    use crate::http::Access;
    use crate::http::access::{require_known_host, require_token};
    use crate::http::error::json_errors;
    use axum::middleware;
    use std::sync::Arc;
    let access = Arc::new(Access {
        token: token.map(str::to_owned),
        listen: listener.local_addr().ok(),
        ..Access::default()
    });
    routes(slot)
        .route(
            "/metrics",
            axum::routing::get(move || async move {
                let mut out = String::new();
                crate::stats::write_metrics(&mut out, &stats);
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    out,
                )
            }),
        )
        .route_layer(middleware::from_fn_with_state(access.clone(), require_token))
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::NotFound(format!(
                "nothing is served at {}; this listener takes POST /api/v1/write (Prometheus remote-write), POST /v1/metrics (OTLP/HTTP) and GET /metrics (its own counters)",
                uri.path()
            ))
        })
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(access, require_known_host))
}
