//! Who may use `/api` and `/ws`: an optional bearer token, and for `/ws` an
//! origin check so a page on another site cannot read the stream through a
//! visitor's browser.
//!
//! The token is accepted from `Authorization: Bearer`, a `token` query
//! parameter or a `mon_token` cookie (browsers cannot set headers on a
//! WebSocket). It is compared in constant time and never logged.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

use super::ApiError;
use crate::trust::constant_time_eq;

#[derive(Debug, Clone, Default)]
pub struct Access {
    pub token: Option<String>,
    /// Origins allowed on `/ws` besides the server's own host.
    pub allowed_origins: Vec<String>,
}

impl Access {
    fn token_ok(&self, headers: &HeaderMap, query: Option<&str>) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let from_header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let from_query = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
        let from_cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("mon_token="));
        [from_header, from_query, from_cookie]
            .into_iter()
            .flatten()
            .any(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
    }

    /// Same-origin (the `Origin` host equals the `Host` header), listed, or
    /// not a browser at all (no `Origin` header).
    fn origin_ok(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return Ok(());
        };
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(origin);
        if origin_host == host || self.allowed_origins.iter().any(|o| o == origin) {
            return Ok(());
        }
        Err(format!(
            "origin {origin} is not allowed on /ws; allow it with --allow-origin {origin}"
        ))
    }
}

/// Middleware for `/api/*`: the token.
pub async fn require_token(
    State(access): State<std::sync::Arc<Access>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !access.token_ok(request.headers(), request.uri().query()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(request).await)
}

/// Middleware for `/ws`: the token and the origin.
pub async fn require_token_and_origin(
    State(access): State<std::sync::Arc<Access>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !access.token_ok(request.headers(), request.uri().query()) {
        return Err(ApiError::Unauthorized);
    }
    access
        .origin_ok(request.headers())
        .map_err(ApiError::Forbidden)?;
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_token_is_taken_from_header_query_or_cookie() {
        let a = Access {
            token: Some("s3cret".into()),
            ..Access::default()
        };
        assert!(a.token_ok(&headers(&[("authorization", "Bearer s3cret")]), None));
        assert!(a.token_ok(&HeaderMap::new(), Some("x=1&token=s3cret")));
        assert!(a.token_ok(&headers(&[("cookie", "a=b; mon_token=s3cret")]), None));
        assert!(!a.token_ok(&headers(&[("authorization", "Bearer nope")]), None));
        assert!(!a.token_ok(&HeaderMap::new(), None));
        assert!(Access::default().token_ok(&HeaderMap::new(), None));
    }

    #[test]
    fn cross_site_origins_are_refused_unless_listed() {
        let a = Access {
            allowed_origins: vec!["https://dash.example".into()],
            ..Access::default()
        };
        let h = |origin: &str| headers(&[("host", "127.0.0.1:7071"), ("origin", origin)]);
        assert!(a.origin_ok(&h("http://127.0.0.1:7071")).is_ok());
        assert!(a.origin_ok(&h("https://dash.example")).is_ok());
        let err = a.origin_ok(&h("https://evil.example")).unwrap_err();
        assert!(
            err.contains("https://evil.example") && err.contains("--allow-origin"),
            "{err}"
        );
        assert!(a.origin_ok(&headers(&[("host", "x")])).is_ok());
    }
}
