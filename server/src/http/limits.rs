//! Limits on every HTTP request the gateway and the edge serve: the largest
//! request body (`--max-body-bytes`) and how long a request may take
//! (`--request-timeout`). Both answer through [`ApiError`], so a client hitting
//! one gets the same JSON shape as any other error, naming the limit and flag.
//!
//! The one thing to know: the timeout wraps the HTTP routes only; `/ws` is a
//! long-lived connection with its own idle and send timeouts.
//!
//! These are middleware of our own rather than tower-http's
//! `RequestBodyLimitLayer` and `TimeoutLayer`: those answer with a fixed text
//! (or an empty body) that names neither the limit nor the flag.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take, from its head to the end of the answer's
    /// head.
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            // No route reads a body today; 1 MiB leaves room for one that
            // will, and bounds what a client can make the server buffer.
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Refuses a body declared bigger than the limit with 413 before the handler
/// runs; a body of undeclared length (chunked) is cut at the limit when read.
pub async fn limit_body(
    State(limits): State<Arc<HttpLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let max = limits.max_body_bytes;
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(length) = declared.filter(|&n| n > max as u64) {
        return ApiError::TooLarge(format!(
            "a request body of {length} bytes is over this server's limit of {max} bytes (--max-body-bytes)"
        ))
        .into_response();
    }
    let request = request.map(|body| Body::new(http_body_util::Limited::new(body, max)));
    next.run(request).await
}

/// Answers 504 when the handler has not answered within the request timeout,
/// naming the timeout, its flag and the path that was slow.
pub async fn limit_time(
    State(limits): State<Arc<HttpLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, timeout = ?limits.request_timeout, "request timed out");
            ApiError::Timeout(format!(
                "{path} got no answer within this server's request timeout of {} (--request-timeout)",
                humantime::format_duration(limits.request_timeout)
            ))
            .into_response()
        }
    }
}
