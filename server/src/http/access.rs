//! Who may use `/api` and `/ws`: an optional bearer token, for `/ws` an
//! origin check so a page on another site cannot read the stream through a
//! visitor's browser, and on a listener without a token a `Host` check
//! against DNS rebinding.
//!
//! The token is accepted from `Authorization: Bearer` (the scheme in any
//! case), a `token` query parameter or a `mon_token` cookie (browsers cannot
//! set headers on a WebSocket). It is compared in constant time and never
//! logged.
//!
//! The `Host` check: a rebinding page points its own name at 127.0.0.1, so
//! the browser sends that name as `Host` and the origin check (which
//! compares `Origin` with `Host`) is fooled. Without a token, only loopback
//! names and addresses, the listen address and names given with
//! `--allow-host` are served. With a token the check is off: the page cannot
//! know the token, and the browser keeps the `mon_token` cookie for the real
//! name, so `http://server.internal:7071/?token=...` goes on working.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

use super::ApiError;
use crate::trust::{bearer_token, constant_time_eq};

#[derive(Debug, Clone, Default)]
pub struct Access {
    pub token: Option<String>,
    /// Origins allowed on `/ws` besides the server's own host.
    pub allowed_origins: Vec<String>,
    /// Host names served without a token besides loopback ones
    /// (`--allow-host`), lower-case, without a port.
    pub allowed_hosts: Vec<String>,
    /// The listener's own address, whose IP is always a fine `Host`; set by
    /// the role once it has bound.
    pub listen: Option<SocketAddr>,
}

impl Access {
    fn token_ok(&self, headers: &HeaderMap, query: Option<&str>) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let from_header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
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

impl Access {
    /// `Ok` unless this listener has no token and `host` (the request's
    /// `Host`, or its HTTP/2 authority) is a name a rebinding page could
    /// have chosen. A request without one is not from a browser: fine.
    fn host_ok(&self, host: Option<&str>) -> Result<(), String> {
        if self.token.is_some() {
            return Ok(());
        }
        let Some(given) = host else {
            return Ok(());
        };
        let name = host_name(given);
        if let Ok(ip) = name.parse::<IpAddr>() {
            // An address cannot be rebound. The listen address' own IP is
            // the one a user types; on 0.0.0.0 (only with --insecure) any
            // of the machine's addresses may be.
            let listen = self.listen.map(|a| a.ip());
            if ip.is_loopback() || listen == Some(ip) || listen.is_some_and(|l| l.is_unspecified())
            {
                return Ok(());
            }
        } else if name == "localhost"
            || name.ends_with(".localhost")
            || self.allowed_hosts.iter().any(|h| h == &name)
        {
            return Ok(());
        }
        Err(format!(
            "Host {given} is not served here: this listener has no token, so it answers only to loopback \
             names and addresses and its listen address (a guard against DNS rebinding); \
             start it with --allow-host {name} to serve that name, or with --token"
        ))
    }
}

/// The host part of a `Host` value, lower-case: `[::1]:7071` → `::1`,
/// `Example.com:80` → `example.com`, `example.com.` → `example.com`.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map(|(ip, _)| ip).unwrap_or(rest)
    } else if host.matches(':').count() == 1 {
        host.split_once(':').map(|(h, _)| h).unwrap_or(host)
    } else {
        host
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Middleware for every route: the `Host` check of a listener without a
/// token (403 naming `--allow-host`).
pub async fn require_known_host(
    State(access): State<std::sync::Arc<Access>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        });
    access
        .host_ok(host.as_deref())
        .map_err(ApiError::Forbidden)?;
    Ok(next.run(request).await)
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
        assert!(a.token_ok(&headers(&[("authorization", "bearer s3cret")]), None));
        assert!(a.token_ok(&HeaderMap::new(), Some("x=1&token=s3cret")));
        assert!(a.token_ok(&headers(&[("cookie", "a=b; mon_token=s3cret")]), None));
        assert!(!a.token_ok(&headers(&[("authorization", "Bearer nope")]), None));
        assert!(!a.token_ok(&HeaderMap::new(), None));
        assert!(Access::default().token_ok(&HeaderMap::new(), None));
    }

    #[test]
    fn without_a_token_only_loopback_the_listen_address_and_allowed_hosts_are_served() {
        let a = Access {
            allowed_hosts: vec!["mon.lan".into()],
            listen: Some("10.0.0.5:7071".parse().unwrap()),
            ..Access::default()
        };
        for ok in [
            "localhost:7071",
            "LOCALHOST",
            "app.localhost:1",
            "127.0.0.1:7071",
            "127.9.9.9",
            "[::1]:7071",
            "10.0.0.5:7071",
            "mon.lan:7071",
            "mon.lan.",
        ] {
            assert!(a.host_ok(Some(ok)).is_ok(), "{ok}");
        }
        assert!(a.host_ok(None).is_ok());
        for bad in [
            "evil.example",
            "evil.example:7071",
            "10.0.0.6:7071",
            "localhost.evil.example",
        ] {
            let err = a.host_ok(Some(bad)).unwrap_err();
            assert!(err.contains(bad) && err.contains("--allow-host"), "{err}");
        }
        let tokened = Access {
            token: Some("t".into()),
            ..Access::default()
        };
        assert!(tokened.host_ok(Some("server.internal:7071")).is_ok());
        let any = Access {
            listen: Some("0.0.0.0:7071".parse().unwrap()),
            ..Access::default()
        };
        assert!(any.host_ok(Some("192.168.1.9:7071")).is_ok());
        assert!(any.host_ok(Some("evil.example")).is_err());
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
