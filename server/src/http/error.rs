//! One error type for every HTTP answer: a status and a message a person can
//! act on, as `{"error": "..."}`. Internal details are logged, not sent.
//!
//! The framework's own answers (no such route, wrong method, a query string
//! or path it cannot read) go through the same shape: the routers install
//! [`no_route`] and [`wrong_method`], and [`json_errors`] rewrites any error
//! that still is not JSON, so a client can always parse an error.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("missing or wrong token: pass it as `Authorization: Bearer TOKEN` or `?token=TOKEN`")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unavailable(String),
    /// A request body over the size limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// No answer within the request timeout (504).
    #[error("{0}")]
    Timeout(String),
    /// A method no route takes (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Any other status, e.g. a refused WebSocket upgrade.
    #[error("{1}")]
    Status(StatusCode, String),
    #[error("internal error; see the server log")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Status(status, _) => *status,
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error answering an HTTP request");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = wire::api::ApiError {
            error: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

/// The router's fallback: a path no route serves.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        ApiError::NotFound(format!(
            "no API route {method} {path}; the API has GET /api/hosts, /api/hosts/HOST, /api/series and /api/alerts"
        ))
    } else {
        ApiError::NotFound(format!(
            "nothing is served at {path}; the dashboard is at /, the API under /api/ and the live stream at /ws"
        ))
    }
}

/// The router's answer to a method a route does not take: every route
/// takes GET (and HEAD) only.
pub async fn wrong_method(method: Method, uri: Uri) -> Response {
    let mut response = ApiError::MethodNotAllowed(format!(
        "{method} is not accepted on {}; it takes GET",
        uri.path()
    ))
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// Rewrites an error answer that is not JSON (an extractor's rejection, a
/// body cut at the size limit) as `{"error": "PATH: what it said"}`,
/// keeping its status and headers.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // OTLP's errors are a protobuf `google.rpc.Status`, as its exporters
        // expect: left as they are.
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/x-protobuf")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let said = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let said = said.trim_end_matches('.');
    let message = if said.is_empty() {
        format!("{path}: {}", status.canonical_reason().unwrap_or("error"))
    } else {
        format!("{path}: {said}")
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let body = wire::api::ApiError { error: message };
    let mut out = (status, Json(body)).into_response();
    for (name, value) in parts.headers.iter() {
        out.headers_mut().insert(name.clone(), value.clone());
    }
    out
}
