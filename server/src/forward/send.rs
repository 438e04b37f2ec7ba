//! One remote-write request and what its answer means, per the
//! specification: 2xx accepted; 429 and 5xx "send it again later"
//! (honouring `Retry-After`); any other 4xx "this request will never be
//! accepted", so it is dropped and counted rather than blocking everything
//! behind it; no answer at all (refused connection, timeout) is retried.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;

use super::RemoteWriteTarget;
use crate::http::client::HttpClient;
use crate::interop::remote_write_out::HEADERS;

/// Why an attempt failed, for the error counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No answer: connection refused or reset, TLS, DNS, a timeout.
    Network,
    /// 5xx.
    Server,
    /// 429.
    Throttled,
    /// Another 4xx: the request was dropped.
    Refused,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 4] = [
        ErrorKind::Network,
        ErrorKind::Server,
        ErrorKind::Throttled,
        ErrorKind::Refused,
    ];

    /// The `kind` label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Network => "network",
            ErrorKind::Server => "server_error",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Refused => "refused",
        }
    }
}

/// What to do after one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Accepted,
    /// Never accepted as it is: drop it and go on.
    Refused {
        status: StatusCode,
        message: String,
    },
    /// Send it again, after `after` if the receiver said so.
    Retry {
        kind: ErrorKind,
        reason: String,
        after: Option<Duration>,
    },
}

/// The meaning of a status (and its `Retry-After`), per the specification.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Answer {
    if status.is_success() {
        return Answer::Accepted;
    }
    let message = String::from_utf8_lossy(&body[..body.len().min(512)])
        .trim()
        .to_owned();
    let after = || crate::http::retry_after::from_headers(headers);
    let reason = if message.is_empty() {
        format!("answered {status}")
    } else {
        format!("answered {status}: {message}")
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Answer::Retry {
            kind: ErrorKind::Throttled,
            reason,
            after: after(),
        };
    }
    if status.is_server_error() {
        return Answer::Retry {
            kind: ErrorKind::Server,
            reason,
            after: after(),
        };
    }
    Answer::Refused { status, message }
}

/// Sends one snappy-compressed `WriteRequest`.
pub(super) async fn post(
    http: &HttpClient,
    target: &RemoteWriteTarget,
    body: Bytes,
    timeout: Duration,
) -> Answer {
    let mut request = Request::post(target.uri().clone());
    for (name, value) in HEADERS {
        request = request.header(name, value);
    }
    if let Some(auth) = target.authorization() {
        request = request.header(header::AUTHORIZATION, auth.clone());
    }
    let request = match request.body(Body::from(body)) {
        Ok(r) => r,
        Err(e) => {
            return Answer::Refused {
                status: StatusCode::BAD_REQUEST,
                message: format!("cannot build the request: {e}"),
            };
        }
    };
    let attempt = async {
        let response = http.request(request).await.map_err(|e| {
            match crate::tls::explain(&e, "--remote-write-ca") {
                Some(advice) => format!("unreachable: {advice}"),
                None => format!("unreachable: {e}"),
            }
        })?;
        let (parts, body) = response.into_parts();
        // Only the start of an error body is shown; a success has none to read.
        let body = if parts.status.is_success() {
            Bytes::new()
        } else {
            http_body_util::Limited::new(body, 4096)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default()
        };
        Ok::<_, String>(classify(parts.status, &parts.headers, &body))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(reason)) => Answer::Retry {
            kind: ErrorKind::Network,
            reason,
            after: None,
        },
        Err(_) => Answer::Retry {
            kind: ErrorKind::Network,
            reason: format!("no answer within {}", humantime::format_duration(timeout)),
            after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_mean_what_the_specification_says() {
        let none = HeaderMap::new();
        assert_eq!(
            classify(StatusCode::NO_CONTENT, &none, b""),
            Answer::Accepted
        );
        assert_eq!(classify(StatusCode::OK, &none, b""), Answer::Accepted);
        let mut later = HeaderMap::new();
        later.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &later, b"slow down"),
            Answer::Retry {
                kind: ErrorKind::Throttled,
                reason: "answered 429 Too Many Requests: slow down".into(),
                after: Some(Duration::from_secs(7)),
            }
        );
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &none, b""),
            Answer::Retry {
                kind: ErrorKind::Server,
                after: None,
                ..
            }
        ));
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &none, b"out of order sample\n"),
            Answer::Refused {
                status: StatusCode::BAD_REQUEST,
                message: "out of order sample".into()
            }
        );
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &none, b""),
            Answer::Refused { .. }
        ));
    }
}
