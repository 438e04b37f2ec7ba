//! One HTTP POST, retried until it is accepted, refused for good, or too
//! old to matter.
//!
//! A 2xx is success. A 408, 429, 5xx or a connection failure is retried
//! after the receiver's `Retry-After` if it sent one, else after an
//! exponential backoff with full jitter (`crate::backoff::Backoff`). Any other
//! 4xx means the request itself is wrong: retrying would not help. The body
//! and headers are identical on every attempt, so a receiver can use the
//! idempotency key to drop the copies of a request it did process. No
//! attempt starts once the alerts lease's fence has closed.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, Uri, header};
use bytes::Bytes;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::bus::Fence;
use crate::http::client::HttpClient;
use crate::http::retry_after;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First backoff delay.
    pub min_delay: Duration,
    /// Longest backoff delay, and longest `Retry-After` honoured.
    pub max_delay: Duration,
    /// A notification still undelivered this long after its first attempt
    /// is dropped.
    pub give_up_after: Duration,
    /// Limit on one attempt, connection included.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            give_up_after: Duration::from_secs(15 * 60),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

/// Why one attempt failed, and whether to try again.
enum Failure {
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Refused(String),
}

/// Posts `body` as JSON to `uri` until delivered; `false` if it never was.
pub async fn post_json(
    http: &HttpClient,
    uri: &Uri,
    body: Bytes,
    headers: &[(&'static str, String)],
    policy: &RetryPolicy,
    fence: &Fence,
    what: &str,
) -> bool {
    let started = Instant::now();
    let mut backoff = Backoff::new(policy.min_delay, policy.max_delay);
    for attempt in 1u32.. {
        if !fence.holds() {
            tracing::debug!(%uri, "{what} abandoned: this instance no longer holds the alerts lease");
            return false;
        }
        let failure = match attempt_once(http, uri, body.clone(), headers, policy).await {
            Ok(()) => {
                if attempt > 1 {
                    tracing::info!(%uri, attempt, "{what} delivered after retrying");
                }
                return true;
            }
            Err(f) => f,
        };
        let (reason, after) = match failure {
            Failure::Refused(reason) => {
                tracing::error!(%uri, %reason, "{what} refused by the receiver; not retrying");
                return false;
            }
            Failure::Retry { reason, after } => (reason, after),
        };
        let delay = after
            .map(|d| d.min(policy.max_delay))
            .unwrap_or_else(|| backoff.next_delay());
        if started.elapsed() + delay > policy.give_up_after {
            tracing::error!(%uri, %reason, attempt, "{what} undelivered after {}; dropped",
                humantime::format_duration(policy.give_up_after));
            return false;
        }
        tracing::warn!(%uri, %reason, attempt, retry_in = ?delay, "{what} not delivered; will retry");
        tokio::time::sleep(delay).await;
    }
    false
}

async fn attempt_once(
    http: &HttpClient,
    uri: &Uri,
    body: Bytes,
    headers: &[(&'static str, String)],
    policy: &RetryPolicy,
) -> Result<(), Failure> {
    let mut request = Request::post(uri.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("mon/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Body::from(body))
        .map_err(|e| Failure::Refused(format!("cannot build the request: {e}")))?;
    let response = match tokio::time::timeout(policy.attempt_timeout, http.request(request)).await {
        Err(_) => {
            return Err(Failure::Retry {
                reason: format!("no answer within {:?}", policy.attempt_timeout),
                after: None,
            });
        }
        Ok(Err(e)) => {
            let reason = match crate::tls::explain(&e, "--notify-ca") {
                Some(advice) => format!("unreachable: {advice}"),
                None => format!("unreachable: {e}"),
            };
            return Err(Failure::Retry {
                reason,
                after: None,
            });
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let reason = format!("answered {status}");
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        let after = retry_after::from_headers(response.headers());
        return Err(Failure::Retry { reason, after });
    }
    Err(Failure::Refused(reason))
}
